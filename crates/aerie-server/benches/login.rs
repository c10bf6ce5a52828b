//! Login latency by method, in one run: a local user (Argon2id password check), a
//! RADIUS user (a PAP exchange with a real FreeRADIUS on loopback), each logging in
//! `AERIE_BENCH_LOGINS` times (default 50) through the HTTPS API, and a SAML user
//! signing in as a browser does (redirect to a real SimpleSAMLphp, its login form, the
//! POST to the ACS): the whole round trip, and this appliance's part of it (the
//! redirect and the ACS). Median and p90.
//!
//! Run: `cargo bench -p aerie-server --bench login` (needs Debian's freeradius and
//! simplesamlphp).

use std::time::{Duration, Instant};

use aerie_client::{Client, Fingerprint};
use aerie_identity::testing::{FreeRadius, SECRET, ScriptedBrowser, SimpleSamlPhp};
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
    median_p90(ms)
}

fn median_p90(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() * 9 / 10])
}

/// SAML sign-ins as a browser makes them: (round trip, this appliance's part), ms.
async fn saml_timed(runs: usize, base: &str, idp: &SimpleSamlPhp) -> ((f64, f64), (f64, f64)) {
    let (mut whole, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut b = ScriptedBrowser::new();
        let started = Instant::now();
        let resp = b.get_once(&format!("{base}/saml/login")).await;
        let to = resp.headers()["location"].to_str().unwrap().to_owned();
        let redirect = started.elapsed();
        let (response, relay) = idp.log_in(to, "alice", "alicepass").await;
        let at_acs = Instant::now();
        let mut form = vec![("SAMLResponse", response.as_str())];
        if let Some(r) = &relay {
            form.push(("RelayState", r));
        }
        let (status, _, _) = b.post_from(&format!("{base}/saml/acs"), None, &form).await;
        assert!(status.is_success(), "the ACS signs alice in: {status}");
        let acs = at_acs.elapsed();
        whole.push(started.elapsed().as_secs_f64() * 1000.0);
        ours.push((redirect + acs).as_secs_f64() * 1000.0);
    }
    (median_p90(whole), median_p90(ours))
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
        let base = format!("https://{}", running.addr);
        let idp = SimpleSamlPhp::start(
            &format!("{base}/saml/metadata"),
            &format!("{base}/saml/acs"),
        )
        .expect("SimpleSAMLphp (apt-get install simplesamlphp)");
        let saml = serde_json::json!({
            "enabled": true, "idp_metadata": idp.metadata().await, "sp_entity_id": "",
            "username_attribute": "", "groups_attribute": "groups",
            "group_map": [["soc-analysts", "analyst"]], "allow_idp_initiated": false,
            "clock_skew_secs": 60
        });
        running
            .state
            .store
            .set_setting("saml.settings", &saml.to_string())
            .await
            .unwrap();
        saml_timed(1, &base, &idp).await;
        let local = timed(runs, &client, "admin", password.trim()).await;
        let radius_ms = timed(runs, &client, "alice", "alicepass").await;
        let (saml_whole, saml_ours) = saml_timed(runs, &base, &idp).await;
        println!("login through HTTPS, {runs} runs each, ms (median / p90):");
        println!(
            "  local (Argon2id):             {:7.2} / {:7.2}",
            local.0, local.1
        );
        println!(
            "  RADIUS (FreeRADIUS, PAP):     {:7.2} / {:7.2}",
            radius_ms.0, radius_ms.1
        );
        println!(
            "  SAML, round trip (IdP incl.): {:7.2} / {:7.2}",
            saml_whole.0, saml_whole.1
        );
        println!(
            "  SAML, this appliance's part:  {:7.2} / {:7.2}",
            saml_ours.0, saml_ours.1
        );
        println!(
            "  ratio RADIUS / local:         {:7.2}",
            radius_ms.0 / local.0
        );
        println!(
            "  ratio SAML (ours) / local:    {:7.2}",
            saml_ours.0 / local.0
        );
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
}
