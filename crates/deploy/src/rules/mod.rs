//! `_headers` and `_redirects`: the Netlify / Cloudflare Pages files in a bundle's root that
//! add response headers and redirects or rewrites. Parsed once at upload (so a mistake is
//! reported to the developer with its line number, not discovered by users) and stored with
//! the deployment as [`Rules`]; the edge matches requests against them with [`Pattern`].
//! Here: the types and the line reader; `redirects` and `headers` parse one file each,
//! `pattern` is the path-matching engine.
//!
//! The syntax is what both hosts accept, plus the Netlify forms people carry over (`docs/src/edge.md` has
//! the table, `tests/peer_cases.rs` the peers' own cases):
//! - patterns are paths starting with `/`; `:name` matches one or more characters up to the
//!   next `/` (a whole segment or part of one, `/x:name`), `*` matches any rest (including
//!   `/`); a trailing `/` in the request is ignored when matching; `%XX` escapes match the
//!   character they stand for;
//! - `_redirects`: `from [key=value …] [to] [status][!]` per line. Statuses 200 (rewrite), 301
//!   (default, as on Netlify), 302, 303, 307, 308, 404, 410; `to` may use `:splat` and the
//!   placeholders of `from`; `key=value` pairs must be in the request's query (`key=:name`
//!   captures the value); `from 200` without `to` rewrites to the path asked; a `!` forces the
//!   rule even when a file exists at `from` (by default files win);
//! - `_headers`: a path line, then `Name: value` lines; `! Name` removes a header set by an
//!   earlier rule or by the platform's defaults. Paths may have several `*`.
//!
//! A line that cannot be used is left out and reported as a warning, as both hosts do. Only
//! what would be unsafe to leave out or to apply is refused: a cookie for a parent domain,
//! Netlify's `Basic-Auth` header and `Role=`/`Sign=` conditions (protection that would
//! silently not happen), and files over the size limit.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

mod headers;
mod pattern;
mod redirects;

use headers::parse_headers;
pub use pattern::Pattern;
use pattern::{Spellings, count_complex};
use redirects::parse_redirects;

/// Bundle-root file names that hold rules; they are not served.
pub const HEADERS_FILE: &str = "_headers";
pub const REDIRECTS_FILE: &str = "_redirects";

const MAX_REDIRECTS: usize = 2000;
const MAX_HEADER_RULES: usize = 500;
const MAX_LINE: usize = 2000;
const MAX_FILE: usize = 256 * 1024;
/// Warnings reported per deploy; the rest are counted in one more.
const MAX_WARNINGS: usize = 50;
/// Patterns per file that need a regular expression (a placeholder next to a `*` in one
/// segment, or between two `*`): each runs over the whole path when its literals do not rule
/// it out, 7 µs on the longest path (see the benchmark).
pub const MAX_COMPLEX_PATTERNS: usize = 10;
/// Compiled size of one pattern's regular expression.
const MAX_PATTERN_PROGRAM: usize = 1 << 16;

/// Headers the server computes itself; a bundle setting them would corrupt responses.
const RESERVED_HEADERS: &[&str] = &[
    "content-length",
    "content-encoding",
    "content-range",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "trailer",
    "te",
    "etag",
    "accept-ranges",
];

/// `Role=` needs Netlify Identity and `Sign=`/`signed=` signs proxied requests: neither can
/// happen here, and a rule applied without them would give everyone what it guarded.
const ENFORCING_CONDITIONS: &[&str] = &["role", "sign", "signed"];

/// The platform's own paths: the edge answers them before any rule.
const PLATFORM_PREFIX: &str = "/_tma";

/// The rules of one deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<Redirect>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderRule {
    pub pattern: Pattern,
    /// `(name, value)`, names lowercased, in file order.
    #[serde(default)]
    pub set: Vec<(String, String)>,
    /// Lowercased names to remove.
    #[serde(default)]
    pub unset: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub from: Pattern,
    /// Query parameters the request must have (Netlify's `from key=value to`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<QueryMatch>,
    pub to: String,
    pub status: u16,
    #[serde(default)]
    pub force: bool,
}

/// One `key=value` a rule needs in the request's query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryMatch {
    pub key: String,
    pub value: QueryValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryValue {
    /// `key=:name`: any value, captured as `:name` for the destination.
    Capture(String),
    /// `key=value`: exactly this value.
    Equals(String),
}

/// A line of a rule file that was refused or left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {message}")]
pub struct RuleError {
    pub file: &'static str,
    pub line: usize,
    pub message: String,
}

/// The two files parsed: the rules, and the lines left out or read differently than written,
/// for the deploy's warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub rules: Rules,
    pub warnings: Vec<RuleError>,
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.redirects.is_empty()
    }

    /// Parses the two files (either may be absent). Lines that cannot be used are left out
    /// with a warning; an error refuses the files.
    pub fn parse(headers: Option<&str>, redirects: Option<&str>) -> Result<Parsed, RuleError> {
        let mut warnings = Vec::new();
        let headers = headers.map(|t| parse_headers(t, &mut warnings)).transpose()?.unwrap_or_default();
        let redirects = redirects.map(|t| parse_redirects(t, &mut warnings)).transpose()?.unwrap_or_default();
        warnings.sort_by_key(|w| (w.file, w.line));
        // A file of bad lines would otherwise make a warning per line: the deploy's answer
        // stays short.
        if warnings.len() > MAX_WARNINGS {
            let rest = warnings.split_off(MAX_WARNINGS);
            let message =
                format!("{} more lines were left out or read differently; fix the ones above first", rest.len());
            warnings.push(err(rest[0].file, rest[0].line, message));
        }
        Ok(Parsed { rules: Self { headers, redirects }, warnings })
    }

    /// The first redirect matching `path` and `query`, with its destination filled in (for a
    /// redirect, give it to [`location`]). `file_exists` says whether a file answers the path,
    /// which only forced rules override.
    pub fn redirect_for(&self, path: &str, query: &str, file_exists: bool) -> Option<(&Redirect, String)> {
        let path = Spellings::of(path);
        let pairs = OnceCell::new();
        self.redirects.iter().filter(|r| r.force || !file_exists).find_map(|r| {
            let mut captures = r.from.captures_either(&path)?;
            if !r.query.is_empty() {
                let pairs: &Vec<(Cow<'_, str>, Cow<'_, str>)> =
                    pairs.get_or_init(|| form_urlencoded::parse(query.as_bytes()).collect());
                for wanted in &r.query {
                    let (_, value) = pairs.iter().find(|(k, _)| *k == wanted.key)?;
                    match &wanted.value {
                        QueryValue::Capture(name) => captures.0.push((name.as_str(), value.as_ref())),
                        QueryValue::Equals(v) if v == value => {}
                        QueryValue::Equals(_) => return None,
                    }
                }
            }
            Some((r, captures.fill(&r.to)))
        })
    }

    /// The header changes for `path`, in order: `Set(name, value)` and `Unset(name)`. Values
    /// of one name set by several matching rules are joined with `, ` as on both hosts.
    pub fn headers_for(&self, path: &str) -> Vec<HeaderChange> {
        // Removed entries stay as `None` until the end, and `live` finds a name's `Set`
        // directly: 500 rules setting 500 names cost 500 steps, not 500 x 500.
        let mut out: Vec<Option<HeaderChange>> = Vec::new();
        let mut live: HashMap<&str, usize> = HashMap::new();
        let path = Spellings::of(path);
        for (rule, captures) in self.headers.iter().filter_map(|r| r.pattern.captures_either(&path).map(|c| (r, c))) {
            for name in &rule.unset {
                if let Some(i) = live.remove(name.as_str()) {
                    out[i] = None;
                }
                out.push(Some(HeaderChange::Unset(name.clone())));
            }
            for (name, value) in &rule.set {
                let value = captures.fill(value);
                match live.get(name.as_str()).and_then(|i| out[*i].as_mut()) {
                    Some(HeaderChange::Set(_, v)) => {
                        v.push_str(", ");
                        v.push_str(&value);
                    }
                    _ => {
                        live.insert(name, out.len());
                        out.push(Some(HeaderChange::Set(name.clone(), value)));
                    }
                }
            }
        }
        out.into_iter().flatten().collect()
    }
}

/// A redirect's `Location`: its filled-in destination with the request's query, which goes
/// before a `#fragment`; a destination with a query of its own keeps only that one.
pub fn location<'a>(target: &'a str, query: &str) -> Cow<'a, str> {
    let (base, fragment) = match target.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (target, None),
    };
    if query.is_empty() || base.contains('?') {
        return Cow::Borrowed(target);
    }
    let mut out = format!("{base}?{query}");
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    Cow::Owned(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderChange {
    Set(String, String),
    Unset(String),
}

fn err(file: &'static str, line: usize, message: impl Into<String>) -> RuleError {
    RuleError { file, line, message: message.into() }
}

/// Why a line is not used: left out with a warning, or refusing the whole file.
enum Problem {
    Ignored(String),
    Refused(String),
}

impl From<String> for Problem {
    fn from(m: String) -> Self {
        Problem::Ignored(m)
    }
}

/// The file's lines with their numbers, trimmed; over-long lines are left out with a warning.
fn lines<'t>(
    file: &'static str,
    text: &'t str,
    warnings: &mut Vec<RuleError>,
) -> Result<Vec<(usize, &'t str)>, RuleError> {
    if text.len() > MAX_FILE {
        return Err(err(file, 0, format!("the file is larger than {MAX_FILE} bytes")));
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.len() > MAX_LINE {
            warnings.push(err(file, i + 1, format!("the line is longer than {MAX_LINE} characters; it is ignored")));
            continue;
        }
        out.push((i + 1, line));
    }
    Ok(out)
}

/// An absolute http(s) URL: another site, or (as a rule's path) a whole host.
fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Whether `s` is a placeholder's name: a letter, then letters, digits and `_`.
fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `:name` occurrences in a destination or header value.
fn placeholders(s: &str) -> impl Iterator<Item = &str> {
    s.match_indices(':').filter_map(move |(i, _)| {
        let rest = &s[i + 1..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        // `https://` has a `:` followed by `/`: not a placeholder.
        (end > 0 && rest.as_bytes()[0].is_ascii_alphabetic()).then(|| &rest[..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(headers: &str, redirects: &str) -> Rules {
        let parsed = Rules::parse(Some(headers), Some(redirects)).expect("valid rules");
        assert_eq!(parsed.warnings, [], "{headers}{redirects}");
        parsed.rules
    }

    #[test]
    fn redirects_parse_with_defaults_force_and_comments() {
        let r = rules(
            "",
            "# moved pages\n/old /new\n/blog/:year/:slug /posts/:year-:slug 302\n\n/app/* /index.html 200\n/x /y 301! # forced\n",
        );
        let summary: Vec<_> = r.redirects.iter().map(|r| (r.from.as_str(), r.to.as_str(), r.status, r.force)).collect();
        assert_eq!(
            summary,
            [
                ("/old", "/new", 301, false),
                ("/blog/:year/:slug", "/posts/:year-:slug", 302, false),
                ("/app/*", "/index.html", 200, false),
                ("/x", "/y", 301, true),
            ]
        );
    }

    #[test]
    fn redirect_destinations_get_placeholders_and_splat() {
        let r = rules("", "/blog/:year/:slug /posts/:year-:slug 302\n/docs/* https://docs.example.com/:splat 308\n");
        assert_eq!(r.redirect_for("/blog/2024/hello", "", false).map(|(_, to)| to), Some("/posts/2024-hello".into()));
        assert_eq!(r.redirect_for("/blog/2024/hello/", "", false).map(|(_, to)| to), Some("/posts/2024-hello".into()));
        assert_eq!(r.redirect_for("/blog/2024", "", false), None);
        assert_eq!(
            r.redirect_for("/docs/a/b.html", "", false).map(|(_, to)| to),
            Some("https://docs.example.com/a/b.html".into())
        );
    }

    #[test]
    fn files_shadow_redirects_unless_forced() {
        let r = rules("", "/a /b\n/c /d 302!\n");
        assert!(r.redirect_for("/a", "", true).is_none());
        assert!(r.redirect_for("/a", "", false).is_some());
        assert!(r.redirect_for("/c", "", true).is_some());
    }

    #[test]
    fn unusable_redirect_lines_are_left_out_with_their_line_number() {
        let ignored = [
            ("/a", "expected `from to [status]`"),
            ("/a /b 999", "status 999 is not supported"),
            ("/a /b abc", "not a status code"),
            ("a /b", "must be a path starting with `/`"),
            ("/a b", "the destination must start with `/` or be an http(s) URL"),
            ("/a https://x.example 200", "proxying"),
            ("/a /b 302 Country=us", "conditions"),
            ("/*/* /b", "one `*`"),
            ("https://old.example/* /b", "rules for a whole host"),
            ("/_tma/me /b", "belongs to the platform"),
            ("/a 301", "needs a destination"),
            ("/a /b\n/a /c", "has a rule on an earlier line"),
        ];
        for (lines, want) in ignored {
            let text = format!("# header\n{lines}\n/ok /fine\n");
            let parsed = Rules::parse(None, Some(&text)).expect(lines);
            let last = lines.lines().count() + 1;
            assert_eq!(parsed.warnings.len(), 1, "{lines}: {:?}", parsed.warnings);
            let w = &parsed.warnings[0];
            assert_eq!((w.file, w.line), ("_redirects", last), "{lines}");
            assert!(w.message.contains(want) && w.message.contains("ignored"), "{lines}: {w}");
            assert!(parsed.rules.redirects.iter().any(|r| r.from.as_str() == "/ok"), "the other lines stay");
        }
        // Kept, with a note on how it is read.
        let kept = [("/a /b/:id", "`:id` in the destination is not a placeholder"), ("/a /b/:splat", "`:splat`")];
        for (line, want) in kept {
            let parsed = Rules::parse(None, Some(line)).expect(line);
            assert_eq!(parsed.rules.redirects.len(), 1, "{line}");
            assert!(parsed.warnings[0].message.contains(want), "{line}: {:?}", parsed.warnings);
        }
        // Refused: protection that would silently not happen.
        for line in ["/admin/* /admin/:splat 200! Role=admin", "/api/* https://api.example/:splat 200 Sign=SECRET"] {
            let e = Rules::parse(None, Some(line)).expect_err(line);
            assert!(e.message.contains("cannot be enforced"), "{line}: {e}");
        }
    }

    #[test]
    fn a_file_of_bad_lines_gets_a_short_report() {
        let text = "/a\n".repeat(5_000);
        let parsed = Rules::parse(None, Some(&text)).expect("parsed");
        assert_eq!(parsed.warnings.len(), MAX_WARNINGS + 1);
        let last = parsed.warnings.last().expect("summary");
        assert_eq!(last.line, MAX_WARNINGS + 1);
        assert!(last.message.starts_with("4950 more lines"), "{last}");
    }

    #[test]
    fn query_parameters_in_from_must_be_in_the_request() {
        let r = Rules::parse(None, Some("/store id=:id /blog/:id 301\n/ page=news /news\n/c?x=1&y=:y /d/:y\n"))
            .expect("rules");
        assert_eq!(r.warnings.len(), 1, "the `?` form is noted: {:?}", r.warnings);
        let r = r.rules;
        let to = |path: &str, query: &str| r.redirect_for(path, query, false).map(|(_, to)| to);
        assert_eq!(to("/store", "id=my-post"), Some("/blog/my-post".into()));
        assert_eq!(to("/store", "x=1&id=a%20b"), Some("/blog/a b".into()));
        assert_eq!(to("/store", ""), None);
        assert_eq!(to("/", "page=news"), Some("/news".into()));
        assert_eq!(to("/", "page=other"), None);
        assert_eq!(to("/c", "y=2&x=1"), Some("/d/2".into()));
        assert_eq!(to("/c", "x=2&y=2"), None);
    }

    #[test]
    fn a_200_without_destination_serves_the_path_asked() {
        let r = rules("", "/admin/* 200\n/* /index.html 200\n");
        assert_eq!(r.redirect_for("/admin/users", "", false).map(|(_, to)| to), Some("/admin/users".into()));
        assert_eq!(r.redirect_for("/other", "", false).map(|(_, to)| to), Some("/index.html".into()));
    }

    #[test]
    fn locations_put_the_query_before_the_fragment() {
        assert_eq!(location("https://foobar.com/#heading", "test=abc"), "https://foobar.com/?test=abc#heading");
        assert_eq!(location("/b#x?y", "q=1"), "/b?q=1#x?y");
        assert_eq!(location("/b?own=1#f", "q=1"), "/b?own=1#f");
        assert_eq!(location("/b", ""), "/b");
        assert_eq!(location("/b", "q=1"), "/b?q=1");
    }

    #[test]
    fn headers_merge_in_order_and_can_be_removed() {
        let r = rules(
            "# all pages\n/*\n  X-Frame-Options: SAMEORIGIN\n  Link: </a.css>; rel=preload\n\n/assets/*\n  Cache-Control: public, max-age=60\n  Link: </b.css>; rel=preload\n  ! X-Frame-Options\n",
            "",
        );
        assert_eq!(
            r.headers_for("/assets/app.js"),
            [
                HeaderChange::Set("link".into(), "</a.css>; rel=preload, </b.css>; rel=preload".into()),
                HeaderChange::Unset("x-frame-options".into()),
                HeaderChange::Set("cache-control".into(), "public, max-age=60".into()),
            ]
        );
        assert_eq!(r.headers_for("/index.html").len(), 2);
    }

    #[test]
    fn header_values_may_use_placeholders() {
        let r = rules("/u/:name\n  X-User: :name\n", "");
        assert_eq!(r.headers_for("/u/ann"), [HeaderChange::Set("x-user".into(), "ann".into())]);
    }

    #[test]
    fn unusable_header_lines_are_left_out_with_their_line_number() {
        // (text, the line warned about, why)
        let ignored = [
            ("  X-A: 1", 1, "must follow a path line"),
            ("/*\n  Content-Length: 3", 2, "set by the server"),
            ("/*\n  ETag: \"x\"", 2, "set by the server"),
            ("/*\n  Bad Name: 1", 2, "not a valid header name"),
            ("/*\n  X-A", 2, "expected `Name: value`"),
            ("/*\n  : one", 2, "the name is missing"),
            ("/*\n  X-A:", 2, "must be non-empty"),
            ("/*\n  X-A: caf\u{e9}", 2, "printable ASCII"),
            ("/*\n  ! Content-Type: text/plain", 2, "not a valid header name"),
            // The rule goes, its header lines with it (without a warning each).
            ("https://example.com/*\n  X-A: 1", 1, "rules for a whole host"),
            ("/empty", 1, "has no header lines"),
        ];
        for (text, line, want) in ignored {
            let full = format!("{text}\n/ok\n  X-Ok: 1\n");
            let parsed = Rules::parse(Some(&full), None).expect(text);
            let [w] = parsed.warnings.as_slice() else { panic!("{text}: {:?}", parsed.warnings) };
            assert_eq!((w.file, w.line), ("_headers", line), "{text}");
            assert!(w.message.contains(want) && w.message.contains("ignored"), "{text}: {w}");
            let kept: Vec<&str> = parsed.rules.headers.iter().map(|r| r.pattern.as_str()).collect();
            assert_eq!(kept.last(), Some(&"/ok"), "{text}");
        }
        let refused = [
            ("/*\n  Set-Cookie: a=1; Path=/; Domain=localhost", "may not have a `Domain`"),
            ("/*\n  Set-Cookie: a=1;domain=.example.com", "may not have a `Domain`"),
            ("/*\n  Set-Cookie: __Host-tma_session=forged; Path=/; Secure", "belongs to the platform's session cookie"),
            ("/*\n  Set-Cookie: __Host-tma_launch=forged; Path=/; Secure", "belongs to the platform's session cookie"),
            ("/u/:name\n  Set-Cookie: user=:name", "may not use placeholders"),
            ("/backup/*\n  Basic-Auth: dev@example.com:secret", "would send the password"),
        ];
        for (text, want) in refused {
            let e = Rules::parse(Some(text), None).expect_err(text);
            assert_eq!((e.file, e.line), ("_headers", text.lines().count()), "{text}");
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn header_paths_are_told_by_their_start_not_their_indentation() {
        let r = rules("  /a\nX-A: 1\n    /b\n\t\tX-B: 2\n", "");
        assert_eq!(r.headers_for("/a"), [HeaderChange::Set("x-a".into(), "1".into())]);
        assert_eq!(r.headers_for("/b"), [HeaderChange::Set("x-b".into(), "2".into())]);
    }

    #[test]
    fn header_paths_may_have_several_splats_and_escapes() {
        let r = rules("/a/*/*.js\n  X-A: 1\n/some%20page\n  X-B: 2\n/x:name\n  X-C: :name\n", "");
        assert_eq!(r.headers_for("/a/b/c.js").len(), 1);
        assert_eq!(r.headers_for("/a/b/c.css").len(), 0);
        assert_eq!(r.headers_for("/some page"), [HeaderChange::Set("x-b".into(), "2".into())]);
        assert_eq!(r.headers_for("/x42"), [HeaderChange::Set("x-c".into(), "42".into())]);
    }

    #[test]
    fn rules_round_trip_through_json() {
        let r = rules("/*\n  X-A: 1\n", "/a /b 302!\n");
        let json = serde_json::to_string(&r).expect("json");
        assert_eq!(serde_json::from_str::<Rules>(&json).expect("parse"), r);
        assert!(serde_json::from_str::<Rules>(r#"{"redirects":[{"from":"nope","to":"/","status":301}]}"#).is_err());
    }
}
