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
    /// The disk holding the database is full; writes succeed again once there is room.
    #[error("the database's disk is full")]
    Full,
    /// The database cannot be reached (PostgreSQL stopped, restarting, or out of
    /// connections); the same call succeeds once it is back.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A PostgreSQL client tool (`pg_dump`, `pg_restore`) is missing or failed; the text
    /// says which and its last words, for the operator.
    #[error("{0}")]
    Tool(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // SQLITE_FULL (13, also extended) and PostgreSQL's disk_full (53100).
        let full = e.as_database_error().is_some_and(|d| {
            let code = d.code();
            let code = code.as_deref().unwrap_or("");
            code == "13" || code == "53100" || d.message().contains("disk is full")
        });
        if full {
            return StoreError::Full;
        }
        // Connection exceptions (class 08), shutdowns and restarts (57P01-57P03), too
        // many connections (53300); or no connection to have one on.
        let gone = match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => d.code().is_some_and(|c| {
                c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300")
            }),
            _ => false,
        };
        if gone {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Database(e)
        }
    }
}
