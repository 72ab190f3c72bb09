//! Bot tokens: `<bot id>:<secret>`, as issued by @BotFather.

use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

use crate::ParseError;

/// Telegram's numeric id of a bot: the part of its token before the colon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct BotId(pub i64);

impl fmt::Display for BotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A syntactically valid bot token. The secret never appears in `Debug` output, and the
/// memory holding it is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken {
    id: BotId,
    raw: Zeroizing<String>,
}

impl BotToken {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let raw = raw.trim();
        let (id, secret) = raw.split_once(':').ok_or(ParseError::BotToken)?;
        let id_ok = !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit());
        let secret_ok = (30..=128).contains(&secret.len())
            && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok || !secret_ok {
            return Err(ParseError::BotToken);
        }
        let id: i64 = id.parse().map_err(|_| ParseError::BotToken)?;
        if id <= 0 {
            return Err(ParseError::BotToken);
        }
        Ok(Self { id: BotId(id), raw: Zeroizing::new(raw.to_owned()) })
    }

    pub fn bot_id(&self) -> BotId {
        self.id
    }

    /// The whole token, for the Bot API URL and for encryption. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

impl FromStr for BotToken {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BotToken({}:<redacted>)", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_";

    #[test]
    fn a_token_yields_its_bot_id() {
        let t = BotToken::parse(GOOD).expect("valid");
        assert_eq!(t.bot_id(), BotId(123456789));
        assert_eq!(t.expose(), GOOD);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t = BotToken::parse(GOOD).expect("valid");
        let shown = format!("{t:?}");
        assert!(!shown.contains("AAHdq"), "{shown}");
        assert!(shown.contains("123456789"));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in [
            "",
            "123456789",
            ":AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "123:short",
            "123:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDs/w",
            "0:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "99999999999999999999:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        ] {
            assert_eq!(BotToken::parse(bad), Err(ParseError::BotToken), "{bad:?}");
        }
    }
}
