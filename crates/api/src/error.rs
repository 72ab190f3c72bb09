//! One error shape for every failure: `{"error": {"code": "...", "message": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};
use tmahost_service::ServiceError;

/// A [`ServiceError`] on its way out as JSON.
#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl<E: Into<ServiceError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

pub use tmahost_types::ErrorBody;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let message = match &self.0 {
            ServiceError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                "internal error; the server log has details".to_owned()
            }
            other => other.to_string(),
        };
        let mut res = HttpResponse::build(self.status_code()).json(ErrorBody::new(self.0.code(), message));
        if self.0.status() == 401 {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

fn bad_request(code: &'static str, message: String) -> actix_web::Error {
    ApiError(ServiceError::BadRequest { code, message }).into()
}

/// A JSON body that may be left out: no body (or only whitespace) is `T::default()`; any other
/// body must parse as `T`, else the request gets the usual 400 `invalid_json`. (actix's
/// `Option<Json<T>>` would take a malformed body as no body and go ahead with the defaults.)
#[derive(Debug)]
pub(crate) struct OptionalJson<T>(pub T);

impl<T: serde::de::DeserializeOwned + Default + 'static> actix_web::FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(T::default()));
            }
            serde_json::from_slice(&body).map(Self).map_err(|e| bad_request("invalid_json", e.to_string()))
        })
    }
}

pub(crate) fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(64 * 1024).error_handler(|e, _| bad_request("invalid_json", e.to_string()))
}

pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e, _| bad_request("invalid_path_parameter", e.to_string()))
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e, _| bad_request("invalid_query", e.to_string()))
}

pub(crate) async fn no_route() -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody::new("not_found", "no such endpoint; see /api/v1/openapi.json"))
}
