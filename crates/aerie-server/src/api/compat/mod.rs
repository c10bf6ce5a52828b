//! The original appliance's HTTP API (`/cyadmin/api.php?op=…`,
//! `/cyadmin/cgi-bin/file_submit`), kept for the integrations customers already run: a
//! thin translation over the same operations as `/api/v1`. Its transport rules
//! (JATP-API.md §5.1): the API key raw in `Authorization` or as `api_key`, or the
//! `SESSID` cookie of a `login`; parameters from the query string and the form body
//! merged (the body wins); JSON replies whose `status` is 0 on success (and then no
//! `error_msg`) or negative with `error_msg`, always with HTTP 200. docs/jatp-api.md
//! maps every op.

mod details;
mod mcm;
mod ops;
mod rows;
mod submit;

use std::net::SocketAddr;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Multipart, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{any, get},
};
use serde_json::{Map, Value, json};

use crate::{
    auth::{Caller, Credential, caller_for_secret},
    error::OpError,
    state::AppState,
};

/// The cookie a `login` sets.
pub const SESSION_COOKIE: &str = "SESSID";

/// Request bodies up to this size: a file of [`crate::ops::uploads::MAX_UPLOAD_BYTES`]
/// and its multipart framing.
const MAX_BODY: usize = crate::ops::uploads::MAX_UPLOAD_BYTES + 1024 * 1024;

pub fn router() -> Router<AppState> {
    let api = || any(api_php).layer(DefaultBodyLimit::max(MAX_BODY));
    let file_submit = || any(submit::file_submit).layer(DefaultBodyLimit::max(MAX_BODY));
    Router::new()
        .route("/cyadmin/api.php", api())
        .route("//cyadmin/api.php", api())
        .route("/cyadmin/cgi-bin/file_submit", file_submit())
        .route("//cyadmin/cgi-bin/file_submit", file_submit())
        .route("/cyadmin/index.html", get(deep_link))
        .route("/admin/index.html", get(deep_link))
}

/// Status codes of failed calls, by what went wrong.
pub mod codes {
    pub const INVALID: i64 = -1;
    pub const UNAUTHENTICATED: i64 = -2;
    pub const FORBIDDEN: i64 = -3;
    pub const NOT_FOUND: i64 = -4;
    pub const CONFLICT: i64 = -5;
    pub const TOO_LARGE: i64 = -6;
    pub const UNAVAILABLE: i64 = -7;
    pub const INTERNAL: i64 = -8;
    pub const PENDING: i64 = -9;
    pub const UNKNOWN_OP: i64 = -10;
}

/// A failed call as the original answered it: HTTP 200, a negative `status`, `error_msg`.
#[derive(Debug)]
pub struct Failed {
    pub status: i64,
    pub message: String,
}

impl Failed {
    pub fn new(status: i64, message: impl Into<String>) -> Self {
        Failed {
            status,
            message: message.into(),
        }
    }
}

impl From<OpError> for Failed {
    fn from(e: OpError) -> Self {
        let status = match e.status() {
            StatusCode::UNAUTHORIZED => codes::UNAUTHENTICATED,
            StatusCode::FORBIDDEN => codes::FORBIDDEN,
            StatusCode::NOT_FOUND => codes::NOT_FOUND,
            StatusCode::CONFLICT => codes::CONFLICT,
            StatusCode::PAYLOAD_TOO_LARGE => codes::TOO_LARGE,
            StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
            | StatusCode::TOO_MANY_REQUESTS => codes::UNAVAILABLE,
            s if s.is_server_error() => codes::INTERNAL,
            _ => codes::INVALID,
        };
        Failed::new(status, e.to_string())
    }
}

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        json_reply(json!({"status": self.status, "error_msg": self.message}))
    }
}

/// A successful reply: `fields` and `"status": 0`.
pub fn ok(mut fields: Map<String, Value>) -> Response {
    fields.insert("status".into(), json!(0));
    json_reply(Value::Object(fields))
}

fn json_reply(v: Value) -> Response {
    let mut resp = (StatusCode::OK, v.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A successful reply whose one list is streamed: `{"status":0,"NAME":[` … `]}`.
pub fn streamed(
    name: &'static str,
    items: impl futures::Stream<Item = Result<Vec<Map<String, Value>>, OpError>> + Send + 'static,
) -> Response {
    use futures::StreamExt;
    let head = futures::stream::once(async move {
        Ok::<_, std::io::Error>(Bytes::from(format!("{{\"status\":0,\"{name}\":[")))
    });
    let mut first = true;
    let body = items.map(move |page| match page {
        Ok(rows) => {
            let mut out = String::new();
            for row in rows {
                if !std::mem::take(&mut first) {
                    out.push(',');
                }
                out.push_str(&Value::Object(row).to_string());
            }
            Ok(Bytes::from(out))
        }
        // A list cut short must not read as a whole one: the body breaks off.
        Err(e) => {
            tracing::warn!(list = name, "streamed list failed: {e}");
            Err(std::io::Error::other(e.to_string()))
        }
    });
    let tail = futures::stream::once(async { Ok(Bytes::from_static(b"]}")) });
    let mut resp = Body::from_stream(head.chain(body).chain(tail)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// The parameters of a call: the query string's, then the form body's (which win), and
/// the multipart body's files.
#[derive(Default)]
pub struct Params {
    values: Vec<(String, String)>,
    pub files: Vec<FilePart>,
}

/// A file part of a multipart body.
pub struct FilePart {
    pub field: String,
    pub file_name: Option<String>,
    pub bytes: Bytes,
}

impl Params {
    /// The last value given for `name` (the body's over the query's).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first of `names` given with a non-empty value.
    pub fn any(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.get(n).filter(|v| !v.trim().is_empty()))
    }

    /// A required parameter.
    pub fn required(&self, name: &str) -> Result<&str, Failed> {
        self.get(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Failed::new(codes::INVALID, format!("missing parameter {name}")))
    }

    /// An integer parameter, if given.
    pub fn int(&self, name: &str) -> Result<Option<i64>, Failed> {
        match self.get(name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Failed::new(
                    codes::INVALID,
                    format!("{name} must be an integer, not {v:?}"),
                )
            }),
        }
    }

    /// The file part named `field`, or a text field of that name as bytes.
    pub fn file(&self, field: &str) -> Option<(Option<&str>, Bytes)> {
        if let Some(f) = self.files.iter().find(|f| f.field == field) {
            return Some((f.file_name.as_deref(), f.bytes.clone()));
        }
        self.get(field)
            .map(|v| (None, Bytes::copy_from_slice(v.as_bytes())))
    }

    fn push_query(&mut self, query: Option<&str>) {
        if let Some(q) = query {
            self.values
                .extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
    }
}

/// Reads a request's parameters; multipart text fields count as form fields and file
/// parts are kept as [`Params::files`].
pub async fn read_params(req: Request) -> Result<(HeaderMap, Params), Failed> {
    let headers = req.headers().clone();
    let mut params = Params::default();
    params.push_query(req.uri().query());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(req, &())
            .await
            .map_err(|e| Failed::new(codes::INVALID, format!("unreadable multipart body: {e}")))?;
        while let Some(field) = multipart.next_field().await.map_err(|e| {
            let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                codes::TOO_LARGE
            } else {
                codes::INVALID
            };
            Failed::new(status, format!("unreadable multipart body: {e}"))
        })? {
            let name = field.name().unwrap_or("").to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|e| {
                Failed::new(
                    codes::TOO_LARGE,
                    format!(
                        "multipart part {name:?} unreadable (at most {} MiB): {e}",
                        MAX_BODY >> 20
                    ),
                )
            })?;
            match file_name {
                Some(_) => params.files.push(FilePart {
                    field: name,
                    file_name,
                    bytes,
                }),
                None => match String::from_utf8(bytes.to_vec()) {
                    Ok(text) => params.values.push((name, text)),
                    Err(_) => params.files.push(FilePart {
                        field: name,
                        file_name: None,
                        bytes,
                    }),
                },
            }
        }
    } else {
        let body = Bytes::from_request(req, &())
            .await
            .map_err(|e| Failed::new(codes::TOO_LARGE, format!("unreadable request body: {e}")))?;
        // A form body, or an empty one with no Content-Type; anything else is not a
        // form and carries no parameters.
        if content_type.is_empty() || content_type.starts_with("application/x-www-form-urlencoded")
        {
            params
                .values
                .extend(form_urlencoded::parse(&body).into_owned());
        }
    }
    Ok((headers, params))
}

/// The caller: the API key in `Authorization` (raw, or after `Bearer `) or in
/// `api_key`, else the `SESSID` cookie of a `login`.
pub async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Caller, Failed> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().strip_prefix("Bearer ").unwrap_or(v.trim()).trim())
        .filter(|v| !v.is_empty());
    let (secret, credential) = match header.or_else(|| params.any(&["api_key"])) {
        Some(key) => {
            let credential = if crate::secret::SecretKind::Session.marks(key) {
                Credential::SessionToken
            } else {
                Credential::ApiKey
            };
            (key.to_owned(), credential)
        }
        None => match crate::auth::cookie(headers, SESSION_COOKIE) {
            Some(token) => (token, Credential::SessionToken),
            None => {
                return Err(Failed::new(
                    codes::UNAUTHENTICATED,
                    "authentication required: an API key in the Authorization header or api_key, or the SESSID cookie of a login",
                ));
            }
        },
    };
    caller_for_secret(headers, state, secret, credential)
        .await
        .map_err(Failed::from)
}

/// `GET|POST /cyadmin/api.php?op=…`.
async fn api_php(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    // HTTP/2 names the host in the URI, HTTP/1.1 in `Host`.
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let (headers, params) = match read_params(req).await {
        Ok(p) => p,
        Err(f) => return f.into_response(),
    };
    let op = params.get("op").unwrap_or("").to_owned();
    let call = ops::Call {
        state: &state,
        headers: &headers,
        params: &params,
        peer,
        host: &host,
    };
    match call.run(&op).await {
        Ok(resp) => resp,
        Err(f) => f.into_response(),
    }
}

/// `/cyadmin/index.html?event_id=N` (or `incident_id=N`), the links integrations put in
/// their feeds: our incident page.
async fn deep_link(State(state): State<AppState>, req: Request) -> Response {
    let mut params = Params::default();
    params.push_query(req.uri().query());
    let viewer = match crate::auth::cookie(req.headers(), crate::auth::SESSION_COOKIE) {
        Some(token) => caller_for_secret(req.headers(), &state, token, Credential::SessionCookie)
            .await
            .ok(),
        None => None,
    };
    match ops::deep_link(&state, &params, viewer.as_ref()).await {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(f) => (StatusCode::NOT_FOUND, f.message).into_response(),
    }
}
