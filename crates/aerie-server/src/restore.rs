//! `aerie restore --data-dir DIR --from FILE`: puts a backup ([`crate::ops::backup`])
//! back, with the daemon stopped.
//!
//! Nothing under `DIR` changes until every check has passed: the daemon is not running
//! (its admin socket does not answer), the passphrase matches (checked before anything
//! is read), the whole archive authenticates and matches its manifest (extracted into
//! `DIR/.restore-…`, on the same file system), its store is of the backend `DIR` uses,
//! its role is `DIR`'s and its schema not newer than this build's (both unless
//! `--force`). Then the swap: SQLite's database file is renamed over the old one (whose
//! `-wal`/`-shm` are moved away first), PostgreSQL's database is replaced by `pg_restore`
//! in one transaction; the TLS identity is installed as Certificate Management installs
//! one (crash-safe); and the store is opened once so that migrations run.

use std::{
    fs,
    path::{Path, PathBuf},
};

use aerie_backup::{BackupError, Manifest};
use aerie_store::{Backend, SqlStore, StoreError};

use crate::config::{Config, ConfigLayer};
use crate::ops::backup::members;

/// What to restore, and where.
pub struct RestoreOptions {
    pub data_dir: PathBuf,
    pub from: PathBuf,
    pub passphrase: String,
    /// Restore even over another role or with a newer schema.
    pub force: bool,
    /// The database to restore into (default: `DIR`'s configuration's).
    pub database_url: Option<String>,
}

impl std::fmt::Debug for RestoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreOptions")
            .field("data_dir", &self.data_dir)
            .field("from", &self.from)
            .field("passphrase", &"***")
            .field("force", &self.force)
            .finish()
    }
}

/// A restore done.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Things the operator should know (a kept `aerie.toml`, a forced role).
    pub notes: Vec<String>,
}

impl Restored {
    pub fn said(&self) -> String {
        let m = &self.manifest;
        let mut lines = vec![format!(
            "Restored the {} backup of {} made {} (Aerie {}, schema {}).",
            m.role.to_uppercase(),
            m.extra["hostname"].as_str().unwrap_or("?"),
            m.created.format("%Y-%m-%d %H:%M:%S UTC"),
            m.version,
            m.schema,
        )];
        lines.extend(self.notes.iter().cloned());
        lines.join("\n")
    }
}

/// Why a restore did not happen (or, for [`RestoreError::Swap`], did not finish).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("the daemon of {0} is running (its admin socket answers): stop it first, then restore")]
    Running(PathBuf),
    /// The archive itself: wrong passphrase, truncated, damaged, not a backup.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// A check refused it; the text says why and what to do.
    #[error("{0} — nothing was changed")]
    Refused(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The swap began and failed part-way: what is where is in the text.
    #[error("the restore failed while replacing the data: {0}")]
    Swap(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RestoreError {
    let context = context.into();
    move |source| RestoreError::Io { context, source }
}

/// Restores `opts.from` into `opts.data_dir`; see the module's text for the steps.
pub async fn restore(opts: &RestoreOptions) -> Result<Restored, RestoreError> {
    let dir = &opts.data_dir;
    let flags = ConfigLayer {
        database_url: opts.database_url.clone(),
        ..Default::default()
    };
    let config = Config::load(dir, flags).map_err(|e| RestoreError::Config(e.0))?;
    let url = config.database_url.expose().to_owned();
    let backend = Backend::of_url(&url)
        .ok_or_else(|| RestoreError::Config("unknown database URL".to_owned()))?;
    if daemon_answers(dir) {
        return Err(RestoreError::Running(dir.clone()));
    }
    // The header and the passphrase first: a wrong one is told before anything is read.
    aerie_backup::read_header(&opts.from)?;
    aerie_backup::verify_passphrase(&opts.from, &opts.passphrase)?;

    if !dir.exists() {
        crate::bootstrap::data_dir(dir).map_err(|e| RestoreError::Config(format!("{e:#}")))?;
    }
    let staging = dir.join(format!(".restore-{}", random_hex()));
    create_private_dir(&staging)?;
    let result = async {
        let from = opts.from.clone();
        let (pass, into) = (opts.passphrase.clone(), staging.clone());
        let manifest =
            tokio::task::spawn_blocking(move || aerie_backup::extract(&from, &pass, &into))
                .await
                .map_err(|e| RestoreError::Swap(format!("the extraction stopped: {e}")))??;
        check(&manifest, backend, &url, opts.force).await?;
        swap(dir, &staging, &manifest, backend, &url).await
    }
    .await;
    let _ = fs::remove_dir_all(&staging);
    result
}

/// Whether a daemon serves `DIR/admin.sock` (a stale socket of a stopped one refuses).
fn daemon_answers(dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(dir.join(aerie_proto::admin::SOCKET_FILE)).is_ok()
}

/// The checks on the extracted backup against `DIR`.
async fn check(
    manifest: &Manifest,
    backend: Backend,
    url: &str,
    force: bool,
) -> Result<(), RestoreError> {
    let theirs = manifest.extra["backend"].as_str().unwrap_or("");
    if theirs != backend.as_str() {
        let what = |b: &str| match b {
            "sqlite" => "SQLite",
            "postgres" => "PostgreSQL",
            _ => "unknown",
        };
        return Err(RestoreError::Refused(format!(
            "the backup holds a {} store and this data dir uses {}: restore it where the \
             same backend is configured ({})",
            what(theirs),
            what(backend.as_str()),
            if theirs == "postgres" {
                "--database-url postgres://…"
            } else {
                "no database_url: the data dir's SQLite file"
            }
        )));
    }
    let ours = aerie_store::latest_schema(backend);
    if manifest.schema > ours && !force {
        return Err(RestoreError::Refused(format!(
            "the backup's store is schema version {}, newer than this Aerie's ({ours}): restore \
             it with Aerie {} or newer, or add --force",
            manifest.schema, manifest.version
        )));
    }
    let current = aerie_store::peek(url, crate::appliance::keys::ROLE).await?;
    if let Some(current) = current {
        // No stored role is a CM (see `Appliance::role`).
        let role = current.setting.unwrap_or_else(|| "cm".to_owned());
        if role != manifest.role && !force {
            return Err(RestoreError::Refused(format!(
                "this data dir is {} and the backup is of {}: restore an {} backup here, or \
                 add --force to replace it anyway",
                article(&role),
                article(&manifest.role),
                role.to_uppercase()
            )));
        }
    }
    Ok(())
}

fn article(role: &str) -> String {
    match role {
        "mcm" => "an MCM".to_owned(),
        "cm" => "a CM".to_owned(),
        other => format!("a {other}"),
    }
}

/// Replaces `DIR`'s data by the staged backup.
async fn swap(
    dir: &Path,
    staging: &Path,
    manifest: &Manifest,
    backend: Backend,
    url: &str,
) -> Result<Restored, RestoreError> {
    let has = |name: &str| manifest.members.iter().any(|m| m.name == name);
    let mut notes = Vec::new();
    match backend {
        Backend::Sqlite => {
            let staged = staging.join(members::SQLITE);
            if !has(members::SQLITE) {
                return Err(RestoreError::Refused(
                    "the backup has no SQLite database".to_owned(),
                ));
            }
            let db = aerie_store::sqlite_path(url)
                .ok_or_else(|| RestoreError::Config(format!("no file in {url}")))?;
            swap_sqlite(&staged, &db, &staging.join("previous"))?;
        }
        Backend::Postgres => {
            if !has(members::POSTGRES) {
                return Err(RestoreError::Refused(
                    "the backup has no PostgreSQL dump".to_owned(),
                ));
            }
            aerie_store::restore_postgres(url, &staging.join(members::POSTGRES)).await?;
        }
    }

    // The TLS identity, staged and renamed as Certificate Management installs one.
    let read = |name: &str| {
        fs::read_to_string(staging.join(name)).map_err(io(format!("read the backup's {name}")))
    };
    let (cert, key) = (read(members::CERT)?, read(members::KEY)?);
    fs::create_dir_all(dir.join("tls")).map_err(io("create the tls directory"))?;
    crate::tls::install(dir, &cert, &key).map_err(|e| {
        RestoreError::Swap(format!("the TLS identity: {e:#} (the store is restored)"))
    })?;
    let pending = crate::tls::Files::of(dir).pending_key;
    if has(members::PENDING_KEY) {
        fs::rename(staging.join(members::PENDING_KEY), &pending)
            .map_err(io("restore tls/pending-key.pem"))?;
    } else {
        let _ = fs::remove_file(&pending);
    }

    // `aerie.toml` describes this machine: an existing one stays.
    if has(members::CONFIG) {
        let target = dir.join("aerie.toml");
        let staged = staging.join(members::CONFIG);
        if !target.exists() {
            fs::rename(&staged, &target).map_err(io("restore aerie.toml"))?;
        } else if fs::read(&target).ok() != fs::read(&staged).ok() {
            let aside = dir.join("aerie.toml.from-backup");
            fs::rename(&staged, &aside).map_err(io("keep the backup's aerie.toml"))?;
            notes.push(format!(
                "This data dir's aerie.toml was kept; the backup's is in {} (compare them).",
                aside.display()
            ));
        }
    }
    sync_dir(dir)?;

    // Migrations run now, not at the daemon's first start.
    let store = SqlStore::open(url).await?;
    store.close().await;
    Ok(Restored {
        manifest: manifest.clone(),
        notes,
    })
}

/// Moves `db`'s `-wal` and `-shm` into `aside`, then renames `staged` over `db`: a WAL of
/// the old database must never meet the new one.
fn swap_sqlite(staged: &Path, db: &Path, aside: &Path) -> Result<(), RestoreError> {
    let db_dir = db.parent().unwrap_or(Path::new("."));
    // A database outside the data dir's file system gets its copy staged next to it.
    let next_to_db = db_dir.join(format!(".aerie-restore-{}.db", random_hex()));
    let staged = match fs::rename(staged, &next_to_db) {
        Ok(()) => next_to_db,
        Err(_) => {
            fs::copy(staged, &next_to_db).map_err(io(format!(
                "copy the restored database next to {}",
                db.display()
            )))?;
            fs::File::open(&next_to_db)
                .and_then(|f| f.sync_all())
                .map_err(io("sync the restored database"))?;
            next_to_db
        }
    };
    create_private_dir(aside)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists()
            && let Err(e) = fs::rename(&side, aside.join(format!("aerie.db{suffix}")))
        {
            let _ = fs::remove_file(&staged);
            return Err(RestoreError::Swap(format!(
                "cannot move {} aside ({e}): the old database is untouched",
                side.display()
            )));
        }
    }
    if let Err(e) = fs::rename(&staged, db) {
        let _ = fs::remove_file(&staged);
        return Err(RestoreError::Swap(format!(
            "cannot rename the restored database to {} ({e}); the old one's -wal and -shm \
             are in {}",
            db.display(),
            aside.display()
        )));
    }
    sync_dir(db_dir)
}

fn create_private_dir(path: &Path) -> Result<(), RestoreError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(io(format!("create {}", path.display())))
}

fn sync_dir(dir: &Path) -> Result<(), RestoreError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("sync {}", dir.display())))
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
