//! The incident page's forms (status, comment, mitigate, revoke, whitelist): applied on
//! a CM through the service layer, forwarded to the owning CM on the MCM.

use axum::{
    Form,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderValue, Method},
    response::Response,
};

use aerie_domain::{
    ids::{MitigationId, parse_id},
    incident::IncidentId,
    mitigation::MitigationKind,
    status::Status,
    text::Text,
};
use aerie_proto::{
    incidents::StatusRequest,
    investigation::{CommentRequest, MitigationRequest, WhitelistRequest},
};

use super::{Session, UiError, flash};
use crate::ops::{
    incidents,
    investigation::{self, Indicator},
    remote::{self, CmRequest},
};
use crate::rights::Can;
use crate::{api, auth::Caller, error::OpError, state::AppState};

/// A form on the incident page; which fields count depends on the action.
#[derive(serde::Deserialize, Default)]
pub struct ActionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    status: Option<String>,
    comment: Option<String>,
    kind: Option<String>,
    value: Option<String>,
    mitigation: Option<String>,
    indicator: Option<String>,
    reason: Option<String>,
}

/// An incident action, checked.
enum Action {
    Status(Status, Text),
    Comment(Text),
    Mitigate(MitigationKind, String),
    Revoke(MitigationId),
    Whitelist(Indicator),
}

impl Action {
    /// The form names, as the page's form actions end.
    const NAMES: [&str; 5] = ["status", "comment", "mitigate", "revoke", "whitelist"];

    /// A 404 for a form this page does not have; its inputs are checked by [`Action::parse`].
    fn known(action: &str) -> Result<(), OpError> {
        if Self::NAMES.contains(&action) {
            Ok(())
        } else {
            Err(Self::unknown(action))
        }
    }

    fn unknown(action: &str) -> OpError {
        OpError::not_found(format!("incident action {action:?}"))
    }

    fn parse(action: &str, f: ActionForm) -> Result<Action, OpError> {
        let text = |v: Option<String>| v.unwrap_or_default();
        Ok(match action {
            "status" => Action::Status(
                incidents::status(&text(f.status))?,
                incidents::comment_text(&text(f.comment))?,
            ),
            "comment" => Action::Comment(incidents::comment_text(&text(f.comment))?),
            "mitigate" => Action::Mitigate(
                investigation::mitigation_kind(&text(f.kind))?,
                text(f.value),
            ),
            "revoke" => Action::Revoke(parse_id("mitigation", &text(f.mitigation))?),
            "whitelist" => {
                let indicator = text(f.indicator);
                let (kind, value) = indicator.split_once('|').ok_or_else(|| {
                    OpError::invalid("indicator", "choose an indicator to whitelist")
                })?;
                Action::Whitelist(Indicator::parse(kind, value, &text(f.reason))?)
            }
            other => return Err(Self::unknown(other)),
        })
    }

    fn done(&self) -> &'static str {
        match self {
            Action::Status(..) => "Status changed.",
            Action::Comment(_) => "Comment added.",
            Action::Mitigate(..) => "Mitigation applied; it is in the feed now.",
            Action::Revoke(_) => "Mitigation revoked.",
            Action::Whitelist(_) => "Whitelisted; matching incidents are benign now.",
        }
    }

    /// Applies it to this CM's incident `id`, with the right the action needs.
    async fn apply(self, state: &AppState, caller: Caller, id: IncidentId) -> Result<(), OpError> {
        match self {
            Action::Status(to, comment) => {
                incidents::change_status(state, &Can::check(caller)?, id, to, &comment)
                    .await
                    .map(drop)
            }
            Action::Comment(comment) => {
                incidents::comment(state, &Can::check(caller)?, id, &comment)
                    .await
                    .map(drop)
            }
            Action::Mitigate(kind, value) => {
                investigation::apply_mitigation(state, &Can::check(caller)?, id, kind, &value)
                    .await
                    .map(drop)
            }
            Action::Revoke(m) => {
                investigation::revoke_mitigation(state, &Can::check(caller)?, id, m)
                    .await
                    .map(drop)
            }
            Action::Whitelist(i) => {
                investigation::add_whitelist_for_incident(state, &Can::check(caller)?, id, i)
                    .await
                    .map(drop)
            }
        }
    }

    /// As the CM's incident API takes it.
    fn request(&self) -> Result<CmRequest, OpError> {
        let (method, action, body) = match self {
            Action::Status(to, comment) => (
                Method::POST,
                "status".into(),
                json(&StatusRequest {
                    status: to.to_string(),
                    comment: comment.as_str().to_owned(),
                })?,
            ),
            Action::Comment(comment) => (
                Method::POST,
                "comments".into(),
                json(&CommentRequest {
                    comment: comment.as_str().to_owned(),
                })?,
            ),
            Action::Mitigate(kind, value) => (
                Method::POST,
                "mitigations".into(),
                json(&MitigationRequest {
                    kind: kind.to_string(),
                    value: value.clone(),
                })?,
            ),
            Action::Revoke(m) => (Method::DELETE, format!("mitigations/{m}"), None),
            Action::Whitelist(i) => (
                Method::POST,
                "whitelist".into(),
                json(&WhitelistRequest {
                    kind: i.kind.to_string(),
                    value: i.value.clone(),
                    reason: i.reason.as_str().to_owned(),
                })?,
            ),
        };
        Ok(CmRequest {
            method,
            action,
            query: None,
            content_type: body
                .is_some()
                .then(|| HeaderValue::from_static("application/json")),
            body: Bytes::from(body.unwrap_or_default()),
        })
    }
}

/// On a CM: `POST /incidents/{id}/{action}`.
pub async fn local_action(
    State(state): State<AppState>,
    session: Session,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    let id: IncidentId = parse_id("id", &id)?;
    Action::known(&action)?;
    let page = format!("/incidents/{id}");
    let result = match Action::parse(&action, f) {
        Ok(action) => {
            let done = action.done();
            let applied = action.apply(&state, session.caller.clone(), id).await;
            applied.map(|()| done.to_owned())
        }
        Err(e) => Err(e),
    };
    Ok(flash::redirect(&page, result.map_err(|e| e.to_string())))
}

/// On the MCM: `POST /incidents/{cm}/{incident}/{action}`, forwarded to the owning CM.
pub async fn remote_action(
    State(state): State<AppState>,
    session: Session,
    Path((cm, id, action)): Path<(String, String, String)>,
    Form(f): Form<ActionForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    let (cm, id) = api::remote::ids(&cm, &id)?;
    let cm_row = remote::owned(&state, cm, id).await?;
    Action::known(&action)?;
    let page = format!("/incidents/{cm}/{id}");
    let result = async {
        let action = Action::parse(&action, f)?;
        let can = Can::check(session.caller.clone())?;
        remote::forward(&state, &can, cm, id, action.request()?).await?;
        Ok::<_, OpError>(format!("{} (on CM {})", action.done(), cm_row.name))
    };
    Ok(flash::redirect(
        &page,
        result.await.map_err(|e| e.to_string()),
    ))
}

fn json(body: &impl serde::Serialize) -> Result<Option<Vec<u8>>, OpError> {
    serde_json::to_vec(body)
        .map(Some)
        .map_err(OpError::internal)
}
