//! initData verification cost: what the edge pays per `POST /_tma/session` and per request
//! sent with `Authorization: tma`. Run: `cargo bench -p tmahost-types`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tmahost_types::{BotToken, InitData, InitDataKey};

fn launch_data(token: &BotToken, now: i64) -> String {
    // Shaped like what current clients send: a user with a photo, chat fields, start_param.
    let user = r#"{"id":279058397,"first_name":"Vladislav","last_name":"Kibenko","username":"vdkfrost","language_code":"ru","is_premium":true,"allows_write_to_pm":true,"photo_url":"https://t.me/i/userpic/320/4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg"}"#;
    tmahost_types::init_data::sign(
        &[
            ("user", user),
            ("chat_instance", "8428209589180549439"),
            ("chat_type", "sender"),
            ("start_param", "debug"),
            ("signature", "6fbdaab833d39f54518bd5c3eb3f511d035e68cb"),
        ],
        token,
        now,
    )
}

fn bench(c: &mut Criterion) {
    let token = BotToken::parse("5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8").expect("token");
    let now = 1_800_000_000;
    let raw = launch_data(&token, now);
    c.bench_function("init_data/parse", |b| b.iter(|| InitData::parse(black_box(&raw)).expect("parse")));
    c.bench_function("init_data/parse+verify_hmac", |b| {
        b.iter(|| InitData::parse(black_box(&raw)).expect("parse").verify_hmac(&token, now, 3600).expect("valid"))
    });
    // What the edge does: the bot's key is derived once per routing-table build.
    let key = InitDataKey::new(&token);
    c.bench_function("init_data/parse+verify_with_bot_key", |b| {
        b.iter(|| InitData::parse(black_box(&raw)).expect("parse").verify_any(&[&key], now, 3600).expect("valid"))
    });
    // What the edge does since: the HMAC over the raw fields, JSON decoded only once it holds.
    c.bench_function("init_data/verify_raw", |b| {
        b.iter(|| InitData::verify_raw(black_box(&raw), &[&key], now, 3600).expect("valid"))
    });
    let forged = raw.replacen("hash=", "hash=0", 1).replacen("hash=0", "hash=", 1).replace("Vladislav", "Vladislaw");
    c.bench_function("init_data/verify_raw_forged", |b| {
        b.iter(|| InitData::verify_raw(black_box(&forged), &[&key], now, 3600).expect_err("forged"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
