//! The one error of every operation, [`OpError`], and the one place where it becomes an
//! HTTP answer ([`OpError::status`], `{"error": …, "field": …, "code": …}`).
//!
//! The service layer, the federation worker, the admin socket and start-up all speak
//! `OpError`; only the HTTP edge turns it into a status. Internal detail is logged where
//! the error is made and never sent.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use aerie_domain::{DomainError, user::Permission};
use aerie_proto::{ErrorBody, federation::FederationCode};
use aerie_store::StoreError;

/// Why an operation did not happen, in words for the person who asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    /// Input that breaks a rule; `field` names where it came from, when one is to blame.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// No valid credential came with the request.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's role lacks the right the operation needs.
    #[error(
        "this needs the {needs} permission (the {} roles have it); your role {role} does not",
        roles_with(*.needs)
    )]
    Forbidden { needs: Permission, role: String },
    /// Refused for another reason than a missing right (a cross-site browser request).
    #[error("{0}")]
    Refused(String),
    /// The addressed thing does not exist here (or not on this appliance's side).
    #[error("{0}")]
    NotFound(String),
    /// The stored state forbids it: a taken name, a status moving backwards.
    #[error("{message}")]
    Conflict {
        message: String,
        field: Option<String>,
    },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMedia(String),
    /// Too many attempts; `retry_after` seconds until the next is accepted.
    #[error("{message}")]
    Throttled { message: String, retry_after: u64 },
    /// Not ready to do it now (a store being reconfigured).
    #[error("{0}")]
    Unavailable(String),
    /// The disk holding the data is full: nothing was written.
    #[error(
        "the disk holding this appliance's data is full, so nothing was written: free space \
         on the data dir's disk (or the PostgreSQL server's); writing resumes by itself"
    )]
    StorageFull,
    /// The MCM refused a CM for a reason the CM acts on.
    #[error("{message}")]
    Federation {
        code: FederationCode,
        message: String,
    },
    /// The CM that owns an incident answered with an error (`status`, its HTTP status)
    /// or could not be reached (`status` is `None`). The message names the CM.
    #[error("{message}")]
    Peer {
        status: Option<u16>,
        message: String,
        field: Option<String>,
    },
    /// The request's method is not one the endpoint takes.
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    /// Something broke on our side; the detail is in the log.
    #[error("internal error; the server log has details")]
    Internal,
}

/// The seeded roles that hold `p`, for refusals: "analyst and admin".
fn roles_with(p: Permission) -> String {
    aerie_domain::user::Role::ALL
        .iter()
        .filter(|r| r.permissions().contains(p))
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" and ")
}

impl OpError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        OpError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A request that cannot be read at all (no one field to blame).
    pub fn malformed(message: impl Into<String>) -> Self {
        OpError::Invalid {
            field: None,
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        OpError::Unauthenticated(
            "authentication required: log in at /api/v1/login or send an API key".to_owned(),
        )
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        OpError::NotFound(format!("{what} not found"))
    }

    pub fn refused(message: impl Into<String>) -> Self {
        OpError::Refused(message.into())
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        OpError::Unauthenticated(message.into())
    }

    /// Not found, in words other than "X not found".
    pub fn missing(message: impl Into<String>) -> Self {
        OpError::NotFound(message.into())
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        OpError::TooLarge(message.into())
    }

    pub fn unsupported_media(message: impl Into<String>) -> Self {
        OpError::UnsupportedMedia(message.into())
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        OpError::Unavailable(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        OpError::Conflict {
            message: message.into(),
            field: None,
        }
    }

    pub fn federation(code: FederationCode, message: impl Into<String>) -> Self {
        OpError::Federation {
            code,
            message: message.into(),
        }
    }

    /// Logs `detail` and answers a generic internal error.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        OpError::Internal
    }

    /// The field to blame, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            OpError::Invalid { field, .. }
            | OpError::Conflict { field, .. }
            | OpError::Peer { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of this error: the one place it is chosen.
    pub fn status(&self) -> StatusCode {
        match self {
            OpError::Invalid { .. } => StatusCode::BAD_REQUEST,
            OpError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            OpError::Forbidden { .. } | OpError::Refused(_) => StatusCode::FORBIDDEN,
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::Conflict { .. } => StatusCode::CONFLICT,
            OpError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            OpError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            OpError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            OpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OpError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            OpError::Federation { code, .. } => match code {
                FederationCode::NotMcm => StatusCode::NOT_FOUND,
                FederationCode::UnknownUsername => StatusCode::FORBIDDEN,
                FederationCode::FipsMismatch => StatusCode::CONFLICT,
                FederationCode::WrongPassphrase
                | FederationCode::BadNonce
                | FederationCode::Deregistered
                | FederationCode::UnknownCm => StatusCode::UNAUTHORIZED,
            },
            OpError::Peer { status, .. } => status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY),
            OpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            OpError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body clients read.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.to_string(),
            field: self.field().map(str::to_owned),
            code: match self {
                OpError::Federation { code, .. } => Some(code.as_str().to_owned()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for OpError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), Json(self.body())).into_response();
        if let OpError::Throttled { retry_after, .. } = self {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&retry_after.to_string()).expect("digits"),
            );
        }
        resp
    }
}

/// Input that breaks a rule: the client's fault.
impl From<DomainError> for OpError {
    fn from(e: DomainError) -> Self {
        OpError::Invalid {
            message: format!("{}: {}", e.field, e.message),
            field: Some(e.field),
        }
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::not_found(what),
            StoreError::Conflict(message) => Self::conflict(message),
            StoreError::Config(message) => Self::malformed(message),
            StoreError::Full => {
                tracing::error!("write refused: the database's disk is full");
                OpError::StorageFull
            }
            StoreError::Unavailable(why) => {
                tracing::warn!("the database is unavailable: {why}");
                Self::unavailable("the database is unavailable; retry shortly")
            }
            // A rule the stored state forbids, such as a status moving backwards.
            StoreError::Rule(rule) => OpError::Conflict {
                message: format!("{}: {}", rule.field, rule.message),
                field: Some(rule.field),
            },
            other => Self::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_right_and_the_roles() {
        let e = OpError::Forbidden {
            needs: Permission::Triage,
            role: "viewer".into(),
        };
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            e.to_string(),
            "this needs the triage permission (the analyst and admin roles have it); your role viewer does not"
        );
        let e = OpError::federation(FederationCode::Deregistered, "gone");
        assert_eq!(e.body().code.as_deref(), Some("deregistered"));
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        let peer = OpError::Peer {
            status: None,
            message: "CM x is unreachable".into(),
            field: None,
        };
        assert_eq!(peer.status(), StatusCode::BAD_GATEWAY);
    }
}
