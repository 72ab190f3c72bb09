//! Bot usernames and the DNS label derived from them.

use std::fmt;

use crate::ParseError;

/// A bot's @username without the `@`, as Telegram spells it (case kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BotUsername(String);

impl BotUsername {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().trim_start_matches('@');
        let ok = (5..=32).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && s.to_ascii_lowercase().ends_with("bot");
        if ok { Ok(Self(s.to_owned())) } else { Err(ParseError::BotUsername) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host label of this bot: lowercased, `_` -> `-`. Injective because usernames
    /// never contain `-` and Telegram compares them case-insensitively.
    pub fn host_label(&self) -> HostLabel {
        HostLabel(self.0.to_ascii_lowercase().replace('_', "-"))
    }
}

impl TryFrom<String> for BotUsername {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<BotUsername> for String {
    fn from(u: BotUsername) -> Self {
        u.0
    }
}

impl fmt::Display for BotUsername {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The DNS label under which a bot's apps are served (`demo-bot` in `demo-bot.localhost`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostLabel(String);

impl HostLabel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_label_lowercases_and_replaces_underscores() {
        let u = BotUsername::parse("@Demo_Shop_Bot").expect("valid");
        assert_eq!(u.as_str(), "Demo_Shop_Bot");
        assert_eq!(u.host_label().as_str(), "demo-shop-bot");
    }

    #[test]
    fn invalid_usernames_are_rejected() {
        for bad in ["", "bot", "_demobot", "demo-bot", "demo bot", "demoshop", "1demobot", &"a".repeat(30)] {
            assert_eq!(BotUsername::parse(bad), Err(ParseError::BotUsername), "{bad:?}");
        }
    }
}
