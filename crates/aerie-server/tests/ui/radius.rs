//! RADIUS Settings and RADIUS login, against a real FreeRADIUS: an admin saves the
//! servers and the role mapping through the page; users who are not local then log in
//! with the role their server's reply attribute maps to.

use aerie_identity::testing::{FreeRadius, SECRET, closed_udp_port};

use super::*;

/// Submits the RADIUS Settings form; returns the flash message's text.
async fn submit(
    s: &TestServer,
    http: &reqwest::Client,
    cookie: &str,
    fields: &[(&str, &str)],
) -> String {
    let page = http
        .get(s.url("/config/radius"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains(SECRET),
        "a shared secret is never shown back"
    );
    let csrf = csrf_of(&page);
    let mut form = vec![("_csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let resp = http
        .post(s.url("/config/radius"))
        .header("cookie", cookie)
        .header("origin", s.url(""))
        .form(&form)
        .send()
        .await
        .unwrap();
    flash_text(&resp)
}

/// Saves RADIUS login as on, with `servers` (address, secret) and the given timeout
/// (seconds, one retry), attribute and mapping; returns the flash message's text.
async fn save(
    s: &TestServer,
    http: &reqwest::Client,
    cookie: &str,
    servers: &[(&str, &str)],
    timeout: &str,
    attribute: &str,
    map: &str,
) -> String {
    let names: Vec<(String, String)> = (1..=servers.len())
        .map(|n| (format!("server{n}"), format!("secret{n}")))
        .collect();
    let mut fields = vec![
        ("action", "save"),
        ("enabled", "1"),
        ("timeout", timeout),
        ("retries", "1"),
        ("role_attribute", attribute),
        ("role_map", map),
    ];
    for ((server, secret), (address, key)) in names.iter().zip(servers) {
        fields.push((server.as_str(), address));
        fields.push((secret.as_str(), key));
    }
    submit(s, http, cookie, &fields).await
}

#[tokio::test]
async fn radius_users_log_in_with_their_mapped_role() {
    let Some(radius) = FreeRadius::start() else {
        return;
    };
    let s = start().await;
    let http = raw_client();
    let cookie = form_login(&s, &http, "admin", &s.admin_password).await;
    let server = radius.addr.to_string();
    let down = closed_udp_port().to_string();

    // Nothing is asked while RADIUS login is off.
    assert!(s.anon.login("alice", "alicepass").await.is_err());

    let refused = save(
        &s,
        &http,
        &cookie,
        &[("radius.example", SECRET)],
        "2.5",
        "class",
        "aerie-admin = admin",
    )
    .await;
    assert!(refused.contains("is not an IP address"), "{refused}");

    // The first server is down; the second answers.
    let saved = save(
        &s,
        &http,
        &cookie,
        &[(&down, SECRET), (&server, SECRET)],
        "2.5",
        "class",
        "aerie-admin = admin\naerie-viewer = viewer",
    )
    .await;
    assert_eq!(saved, "RADIUS login is on, with 2 server(s).");

    let (alice, login) = s
        .anon
        .login("alice", "alicepass")
        .await
        .unwrap_or_else(|_| panic!("{}", radius.log()));
    assert_eq!(login.role, "admin", "Class aerie-admin maps to admin");
    let users: serde_json::Value = alice
        .get("/api/v1/users")
        .await
        .expect("with the admin's rights");
    assert!(
        users.to_string().contains("alice"),
        "created on first login: {users}"
    );
    assert!(s.anon.login("alice", "wrong").await.is_err(), "a reject");
    assert!(
        s.anon.login("bob", "bobpass").await.is_err(),
        "bob's role comes in Filter-Id, which is not the attribute read: refused"
    );
    // The local admin still logs in with the local password.
    assert!(s.anon.login("admin", &s.admin_password).await.is_ok());

    // Filter-Id now, secrets kept (blank fields).
    let saved = save(
        &s,
        &http,
        &cookie,
        &[(&server, "")],
        "2.5",
        "filter-id",
        "aerie-viewer = viewer",
    )
    .await;
    assert_eq!(saved, "RADIUS login is on, with 1 server(s).");
    let (_, login) = s
        .anon
        .login("bob", "bobpass")
        .await
        .unwrap_or_else(|_| panic!("{}", radius.log()));
    assert_eq!(login.role, "viewer");
    // alice's earlier user stays, but now maps to no role: refused.
    assert!(s.anon.login("alice", "alicepass").await.is_err());

    // The test button tells a reject from an accept, and a wrong secret from both.
    let tested = submit(
        &s,
        &http,
        &cookie,
        &[
            ("action", "test"),
            ("test_user", "bob"),
            ("test_password", "bobpass"),
        ],
    )
    .await;
    assert!(
        tested.contains("accepted; bob would log in with the viewer role"),
        "{tested}"
    );
    let tested = submit(
        &s,
        &http,
        &cookie,
        &[
            ("action", "test"),
            ("test_user", "bob"),
            ("test_password", "nope"),
        ],
    )
    .await;
    assert!(tested.contains("rejected"), "{tested}");
    save(
        &s,
        &http,
        &cookie,
        &[(&server, "not-the-secret")],
        "0.3",
        "filter-id",
        "aerie-viewer = viewer",
    )
    .await;
    let tested = submit(
        &s,
        &http,
        &cookie,
        &[
            ("action", "test"),
            ("test_user", "bob"),
            ("test_password", "bobpass"),
        ],
    )
    .await;
    assert!(tested.contains("check the shared secret"), "{tested}");

    // Through the browser: a RADIUS user logs in with the same login form, and the page
    // as an admin sees it (the screenshot in docs/screenshots).
    let fixed = save(
        &s,
        &http,
        &cookie,
        &[(&server, SECRET), (&down, SECRET)],
        "2.5",
        "filter-id",
        "aerie-viewer = viewer\naerie-admins = admin",
    )
    .await;
    assert_eq!(fixed, "RADIUS login is on, with 2 server(s).");
    let Some(b) = browser().await else { return };
    b.login(&s, "bob", "bobpass").await;
    assert_eq!(
        b.path().await,
        "/incidents",
        "bob lands on the Incidents tab"
    );
    assert_eq!(b.count("form[action$='/mitigate']").await, 0);
    b.go(&s, "/logout").await;
    b.web.delete_all_cookies().await.unwrap();
    b.login(&s, "admin", &s.admin_password).await;
    b.go(&s, "/config/radius").await;
    assert_eq!(b.text("section.config-body h1").await, "RADIUS Settings");
    b.snap("radius-settings.png").await;
}
