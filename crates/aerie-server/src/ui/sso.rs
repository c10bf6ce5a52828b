//! The SAML endpoints: this SP's metadata (no login needed), the start of a login (a
//! redirect to the IdP) and the assertion consumer service the IdP's answer is POSTed
//! to.
//!
//! The browser that starts a login keeps a key in a cookie scoped to the ACS; the
//! answer counts only with it (a response injected into another browser logs nobody
//! in). That cookie is `SameSite=None`: the IdP's POST is cross-site. The session
//! cookie stays `SameSite=Strict`, so the ACS answers with a page that moves on to the
//! incidents from our own origin, where the browser sends it.

use std::net::SocketAddr;

use axum::{
    Form,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};

use super::{UiError, layout};
use crate::{
    auth,
    ops::saml::{self, Answer, PENDING_FOR, Refusal},
    state::AppState,
};

/// The cookie holding a started login's key.
const KEY_COOKIE: &str = "aerie_sso";

pub async fn metadata(State(state): State<AppState>) -> Result<Response, UiError> {
    let xml = saml::sp_metadata(&state).await?;
    let mut resp = xml.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    Ok(resp)
}

pub async fn start(State(state): State<AppState>) -> Response {
    match saml::start_login(&state).await {
        Ok(started) => {
            let mut resp = Redirect::to(&started.redirect).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&format!(
                "{KEY_COOKIE}={}; Path=/saml/acs; Secure; HttpOnly; SameSite=None; Max-Age={}",
                started.browser_key,
                PENDING_FOR.num_seconds()
            )) {
                resp.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            resp
        }
        Err(e) => refused_page(e.status(), "Single sign-on unavailable", &e.to_string()),
    }
}

#[derive(serde::Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
    #[serde(rename = "RelayState", default)]
    relay_state: Option<String>,
}

pub async fn acs(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<AcsForm>,
) -> Response {
    if f.saml_response.is_empty() {
        return refused_page(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            "This address takes the answer of your identity provider (a SAMLResponse); \
             none came. Start again from the login page.",
        );
    }
    let key = browser_key(&headers);
    let answer = Answer {
        ip: peer.ip(),
        browser_key: key.as_deref(),
        saml_response: &f.saml_response,
        relay_state: f.relay_state.as_deref(),
    };
    let mut resp = match saml::finish_login(&state, answer).await {
        Ok(Ok(login)) => match auth::session_cookie(&login.token, login.expires) {
            Ok(cookie) => {
                let mut resp = onward(login.landing).into_response();
                resp.headers_mut().append(header::SET_COOKIE, cookie);
                resp
            }
            Err(e) => UiError(e).into_response(),
        },
        Ok(Err(refusal)) => {
            let (status, text) = explain(&refusal);
            refused_page(status, "Sign-in refused", &text)
        }
        Err(e) => UiError(e).into_response(),
    };
    resp.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "aerie_sso=; Path=/saml/acs; Secure; HttpOnly; SameSite=None; Max-Age=0",
        ),
    );
    resp
}

/// The key cookie's value, if the browser sent one.
fn browser_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == KEY_COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// What a refused user reads. Names come from the IdP: maud escapes them.
fn explain(refusal: &Refusal) -> (StatusCode, String) {
    match refusal {
        Refusal::NotStarted => (
            StatusCode::BAD_REQUEST,
            "This sign-in was not started from this browser, or took longer than 10 minutes. \
             Start again from the login page."
                .to_owned(),
        ),
        Refusal::Invalid => (
            StatusCode::UNAUTHORIZED,
            "Your identity provider's answer did not pass its checks (signature, audience or \
             time). Start again; if it keeps happening, your admin will find the reason in \
             the log."
                .to_owned(),
        ),
        Refusal::Replayed => (
            StatusCode::UNAUTHORIZED,
            "This answer from your identity provider was used before. Start again from the \
             login page."
                .to_owned(),
        ),
        Refusal::BadUsername(name) if name.is_empty() => (
            StatusCode::FORBIDDEN,
            "Your identity provider sent no user name in the attribute this appliance reads. \
             Ask your admin to check SAML Settings."
                .to_owned(),
        ),
        Refusal::BadUsername(name) => (
            StatusCode::FORBIDDEN,
            format!(
                "Your identity provider calls you {name:?}, which is not a user name here \
                 (1-64 letters, digits, '.', '_', '-' or '@'). Ask your admin."
            ),
        ),
        Refusal::NoGroup(name) => (
            StatusCode::FORBIDDEN,
            format!(
                "You signed in as {name}, but none of your groups is given a role on this \
                 appliance, so you cannot use it. Ask your admin to add your group to the \
                 mapping in SAML Settings."
            ),
        ),
        Refusal::Disabled(name) => (
            StatusCode::FORBIDDEN,
            format!("The user {name} is disabled here. Ask your admin."),
        ),
        Refusal::NameTaken(name) => (
            StatusCode::FORBIDDEN,
            format!(
                "A user named {name} already exists here and does not sign in with SSO. Ask \
                 your admin."
            ),
        ),
        Refusal::TooMany(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-ins from your address; try again in {secs} s."),
        ),
    }
}

fn refused_page(status: StatusCode, title: &str, text: &str) -> Response {
    let page = layout::bare(
        title,
        html! {
            main.narrow #sso-refused {
                h1 { (title) }
                p.error role="alert" { (text) }
                p { a href="/login" { "Back to the login page" } }
            }
        },
    );
    (status, page).into_response()
}

/// The page after a successful sign-in: it moves on from our own origin.
fn onward(to: &str) -> Markup {
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={ "0;url=" (to) };
                title { "Signed in · Aerie" }
                link rel="stylesheet" href="/ui/static/app.css";
            }
            body.bare {
                main.narrow #sso-done {
                    h1 { "Signed in" }
                    p { a href=(to) { "Continue to the incidents" } }
                }
            }
        }
    }
}
