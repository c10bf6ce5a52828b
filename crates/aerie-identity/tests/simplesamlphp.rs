//! The SAML service provider against a real SimpleSAMLphp IdP: an SP-initiated login
//! (the browser's part scripted over HTTP, cookies and all), then the refusals: a
//! replayed response, an altered one, an expired one, and unsigned assertions.

use std::{
    collections::{BTreeMap, HashSet},
    time::{Duration, SystemTime},
};

use aerie_identity::{saml::ServiceProvider, testing::SimpleSamlPhp};
use base64::Engine;

const SP: &str = "https://aerie.test/sp";
const ACS: &str = "https://127.0.0.1:9443/saml/acs";

/// A browser without JavaScript: follows redirects and keeps cookies.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all(reqwest::header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            if let Some((name, rest)) = v.split_once('=') {
                self.cookies
                    .insert(name.to_owned(), rest.split(';').next().unwrap().to_owned());
            }
        }
    }

    fn cookie(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Where a redirect points, absolute.
    fn location(resp: &reqwest::Response, from: &str) -> Option<String> {
        if !resp.status().is_redirection() {
            return None;
        }
        let to = resp.headers()["location"].to_str().unwrap();
        Some(if to.starts_with("http") {
            to.to_owned()
        } else {
            format!("{}{to}", origin(from))
        })
    }

    /// GETs `url`, then any redirects; returns the last URL and body.
    async fn get(&mut self, mut url: String) -> (String, String) {
        for _ in 0..10 {
            let resp = self
                .http
                .get(&url)
                .header("cookie", self.cookie())
                .send()
                .await
                .unwrap();
            self.keep(&resp);
            match Self::location(&resp, &url) {
                Some(to) => url = to,
                None => return (url, resp.text().await.unwrap()),
            }
        }
        panic!("too many redirects");
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> (String, String) {
        let resp = self
            .http
            .post(url)
            .header("cookie", self.cookie())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        match Self::location(&resp, url) {
            Some(to) => self.get(to).await,
            None => (url.to_owned(), resp.text().await.unwrap()),
        }
    }
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").unwrap();
    format!("{}://{}", rest.0, rest.1.split('/').next().unwrap())
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    let value = tag.split("value=\"").nth(1)?.split('"').next()?;
    Some(
        value
            .replace("&#43;", "+")
            .replace("&#x2B;", "+")
            .replace("&amp;", "&")
            .replace("&#61;", "="),
    )
}

/// Logs `user` in at the IdP for a login `sp` started; returns the SAMLResponse and
/// RelayState the IdP's auto-POST form would send.
async fn idp_login(redirect: String, user: &str, password: &str) -> (String, Option<String>) {
    let mut b = Browser::new();
    let (url, page) = b.get(redirect).await;
    let state = url
        .split("AuthState=")
        .nth(1)
        .map(|s| urlencoding_decode(s.split('&').next().unwrap()))
        .or_else(|| hidden(&page, "AuthState"))
        .unwrap_or_else(|| panic!("no login form at {url}:\n{page}"));
    let (_, page) = b
        .post(
            url.split('?').next().unwrap(),
            &[
                ("username", user),
                ("password", password),
                ("AuthState", &state),
            ],
        )
        .await;
    let response =
        hidden(&page, "SAMLResponse").unwrap_or_else(|| panic!("no SAMLResponse:\n{page}"));
    (response, hidden(&page, "RelayState"))
}

fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn sp_initiated_login_and_its_refusals() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let Some(idp) = SimpleSamlPhp::start(SP, ACS) else {
        return;
    };
    let metadata = Browser::new().get(idp.entity_id()).await.1;
    let sp = ServiceProvider::new(SP, ACS, &idp.entity_id(), &metadata).unwrap();
    assert!(
        sp.metadata_xml().contains(ACS),
        "the SP metadata names its ACS"
    );

    let (redirect, pending) = sp.start("/incidents").unwrap();
    let (response, relay) = idp_login(redirect, "alice", "alicepass").await;
    assert_eq!(relay.as_deref(), Some("/incidents"));
    let user = sp
        .finish(&pending, &response, relay.as_deref(), SystemTime::now())
        .unwrap();
    assert_eq!(user.name_id, "alice@example.com");
    assert_eq!(user.values("groups"), ["soc-analysts"]);

    // The caller's replay cache: each identifier once.
    let mut cache: HashSet<String> = user.seen.iter().map(|(k, _)| k.clone()).collect();
    assert!(
        cache.iter().any(|k| k.starts_with("response_id:")),
        "{cache:?}"
    );
    let again = sp
        .finish(&pending, &response, relay.as_deref(), SystemTime::now())
        .unwrap();
    assert!(
        again.seen.iter().any(|(k, _)| !cache.insert(k.clone())),
        "a replayed response reuses identifiers the cache holds"
    );

    // Altered: a signed response with another user's name in it.
    let xml = base64::engine::general_purpose::STANDARD
        .decode(&response)
        .unwrap();
    let altered = String::from_utf8(xml)
        .unwrap()
        .replace("alice@example.com", "mallory@example.com");
    let altered = base64::engine::general_purpose::STANDARD.encode(altered);
    let err = sp
        .finish(&pending, &altered, relay.as_deref(), SystemTime::now())
        .unwrap_err();
    assert!(err.to_string().contains("Signature"), "{err}");

    // Expired: the same response a day later.
    let later = SystemTime::now() + Duration::from_secs(86_400);
    assert!(
        sp.finish(&pending, &response, relay.as_deref(), later)
            .is_err()
    );

    // Unsigned assertions (the response alone signed) are refused.
    let unsigned_sp = format!("{SP}-unsigned");
    let sp2 = ServiceProvider::new(&unsigned_sp, ACS, &idp.entity_id(), &metadata).unwrap();
    let (redirect, pending) = sp2.start("/").unwrap();
    let (response, relay) = idp_login(redirect, "alice", "alicepass").await;
    let err = sp2
        .finish(&pending, &response, relay.as_deref(), SystemTime::now())
        .unwrap_err();
    assert!(
        err.to_string().contains("AssertionSignatureRequired"),
        "{err}"
    );
}
