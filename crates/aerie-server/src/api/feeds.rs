//! Block-list feeds for firewalls and EDRs: `/feeds/{ip,domain,url,sha256,quarantine}.txt`,
//! plain text, one entry a line, fetched with the feed credential (as a Bearer token, or
//! as the password of HTTP Basic authentication with any user name).

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use base64::Engine;

use aerie_domain::mitigation::Feed;
use aerie_proto::{ErrorBody, investigation::FeedCredential};

use crate::rights::{Administer, Can};
use crate::{audit, error::OpError, state::AppState};

const CREDENTIAL_HASH: &str = "feeds.credential_hash";

/// Replaces the feed credential; the new one is shown once. Feeds refuse the old one at
/// once.
#[utoipa::path(post, path = "/api/v1/feeds/credential", tag = "investigation",
    responses((status = 200, body = FeedCredential),
        (status = 403, description = "Needs the admin role", body = ErrorBody)))]
pub async fn new_credential(
    State(state): State<AppState>,
    can: Can<Administer>,
) -> Result<Json<FeedCredential>, OpError> {
    let credential = crate::secret::new_secret(crate::secret::SecretKind::FeedCredential);
    state
        .store
        .set_setting(CREDENTIAL_HASH, &crate::secret::secret_hash(&credential))
        .await?;
    audit::by(
        &state,
        can.caller(),
        "feeds.credential",
        "feeds",
        "new feed credential",
    )
    .await?;
    Ok(Json(FeedCredential {
        credential,
        feeds: Feed::ALL
            .iter()
            .map(|f| format!("/feeds/{}.txt", f.as_str()))
            .collect(),
    }))
}

/// The secret presented: `Bearer SECRET`, or Basic with SECRET as the password.
fn presented(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.1.to_owned())
}

fn refused(message: &str) -> Response {
    let mut resp = OpError::unauthenticated(message).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"aerie feeds\""),
    );
    resp
}

/// One feed: the values of every active mitigation of its kind, sorted, one a line.
#[utoipa::path(get, path = "/feeds/{file}", tag = "investigation",
    params(("file" = String, Path, description = "ip.txt, domain.txt, url.txt, sha256.txt or quarantine.txt")),
    responses((status = 200, description = "One entry a line", content_type = "text/plain"),
        (status = 401, description = "Missing or wrong feed credential", body = ErrorBody)))]
pub async fn feed(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, OpError> {
    let Some(expected) = state.store.setting(CREDENTIAL_HASH).await? else {
        return Ok(refused(
            "no feed credential exists yet: an admin creates one with POST /api/v1/feeds/credential",
        ));
    };
    if presented(&headers).map(|s| crate::secret::secret_hash(&s)) != Some(expected) {
        return Ok(refused("wrong or missing feed credential"));
    }
    let feed: Feed = file
        .strip_suffix(".txt")
        .and_then(|name| name.parse().ok())
        .ok_or_else(|| {
            OpError::not_found(format!(
                "feed {file:?} (feeds are {})",
                Feed::ALL
                    .iter()
                    .map(|f| format!("{}.txt", f.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let entries = state.store.feed(feed.kind()).await?;
    let mut body = String::with_capacity(entries.iter().map(|e| e.len() + 1).sum());
    for e in entries {
        body.push_str(&e);
        body.push('\n');
    }
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}
