//! Screenshots and traces: uploaded by sensors before the events that reference them,
//! kept once per content, served per incident.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;

use aerie_domain::{artifact::ArtifactKind, text::Sha256Hex};
use aerie_proto::{
    ErrorBody,
    investigation::{ArtifactOut, ArtifactUploadParams},
};

use crate::rights::{Can, SendEvents, View};
use crate::{artifacts, error::OpError, state::AppState};

/// Uploads a screenshot (PNG) or trace (pcap/pcapng) as the request body. Its type is
/// decided by its content; `kind`, when given, must agree. Reference the returned
/// `sha256` in an event's `artifacts`.
#[utoipa::path(post, path = "/api/v1/artifacts", tag = "investigation",
    params(ArtifactUploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored", body = ArtifactOut),
        (status = 200, description = "Already stored", body = ArtifactOut),
        (status = 400, description = "Not a valid PNG or packet capture, or mislabelled", body = ErrorBody),
        (status = 413, description = "Larger than 16 MiB", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    _can: Can<SendEvents>,
    params: Result<Query<ArtifactUploadParams>, QueryRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, OpError> {
    state
        .appliance
        .on_cm(crate::ops::ingest::NOT_ON_THE_MCM)
        .await?;
    let Query(params) = params
        .map_err(|e| OpError::invalid("query", format!("bad query string: {}", e.body_text())))?;
    let too_large = || {
        OpError::too_large(format!(
            "artifacts may be at most {} MiB",
            artifacts::MAX_ARTIFACT_BYTES / (1024 * 1024)
        ))
    };
    let body = body.map_err(|_| too_large())?;
    if body.len() > artifacts::MAX_ARTIFACT_BYTES {
        return Err(too_large());
    }
    let claimed = params
        .kind
        .as_deref()
        .map(|k| k.parse::<ArtifactKind>())
        .transpose()
        .map_err(|e| OpError::invalid("kind", format!("kind: {e}")))?;
    let body_for_check = body.clone();
    let kind = tokio::task::spawn_blocking(move || artifacts::check(claimed, &body_for_check))
        .await
        .map_err(OpError::internal)??;
    let sha = artifacts::digest(&body);
    let now = Utc::now();
    let created = state.store.put_artifact(&sha, kind, &body, now).await?;
    let info = state
        .store
        .artifact_infos(std::slice::from_ref(&sha))
        .await?
        .pop()
        .ok_or_else(|| OpError::internal("a stored artifact is missing"))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ArtifactOut::from(&info))).into_response())
}

/// Downloads one of an incident's screenshots or traces. `?inline=true` shows a
/// screenshot in the browser instead of saving it.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/artifacts/{sha256}", tag = "investigation",
    params(("id" = i64, Path, description = "Incident id"),
        ("sha256" = String, Path, description = "The artifact's SHA-256")),
    responses((status = 200, description = "image/png or application/vnd.tcpdump.pcap"),
        (status = 404, body = ErrorBody),
        (status = 503, description = "Too many downloads in progress", body = ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    _can: Can<View>,
    Path((id, sha)): Path<(String, String)>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, OpError> {
    let incident = super::local_incident(&state, &id).await?;
    let sha = Sha256Hex::parse("sha256", &sha)?;
    if !state.store.incident_has_artifact(incident.id, &sha).await? {
        return Err(OpError::not_found(format!(
            "artifact {sha} of incident {}",
            incident.id
        )));
    }
    let info = state
        .store
        .artifact_infos(std::slice::from_ref(&sha))
        .await?
        .pop()
        .ok_or_else(|| {
            OpError::not_found(format!("artifact {sha} (referenced but never uploaded)"))
        })?;
    let permit = tokio::time::timeout(
        artifacts::DOWNLOAD_WAIT,
        state.downloads.clone().acquire_owned(),
    )
    .await
    .map_err(|_| {
        OpError::unavailable(format!(
            "{} artifact downloads are in progress; try again shortly",
            artifacts::MAX_DOWNLOADS
        ))
    })?
    .map_err(OpError::internal)?;
    let inline =
        params.get("inline").is_some_and(|v| v == "true") && info.kind == ArtifactKind::Screenshot;
    // The name is ours, never the uploader's: nothing in it needs escaping.
    let disposition = format!(
        "{}; filename=\"incident-{}-{}.{}\"",
        if inline { "inline" } else { "attachment" },
        incident.id,
        &sha.as_str()[..12],
        info.kind.extension()
    );
    let body = axum::body::Body::from_stream(artifacts::stream(state.store.clone(), sha, permit));
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(info.kind.media_type()),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(OpError::internal)?,
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(resp)
}
