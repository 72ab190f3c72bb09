//! A fake Telegram Bot API on 127.0.0.1: answers with the real JSON shapes
//! (`{"ok":true,"result":…}` / `{"ok":false,"error_code":…,"description":…}`) and records
//! every call so tests can assert what the platform sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// One request the platform made.
#[derive(Debug, Clone)]
pub struct Call {
    pub token: String,
    pub method: String,
    pub body: Value,
}

#[derive(Default)]
struct State {
    bots: HashMap<String, (i64, String)>,
    calls: Vec<Call>,
}

/// The running fake; dropping it stops the server.
pub struct FakeTelegram {
    pub url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram").field("url", &self.url).finish()
    }
}

impl FakeTelegram {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/bot{token}/{method}", web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind fake telegram");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://{addr}"), state, handle }
    }

    /// Makes `getMe` with `token` answer as the bot `username` with id = the token's prefix.
    pub fn add_bot(&self, token: &str, username: &str) {
        let id = token.split(':').next().and_then(|s| s.parse().ok()).expect("token has a numeric id");
        self.state.lock().expect("lock").bots.insert(token.to_owned(), (id, username.to_owned()));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("lock").calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn handle(path: web::Path<(String, String)>, body: web::Bytes, state: web::Data<Mutex<State>>) -> HttpResponse {
    let (token, method) = path.into_inner();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut st = state.lock().expect("lock");
    st.calls.push(Call { token: token.clone(), method: method.clone(), body });
    let Some((id, username)) = st.bots.get(&token).cloned() else {
        return HttpResponse::Unauthorized()
            .json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    };
    match method.as_str() {
        "getMe" => HttpResponse::Ok().json(json!({
            "ok": true,
            "result": {
                "id": id, "is_bot": true, "first_name": username, "username": username,
                "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false
            }
        })),
        _ => HttpResponse::NotFound()
            .json(json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"})),
    }
}
