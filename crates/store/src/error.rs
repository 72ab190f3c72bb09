use thiserror::Error;

/// Everything that can go wrong below the service layer.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("object store error: {0}")]
    Object(#[from] object_store::Error),
    /// A uniqueness rule was violated (duplicate bot, slug, ...). The text names the rule.
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    /// A state transition that the current state does not allow.
    #[error("{0}")]
    InvalidState(String),
    #[error("unsupported URL `{0}`: {1}")]
    BadUrl(String, String),
    #[error("secret could not be decrypted: wrong master key or corrupted data")]
    Decrypt,
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Turns a unique-constraint violation into [`StoreError::Conflict`] with a readable text.
    pub(crate) fn conflict_or(e: sqlx::Error, what: &str) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what.to_owned()),
            _ => Self::Database(e),
        }
    }
}
