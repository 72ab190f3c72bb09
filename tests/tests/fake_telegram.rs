//! The fake Bot API itself behaves like Telegram where the platform's tests rely on it:
//! error shapes, `getUpdates` offsets, recorded calls, one-shot 429 with `retry_after`.

use serde_json::{Value, json};
use tmahost_testkit::fake_telegram::FakeTelegram;

const TOKEN: &str = tmahost_testkit::TOKEN_A;

async fn call(fake: &FakeTelegram, token: &str, method: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new().post(format!("{}/bot{token}/{method}", fake.url)).json(&body).send().await;
    let res = res.expect("request");
    (res.status().as_u16(), res.json().await.expect("json"))
}

#[tokio::test]
async fn the_fake_bot_api_speaks_telegrams_shapes() {
    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN, "Control_Bot");

    let (s, me) = call(&fake, TOKEN, "getMe", json!({})).await;
    assert_eq!((s, me["ok"].as_bool(), me["result"]["id"].as_i64()), (200, Some(true), Some(111111111)));
    let (s, e) = call(&fake, "1:wrong", "getMe", json!({})).await;
    assert_eq!((s, e["ok"].as_bool(), e["error_code"].as_i64()), (401, Some(false), Some(401)));

    // Scripted updates come out in order and stay until an offset confirms them.
    let first = fake.send_text(TOKEN, 42, "/help");
    let second = fake.press_button(TOKEN, 42, 7, "rollback:3");
    let (_, got) = call(&fake, TOKEN, "getUpdates", json!({ "offset": 0, "timeout": 30 })).await;
    let ids: Vec<i64> =
        got["result"].as_array().expect("array").iter().filter_map(|u| u["update_id"].as_i64()).collect();
    assert_eq!(ids, [first, second]);
    assert_eq!(got["result"][0]["message"]["text"], "/help");
    assert_eq!(got["result"][1]["callback_query"]["data"], "rollback:3");
    let (_, got) = call(&fake, TOKEN, "getUpdates", json!({ "offset": second + 1 })).await;
    assert_eq!(got["result"], json!([]));

    // 429 once, with retry_after, then normal answers.
    fake.fail_next_with_retry_after("sendMessage", 1);
    let (s, e) = call(&fake, TOKEN, "sendMessage", json!({ "chat_id": 42, "text": "hi" })).await;
    assert_eq!((s, e["error_code"].as_i64(), e["parameters"]["retry_after"].as_i64()), (429, Some(429), Some(1)));
    let (s, sent) = call(&fake, TOKEN, "sendMessage", json!({ "chat_id": 42, "text": "hi" })).await;
    assert_eq!((s, sent["result"]["text"].as_str()), (200, Some("hi")));
    assert_eq!(fake.calls_to("sendMessage").len(), 2);
    assert_eq!(fake.calls_to("sendMessage")[1].body["chat_id"], 42);
}
