//! `POST /cyadmin/cgi-bin/file_submit`: a file for analysis, as the detonation
//! connectors send it — multipart `file` (any file name, with or without a part
//! Content-Type) and `file_meta_json` (`{"file_name": …}`, as a form field or as a file
//! part), in any order. Answers `detail.event_id` (an integer) for `event_details` and
//! `analysis_details` to poll.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{Failed, codes, ok, ops::object, read_params};
use crate::{
    ops,
    rights::{Can, SendEvents},
    state::AppState,
};

pub async fn file_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    match submit(&state, peer, req).await {
        Ok(resp) => resp,
        Err(f) => f.into_response(),
    }
}

async fn submit(state: &AppState, peer: SocketAddr, req: Request) -> Result<Response, Failed> {
    let (headers, params) = read_params(req).await?;
    let caller = super::caller(state, &headers, &params).await?;
    let can = Can::<SendEvents>::check(caller)?;
    let (part_name, bytes) = params
        .files
        .iter()
        .find(|f| f.field == "file")
        .map(|f| (f.file_name.clone(), f.bytes.clone()))
        .or_else(|| params.file("file").map(|(n, b)| (n.map(str::to_owned), b)))
        .ok_or_else(|| Failed::new(codes::INVALID, "missing the multipart part file"))?;
    let meta_name = match params.file("file_meta_json") {
        None => None,
        Some((_, raw)) => {
            let meta: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| {
                Failed::new(codes::INVALID, format!("file_meta_json is not JSON: {e}"))
            })?;
            match meta.get("file_name") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(Failed::new(
                        codes::INVALID,
                        "file_meta_json.file_name must be a string",
                    ));
                }
            }
        }
    };
    let name = meta_name.or(part_name).unwrap_or_default();
    let done = ops::uploads::submit(state, &can, &name, &bytes, peer.ip()).await?;
    Ok(ok(object(json!({
        "detail": {
            "event_id": done.event_id,
            "incident_id": done.incident_id.get(),
            "file_sha256_string": done.sha256.as_str(),
            "file_size": done.size.to_string(),
        }
    }))))
}
