//! The one error type at the HTTP edge and its JSON shape `{"error": …, "field": …}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use aerie_domain::DomainError;
use aerie_proto::ErrorBody;
use aerie_store::StoreError;

/// An error answered to a client. Internal detail is logged, never sent.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
    /// A machine-readable reason (federation codes).
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
            code: None,
        }
    }

    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field: Some(field.into()),
            code: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication required: log in at /api/v1/login or send an API key",
        )
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// The same error with a machine-readable code.
    pub fn with_code(self, code: &'static str) -> Self {
        Self {
            code: Some(code),
            ..self
        }
    }

    /// Logs `detail` and answers a generic 500.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the server log has details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
                field: self.field,
                code: self.code.map(str::to_owned),
            }),
        )
            .into_response()
    }
}

/// Input that breaks a rule: the client's fault.
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let message = format!("{}: {}", e.field, e.message);
        Self {
            status: StatusCode::BAD_REQUEST,
            message,
            field: Some(e.field),
            code: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::not_found(what),
            StoreError::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            // A rule the stored state forbids, such as a status moving backwards.
            StoreError::Rule(rule) => Self {
                status: StatusCode::CONFLICT,
                message: format!("{}: {}", rule.field, rule.message),
                field: Some(rule.field),
                code: None,
            },
            other => Self::internal(other),
        }
    }
}
