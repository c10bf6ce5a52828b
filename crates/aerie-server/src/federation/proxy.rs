//! The MCM's live calls to the CM that owns an incident. The MCM keeps only the incident
//! table; details and actions come from, and go to, the CM — or fail plainly, naming it.

use axum::{
    body::Body,
    http::{StatusCode, header},
    response::Response,
};
use reqwest::Method;

use aerie_client::{Client, ClientError, Fingerprint};
use aerie_domain::federation::Cm;

use crate::{auth::Caller, error::ApiError, state::AppState};

/// Headers that tell the CM who acts on the MCM.
pub const ACTING_USER: &str = "x-aerie-acting-user";
pub const ACTING_ROLE: &str = "x-aerie-acting-role";
pub const ACTING_PERMISSIONS: &str = "x-aerie-acting-permissions";

/// The CM `id`, if it is registered.
pub async fn registered_cm(state: &AppState, id: i64) -> Result<Cm, ApiError> {
    let cm = state
        .store
        .cm(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("CM {id}")))?;
    if cm.deregistered.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "CM {} ({}) is deregistered; its incidents are no longer reachable",
                cm.name, cm.ip
            ),
        ));
    }
    Ok(cm)
}

fn unreachable(cm: &Cm, why: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        format!("CM {} ({}) is unreachable: {why}", cm.name, cm.ip),
    )
}

fn client_for(cm: &Cm) -> Result<Client, ApiError> {
    let pin: Fingerprint = cm.cert_fingerprint.parse().map_err(|_| {
        ApiError::internal(format!(
            "CM {} has an unreadable pinned certificate",
            cm.name
        ))
    })?;
    let token = cm.proxy_token.as_deref().ok_or_else(|| {
        unreachable(
            cm,
            "it has not finished registering (no proxy token yet)".to_owned(),
        )
    })?;
    Ok(Client::new(&cm.url, pin)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .with_token(token))
}

/// Response headers passed through from the CM.
const PASSED_HEADERS: [header::HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::CONTENT_DISPOSITION,
    header::CONTENT_LENGTH,
];

/// A request to the CM as the calling MCM user.
fn request_as(
    cm: &Cm,
    caller: &Caller,
    method: Method,
    path: &str,
) -> Result<(Client, reqwest::RequestBuilder), ApiError> {
    let client = client_for(cm)?;
    let request = client
        .request(method, path)
        .header(ACTING_USER, caller.user.username.as_str())
        .header(ACTING_ROLE, caller.user.role.as_str())
        .header(ACTING_PERMISSIONS, caller.user.permissions.names());
    Ok((client, request))
}

/// What the MCM answers when a call to the CM failed: the CM's own error (its status,
/// prefixed with its name), or 502 naming it when it could not be reached.
fn failed(cm: &Cm, e: ClientError) -> ApiError {
    match e {
        ClientError::Api { status, body } => ApiError {
            status: StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            message: format!("CM {}: {}", cm.name, body.error),
            field: body.field,
            code: None,
        },
        other if other.is_pin_mismatch() => unreachable(
            cm,
            "it presented another certificate than the one pinned at registration".to_owned(),
        ),
        other => unreachable(cm, other.root_cause()),
    }
}

/// Forwards a request to the CM as the calling MCM user and streams the CM's answer
/// back (artifacts and IVPs pass through without being stored here). Errors from the CM
/// keep their status and name the CM.
pub async fn forward(
    cm: &Cm,
    caller: &Caller,
    method: Method,
    path_and_query: &str,
    content_type: Option<&header::HeaderValue>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (_, mut request) = request_as(cm, caller, method, path_and_query)?;
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct.clone());
    }
    if !body.is_empty() {
        request = request.body(body);
    }
    let resp = request
        .send()
        .await
        .map_err(|e| failed(cm, ClientError::from(e)))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap_or_default();
        return Err(failed(cm, ClientError::answered(status, &bytes)));
    }
    let mut out = Response::builder().status(resp.status().as_u16());
    for name in PASSED_HEADERS {
        if let Some(v) = resp.headers().get(name.as_str()) {
            out = out.header(name, v.as_bytes());
        }
    }
    out.body(Body::from_stream(resp.bytes_stream()))
        .map_err(ApiError::internal)
}

/// Sends `method path` (with an optional JSON body) to the CM as the calling MCM user.
pub async fn call<T: serde::de::DeserializeOwned>(
    cm: &Cm,
    caller: &Caller,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<T, ApiError> {
    let (client, mut request) = request_as(cm, caller, method, path)?;
    if let Some(body) = body {
        request = request.json(body);
    }
    client.send(request).await.map_err(|e| failed(cm, e))
}
