//! `GET /metrics` as Prometheus reads it: a real Prometheus (Debian's, started here on
//! loopback) scrapes a daemon over HTTPS with an admin's API key, and its query API
//! returns the ingest counter; the exposition itself carries the incident census and the
//! HTTP series; other callers are refused. Prometheus missing skips the scrape outside
//! CI and fails it under `CI=true`.

#[path = "../common/mod.rs"]
mod common;

use std::process::Stdio;

use common::{TestServer, batch, event, eventually, start};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

async fn key_of(s: &TestServer, role: &str) -> String {
    let key: Value = if role == "admin" {
        s.admin
            .post("/api/v1/api-keys", &json!({"name": "prometheus"}))
            .await
            .unwrap()
    } else {
        let user: Value = s
            .admin
            .post(
                "/api/v1/users",
                &json!({"username": format!("{role}-1"), "password": "metrics-pass-123", "role": role}),
            )
            .await
            .unwrap();
        s.admin
            .post(
                &format!("/api/v1/users/{}/api-keys", user["id"]),
                &json!({"name": "m"}),
            )
            .await
            .unwrap()
    };
    key["key"].as_str().unwrap().to_owned()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

/// The exposition as an admin's API key reads it.
async fn scrape(s: &TestServer, key: &str) -> String {
    http()
        .get(s.url("/metrics"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample `name{labels…}` (labels as written) in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn the_exposition_counts_ingest_requests_and_the_census() {
    let s = start().await;
    let admin_key = key_of(&s, "admin").await;
    let viewer_key = key_of(&s, "viewer").await;
    let events: Vec<_> = (0..5)
        .map(|i| event(&format!("10.4.0.{}", i + 1), 60 * i, 0.9))
        .collect();
    s.admin.post_events(&batch(events)).await.unwrap();
    s.admin
        .post_events(&batch(vec![event("10.4.1.1", 1, 0.3)]))
        .await
        .unwrap();
    // A failed login counts.
    assert!(s.anon.login("admin", "not-the-password").await.is_err());

    let get = |key: Option<&str>| {
        let mut req = http().get(s.url("/metrics"));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    assert_eq!(get(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(Some(&viewer_key)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let resp = get(Some(&admin_key)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    assert_eq!(
        sample(&text, "aerie_ingest_events_total"),
        Some(6.0),
        "{text}"
    );
    assert_eq!(sample(&text, "aerie_ingest_batches_total"), Some(2.0));
    assert_eq!(sample(&text, "aerie_incidents_opened_total"), Some(6.0));
    assert_eq!(
        sample(&text, "aerie_ingest_duration_seconds_count"),
        Some(2.0)
    );
    assert_eq!(sample(&text, "aerie_login_failures_total"), Some(1.0));
    assert_eq!(
        sample(&text, "aerie_incidents{risk=\"critical\",status=\"new\"}"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "aerie_incidents{risk=\"medium\",status=\"new\"}"),
        Some(1.0)
    );
    assert!(
        text.contains(
            "aerie_http_requests_total{method=\"POST\",route=\"/api/v1/events\",status=\"200\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains("aerie_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/events\",le=\"0.0005\"}"));
    assert!(text.contains("aerie_info{version=\""));
    assert!(sample(&text, "aerie_process_resident_memory_bytes").unwrap() > 1e6);
    // Unrouted paths add no series.
    let _ = http().get(s.url("/no/such/path/x1")).send().await.unwrap();
    let text = get(Some(&admin_key)).await.unwrap().text().await.unwrap();
    assert!(!text.contains("/no/such/path"), "{text}");
}

#[tokio::test]
async fn a_scrape_token_and_listed_addresses_read_without_an_account() {
    let dir = tempfile::tempdir().unwrap();
    let token = "scrape-token-0123456789abcdef0123456789";
    let token_file = dir.path().join("metrics.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    // A short token is refused at start, saying why.
    let short = dir.path().join("short.token");
    std::fs::write(&short, "abc").unwrap();
    let refused = aerie_server::Config::resolve(
        dir.path(),
        aerie_server::ConfigLayer {
            metrics_token_file: Some(short),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(refused.to_string().contains("use at least 32"), "{refused}");
    let bad_net = aerie_server::Config::resolve(
        dir.path(),
        aerie_server::ConfigLayer {
            metrics_allow: Some(vec!["10.0.0.0/99".into()]),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        bad_net.to_string().contains("is not an address or network"),
        "{bad_net}"
    );

    let s = common::start_with(aerie_server::ConfigLayer {
        metrics_token_file: Some(token_file),
        metrics_allow: Some(vec!["127.0.0.9".into(), "127.0.1.0/24".into()]),
        ..Default::default()
    })
    .await;
    let from = |local: &str| {
        reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .local_address(local.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let status = |client: reqwest::Client, bearer: Option<&'static str>| {
        let url = s.url("/metrics");
        async move {
            let mut req = client.get(url);
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            req.send().await.unwrap().status()
        }
    };
    assert_eq!(
        status(from("127.0.0.1"), None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(
            from("127.0.0.1"),
            Some("scrape-token-wrong-0123456789abcdef012345")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status(from("127.0.0.1"), Some(token)).await, StatusCode::OK);
    assert_eq!(status(from("127.0.0.9"), None).await, StatusCode::OK);
    assert_eq!(status(from("127.0.1.77"), None).await, StatusCode::OK);
    assert_eq!(
        status(from("127.0.0.10"), None).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_syslog_feed_has_its_queue_lag_and_counters() {
    let Some(r) = aerie_siem::testing::Rsyslog::start() else {
        return;
    };
    let s = start().await;
    let admin_key = key_of(&s, "admin").await;
    let address = format!("127.0.0.1:{}", r.tcp_port);
    let (ok, out) = common::cli(&s, &[&format!("set syslog server {address} protocol tcp")]).await;
    assert!(ok, "{out}");
    let events: Vec<_> = (0..4)
        .map(|i| event(&format!("10.5.0.{}", i + 1), 60 * i, 0.9))
        .collect();
    s.admin.post_events(&batch(events)).await.unwrap();
    let l = format!("{{destination=\"{address}\"}}");
    let scrape = || scrape(&s, &admin_key);
    let caught_up = eventually(20, || async {
        let text = scrape().await;
        sample(&text, &format!("aerie_syslog_connected{l}")) == Some(1.0)
            && sample(&text, &format!("aerie_syslog_queue_depth{l}")) == Some(0.0)
            && sample(&text, &format!("aerie_syslog_sent_total{l}")).is_some_and(|n| n >= 4.0)
    })
    .await;
    let text = scrape().await;
    assert!(caught_up, "{text}");
    assert_eq!(
        sample(&text, &format!("aerie_syslog_lag_seconds{l}")),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &format!("aerie_syslog_errors_total{l}")),
        Some(0.0)
    );
    assert!(text.contains("# TYPE aerie_syslog_sent_total counter"));

    // The receiver down: the queue grows and the errors count.
    drop(r);
    s.admin
        .post_events(&batch(vec![event("10.5.1.1", 1, 0.9)]))
        .await
        .unwrap();
    let behind = eventually(20, || async {
        let text = scrape().await;
        sample(&text, &format!("aerie_syslog_queue_depth{l}")).is_some_and(|n| n >= 1.0)
            && sample(&text, &format!("aerie_syslog_errors_total{l}")).is_some_and(|n| n >= 1.0)
            && sample(&text, &format!("aerie_syslog_connected{l}")) == Some(0.0)
    })
    .await;
    assert!(behind, "{}", scrape().await);
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_ingest_counter() {
    if std::process::Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "Debian's prometheus is not installed (.ci/run installs it)"
        );
        eprintln!(
            "skipped: prometheus is not installed (apt-get install --no-install-recommends prometheus)"
        );
        return;
    }
    let s = start().await;
    let key = key_of(&s, "admin").await;
    let events: Vec<_> = (0..7)
        .map(|i| event(&format!("10.5.0.{}", i + 1), 60 * i, 0.7))
        .collect();
    s.admin.post_events(&batch(events)).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s}}\n\
             scrape_configs:\n\
             - job_name: aerie\n  \
             scheme: https\n  \
             tls_config: {{insecure_skip_verify: true}}\n  \
             authorization: {{credentials: {key}}}\n  \
             static_configs: [{{targets: ['{}']}}]\n",
            s.running.addr
        ),
    )
    .unwrap();
    // Prometheus runs as whoever starts it; its data dir is ours.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prometheus = std::process::Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .unwrap();
    let _prometheus = KillOnDrop(prometheus);
    let query = format!("http://127.0.0.1:{port}/api/v1/query?query=aerie_ingest_events_total");
    let value = || async {
        let v: Value = reqwest::get(&query).await.ok()?.json().await.ok()?;
        v["data"]["result"][0]["value"][1]
            .as_str()?
            .parse::<f64>()
            .ok()
    };
    let read = eventually(20, || async { value().await == Some(7.0) }).await;
    let targets = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/targets"))
        .await
        .map(|r| r.text());
    let targets = match targets {
        Ok(t) => t.await.unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(
        read,
        "Prometheus never read aerie_ingest_events_total = 7 (last: {:?}); targets: {targets}; log:\n{}",
        value().await,
        std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
    );
    let targets: Value = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/targets"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        targets["data"]["activeTargets"][0]["health"], "up",
        "{targets}"
    );
}

/// Stops a child process when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_mcm_counts_each_cm_s_sync_and_live_calls() {
    use common::{cm_id_of, convert, node, register};
    let mcm = node("mcm-metrics", 1).await;
    convert(&mcm).await;
    let cm = node("cm-metrics", 2).await;
    assert!(register(&cm, &mcm).await.0);
    let cm_id = cm_id_of(&mcm, "cm-metrics").await;
    let events: Vec<_> = (0..3)
        .map(|i| event(&format!("10.6.0.{}", i + 1), 60 * i, 0.8))
        .collect();
    let placed = cm.admin.post_events(&batch(events)).await.unwrap();
    let key = key_of(&mcm, "admin").await;
    let scrape = || scrape(&mcm, &key);
    let labels = format!("{{cm=\"cm-metrics\",cm_id=\"{cm_id}\"}}");
    assert!(
        eventually(15, || async {
            sample(&scrape().await, &format!("aerie_cm_incidents{labels}")) == Some(3.0)
        })
        .await,
        "{}",
        scrape().await
    );
    let text = scrape().await;
    assert!(
        sample(&text, "aerie_sync_batches_total{cm=\"cm-metrics\"}").unwrap() >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "aerie_sync_changes_total{cm=\"cm-metrics\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(sample(&text, &format!("aerie_cm_up{labels}")), Some(1.0));
    assert!(sample(&text, &format!("aerie_cm_last_contact_age_seconds{labels}")).unwrap() < 60.0);
    assert!(text.contains("aerie_info{version=\"") && text.contains("role=\"mcm\""));
    // The correlation's follower reads what the sync wrote.
    assert!(
        eventually(15, || async {
            sample(&scrape().await, "aerie_correlation_backlog") == Some(0.0)
        })
        .await,
        "{}",
        scrape().await
    );
    // A live read of the CM's incident counts as a proxy call.
    let id = placed.placements[0].incident_id;
    let _: Value = mcm
        .admin
        .get(&format!("/api/v1/incidents/{cm_id}/{id}"))
        .await
        .unwrap();
    let text = scrape().await;
    assert_eq!(
        sample(
            &text,
            "aerie_proxy_calls_total{cm=\"cm-metrics\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
}
