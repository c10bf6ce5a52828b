//! The web UI in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver), against real daemons over HTTPS. Assertions are on what the page shows.
//!
//! Without chromedriver the tests are skipped with a message, except under `CI=true`,
//! where they fail (`.ci/run` installs Debian's `chromium` and `chromium-driver`). Set
//! `AERIE_SCREENSHOTS=DIR` to save the screenshots the docs use.

#[path = "../common/mod.rs"]
mod common;

use std::{net::TcpListener, os::unix::process::CommandExt, process::Child, time::Duration};

use aerie_client::artifacts;
use aerie_proto::events::{BehaviourJson, FileJson};
use common::{TestServer, batch, cm_id_of, convert, event, eventually, node, register, start};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::json;

mod backup;
mod campaigns;
mod certificates;
mod cm;
mod forms;
mod gss;
mod licensing;
mod mcm;
mod radius;
mod saml;
mod syslog;
mod system;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(15);

struct Browser {
    driver: Child,
    web: Client,
}

impl Drop for Browser {
    /// Ends chromedriver and every browser it started (its process group), also when the
    /// test panicked, so that no Chromium outlives the test run.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
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
        .process_group(0)
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

/// The text of the flash message a form's redirect carries.
fn flash_text(resp: &reqwest::Response) -> String {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let flash = set_cookie(resp, "aerie_flash").expect("a flash message");
    let value = flash.trim_start_matches("aerie_flash=");
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, value).unwrap();
    let flash: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    flash["text"].as_str().unwrap().to_owned()
}

/// The CSRF token of the first form of a page.
fn csrf_of(page: &str) -> String {
    page.split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned()
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
