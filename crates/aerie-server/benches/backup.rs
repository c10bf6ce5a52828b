//! Backup and restore benchmark. For a store of `AERIE_BENCH_INCIDENTS` incidents
//! (default 1,000,000), on SQLite and (when `AERIE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, answers) on PostgreSQL, prints the seconds
//! of, each next to the baseline measured in the same run:
//!
//! - the baseline: a plain copy of the store — `std::fs::copy` of the SQLite file, or
//!   `pg_dump -Fc` alone;
//! - `ops::backup::create` on the running daemon (copy, compress, encrypt, sync);
//! - `restore::restore` into the stopped daemon's data dir (decrypt, check, swap, open).
//!
//! SQLite is filled through `Store::ingest` (an event per incident), PostgreSQL in SQL
//! (`generate_series`, incidents only), as `benches/incidents.rs` does.
//!
//! Run: `cargo bench -p aerie-server --bench backup` (`AERIE_BENCH_INCIDENTS=10000` for
//! a quick run; `AERIE_BENCH_BACKENDS=sqlite` or `postgres` for one).

/// The allocator the `aerie` binary ships with, so figures match production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use aerie_domain::{passphrase::Passphrase, user::Username};
use aerie_server::{
    Config, ConfigLayer, Running,
    ops::backup,
    restore::{RestoreOptions, restore},
    rights::{Administer, Caller, Can, Credential, Operator},
};
use aerie_store::{Backend, SqlStore};
use tokio_util::sync::CancellationToken;

mod seed;
use seed::{drop_database, seed_postgres, seed_sqlite};

const PASSPHRASE: &str = "bench backup passphrase";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn start(dir: &Path, url: &str) -> (Running, CancellationToken) {
    let layer = ConfigLayer {
        listen: Some("127.0.0.1:0".into()),
        hostname: Some("bench".into()),
        database_url: Some(url.into()),
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let running = aerie_server::start_with_admin(
        Config::resolve(dir, layer).unwrap(),
        shutdown.clone(),
        Some("bench-admin-pw".into()),
    )
    .await
    .unwrap();
    (running, shutdown)
}

async fn admin(running: &Running) -> Can<Administer> {
    let name = Username::parse("admin").unwrap();
    let (user, _) = running
        .state
        .store
        .user_credentials(&name)
        .await
        .unwrap()
        .unwrap();
    Can::check(Caller {
        user,
        credential: Credential::SessionCookie,
        session: None,
    })
    .unwrap()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn measure(backend: Backend, url: Option<String>, n: usize) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    // SQLite's store is the data dir's own file.
    let url = url.unwrap_or_else(|| SqlStore::sqlite_url(&dir));
    let seeding = Instant::now();
    match backend {
        Backend::Sqlite => seed_sqlite(&url, seed::start_time(), n).await,
        Backend::Postgres => seed_postgres(&url, seed::start_time(), 0..n).await,
    }
    let seeded = seeding.elapsed();
    let (running, shutdown) = start(&dir, &url).await;
    let can = admin(&running).await;

    // The baseline: a plain copy of the store.
    let plain = root.path().join("plain");
    let started = Instant::now();
    let store_bytes = match backend {
        Backend::Sqlite => {
            checkpoint(&url).await;
            std::fs::copy(dir.join("aerie.db"), &plain).unwrap()
        }
        Backend::Postgres => {
            let status = std::process::Command::new("pg_dump")
                .args(["-Fc", "--no-owner", "-f"])
                .arg(&plain)
                .arg("--dbname")
                .arg(&url)
                .status()
                .unwrap();
            assert!(status.success());
            std::fs::metadata(&plain).unwrap().len()
        }
    };
    let baseline = started.elapsed();
    // A second reference: the same copy made durable, as a backup is.
    let durable = match backend {
        Backend::Sqlite => {
            let started = Instant::now();
            let copy = root.path().join("plain-synced");
            std::fs::copy(dir.join("aerie.db"), &copy).unwrap();
            std::fs::File::open(&copy).unwrap().sync_all().unwrap();
            let elapsed = started.elapsed();
            std::fs::remove_file(copy).unwrap();
            Some(elapsed)
        }
        Backend::Postgres => None,
    };

    let file = root.path().join("bench.aerie-backup");
    let passphrase = Passphrase::parse("p", PASSPHRASE).unwrap();
    let done = backup::create(&running.state, Operator::Admin(&can), &passphrase, &file)
        .await
        .unwrap();
    let created = done.elapsed;

    let store = Arc::downgrade(&running.state.store);
    shutdown.cancel();
    running.wait().await.unwrap();
    while store.strong_count() > 0 || dir.join("aerie.db-wal").exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let opts = RestoreOptions {
        data_dir: dir.clone(),
        from: file.clone(),
        passphrase: PASSPHRASE.into(),
        force: false,
        database_url: Some(url.clone()),
    };
    let started = Instant::now();
    restore(&opts).await.unwrap();
    let restored = started.elapsed();

    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let what = match backend {
        Backend::Sqlite => "std::fs::copy of aerie.db",
        Backend::Postgres => "pg_dump -Fc alone       ",
    };
    println!(
        "backup: {n} incidents, {name} (seeded in {:.1} s); store copy {:.1} MiB, backup {:.1} MiB",
        secs(seeded),
        mib(store_bytes),
        mib(done.size)
    );
    println!("  baseline, {what}: {:8.2} s", secs(baseline));
    if let Some(durable) = durable {
        println!(
            "  the same copy and fsync:             {:8.2} s   ratio {:6.2}",
            secs(durable),
            secs(durable) / secs(baseline)
        );
    }
    println!(
        "  ops::backup::create:                 {:8.2} s   ratio {:6.2}{}",
        secs(created),
        secs(created) / secs(baseline),
        durable.map_or(String::new(), |d| format!(
            "   ({:.2} against copy and fsync)",
            secs(created) / secs(d)
        ))
    );
    println!(
        "    of which the store's copy:         {:8.2} s   ratio {:6.2}",
        secs(done.store_copy),
        secs(done.store_copy) / secs(baseline)
    );
    println!(
        "  restore (offline):                   {:8.2} s   ratio {:6.2}{}",
        secs(restored),
        secs(restored) / secs(baseline),
        durable.map_or(String::new(), |d| format!(
            "   ({:.2} against copy and fsync)",
            secs(restored) / secs(d)
        ))
    );
}

/// Folds the WAL into the database file, so that a copy of the file is the whole store.
async fn checkpoint(url: &str) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .unwrap();
    conn.close().await.unwrap();
}

fn main() {
    let n = env_usize("AERIE_BENCH_INCIDENTS", 1_000_000);
    let backends =
        std::env::var("AERIE_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        if backends.contains("sqlite") {
            measure(Backend::Sqlite, None, n).await;
        }
        if backends.contains("postgres")
            && let Some(url) = aerie_store::testing::fresh_postgres_url().await
        {
            measure(Backend::Postgres, Some(url.clone()), n).await;
            drop_database(&url).await;
        }
    });
}
