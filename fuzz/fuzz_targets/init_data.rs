//! initData parsing and both verifications (HMAC with a bot key, Ed25519) on any input: an
//! error or a verdict, never a panic, whatever the encoding, duplicates or JSON inside; and
//! the edge's `verify_raw` reaches the same verdict as parsing, then verifying.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tmahost_types::{BotId, BotToken, InitData, InitDataKey, TelegramKey};

static TOKEN: LazyLock<BotToken> =
    LazyLock::new(|| BotToken::parse("5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8").expect("token"));
static KEY: LazyLock<InitDataKey> = LazyLock::new(|| InitDataKey::new(&TOKEN));

fuzz_target!(|raw: &str| {
    let Ok(parsed) = InitData::parse(raw) else {
        // What does not parse never verifies either.
        assert!(InitData::verify_raw(raw, &[&KEY], 0, u64::MAX / 4).is_err());
        return;
    };
    let auth_date = parsed.auth_date;
    // The edge's check (HMAC over the raw fields first) agrees with parsing then verifying.
    let edge = InitData::verify_raw(raw, &[&KEY], auth_date, 86_400).map(|(d, _)| d);
    assert_eq!(edge.ok(), parsed.clone().verify_any(&[&KEY], auth_date, 86_400).ok().map(|(d, _)| d));
    let _ = parsed.clone().verify_hmac(&TOKEN, auth_date.saturating_add(1_000_000), 60);
    let _ = parsed.verify_ed25519(BotId(7342037359), TelegramKey::Production, auth_date, 86_400);
});
