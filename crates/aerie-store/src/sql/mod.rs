//! The SQL implementation of [`Store`], shared by SQLite and PostgreSQL through sqlx's
//! `Any` driver. Times are stored as UTC milliseconds and flags as integers, so every
//! value is a plain integer, float or text on both backends; the few statements that
//! differ are chosen by [`Backend`].

mod audit;
mod federation;
mod incidents;
mod ingest;
mod investigation;
mod rows;
mod settings;
mod users;

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::{Result, Store};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The database behind a [`SqlStore`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The `n`th (1-based) bind placeholder of a statement that numbers its parameters
    /// in textual order. SQLite gets anonymous `?`: it resolves named or numbered
    /// placeholders by a linear search per bind, quadratic in multi-row statements.
    pub(crate) fn placeholder(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }

    fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A store on SQLite or PostgreSQL.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer; serialising writers here avoids lock upgrades and busy
    /// retries. PostgreSQL serialises incident writers on the `change_seq` counter row.
    write_lock: Mutex<()>,
    sql: ingest::IngestSql,
    /// SQLite: the directory holding the database file, for its free space.
    data_dir: Option<std::path::PathBuf>,
    /// The last storage probe, reused for a second (`/healthz` needs no login).
    storage_probe: tokio::sync::Mutex<Option<(std::time::Instant, crate::StorageHealth)>>,
    /// The last committed change sequence number, for the sync worker to wake on.
    changes: tokio::sync::watch::Sender<i64>,
    /// The active whitelist as ingest reads it, loaded on first use and dropped by every
    /// whitelist change (made under the same lock ingest takes, so none reads it stale).
    whitelist: std::sync::Mutex<Option<Arc<Vec<aerie_domain::whitelist::WhitelistEntry>>>>,
}

/// Opens the store at `url` (`sqlite:PATH` or `postgres://…`), creating a SQLite file if
/// needed, and applies pending migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::open(url).await?))
}

/// The directory of a `sqlite:PATH[?options]` URL's database file.
fn sqlite_dir(url: &str) -> std::path::PathBuf {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = Path::new(path.split('?').next().unwrap_or(path));
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => std::path::PathBuf::from("."),
    }
}

impl SqlStore {
    pub async fn open(url: &str) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url).ok_or_else(|| {
            crate::StoreError::Config(
                "database URL must start with sqlite: or postgres://".to_owned(),
            )
        })?;
        let pool = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                AnyPoolOptions::new()
                    .max_connections(8)
                    // A transaction that failed to commit (a full disk) can leave its
                    // connection inside it, in SQLite's view or in sqlx's own count (when
                    // the rollback failed too); such a connection is closed rather than
                    // handed out again (where every BEGIN would fail).
                    .after_release(|conn, _| {
                        Box::pin(async move {
                            Ok(!sqlx::Connection::is_in_transaction(conn)
                                && conn.execute("ROLLBACK").await.is_err())
                        })
                    })
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(AnyConnectOptions::from_str(&url)?)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    // Statements are prepared once per connection; after five runs
                    // PostgreSQL may switch to a generic plan, which for the grouping
                    // lookup (an IN list of endpoints inside a time window) is a scan
                    // that grows with the table. Plan every run with its values.
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("SET plan_cache_mode = force_custom_plan")
                                .await
                                .map(|_| ())
                        })
                    })
                    .connect(url)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let last: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'change_seq'")
            .fetch_one(&pool)
            .await?;
        Ok(SqlStore {
            pool,
            backend,
            write_lock: Mutex::new(()),
            sql: ingest::IngestSql::new(),
            data_dir: (backend == Backend::Sqlite).then(|| sqlite_dir(url)),
            storage_probe: Default::default(),
            changes: tokio::sync::watch::Sender::new(last),
            whitelist: std::sync::Mutex::new(None),
        })
    }

    /// The SQLite URL of the database file in a data directory.
    pub fn sqlite_url(dir: &Path) -> String {
        format!("sqlite:{}", dir.join("aerie.db").display())
    }

    /// Begins a write transaction. On SQLite it takes this process's writer lock and the
    /// database's write lock at once (`BEGIN IMMEDIATE`): a deferred transaction that
    /// read first would fail with SQLITE_BUSY_SNAPSHOT when any other write (a setting, a
    /// session) committed in between.
    async fn begin_write(
        &self,
    ) -> Result<(
        Option<MutexGuard<'_, ()>>,
        sqlx::Transaction<'static, sqlx::Any>,
    )> {
        match self.backend {
            Backend::Sqlite => {
                let guard = self.write_lock.lock().await;
                Ok((Some(guard), self.pool.begin_with("BEGIN IMMEDIATE").await?))
            }
            Backend::Postgres => Ok((None, self.pool.begin().await?)),
        }
    }

    /// Tells watchers that changes up to `seq` are committed.
    fn announce(&self, seq: i64) {
        self.changes.send_if_modified(|last| {
            let newer = seq > *last;
            if newer {
                *last = seq;
            }
            newer
        });
    }

    /// Locks the change-sequence counter for this transaction and reads it.
    async fn lock_change_seq(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<i64> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT value FROM counters WHERE name = 'change_seq'",
            Backend::Postgres => "SELECT value FROM counters WHERE name = 'change_seq' FOR UPDATE",
        };
        Ok(sqlx::query_scalar(sql).fetch_one(&mut **tx).await?)
    }

    async fn store_change_seq(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        value: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE counters SET value = $1 WHERE name = 'change_seq'")
            .bind(value)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }
}
