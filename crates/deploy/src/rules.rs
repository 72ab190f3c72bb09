//! `_headers` and `_redirects`: the Netlify / Cloudflare Pages files in a bundle's root that
//! add response headers and redirects or rewrites. Parsed once at upload (so a mistake is
//! reported to the developer with its line number, not discovered by users) and stored with
//! the deployment as [`Rules`]; the edge matches requests against them with [`Pattern`].
//!
//! Supported syntax, the common subset of both hosts:
//! - patterns are paths starting with `/`; `:name` matches one path segment, one `*` matches
//!   any rest (including `/`); a trailing `/` in the request is ignored when matching;
//! - `_redirects`: `from to [status][!]` per line, status 200 (rewrite), 301 (default, as on
//!   Netlify), 302, 303, 307, 308, 404, 410; `to` may use `:splat` and the placeholders of
//!   `from`; a `!` forces the rule even when a file exists at `from` (by default files win);
//! - `_headers`: a pattern line, then indented `Name: value` lines; `! Name` removes a header
//!   set by an earlier rule or by the platform's defaults.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Bundle-root file names that hold rules; they are not served.
pub const HEADERS_FILE: &str = "_headers";
pub const REDIRECTS_FILE: &str = "_redirects";

const MAX_REDIRECTS: usize = 2000;
const MAX_HEADER_RULES: usize = 500;
const MAX_LINE: usize = 2000;
const MAX_FILE: usize = 256 * 1024;

/// Headers the server computes itself; letting a bundle set them would corrupt responses.
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
    pub to: String,
    pub status: u16,
    #[serde(default)]
    pub force: bool,
}

/// A rule failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {message}")]
pub struct RuleError {
    pub file: &'static str,
    pub line: usize,
    pub message: String,
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.redirects.is_empty()
    }

    /// Parses the two files (either may be absent).
    pub fn parse(headers: Option<&str>, redirects: Option<&str>) -> Result<Self, RuleError> {
        Ok(Self {
            headers: headers.map(parse_headers).transpose()?.unwrap_or_default(),
            redirects: redirects.map(parse_redirects).transpose()?.unwrap_or_default(),
        })
    }

    /// The first redirect matching `path`, with its destination filled in. `file_exists` says
    /// whether a file answers the path, which only forced rules override.
    pub fn redirect_for(&self, path: &str, file_exists: bool) -> Option<(&Redirect, String)> {
        let path = Spellings::of(path);
        self.redirects
            .iter()
            .filter(|r| r.force || !file_exists)
            .find_map(|r| r.from.captures_either(&path).map(|c| (r, c.fill(&r.to))))
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderChange {
    Set(String, String),
    Unset(String),
}

fn err(file: &'static str, line: usize, message: impl Into<String>) -> RuleError {
    RuleError { file, line, message: message.into() }
}

fn lines(file: &'static str, text: &str) -> Result<Vec<(usize, String)>, RuleError> {
    if text.len() > MAX_FILE {
        return Err(err(file, 0, format!("the file is larger than {MAX_FILE} bytes")));
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.len() > MAX_LINE {
            return Err(err(file, i + 1, format!("the line is longer than {MAX_LINE} characters")));
        }
        out.push((i + 1, line.trim_end().to_owned()));
    }
    Ok(out)
}

fn parse_redirects(text: &str) -> Result<Vec<Redirect>, RuleError> {
    let file = REDIRECTS_FILE;
    let mut out = Vec::new();
    for (n, line) in lines(file, text)? {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = parts.iter().position(|p| p.starts_with('#')) {
            parts.truncate(i);
        }
        if let Some(p) = parts.iter().find(|p| p.contains('=')) {
            return Err(err(file, n, format!("`{p}`: query-parameter matches and conditions are not supported")));
        }
        let (from, to, status) = match parts.as_slice() {
            [from, to] => (*from, *to, None),
            [from, to, status] => (*from, *to, Some(*status)),
            _ => return Err(err(file, n, "expected `from to [status]`")),
        };
        let from = Pattern::parse(from).map_err(|m| err(file, n, m))?;
        let (status, force) = match status {
            None => (301, false),
            Some(s) => {
                let (digits, force) = s.strip_suffix('!').map_or((s, false), |d| (d, true));
                let code: u16 = digits.parse().map_err(|_| err(file, n, format!("`{s}` is not a status code")))?;
                (code, force)
            }
        };
        if ![200, 301, 302, 303, 307, 308, 404, 410].contains(&status) {
            return Err(err(
                file,
                n,
                format!("status {status} is not supported (use 200, 301, 302, 303, 307, 308, 404 or 410)"),
            ));
        }
        let external = to.starts_with("http://") || to.starts_with("https://");
        if !(to.starts_with('/') || external) {
            return Err(err(file, n, format!("`{to}`: the destination must start with `/` or be an http(s) URL")));
        }
        if external && matches!(status, 200 | 404 | 410) {
            return Err(err(file, n, "proxying to another site (a 200/404 rule to a URL) is not supported"));
        }
        if to.chars().any(|c| c.is_control()) {
            return Err(err(file, n, "the destination contains control characters"));
        }
        for name in placeholders(to) {
            if name == "splat" && !from.tokens.contains(&Token::Splat) {
                return Err(err(file, n, format!("`:splat` in the destination needs a `*` in `{from}`")));
            }
            if name != "splat" && !from.placeholder_names().any(|p| p == name) {
                return Err(err(file, n, format!("`:{name}` in the destination is not a placeholder of `{from}`")));
            }
        }
        if out.len() == MAX_REDIRECTS {
            return Err(err(file, n, format!("more than {MAX_REDIRECTS} rules")));
        }
        out.push(Redirect { from, to: to.to_owned(), status, force });
    }
    Ok(out)
}

fn parse_headers(text: &str) -> Result<Vec<HeaderRule>, RuleError> {
    let file = HEADERS_FILE;
    let mut out: Vec<HeaderRule> = Vec::new();
    for (n, line) in lines(file, text)? {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let line = line.trim();
        if !indented {
            let pattern = Pattern::parse(line).map_err(|m| err(file, n, m))?;
            if out.len() == MAX_HEADER_RULES {
                return Err(err(file, n, format!("more than {MAX_HEADER_RULES} rules")));
            }
            out.push(HeaderRule { pattern, set: Vec::new(), unset: Vec::new() });
            continue;
        }
        let rule = out.last_mut().ok_or_else(|| err(file, n, "a header line must follow a path line such as `/*`"))?;
        if let Some(name) = line.strip_prefix('!') {
            rule.unset.push(header_name(name.trim()).map_err(|m| err(file, n, m))?);
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| err(file, n, "expected `Name: value`"))?;
        let name = header_name(name.trim()).map_err(|m| err(file, n, m))?;
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
            return Err(err(file, n, format!("the value of `{name}` must be non-empty printable ASCII")));
        }
        if name == "set-cookie" {
            cookie_stays_on_origin(value).map_err(|m| err(file, n, m))?;
        }
        rule.set.push((name, value.to_owned()));
    }
    Ok(out)
}

/// A `Set-Cookie` from a bundle must stay on the app's own origin: a `Domain` attribute
/// names a parent domain (the platform's base domain or a name above a custom domain), whose
/// cookies reach every other tenant's app there; placeholders would let a request write one.
fn cookie_stays_on_origin(value: &str) -> Result<(), String> {
    if value.split(';').skip(1).any(|a| a.trim().to_ascii_lowercase().starts_with("domain")) {
        return Err("`Set-Cookie` may not have a `Domain` attribute: the cookie would reach other apps under that \
                    domain; leave it out so the cookie stays on this app's host"
            .into());
    }
    if placeholders(value).next().is_some() {
        return Err("`Set-Cookie` may not use placeholders".into());
    }
    Ok(())
}

fn header_name(name: &str) -> Result<String, String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("`{name}` is not a valid header name"));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(format!("`{name}` is set by the server and cannot be changed"));
    }
    Ok(lower)
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

/// A path pattern: literal text, `:name` placeholders (one segment) and at most one `*`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pattern {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(String),
    Param(String),
    Splat,
}

/// Values captured by a matching pattern: `(name, value)`, borrowed from the pattern and the
/// path (matching copies nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Captures<'a>(Vec<(&'a str, &'a str)>);

impl Captures<'_> {
    /// A name used twice in a pattern (`/:a/:a`) has the value of its last occurrence.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Replaces `:splat` and `:name` in `template` with the captured values.
    fn fill(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(i) = rest.find(':') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            match self.get(&after[..end]) {
                Some(v) if end > 0 => {
                    out.push_str(v);
                    rest = &after[end..];
                }
                _ => {
                    out.push(':');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        if !s.starts_with('/') {
            return Err(format!("`{s}`: a pattern must be a path starting with `/`"));
        }
        let mut tokens = Vec::new();
        let mut lit = String::new();
        let mut chars = s.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '*' => {
                    if tokens.contains(&Token::Splat) {
                        return Err(format!("`{s}`: only one `*` is allowed"));
                    }
                    if !lit.is_empty() {
                        tokens.push(Token::Lit(std::mem::take(&mut lit)));
                    }
                    tokens.push(Token::Splat);
                }
                ':' if s[..i].ends_with('/') => {
                    let mut name = String::new();
                    while let Some((_, c)) = chars.next_if(|(_, c)| c.is_ascii_alphanumeric() || *c == '_') {
                        name.push(c);
                    }
                    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) || name == "splat" {
                        return Err(format!("`{s}`: a placeholder is `:` followed by a name such as `:slug`"));
                    }
                    if chars.peek().is_some_and(|(_, c)| *c != '/') {
                        return Err(format!("`{s}`: a placeholder must be a whole path segment"));
                    }
                    if !lit.is_empty() {
                        tokens.push(Token::Lit(std::mem::take(&mut lit)));
                    }
                    tokens.push(Token::Param(name));
                }
                c if c.is_whitespace() || c.is_control() => {
                    return Err(format!("`{s}`: a pattern cannot contain spaces or control characters"));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            tokens.push(Token::Lit(lit));
        }
        Ok(Self { source: s.to_owned(), tokens })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn placeholder_names(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().filter_map(|t| match t {
            Token::Param(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// Whether the pattern matches the whole of `path` (a trailing `/` is optional on either
    /// side).
    pub fn matches(&self, path: &str) -> bool {
        self.captures_either(&Spellings::of(path)).is_some()
    }

    /// `template` with the placeholders and splat that matching `path` captured, if it matches.
    pub fn fill(&self, path: &str, template: &str) -> Option<String> {
        self.captures_either(&Spellings::of(path)).map(|c| c.fill(template))
    }

    /// [`Pattern::matches`] for a path whose other spelling (trailing `/` added or removed)
    /// was made once for all the rules it is matched against.
    fn captures_either<'a>(&'a self, path: &'a Spellings<'a>) -> Option<Captures<'a>> {
        // Most rules fail on their leading literal: reject those before anything else.
        // Without its trailing slashes the literal must prefix the path, with or without `/`.
        if let Some(Token::Lit(lit)) = self.tokens.first()
            && !path.given.starts_with(lit.trim_end_matches('/'))
        {
            return None;
        }
        // Likewise a trailing literal (`/*.js`), compared without trailing slashes on either
        // side, which covers both spellings of the path.
        if let [_, .., Token::Lit(lit)] = self.tokens.as_slice()
            && !path.given.trim_end_matches('/').ends_with(lit.trim_end_matches('/'))
        {
            return None;
        }
        // Most of the rest fail too: find the spelling that matches before capturing anything.
        let matching = Some(path.given)
            .filter(|p| match_tokens(&self.tokens, p, false).is_some())
            .or_else(|| path.other().filter(|p| match_tokens(&self.tokens, p, false).is_some()))?;
        match_tokens(&self.tokens, matching, true)
    }
}

/// A request path and, made only when a rule needs it, its other spelling for matching:
/// without its trailing `/`, or with one.
struct Spellings<'a> {
    given: &'a str,
    other: std::cell::OnceCell<Option<Cow<'a, str>>>,
}

impl<'a> Spellings<'a> {
    fn of(given: &'a str) -> Self {
        Self { given, other: std::cell::OnceCell::new() }
    }

    fn other(&self) -> Option<&str> {
        let given = self.given;
        self.other
            .get_or_init(|| match given.strip_suffix('/') {
                Some("") => None,
                Some(p) => Some(Cow::Borrowed(p)),
                None => Some(Cow::Owned(format!("{given}/"))),
            })
            .as_deref()
    }
}

/// Matches `input` against a pattern's tokens in one pass, linear in the input's length: the
/// tokens before the splat are matched from the left, the ones after it from the right (each
/// literal and placeholder there has one possible place), and the splat takes what is left.
/// Backtracking over the splat's cut points would cost the path's length per cut. Captures
/// are collected only with `capture` (a failed match then allocates nothing).
fn match_tokens<'a>(tokens: &'a [Token], input: &'a str, capture: bool) -> Option<Captures<'a>> {
    let (head, tail) = match tokens.iter().position(|t| *t == Token::Splat) {
        Some(i) => (&tokens[..i], Some(&tokens[i + 1..])),
        None => (tokens, None),
    };
    let mut caps = Vec::new();
    let mut start = 0;
    for token in head {
        let rest = &input[start..];
        match token {
            Token::Lit(l) => {
                if !rest.starts_with(l.as_str()) {
                    return None;
                }
                start += l.len();
            }
            Token::Param(name) => {
                let len = rest.find('/').unwrap_or(rest.len());
                if len == 0 {
                    return None;
                }
                if capture {
                    caps.push((name.as_str(), &rest[..len]));
                }
                start += len;
            }
            Token::Splat => return None,
        }
    }
    let Some(tail) = tail else {
        return (start == input.len()).then_some(Captures(caps));
    };
    let mut end = input.len();
    let tail_from = caps.len();
    for token in tail.iter().rev() {
        let rest = &input[start..end];
        match token {
            Token::Lit(l) => {
                if !rest.ends_with(l.as_str()) {
                    return None;
                }
                end -= l.len();
            }
            // A placeholder always follows a literal ending in `/` (see `Pattern::parse`), so
            // its segment starts after the last `/` before it.
            Token::Param(name) => {
                let from = rest.rfind('/').map_or(0, |i| i + 1);
                if from == rest.len() {
                    return None;
                }
                if capture {
                    caps.push((name.as_str(), &rest[from..]));
                }
                end = start + from;
            }
            Token::Splat => return None,
        }
    }
    // Captures in pattern order, so the last occurrence of a name wins.
    caps[tail_from..].reverse();
    if capture {
        caps.push(("splat", &input[start..end]));
    }
    Some(Captures(caps))
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Pattern> for String {
    fn from(p: Pattern) -> String {
        p.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(headers: &str, redirects: &str) -> Rules {
        Rules::parse(Some(headers), Some(redirects)).expect("valid rules")
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
        assert_eq!(r.redirect_for("/blog/2024/hello", false).map(|(_, to)| to), Some("/posts/2024-hello".into()));
        assert_eq!(r.redirect_for("/blog/2024/hello/", false).map(|(_, to)| to), Some("/posts/2024-hello".into()));
        assert_eq!(r.redirect_for("/blog/2024", false), None);
        assert_eq!(
            r.redirect_for("/docs/a/b.html", false).map(|(_, to)| to),
            Some("https://docs.example.com/a/b.html".into())
        );
    }

    #[test]
    fn files_shadow_redirects_unless_forced() {
        let r = rules("", "/a /b\n/c /d 302!\n");
        assert!(r.redirect_for("/a", true).is_none());
        assert!(r.redirect_for("/a", false).is_some());
        assert!(r.redirect_for("/c", true).is_some());
    }

    #[test]
    fn bad_redirect_lines_name_the_line() {
        let bad = [
            ("/a", "expected `from to [status]`"),
            ("/a /b 999", "status 999 is not supported"),
            ("/a /b abc", "not a status code"),
            ("a /b", "must be a path starting with `/`"),
            ("/a b", "must start with `/` or be an http(s) URL"),
            ("/a https://x.example 200", "proxying"),
            ("/a /b/:id", "`:id` in the destination is not a placeholder"),
            ("/a /b/:splat", "needs a `*`"),
            ("/a id=:id /b", "query-parameter matches"),
            ("/*/* /b", "only one `*`"),
            ("/:b-x /d", "whole path segment"),
        ];
        for (line, want) in bad {
            let e = Rules::parse(None, Some(&format!("# header\n{line}\n"))).expect_err(line);
            assert_eq!((e.file, e.line), ("_redirects", 2), "{line}");
            assert!(e.to_string().contains(want), "{line}: {e}");
        }
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
    fn bad_header_lines_name_the_line() {
        let bad = [
            ("  X-A: 1", "must follow a path line"),
            ("/*\n  Content-Length: 3", "set by the server"),
            ("/*\n  Bad Name: 1", "not a valid header name"),
            ("/*\n  X-A", "expected `Name: value`"),
            ("/*\n  X-A:", "must be non-empty"),
            ("/*\n  X-A: caf\u{e9}", "printable ASCII"),
            ("/*\n  Set-Cookie: a=1; Path=/; Domain=localhost", "may not have a `Domain`"),
            ("/*\n  Set-Cookie: a=1;domain=.example.com", "may not have a `Domain`"),
            ("/u/:name\n  Set-Cookie: user=:name", "may not use placeholders"),
            ("assets/*", "must be a path"),
        ];
        for (text, want) in bad {
            let e = Rules::parse(Some(text), None).expect_err(text);
            assert_eq!(e.file, "_headers");
            assert_eq!(e.line, text.lines().count(), "{text}");
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn patterns_match_segments_and_splats() {
        let p = Pattern::parse("/a/:x/*").expect("pattern");
        assert_eq!(p.fill("/a/1/b/c", ":x|:splat"), Some("1|b/c".into()));
        assert_eq!(p.fill("/a/1/", ":x|:splat"), Some("1|".into()));
        assert!(!p.matches("/a//b"));
        assert!(Pattern::parse("/*.js").expect("pattern").matches("/assets/x.js"));
        assert!(!Pattern::parse("/*.js").expect("pattern").matches("/assets/x.css"));
        assert!(Pattern::parse("/").expect("pattern").matches("/"));
        // A name used twice takes its last occurrence's value, as it did with a map.
        assert_eq!(Pattern::parse("/:a/:a").expect("pattern").fill("/x/y", ":a"), Some("y".into()));
        assert_eq!(
            Pattern::parse("/:a/*/:a/z").expect("pattern").fill("/x/m/n/y/z", ":a|:splat"),
            Some("y|m/n".into())
        );
    }

    /// The matcher as it was, trying every cut of the splat: the specification the one-pass
    /// matcher must agree with.
    fn backtracking(tokens: &[Token], input: &str, caps: &mut Vec<(String, String)>) -> bool {
        let Some((first, rest)) = tokens.split_first() else { return input.is_empty() };
        match first {
            Token::Lit(l) => input.strip_prefix(l.as_str()).is_some_and(|tail| backtracking(rest, tail, caps)),
            Token::Param(name) => {
                let end = input.find('/').unwrap_or(input.len());
                end > 0 && {
                    caps.push((name.clone(), input[..end].to_owned()));
                    backtracking(rest, &input[end..], caps)
                }
            }
            Token::Splat => (0..=input.len()).rev().filter(|cut| input.is_char_boundary(*cut)).any(|cut| {
                let mark = caps.len();
                caps.push(("splat".to_owned(), input[..cut].to_owned()));
                backtracking(rest, &input[cut..], caps) || {
                    caps.truncate(mark);
                    false
                }
            }),
        }
    }

    #[test]
    fn one_pass_matching_agrees_with_backtracking() {
        let patterns = [
            "/",
            "/*",
            "/*.js",
            "/a/*",
            "/a/*/b",
            "/a/*/:id",
            "/*/:id/edit",
            "/:x/*",
            "/:x/*/:y/z.html",
            "/a/:x",
            "/a/:x/",
            "/a*b",
            "/*/",
            "/*//x",
            "/é/*/ü",
            "/:x/:y",
        ];
        let paths = [
            "/",
            "/a",
            "/a/",
            "/a/b",
            "/a/b/",
            "/a/x/b",
            "/a/x/y/b",
            "/a/x/y/5",
            "/a/x/5/edit",
            "/x.js",
            "/a/b.js",
            "/ab",
            "/a/b/c/b",
            "//",
            "//x",
            "/a//x",
            "/é/1/2/ü",
            "/é/ü",
            "/q/1/2/z.html",
            "/q/w/z.html",
            "/a/b/c/d/",
        ];
        for p in patterns {
            let pattern = Pattern::parse(p).expect(p);
            for path in paths {
                let mut want = None;
                let spellings = Spellings::of(path);
                for spelling in std::iter::once(path).chain(spellings.other()) {
                    let mut caps = Vec::new();
                    if backtracking(&pattern.tokens, spelling, &mut caps) {
                        caps.sort();
                        want = Some(caps);
                        break;
                    }
                }
                let got = pattern.captures_either(&spellings).map(|c| {
                    let mut v: Vec<(String, String)> =
                        c.0.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
                    v.sort();
                    v
                });
                assert_eq!(got, want, "{p} against {path}");
            }
        }
    }

    #[test]
    fn rules_round_trip_through_json() {
        let r = rules("/*\n  X-A: 1\n", "/a /b 302!\n");
        let json = serde_json::to_string(&r).expect("json");
        assert_eq!(serde_json::from_str::<Rules>(&json).expect("parse"), r);
        assert!(serde_json::from_str::<Rules>(r#"{"redirects":[{"from":"nope","to":"/","status":301}]}"#).is_err());
    }
}
