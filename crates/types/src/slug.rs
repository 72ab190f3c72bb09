//! App slugs: an app's name within its bot, which becomes part of its host name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An app's name within its bot: 1-32 of `a-z0-9-`, no leading/trailing or doubled `-`
/// (a double dash separates host parts: `{app}--{bot}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppSlug(String);

impl AppSlug {
    pub const MAIN: &'static str = "main";

    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "app slug `{s}` must be 1-32 characters of a-z, 0-9 and single dashes, not starting or ending with a dash"
            ))
        }
    }
    pub fn main() -> Self {
        Self(Self::MAIN.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppSlug {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<AppSlug> for String {
    fn from(s: AppSlug) -> Self {
        s.0
    }
}
impl fmt::Display for AppSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_reject_separator_lookalikes() {
        assert!(AppSlug::parse("main").is_ok());
        assert!(AppSlug::parse("shop-v2").is_ok());
        for bad in ["", "Main", "a--b", "-a", "a-", "a_b", &"a".repeat(33)] {
            assert!(AppSlug::parse(bad).is_err(), "{bad:?}");
        }
    }
}
