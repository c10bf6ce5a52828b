//! One-shot messages after a form: set on the redirect, shown and cleared by the next page.
//! They travel in a short-lived cookie, never in the URL, so a crafted link cannot put
//! words in Aerie's mouth.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;

const COOKIE: &str = "aerie_flash";

/// A message for the next page.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

/// Redirects (303) to `to` with a message.
pub fn redirect(to: &str, outcome: Result<String, String>) -> Response {
    let flash = match outcome {
        Ok(text) => Flash { ok: true, text },
        Err(text) => Flash { ok: false, text },
    };
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&flash).expect("a flash serialises"));
    let mut resp = Redirect::to(to).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=60"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    resp
}

/// The pending message, if any.
pub fn take(headers: &HeaderMap) -> Option<Flash> {
    let raw = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            pair.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Clears the message once shown.
pub fn clear(resp: &mut Response) {
    resp.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "aerie_flash=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
}
