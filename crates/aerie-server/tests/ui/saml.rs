//! SAML single sign-on on the MCM, against a real SimpleSAMLphp IdP: an admin sets it up
//! in SAML Settings; users then sign in at the IdP and land on the Incidents tab with the
//! role their groups map to, and that role is what the owning CM is asked with. The
//! ACS refuses a replayed, altered, unsigned or expired answer, one this browser did not
//! ask for, and a user with no mapped group.

use aerie_identity::testing::{ScriptedBrowser, SimpleSamlPhp};
use base64::Engine;

use super::*;

/// A multipart/form-data body: (name, value, file name).
fn multipart(fields: &[(&str, &str, Option<&str>)]) -> (String, Vec<u8>) {
    let boundary = "aerie-test-boundary-7f3a";
    let mut body = String::new();
    for (name, value, file) in fields {
        body.push_str(&format!("--{boundary}\r\n"));
        match file {
            Some(f) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                 Content-Type: text/xml\r\n\r\n"
            )),
            None => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"
            )),
        }
        body.push_str(value);
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

/// Submits the SAML Settings page's form with `fields`; returns the flash message.
async fn submit(
    s: &TestServer,
    http: &reqwest::Client,
    cookie: &str,
    fields: &[(&str, &str, Option<&str>)],
) -> String {
    let page = get_page(s, http, cookie, "/config/saml").await;
    let csrf = csrf_of(&page);
    let mut all = vec![("_csrf", csrf.as_str(), None)];
    all.extend_from_slice(fields);
    let (content_type, body) = multipart(&all);
    let resp = http
        .post(s.url("/config/saml"))
        .header("cookie", cookie)
        .header("origin", s.url(""))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    flash_text(&resp)
}

/// Saves SSO as on with the group mapping `map`, the metadata kept, and `extra` fields.
async fn save(
    s: &TestServer,
    http: &reqwest::Client,
    cookie: &str,
    map: &str,
    extra: &[(&str, &str, Option<&str>)],
) -> String {
    let mut fields = vec![
        ("action", "save", None),
        ("enabled", "1", None),
        ("groups_attribute", "groups", None),
        ("group_map", map, None),
    ];
    if !extra.iter().any(|(n, _, _)| *n == "clock_skew") {
        fields.push(("clock_skew", "60", None));
    }
    fields.extend_from_slice(extra);
    submit(s, http, cookie, &fields).await
}

async fn get_page(s: &TestServer, http: &reqwest::Client, cookie: &str, path: &str) -> String {
    http.get(s.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Where the refused answers come from, so that their failures do not throttle the
/// logins of the test's other browsers (at 127.0.0.1).
const ELSEWHERE: &str = "127.0.0.7";

/// Starts a login at the MCM in a new scripted browser at `from` and signs `user` in at
/// the IdP; returns the browser and the IdP's answer.
async fn at_idp(
    s: &TestServer,
    idp: &SimpleSamlPhp,
    from: &str,
    user: &str,
    password: &str,
) -> (ScriptedBrowser, String, Option<String>) {
    let mut b = ScriptedBrowser::at(from.parse().unwrap());
    let resp = b.get_once(&s.url("/saml/login")).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&format!("http://127.0.0.1:{}/", idp.port)),
        "{to}"
    );
    assert!(b.cookie().contains("aerie_sso="), "the browser keeps a key");
    let (response, relay) = idp.log_in(to, user, password).await;
    (b, response, relay)
}

/// POSTs an IdP answer to the ACS, as the IdP's auto-submitting form does.
async fn post_acs(
    s: &TestServer,
    idp: &SimpleSamlPhp,
    b: &mut ScriptedBrowser,
    response: &str,
    relay: Option<&str>,
) -> (StatusCode, String) {
    let mut form = vec![("SAMLResponse", response)];
    if let Some(r) = relay {
        form.push(("RelayState", r));
    }
    let idp_origin = format!("http://127.0.0.1:{}", idp.port);
    let (status, _, body) = b
        .post_from(&s.url("/saml/acs"), Some(&idp_origin), &form)
        .await;
    (status, body)
}

/// The role of user `name`, as the admin API lists it.
async fn role_of(s: &TestServer, name: &str) -> Option<String> {
    let users: serde_json::Value = s.admin.get("/api/v1/users").await.unwrap();
    users
        .as_array()
        .or_else(|| users["items"].as_array())
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .map(|u| u["role"].as_str().unwrap().to_owned())
}

/// Asks the owning CM, through the MCM's incident page, to set `status`; the flash.
async fn set_status(s: &TestServer, cookie: &str, page: &str, status: &str) -> String {
    let http = raw_client();
    let html = get_page(s, &http, cookie, page).await;
    let csrf = csrf_of(&html);
    let resp = http
        .post(s.url(&format!("{page}/status")))
        .header("cookie", cookie)
        .header("origin", s.url(""))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("status", status),
            ("comment", "from SSO"),
        ])
        .send()
        .await
        .unwrap();
    flash_text(&resp)
}

#[tokio::test]
async fn sso_users_sign_in_at_the_idp_with_their_mapped_role() {
    let mcm = node("mcm-sso", 1).await;
    convert(&mcm).await;
    let east = node("cm-sso-east", 2).await;
    assert!(register(&east, &mcm).await.0);
    let placed = east
        .admin
        .post_events(&batch(vec![event("10.72.0.1", 100, 0.8)]))
        .await
        .unwrap();
    let on_cm = placed.placements[0].incident_id;
    assert!(
        eventually(15, || async {
            mcm.admin
                .incidents(&Default::default())
                .await
                .unwrap()
                .items
                .len()
                == 1
        })
        .await
    );
    let east_id = cm_id_of(&mcm, "cm-sso-east").await;
    let incident_page = format!("/incidents/{east_id}/{on_cm}");

    let sp = mcm.url("/saml/metadata");
    let Some(idp) = SimpleSamlPhp::start(&sp, &mcm.url("/saml/acs")) else {
        return;
    };
    let http = raw_client();
    let admin = form_login(&mcm, &http, "admin", &mcm.admin_password).await;

    // The SP metadata needs no login.
    let resp = http.get(mcm.url("/saml/metadata")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let xml = resp.text().await.unwrap();
    assert!(
        xml.contains(&format!("entityID=\"{sp}\"")) && xml.contains(&mcm.url("/saml/acs")),
        "{xml}"
    );

    // Off: no button, and a login cannot start.
    let login = http
        .get(mcm.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!login.contains("sso-login"));
    let resp = http.get(mcm.url("/saml/login")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("single sign-on is off"));

    // Bad input is refused, saying what is wrong.
    let metadata = idp.metadata().await;
    let file = [("idp_metadata_file", metadata.as_str(), Some("idp.xml"))];
    let refused = save(
        &mcm,
        &http,
        &admin,
        "soc-analysts = analyst",
        &[("idp_metadata", "<EntityDescriptor/>", None)],
    )
    .await;
    assert!(refused.contains("does not load"), "{refused}");
    let refused = save(&mcm, &http, &admin, "soc-analysts = superuser", &file).await;
    assert!(refused.contains("no role superuser"), "{refused}");
    let refused = save(&mcm, &http, &admin, "", &file).await;
    assert!(refused.contains("map at least one group"), "{refused}");
    let refused = save(
        &mcm,
        &http,
        &admin,
        "soc-analysts = analyst",
        &[
            file[0],
            ("sp_entity_id", "not an id", None),
            ("clock_skew", "60", None),
        ],
    )
    .await;
    assert!(refused.contains("entity id is a URL"), "{refused}");

    // "Test connection" reads the metadata without saving it.
    let checked = submit(
        &mcm,
        &http,
        &admin,
        &[("action", "check", None), ("idp_metadata", &metadata, None)],
    )
    .await;
    assert!(
        checked.contains(&idp.entity_id())
            && checked.contains("CN=test-idp")
            && checked.contains("SHA-256")
            && checked.contains("valid until"),
        "{checked}"
    );
    assert!(
        !get_page(&mcm, &http, &admin, "/config/saml")
            .await
            .contains(&idp.entity_id())
    );

    // Saved from an uploaded file; the viewers' group is not mapped yet.
    let saved = save(&mcm, &http, &admin, "soc-analysts = analyst", &file).await;
    assert_eq!(saved, "Single sign-on is on.");
    let page = get_page(&mcm, &http, &admin, "/config/saml").await;
    assert!(
        page.contains(&idp.entity_id()) && page.contains("SHA-256") && page.contains(&sp),
        "the page shows the IdP, its certificate and this SP"
    );

    // alice (soc-analysts) signs in: created, as an analyst, with no local password.
    let (mut b, response, relay) = at_idp(&mcm, &idp, "127.0.0.1", "alice", "alicepass").await;
    let (status, body) = post_acs(&mcm, &idp, &mut b, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("url=/incidents"), "{body}");
    assert!(b.cookie().contains("aerie_session="));
    assert_eq!(
        role_of(&mcm, "alice@example.com").await.as_deref(),
        Some("analyst")
    );
    assert!(
        mcm.anon
            .login("alice@example.com", "alicepass")
            .await
            .is_err(),
        "an SSO user has no password here"
    );
    let alice = b.cookie();
    let (_, body) = b.get(mcm.url("/incidents")).await;
    assert!(
        body.contains("id=\"incidents\""),
        "alice sees the incidents"
    );

    // The same answer again: refused, whichever browser key it comes with.
    let (status, body) = post_acs(&mcm, &idp, &mut b, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (mut b2, _, _) = at_idp(&mcm, &idp, ELSEWHERE, "alice", "alicepass").await;
    let (status, body) = post_acs(&mcm, &idp, &mut b2, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("did not pass its checks"), "{body}");

    // An answer posted to a browser that did not start a login (login CSRF): refused.
    let (_, fresh, fresh_relay) = at_idp(&mcm, &idp, ELSEWHERE, "alice", "alicepass").await;
    let mut stranger = ScriptedBrowser::at(ELSEWHERE.parse().unwrap());
    let (status, body) = post_acs(&mcm, &idp, &mut stranger, &fresh, fresh_relay.as_deref()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not started from this browser"), "{body}");

    // Altered: signed, with another name in it.
    let (mut b3, response, relay) = at_idp(&mcm, &idp, ELSEWHERE, "alice", "alicepass").await;
    let xml = base64::engine::general_purpose::STANDARD
        .decode(&response)
        .unwrap();
    let altered = String::from_utf8(xml)
        .unwrap()
        .replace("alice@example.com", "admin");
    let altered = base64::engine::general_purpose::STANDARD.encode(altered);
    let (status, _) = post_acs(&mcm, &idp, &mut b3, &altered, relay.as_deref()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // victor's group maps to no role: a clear page, and no account.
    let (mut b4, response, relay) = at_idp(&mcm, &idp, ELSEWHERE, "victor", "victorpass").await;
    let (status, body) = post_acs(&mcm, &idp, &mut b4, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("none of your groups is given a role"),
        "{body}"
    );
    assert_eq!(role_of(&mcm, "victor@example.com").await, None);

    // Unsigned assertions (the IdP signs them for this SP entity only as a whole response).
    let unsigned = format!("{sp}-unsigned");
    let saved = save(
        &mcm,
        &http,
        &admin,
        "soc-analysts = analyst",
        &[("sp_entity_id", &unsigned, None)],
    )
    .await;
    assert_eq!(saved, "Single sign-on is on.");
    let (mut b5, response, relay) = at_idp(&mcm, &idp, ELSEWHERE, "alice", "alicepass").await;
    let (status, _) = post_acs(&mcm, &idp, &mut b5, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned assertions");

    // Expired: assertions valid for 2 s, no skew; one in time works, one late does not.
    let short = format!("{sp}-short");
    save(
        &mcm,
        &http,
        &admin,
        "soc-analysts = analyst",
        &[("sp_entity_id", &short, None), ("clock_skew", "0", None)],
    )
    .await;
    let (mut b6, response, relay) = at_idp(&mcm, &idp, "127.0.0.1", "alice", "alicepass").await;
    let (status, body) = post_acs(&mcm, &idp, &mut b6, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::OK, "in time: {body}");
    let (mut b7, response, relay) = at_idp(&mcm, &idp, ELSEWHERE, "alice", "alicepass").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, _) = post_acs(&mcm, &idp, &mut b7, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");

    // IdP-initiated: refused while off; on, accepted once, and its replay refused by the
    // replay cache (no pending login is involved).
    save(&mcm, &http, &admin, "soc-analysts = analyst", &[]).await;
    let (response, relay) = idp
        .log_in(idp.idp_initiated_url(&sp), "alice", "alicepass")
        .await;
    let mut b8 = ScriptedBrowser::at(ELSEWHERE.parse().unwrap());
    let (status, _) = post_acs(&mcm, &idp, &mut b8, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "IdP-initiated is off");
    save(
        &mcm,
        &http,
        &admin,
        "soc-analysts = analyst",
        &[("allow_idp_initiated", "1", None)],
    )
    .await;
    let (response, relay) = idp
        .log_in(idp.idp_initiated_url(&sp), "alice", "alicepass")
        .await;
    let (status, body) = post_acs(&mcm, &idp, &mut b8, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::OK, "IdP-initiated, on: {body}");
    let mut b9 = ScriptedBrowser::at(ELSEWHERE.parse().unwrap());
    let (status, body) = post_acs(&mcm, &idp, &mut b9, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("was used before"), "{body}");

    // Failed sign-ins count toward the login limit of their address.
    let mut throttled = false;
    for _ in 0..10 {
        let (status, _) = post_acs(&mcm, &idp, &mut b9, "bogus", None).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "ten failures from one address are the limit");

    // The viewers' group mapped; IdP-initiated off again.
    save(
        &mcm,
        &http,
        &admin,
        "soc-analysts = analyst\nsoc-viewers = viewer",
        &[],
    )
    .await;

    // A role travels to the CM as a local user's does: the analyst may set the status,
    // the viewer may not.
    let (mut bv, response, relay) = at_idp(&mcm, &idp, "127.0.0.1", "victor", "victorpass").await;
    let (status, _) = post_acs(&mcm, &idp, &mut bv, &response, relay.as_deref()).await;
    assert_eq!(status, StatusCode::OK);
    let victor = bv.cookie();
    let refused = set_status(&mcm, &victor, &incident_page, "in_progress").await;
    assert!(
        refused.contains("needs the") && refused.contains("your role viewer does not"),
        "{refused}"
    );
    let detail = east.admin.incident(on_cm).await.unwrap();
    assert_eq!(
        detail.incident.status.as_str(),
        "new",
        "unchanged on the CM"
    );
    let done = set_status(&mcm, &alice, &incident_page, "in_progress").await;
    assert!(done.contains("on CM cm-sso-east"), "{done}");
    let detail = east.admin.incident(on_cm).await.unwrap();
    assert_eq!(detail.incident.status.as_str(), "in_progress");

    // Through Chromium: the login page's button, the IdP's form, back on the Incidents
    // tab as a viewer, without the mitigation forms.
    let Some(web) = browser().await else { return };
    web.go(&mcm, "/login").await;
    assert_eq!(web.text("#sso-login").await, "Sign in with SSO");
    web.snap("login-sso.png").await;
    web.submit("#sso-login").await;
    let at_idp_form = eventually(15, || async {
        web.web.find(Locator::Css("#username")).await.is_ok()
    })
    .await;
    assert!(
        at_idp_form,
        "the IdP's login form at {}: {}",
        web.web.current_url().await.unwrap(),
        web.web.source().await.unwrap()
    );
    web.fill("#username", "victor").await;
    web.fill("#password", "victorpass").await;
    web.click("#submit_button, button[type=submit]").await;
    let landed = eventually(20, || async { web.path().await == "/incidents" }).await;
    assert!(landed, "on {}", web.web.current_url().await.unwrap());
    assert_eq!(
        web.all_text("#rows td.cm").await,
        ["cm-sso-east"],
        "victor sees the CM's incident"
    );
    web.go(&mcm, &incident_page).await;
    assert!(web.text("#summary").await.contains("cm-sso-east"));
    assert_eq!(web.count("form[action$='/mitigate']").await, 0);
    assert_eq!(web.count("#status-form").await, 0);

    // Local logout ends the SSO session.
    web.click("#logout").await;
    let out = eventually(15, || async { web.path().await == "/login" }).await;
    assert!(out, "logged out");
    web.go(&mcm, "/incidents").await;
    assert_eq!(web.path().await, "/login");

    // The settings page as an admin sees it (the screenshot in docs/screenshots).
    web.login(&mcm, "admin", &mcm.admin_password).await;
    web.go(&mcm, "/config/saml").await;
    assert_eq!(web.text("section.config-body h1").await, "SAML Settings");
    web.snap("saml-settings.png").await;
}
