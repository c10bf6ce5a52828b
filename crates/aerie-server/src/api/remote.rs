//! On the MCM: incident actions forwarded to the CM that owns the incident — the HTTP
//! edge of [`crate::ops::remote`].

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, Method, Uri, header},
    response::Response,
};

use aerie_domain::{ids::CmId, incident::IncidentId};
use aerie_proto::ErrorBody;

use crate::ops::remote::{self as ops, CmRequest};
use crate::rights::{Can, View};
use crate::{error::OpError, state::AppState};

/// The CM and incident ids of a `/{cm}/{id}` path.
pub(crate) fn ids(cm: &str, id: &str) -> Result<(CmId, IncidentId), OpError> {
    Ok((super::path_id("cm", cm)?, super::path_id("id", id)?))
}

/// On the MCM: any incident action (`status`, `comments`, `mitigations`, `whitelist`,
/// `artifacts/{sha256}`, `ivp/{platform}`), forwarded to the CM that owns the incident.
#[utoipa::path(post, path = "/api/v1/incidents/{cm}/{id}/{action}", tag = "federation",
    params(("cm" = i64, Path, description = "CM id"),
        ("id" = i64, Path, description = "Incident id on that CM"),
        ("action" = String, Path, description = "The CM's incident path after /api/v1/incidents/{id}/")),
    responses((status = 200, description = "The CM's answer, streamed"),
        (status = 403, description = "The MCM user's role does not allow it", body = ErrorBody),
        (status = 502, description = "The CM is unreachable", body = ErrorBody)))]
pub async fn forward(
    State(state): State<AppState>,
    can: Can<View>,
    Path((cm, id, action)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OpError> {
    let (cm, id) = ids(&cm, &id)?;
    let request = CmRequest {
        method,
        action,
        query: uri.query().map(str::to_owned),
        content_type: headers.get(header::CONTENT_TYPE).cloned(),
        body,
    };
    ops::forward(&state, &can, cm, id, request).await
}
