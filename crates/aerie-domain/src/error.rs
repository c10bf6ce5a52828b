//! The one error type of the domain: an input that breaks a rule.

/// A value that breaks a domain rule, with the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DomainError {
    /// The field (or path) the bad value came from, as the client named it.
    pub field: String,
    /// What was wrong and what is expected instead.
    pub message: String,
}

impl DomainError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
