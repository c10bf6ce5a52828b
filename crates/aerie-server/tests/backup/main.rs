//! Backup and restore end to end: real daemons write real backup files (through the CLI's
//! admin socket, as an operator would), the data dir is wiped, `restore` puts it back, a
//! daemon starts on it again and every API answer is as before — on SQLite and on a
//! fresh PostgreSQL database each. Refusals leave the data dir byte for byte as it was.
//! A restored MCM's CMs keep syncing with it (`mcm.rs`).

#[path = "../common/mod.rs"]
mod common;

mod mcm;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use aerie_client::{Client, Fingerprint, artifacts};
use aerie_server::{
    Config, ConfigLayer, Running,
    restore::{RestoreError, RestoreOptions, restore},
};
use common::{batch, event, eventually};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "admin-password-1";
const PASSPHRASE: &str = "backup passphrase 1";

/// A daemon whose data dir outlives it (unlike `common::TestServer`'s).
struct Daemon {
    running: Running,
    shutdown: CancellationToken,
    anon: Client,
    admin: Client,
    dir: PathBuf,
}

async fn start(dir: &Path, hostname: &str, listen: &str, url: Option<&str>) -> Daemon {
    let layer = ConfigLayer {
        listen: Some(listen.into()),
        hostname: Some(hostname.into()),
        database_url: url.map(Into::into),
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let running = aerie_server::start_with_admin(
        Config::resolve(dir, layer).unwrap(),
        shutdown.clone(),
        Some(PASSWORD.into()),
    )
    .await
    .unwrap();
    let anon = Client::new(
        &format!("https://{}", running.addr),
        Fingerprint::of(&running.cert_der),
    )
    .unwrap();
    let (admin, _) = anon.login("admin", PASSWORD).await.unwrap();
    Daemon {
        running,
        shutdown,
        anon,
        admin,
        dir: dir.to_owned(),
    }
}

impl Daemon {
    /// Stops the daemon and waits until its store is closed (SQLite: its WAL folded in).
    async fn stop(self) {
        let Daemon {
            running,
            shutdown,
            anon,
            admin,
            dir,
        } = self;
        // Our clients' open connections would keep the server's connection tasks (and
        // with them the store) alive past the shutdown.
        drop((anon, admin));
        let store = Arc::downgrade(&running.state.store);
        shutdown.cancel();
        running.wait().await.unwrap();
        assert!(
            eventually(20, || async { store.strong_count() == 0 }).await,
            "the stopped daemon's store is still referenced"
        );
        let wal = dir.join("aerie.db-wal");
        assert!(
            eventually(20, || async { !wal.exists() }).await,
            "the stopped daemon's SQLite connections are still open"
        );
    }
}

/// `aerie cli -c LINE…` against the daemon of `dir`.
async fn cli(dir: &Path, lines: &[&str]) -> (bool, String) {
    common::cli_in(dir, lines).await
}

/// `set system backup FILE passphrase P` on the daemon of `dir`; the file must appear.
async fn backup_by_cli(dir: &Path, file: &Path) {
    let line = format!(
        "set system backup {} passphrase \"{PASSPHRASE}\"",
        file.display()
    );
    let (ok, out) = cli(dir, &[&line]).await;
    assert!(ok, "{out}");
    assert!(out.contains("Backup written to"), "{out}");
    assert!(file.is_file());
}

fn options(dir: &Path, from: &Path, url: Option<&str>) -> RestoreOptions {
    RestoreOptions {
        data_dir: dir.to_owned(),
        from: from.to_owned(),
        passphrase: PASSPHRASE.to_owned(),
        force: false,
        database_url: url.map(Into::into),
    }
}

/// Incidents (one with an artifact and a status change), a user, a custom role; each
/// write leaves audit entries. Returns the artifact's path on the API.
async fn populate(d: &Daemon) -> String {
    let png = artifacts::screenshot(11);
    let shot = d
        .admin
        .upload_artifact(png, Some("screenshot"))
        .await
        .unwrap();
    let mut first = event("10.20.0.1", 100, 0.9);
    first.artifacts = vec![shot.sha256.clone()];
    let mut events = vec![first];
    events.extend((2..8).map(|i| event(&format!("10.20.0.{i}"), 100 + i, 0.6)));
    d.admin.post_events(&batch(events)).await.unwrap();
    let list = d.admin.incidents(&Default::default()).await.unwrap();
    let with_artifact = list
        .items
        .iter()
        .find(|i| i.endpoint_ip == "10.20.0.1")
        .unwrap()
        .incident_id;
    d.admin
        .change_status(with_artifact, "acknowledged", "before the backup")
        .await
        .unwrap();
    let _: Value = d
        .admin
        .post(
            "/api/v1/roles",
            &serde_json::json!({"name": "triager", "permissions": ["view", "triage"]}),
        )
        .await
        .unwrap();
    let _: Value = d
        .admin
        .post(
            "/api/v1/users",
            &serde_json::json!({"username": "pat", "password": "pat-password-1", "role": "triager"}),
        )
        .await
        .unwrap();
    format!(
        "/api/v1/incidents/{with_artifact}/artifacts/{}",
        shot.sha256
    )
}

/// What the API shows of everything a backup must bring back.
#[derive(Debug, PartialEq)]
struct Observed {
    incidents: Value,
    details: Vec<Value>,
    users: Value,
    roles: Value,
    audit: Vec<Value>,
    artifact: Vec<u8>,
}

async fn observe(c: &Client, artifact: &str) -> Observed {
    let incidents: Value = c.get("/api/v1/incidents?limit=500").await.unwrap();
    let mut details = Vec::new();
    for i in incidents["items"].as_array().unwrap() {
        let id = i["incident_id"].as_i64().unwrap();
        details.push(c.get(&format!("/api/v1/incidents/{id}")).await.unwrap());
    }
    let audit: Value = c.get("/api/v1/audit?limit=1000").await.unwrap();
    Observed {
        incidents,
        details,
        users: c.get("/api/v1/users").await.unwrap(),
        roles: c.get("/api/v1/roles").await.unwrap(),
        audit: audit["items"].as_array().unwrap().clone(),
        artifact: c.download(artifact).await.unwrap().1,
    }
}

async fn audit_intact(c: &Client) {
    let v: Value = c.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!(v["intact"], true, "{v}");
    assert!(v["entries"].as_i64().unwrap() > 3, "{v}");
}

/// Backup → wipe → restore → the same answers, the same certificate.
async fn round_trip(url: Option<&str>, wipe: impl AsyncFnOnce()) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let d = start(&dir, "cm-bk", "127.0.0.1:0", url).await;
    let artifact = populate(&d).await;
    let before = observe(&d.admin, &artifact).await;
    assert_eq!(before.details.len(), 7);
    let cert = d.running.cert_der.clone();
    let file = root.path().join("cm-bk.aerie-backup");
    backup_by_cli(&dir, &file).await;
    d.stop().await;

    std::fs::remove_dir_all(&dir).unwrap();
    wipe().await;
    let restored = restore(&options(&dir, &file, url)).await.unwrap();
    assert_eq!(restored.manifest.role, "cm");
    assert_eq!(restored.manifest.extra["hostname"], "cm-bk");
    assert!(restored.said().contains("Restored the CM backup of cm-bk"));
    assert!(
        std::fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".restore")),
        "the staging directory is gone"
    );

    let d = start(&dir, "cm-bk", "127.0.0.1:0", url).await;
    assert_eq!(d.running.cert_der, cert, "the TLS identity came back");
    let after = observe(&d.admin, &artifact).await;
    assert_eq!(after.incidents, before.incidents);
    assert_eq!(after.details, before.details);
    assert_eq!(after.users, before.users);
    assert_eq!(after.roles, before.roles);
    assert_eq!(after.artifact, before.artifact);
    // The backup's own entry was written after the copy: the restored log is the log as
    // it was, and it continues (the logins since) with its chain intact.
    assert_eq!(after.audit[..before.audit.len()], before.audit[..]);
    audit_intact(&d.admin).await;
    let (pat, _) = d.anon.login("pat", "pat-password-1").await.unwrap();
    assert!(pat.incidents(&Default::default()).await.is_ok());
    d.stop().await;
}

#[tokio::test]
async fn sqlite_round_trip_brings_everything_back() {
    round_trip(None, async || {}).await;
}

#[tokio::test]
async fn postgres_round_trip_brings_everything_back() {
    let Some(url) = aerie_store::testing::fresh_postgres_url().await else {
        return;
    };
    let pg = Pg::of(&url);
    round_trip(Some(&url), async || pg.recreate().await).await;
    pg.drop().await;
}

/// The test server's database of one test, by URL.
struct Pg {
    name: String,
}

impl Pg {
    fn of(url: &str) -> Pg {
        Pg {
            name: url.rsplit_once('/').unwrap().1.to_owned(),
        }
    }

    async fn admin() -> sqlx::PgConnection {
        use sqlx::Connection;
        let base = std::env::var("AERIE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        sqlx::PgConnection::connect(&base).await.unwrap()
    }

    /// Drops the database and creates it again, empty: the server lost its data.
    async fn recreate(&self) {
        use sqlx::Executor;
        let mut admin = Self::admin().await;
        let drop = format!("DROP DATABASE {} WITH (FORCE)", self.name);
        admin.execute(sqlx::AssertSqlSafe(drop)).await.unwrap();
        let create = format!("CREATE DATABASE {}", self.name);
        admin.execute(sqlx::AssertSqlSafe(create)).await.unwrap();
    }

    async fn drop(&self) {
        use sqlx::Executor;
        let mut admin = Self::admin().await;
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        admin.execute(sqlx::AssertSqlSafe(drop)).await.unwrap();
    }
}

/// A hash of every file under `dir` (name and content), to prove nothing changed.
fn tree_hash(dir: &Path) -> String {
    fn walk(dir: &Path, base: &Path, h: &mut Sha256) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            h.update(name.as_bytes());
            if path.is_dir() {
                walk(&path, base, h);
            } else {
                h.update(std::fs::read(&path).unwrap());
            }
        }
    }
    let mut h = Sha256::new();
    walk(dir, dir, &mut h);
    format!("{:x}", h.finalize())
}

fn sha256_of(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

#[tokio::test]
async fn refused_restores_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let d = start(&dir, "cm-keep", "127.0.0.1:0", None).await;
    d.admin
        .post_events(&batch(vec![event("10.21.0.1", 100, 0.9)]))
        .await
        .unwrap();
    let file = root.path().join("keep.aerie-backup");
    backup_by_cli(&dir, &file).await;

    // While the daemon runs, nothing is restored.
    let err = restore(&options(&dir, &file, None)).await.unwrap_err();
    assert!(matches!(err, RestoreError::Running(_)), "{err}");
    assert!(err.to_string().contains("stop it first"), "{err}");

    // Changes after the backup, which a refused restore must keep.
    d.admin
        .post_events(&batch(vec![event("10.21.0.2", 100, 0.9)]))
        .await
        .unwrap();
    d.stop().await;
    let db = dir.join("aerie.db");
    let (db_hash, all_hash) = (sha256_of(&db), tree_hash(&dir));

    let mut wrong = options(&dir, &file, None);
    wrong.passphrase = "not the passphrase".into();
    let err = restore(&wrong).await.unwrap_err();
    assert!(err.to_string().starts_with("wrong passphrase: "), "{err}");
    assert_eq!(sha256_of(&db), db_hash);
    assert_eq!(tree_hash(&dir), all_hash);

    let bytes = std::fs::read(&file).unwrap();
    let truncated = root.path().join("truncated.aerie-backup");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = restore(&options(&dir, &truncated, None)).await.unwrap_err();
    assert!(
        err.to_string().starts_with("the backup is truncated"),
        "{err}"
    );
    assert_eq!(sha256_of(&db), db_hash);
    assert_eq!(tree_hash(&dir), all_hash, "nothing left behind either");

    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x40;
    let damaged = root.path().join("damaged.aerie-backup");
    std::fs::write(&damaged, &flipped).unwrap();
    let err = restore(&options(&dir, &damaged, None)).await.unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
    assert_eq!(tree_hash(&dir), all_hash);

    // A backup of a newer schema: refused, saying the versions, unless forced.
    let newer = root.path().join("newer.aerie-backup");
    repack(&file, &newer, |meta| meta.schema = 9999);
    let err = restore(&options(&dir, &newer, None)).await.unwrap_err();
    let ours = aerie_store::latest_schema(aerie_store::Backend::Sqlite);
    assert!(
        err.to_string().contains(&format!(
            "schema version 9999, newer than this Aerie's ({ours})"
        )),
        "{err}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(tree_hash(&dir), all_hash);

    // A backup of the other role: refused unless forced.
    let mcm = root.path().join("mcm.aerie-backup");
    repack(&file, &mcm, |meta| meta.role = "mcm".into());
    let err = restore(&options(&dir, &mcm, None)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("this data dir is a CM and the backup is of an MCM"),
        "{err}"
    );
    assert_eq!(tree_hash(&dir), all_hash);

    // Forced, the newer-schema one restores: the data is the backup's again.
    let mut forced = options(&dir, &newer, None);
    forced.force = true;
    restore(&forced).await.unwrap();
    assert_ne!(sha256_of(&db), db_hash);
    let d = start(&dir, "cm-keep", "127.0.0.1:0", None).await;
    let list = d.admin.incidents(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 1, "the incident after the backup is gone");
    d.stop().await;
}

/// Re-seals a backup's members under a changed manifest (as a newer Aerie, or another
/// appliance, would have written it).
fn repack(from: &Path, to: &Path, change: impl FnOnce(&mut aerie_backup::ManifestMeta)) {
    let staged = tempfile::tempdir().unwrap();
    let manifest = aerie_backup::extract(from, PASSPHRASE, staged.path()).unwrap();
    let mut meta = aerie_backup::ManifestMeta {
        version: manifest.version.clone(),
        role: manifest.role.clone(),
        created: manifest.created,
        schema: manifest.schema,
        extra: manifest.extra.clone(),
    };
    change(&mut meta);
    let options = aerie_backup::Options {
        iterations: 1_000,
        ..Default::default()
    };
    let out = std::fs::File::create(to).unwrap();
    let mut w = aerie_backup::Writer::with_options(out, PASSPHRASE, meta, options).unwrap();
    for m in &manifest.members {
        w.add_file(&m.name, &staged.path().join(&m.name)).unwrap();
    }
    w.finish().unwrap();
}

#[tokio::test]
async fn the_cli_writes_a_backup_the_crate_verifies_and_refuses_relative_paths() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let d = start(&dir, "cm-cli", "127.0.0.1:0", None).await;
    let file = root.path().join("cli.aerie-backup");
    backup_by_cli(&dir, &file).await;
    let manifest = aerie_backup::manifest(&file, PASSPHRASE).unwrap();
    let names: Vec<&str> = manifest.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["store/aerie.db", "tls/cert.pem", "tls/key.pem"]);
    assert_eq!(manifest.role, "cm");
    assert_eq!(
        manifest.schema,
        aerie_store::latest_schema(aerie_store::Backend::Sqlite)
    );
    assert_eq!(manifest.extra["backend"], "sqlite");
    assert_eq!(manifest.extra["hostname"], "cm-cli");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Audited, without the passphrase.
    let audit: Value = d.admin.get("/api/v1/audit?limit=1000").await.unwrap();
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "system.backup")
        .expect("an audit entry");
    assert_eq!(entry["actor"], "cli");
    assert!(!entry.to_string().contains(PASSPHRASE));

    // An existing file is never overwritten.
    let line = format!(
        "set system backup {} passphrase \"{PASSPHRASE}\"",
        file.display()
    );
    let (ok, out) = cli(&dir, &[&line]).await;
    assert!(
        !ok && out.contains("exists: choose another file name"),
        "{out}"
    );

    // A relative path is refused by the CLI, and by the daemon too.
    let (ok, out) = cli(
        &dir,
        &[&format!(
            "set system backup x.aerie-backup passphrase \"{PASSPHRASE}\""
        )],
    )
    .await;
    assert!(!ok && out.contains("is a relative path"), "{out}");
    let reply = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            aerie_cli::channel::Channel::connect(&dir)
                .unwrap()
                .call(&aerie_proto::admin::AdminRequest::Backup {
                    file: "x.aerie-backup".into(),
                    passphrase: PASSPHRASE.into(),
                })
                .unwrap()
        }
    })
    .await
    .unwrap();
    match reply {
        aerie_proto::admin::AdminReply::Error { error } => {
            assert!(error.contains("is a relative path"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!dir.join("x.aerie-backup").exists());
    d.stop().await;
}

#[tokio::test]
async fn scheduled_backups_run_when_due_and_keep_the_newest() {
    use aerie_server::ops::backup;
    use aerie_server::rights::{Administer, Caller, Can, Credential, Operator};
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let d = start(&dir, "cm-sched", "127.0.0.1:0", None).await;
    let state = &d.running.state;
    let user = state
        .store
        .user_credentials(&aerie_domain::user::Username::parse("admin").unwrap())
        .await
        .unwrap()
        .unwrap()
        .0;
    let can = Can::<Administer>::check(Caller {
        user,
        credential: Credential::SessionCookie,
        session: None,
    })
    .unwrap();
    let form = |enabled: bool, passphrase: &str| backup::ScheduleForm {
        enabled,
        every_hours: "24".into(),
        keep: "2".into(),
        directory: String::new(),
        passphrase: passphrase.into(),
        confirm: passphrase.into(),
    };
    let err = backup::set_schedule(state, Operator::Admin(&can), form(true, ""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("need a passphrase"), "{err}");
    let said = backup::set_schedule(state, Operator::Admin(&can), form(true, PASSPHRASE))
        .await
        .unwrap();
    assert!(said.contains("every 24 h, the newest 2 kept"), "{said}");
    let stored = dir.join(backup::PASSPHRASE_FILE);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A manual backup in the same directory, which retention never deletes.
    let passphrase = aerie_domain::passphrase::Passphrase::parse("p", PASSPHRASE).unwrap();
    let manual = backup::create_in_directory(state, Operator::Admin(&can), &passphrase)
        .await
        .unwrap();

    let since = backup::schedule(state).await.unwrap().since;
    let hours = |h| since + chrono::TimeDelta::hours(h);
    assert!(backup::run_due(state, hours(23)).await.unwrap().is_none());
    let mut written = Vec::new();
    for h in [25, 49, 73] {
        let done = backup::run_due(state, hours(h))
            .await
            .unwrap()
            .expect("due");
        aerie_backup::manifest(&done.path, PASSPHRASE).unwrap();
        written.push(
            done.path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
        assert!(
            backup::run_due(state, hours(h)).await.unwrap().is_none(),
            "not due again within the period"
        );
    }
    let mut listed: Vec<String> = backup::list(state)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    listed.sort();
    let mut expected = vec![
        manual
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
        written[1].clone(),
        written[2].clone(),
    ];
    expected.sort();
    assert_eq!(listed, expected, "the oldest scheduled backup went");
    assert!(
        written
            .iter()
            .all(|n| n.ends_with("-scheduled.aerie-backup"))
    );
    assert!(
        dir.join("backups").join(&written[2]).is_file(),
        "in DATA/backups"
    );

    // Off: nothing is due however late it is.
    backup::set_schedule(state, Operator::Admin(&can), form(false, ""))
        .await
        .unwrap();
    assert!(backup::run_due(state, hours(1000)).await.unwrap().is_none());
    d.stop().await;
}
