//! A fake Telegram Bot API on 127.0.0.1: answers with the real JSON shapes
//! (`{"ok":true,"result":…}` / `{"ok":false,"error_code":…,"description":…}`) and records
//! every call so tests can assert what the platform sent. Tests script the updates that
//! `getUpdates` hands out (with Telegram's `offset` semantics) and can make the next call to a
//! method fail with 429 and `parameters.retry_after`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// One request the platform made.
#[derive(Debug, Clone)]
pub struct Call {
    pub token: String,
    pub method: String,
    pub body: Value,
    /// When the call arrived.
    pub at: std::time::Instant,
    /// The `result` the fake answered with (`sendMessage`: the message, with its id).
    pub result: Value,
}

#[derive(Default)]
struct State {
    bots: HashMap<String, (i64, String)>,
    calls: Vec<Call>,
    /// Per token: updates not yet confirmed by an `offset` beyond their id.
    updates: HashMap<String, VecDeque<Value>>,
    next_update_id: i64,
    next_message_id: i64,
    /// `(method, retry_after seconds)`: the next call to `method` answers 429 once.
    too_many: Vec<(String, u64)>,
}

/// The running fake; dropping it stops the server.
pub struct FakeTelegram {
    pub url: String,
    state: Arc<Mutex<State>>,
    /// Wakes long-polling `getUpdates` calls when an update is queued.
    arrived: Arc<tokio::sync::Notify>,
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
        let arrived: Arc<tokio::sync::Notify> = Arc::default();
        let data = web::Data::from(state.clone());
        let wake = web::Data::from(arrived.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(wake.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/bot{token}/{method}", web::to(handle))
        })
        .workers(2)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind fake telegram");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://{addr}"), state, arrived, handle }
    }

    /// Makes `getMe` with `token` answer as the bot `username` with id = the token's prefix.
    pub fn add_bot(&self, token: &str, username: &str) {
        let id = token.split(':').next().and_then(|s| s.parse().ok()).expect("token has a numeric id");
        self.state.lock().expect("lock").bots.insert(token.to_owned(), (id, username.to_owned()));
    }

    /// Queues a text message from `user_id` in their private chat with the bot of `token`;
    /// returns its update id.
    pub fn send_text(&self, token: &str, user_id: i64, text: &str) -> i64 {
        let mut st = self.state.lock().expect("lock");
        st.next_message_id += 1;
        let message = json!({
            "message_id": st.next_message_id,
            "date": 1_800_000_000,
            "chat": { "id": user_id, "type": "private", "first_name": format!("User {user_id}") },
            "from": { "id": user_id, "is_bot": false, "first_name": format!("User {user_id}") },
            "text": text,
        });
        let id = push_update(&mut st, token, "message", message);
        self.arrived.notify_waiters();
        id
    }

    /// Queues a callback query (an inline button press) from `user_id`.
    pub fn press_button(&self, token: &str, user_id: i64, message_id: i64, data: &str) -> i64 {
        let mut st = self.state.lock().expect("lock");
        let query = json!({
            "id": format!("cb{}", st.next_update_id + 1),
            "from": { "id": user_id, "is_bot": false, "first_name": format!("User {user_id}") },
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": message_id, "date": 1_800_000_000,
                "chat": { "id": user_id, "type": "private", "first_name": format!("User {user_id}") },
                "text": "…",
            },
        });
        let id = push_update(&mut st, token, "callback_query", query);
        self.arrived.notify_waiters();
        id
    }

    /// The next call to `method` (any token) fails with 429 and `retry_after`.
    pub fn fail_next_with_retry_after(&self, method: &str, retry_after_secs: u64) {
        self.state.lock().expect("lock").too_many.push((method.to_owned(), retry_after_secs));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("lock").calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// Messages the bot of `token` sent to `chat`, oldest first.
    pub fn messages_to(&self, token: &str, chat: i64) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.token == token && c.method == "sendMessage" && c.body["chat_id"].as_i64() == Some(chat))
            .collect()
    }

    /// Waits (up to `timeout`) for a recorded call that `pred` accepts, and returns it.
    pub async fn wait_for(&self, what: &str, timeout: std::time::Duration, pred: impl Fn(&Call) -> bool) -> Call {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(c) = self.calls().into_iter().find(|c| pred(c)) {
                return c;
            }
            if tokio::time::Instant::now() > deadline {
                let seen: Vec<String> = self.calls().iter().map(|c| format!("{} {}", c.method, c.body)).collect();
                panic!("no call {what} within {timeout:?}; calls so far:\n{}", seen.join("\n"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn push_update(st: &mut State, token: &str, kind: &str, payload: Value) -> i64 {
    st.next_update_id += 1;
    let id = st.next_update_id;
    st.updates.entry(token.to_owned()).or_default().push_back(json!({ "update_id": id, kind: payload }));
    id
}

fn ok(result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true, "result": result }))
}

const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "getWebhookInfo",
    "setWebhook",
    "deleteWebhook",
    "sendMessage",
    "editMessageText",
    "deleteMessage",
    "setMyCommands",
    "setChatMenuButton",
    "answerCallbackQuery",
];

/// Longest a `getUpdates` call is held open (Telegram holds up to `timeout`; shorter here so a
/// stopping client is not kept waiting).
const MAX_LONG_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// The fields of a `multipart/form-data` body (teloxide sends `setWebhook` that way), each
/// parsed as JSON when it is JSON, else kept as a string.
fn multipart_fields(content_type: &str, body: &[u8]) -> Option<Value> {
    let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let mut out = serde_json::Map::new();
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else { continue };
        let Some(name) = head.split("name=\"").nth(1).and_then(|n| n.split('"').next()) else { continue };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        out.insert(name.to_owned(), serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned())));
    }
    Some(Value::Object(out))
}

async fn handle(
    req: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<HashMap<String, String>>,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
    arrived: web::Data<tokio::sync::Notify>,
) -> HttpResponse {
    let (token, method) = path.into_inner();
    // Telegram matches method names case-insensitively (teloxide sends `SendMessage`); record
    // the documented spelling so tests compare one form.
    let method = METHODS.iter().find(|m| m.eq_ignore_ascii_case(&method)).map_or(method, |m| (*m).to_owned());
    // Clients send JSON bodies; some send parameters in the query string (GET). Record both.
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut body: Value = if content_type.starts_with("multipart/form-data") {
        multipart_fields(content_type, &body).unwrap_or_else(|| json!({}))
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| json!({}))
    };
    if let Some(obj) = body.as_object_mut() {
        for (k, v) in query.into_inner() {
            obj.entry(k).or_insert_with(|| serde_json::from_str(&v).unwrap_or(Value::String(v)));
        }
    }
    if method == "getUpdates" && body["timeout"].as_u64().unwrap_or(0) > 0 {
        // Long polling: hold the request until an update is queued for this token.
        let deadline = tokio::time::Instant::now() + MAX_LONG_POLL;
        let offset = body["offset"].as_i64().unwrap_or(0);
        loop {
            let waiting = arrived.notified();
            let pending = state
                .lock()
                .expect("lock")
                .updates
                .get(&token)
                .is_some_and(|q| q.iter().any(|u| u["update_id"].as_i64().unwrap_or(0) >= offset));
            if pending || tokio::time::timeout_at(deadline, waiting).await.is_err() {
                break;
            }
        }
    }
    let mut st = state.lock().expect("lock");
    st.calls.push(Call {
        token: token.clone(),
        method: method.clone(),
        body: body.clone(),
        at: std::time::Instant::now(),
        result: Value::Null,
    });
    let this_call = st.calls.len() - 1;
    let Some((id, username)) = st.bots.get(&token).cloned() else {
        return HttpResponse::Unauthorized()
            .json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    };
    if let Some(i) = st.too_many.iter().position(|(m, _)| *m == method) {
        let (_, secs) = st.too_many.remove(i);
        return HttpResponse::TooManyRequests().json(json!({
            "ok": false, "error_code": 429,
            "description": format!("Too Many Requests: retry after {secs}"),
            "parameters": { "retry_after": secs },
        }));
    }
    match method.as_str() {
        "getMe" => HttpResponse::Ok().json(json!({
            "ok": true,
            "result": {
                "id": id, "is_bot": true, "first_name": username, "username": username,
                "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
                "can_connect_to_business": false, "has_main_web_app": false
            }
        })),
        "getUpdates" => {
            // Telegram forgets updates below `offset`; long polling is not simulated (the
            // answer is immediate), so clients poll again at once.
            let offset = body["offset"].as_i64().unwrap_or(0);
            let queue = st.updates.entry(token).or_default();
            queue.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            let limit = body["limit"].as_u64().unwrap_or(100) as usize;
            ok(Value::Array(queue.iter().take(limit).cloned().collect()))
        }
        "sendMessage" => {
            st.next_message_id += 1;
            let message = json!({
                "message_id": st.next_message_id,
                "date": 1_800_000_000,
                "chat": { "id": body["chat_id"], "type": "private" },
                "from": { "id": id, "is_bot": true, "first_name": username, "username": username },
                "text": body["text"],
            });
            st.calls[this_call].result = message.clone();
            ok(message)
        }
        "getWebhookInfo" => ok(json!({ "url": "", "has_custom_certificate": false, "pending_update_count": 0 })),
        "editMessageText" => ok(json!({
            "message_id": body["message_id"], "date": 1_800_000_000,
            "chat": { "id": body["chat_id"], "type": "private" }, "text": body["text"],
        })),
        "deleteMessage"
        | "setMyCommands"
        | "setChatMenuButton"
        | "answerCallbackQuery"
        | "deleteWebhook"
        | "setWebhook" => ok(json!(true)),
        _ => HttpResponse::NotFound()
            .json(json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"})),
    }
}
