//! The host grammar: the names under the base domain that the platform serves apps at. `AppHost`'s
//! `Display` writes them and `PlatformHost::parse` reads them; nothing else knows the grammar.
//!
//! - `{bot}`: the bot's `main` app;
//! - `{app}--{bot}`: any app of the bot, `main` included;
//! - `{short-id}--{app}--{bot}`: a preview of one deployment (the app is always named).
//!
//! `{bot}` is the bot's `HostLabel`, which holds `--` when the username holds `__`; so a label is
//! looked up whole first and read as a preview only if that fails.

use std::borrow::Cow;
use std::fmt;

use crate::AppSlug;

const SEP: &str = "--";
/// A preview's short id: the last 12 hex digits of the deployment's id (its random tail).
pub const SHORT_ID_LEN: usize = 12;

/// The short id under which a deployment is previewed.
pub fn short_id(deployment_id: &str) -> String {
    let hex: String = deployment_id.chars().filter(char::is_ascii_hexdigit).collect();
    hex[hex.len().saturating_sub(SHORT_ID_LEN)..].to_owned()
}

/// The first label of a host under the base domain at which an app is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppHost<'a> {
    /// `{bot}`, or `{app}--{bot}` for an app other than `main`: where end users open it.
    App { slug: &'a AppSlug, bot: &'a str },
    /// `{app}--{bot}` even for `main`: the name every app has.
    Named { slug: &'a AppSlug, bot: &'a str },
    /// `{short-id}--{app}--{bot}`: one deployment.
    Preview { short: &'a str, slug: &'a AppSlug, bot: &'a str },
}

impl fmt::Display for AppHost<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::App { slug, bot } if slug.as_str() == AppSlug::MAIN => f.write_str(bot),
            Self::App { slug, bot } | Self::Named { slug, bot } => write!(f, "{slug}{SEP}{bot}"),
            Self::Preview { short, slug, bot } => write!(f, "{short}{SEP}{slug}{SEP}{bot}"),
        }
    }
}

impl AppHost<'_> {
    /// The labels the routing table holds for an app: its name, and the bare bot label for `main`.
    pub fn route_keys(slug: &AppSlug, bot: &str) -> impl Iterator<Item = String> {
        let named = AppHost::Named { slug, bot }.to_string();
        let bare = (slug.as_str() == AppSlug::MAIN).then(|| bot.to_owned());
        bare.into_iter().chain(std::iter::once(named))
    }
}

/// A `Host` header value, normalised and placed: under the base domain or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformHost<'a> {
    /// One label under the base domain, to be looked up whole (`{bot}` or `{app}--{bot}`), then,
    /// if that fails, as the preview `preview()` reads.
    Label(Cow<'a, str>),
    /// Any other name: only a verified custom domain routes it.
    Other(Cow<'a, str>),
}

impl<'a> PlatformHost<'a> {
    /// Reads a `Host` value (any case, optional port and trailing dot) against `suffix`
    /// (`.{base_domain}`). `None`: not a host name, or more than one label under the base domain.
    pub fn parse(raw: &'a str, suffix: &str) -> Option<Self> {
        let Normal { name, first_dot } = normalise(raw)?;
        // A label is what precedes the suffix, holding no dot: the scan found the first one.
        let label_len = name.len().checked_sub(suffix.len()).filter(|&n| name.as_bytes()[n..] == *suffix.as_bytes());
        match label_len {
            Some(n) if n == 0 || first_dot < n => None,
            Some(n) => Some(Self::Label(match name {
                Cow::Borrowed(l) => Cow::Borrowed(&l[..n]),
                Cow::Owned(mut l) => {
                    l.truncate(n);
                    Cow::Owned(l)
                }
            })),
            None => Some(Self::Other(name)),
        }
    }
}

/// A label read as a preview: `(short id, the app's named label)`. A preview names its app, so
/// `{short}--{bot}` is not one.
pub fn preview(label: &str) -> Option<(&str, &str)> {
    let (short, rest) = label.split_once(SEP)?;
    let is_short_id = short.len() == SHORT_ID_LEN && short.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (is_short_id && rest.contains(SEP)).then_some((short, rest))
}

/// Other bots' labels that would share hosts with `label` (a bot's, or an app's named label): the
/// parts of `label` after each `--` (`shop--x-bot` is a host of bot `x-bot`), and, as a SQL `LIKE`
/// pattern, the labels ending in `--{label}`. Labels hold only `a-z0-9-`, safe inside `LIKE`.
pub fn collisions(label: &str) -> (Vec<&str>, String) {
    let shorter = label.match_indices(SEP).map(|(i, _)| &label[i + SEP.len()..]).filter(|s| !s.is_empty()).collect();
    (shorter, format!("%{SEP}{label}"))
}

/// A host name as [`normalise`] returns it, with where its first dot is (`usize::MAX`: none).
struct Normal<'a> {
    name: Cow<'a, str>,
    first_dot: usize,
}

/// Byte classes of a `Host` value: a lowercase name byte, an uppercase letter, `.`, `:`, or
/// anything else (not a host name).
const OTHER: u8 = 0;
const NAME: u8 = 1;
const UPPER: u8 = 2;
const DOT: u8 = 3;
const COLON: u8 = 4;
const CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            b'a'..=b'z' | b'0'..=b'9' | b'-' => NAME,
            b'A'..=b'Z' => UPPER,
            b'.' => DOT,
            b':' => COLON,
            _ => OTHER,
        };
        b += 1;
    }
    t
};

/// Lowercase, without port or trailing dot; `None` for values that are not host names.
fn normalise(host: &str) -> Option<Normal<'_>> {
    // One pass (every edge request parses its Host): allowed bytes, whether any is uppercase,
    // the first dot, and where a port starts.
    let bytes = host.as_bytes();
    let mut upper = false;
    let mut first_dot = usize::MAX;
    let mut end = bytes.len();
    for (i, &b) in bytes.iter().enumerate() {
        match CLASS[usize::from(b)] {
            NAME => {}
            DOT => first_dot = first_dot.min(i),
            UPPER => upper = true,
            COLON if bytes[i + 1..].iter().all(u8::is_ascii_digit) => {
                end = i;
                break;
            }
            _ => return None,
        }
    }
    let name = host[..end].trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    // Clients send lowercase names; only others pay for a copy.
    let name = if upper { Cow::Owned(name.to_ascii_lowercase()) } else { Cow::Borrowed(name) };
    Some(Normal { name, first_dot })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(s: &str) -> AppSlug {
        AppSlug::parse(s).expect("slug")
    }

    #[test]
    fn hosts_are_written_in_one_grammar() {
        let (main, shop) = (slug("main"), slug("shop"));
        assert_eq!(AppHost::App { slug: &main, bot: "demo-bot" }.to_string(), "demo-bot");
        assert_eq!(AppHost::App { slug: &shop, bot: "demo-bot" }.to_string(), "shop--demo-bot");
        assert_eq!(AppHost::Named { slug: &main, bot: "demo-bot" }.to_string(), "main--demo-bot");
        let preview = AppHost::Preview { short: "0123456789ab", slug: &main, bot: "demo-bot" };
        assert_eq!(preview.to_string(), "0123456789ab--main--demo-bot");
        assert_eq!(AppHost::route_keys(&main, "demo-bot").collect::<Vec<_>>(), ["demo-bot", "main--demo-bot"]);
        assert_eq!(AppHost::route_keys(&shop, "demo-bot").collect::<Vec<_>>(), ["shop--demo-bot"]);
    }

    #[test]
    fn what_is_written_reads_back() {
        let shop = slug("shop");
        let written = AppHost::Preview { short: "0123456789ab", slug: &shop, bot: "odd--name-bot" }.to_string();
        assert_eq!(preview(&written), Some(("0123456789ab", "shop--odd--name-bot")));
        let host = format!("{written}.apps.test");
        assert_eq!(PlatformHost::parse(&host, ".apps.test"), Some(PlatformHost::Label(written.as_str().into())));
    }

    #[test]
    fn hosts_are_normalised_and_placed() {
        let label = |s: &'static str| Some(PlatformHost::Label(s.into()));
        assert_eq!(PlatformHost::parse("Demo-Bot.apps.test:8080", ".apps.test"), label("demo-bot"));
        assert_eq!(PlatformHost::parse("demo-bot.apps.test.", ".apps.test"), label("demo-bot"));
        assert_eq!(
            PlatformHost::parse("App.Example.com.", ".apps.test"),
            Some(PlatformHost::Other("app.example.com".into()))
        );
        assert_eq!(PlatformHost::parse("demo-bot.apps.test.:443", ".apps.test"), label("demo-bot"));
        assert_eq!(PlatformHost::parse("demo-bot.apps.test:", ".apps.test"), label("demo-bot"));
        assert_eq!(PlatformHost::parse("DEMO-BOT.Apps.Test", ".apps.test"), label("demo-bot"));
        assert_eq!(PlatformHost::parse("apps.test", ".apps.test"), Some(PlatformHost::Other("apps.test".into())));
        assert_eq!(PlatformHost::parse("xapps.test", ".apps.test"), Some(PlatformHost::Other("xapps.test".into())));
        for bad in [
            "x.demo-bot.apps.test",
            "X.Demo-Bot.apps.test",
            "a..apps.test",
            ".apps.test",
            "demo bot.apps.test",
            "",
            ":80",
            "a_b.example.com",
            "[::1]:80",
            "demo-bot.apps.test:80:80",
            "demo-bot.apps.test:8o",
        ] {
            assert_eq!(PlatformHost::parse(bad, ".apps.test"), None, "{bad}");
        }
    }

    #[test]
    fn previews_need_a_short_id_and_a_named_app() {
        assert_eq!(preview("0123456789ab--demo-bot"), None);
        assert_eq!(preview("zzzzzzzzzzzz--shop--demo-bot"), None);
        assert_eq!(preview("0123456789a--shop--demo-bot"), None);
        assert_eq!(preview("demo-bot"), None);
    }

    #[test]
    fn collisions_look_both_ways() {
        let (shorter, pattern) = collisions("shop--x--y-bot");
        assert_eq!(shorter, ["x--y-bot", "y-bot"]);
        assert_eq!(pattern, "%--shop--x--y-bot");
    }

    #[test]
    fn short_ids_come_from_the_random_tail() {
        assert_eq!(short_id("01936d6e-7b2a-7c4e-9f11-a1b2c3d4e5f6"), "a1b2c3d4e5f6");
    }
}
