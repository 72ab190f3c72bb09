//! Webhook mode: Telegram posts updates to `TMAHOST_CONTROL_BOT_WEBHOOK_URL`, the reverse
//! proxy forwards them to `TMAHOST_CONTROL_BOT_WEBHOOK_ADDR`, and this listener checks the
//! `X-Telegram-Bot-Api-Secret-Token` header before handing the update to the dispatcher.

use std::convert::Infallible;
use std::net::TcpListener;
use std::pin::Pin;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::{Stream, StreamExt};
use subtle::ConstantTimeEq;
use teloxide::stop::{StopToken, mk_stop_token};
use teloxide::types::Update;
use teloxide::update_listeners::{StatefulListener, UpdateListener};
use tokio::sync::mpsc;

/// Updates waiting for the dispatcher; when full, Telegram is told to retry later (503).
const QUEUE: usize = 256;
/// Telegram's own updates are small; anything bigger is not from Telegram.
const MAX_BODY: usize = 1 << 20;

type Updates = Pin<Box<dyn Stream<Item = Result<Update, Infallible>> + Send>>;

struct Shared {
    tx: mpsc::Sender<Update>,
    secret: String,
}

/// The listener for the dispatcher and the HTTP server that feeds it.
pub(crate) fn listen(
    listener: TcpListener,
    path: String,
    secret: String,
) -> std::io::Result<(impl UpdateListener<Err = Infallible>, actix_web::dev::Server)> {
    let (tx, mut rx) = mpsc::channel::<Update>(QUEUE);
    let (stop_token, stop_flag) = mk_stop_token();
    let shared = web::Data::new(Shared { tx, secret });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route(&path, web::post().to(receive))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let updates: Updates =
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(Ok).take_until(stop_flag));
    let listener = StatefulListener::new((updates, stop_token), first, |st: &mut (Updates, StopToken)| st.1.clone());
    Ok((listener, server))
}

fn first(st: &mut (Updates, StopToken)) -> &mut Updates {
    &mut st.0
}

async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let given = req.headers().get("x-telegram-bot-api-secret-token").map(|v| v.as_bytes()).unwrap_or_default();
    if !bool::from(given.ct_eq(shared.secret.as_bytes())) {
        tracing::warn!(peer = ?req.peer_addr(), "control bot webhook: wrong secret token");
        return HttpResponse::Unauthorized().finish();
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            // Telegram would resend a refused update forever; log it and let it go.
            tracing::warn!(error = %e, "control bot webhook: unreadable update dropped");
            return HttpResponse::Ok().finish();
        }
    };
    match shared.tx.try_send(update) {
        Ok(()) => HttpResponse::Ok().finish(),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}
