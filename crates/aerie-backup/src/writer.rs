//! [`Writer`]: tar+gzip on the calling thread, sealing on a second one.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use flate2::Compression;

use crate::format::{self, ChunkCipher, HEADER_LEN, Header, PREFIX_LEN, SALT_LEN};
use crate::manifest::{Digester, MANIFEST_NAME, Manifest, ManifestMeta, Member, check_name};
use crate::pargz::ParGz;
use crate::seal::{SealEnd, SealWorker, Sealer};
use crate::{BackupError, MIN_PASSPHRASE_CHARS};

/// The PBKDF2 iteration count [`Writer::new`] uses.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// The plaintext bytes per chunk [`Writer::new`] uses.
pub const DEFAULT_CHUNK_SIZE: u32 = 1024 * 1024;

/// Parameters of a new backup; [`Options::default`] is what production uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// PBKDF2-HMAC-SHA256 iterations, 1 000 to 10 000 000.
    pub iterations: u32,
    /// Plaintext bytes per chunk, 4 KiB to 16 MiB.
    pub chunk_size: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            iterations: DEFAULT_ITERATIONS,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

type Tar = tar::Builder<ParGz<Sealer>>;

/// Writes one backup to `W`, member by member, then the manifest.
///
/// A `Writer` dropped without [`finish`](Writer::finish) leaves a file without its final
/// chunk, which every reader refuses as truncated.
pub struct Writer<W: Write + Send + 'static> {
    tar: Option<Tar>,
    worker: Option<SealWorker<W>>,
    meta: ManifestMeta,
    members: Vec<Member>,
    names: HashSet<String>,
}

impl<W: Write + Send + 'static> Writer<W> {
    /// Starts a backup with the default [`Options`]; writes the header to `out` at once.
    pub fn new(out: W, passphrase: &str, meta: ManifestMeta) -> Result<Self, BackupError> {
        Self::with_options(out, passphrase, meta, Options::default())
    }

    /// Starts a backup with explicit parameters (tests use a low iteration count).
    pub fn with_options(
        mut out: W,
        passphrase: &str,
        meta: ManifestMeta,
        options: Options,
    ) -> Result<Self, BackupError> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(BackupError::WeakPassphrase);
        }
        let (cipher, header) = new_cipher(passphrase, options)?;
        out.write_all(&header)
            .map_err(|e| BackupError::io("cannot write the backup", e))?;
        let (sealer, worker) = Sealer::start(out, cipher, options.chunk_size as usize)?;
        let gz = ParGz::new(sealer, Compression::fast())
            .map_err(|e| BackupError::io("cannot start the backup compression threads", e))?;
        let tar = tar::Builder::new(gz);
        Ok(Writer {
            tar: Some(tar),
            worker: Some(worker),
            meta,
            members: Vec::new(),
            names: HashSet::new(),
        })
    }

    /// Adds the file at `path` as member `name` (relative, `/`-separated), streaming it.
    /// Fails if the file changes size while it is read.
    pub fn add_file(&mut self, name: &str, path: &Path) -> Result<(), BackupError> {
        let context = || format!("cannot read {}", path.display());
        let file = File::open(path).map_err(|e| BackupError::io(context(), e))?;
        let meta = file.metadata().map_err(|e| BackupError::io(context(), e))?;
        if !meta.is_file() {
            return Err(BackupError::bad_member(
                name,
                format!("{} is not a regular file", path.display()),
            ));
        }
        let size = meta.len();
        let mut input = BufReader::with_capacity(256 * 1024, file);
        self.add(name, size, &mut input, &context)?;
        let mut probe = [0u8; 1];
        match input.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(self.fail(BackupError::bad_member(
                name,
                format!("{} grew while it was backed up", path.display()),
            ))),
            Err(e) => Err(self.fail(BackupError::io(context(), e))),
        }
    }

    /// Adds `bytes` as member `name`.
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), BackupError> {
        self.add(name, bytes.len() as u64, &mut &bytes[..], &|| {
            format!("cannot add {name}")
        })
    }

    fn add(
        &mut self,
        name: &str,
        size: u64,
        input: &mut dyn Read,
        context: &dyn Fn() -> String,
    ) -> Result<(), BackupError> {
        check_name(name)?;
        if name == MANIFEST_NAME {
            return Err(BackupError::bad_member(name, "the name is reserved"));
        }
        if self.names.contains(name) {
            return Err(BackupError::bad_member(name, "it was already added"));
        }
        let mut header = self.header(size);
        let tar = self.tar.as_mut().ok_or_else(poisoned)?;
        let mut hashing = Hashing {
            inner: input.take(size),
            digest: Digester::new(),
            error: None,
        };
        let appended = tar.append_data(&mut header, name, &mut hashing);
        if let Some(e) = hashing.error {
            return Err(self.fail(BackupError::io(context(), e)));
        }
        if let Err(e) = appended {
            return Err(self.fail(BackupError::io("cannot write the backup", e)));
        }
        if hashing.digest.size != size {
            return Err(self.fail(BackupError::bad_member(
                name,
                format!(
                    "it shrank from {size} to {} bytes while it was backed up",
                    hashing.digest.size
                ),
            )));
        }
        self.names.insert(name.to_owned());
        self.members.push(hashing.digest.finish(name));
        Ok(())
    }

    fn header(&self, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(0o600);
        header.set_mtime(u64::try_from(self.meta.created.timestamp()).unwrap_or(0));
        header
    }

    /// Writes the manifest and the final chunk, flushes the output and returns the manifest.
    pub fn finish(self) -> Result<Manifest, BackupError> {
        self.finish_into_inner().map(|(manifest, _)| manifest)
    }

    /// Like [`finish`](Writer::finish), and hands back the output, e.g. to `sync_all` a
    /// `File` before reporting the backup done.
    pub fn finish_into_inner(mut self) -> Result<(Manifest, W), BackupError> {
        let manifest = Manifest::new(self.meta.clone(), std::mem::take(&mut self.members));
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        let mut tar = self.tar.take().ok_or_else(poisoned)?;
        let mut header = self.header(json.len() as u64);
        let sealed = tar
            .append_data(&mut header, MANIFEST_NAME, &json[..])
            .and_then(|()| tar.into_inner())
            .and_then(ParGz::finish)
            .and_then(Sealer::finish);
        if let Err(e) = sealed {
            return Err(self.fail(BackupError::io("cannot write the backup", e)));
        }
        let worker = self.worker.take().ok_or_else(poisoned)?;
        match worker.join() {
            Ok(Ok(out)) => Ok((manifest, out)),
            Ok(Err(SealEnd::Failed(e))) => Err(e),
            Ok(Err(SealEnd::Abandoned)) | Err(_) => Err(BackupError::io(
                "cannot write the backup",
                io::Error::other("the encryption thread stopped"),
            )),
        }
    }

    /// Stops the pipeline after an error and returns the error that explains it best: the
    /// sealing thread's (e.g. a full disk) if it had one.
    fn fail(&mut self, err: BackupError) -> BackupError {
        drop(self.tar.take());
        match self.worker.take().map(JoinHandleExt::join_quietly) {
            Some(Some(SealEnd::Failed(first))) => first,
            _ => err,
        }
    }
}

impl<W: Write + Send + 'static> Drop for Writer<W> {
    fn drop(&mut self) {
        drop(self.tar.take());
        if let Some(worker) = self.worker.take() {
            worker.join_quietly();
        }
    }
}

trait JoinHandleExt {
    fn join_quietly(self) -> Option<SealEnd>;
}

impl<W> JoinHandleExt for SealWorker<W> {
    fn join_quietly(self) -> Option<SealEnd> {
        match self.join() {
            Ok(Err(end)) => Some(end),
            _ => None,
        }
    }
}

fn poisoned() -> BackupError {
    BackupError::io(
        "cannot write the backup",
        io::Error::other("an earlier error stopped this backup"),
    )
}

fn new_cipher(
    passphrase: &str,
    options: Options,
) -> Result<(ChunkCipher, [u8; HEADER_LEN]), BackupError> {
    if !(format::MIN_ITERATIONS..=format::MAX_ITERATIONS).contains(&options.iterations) {
        return Err(BackupError::InvalidOptions(
            "the iteration count must be 1 000 to 10 000 000",
        ));
    }
    if !(format::MIN_CHUNK_SIZE..=format::MAX_CHUNK_SIZE).contains(&options.chunk_size) {
        return Err(BackupError::InvalidOptions(
            "the chunk size must be 4 KiB to 16 MiB",
        ));
    }
    let mut salt = [0u8; SALT_LEN];
    let mut prefix = [0u8; PREFIX_LEN];
    aws_lc_rs::rand::fill(&mut salt)
        .and_then(|()| aws_lc_rs::rand::fill(&mut prefix))
        .map_err(|_| BackupError::io("cannot get random bytes", io::Error::other("rand")))?;
    let keys = format::derive_keys(passphrase, options.iterations, &salt);
    let header = Header {
        iterations: options.iterations,
        salt,
        nonce_prefix: prefix,
        chunk_size: options.chunk_size,
        check: *keys.check,
    }
    .encode();
    let cipher = ChunkCipher {
        key: keys.aead,
        header,
        prefix,
    };
    Ok((cipher, header))
}

/// Hashes what passes through; keeps the input's own error apart from the output's.
struct Hashing<R> {
    inner: R,
    digest: Digester,
    error: Option<io::Error>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.digest.update(&buf[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                Err(io::Error::new(kind, "reading a member failed"))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Seals arbitrary plaintext, for tests of the reader's checks.
    use super::*;

    pub fn seal_raw<W: Write + Send + 'static>(
        mut out: W,
        passphrase: &str,
        plaintext: &[u8],
    ) -> W {
        let options = Options {
            iterations: 1_000,
            chunk_size: 4096,
        };
        let (cipher, header) = new_cipher(passphrase, options).unwrap();
        out.write_all(&header).unwrap();
        let (mut sealer, worker) = Sealer::start(out, cipher, 4096).unwrap();
        sealer.write_all(plaintext).unwrap();
        sealer.finish().unwrap();
        match worker.join().unwrap() {
            Ok(out) => out,
            Err(_) => panic!("sealing failed"),
        }
    }
}
