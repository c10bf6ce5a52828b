//! Reading a backup: the header, the passphrase check, verification and extraction.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::BackupError;
use crate::format::{self, ChunkCipher, Header};
use crate::manifest::{
    Digester, MANIFEST_FORMAT, MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, Member, check_name,
};
use crate::open::{self, OpenEnd, Plaintext};

/// What the plaintext header of a backup says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    /// The container format version (1).
    pub format: u8,
    /// The key derivation (1 = PBKDF2-HMAC-SHA256).
    pub kdf: u8,
    pub iterations: u32,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
}

/// Reads only the header: is this file a backup this crate can read? No passphrase needed.
pub fn read_header(archive: &Path) -> Result<HeaderInfo, BackupError> {
    let (header, _, _) = open_file(archive)?;
    Ok(HeaderInfo {
        format: format::FORMAT_VERSION,
        kdf: format::KDF_PBKDF2_HMAC_SHA256,
        iterations: header.iterations,
        chunk_size: header.chunk_size,
    })
}

/// Checks the passphrase against the header's key check; reads nothing past the header.
pub fn verify_passphrase(archive: &Path, passphrase: &str) -> Result<(), BackupError> {
    let (header, bytes, _) = open_file(archive)?;
    unlock(&header, bytes, passphrase).map(drop)
}

/// Reads the whole backup and checks every chunk, every member against the manifest, and
/// the manifest against the members, writing nothing; returns the manifest.
pub fn manifest(archive: &Path, passphrase: &str) -> Result<Manifest, BackupError> {
    let (header, bytes, input) = open_file(archive)?;
    let cipher = unlock(&header, bytes, passphrase)?;
    read_members(input, cipher, header.chunk_size, &mut Discard)
}

/// Restores the backup into `dest`, which must be an existing, empty directory.
///
/// The passphrase is checked before anything is written. On any error, everything written
/// under `dest` is removed again, so `dest` is left empty. Files are synced to disk before
/// this returns.
pub fn extract(archive: &Path, passphrase: &str, dest: &Path) -> Result<Manifest, BackupError> {
    let (header, bytes, input) = open_file(archive)?;
    check_empty_dir(dest)?;
    let cipher = unlock(&header, bytes, passphrase)?;
    let mut target = Restore {
        dest: dest.to_owned(),
        created: Vec::new(),
        dirs: BTreeSet::new(),
    };
    let result = read_members(input, cipher, header.chunk_size, &mut target)
        .and_then(|manifest| target.sync_dirs().map(|()| manifest));
    if result.is_err() {
        target.remove_all();
    }
    result
}

type Input = BufReader<File>;

fn open_file(archive: &Path) -> Result<(Header, [u8; format::HEADER_LEN], Input), BackupError> {
    let file = File::open(archive)
        .map_err(|e| BackupError::io(format!("cannot open {}", archive.display()), e))?;
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let (header, bytes) = Header::read(&mut input)?;
    Ok((header, bytes, input))
}

fn unlock(
    header: &Header,
    bytes: [u8; format::HEADER_LEN],
    passphrase: &str,
) -> Result<ChunkCipher, BackupError> {
    let keys = format::derive_keys(passphrase, header.iterations, &header.salt);
    if !format::check_matches(&keys, header) {
        return Err(BackupError::WrongPassphrase);
    }
    Ok(ChunkCipher {
        key: keys.aead,
        header: bytes,
        prefix: header.nonce_prefix,
    })
}

fn check_empty_dir(dest: &Path) -> Result<(), BackupError> {
    let not_empty = || BackupError::DestinationNotEmpty(dest.to_owned());
    let mut entries = fs::read_dir(dest).map_err(|_| not_empty())?;
    match entries.next() {
        None => Ok(()),
        Some(_) => Err(not_empty()),
    }
}

/// Where member contents go.
pub(crate) trait Target {
    type Out: Write;
    fn create(&mut self, name: &str) -> Result<Self::Out, BackupError>;
    fn close(&mut self, name: &str, out: Self::Out) -> Result<(), BackupError>;
}

pub(crate) struct Discard;

impl Target for Discard {
    type Out = io::Sink;
    fn create(&mut self, _: &str) -> Result<io::Sink, BackupError> {
        Ok(io::sink())
    }
    fn close(&mut self, _: &str, _: io::Sink) -> Result<(), BackupError> {
        Ok(())
    }
}

struct Restore {
    dest: PathBuf,
    /// Top-level entries this restore created under `dest`, for cleanup.
    created: Vec<PathBuf>,
    /// Directories holding restored files, to sync at the end.
    dirs: BTreeSet<PathBuf>,
}

impl Restore {
    fn remove_all(&mut self) {
        for path in self.created.drain(..) {
            let _ = match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path),
                Ok(_) => fs::remove_file(&path),
                Err(_) => Ok(()),
            };
        }
    }

    /// Syncs every directory that gained an entry, deepest first, then `dest`.
    fn sync_dirs(&self) -> Result<(), BackupError> {
        let dirs = self.dirs.iter().rev().map(PathBuf::as_path);
        for dir in dirs.chain([self.dest.as_path()]) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| BackupError::io(format!("cannot sync {}", dir.display()), e))?;
        }
        Ok(())
    }
}

impl Target for Restore {
    type Out = File;

    fn create(&mut self, name: &str) -> Result<File, BackupError> {
        let path = self.dest.join(name);
        let top = self.dest.join(name.split('/').next().unwrap_or(name));
        if !self.created.contains(&top) {
            self.created.push(top);
        }
        let context = || format!("cannot write {}", path.display());
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| BackupError::io(context(), e))?;
            let mut dir = parent;
            while dir != self.dest && self.dirs.insert(dir.to_owned()) {
                match dir.parent() {
                    Some(up) => dir = up,
                    None => break,
                }
            }
        }
        File::create_new(&path).map_err(|e| BackupError::io(context(), e))
    }

    fn close(&mut self, name: &str, file: File) -> Result<(), BackupError> {
        file.sync_all()
            .map_err(|e| BackupError::io(format!("cannot write {name}"), e))
    }
}

/// Runs the tar reader over the decrypted stream. Errors from the decryption thread
/// (truncation, damage) explain any error seen here, so they win.
fn read_members<T: Target>(
    input: Input,
    cipher: ChunkCipher,
    chunk_size: u32,
    target: &mut T,
) -> Result<Manifest, BackupError> {
    let (plaintext, worker) = open::start(input, cipher, chunk_size as usize)?;
    let result = read_tar(plaintext, target);
    // `read_tar` has dropped the plaintext side, so the worker cannot block on a send.
    match worker.join() {
        Ok(Err(OpenEnd::Failed(first))) => Err(first),
        Ok(Ok(())) => result,
        Ok(Err(OpenEnd::Abandoned)) => result.and(Err(BackupError::Truncated)),
        Err(_) => result.and(Err(BackupError::io(
            "cannot read the backup",
            io::Error::other("the decryption thread failed"),
        ))),
    }
}

pub(crate) fn read_tar<T: Target>(
    plaintext: Plaintext,
    target: &mut T,
) -> Result<Manifest, BackupError> {
    let contents = |e| BackupError::io("cannot read the backup's contents", e);
    let mut archive = tar::Archive::new(plaintext);
    let mut found: Vec<Member> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut manifest: Option<Manifest> = None;
    let mut buf = vec![0u8; 256 * 1024];

    for entry in archive.entries().map_err(contents)? {
        let mut entry = entry.map_err(contents)?;
        let raw_name = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        if std::str::from_utf8(&raw_name).is_err() {
            return Err(BackupError::bad_member(&name, "the name is not UTF-8"));
        }
        check_name(&name)?;
        if manifest.is_some() {
            return Err(BackupError::bad_member(
                &name,
                "it comes after the manifest",
            ));
        }
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(BackupError::bad_member(
                &name,
                format!("it is {}, not a regular file", describe(kind)),
            ));
        }
        if !names.insert(name.clone()) {
            return Err(BackupError::bad_member(&name, "it appears twice"));
        }
        if name == MANIFEST_NAME {
            if entry.size() > MAX_MANIFEST_BYTES {
                return Err(BackupError::bad_member(&name, "the manifest is too large"));
            }
            let mut json = Vec::new();
            entry.read_to_end(&mut json).map_err(contents)?;
            let parsed: Manifest = serde_json::from_slice(&json)
                .map_err(|e| BackupError::ManifestMismatch(format!("it is not valid: {e}")))?;
            if parsed.format != MANIFEST_FORMAT {
                return Err(BackupError::UnsupportedFormat(parsed.format));
            }
            manifest = Some(parsed);
            continue;
        }

        let mut out = target.create(&name)?;
        let mut digest = Digester::new();
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(contents(e)),
            };
            digest.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| BackupError::io(format!("cannot write {name}"), e))?;
        }
        target.close(&name, out)?;
        found.push(digest.finish(&name));
    }

    // Read to the verified end of the stream (past the tar's end-of-archive blocks).
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(contents)?;

    let manifest = manifest.ok_or_else(|| {
        BackupError::ManifestMismatch(format!("the archive has no {MANIFEST_NAME}"))
    })?;
    manifest.check_members(&found)?;
    Ok(manifest)
}

fn describe(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "a symbolic link",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Directory => "a directory",
        tar::EntryType::Char | tar::EntryType::Block => "a device",
        tar::EntryType::Fifo => "a FIFO",
        _ => "a special entry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::testing::seal_raw;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    const PASS: &str = "correct horse battery";

    /// A tar member with any name and type, bypassing the tar crate's own checks.
    fn raw_entry(
        tar: &mut tar::Builder<impl Write>,
        name: &str,
        kind: tar::EntryType,
        data: &[u8],
    ) {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        if kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        tar.append(&header, data).unwrap();
    }

    fn member(name: &str, data: &[u8]) -> Member {
        let mut d = Digester::new();
        d.update(data);
        d.finish(name)
    }

    fn manifest_json(members: Vec<Member>) -> Vec<u8> {
        let meta = crate::ManifestMeta {
            version: "1".into(),
            role: "cm".into(),
            created: chrono::Utc::now(),
            schema: 1,
            extra: serde_json::Value::Null,
        };
        serde_json::to_vec(&Manifest::new(meta, members)).unwrap()
    }

    /// Seals a crafted archive, extracts it into an empty directory and returns the result
    /// and whether the directory was left empty.
    fn extract_crafted(
        build: impl FnOnce(&mut tar::Builder<GzEncoder<Vec<u8>>>),
    ) -> (Result<Manifest, BackupError>, bool) {
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        build(&mut tar);
        let plaintext = tar.into_inner().unwrap().finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("crafted.aeriebk");
        seal_raw(File::create(&archive).unwrap(), PASS, &plaintext);
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let result = extract(&archive, PASS, &dest);
        let empty = fs::read_dir(&dest).unwrap().next().is_none();
        (result, empty)
    }

    fn good(tar: &mut tar::Builder<GzEncoder<Vec<u8>>>) {
        raw_entry(tar, "a/b", tar::EntryType::Regular, b"hello");
    }

    #[test]
    fn crafted_good_archive_extracts() {
        let (result, empty) = extract_crafted(|tar| {
            good(tar);
            let json = manifest_json(vec![member("a/b", b"hello")]);
            raw_entry(tar, MANIFEST_NAME, tar::EntryType::Regular, &json);
        });
        assert_eq!(result.unwrap().members, vec![member("a/b", b"hello")]);
        assert!(!empty);
    }

    fn assert_bad_member(
        result: Result<Manifest, BackupError>,
        empty: bool,
        name: &str,
        why: &str,
    ) {
        match result {
            Err(BackupError::BadMember { name: n, reason }) => {
                assert_eq!(n, name);
                assert!(reason.contains(why), "{reason}");
            }
            other => panic!("expected BadMember {name}, got {other:?}"),
        }
        assert!(empty, "the destination was not cleaned up");
    }

    #[test]
    fn dotdot_name_is_refused() {
        let (result, empty) = extract_crafted(|tar| {
            good(tar);
            raw_entry(tar, "../evil", tar::EntryType::Regular, b"x");
            let json = manifest_json(vec![member("a/b", b"hello"), member("../evil", b"x")]);
            raw_entry(tar, MANIFEST_NAME, tar::EntryType::Regular, &json);
        });
        assert_bad_member(result, empty, "../evil", "`..`");
    }

    #[test]
    fn absolute_name_is_refused() {
        let (result, empty) = extract_crafted(|tar| {
            good(tar);
            raw_entry(tar, "/tmp/evil", tar::EntryType::Regular, b"x");
        });
        assert_bad_member(result, empty, "/tmp/evil", "absolute");
    }

    #[test]
    fn symlink_and_hardlink_are_refused() {
        for (kind, why) in [
            (tar::EntryType::Symlink, "symbolic link"),
            (tar::EntryType::Link, "hard link"),
            (tar::EntryType::Directory, "directory"),
            (tar::EntryType::Char, "device"),
        ] {
            let (result, empty) = extract_crafted(|tar| {
                good(tar);
                raw_entry(tar, "link", kind, b"");
            });
            assert_bad_member(result, empty, "link", why);
        }
    }

    #[test]
    fn duplicate_member_is_refused() {
        let (result, empty) = extract_crafted(|tar| {
            good(tar);
            good(tar);
        });
        assert_bad_member(result, empty, "a/b", "twice");
    }

    #[test]
    fn member_not_in_manifest_is_refused() {
        let (result, empty) = extract_crafted(|tar| {
            good(tar);
            raw_entry(tar, "extra", tar::EntryType::Regular, b"x");
            let json = manifest_json(vec![member("a/b", b"hello")]);
            raw_entry(tar, MANIFEST_NAME, tar::EntryType::Regular, &json);
        });
        assert_bad_member(result, empty, "extra", "not in the manifest");
    }

    #[test]
    fn manifest_member_missing_is_refused() {
        let (result, empty) = extract_crafted(|tar| {
            good(tar);
            let json = manifest_json(vec![member("a/b", b"hello"), member("gone", b"")]);
            raw_entry(tar, MANIFEST_NAME, tar::EntryType::Regular, &json);
        });
        assert!(matches!(result, Err(BackupError::ManifestMismatch(m)) if m.contains("gone")));
        assert!(empty);
    }

    #[test]
    fn size_and_digest_mismatches_are_refused() {
        let (result, empty) = extract_crafted(|tar| {
            good(tar);
            let json = manifest_json(vec![member("a/b", b"hellO")]);
            raw_entry(tar, MANIFEST_NAME, tar::EntryType::Regular, &json);
        });
        assert_bad_member(result, empty, "a/b", "SHA-256");
        let (result, empty) = extract_crafted(|tar| {
            good(tar);
            let json = manifest_json(vec![member("a/b", b"hello!")]);
            raw_entry(tar, MANIFEST_NAME, tar::EntryType::Regular, &json);
        });
        assert_bad_member(result, empty, "a/b", "bytes");
    }

    #[test]
    fn missing_manifest_and_member_after_manifest_are_refused() {
        let (result, empty) = extract_crafted(good);
        assert!(
            matches!(result, Err(BackupError::ManifestMismatch(m)) if m.contains("no manifest"))
        );
        assert!(empty);

        let (result, empty) = extract_crafted(|tar| {
            let json = manifest_json(vec![]);
            raw_entry(tar, MANIFEST_NAME, tar::EntryType::Regular, &json);
            good(tar);
        });
        assert_bad_member(result, empty, "a/b", "after the manifest");
    }

    #[test]
    fn garbage_plaintext_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("garbage.aeriebk");
        seal_raw(File::create(&archive).unwrap(), PASS, b"not gzip at all");
        assert!(matches!(
            manifest(&archive, PASS),
            Err(BackupError::Io { .. })
        ));
    }
}
