//! The HTTP API (`/api/v1`, JSON) and the health endpoints of the API role.
//!
//! Handlers are thin: parse the request, call one [`Platform`] operation with the
//! authenticated [`Actor`](tmahost_service::Actor), render the result. Every error leaves
//! as `{"error": {"code", "message"}}` with a fitting status (see [`error`]).

mod auth;
pub mod dashboard;
pub mod dto;
pub mod error;
pub mod health;
mod openapi;
mod paths;
mod routes;
mod upload;

use std::net::TcpListener;
use std::time::Instant;

use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpServer, middleware, web};
use tmahost_service::{Platform, request_id};
use tracing::Instrument;

pub use dashboard::Dashboard;
pub use routes::{document as openapi_document, reference as api_reference};

/// Registers every API and dashboard route.
pub fn configure(platform: Platform, dashboard: web::Data<Dashboard>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(platform))
            .app_data(dashboard)
            .app_data(error::json_config())
            .app_data(error::path_config())
            .app_data(error::query_config())
            .configure(|cfg| routes::register(&mut utoipa_actix_web::service_config::ServiceConfig::new(cfg)))
            .configure(dashboard::configure)
            .default_service(web::to(error::no_route));
    }
}

/// Starts the API on an already bound listener (port 0 in tests). Signals are left to the
/// caller, which owns shutdown for every role in the process.
pub fn server(platform: Platform, listener: TcpListener) -> std::io::Result<Server> {
    let dashboard = web::Data::new(Dashboard::new(&platform).map_err(std::io::Error::other)?);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(
                middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Cache-Control", "no-store"))
                    // Not `no-referrer`: with it, browsers send `Origin: null` on the dashboard's
                    // own form posts, and the login form is checked by its origin.
                    .add(("Referrer-Policy", "same-origin")),
            )
            .wrap_fn(|req, srv| {
                let (method, start) = (req.method().clone(), Instant::now());
                let id = request_id(req.headers().get("x-request-id").and_then(|v| v.to_str().ok()));
                // Every log line of the request carries its id; the client gets it back.
                let span = tracing::info_span!("request", id = %id);
                let fut = span.in_scope(|| srv.call(req));
                async move {
                    let mut res = fut.await?;
                    // The route's pattern, not the path: paths can hold secrets (the code of a
                    // one-time login link, `/login/{code}`).
                    let path = res.request().match_pattern().unwrap_or_else(|| "(no route)".to_owned());
                    if let Ok(v) = HeaderValue::from_str(&id) {
                        res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
                    }
                    tracing::info!(
                        target: "tmahost::api::access",
                        %method, %path, status = res.status().as_u16(), ms = start.elapsed().as_millis() as u64
                    );
                    Ok(res)
                }
                .instrument(span)
            })
            .configure(configure(platform.clone(), dashboard.clone()))
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(30)
    .run();
    Ok(server)
}
