//! Bundle files: a `.tar.gz` holding [`MANIFEST_NAME`] and the files it lists.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path};

use aws_lc_rs::digest;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use super::{BundleEntry, BundleKind, UpdateError, Version};

/// The manifest's path inside a bundle.
pub const MANIFEST_NAME: &str = "manifest.json";
/// The file every software bundle carries.
pub const SOFTWARE_BINARY: &str = "bin/aerie";

const MAX_MANIFEST_LEN: u64 = 1024 * 1024;

/// The bundle's own description of its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleManifest {
    pub version: Version,
    pub kind: BundleKind,
    pub files: Vec<ManifestFile>,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative path with `/` separators, e.g. `bin/aerie`.
    pub path: String,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// Unix permission bits (at most `0o777`).
    pub mode: u32,
}

/// What [`build_bundle`] wrote, for the index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltBundle {
    pub sha256: String,
    pub size: u64,
}

/// Checks a downloaded bundle file's size and SHA-256 against its signed index entry.
pub fn check_bundle_file(entry: &BundleEntry, path: &Path) -> Result<(), UpdateError> {
    let mut file = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    check_open_file(entry, &mut file, path)
}

/// Checks the bundle at `path` against `entry`, then extracts its files into `dest_dir`
/// (absent or empty) and checks them against the manifest. On error, `dest_dir` is left as
/// it was found.
pub fn unpack_bundle(
    entry: &BundleEntry,
    path: &Path,
    dest_dir: &Path,
) -> Result<BundleManifest, UpdateError> {
    let mut file = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    check_open_file(entry, &mut file, path)?;
    file.seek(SeekFrom::Start(0))
        .map_err(io_err(format!("reading {}", path.display())))?;
    let created = prepare_dest(dest_dir)?;
    extract(entry, file, dest_dir).inspect_err(|_| clean_dest(dest_dir, created))
}

/// Writes a bundle of `files` (path in the bundle, source file, mode) to `out`, for the
/// vendor tool and tests.
pub fn build_bundle(
    version: &Version,
    kind: BundleKind,
    files: &[(&str, &Path, u32)],
    out: &Path,
) -> Result<BuiltBundle, UpdateError> {
    let mut manifest = BundleManifest {
        version: *version,
        kind,
        files: Vec::new(),
    };
    for (name, source, mode) in files {
        let f = File::open(source).map_err(io_err(format!("opening {}", source.display())))?;
        let (sha256, _) =
            hash_reader(f).map_err(io_err(format!("reading {}", source.display())))?;
        manifest.files.push(ManifestFile {
            path: (*name).to_owned(),
            sha256,
            mode: *mode,
        });
    }
    check_manifest(&manifest)?;
    let written = write_bundle(&manifest, files, out);
    if written.is_err() {
        let _ = fs::remove_file(out);
    }
    written
}

fn write_bundle(
    manifest: &BundleManifest,
    files: &[(&str, &Path, u32)],
    out: &Path,
) -> Result<BuiltBundle, UpdateError> {
    let ctx = || format!("writing {}", out.display());
    let file = File::create(out).map_err(io_err(ctx()))?;
    let sink = HashingWriter {
        inner: BufWriter::new(file),
        hash: sha256(),
        len: 0,
    };
    let mut tar = tar::Builder::new(GzEncoder::new(sink, Compression::default()));
    let json = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
    let mut header = tar_header(json.len() as u64, 0o644);
    tar.append_data(&mut header, MANIFEST_NAME, json.as_slice())
        .map_err(io_err(ctx()))?;
    for ((name, source, mode), listed) in files.iter().zip(&manifest.files) {
        let read_ctx = || format!("reading {}", source.display());
        let f = File::open(source).map_err(io_err(read_ctx()))?;
        let len = f.metadata().map_err(io_err(read_ctx()))?.len();
        let mut reader = HashingReader {
            inner: f.take(len),
            hash: sha256(),
            len: 0,
        };
        tar.append_data(&mut tar_header(len, *mode), name, &mut reader)
            .map_err(io_err(ctx()))?;
        if reader.len != len || hex_digest(reader.hash) != listed.sha256 {
            return Err(UpdateError::BadBundle(format!(
                "{} changed while the bundle was being built",
                source.display()
            )));
        }
    }
    let gz = tar.into_inner().map_err(io_err(ctx()))?;
    let mut sink = gz.finish().map_err(io_err(ctx()))?;
    sink.flush().map_err(io_err(ctx()))?;
    sink.inner
        .into_inner()
        .map_err(|e| io_err(ctx())(e.into_error()))?
        .sync_all()
        .map_err(io_err(ctx()))?;
    Ok(BuiltBundle {
        sha256: hex_digest(sink.hash),
        size: sink.len,
    })
}

fn tar_header(size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn check_open_file(entry: &BundleEntry, file: &mut File, path: &Path) -> Result<(), UpdateError> {
    let ctx = || format!("reading {}", path.display());
    let found = file.metadata().map_err(io_err(ctx()))?.len();
    if found != entry.size {
        return Err(UpdateError::SizeMismatch {
            file: entry.file.clone(),
            found,
            expected: entry.size,
        });
    }
    let (hash, len) = hash_reader(file.take(entry.size + 1)).map_err(io_err(ctx()))?;
    if len != entry.size {
        return Err(UpdateError::SizeMismatch {
            file: entry.file.clone(),
            found: len,
            expected: entry.size,
        });
    }
    if !hash.eq_ignore_ascii_case(&entry.sha256) {
        return Err(UpdateError::HashMismatch {
            file: entry.file.clone(),
            found: hash,
            expected: entry.sha256.to_ascii_lowercase(),
        });
    }
    Ok(())
}

/// Returns whether `dest` was created here.
fn prepare_dest(dest: &Path) -> Result<bool, UpdateError> {
    let ctx = || format!("preparing {}", dest.display());
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(io_err(ctx()))?;
            Ok(true)
        }
        Err(e) => Err(io_err(ctx())(e)),
        Ok(meta) if !meta.is_dir() => Err(UpdateError::BadBundle(format!(
            "the destination {} is not a directory",
            dest.display()
        ))),
        Ok(_) => {
            if fs::read_dir(dest).map_err(io_err(ctx()))?.next().is_some() {
                return Err(UpdateError::BadBundle(format!(
                    "the destination {} is not empty",
                    dest.display()
                )));
            }
            Ok(false)
        }
    }
}

fn clean_dest(dest: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(dest);
    } else if let Ok(entries) = fs::read_dir(dest) {
        for e in entries.flatten() {
            let p = e.path();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            let _ = if is_dir {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

fn extract(entry: &BundleEntry, file: File, dest: &Path) -> Result<BundleManifest, UpdateError> {
    let bad = |why: String| UpdateError::BadBundle(why);
    let unreadable = |e: io::Error| bad(format!("the archive cannot be read: {e}"));
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let mut seen = HashSet::new();
    let mut written = BTreeMap::new();
    let mut manifest_json = None;
    for member in archive.entries().map_err(unreadable)? {
        let mut member = member.map_err(unreadable)?;
        let raw = member.path().map_err(unreadable)?.into_owned();
        let kind = member.header().entry_type();
        if kind.is_dir() {
            safe_path(&raw).map_err(|why| bad(format!("member {}: {why}", raw.display())))?;
            continue;
        }
        if kind != tar::EntryType::Regular {
            return Err(bad(format!(
                "member {} is a {}; a bundle holds only regular files",
                raw.display(),
                entry_type_name(kind)
            )));
        }
        let rel = safe_path(&raw).map_err(|why| bad(format!("member {}: {why}", raw.display())))?;
        if !seen.insert(rel.clone()) {
            return Err(bad(format!("member {rel} appears twice")));
        }
        if rel == MANIFEST_NAME {
            let mut json = Vec::new();
            (&mut member)
                .take(MAX_MANIFEST_LEN + 1)
                .read_to_end(&mut json)
                .map_err(unreadable)?;
            if json.len() as u64 > MAX_MANIFEST_LEN {
                return Err(bad(format!("{MANIFEST_NAME} is larger than 1 MiB")));
            }
            manifest_json = Some(json);
            continue;
        }
        let target = dest.join(&rel);
        let ctx = || format!("writing {}", target.display());
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err(ctx()))?;
        }
        let out = create_private(&target).map_err(io_err(ctx()))?;
        let mut sink = HashingWriter {
            inner: BufWriter::new(out),
            hash: sha256(),
            len: 0,
        };
        io::copy(&mut member, &mut sink).map_err(unreadable)?;
        sink.flush().map_err(io_err(ctx()))?;
        written.insert(rel, hex_digest(sink.hash));
    }
    let json = manifest_json.ok_or_else(|| bad(format!("it has no {MANIFEST_NAME}")))?;
    let manifest: BundleManifest = serde_json::from_slice(&json)
        .map_err(|e| bad(format!("{MANIFEST_NAME} is not understood: {e}")))?;
    if manifest.version != entry.version || manifest.kind != entry.kind {
        return Err(bad(format!(
            "its manifest says {} {}; the signed index says {} {}",
            manifest.kind, manifest.version, entry.kind, entry.version
        )));
    }
    check_manifest(&manifest)?;
    for f in &manifest.files {
        match written.remove(&f.path) {
            None => {
                return Err(bad(format!(
                    "{} is in the manifest but not in the bundle",
                    f.path
                )));
            }
            Some(found) if !found.eq_ignore_ascii_case(&f.sha256) => {
                return Err(bad(format!(
                    "{}: its SHA-256 is {found}; the manifest says {}",
                    f.path, f.sha256
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = written.keys().next() {
        return Err(bad(format!(
            "{extra} is in the bundle but not in its manifest"
        )));
    }
    for f in &manifest.files {
        let target = dest.join(&f.path);
        set_mode(&target, f.mode)
            .map_err(io_err(format!("setting the mode of {}", target.display())))?;
    }
    Ok(manifest)
}

fn check_manifest(manifest: &BundleManifest) -> Result<(), UpdateError> {
    let bad = |why: String| Err(UpdateError::BadBundle(why));
    let mut paths = HashSet::new();
    for f in &manifest.files {
        match safe_path(Path::new(&f.path)) {
            Ok(p) if p == f.path => {}
            Ok(_) => return bad(format!("the path {:?} is not in plain a/b form", f.path)),
            Err(why) => return bad(format!("the path {:?} {why}", f.path)),
        }
        if f.path == MANIFEST_NAME {
            return bad(format!(
                "{MANIFEST_NAME} cannot be one of the bundle's files"
            ));
        }
        if f.mode > 0o777 {
            return bad(format!(
                "{}: mode {:o} has bits beyond 0777",
                f.path, f.mode
            ));
        }
        if f.sha256.len() != 64 || !f.sha256.bytes().all(|c| c.is_ascii_hexdigit()) {
            return bad(format!("{}: {:?} is not a hex SHA-256", f.path, f.sha256));
        }
        if !paths.insert(f.path.as_str()) {
            return bad(format!("{} is listed twice", f.path));
        }
    }
    if manifest.kind == BundleKind::Software && !paths.contains(SOFTWARE_BINARY) {
        return bad(format!("a software bundle must contain {SOFTWARE_BINARY}"));
    }
    Ok(())
}

/// The path as `a/b/c` if it stays inside the destination, or why not.
fn safe_path(path: &Path) -> Result<String, &'static str> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => {
                let s = s.to_str().ok_or("is not UTF-8")?;
                if s.contains('\\') || s.chars().any(char::is_control) {
                    return Err("has a backslash or a control character");
                }
                parts.push(s);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err("climbs out of the bundle with '..'"),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
        }
    }
    if parts.is_empty() {
        return Err("is empty");
    }
    Ok(parts.join("/"))
}

fn entry_type_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "FIFO",
        _ => "special entry",
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> UpdateError {
    move |source| UpdateError::Io { context, source }
}

fn sha256() -> digest::Context {
    digest::Context::new(&digest::SHA256)
}

fn hex_digest(ctx: digest::Context) -> String {
    crate::hex(ctx.finish().as_ref())
}

fn hash_reader(r: impl Read) -> io::Result<(String, u64)> {
    let mut reader = HashingReader {
        inner: r,
        hash: sha256(),
        len: 0,
    };
    io::copy(&mut reader, &mut io::sink())?;
    Ok((hex_digest(reader.hash), reader.len))
}

struct HashingReader<R> {
    inner: R,
    hash: digest::Context,
    len: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

struct HashingWriter<W> {
    inner: W,
    hash: digest::Context,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths() {
        assert_eq!(safe_path(Path::new("./bin//aerie")).unwrap(), "bin/aerie");
        for bad in ["../x", "a/../../x", "/etc/passwd", "", ".", "a\\b"] {
            assert!(safe_path(Path::new(bad)).is_err(), "{bad:?}");
        }
    }
}
