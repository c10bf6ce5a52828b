//! The web UI in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver), against real daemons over HTTPS. Assertions are on what the page shows.
//!
//! Without chromedriver the tests are skipped with a message, except under `CI=true`,
//! where they fail (`.ci/run` installs Debian's `chromium` and `chromium-driver`). Set
//! `AERIE_SCREENSHOTS=DIR` to save the screenshots the docs use.

mod common;

use std::{net::TcpListener, process::Child, time::Duration};

use aerie_client::artifacts;
use aerie_proto::events::{BehaviourJson, FileJson};
use common::{TestServer, batch, cm_id_of, convert, event, eventually, node, register, start};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(15);

struct Browser {
    driver: Child,
    web: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn browser() -> Option<Browser> {
    if !std::path::Path::new(CHROMEDRIVER).exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{CHROMEDRIVER} is missing: install Debian's chromium and chromium-driver");
        }
        eprintln!("skipped: {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = std::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let up = eventually(20, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    assert!(up, "chromedriver did not start");
    let caps = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,800", "--ignore-certificate-errors"]
        }
    });
    let web = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&url)
        .await
        .expect("a WebDriver session");
    Some(Browser { driver, web })
}

impl Browser {
    async fn go(&self, s: &TestServer, path: &str) {
        self.web.goto(&s.url(path)).await.unwrap();
    }

    async fn path(&self) -> String {
        self.web.current_url().await.unwrap().path().to_owned()
    }

    async fn text(&self, css: &str) -> String {
        self.web
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    async fn all_text(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.web.find_all(Locator::Css(css)).await.unwrap() {
            out.push(e.text().await.unwrap());
        }
        out
    }

    async fn count(&self, css: &str) -> usize {
        self.web.find_all(Locator::Css(css)).await.unwrap().len()
    }

    async fn click(&self, css: &str) {
        self.web
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks something that loads a new page, and waits until the new page has loaded.
    async fn submit(&self, css: &str) {
        self.mark().await;
        self.click(css).await;
        self.loaded(css).await;
    }

    async fn mark(&self) {
        self.web
            .execute("window.__old = true;", vec![])
            .await
            .unwrap();
    }

    async fn loaded(&self, what: &str) {
        let done = eventually(15, || async {
            self.web
                .execute(
                    "return window.__old !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .is_ok_and(|v| v == json!(true))
        })
        .await;
        assert!(done, "no new page after {what}");
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.web.find(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    async fn choose(&self, css: &str, value: &str) {
        let e = self.web.find(Locator::Css(css)).await.unwrap();
        e.select_by_value(value).await.unwrap();
    }

    async fn login(&self, s: &TestServer, user: &str, password: &str) {
        self.go(s, "/login").await;
        self.fill("#username", user).await;
        self.fill("#password", password).await;
        self.submit("main.login button[type=submit]").await;
    }

    /// No script ran: no dialog is open and no injected element exists.
    async fn inert(&self) {
        assert!(self.web.get_alert_text().await.is_err(), "an alert opened");
        assert_eq!(self.count("img[onerror], script:not([src])").await, 0);
        let injected = self
            .web
            .execute("return window.__xss === undefined;", vec![])
            .await
            .unwrap();
        assert_eq!(injected, json!(true));
    }

    async fn snap(&self, name: &str) {
        if let Ok(dir) = std::env::var("AERIE_SCREENSHOTS") {
            let png = self.web.screenshot().await.unwrap();
            std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
        }
    }
}

const XSS_THREAT: &str = "<script>window.__xss=1;alert('xss')</script>";
const XSS_SOURCE: &str = "http://evil.example/\"><img src=x onerror=\"window.__xss=1\">";
const XSS_HOST: &str = "=cmd|' /C calc'!A0";

#[tokio::test]
async fn cm_ui_end_to_end() {
    let s = start().await;
    let Some(b) = browser().await else { return };

    // 60 ordinary incidents (for paging and filters), one hostile, one with evidence.
    let events: Vec<_> = (0..60)
        .map(|i| {
            event(
                &format!("10.50.{}.{}", i / 200, i % 200 + 1),
                1000 + i,
                [0.3, 0.6, 0.9][i as usize % 3],
            )
        })
        .collect();
    s.admin.post_events(&batch(events)).await.unwrap();
    let mut hostile = event("10.51.0.1", 5000, 0.95);
    hostile.threat_name = XSS_THREAT.into();
    hostile.source_name = Some(XSS_SOURCE.into());
    hostile.endpoint_name = Some(XSS_HOST.into());
    let hostile_id = s
        .admin
        .post_events(&batch(vec![hostile]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    let shot = s
        .admin
        .upload_artifact(artifacts::screenshot(5), None)
        .await
        .unwrap();
    let mut evidence = event("10.52.0.1", 6000, 0.8);
    evidence.threat_name = "TROJAN_Evidence.UI".into();
    evidence.source_ip = Some("198.51.100.23".into());
    evidence.artifacts = vec![shot.sha256.clone()];
    evidence.behaviour = Some(BehaviourJson {
        processes: vec!["C:\\Users\\Public\\svch.exe -k netsvcs".into()],
        files: vec![FileJson {
            path: "C:\\Users\\Public\\svch.exe".into(),
            sha256: Some("ab".repeat(32)),
        }],
        cnc: vec!["203.0.113.80:443".into()],
        ..Default::default()
    });
    let evidence_id = s
        .admin
        .post_events(&batch(vec![evidence]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;

    // Not logged in: the login page; a wrong password says only that.
    b.go(&s, "/incidents").await;
    assert_eq!(b.path().await, "/login");
    b.login(&s, "admin", "not-the-password").await;
    assert_eq!(b.text("#login-error").await, "Wrong user name or password.");
    b.login(&s, "admin", &s.admin_password).await;
    if b.path().await != "/incidents" {
        panic!("login failed: {:?}", b.all_text("#login-error").await);
    }
    assert_eq!(b.text("#count").await, "62 incidents match");
    assert_eq!(b.count("#rows tr").await, 50);
    assert_eq!(
        b.all_text("header nav a").await,
        ["Incidents", "Config", "Uploads"]
    );

    // The hostile incident is inert text in the table.
    let threats = b.all_text("#rows td.threat a").await;
    assert!(threats.contains(&XSS_THREAT.to_owned()), "{threats:?}");
    assert!(
        b.all_text("#rows td.source")
            .await
            .contains(&XSS_SOURCE.to_owned())
    );
    b.inert().await;

    // Paging, then a filter.
    let first_page = b.all_text("#rows td.threat a").await;
    b.submit("#next-page").await;
    b.web
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#first-page"))
        .await
        .unwrap();
    assert_eq!(b.count("#rows tr").await, 12);
    let second_page = b.all_text("#rows tr").await;
    assert!(second_page.iter().all(|r| !first_page.contains(r)));
    b.submit("#first-page").await;
    b.choose("#f-risk", "critical").await;
    b.submit("#apply").await;
    let risks = b.all_text("#rows td .risk").await;
    assert!(
        !risks.is_empty() && risks.iter().all(|r| r.eq_ignore_ascii_case("critical")),
        "{risks:?}"
    );
    assert_eq!(b.text("#count").await, "22 incidents match");
    b.snap("cm-incidents.png").await;

    // The hostile incident's page.
    b.go(&s, &format!("/incidents/{hostile_id}")).await;
    assert_eq!(b.text("#title").await, XSS_THREAT);
    let summary = b.text("#summary").await;
    assert!(
        summary.contains(XSS_HOST) && summary.contains(XSS_SOURCE),
        "{summary}"
    );
    b.inert().await;

    // Evidence, a mitigation, a status change, a whitelist entry.
    b.go(&s, &format!("/incidents/{evidence_id}")).await;
    assert!(b.text("#events").await.contains("svch.exe -k netsvcs"));
    let width = b
        .web
        .execute(
            "const img = document.querySelector('#screenshots img'); return img.complete ? img.naturalWidth : -1;",
            vec![],
        )
        .await
        .unwrap();
    assert!(eventually(10, || async {
        b.web.execute("const i = document.querySelector('#screenshots img'); return i.complete && i.naturalWidth;", vec![]).await.unwrap() == json!(320)
    }).await, "the screenshot renders (first look: {width})");
    assert!(b.text("#downloads").await.contains("IVP for Linux/macOS"));
    let row = "//table[@id='mitigations']//tr[td[1]='block ip' and td[2]='198.51.100.23']";
    b.mark().await;
    b.web
        .find(Locator::XPath(&format!("{row}//button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.loaded("Apply").await;
    assert_eq!(
        b.text("#flash").await,
        "Mitigation applied; it is in the feed now."
    );
    let state = b
        .web
        .find(Locator::XPath(&format!("{row}/td[3]")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(state.starts_with("Active by admin"), "{state}");

    b.choose("#new-status", "acknowledged").await;
    b.fill("#status-comment", "Looking into it <b>now</b>")
        .await;
    b.submit("#status-form button").await;
    assert_eq!(b.text("#flash").await, "Status changed.");
    assert!(
        b.text("#summary")
            .await
            .to_lowercase()
            .contains("acknowledged")
    );
    assert!(
        b.text("#history")
            .await
            .contains("Looking into it <b>now</b>")
    );

    b.choose("#wl-indicator", "source_ip|198.51.100.23").await;
    b.fill("#wl-reason", "our scanner").await;
    b.submit("#whitelist-form button").await;
    assert_eq!(
        b.text("#flash").await,
        "Whitelisted; matching incidents are benign now."
    );
    assert!(
        b.text(".incident-title .risk")
            .await
            .eq_ignore_ascii_case("benign")
    );
    b.snap("cm-incident.png").await;

    // Uploads: a file submitted for analysis opens an upload incident.
    let sample_dir = tempfile::tempdir().unwrap();
    let sample = sample_dir.path().join("invoice<1>.exe");
    std::fs::write(&sample, b"MZ\x90\x00 not really a program").unwrap();
    b.go(&s, "/uploads").await;
    b.web
        .find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(sample.to_str().unwrap())
        .await
        .unwrap();
    b.submit("#upload-form button").await;
    assert!(
        b.text("#flash")
            .await
            .starts_with("File received: SHA-256 ")
    );
    assert_eq!(
        b.text("#title").await,
        "Submitted for analysis: invoice<1>.exe"
    );

    // Config: a custom role from permissions, then a user holding it.
    b.go(&s, "/config/roles").await;
    b.fill("#role-name", "night-shift").await;
    b.click("#new-role input[value=triage]").await;
    b.submit("#new-role button").await;
    assert_eq!(b.text("#flash").await, "Role night-shift created.");
    let row = b.text("#roles tr[data-role=night-shift]").await;
    assert_eq!(row.matches('✓').count(), 2, "view and triage: {row}");
    b.go(&s, "/config/users").await;
    b.fill("#new-user input[name=username]", "nina").await;
    b.fill("#new-user input[name=password]", "passw0rd-long")
        .await;
    b.choose("#new-user select[name=role]", "night-shift").await;
    b.submit("#new-user button").await;
    assert_eq!(
        b.text("#flash").await,
        "User nina created with the night-shift role."
    );

    // A new incident appears in the open table without a reload.
    b.go(&s, "/incidents").await;
    b.web
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#rows"))
        .await
        .unwrap();
    b.web
        .execute("window.__noReload = true;", vec![])
        .await
        .unwrap();
    let mut live = event("10.53.0.1", 80_000, 0.9);
    live.threat_name = "LIVE_Update.Arrives".into();
    s.admin.post_events(&batch(vec![live])).await.unwrap();
    b.web
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//td[contains(@class,'threat')]/a[text()='LIVE_Update.Arrives']",
        ))
        .await
        .expect("the new incident arrives live");
    assert_eq!(
        b.web
            .execute("return window.__noReload === true;", vec![])
            .await
            .unwrap(),
        json!(true),
        "the page was not reloaded"
    );

    // Logout ends the session.
    b.submit("#logout").await;
    assert_eq!(b.path().await, "/login");
    b.go(&s, "/incidents").await;
    assert_eq!(b.path().await, "/login");
}

#[tokio::test]
async fn mcm_ui_shows_every_cm_and_says_when_one_is_down() {
    let mcm = node("mcm-ui", 1).await;
    convert(&mcm).await;
    let east = node("cm-east", 2).await;
    let west = node("cm-west", 3).await;
    assert!(register(&east, &mcm).await.0);
    assert!(register(&west, &mcm).await.0);
    let Some(b) = browser().await else { return };
    for (cm, base) in [(&east, 60), (&west, 70)] {
        let events: Vec<_> = (0..3)
            .map(|i| event(&format!("10.{base}.0.{}", i + 1), 100 + i, 0.8))
            .collect();
        cm.admin.post_events(&batch(events)).await.unwrap();
    }
    let mut hostile = event("10.61.0.9", 400, 0.9);
    hostile.threat_name = XSS_THREAT.into();
    hostile.endpoint_name = Some(XSS_HOST.into());
    hostile.source_name = Some(XSS_SOURCE.into());
    east.admin.post_events(&batch(vec![hostile])).await.unwrap();
    assert!(
        eventually(15, || async {
            mcm.admin
                .incidents(&Default::default())
                .await
                .unwrap()
                .items
                .len()
                == 7
        })
        .await
    );
    let west_id = cm_id_of(&mcm, "cm-west").await;

    b.login(&mcm, "admin", &mcm.admin_password).await;
    assert_eq!(
        b.all_text("header nav a").await,
        ["Incidents", "Config"],
        "the MCM has two tabs"
    );
    assert_eq!(b.text("#refresh").await, "Refresh");
    assert_eq!(b.text("#logout").await, "Logout");
    assert_eq!(b.text("#incidents thead th").await, "CM Name");
    let names = b.all_text("#rows td.cm").await;
    assert!(
        names.contains(&"cm-east".to_owned()) && names.contains(&"cm-west".to_owned()),
        "{names:?}"
    );
    assert!(
        b.all_text("#rows td.threat a")
            .await
            .contains(&XSS_THREAT.to_owned())
    );
    b.inert().await;
    b.snap("mcm-incidents.png").await;

    // An incident of cm-east, live from its CM.
    b.mark().await;
    b.web.find(Locator::XPath("//tr[td[@class='cm']='cm-east']/td[contains(@class,'threat')]/a[text()='TROJAN_Zemot.CY']")).await.unwrap().click().await.unwrap();
    b.loaded("the incident link").await;
    let summary = b.text("#summary").await;
    assert!(
        summary.contains("cm-east") && summary.contains("127.0.0.2"),
        "{summary}"
    );
    assert!(b.text("#events").await.contains("TROJAN_Zemot.CY"));
    b.snap("mcm-incident.png").await;

    b.submit("header nav a[href='/config']").await;
    b.submit("nav.side a[href='/config/cms']").await;
    let cms = b.text("#cms").await;
    assert!(
        cms.contains("cm-east") && cms.contains("cm-west") && cms.contains("online"),
        "{cms}"
    );
    assert_eq!(b.count("#cms button, #cms form").await, 0, "no delete");
    b.snap("mcm-secondary-cms.png").await;

    // cm-west stops: its incident page says so plainly and keeps the Summary.
    let west_incident = mcm
        .admin
        .incidents(&aerie_proto::incidents::IncidentListParams {
            cm: Some(west_id.to_string()),
            ..Default::default()
        })
        .await
        .unwrap()
        .items[0]
        .incident_id;
    let addr = west.running.addr;
    west.shutdown.cancel();
    assert!(
        eventually(15, || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await
    );
    b.go(&mcm, &format!("/incidents/{west_id}/{west_incident}"))
        .await;
    let notice = b.text("#unreachable").await;
    assert!(
        notice.contains("CM cm-west (127.0.0.3) is unreachable"),
        "{notice}"
    );
    assert!(b.text("#summary").await.contains("cm-west"));

    b.go(&mcm, "/uploads").await;
    assert!(
        b.text("main").await.contains("404"),
        "no Uploads on the MCM"
    );
}

/// A plain HTTPS client that does not follow redirects and trusts the test's self-signed
/// certificate, to look at the web UI's answers one by one.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn forms_need_the_session_token_and_our_origin() {
    let s = start().await;
    let id = s
        .admin
        .post_events(&batch(vec![event("10.54.0.1", 100, 0.9)]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    let http = raw_client();
    let origin = s.url("");
    let login = |origin: String| {
        http.post(s.url("/login"))
            .header("origin", origin)
            .form(&[
                ("username", "admin"),
                ("password", s.admin_password.as_str()),
            ])
            .send()
    };
    let refused = login("https://evil.example".into()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&refused, "aerie_session").is_none());
    let ok = login(origin.clone()).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&ok, "aerie_session").expect("a session cookie");

    let page = http
        .get(s.url(&format!("/incidents/{id}")))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned();
    let comment = |token: String, origin: String, text: &'static str| {
        http.post(s.url(&format!("/incidents/{id}/comment")))
            .header("cookie", &session)
            .header("origin", origin)
            .form(&[("_csrf", token.as_str()), ("comment", text)])
            .send()
    };
    let forged = comment("0".repeat(64), origin.clone(), "forged")
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("did not come from Aerie")
    );
    let cross = comment(csrf.clone(), "https://evil.example".into(), "cross-site")
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let real = comment(csrf, origin, "from the page").await.unwrap();
    assert_eq!(real.status(), StatusCode::SEE_OTHER);
    let d: aerie_proto::incidents::IncidentDetail = s
        .admin
        .get(&format!("/api/v1/incidents/{id}"))
        .await
        .unwrap();
    let comments: Vec<&str> = d
        .status_history
        .iter()
        .map(|h| h.comment.as_str())
        .collect();
    assert_eq!(comments, ["from the page"]);
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_address() {
    let s = start().await;
    for _ in 0..10 {
        assert!(s.anon.login("admin", "wrong-password").await.is_err());
    }
    let resp = s
        .anon
        .http()
        .post(s.url("/api/v1/login"))
        .json(&json!({"username": "admin", "password": s.admin_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let wait: u64 = resp.headers()[reqwest::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("too many failed logins")
    );
    let page = raw_client()
        .post(s.url("/login"))
        .header("origin", s.url(""))
        .form(&[
            ("username", "admin"),
            ("password", s.admin_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Too many failed logins")
    );
}

/// Logs in through the form; returns the session cookie.
async fn form_login(s: &TestServer, http: &reqwest::Client, user: &str, password: &str) -> String {
    let resp = http
        .post(s.url("/login"))
        .header("origin", s.url(""))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    set_cookie(&resp, "aerie_session").expect("a session cookie")
}

/// Every page the Config tab links to answers, on a CM and on the MCM: no dead links.
#[tokio::test]
async fn config_links_all_lead_somewhere() {
    let mcm = node("mcm-cfg", 1).await;
    convert(&mcm).await;
    let cm = node("cm-cfg", 2).await;
    assert!(register(&cm, &mcm).await.0);
    let http = raw_client();
    for (s, only_here, not_here) in [
        (&cm, "/config/mcm", "/config/cms"),
        (&mcm, "/config/cms", "/config/mcm"),
    ] {
        let cookie = form_login(s, &http, "admin", &s.admin_password).await;
        let get = |path: String| {
            http.get(s.url(&path))
                .header("cookie", cookie.clone())
                .send()
        };
        let index = get("/config".into()).await.unwrap().text().await.unwrap();
        let links: Vec<String> = index
            .split("href=\"/config/")
            .skip(1)
            .map(|rest| format!("/config/{}", rest.split('"').next().unwrap()))
            .collect();
        assert!(
            links.contains(&only_here.to_owned()) && !links.contains(&not_here.to_owned()),
            "{links:?}"
        );
        assert_eq!(
            links.len(),
            8,
            "four entries, each in the side list and the index: {links:?}"
        );
        for link in links {
            let resp = get(link.clone()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{link}");
        }
    }
    let cookie = form_login(&cm, &http, "admin", &cm.admin_password).await;
    let settings = http
        .get(cm.url("/config/mcm"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        settings.contains(&mcm.running.addr.to_string()) && settings.contains("admin"),
        "{settings}"
    );
}

/// A viewer sees the incident and its evidence but no action forms; the API refuses them
/// anyway (tested in investigation.rs).
#[tokio::test]
async fn a_viewer_gets_no_action_forms() {
    let s = start().await;
    let id = s
        .admin
        .post_events(&batch(vec![event("10.55.0.1", 100, 0.9)]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    let _: aerie_proto::investigation::UserOut = s
        .admin
        .post(
            "/api/v1/users",
            &json!({"username": "vic", "password": "passw0rd-long", "role": "viewer"}),
        )
        .await
        .unwrap();
    let http = raw_client();
    let cookie = form_login(&s, &http, "vic", "passw0rd-long").await;
    let page = http
        .get(s.url(&format!("/incidents/{id}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"summary\"") && page.contains("id=\"mitigations\""));
    for form in [
        "status-form",
        "comment-form",
        "whitelist-form",
        "/mitigate",
        "/revoke",
    ] {
        assert!(!page.contains(form), "a viewer sees {form}");
    }
}
