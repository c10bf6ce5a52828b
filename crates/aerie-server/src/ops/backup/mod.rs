//! Backups: one encrypted file (crate `aerie-backup`) holding a consistent copy of the
//! store, the TLS identity and `aerie.toml`. Made on demand (the Backup/Restore page,
//! `set system backup FILE passphrase P`) or on a schedule with retention; every backup is
//! audited as `system.backup`, never with its passphrase. Restoring is offline
//! ([`crate::restore`]).
//!
//! The store is copied first, into a file next to the backup (`VACUUM INTO` on SQLite,
//! `pg_dump -Fc` on PostgreSQL: both snapshots, writers go on), then sealed with the other
//! members into `FILE.tmp` (0600), synced, and renamed to `FILE`: a backup that exists is
//! complete.

use std::{
    fs,
    io::ErrorKind,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use aerie_backup::{BackupError, ManifestMeta, Writer};
use aerie_domain::passphrase::Passphrase;
use aerie_store::StoreError;

use crate::rights::Operator;
use crate::{audit, error::OpError, state::AppState, tls};

mod schedule;
use schedule::note_run;
pub use schedule::{
    LastRun, Schedule, ScheduleForm, last_manual, last_run, next_due, passphrase_stored, run_due,
    run_schedule, schedule, set_schedule,
};

/// Every backup file's name ends so.
pub const SUFFIX: &str = ".aerie-backup";
/// Scheduled backups end so; retention deletes only these.
pub const SCHEDULED_SUFFIX: &str = "-scheduled.aerie-backup";
/// The default backup directory, in the data dir.
pub const DEFAULT_DIR: &str = "backups";
/// The file in the data dir holding the scheduled backups' passphrase (0600).
pub const PASSPHRASE_FILE: &str = "backup-passphrase";

/// The members of a backup.
pub mod members {
    /// The SQLite database file (`VACUUM INTO`).
    pub const SQLITE: &str = "store/aerie.db";
    /// The PostgreSQL database (`pg_dump -Fc`).
    pub const POSTGRES: &str = "store/aerie.pgdump";
    pub const CERT: &str = "tls/cert.pem";
    pub const KEY: &str = "tls/key.pem";
    /// The key of a certificate signing request waiting for its certificate.
    pub const PENDING_KEY: &str = "tls/pending-key.pem";
    pub const CONFIG: &str = "aerie.toml";
}

/// A backup written.
#[derive(Clone, Debug)]
pub struct BackupDone {
    pub path: PathBuf,
    /// Bytes of the backup file.
    pub size: u64,
    /// Members in the archive, the manifest not counted.
    pub members: usize,
    pub elapsed: Duration,
    /// Of `elapsed`, the store's consistent copy (`VACUUM INTO`, `pg_dump`).
    pub store_copy: Duration,
}

impl BackupDone {
    /// One line for the operator.
    pub fn said(&self) -> String {
        format!(
            "Backup written to {} ({}, {} members, {:.1} s).",
            self.path.display(),
            human_size(self.size),
            self.members,
            self.elapsed.as_secs_f64()
        )
    }
}

/// `1.5 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// Writes a backup to `out`, an absolute path that does not exist yet, in a directory
/// that does.
#[tracing::instrument(skip_all, fields(by = by.name(), out = %out.display()), err(level = "warn"))]
pub async fn create(
    state: &AppState,
    by: Operator<'_>,
    passphrase: &Passphrase,
    out: &Path,
) -> Result<BackupDone, OpError> {
    write(state, by.name(), passphrase, out).await
}

async fn write(
    state: &AppState,
    actor: &str,
    passphrase: &Passphrase,
    out: &Path,
) -> Result<BackupDone, OpError> {
    let started = Instant::now();
    check_target(out)?;
    let tmp = with_suffix(out, ".tmp");
    // Claimed first: a second backup to the same file is refused, not interleaved.
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => OpError::conflict(format!(
                "a backup to {} is in progress (or {} was left by an interrupted one: delete it)",
                out.display(),
                tmp.display()
            )),
            _ => io_refusal("file", &tmp, &e),
        })?;
    let snapshot = with_suffix(out, ".store.tmp");
    let mut store_copy = Duration::ZERO;
    let result = async {
        let meta = ManifestMeta {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            role: state.appliance.role().await?.as_str().to_owned(),
            created: Utc::now(),
            schema: state.store.schema_version().await?,
            extra: serde_json::json!({
                "backend": state.store.backend().as_str(),
                "hostname": state.appliance.hostname().await?,
            }),
        };
        // The key derivation (deliberately slow) runs on another core meanwhile.
        let passphrase_ = passphrase.clone();
        let writer = tokio::task::spawn_blocking(move || {
            Writer::new(file, passphrase_.expose(), meta).map_err(backup_refusal)
        });
        // The copy is plaintext: owner-only from its first byte (`VACUUM INTO` and
        // `pg_dump -f` both write into an existing empty file).
        let copied = async {
            let copying = Instant::now();
            let _ = fs::remove_file(&snapshot);
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&snapshot)
                .map_err(|e| io_refusal("file", &snapshot, &e))?;
            state
                .store
                .snapshot_into(&snapshot)
                .await
                .map_err(store_refusal)?;
            Ok::<_, OpError>(copying.elapsed())
        };
        let (writer, copied) = tokio::join!(writer, copied);
        let writer = writer.map_err(OpError::internal)??;
        store_copy = copied?;
        let store_member = match state.store.backend() {
            aerie_store::Backend::Sqlite => members::SQLITE,
            aerie_store::Backend::Postgres => members::POSTGRES,
        };
        let mut sources = vec![(store_member, snapshot.clone())];
        let files = tls::Files::of(&state.config.data_dir);
        sources.push((members::CERT, files.cert));
        sources.push((members::KEY, files.key));
        if files.pending_key.exists() {
            sources.push((members::PENDING_KEY, files.pending_key));
        }
        let config = state.config.data_dir.join("aerie.toml");
        if config.exists() {
            sources.push((members::CONFIG, config));
        }
        let (tmp_, out_) = (tmp.clone(), out.to_owned());
        tokio::task::spawn_blocking(move || seal(writer, &sources, &tmp_, &out_))
            .await
            .map_err(OpError::internal)?
    }
    .await;
    let _ = fs::remove_file(&snapshot);
    let members = match result {
        Ok(members) => members,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let size = fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    let done = BackupDone {
        path: out.to_owned(),
        size,
        members,
        elapsed: started.elapsed(),
        store_copy,
    };
    tracing::info!(path = %out.display(), size, members, elapsed_ms = done.elapsed.as_millis() as u64, "backup written");
    audit::record(
        state,
        actor,
        "system.backup",
        out.display().to_string(),
        format!("{size} bytes, {members} members"),
    )
    .await?;
    Ok(done)
}

/// The blocking part: seal the members into `file` (= `tmp`), sync, rename to `out`.
fn seal(
    mut writer: Writer<fs::File>,
    sources: &[(&str, PathBuf)],
    tmp: &Path,
    out: &Path,
) -> Result<usize, OpError> {
    for (name, path) in sources {
        writer.add_file(name, path).map_err(backup_refusal)?;
    }
    let (manifest, file) = writer.finish_into_inner().map_err(backup_refusal)?;
    file.sync_all().map_err(|e| io_refusal("file", tmp, &e))?;
    drop(file);
    if out.exists() {
        return Err(OpError::conflict(format!(
            "{} appeared while the backup was written: nothing was replaced",
            out.display()
        )));
    }
    fs::rename(tmp, out).map_err(|e| io_refusal("file", out, &e))?;
    if let Some(dir) = out.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_refusal("file", dir, &e))?;
    }
    Ok(manifest.members.len())
}

/// `out` is absolute, new, and in an existing directory.
fn check_target(out: &Path) -> Result<(), OpError> {
    if !out.is_absolute() {
        return Err(OpError::invalid(
            "file",
            format!(
                "{} is a relative path: give the backup's absolute path, e.g. /var/backups/aerie.aerie-backup",
                out.display()
            ),
        ));
    }
    if out.file_name().is_none() || out.to_str().is_none_or(|s| s.ends_with('/')) {
        return Err(OpError::invalid(
            "file",
            format!("{} names a directory: add a file name", out.display()),
        ));
    }
    match out.parent() {
        Some(dir) if dir.is_dir() => {}
        _ => {
            return Err(OpError::invalid(
                "file",
                format!(
                    "the directory of {} does not exist: create it first",
                    out.display()
                ),
            ));
        }
    }
    if out.exists() {
        return Err(OpError::conflict(format!(
            "{} exists: choose another file name (a backup never overwrites a file)",
            out.display()
        )));
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// An I/O failure on a path the operator chose, in words (the raw text goes to the log).
fn io_refusal(field: &str, path: &Path, e: &std::io::Error) -> OpError {
    tracing::warn!(path = %path.display(), "backup: {e}");
    let why = match e.kind() {
        ErrorKind::PermissionDenied => "the daemon's user may not write there",
        ErrorKind::StorageFull => "the disk is full",
        ErrorKind::NotFound => "the directory does not exist",
        ErrorKind::ReadOnlyFilesystem => "the file system is read-only",
        _ => "the server log has the reason",
    };
    OpError::invalid(field, format!("cannot write {}: {why}", path.display()))
}

fn backup_refusal(e: BackupError) -> OpError {
    match e {
        BackupError::WeakPassphrase => OpError::invalid("passphrase", e.to_string()),
        BackupError::Io { context, source } => {
            tracing::warn!("backup: {context}: {source}");
            match source.kind() {
                ErrorKind::StorageFull => {
                    OpError::invalid("file", "the backup's disk is full: nothing was kept")
                }
                _ => OpError::internal(format!("{context}: {source}")),
            }
        }
        other => OpError::internal(other),
    }
}

/// The store's copy failed: `pg_dump`'s own words are for the operator.
fn store_refusal(e: StoreError) -> OpError {
    match e {
        StoreError::Tool(message) => {
            tracing::warn!("backup: {message}");
            OpError::unavailable(format!("the database copy failed: {message}"))
        }
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------------------
// The backup directory: listing, download, delete.

/// A backup in the backup directory.
#[derive(Clone, Debug, PartialEq)]
pub struct BackupFile {
    pub name: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
    pub scheduled: bool,
}

/// The directory backups from the page and the schedule go to.
pub async fn directory(state: &AppState) -> Result<PathBuf, OpError> {
    Ok(schedule(state)
        .await?
        .directory
        .unwrap_or_else(|| state.config.data_dir.join(DEFAULT_DIR)))
}

/// The backups in the backup directory, newest first (`.tmp` ones are in progress).
pub async fn list(state: &AppState) -> Result<Vec<BackupFile>, OpError> {
    let dir = directory(state).await?;
    Ok(list_in(&dir))
}

fn list_in(dir: &Path) -> Vec<BackupFile> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<BackupFile> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let meta = e.metadata().ok()?;
            (meta.is_file() && check_name(&name).is_ok()).then(|| BackupFile {
                scheduled: name.ends_with(SCHEDULED_SUFFIX),
                size: meta.len(),
                modified: meta
                    .modified()
                    .map(DateTime::<Utc>::from)
                    .unwrap_or_default(),
                name,
            })
        })
        .collect();
    out.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.name.cmp(&a.name)));
    out
}

/// Whether a backup is being written in the backup directory.
pub async fn in_progress(state: &AppState) -> Result<bool, OpError> {
    let dir = directory(state).await?;
    Ok(fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
    }))
}

/// A backup's file name as the page sends it: one plain name ending in [`SUFFIX`].
fn check_name(name: &str) -> Result<(), OpError> {
    let plain = !name.starts_with('.')
        && name.len() > SUFFIX.len()
        && name.ends_with(SUFFIX)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        Ok(())
    } else {
        Err(OpError::not_found(format!("backup {name:?}")))
    }
}

/// The path of the backup called `name` in the backup directory, if it is there.
pub async fn path_of(state: &AppState, name: &str) -> Result<PathBuf, OpError> {
    check_name(name)?;
    let path = directory(state).await?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(OpError::not_found(format!("backup {name}")))
    }
}

/// Deletes a backup of the backup directory.
#[tracing::instrument(skip_all, fields(by = by.name(), name), err(level = "warn"))]
pub async fn delete(state: &AppState, by: Operator<'_>, name: &str) -> Result<String, OpError> {
    let path = path_of(state, name).await?;
    fs::remove_file(&path).map_err(|e| io_refusal("name", &path, &e))?;
    audit::record(
        state,
        by.name(),
        "system.backup.delete",
        path.display().to_string(),
        "",
    )
    .await?;
    Ok(format!("Deleted {name}."))
}

/// A new backup's file name: `HOST-ROLE-20250102T030405Z[-scheduled].aerie-backup` for a
/// backup at `at`, with `_2`, `_3`… before the suffix if one of that second exists (so
/// that names sort by time: retention relies on it).
async fn new_name(
    state: &AppState,
    dir: &Path,
    scheduled: bool,
    at: DateTime<Utc>,
) -> Result<PathBuf, OpError> {
    let host = state.appliance.hostname().await?;
    let role = state.appliance.role().await?;
    let stamp = at.format("%Y%m%dT%H%M%SZ");
    let end = if scheduled { SCHEDULED_SUFFIX } else { SUFFIX };
    for n in 1..10 {
        let extra = if n == 1 {
            String::new()
        } else {
            format!("_{n}")
        };
        let path = dir.join(format!("{host}-{}-{stamp}{extra}{end}", role.as_str()));
        if !path.exists() && !with_suffix(&path, ".tmp").exists() {
            return Ok(path);
        }
    }
    Err(OpError::conflict(
        "too many backups this second: try again in a second",
    ))
}

/// A backup into the backup directory (the page's "Create backup").
pub async fn create_in_directory(
    state: &AppState,
    by: Operator<'_>,
    passphrase: &Passphrase,
) -> Result<BackupDone, OpError> {
    let dir = ensure_directory(state).await?;
    let out = new_name(state, &dir, false, Utc::now()).await?;
    let result = create(state, by, passphrase, &out).await;
    note_run(state, by.name(), &result).await;
    result
}

/// Starts [`create_in_directory`] in the background, so that a large store's backup
/// outlives no connection deadline; its outcome is shown by [`last_run`].
pub async fn start_in_directory(
    state: &AppState,
    by: Operator<'_>,
    passphrase: Passphrase,
) -> Result<String, OpError> {
    if in_progress(state).await? {
        return Err(OpError::conflict(
            "a backup is being written: wait until it is listed",
        ));
    }
    let dir = ensure_directory(state).await?;
    let out = new_name(state, &dir, false, Utc::now()).await?;
    check_target(&out)?;
    let (state, actor) = (state.clone(), by.name().to_owned());
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
    tokio::spawn(async move {
        let result = write(&state, &actor, &passphrase, &out).await;
        note_run(&state, &actor, &result).await;
    });
    Ok(format!(
        "Backup started: {} is listed below when it is written (reload the page).",
        name.unwrap_or_default()
    ))
}

async fn ensure_directory(state: &AppState) -> Result<PathBuf, OpError> {
    let dir = directory(state).await?;
    if !dir.exists() {
        fs::create_dir_all(&dir).map_err(|e| io_refusal("directory", &dir, &e))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
    }
    Ok(dir)
}
