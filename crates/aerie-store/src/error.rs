use aerie_domain::DomainError;

/// Why a store operation failed. Only [`StoreError::Database`] carries driver detail,
/// which belongs in logs, never in a client's response.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Rule(#[from] DomainError),
    /// The store cannot be opened as configured (a database URL of no known kind).
    #[error("{0}")]
    Config(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
