//! Mini App launch data (`initData`): parsing exactly as Telegram sends it, the two ways of
//! verifying it, and signing it for dev links and tests.
//!
//! - HMAC (first party, needs the bot token): secret = HMAC_SHA256(key "WebAppData", token);
//!   data-check-string = every field except `hash`, sorted by key, `k=v` joined by `\n`
//!   (`signature` stays in: current clients send both, and @telegram-apps/init-data-node
//!   rejects an HMAC computed without it).
//! - Ed25519 (third party, needs only the bot id): message = `"{bot_id}:WebAppData\n"` +
//!   the fields except `hash` and `signature`, same format; `signature` is base64url.
//!
//! A [`VerifiedInitData`] can only be made by those two checks.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{BotId, BotToken};

/// Most launch data is a few hundred bytes; this bounds work on hostile input.
const MAX_LEN: usize = 16 * 1024;
/// Clock skew tolerated for an `auth_date` in the future.
const MAX_SKEW_SECS: i64 = 60;

/// Telegram's Ed25519 public keys for third-party validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelegramKey {
    Production,
    Test,
}

impl TelegramKey {
    fn bytes(self) -> [u8; 32] {
        let hex = match self {
            Self::Production => "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d",
            Self::Test => "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec",
        };
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex, &mut out).expect("constant is valid hex");
        out
    }
}

/// Why launch data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitDataError {
    #[error("init data is empty or longer than 16 KiB")]
    Length,
    #[error("init data has the key `{0}` more than once")]
    DuplicateKey(String),
    #[error("init data has no `hash`")]
    MissingHash,
    #[error("init data has no `signature`")]
    MissingSignature,
    #[error("init data has no valid `auth_date`")]
    AuthDate,
    #[error("init data is too old ({age_secs} s; the limit is {max_secs} s): reopen the Mini App")]
    Expired { age_secs: i64, max_secs: u64 },
    #[error("init data is dated in the future")]
    FromTheFuture,
    #[error("init data signature does not match")]
    BadSignature,
    #[error("init data field `{0}` is not valid JSON of the expected shape")]
    Field(&'static str),
}

/// A Telegram user (or bot) as found in `user` and `receiver`. Fields Telegram adds later are
/// kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebAppUser {
    pub id: i64,
    pub first_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_premium: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_bot: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allows_write_to_pm: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_to_attachment_menu: Option<bool>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The chat an app was opened from (`chat`), unknown fields kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebAppChat {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Parsed, not yet verified launch data.
#[derive(Debug, Clone, PartialEq)]
pub struct InitData {
    /// Every field, percent-decoded, by key (keys are unique: duplicates are refused).
    fields: BTreeMap<String, String>,
    pub auth_date: i64,
    pub user: Option<WebAppUser>,
    pub receiver: Option<WebAppUser>,
    pub chat: Option<WebAppChat>,
}

impl InitData {
    /// Parses a query string as Telegram sends it (percent-encoding, `+` for space).
    pub fn parse(raw: &str) -> Result<Self, InitDataError> {
        Self::decode(fields_of(raw)?)
    }

    /// What a server does with launch data: the HMAC with each key in turn over the raw
    /// fields, then the age of `auth_date`, and only then the JSON fields are decoded (so
    /// forged data costs no JSON parsing). Says which key signed.
    pub fn verify_raw(
        raw: &str,
        keys: &[&InitDataKey],
        now: i64,
        max_age_secs: u64,
    ) -> Result<(VerifiedInitData, usize), InitDataError> {
        let fields = fields_of(raw)?;
        let signer = hmac_signer(&fields, keys)?;
        check_age(auth_date_of(&fields)?, now, max_age_secs)?;
        Ok((VerifiedInitData(Self::decode(fields)?), signer))
    }

    fn decode(fields: BTreeMap<String, String>) -> Result<Self, InitDataError> {
        Ok(Self {
            auth_date: auth_date_of(&fields)?,
            user: json_field(&fields, "user")?,
            receiver: json_field(&fields, "receiver")?,
            chat: json_field(&fields, "chat")?,
            fields,
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// Checks the HMAC with the bot's token and the age of `auth_date` (`now` in seconds).
    pub fn verify_hmac(self, token: &BotToken, now: i64, max_age_secs: u64) -> Result<VerifiedInitData, InitDataError> {
        self.verify_any(&[&InitDataKey::new(token)], now, max_age_secs).map(|(data, _)| data)
    }

    /// Checks the HMAC with each key in turn, then the age of `auth_date`; says which key
    /// signed. `BadSignature` when none did.
    pub fn verify_any(
        self,
        keys: &[&InitDataKey],
        now: i64,
        max_age_secs: u64,
    ) -> Result<(VerifiedInitData, usize), InitDataError> {
        let signer = hmac_signer(&self.fields, keys)?;
        check_age(self.auth_date, now, max_age_secs)?;
        Ok((VerifiedInitData(self), signer))
    }

    /// Checks Telegram's Ed25519 `signature` for `bot_id` (no token needed).
    pub fn verify_ed25519(
        self,
        bot_id: BotId,
        key: TelegramKey,
        now: i64,
        max_age_secs: u64,
    ) -> Result<VerifiedInitData, InitDataError> {
        let sig = self.get("signature").ok_or(InitDataError::MissingSignature)?;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig.trim_end_matches('='))
            .map_err(|_| InitDataError::BadSignature)?;
        let sig = ed25519_dalek::Signature::from_slice(&sig).map_err(|_| InitDataError::BadSignature)?;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&key.bytes()).map_err(|_| InitDataError::BadSignature)?;
        let message = format!("{bot_id}:WebAppData\n{}", check_string(&self.fields, &["hash", "signature"]));
        vk.verify_strict(message.as_bytes(), &sig).map_err(|_| InitDataError::BadSignature)?;
        check_age(self.auth_date, now, max_age_secs)?;
        Ok(VerifiedInitData(self))
    }
}

/// Every field, percent-decoded, by key; a key twice is refused.
fn fields_of(raw: &str) -> Result<BTreeMap<String, String>, InitDataError> {
    let raw = raw.trim_start_matches('#').trim_start_matches('?');
    if raw.is_empty() || raw.len() > MAX_LEN {
        return Err(InitDataError::Length);
    }
    let mut fields = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = form_decode(k);
        if fields.insert(k.to_string(), form_decode(v).into_owned()).is_some() {
            return Err(InitDataError::DuplicateKey(k.into_owned()));
        }
    }
    Ok(fields)
}

/// One `application/x-www-form-urlencoded` component decoded as `form_urlencoded::parse` does
/// (`+` is a space, `%XX` a byte, a `%` without two hex digits stays, invalid UTF-8 becomes
/// U+FFFD), borrowed when there is nothing to decode. That crate's decoder pushed byte by
/// byte and re-checked UTF-8 in pieces: 40 % of verifying launch data; this copies runs.
fn form_decode(input: &str) -> Cow<'_, str> {
    let special = |b: &u8| *b == b'%' || *b == b'+';
    let bytes = input.as_bytes();
    let Some(first) = bytes.iter().position(special) else { return Cow::Borrowed(input) };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit() => {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) << 4 | hex(bytes[i + 2]));
                i += 3;
            }
            b'%' => {
                out.push(b'%');
                i += 1;
            }
            _ => {
                let end = bytes[i..].iter().position(special).map_or(bytes.len(), |p| i + p);
                out.extend_from_slice(&bytes[i..end]);
                i = end;
            }
        }
    }
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn auth_date_of(fields: &BTreeMap<String, String>) -> Result<i64, InitDataError> {
    fields.get("auth_date").and_then(|v| v.parse::<i64>().ok()).ok_or(InitDataError::AuthDate)
}

/// Which of `keys` made the fields' `hash`.
fn hmac_signer(fields: &BTreeMap<String, String>, keys: &[&InitDataKey]) -> Result<usize, InitDataError> {
    let hash = fields.get("hash").ok_or(InitDataError::MissingHash)?;
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hash, &mut expected).map_err(|_| InitDataError::BadSignature)?;
    keys.iter()
        .position(|key| {
            let mut mac = key.0.clone();
            // The data-check-string, fed in pieces instead of built.
            for (i, (k, v)) in fields.iter().filter(|(k, _)| *k != "hash").enumerate() {
                if i > 0 {
                    mac.update(b"\n");
                }
                mac.update(k.as_bytes());
                mac.update(b"=");
                mac.update(v.as_bytes());
            }
            // verify_slice compares in constant time.
            mac.verify_slice(&expected).is_ok()
        })
        .ok_or(InitDataError::BadSignature)
}

fn check_age(auth_date: i64, now: i64, max_age_secs: u64) -> Result<(), InitDataError> {
    let age = now - auth_date;
    if age < -MAX_SKEW_SECS {
        return Err(InitDataError::FromTheFuture);
    }
    if age > max_age_secs as i64 {
        return Err(InitDataError::Expired { age_secs: age, max_secs: max_age_secs });
    }
    Ok(())
}

/// A bot's key for launch data HMACs, derived from its token once: the derivation costs as
/// much as hashing a typical launch payload, so servers keep one per bot.
#[derive(Clone)]
pub struct InitDataKey(Hmac<Sha256>);

impl InitDataKey {
    pub fn new(token: &BotToken) -> Self {
        Self(hmac_for(token))
    }
}

impl std::fmt::Debug for InitDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitDataKey(<redacted>)")
    }
}

/// Launch data whose signature and age were checked. Only the verifiers make one.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedInitData(InitData);

impl std::ops::Deref for VerifiedInitData {
    type Target = InitData;
    fn deref(&self) -> &InitData {
        &self.0
    }
}

fn json_field<T: serde::de::DeserializeOwned>(
    fields: &BTreeMap<String, String>,
    key: &'static str,
) -> Result<Option<T>, InitDataError> {
    fields.get(key).map(|v| serde_json::from_str(v).map_err(|_| InitDataError::Field(key))).transpose()
}

fn check_string(fields: &BTreeMap<String, String>, except: &[&str]) -> String {
    // BTreeMap iterates in byte order of keys: the sort Telegram specifies.
    let pairs: Vec<String> =
        fields.iter().filter(|(k, _)| !except.contains(&k.as_str())).map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("\n")
}

fn hmac_for(token: &BotToken) -> Hmac<Sha256> {
    let mut secret = <Hmac<Sha256> as Mac>::new_from_slice(b"WebAppData").expect("any key length");
    secret.update(token.expose().as_bytes());
    let secret = secret.finalize().into_bytes();
    <Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("any key length")
}

/// Signs launch parameters with the bot's token the way Telegram does (HMAC scheme), for dev
/// links and tests: `fields` plus `auth_date`, serialised as a query string with `hash`.
pub fn sign(fields: &[(&str, &str)], token: &BotToken, auth_date: i64) -> String {
    finish(with_auth_date(fields, auth_date), token)
}

/// Like [`sign`], with a `signature` beside `hash` as current clients send it: an Ed25519
/// signature in Telegram's third-party format, made with `ed25519_secret` instead of Telegram's
/// key (which only Telegram holds). SDKs that require the field accept the data, the HMAC covers
/// it as Telegram's does, and a third-party check against Telegram's public key refuses it.
pub fn sign_with_signature(
    fields: &[(&str, &str)],
    token: &BotToken,
    auth_date: i64,
    ed25519_secret: &[u8; 32],
) -> String {
    let mut map = with_auth_date(fields, auth_date);
    map.remove("signature");
    let message = format!("{}:WebAppData\n{}", token.bot_id(), check_string(&map, &["hash"]));
    let key = ed25519_dalek::SigningKey::from_bytes(ed25519_secret);
    let signature = ed25519_dalek::Signer::sign(&key, message.as_bytes());
    map.insert("signature".into(), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    finish(map, token)
}

fn with_auth_date(fields: &[(&str, &str)], auth_date: i64) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    map.insert("auth_date".into(), auth_date.to_string());
    map.remove("hash");
    map
}

/// Adds the HMAC of every field (`signature` included) and serialises.
fn finish(map: BTreeMap<String, String>, token: &BotToken) -> String {
    let mut mac = hmac_for(token);
    mac.update(check_string(&map, &[]).as_bytes());
    let hash = hex::encode(mac.finalize().into_bytes());
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &map {
        out.append_pair(k, v);
    }
    out.append_pair("hash", &hash);
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from @telegram-apps/init-data-node (github.com/Telegram-Mini-Apps/telegram-apps,
    // packages/init-data-node/src/validate.test.ts and src/entries/shared.test.ts).
    const TMA_TOKEN: &str = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8";
    const TMA_HMAC: &str = "auth_date=1&can_send_after=10000&chat=%7B%22id%22%3A1%2C%22type%22%3A%22group%22%2C%22title%22%3A%22chat-title%22%2C%22photo_url%22%3A%22group%22%2C%22username%22%3A%22my-chat%22%7D&chat_instance=888&chat_type=sender&hash=47cfa22e72b887cba90c9cb833c5ea0f599975b6ce7193741844b5c4a4228b40&query_id=QUERY&receiver=%7B%22added_to_attachment_menu%22%3Afalse%2C%22allows_write_to_pm%22%3Atrue%2C%22first_name%22%3A%22receiver-first-name%22%2C%22id%22%3A991%2C%22is_bot%22%3Afalse%2C%22is_premium%22%3Atrue%2C%22language_code%22%3A%22ru%22%2C%22last_name%22%3A%22receiver-last-name%22%2C%22photo_url%22%3A%22receiver-photo%22%2C%22username%22%3A%22receiver-username%22%7D&start_param=debug&user=%7B%22added_to_attachment_menu%22%3Afalse%2C%22allows_write_to_pm%22%3Afalse%2C%22first_name%22%3A%22user-first-name%22%2C%22id%22%3A222%2C%22is_bot%22%3Atrue%2C%22is_premium%22%3Afalse%2C%22language_code%22%3A%22en%22%2C%22last_name%22%3A%22user-last-name%22%2C%22photo_url%22%3A%22user-photo%22%2C%22username%22%3A%22user-username%22%7D";
    const TMA_3RD_BOT: i64 = 7342037359;
    const TMA_3RD: &str = "user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%20-%20%3F%20%5C%2F%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22%3A%22https%3A%5C%2F%5C%2Ft.me%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg%22%7D&chat_instance=8134722200314281151&chat_type=private&auth_date=1733584787&signature=zL-ucjNyREiHDE8aihFwpfR9aggP2xiAo3NSpfe-p7IbCisNlDKlo7Kb6G4D0Ao2mBrSgEk4maLSdv6MLIlADQ&hash=2174df5b000556d044f3f020384e879c8efcab55ddea2ced4eb752e93e7080d6";

    /// The decoder must read every query string as `form_urlencoded` does: the HMAC covers
    /// the decoded values, and SDKs encode with the same rules.
    #[test]
    fn fields_decode_as_form_urlencoded_does() {
        let alphabet = ["%", "+", "a", "Z", "0", "f", "F", "g", "é", "&", "=", "%2", "%FF", "%C3%A9", "%e9", " ", "%%"];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut inputs: Vec<String> = vec!["".into(), "%".into(), "%4".into(), "a%4".into(), "+%2B%2b".into()];
        for _ in 0..20_000 {
            let len = (state % 9) as usize;
            let mut text = String::new();
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            inputs.push(text);
        }
        for input in &inputs {
            let theirs: Vec<(String, String)> =
                form_urlencoded::parse(input.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let ours: Vec<(String, String)> = input
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, "")))
                .map(|(k, v)| (form_decode(k).into_owned(), form_decode(v).into_owned()))
                .collect();
            assert_eq!(ours, theirs, "{input:?}");
        }
    }

    fn token() -> BotToken {
        BotToken::parse("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_").expect("token")
    }

    #[test]
    fn signed_with_a_signature_the_hmac_covers_it_and_only_the_signing_key_verifies_it() {
        let secret = [7u8; 32];
        let raw = sign_with_signature(
            &[("user", r#"{"id":5,"first_name":"A"}"#), ("chat_type", "sender")],
            &token(),
            1000,
            &secret,
        );
        let data = InitData::parse(&raw).expect("parses");
        let signature = data.get("signature").expect("a signature beside the hash").to_owned();
        assert_eq!(signature.len(), 86, "64 bytes, base64url without padding, as Telegram sends it");
        data.clone().verify_hmac(&token(), 1000, 60).expect("the HMAC verifies");
        // The HMAC covers the signature: changing it breaks the hash.
        let forged = raw.replace(&signature, &format!("A{}", &signature[1..]));
        assert_eq!(
            InitData::parse(&forged).expect("parses").verify_hmac(&token(), 1000, 60),
            Err(InitDataError::BadSignature)
        );
        // Telegram's key did not sign it.
        for key in [TelegramKey::Production, TelegramKey::Test] {
            let refused = data.clone().verify_ed25519(token().bot_id(), key, 1000, 60);
            assert_eq!(refused, Err(InitDataError::BadSignature));
        }
        // The signing key did, over Telegram's third-party message.
        let public = ed25519_dalek::SigningKey::from_bytes(&secret).verifying_key();
        let message = format!("123456789:WebAppData\n{}", check_string(&data.fields, &["hash", "signature"]));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&signature).expect("base64url");
        let sig = ed25519_dalek::Signature::from_slice(&bytes).expect("64 bytes");
        public.verify_strict(message.as_bytes(), &sig).expect("verifies with the dev key");
    }

    #[test]
    fn the_published_hmac_vector_verifies_and_parses_typed_fields() {
        let t = BotToken::parse(TMA_TOKEN).expect("token");
        let v = InitData::parse(TMA_HMAC).expect("parse").verify_hmac(&t, 1, 60).expect("valid");
        let user = v.user.as_ref().expect("user");
        assert_eq!((user.id, user.username.as_deref(), user.is_bot), (222, Some("user-username"), Some(true)));
        assert_eq!(v.receiver.as_ref().map(|r| r.id), Some(991));
        assert_eq!(v.chat.as_ref().map(|c| c.kind.as_str()), Some("group"));
        assert_eq!(v.get("start_param"), Some("debug"));
        let other = BotToken::parse("5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx9").expect("token");
        assert_eq!(
            InitData::parse(TMA_HMAC).expect("parse").verify_hmac(&other, 1, 60),
            Err(InitDataError::BadSignature)
        );
    }

    #[test]
    fn the_published_ed25519_vector_verifies_for_its_bot_only() {
        let now = 1733584787;
        let ok = InitData::parse(TMA_3RD).expect("parse").verify_ed25519(
            BotId(TMA_3RD_BOT),
            TelegramKey::Production,
            now,
            60,
        );
        let v = ok.expect("valid");
        assert_eq!(
            v.user.as_ref().map(|u| u.first_name.as_str()),
            Some("Vladislav + - ? /"),
            "JSON `\\/` decodes to `/`"
        );
        let wrong_bot = InitData::parse(TMA_3RD).expect("parse").verify_ed25519(
            BotId(TMA_3RD_BOT + 1),
            TelegramKey::Production,
            now,
            60,
        );
        assert_eq!(wrong_bot, Err(InitDataError::BadSignature));
        let test_key =
            InitData::parse(TMA_3RD).expect("parse").verify_ed25519(BotId(TMA_3RD_BOT), TelegramKey::Test, now, 60);
        assert_eq!(test_key, Err(InitDataError::BadSignature));
    }

    #[test]
    fn signed_data_verifies_and_any_change_breaks_it() {
        let user = r#"{"id":42,"first_name":"Ann","username":"ann","future_field":1}"#;
        let raw = sign(&[("user", user), ("query_id", "Q1")], &token(), 1000);
        let v = InitData::parse(&raw).expect("parse").verify_hmac(&token(), 1000, 3600).expect("valid");
        let u = v.user.as_ref().expect("user");
        assert_eq!(u.extra.get("future_field"), Some(&serde_json::json!(1)), "unknown fields are kept");
        let tampered = raw.replace("Ann", "Bob");
        assert_eq!(
            InitData::parse(&tampered).expect("parse").verify_hmac(&token(), 1000, 3600),
            Err(InitDataError::BadSignature)
        );
    }

    #[test]
    fn the_hmac_covers_the_signature_field() {
        let raw = sign(&[("signature", "abc")], &token(), 1000);
        assert!(InitData::parse(&raw).expect("parse").verify_hmac(&token(), 1000, 60).is_ok());
        let stripped: String = raw.split('&').filter(|p| !p.starts_with("signature=")).collect::<Vec<_>>().join("&");
        assert_eq!(
            InitData::parse(&stripped).expect("parse").verify_hmac(&token(), 1000, 60),
            Err(InitDataError::BadSignature)
        );
    }

    #[test]
    fn age_and_clock_rules() {
        let raw = sign(&[], &token(), 1000);
        let check = |now| InitData::parse(&raw).expect("parse").verify_hmac(&token(), now, 3600).map(|_| ());
        assert_eq!(check(1000 + 3600), Ok(()));
        assert_eq!(check(1000 + 3601), Err(InitDataError::Expired { age_secs: 3601, max_secs: 3600 }));
        assert_eq!(check(1000 - 30), Ok(()), "small clock skew is tolerated");
        assert_eq!(check(1000 - 3600), Err(InitDataError::FromTheFuture));
    }

    #[test]
    fn malformed_input_is_refused() {
        assert_eq!(InitData::parse(""), Err(InitDataError::Length));
        assert_eq!(InitData::parse(&"a".repeat(MAX_LEN + 1)), Err(InitDataError::Length));
        assert_eq!(
            InitData::parse("auth_date=1&auth_date=2&hash=00"),
            Err(InitDataError::DuplicateKey("auth_date".into()))
        );
        assert_eq!(InitData::parse("hash=00"), Err(InitDataError::AuthDate));
        assert_eq!(InitData::parse("auth_date=x&hash=00"), Err(InitDataError::AuthDate));
        assert_eq!(InitData::parse("auth_date=1&user=%7Bnot-json"), Err(InitDataError::Field("user")));
        let no_hash = InitData::parse("auth_date=1").expect("parse");
        assert_eq!(no_hash.clone().verify_hmac(&token(), 1, 60), Err(InitDataError::MissingHash));
        assert_eq!(
            no_hash.verify_ed25519(BotId(1), TelegramKey::Production, 1, 60),
            Err(InitDataError::MissingSignature)
        );
        let bad_hex = InitData::parse("auth_date=1&hash=zz").expect("parse");
        assert_eq!(bad_hex.verify_hmac(&token(), 1, 60), Err(InitDataError::BadSignature));
    }

    #[test]
    fn a_leading_fragment_marker_is_accepted() {
        let raw = format!("#{}", sign(&[], &token(), 5));
        assert!(InitData::parse(&raw).expect("parse").verify_hmac(&token(), 5, 60).is_ok());
    }
}
