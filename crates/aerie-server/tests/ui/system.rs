//! System Settings in the browser and at the CLI: one record, both edit it, every change
//! is audited, and each setting takes effect where it is read (the Incidents table's
//! times, the login page, a new session's lifetime, the CM's name on the MCM).

use super::*;
use crate::common::cli;

/// The seed's Config list, in its order, as far as the pages exist.
const SEED_ORDER: &[&str] = &[
    "Password Reset",
    "Roles",
    "Users",
    "SAML Settings",
    "RADIUS Settings",
    "System Settings",
    "Certificate Management",
    "GSS Settings",
    "Secondary CMs",
    "Licensing",
    "Backup/Restore",
];

#[tokio::test]
async fn system_settings_change_times_banner_sessions_and_the_cm_name() {
    let Some(web) = browser().await else { return };
    let mcm = node("mcm-settings", 1).await;
    convert(&mcm).await;
    let cm = node("cm-lisbon", 2).await;
    let (ok, out) = register(&cm, &mcm).await;
    assert!(ok, "{out}");
    // One incident at 10:00:05 UTC yesterday.
    cm.admin
        .post_events(&batch(vec![event("10.9.0.1", 36_005, 0.9)]))
        .await
        .unwrap();

    web.login(&cm, "admin", &cm.admin_password).await;
    web.go(&cm, "/config").await;
    let listed = web.all_text("dl.entries dt").await;
    let expected: Vec<&str> = SEED_ORDER
        .iter()
        .copied()
        .filter(|t| listed.iter().any(|l| l == t))
        .collect();
    assert_eq!(
        listed
            .iter()
            .filter(|l| *l != "MCM Settings")
            .collect::<Vec<_>>(),
        expected,
        "the Config list keeps the seed's order"
    );
    assert!(listed.iter().any(|l| l == "System Settings"));

    web.go(&cm, "/config/system").await;
    assert_eq!(web.text("h1").await, "System Settings");
    assert!(web.text("#listen-note").await.contains("127.0.0.2"));
    web.fill("#hostname", "cm-porto").await;
    web.fill("#time_zone", "Asia/Tokyo").await;
    web.fill("#session_ttl", "5").await;
    web.fill(
        "#login_banner",
        "Authorized use only <script>window.__xss=1</script>",
    )
    .await;
    web.submit("#system-form button[type=submit]").await;
    let flash = web.text("#flash").await;
    assert!(flash.contains("host name: cm-lisbon → cm-porto"), "{flash}");
    assert!(flash.contains("time zone: UTC → Asia/Tokyo"), "{flash}");
    assert!(flash.contains("session lifetime"), "{flash}");
    web.snap("system-settings.png").await;

    // A bad value is refused, saying why, and nothing changes.
    web.fill("#time_zone", "Mars/Olympus").await;
    web.submit("#system-form button[type=submit]").await;
    let flash = web.text("#flash").await;
    assert!(
        flash.contains("\"Mars/Olympus\" is not a time zone"),
        "{flash}"
    );
    assert_eq!(
        web.web
            .find(Locator::Css("#time_zone"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Asia/Tokyo")
    );

    // Times show in Tokyo (UTC+9): 10:00:05 UTC is 19:00:05 there.
    web.go(&cm, "/incidents").await;
    let heading = web.all_text("#incidents th").await;
    assert!(
        heading.iter().any(|h| h == "Time (Asia/Tokyo)"),
        "{heading:?}"
    );
    let time = web.text("#rows td.time").await;
    assert!(time.ends_with("19:00:05"), "{time}");

    // The banner shows on the login page, as text.
    web.submit("#logout").await;
    web.go(&cm, "/login").await;
    let banner = web.text("#login-banner").await;
    assert!(banner.contains("Authorized use only <script>"), "{banner}");
    web.inert().await;

    // A new session lasts the new lifetime.
    let http = raw_client();
    let resp = http
        .post(cm.url("/login"))
        .header("origin", cm.url(""))
        .form(&[
            ("username", "admin"),
            ("password", cm.admin_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("aerie_session="))
        .expect("a session cookie");
    let max_age: i64 = cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap();
    assert!((290..=300).contains(&max_age), "{cookie}");

    // The MCM shows the CM's new name.
    let renamed = eventually(5, || async {
        let cms = mcm.running.state.store.cms().await.unwrap();
        cms.len() == 1 && cms[0].name.as_str() == "cm-porto"
    })
    .await;
    assert!(
        renamed,
        "{:?}",
        mcm.running.state.store.cms().await.unwrap()
    );

    // The CLI reads and writes the same record, and both are audited.
    let (ok, out) = cli(&cm, &["show system"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("Asia/Tokyo") && out.contains("5 minutes"),
        "{out}"
    );
    let (ok, out) = cli(
        &cm,
        &["set system timezone Europe/Berlin", "set system port 8443"],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("applies at the next start"), "{out}");
    let (ok, out) = cli(&cm, &["set system session-ttl 0"]).await;
    assert!(!ok && out.contains("from 1 to 43200"), "{out}");
    let (ok, out) = cli(&cm, &["set system software-updates enable"]).await;
    assert!(ok, "{out}");
    let s = aerie_server::ops::settings::system(&cm.running.state)
        .await
        .unwrap();
    assert_eq!(s.time_zone.unwrap().name(), "Europe/Berlin");
    assert_eq!(s.listen_port, Some(8443));
    assert!(s.software_updates);
    let audit = cm.running.state.store.audit_entries(0, 1000).await.unwrap();
    let changes: Vec<(&str, &str)> = audit
        .iter()
        .filter(|e| e.record.action == "system.settings")
        .map(|e| (e.record.actor.as_str(), e.record.detail.as_str()))
        .collect();
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert_eq!(changes[0].0, "admin");
    assert!(changes[1].1.contains("Europe/Berlin") && changes[1].0 == "cli");
}
