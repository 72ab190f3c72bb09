use tmahost_deploy::IngestError;
use tmahost_store::StoreError;

/// The outcome of a refused or failed operation, as the front doors (HTTP, bot, CLI) see it.
/// Each variant maps to one HTTP status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Also used for things that exist but are outside the caller's scope, so a token for
    /// one tenant learns nothing about another.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// The request itself is malformed (unparsable JSON, bad query string).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The request is well-formed but its content breaks a rule.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("Telegram: {0}")]
    Telegram(String),
    /// A deploy would take the bot past its storage cap: what it stores, what the deploy adds,
    /// and the cap.
    #[error("quota exceeded: the bot stores {used} bytes, this deploy adds {adds}, the limit is {limit}")]
    QuotaExceeded { used: i64, adds: i64, limit: i64 },
    /// Busy for a moment (e.g. the content is being garbage-collected): try again.
    #[error("{0}")]
    Unavailable(String),
    /// The client stopped sending in the middle of a request.
    #[error("{0}")]
    Timeout(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServiceError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { code, message: message.into() }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::BadRequest { code, .. } | Self::Invalid { code, .. } => code,
            Self::Ingest(e) => e.code(),
            Self::Telegram(_) => "telegram_error",
            Self::Timeout(_) => "request_timeout",
            Self::Unavailable(_) => "unavailable",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::BadRequest { .. } => 400,
            Self::Invalid { .. } => 422,
            Self::Ingest(e) => e.status(),
            Self::Telegram(_) => 502,
            Self::Timeout(_) => 408,
            Self::Unavailable(_) => 503,
            Self::QuotaExceeded { .. } => 413,
            Self::Internal(_) => 500,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::InvalidState(what) => Self::Conflict(what),
            StoreError::NotFound => Self::NotFound("record"),
            other => Self::internal(other),
        }
    }
}
