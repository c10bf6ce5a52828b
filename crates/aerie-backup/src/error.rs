//! The one error type, worded for the operator who restores a backup.

use std::path::PathBuf;

/// Why a backup could not be written, read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("this file is not an Aerie backup (no AERIEBK1 header)")]
    NotABackup,

    #[error(
        "this backup uses format version {0}, which this Aerie cannot read — restore it with a newer Aerie"
    )]
    UnsupportedFormat(u8),

    #[error(
        "this backup uses key derivation {0}, which this Aerie does not know — restore it with a newer Aerie"
    )]
    UnsupportedKdf(u8),

    #[error("the backup header is invalid: {0} (the file was altered)")]
    BadHeader(&'static str),

    #[error("invalid backup options: {0}")]
    InvalidOptions(&'static str),

    #[error("wrong passphrase: the backup's key check does not match")]
    WrongPassphrase,

    #[error("the passphrase is too short: use at least {min} characters", min = crate::MIN_PASSPHRASE_CHARS)]
    WeakPassphrase,

    #[error(
        "the backup is truncated: it ends before its last chunk (an interrupted copy or download?)"
    )]
    Truncated,

    #[error("the backup is damaged: chunk {chunk} fails authentication (the file was altered)")]
    Damaged { chunk: u64 },

    #[error("the backup has extra data after its last chunk (the file was altered)")]
    TrailingData,

    #[error("backup member {name:?} is refused: {reason}")]
    BadMember { name: String, reason: String },

    #[error("the backup's manifest does not match its contents: {0}")]
    ManifestMismatch(String),

    #[error("cannot restore into {0}: the directory must exist and be empty")]
    DestinationNotEmpty(PathBuf),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl BackupError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BackupError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn bad_member(name: &str, reason: impl Into<String>) -> Self {
        BackupError::BadMember {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}
