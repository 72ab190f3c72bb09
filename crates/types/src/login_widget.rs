//! The Telegram Login Widget's callback (<https://core.telegram.org/widgets/login>): the fields
//! Telegram appends to the redirect URL, checked with HMAC-SHA256 under SHA256(bot token) of
//! the bot the widget belongs to (the control bot), and `auth_date` freshness.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::BotToken;

/// A Telegram user the widget vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetUser {
    pub id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub auth_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidgetError {
    #[error("the login data is incomplete")]
    Missing,
    #[error("the login data was not signed by this platform's bot")]
    BadSignature,
    #[error("the login is too old; log in again")]
    Expired,
}

/// Fields the widget sends, with their size limits (anything else is refused).
const KNOWN: &[&str] = &["id", "first_name", "last_name", "username", "photo_url", "auth_date", "hash"];
const MAX_FIELD: usize = 512;

fn mac(token: &BotToken) -> Hmac<Sha256> {
    let secret = Sha256::digest(token.expose().as_bytes());
    <Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("any key length")
}

fn check_string(fields: &BTreeMap<&str, &str>) -> String {
    fields.iter().filter(|(k, _)| **k != "hash").map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n")
}

/// Verifies the widget's fields (already URL-decoded) at `now` (seconds).
pub fn verify(
    fields: &[(String, String)],
    token: &BotToken,
    now: i64,
    max_age_secs: i64,
) -> Result<WidgetUser, WidgetError> {
    let mut map = BTreeMap::new();
    for (k, v) in fields {
        if !KNOWN.contains(&k.as_str()) || v.len() > MAX_FIELD || map.insert(k.as_str(), v.as_str()).is_some() {
            return Err(WidgetError::Missing);
        }
    }
    let hash = map.get("hash").ok_or(WidgetError::Missing)?;
    let expected = hex::decode(hash).map_err(|_| WidgetError::BadSignature)?;
    let mut m = mac(token);
    m.update(check_string(&map).as_bytes());
    // verify_slice compares in constant time.
    m.verify_slice(&expected).map_err(|_| WidgetError::BadSignature)?;
    let id = map.get("id").and_then(|v| v.parse().ok()).ok_or(WidgetError::Missing)?;
    let auth_date: i64 = map.get("auth_date").and_then(|v| v.parse().ok()).ok_or(WidgetError::Missing)?;
    if now - auth_date > max_age_secs || auth_date - now > 60 {
        return Err(WidgetError::Expired);
    }
    Ok(WidgetUser {
        id,
        first_name: map.get("first_name").unwrap_or(&"").to_string(),
        username: map.get("username").map(|u| (*u).to_owned()),
        auth_date,
    })
}

/// Signs widget fields as Telegram does (for tests of the callback).
pub fn sign(fields: &[(&str, &str)], token: &BotToken) -> String {
    let map: BTreeMap<&str, &str> = fields.iter().copied().collect();
    let mut m = mac(token);
    m.update(check_string(&map).as_bytes());
    hex::encode(m.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> BotToken {
        BotToken::parse("555000111:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_").expect("token")
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn signed_fresh_data_verifies_and_anything_else_does_not() {
        let base = [("id", "1001"), ("first_name", "Ann"), ("username", "ann"), ("auth_date", "1800000000")];
        let hash = sign(&base, &token());
        let mut ok = base.to_vec();
        ok.push(("hash", &hash));
        let user = verify(&fields(&ok), &token(), 1_800_000_100, 86_400).expect("valid");
        assert_eq!((user.id, user.first_name.as_str(), user.username.as_deref()), (1001, "Ann", Some("ann")));

        assert_eq!(verify(&fields(&ok), &token(), 1_800_100_000, 86_400), Err(WidgetError::Expired));
        let other = BotToken::parse("555000112:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_").expect("token");
        assert_eq!(verify(&fields(&ok), &other, 1_800_000_100, 86_400), Err(WidgetError::BadSignature));
        let mut tampered = ok.clone();
        tampered[0] = ("id", "1002");
        assert_eq!(verify(&fields(&tampered), &token(), 1_800_000_100, 86_400), Err(WidgetError::BadSignature));
        let mut extra = ok.clone();
        extra.push(("admin", "1"));
        assert_eq!(verify(&fields(&extra), &token(), 1_800_000_100, 86_400), Err(WidgetError::Missing));
        assert_eq!(verify(&fields(&base), &token(), 1_800_000_100, 86_400), Err(WidgetError::Missing));
    }
}
