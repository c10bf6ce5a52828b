//! Test support: fresh stores on both backends.
//!
//! PostgreSQL tests use the server at `AERIE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), each in a database of its own. Outside CI
//! an unreachable server skips them with a printed reason; with `CI=true` it fails them.

use std::sync::Arc;

use sqlx::{Connection, Executor, postgres::PgConnection};

use crate::{SqlStore, Store};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store on a fresh SQLite file in `dir`.
pub async fn sqlite(dir: &std::path::Path) -> Arc<dyn Store> {
    Arc::new(
        SqlStore::open(&SqlStore::sqlite_url(dir))
            .await
            .expect("open SQLite store"),
    )
}

/// The URL of a fresh, empty PostgreSQL database, or `None` (with the reason printed)
/// when the server is unreachable outside CI.
pub async fn fresh_postgres_url() -> Option<String> {
    let base = std::env::var("AERIE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let mut admin = match PgConnection::connect(&base).await {
        Ok(conn) => conn,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL at {base} is required in CI and unreachable: {e}")
        }
        Err(e) => {
            eprintln!("skipping PostgreSQL test: {base} unreachable ({e}); set CI=true to fail");
            return None;
        }
    };
    drop_leftovers(&mut admin).await;
    let name = format!("aerie_test_{}_{}", std::process::id(), unique());
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
    Some(format!("{prefix}/{name}"))
}

/// A store on a fresh PostgreSQL database, or `None` as [`fresh_postgres_url`].
pub async fn postgres() -> Option<Arc<dyn Store>> {
    let url = fresh_postgres_url().await?;
    Some(Arc::new(
        SqlStore::open(&url).await.expect("open PostgreSQL store"),
    ))
}

/// Drops the test databases of test processes that have exited.
async fn drop_leftovers(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'aerie_test_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name
            .trim_start_matches("aerie_test_")
            .split('_')
            .next()
            .unwrap_or("");
        let alive = !pid.is_empty() && std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = admin.execute(sqlx::AssertSqlSafe(sql)).await;
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    nanos * 1000 + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Replaces the database of URL `to` by a copy of the database of URL `from` (both on
/// the test server), as a restore from a backup would. Ends every session on both.
pub async fn copy_postgres(from: &str, to: &str) {
    let name = |url: &str| {
        url.rsplit_once('/')
            .expect("database URL has a path")
            .1
            .to_owned()
    };
    let (from_db, to_db) = (name(from), name(to));
    let base = std::env::var("AERIE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let mut admin = PgConnection::connect(&base)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {to_db} WITH (FORCE)"
        )))
        .await
        .expect("drop the copy's target");
    for _ in 0..100 {
        let _ = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&from_db)
        .execute(&mut admin)
        .await;
        let copied = admin
            .execute(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {to_db} TEMPLATE {from_db}"
            )))
            .await;
        match copied {
            Ok(_) => return,
            // "source database is being accessed by other users": a session still ends.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    panic!("could not copy database {from_db} to {to_db}");
}
