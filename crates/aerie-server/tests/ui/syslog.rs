//! System Settings › Syslog in the browser: an admin adds a destination (a real rsyslog
//! on loopback), sees its state, queue and lag, sends a test message that arrives, is
//! told exactly what is wrong with a bad entry, and removes the destination.

use super::*;
use aerie_siem::testing::{Rsyslog, parse};

#[tokio::test]
async fn an_admin_adds_tests_and_removes_a_syslog_destination() {
    let Some(web) = browser().await else { return };
    let Some(r) = Rsyslog::start() else { return };
    let s = node("cm-syslog", 1).await;
    s.admin
        .post_events(&batch(vec![event("10.40.0.1", 100, 0.9)]))
        .await
        .unwrap();
    web.login(&s, "admin", &s.admin_password).await;
    web.go(&s, "/config/system").await;
    web.submit("#syslog-link").await;
    assert_eq!(web.text("h1").await, "System Settings › Syslog");
    assert!(
        web.text("#no-destinations")
            .await
            .contains("No syslog server")
    );

    // A bad entry is refused, saying why.
    web.fill("#server", "127.0.0.1").await;
    web.submit("#syslog-form button[type=submit]").await;
    let flash = web.text("#flash").await;
    assert!(flash.contains("is not HOST:PORT"), "{flash}");
    web.fill("#server", &format!("127.0.0.1:{}", r.udp_port))
        .await;
    web.choose("#protocol", "udp").await;
    web.fill("#pin", &"ab".repeat(32)).await;
    web.submit("#syslog-form button[type=submit]").await;
    let flash = web.text("#flash").await;
    assert!(flash.contains("applies to TLS only"), "{flash}");

    let address = format!("127.0.0.1:{}", r.tcp_port);
    web.fill("#server", &address).await;
    web.choose("#protocol", "tcp").await;
    web.choose("#format", "rfc3164").await;
    web.submit("#syslog-form button[type=submit]").await;
    let flash = web.text("#flash").await;
    assert!(
        flash.contains(&format!("Added syslog server {address} tcp rfc3164")),
        "{flash}"
    );

    // The incident already here goes out first; the page shows the feed caught up.
    assert!(
        !r.wait_for("TROJAN_Zemot.CY", 1, Duration::from_secs(20))
            .await
            .is_empty()
    );
    let row = format!("tr[data-server='{address}']");
    let caught_up = eventually(20, || async {
        web.go(&s, "/config/system/syslog").await;
        web.text(&format!("{row} td.state")).await == "connected"
            && web.text(&format!("{row} td.queue")).await == "0"
    })
    .await;
    assert!(caught_up, "{}", web.text("#destinations").await);
    web.snap("syslog.png").await;

    web.submit(&format!("{row} button[value=test]")).await;
    let flash = web.text("#flash").await;
    assert!(
        flash.contains(&format!("Sent a test message to {address}")),
        "{flash}"
    );
    let test = r
        .wait_for("Aerie test message", 1, Duration::from_secs(20))
        .await;
    assert_eq!(test.len(), 1);
    let m = parse(&test[0].1);
    assert_eq!(m.header[4], "test");
    assert_eq!(m.ext["msg"], "sent by admin from Config › System Settings");

    web.submit(&format!("{row} button[value=remove]")).await;
    let flash = web.text("#flash").await;
    assert!(
        flash.contains(&format!("Removed syslog server {address}")),
        "{flash}"
    );
    assert_eq!(web.count(&row).await, 0);
}
