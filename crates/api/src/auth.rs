//! The `Authorization: Bearer <api token>` extractor.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use tmahost_service::{Actor, Platform, ServiceError};

use crate::error::ApiError;

/// The authenticated caller of a handler.
#[derive(Debug)]
pub struct Caller(pub Actor);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let platform = req.app_data::<web::Data<Platform>>().cloned();
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|t| t.trim().to_owned());
        Box::pin(async move {
            let platform = platform.ok_or_else(|| ServiceError::Internal("platform not configured".into()))?;
            let bearer = bearer.ok_or_else(|| {
                ServiceError::Unauthorized(
                    "send `Authorization: Bearer <api token>` (create one with `tmahost admin token create`)".into(),
                )
            })?;
            Ok(Caller(platform.authenticate(&bearer).await?))
        })
    }
}
