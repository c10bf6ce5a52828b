//! Login latency by method, in one run: a local user (Argon2id password check) and a
//! RADIUS user (a PAP exchange with a real FreeRADIUS on loopback), each logging in
//! `AERIE_BENCH_LOGINS` times (default 50) through the HTTPS API; median and p90.
//!
//! Run: `cargo bench -p aerie-server --bench login` (needs Debian's freeradius).

use std::time::{Duration, Instant};

use aerie_client::{Client, Fingerprint};
use aerie_identity::testing::{FreeRadius, SECRET};
use aerie_server::{Config, ConfigLayer};
use tokio_util::sync::CancellationToken;

async fn timed(runs: usize, client: &Client, user: &str, password: &str) -> (f64, f64) {
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        client
            .login(user, password)
            .await
            .expect("the login succeeds");
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[runs / 2], ms[runs * 9 / 10])
}

fn main() {
    let runs: usize = std::env::var("AERIE_BENCH_LOGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let radius = FreeRadius::start().expect("FreeRADIUS (apt-get install freeradius)");
        let dir = tempfile::tempdir().unwrap();
        let layer = ConfigLayer {
            listen: Some("127.0.0.1:0".into()),
            hostname: Some("bench".into()),
            ..Default::default()
        };
        let shutdown = CancellationToken::new();
        let running = aerie_server::start(
            Config::resolve(dir.path(), layer).unwrap(),
            shutdown.clone(),
        )
        .await
        .unwrap();
        let settings = serde_json::json!({
            "enabled": true,
            "servers": [{"address": radius.addr.to_string(), "secret": SECRET}],
            "timeout_ms": 3000, "retries": 1, "role_attribute": "class",
            "role_map": [["aerie-admin", "admin"]],
            "require_message_authenticator": false, "fips_confirmed": false
        });
        running
            .state
            .store
            .set_setting("radius.settings", &settings.to_string())
            .await
            .unwrap();
        let client = Client::new(
            &format!("https://{}", running.addr),
            Fingerprint::of(&running.cert_der),
        )
        .unwrap();
        let password = std::fs::read_to_string(dir.path().join("initial-admin-password")).unwrap();
        // Warm both paths (the RADIUS user is created on the first login).
        client.login("admin", password.trim()).await.unwrap();
        client.login("alice", "alicepass").await.unwrap();
        let local = timed(runs, &client, "admin", password.trim()).await;
        let radius_ms = timed(runs, &client, "alice", "alicepass").await;
        println!("login through HTTPS, {runs} runs each, ms (median / p90):");
        println!(
            "  local (Argon2id):         {:7.2} / {:7.2}",
            local.0, local.1
        );
        println!(
            "  RADIUS (FreeRADIUS, PAP): {:7.2} / {:7.2}",
            radius_ms.0, radius_ms.1
        );
        println!("  ratio RADIUS / local:     {:7.2}", radius_ms.0 / local.0);
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
}
