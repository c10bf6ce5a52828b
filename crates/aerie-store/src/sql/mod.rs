//! The SQL implementation of [`Store`], shared by SQLite and PostgreSQL through sqlx's
//! `Any` driver. Times are stored as UTC milliseconds and flags as integers, so every
//! value is a plain integer, float or text on both backends; the few statements that
//! differ are chosen by [`Backend`].

mod analysis;
mod audit;
pub(crate) mod backup;
mod bulk;
mod correlation;
mod federation;
mod feed;
mod incidents;
mod ingest;
mod investigation;
mod rows;
mod settings;
mod sso;
mod users;

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    AnyPool, AssertSqlSafe, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::{Result, Store};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL connections per daemon (docs/operations.md sizes the server for it).
const POSTGRES_POOL: u32 = 16;
/// PostgreSQL ingest transactions at once (see [`SqlStore::ingests`]).
const POSTGRES_INGESTS: usize = 4;

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
    /// retries. PostgreSQL writers run concurrently.
    write_lock: Mutex<()>,
    /// PostgreSQL: ingest transactions running at once. Each holds an advisory lock per
    /// endpoint of its batch, and those share the server's lock table
    /// (`max_locks_per_transaction` × connections).
    ingests: tokio::sync::Semaphore,
    /// PostgreSQL: the change feed's base (see [`feed`]).
    base: i64,
    feed: feed::FeedSql,
    sql: ingest::IngestSql,
    /// SQLite: the directory holding the database file, for its free space.
    data_dir: Option<std::path::PathBuf>,
    /// The URL the store was opened with: PostgreSQL's `pg_dump` connects with it.
    url: String,
    /// The last storage probe, reused for a second (`/healthz` needs no login).
    storage_probe: tokio::sync::Mutex<Option<(std::time::Instant, crate::StorageHealth)>>,
    /// The last readable change position, for the sync worker and live views to wake on.
    changes: Arc<tokio::sync::watch::Sender<i64>>,
    /// PostgreSQL: the last committed position, readable once the horizon passes it.
    committed: tokio::sync::watch::Sender<i64>,
    /// The active whitelist as ingest reads it, loaded on first use and dropped by every
    /// whitelist change (made under the same lock ingest takes, so none reads it stale).
    whitelist: std::sync::Mutex<Option<Arc<Vec<aerie_domain::whitelist::WhitelistEntry>>>>,
    /// Whether the correlation's follower keeps the sightings (on unless turned off).
    correlate: std::sync::atomic::AtomicBool,
    /// Counts the sync batches that wrote rows of the MCM's feed, for its followers to
    /// wake on.
    remote_feed: tokio::sync::watch::Sender<u64>,
    /// Tests: the most microseconds a change waits before it commits, so that concurrent
    /// writers commit in random order.
    #[cfg(feature = "testing")]
    commit_jitter: std::sync::atomic::AtomicU64,
}

/// Opens the store at `url` (`sqlite:PATH` or `postgres://…`), creating a SQLite file if
/// needed, and applies pending migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::open(url).await?))
}

/// A store a newer Aerie migrated (a downgrade) is refused before anything changes: this
/// build cannot know what its tables mean.
async fn refuse_newer_schema(pool: &AnyPool, backend: Backend) -> Result<()> {
    let exists = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => "SELECT COUNT(*) FROM pg_tables WHERE tablename = '_sqlx_migrations'",
    };
    let found: i64 = sqlx::query_scalar(exists).fetch_one(pool).await?;
    if found == 0 {
        return Ok(());
    }
    let applied: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
        .fetch_one(pool)
        .await?;
    let known = backup::latest_schema(backend);
    if applied > known {
        return Err(crate::StoreError::Config(format!(
            "this store was written by a newer version of Aerie (schema {applied}; version {} \
             knows up to {known}): install that version again, or restore a backup made by \
             this one (an upgrade from the Debian package keeps a copy of a SQLite store in \
             DATA_DIR/pre-upgrade)",
            env!("CARGO_PKG_VERSION")
        )));
    }
    Ok(())
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
                    .max_connections(POSTGRES_POOL)
                    // A request waits this long for a connection, then fails with an
                    // "unavailable" error (503) rather than hanging: PostgreSQL is down
                    // or every connection is busy.
                    .acquire_timeout(Duration::from_secs(5))
                    // Statements are prepared once per connection; after five runs
                    // PostgreSQL may switch to a generic plan, which for the grouping
                    // lookup (endpoints inside a time window) is a scan that grows with
                    // the table. Plan every run with its values. No JIT: the lookup's
                    // estimated cost on a big table triggers it, and compiling took
                    // 190 ms of a 3 ms probe. No statement runs for more than 30 s, and
                    // no transaction idles with its locks held.
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "SET plan_cache_mode = force_custom_plan; SET jit = off; \
                                 SET statement_timeout = '30s'; \
                                 SET idle_in_transaction_session_timeout = '60s'",
                            )
                            .await
                            .map(|_| ())
                        })
                    })
                    .connect(url)
                    .await?
            }
        };
        refuse_newer_schema(&pool, backend).await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let base = match backend {
            Backend::Sqlite => 0,
            Backend::Postgres => feed::postgres_base(&pool).await?,
        };
        let mut store = SqlStore {
            pool,
            backend,
            write_lock: Mutex::new(()),
            ingests: tokio::sync::Semaphore::new(POSTGRES_INGESTS),
            base,
            feed: feed::FeedSql::new(backend, base),
            sql: ingest::IngestSql::new(),
            data_dir: (backend == Backend::Sqlite).then(|| sqlite_dir(url)),
            url: url.to_owned(),
            storage_probe: Default::default(),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
            committed: tokio::sync::watch::Sender::new(0),
            whitelist: std::sync::Mutex::new(None),
            correlate: std::sync::atomic::AtomicBool::new(true),
            remote_feed: tokio::sync::watch::Sender::new(0),
            #[cfg(feature = "testing")]
            commit_jitter: Default::default(),
        };
        let last: i64 = sqlx::query_scalar(AssertSqlSafe(store.feed.last_position.as_str()))
            .fetch_one(&store.pool)
            .await?;
        store.changes = Arc::new(tokio::sync::watch::Sender::new(last));
        store.committed = tokio::sync::watch::Sender::new(last);
        if backend == Backend::Postgres {
            feed::spawn_horizon_watch(
                store.pool.clone(),
                url.to_owned(),
                base,
                store.committed.subscribe(),
                store.changes.clone(),
            );
        }
        Ok(store)
    }

    /// Tests: makes every change wait up to `max` before it commits.
    #[cfg(feature = "testing")]
    pub fn set_commit_jitter(&self, max: Duration) {
        self.commit_jitter
            .store(max.as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Tests: waits the commit jitter, if any.
    async fn jitter(&self) {
        #[cfg(feature = "testing")]
        {
            use std::hash::{BuildHasher, RandomState};
            let max = self
                .commit_jitter
                .load(std::sync::atomic::Ordering::Relaxed);
            if max > 0 {
                let wait = RandomState::new().hash_one(std::time::Instant::now()) % max;
                tokio::time::sleep(Duration::from_micros(wait)).await;
            }
        }
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
}

impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }
}
