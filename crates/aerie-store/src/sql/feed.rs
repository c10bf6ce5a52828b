//! The change feed: every change to an incident gets a position (`change_seq`), and
//! readers page the feed by position (the CM's sync stream, live updates).
//!
//! SQLite has one writer at a time, so a counter row taken inside the write transaction
//! numbers changes in commit order.
//!
//! PostgreSQL writers run concurrently and a number taken inside a transaction is not in
//! commit order: a reader paging by number would pass a lower number that commits
//! later, and skip it for ever. There a position packs the writing transaction's id
//! (`xid8`) with the change's number within it, `(xid + base) << 20 | k`, and readers
//! only read below the oldest transaction still running
//! (`pg_snapshot_xmin(pg_current_snapshot())`): everything under that horizon has
//! committed or never will. No writer waits for another; a long transaction anywhere in
//! the cluster delays the feed, it loses nothing. `base` (kept in `counters`) keeps
//! positions above every position issued before, across upgrades and restores. Writers
//! ring `pg_notify` at commit, so that other processes on the database read at once.

use std::{sync::Arc, time::Duration};

use aerie_domain::federation::RemoteIncident;
use async_trait::async_trait;
use sqlx::{Any, AnyPool, AssertSqlSafe, Row, Transaction};
use tokio::sync::watch;

use super::{Backend, SqlStore};
use crate::{Result, StoreError};

/// Bits of a PostgreSQL position that number the changes within one transaction.
const TX_SHIFT: u32 = 20;
/// Most changes one PostgreSQL transaction can number.
const TX_CHANGES: usize = 1 << TX_SHIFT;

/// The advisory-lock key that orders whitelist changes against ingest (PostgreSQL).
const WHITELIST_LOCK: i64 = 0x6165_7269_6500_0001;

/// The positions of one write transaction's changes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stamps {
    first: i64,
}

impl Stamps {
    /// The position of the transaction's `k`th (0-based) change.
    pub(super) fn nth(self, k: usize) -> i64 {
        self.first + k as i64
    }
}

/// `(xid + base) << TX_SHIFT`: where the positions of transaction `xid` begin.
fn tx_start(xid: &str, base: i64) -> String {
    format!("(({xid})::text::bigint + {base}) << {TX_SHIFT}")
}

/// The SQL value of the horizon: positions below it belong to finished transactions.
/// A subquery, so that a statement computes it once.
pub(super) fn horizon_sql(base: i64) -> String {
    format!(
        "(SELECT {})",
        tx_start("pg_snapshot_xmin(pg_current_snapshot())", base)
    )
}

/// PostgreSQL: the base that puts every new position above `floor`, never lowered.
pub(super) async fn postgres_base(pool: &AnyPool) -> Result<i64> {
    let mut tx = pool.begin().await?;
    // The legacy counter (stores from before positions packed transaction ids) and the
    // highest position stored: new positions must lie above both.
    let floor: i64 = sqlx::query_scalar(
        "SELECT GREATEST((SELECT value FROM counters WHERE name = 'change_seq'), \
         (SELECT COALESCE(MAX(change_seq), 0) FROM incidents))",
    )
    .fetch_one(&mut *tx)
    .await?;
    let stored: i64 =
        sqlx::query_scalar("SELECT value FROM counters WHERE name = 'change_base' FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    let next: i64 =
        sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
            .fetch_one(&mut *tx)
            .await?;
    let base = stored.max((floor >> TX_SHIFT) + 1 - next);
    if base != stored {
        sqlx::query("UPDATE counters SET value = $1 WHERE name = 'change_base'")
            .bind(base)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(base)
}

impl SqlStore {
    /// Takes the positions for this write transaction's changes. On SQLite it reads the
    /// counter (under the writer lock); on PostgreSQL it reads the transaction's id.
    pub(super) async fn stamps(&self, tx: &mut Transaction<'_, Any>) -> Result<Stamps> {
        let first: i64 = match self.backend {
            Backend::Sqlite => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT value + 1 FROM counters WHERE name = 'change_seq'",
                )
                .fetch_one(&mut **tx)
                .await?
            }
            Backend::Postgres => {
                let sql = format!("SELECT {}", tx_start("pg_current_xact_id()", self.base));
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&mut **tx)
                    .await?
            }
        };
        Ok(Stamps { first })
    }

    /// Commits a write transaction that used the first `used` of `stamps`, and tells
    /// the feed's watchers.
    pub(super) async fn commit_changes(
        &self,
        mut tx: Transaction<'static, Any>,
        stamps: Stamps,
        used: usize,
    ) -> Result<()> {
        if used == 0 {
            tx.commit().await?;
            return Ok(());
        }
        let last = stamps.nth(used - 1);
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("UPDATE counters SET value = $1 WHERE name = 'change_seq'")
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
            }
            Backend::Postgres if used > TX_CHANGES => {
                return Err(StoreError::Conflict(format!(
                    "one change touches {used} incidents; at most {TX_CHANGES} can change at once"
                )));
            }
            Backend::Postgres => {
                sqlx::query("SELECT pg_notify($1, $2)::text")
                    .bind(DOORBELL)
                    .bind(last.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        self.jitter().await;
        tx.commit().await?;
        match self.backend {
            Backend::Sqlite => announce(&self.changes, last),
            // Readable once every older transaction has finished: the horizon task
            // announces it then.
            Backend::Postgres => announce(&self.committed, last),
        }
        Ok(())
    }

    /// Commits a sync batch's write transaction on the MCM; a batch that wrote rows took
    /// the first of its `stamps`, and wakes the followers of the MCM's feed.
    pub(super) async fn commit_remote(
        &self,
        mut tx: Transaction<'static, Any>,
        stamps: Option<Stamps>,
    ) -> Result<()> {
        if let Some(stamps) = stamps
            && self.backend == Backend::Sqlite
        {
            sqlx::query("UPDATE counters SET value = $1 WHERE name = 'change_seq'")
                .bind(stamps.nth(0))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if stamps.is_some() {
            self.remote_feed.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Orders whitelist changes (`exclusive`) against ingest, which reads the whitelist:
    /// an ingest never commits incidents judged by a whitelist that changed meanwhile.
    /// SQLite's single writer does this already.
    pub(super) async fn lock_whitelist(
        &self,
        tx: &mut Transaction<'_, Any>,
        exclusive: bool,
    ) -> Result<()> {
        if self.backend == Backend::Postgres {
            let sql = if exclusive {
                "SELECT pg_advisory_xact_lock($1)::text"
            } else {
                "SELECT pg_advisory_xact_lock_shared($1)::text"
            };
            sqlx::query(sql)
                .bind(WHITELIST_LOCK)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// The feed's read statements, built once per store (they embed the base).
pub(super) struct FeedSql {
    /// Changes after a position (`$1`), in order, below the horizon, at most `$2`.
    pub changes: String,
    /// The highest position a reader can have read: on PostgreSQL, the highest below
    /// the horizon.
    pub last_position: String,
    /// The MCM's feed: its rows after `($1, $2)` in `(feed_seq, id)` order, below the
    /// horizon, at most `$3`.
    pub remote_changes: String,
    /// How many rows of the MCM's feed lie after `($1, $2)`.
    pub remote_behind: String,
}

impl FeedSql {
    pub(super) fn new(backend: Backend, base: i64) -> Self {
        let (below, last_position) = match backend {
            Backend::Sqlite => (
                String::new(),
                "SELECT value FROM counters WHERE name = 'change_seq'".to_owned(),
            ),
            Backend::Postgres => (
                format!(" AND change_seq < {}", horizon_sql(base)),
                format!(
                    "SELECT COALESCE(MAX(change_seq), 0) FROM incidents WHERE change_seq < {}",
                    horizon_sql(base)
                ),
            ),
        };
        let remote_below = match backend {
            Backend::Sqlite => String::new(),
            Backend::Postgres => format!(" AND feed_seq < {}", horizon_sql(base)),
        };
        FeedSql {
            remote_changes: format!(
                "SELECT {}, feed_seq FROM remote_incidents WHERE (feed_seq, id) > ($1, $2)\
                 {remote_below} ORDER BY feed_seq, id LIMIT $3",
                super::rows::REMOTE_COLUMNS
            ),
            remote_behind: "SELECT COUNT(*) FROM remote_incidents WHERE (feed_seq, id) > ($1, $2)"
                .to_owned(),
            changes: format!(
                "SELECT {} FROM incidents WHERE change_seq > $1{below} ORDER BY change_seq LIMIT $2",
                super::rows::INCIDENT_COLUMNS
            ),
            last_position,
        }
    }
}

/// Raises a watched position to `seq`, waking watchers when it moved.
fn announce(to: &watch::Sender<i64>, seq: i64) {
    to.send_if_modified(|last| {
        let newer = seq > *last;
        if newer {
            *last = seq;
        }
        newer
    });
}

/// The channel a PostgreSQL writer rings at commit (a doorbell only: the feed is the
/// table, read below the horizon).
const DOORBELL: &str = "aerie_changes";

/// PostgreSQL: tells the feed's watchers what became readable: after this process's
/// commits, when another process sharing the database rings the doorbell, and every
/// second in case a ring was missed (a notification is lost while its listener
/// reconnects). Ends when the store is dropped.
pub(super) fn spawn_horizon_watch(
    pool: AnyPool,
    url: String,
    base: i64,
    mut committed: watch::Receiver<i64>,
    changes: Arc<watch::Sender<i64>>,
) {
    let sql = format!(
        "SELECT {}, (SELECT COALESCE(MAX(change_seq), 0) FROM incidents WHERE change_seq < {})",
        horizon_sql(base),
        horizon_sql(base)
    );
    tokio::spawn(async move {
        let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut l) => match l.listen(DOORBELL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!("listening for other processes' changes failed: {e}");
                    None
                }
            },
            Err(e) => {
                tracing::warn!("listening for other processes' changes failed: {e}");
                None
            }
        };
        loop {
            let rung = async {
                match listener.as_mut() {
                    Some(l) => {
                        if l.recv().await.is_err() {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = committed.changed() => if done.is_err() { return },
                () = rung => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let target = *committed.borrow_and_update();
            let mut pause = Duration::from_millis(1);
            loop {
                if committed.has_changed().is_err() {
                    return; // the store is gone
                }
                match sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql.as_str()))
                    .fetch_one(&pool)
                    .await
                {
                    Ok((horizon, readable)) => {
                        announce(&changes, readable);
                        if horizon > target {
                            break;
                        }
                    }
                    Err(e) => tracing::debug!("reading the change horizon failed: {e}"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }
    });
}

/// Where follower `name` stands, if it ever moved, read by `executor`.
pub(super) async fn cursor_in<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<crate::FeedPosition>> {
    let row = sqlx::query("SELECT position, row_id FROM feed_cursors WHERE name = $1")
        .bind(name.to_owned())
        .fetch_optional(executor)
        .await?;
    row.map(|r| {
        Ok(crate::FeedPosition {
            seq: r.try_get(0)?,
            row: r.try_get(1)?,
        })
    })
    .transpose()
}

/// Moves follower `name` to `at`, in `executor`'s transaction.
pub(super) async fn set_cursor_in<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    name: &str,
    at: crate::FeedPosition,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO feed_cursors (name, position, row_id) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, row_id = excluded.row_id",
    )
    .bind(name.to_owned())
    .bind(at.seq)
    .bind(at.row)
    .execute(executor)
    .await?;
    Ok(())
}

/// The rows of the MCM's feed after `after`, read by `executor`.
pub(super) async fn remote_changes_in<'e>(
    store: &SqlStore,
    executor: impl sqlx::Executor<'e, Database = Any>,
    after: crate::FeedPosition,
    limit: u32,
) -> Result<Vec<(crate::FeedPosition, RemoteIncident)>> {
    sqlx::query(AssertSqlSafe(store.feed.remote_changes.as_str()))
        .bind(after.seq)
        .bind(after.row)
        .bind(i64::from(limit))
        .fetch_all(executor)
        .await?
        .iter()
        .map(|r| {
            let incident = super::rows::remote_incident(r)?;
            let at = crate::FeedPosition {
                seq: r.try_get("feed_seq")?,
                row: incident.row_id,
            };
            Ok((at, incident))
        })
        .collect()
}

#[async_trait]
impl crate::FeedStore for SqlStore {
    async fn remote_changes(
        &self,
        after: crate::FeedPosition,
        limit: u32,
    ) -> Result<Vec<(crate::FeedPosition, RemoteIncident)>> {
        remote_changes_in(self, &self.pool, after, limit).await
    }

    async fn remote_behind(&self, after: crate::FeedPosition) -> Result<i64> {
        Ok(
            sqlx::query_scalar(AssertSqlSafe(self.feed.remote_behind.as_str()))
                .bind(after.seq)
                .bind(after.row)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    fn watch_remote(&self) -> watch::Receiver<u64> {
        self.remote_feed.subscribe()
    }

    async fn cursor(&self, name: &str) -> Result<Option<crate::FeedPosition>> {
        cursor_in(&self.pool, name).await
    }

    async fn set_cursor(&self, name: &str, at: crate::FeedPosition) -> Result<()> {
        // Through the writer's queue: on SQLite a lone write would wait in the busy
        // handler's back-off while ingest keeps the database's lock (and starve).
        let (_writer, mut tx) = self.begin_write().await?;
        set_cursor_in(&mut *tx, name, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn drop_cursor(&self, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM feed_cursors WHERE name = $1")
            .bind(name.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
