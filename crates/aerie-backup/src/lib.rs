//! Aerie's backup file: one file holding a tar+gzip archive with a manifest, encrypted and
//! authenticated under a key derived from an operator passphrase. This crate only writes
//! and reads the file; the server decides what goes in. Everything streams: no member and
//! no archive is ever held in memory whole.
//!
//! # Format, version 1
//!
//! **Header** (70 bytes, plaintext, part of every chunk's AAD):
//!
//! | bytes | field |
//! | --- | --- |
//! | 8 | magic `AERIEBK1` |
//! | 1 | format version = 1 |
//! | 1 | KDF id, 1 = PBKDF2-HMAC-SHA256 |
//! | 4 | iterations, u32 BE (600 000 by default) |
//! | 16 | salt, random |
//! | 4 | nonce prefix, random |
//! | 4 | chunk size, u32 BE: plaintext bytes per chunk (1 MiB by default) |
//! | 32 | key check |
//!
//! **Keys.** `master = PBKDF2-HMAC-SHA256(passphrase, salt, iterations)`; then HKDF-SHA256
//! with the salt: `expand("aerie-backup-v1 aes-256-gcm")` is the AES-256-GCM key and
//! `expand("aerie-backup-v1 key-check")` is the key check, so the check (which lets a wrong
//! passphrase be told apart from a damaged file) reveals nothing about the encryption key.
//!
//! **Body**: chunks `u32 BE ciphertext length || ciphertext || 16-byte tag`. Chunk `i` is
//! AES-256-GCM with nonce `prefix || i as u64 BE` and AAD `header || i as u64 BE || final`
//! (`final` is one byte, 1 for the last chunk). Every chunk but the last holds exactly
//! `chunk size` plaintext bytes; the last holds fewer (possibly none) and has `final = 1`.
//! This is the STREAM construction: reordered, dropped, truncated or appended chunks and any
//! altered header byte fail authentication, and nothing may follow the final chunk.
//!
//! **Plaintext**: a gzip'd tar of regular files, in the order added, then `manifest.json`
//! as the last member:
//! `{"format": 1, "version", "role": "cm"|"mcm", "created": RFC 3339, "schema": i64,
//! "members": [{"name", "size", "sha256": lowercase hex}], "extra": {…}}`.
//! Member names are relative `/`-separated paths without `.`/`..` components.
//!
//! # Threads
//!
//! Writing runs tar and hashing on the calling thread, deflate on one thread per core (in
//! independent 1 MiB blocks joined by sync flushes, as pigz does) and encryption plus output
//! on one more; reading runs input, decryption and gunzip on a second thread and untar,
//! hashing and output on the calling thread. The two are joined by a bounded queue of chunk
//! buffers. The API is blocking `std::io`; async callers use `spawn_blocking`.

mod error;
mod format;
mod manifest;
mod open;
mod pargz;
mod reader;
mod seal;
mod writer;

pub use error::BackupError;
pub use manifest::{MANIFEST_NAME, Manifest, ManifestMeta, Member};
pub use reader::{HeaderInfo, extract, manifest, read_header, verify_passphrase};
pub use writer::{DEFAULT_CHUNK_SIZE, DEFAULT_ITERATIONS, Options, Writer};

/// The shortest passphrase a new backup accepts, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
