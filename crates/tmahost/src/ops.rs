//! The operators' listener (`TMAHOST_OPS_ADDR`) every role can run: `/healthz`, `/readyz` and
//! `/metrics`, kept off the public listeners so an edge's metrics are not served on every app's
//! origin.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use tmahost_api::health;
use tmahost_service::Platform;

/// Starts the listener; signals are left to the caller.
pub(crate) fn server(platform: Platform, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::new(platform);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(health::healthz)
            .service(health::readyz)
            .route("/metrics", web::get().to(health::metrics))
    })
    .workers(1)
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(5)
    .run())
}
