//! The MCM's live calls to the CM that owns an incident. The MCM keeps only the incident
//! table; details and actions come from, and go to, the CM — or fail plainly, naming it.

use axum::{body::Body, http::header, response::Response};
use reqwest::Method;

use aerie_client::{Client, ClientError, Fingerprint};
use aerie_domain::federation::Cm;

use aerie_domain::ids::CmId;
use aerie_proto::federation::acting;
use aerie_store::Store;

use crate::{error::OpError, rights::Caller};

/// The CM `id`, if it is registered.
pub async fn registered_cm(store: &dyn Store, id: CmId) -> Result<Cm, OpError> {
    let cm = store
        .cm(id)
        .await?
        .ok_or_else(|| OpError::not_found(format!("CM {id}")))?;
    if cm.deregistered.is_some() {
        return Err(OpError::conflict(format!(
            "CM {} ({}) is deregistered; its incidents are no longer reachable",
            cm.name, cm.ip
        )));
    }
    Ok(cm)
}

fn unreachable(cm: &Cm, why: String) -> OpError {
    OpError::Peer {
        status: None,
        message: format!("CM {} ({}) is unreachable: {why}", cm.name, cm.ip),
        field: None,
    }
}

fn client_for(cm: &Cm) -> Result<Client, OpError> {
    let pin: Fingerprint = cm.cert_fingerprint.as_str().parse().map_err(|_| {
        OpError::internal(format!(
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
        .map_err(|e| OpError::internal(e.to_string()))?
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
) -> Result<(Client, reqwest::RequestBuilder), OpError> {
    let client = client_for(cm)?;
    let request = client
        .request(method, path)
        .header(acting::USER, caller.user.username.as_str())
        .header(acting::ROLE, caller.user.role.as_str())
        .header(acting::PERMISSIONS, caller.user.permissions.names());
    Ok((client, request))
}

/// What the MCM answers when a call to the CM failed: the CM's own error (its status,
/// prefixed with its name), or 502 naming it when it could not be reached.
fn failed(cm: &Cm, e: ClientError) -> OpError {
    match e {
        ClientError::Api { status, body } => OpError::Peer {
            status: Some(status.as_u16()),
            message: format!("CM {}: {}", cm.name, body.error),
            field: body.field,
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
) -> Result<Response, OpError> {
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
        .map_err(OpError::internal)
}

/// Sends `method path` (with an optional JSON body) to the CM as the calling MCM user.
pub async fn call<T: serde::de::DeserializeOwned>(
    cm: &Cm,
    caller: &Caller,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<T, OpError> {
    let (client, mut request) = request_as(cm, caller, method, path)?;
    if let Some(body) = body {
        request = request.json(body);
    }
    client.send(request).await.map_err(|e| failed(cm, e))
}

/// Posts a form to the CM as the calling MCM user and reads its JSON answer (the
/// original API's, which answers HTTP 200 for its own errors).
pub async fn post_form(
    cm: &Cm,
    caller: &Caller,
    path: &str,
    form: String,
) -> Result<serde_json::Value, OpError> {
    let (_, request) = request_as(cm, caller, Method::POST, path)?;
    let resp = request
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| failed(cm, ClientError::from(e)))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| failed(cm, ClientError::from(e)))?;
    if !status.is_success() {
        return Err(failed(cm, ClientError::answered(status, &bytes)));
    }
    serde_json::from_slice(&bytes).map_err(|e| unreachable(cm, format!("it answered no JSON: {e}")))
}
