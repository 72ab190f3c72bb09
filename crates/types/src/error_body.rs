//! The one error shape of every HTTP answer the platform gives (the API, the edge's `/_tma/*`
//! endpoints and app backends' failures) and the CLI reads:
//! `{"error": {"code": "...", "message": "..."}}`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (e.g. `path_traversal`, `not_found`).
    pub code: String,
    /// What went wrong and what to do, for people.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code: code.into(), message: message.into() } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_is_error_code_message() {
        let body = serde_json::to_value(ErrorBody::new("not_found", "no such app")).expect("serializes");
        assert_eq!(body, serde_json::json!({ "error": { "code": "not_found", "message": "no such app" } }));
    }
}
