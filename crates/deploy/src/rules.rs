//! `_headers` and `_redirects`: the Netlify / Cloudflare Pages files in a bundle's root that
//! add response headers and redirects or rewrites. Parsed once at upload (so a mistake is
//! reported to the developer with its line number, not discovered by users) and stored with
//! the deployment as [`Rules`]; the edge matches requests against them with [`Pattern`].
//!
//! The syntax is what both hosts accept, plus the Netlify forms people carry over (README has
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
use tmahost_types::cookie;

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

fn parse_redirects(text: &str, warnings: &mut Vec<RuleError>) -> Result<Vec<Redirect>, RuleError> {
    let file = REDIRECTS_FILE;
    let mut out: Vec<Redirect> = Vec::new();
    let mut seen = HashSet::new();
    let mut complex = 0;
    for (n, line) in lines(file, text, warnings)? {
        if out.len() == MAX_REDIRECTS {
            warnings.push(err(file, n, format!("more than {MAX_REDIRECTS} rules: this line and the rest are ignored")));
            break;
        }
        match redirect_line(line) {
            Ok((rule, notes)) => {
                warnings.extend(notes.into_iter().map(|m| err(file, n, m)));
                if let Err(m) = count_complex(&rule.from, &mut complex) {
                    warnings.push(err(file, n, format!("{m}; the line is ignored")));
                    continue;
                }
                if !seen.insert((rule.from.as_str().to_owned(), format!("{:?}", rule.query))) {
                    let m = format!("`{}` has a rule on an earlier line, which wins; this one is ignored", rule.from);
                    warnings.push(err(file, n, m));
                    continue;
                }
                out.push(rule);
            }
            Err(Problem::Ignored(m)) => warnings.push(err(file, n, format!("{m}; the line is ignored"))),
            Err(Problem::Refused(m)) => return Err(err(file, n, m)),
        }
    }
    Ok(out)
}

/// Counts a pattern that needs a regular expression against [`MAX_COMPLEX_PATTERNS`].
fn count_complex(pattern: &Pattern, count: &mut usize) -> Result<(), String> {
    if pattern.regex.is_some() {
        if *count == MAX_COMPLEX_PATTERNS {
            return Err(format!(
                "`{pattern}`: more than {MAX_COMPLEX_PATTERNS} patterns with a placeholder next to a `*` in one \
                 segment or between two `*`"
            ));
        }
        *count += 1;
    }
    Ok(())
}

/// An absolute http(s) URL: another site, or (as a rule's path) a whole host.
fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn is_destination(part: &str) -> bool {
    part.starts_with('/') || is_url(part)
}

/// One `_redirects` line, `from [key=value …] [to] [status[!]] [conditions]` as Netlify reads
/// it, and notes on what it reads differently than written.
fn redirect_line(line: &str) -> Result<(Redirect, Vec<String>), Problem> {
    let mut notes = Vec::new();
    let mut parts: Vec<&str> = line.split_whitespace().collect();
    if let Some(i) = parts.iter().position(|p| p.starts_with('#')) {
        parts.truncate(i);
    }
    let Some((&from, rest)) = parts.split_first() else { return Err("expected `from to [status]`".to_owned().into()) };
    if is_url(from) {
        return Err(format!("`{from}`: a rule's `from` is a path; rules for a whole host are not supported").into());
    }
    let query_len = rest.iter().take_while(|p| p.contains('=') && !is_destination(p)).count();
    let (query_parts, rest) = rest.split_at(query_len);
    let (to, rest) = match rest.split_first() {
        Some((to, rest)) if is_destination(to) => (Some(*to), rest),
        _ => (None, rest),
    };
    let (status, conditions) = match rest.split_first() {
        Some((status, conditions)) => (Some(*status), conditions),
        None => (None, rest),
    };
    if let Some(c) = conditions.iter().find(|c| {
        c.split_once('=').is_some_and(|(k, _)| ENFORCING_CONDITIONS.contains(&k.to_ascii_lowercase().as_str()))
    }) {
        return Err(Problem::Refused(format!(
            "`{c}`: Netlify's role and signature conditions cannot be enforced here, and the rule without \
             them would apply to everyone; remove it (apps are gated by Telegram sign-in: see `access`)"
        )));
    }
    if !conditions.is_empty() {
        return Err(format!(
            "`{}`: conditions (Netlify's `Country=`, `Language=`, …) are not supported",
            conditions.join(" ")
        )
        .into());
    }
    if to.is_none() && query_parts.is_empty() && rest.is_empty() {
        return Err("expected `from to [status]`".to_owned().into());
    }
    let (status, force) = match status {
        None => (301, false),
        Some(s) => {
            let (digits, force) = s.strip_suffix('!').map_or((s, false), |d| (d, true));
            let Ok(code) = digits.parse::<u16>() else {
                return Err(match to {
                    None => format!("`{s}`: the destination must start with `/` or be an http(s) URL"),
                    Some(_) => format!("`{s}` is not a status code"),
                }
                .into());
            };
            (code, force)
        }
    };
    if ![200, 301, 302, 303, 307, 308, 404, 410].contains(&status) {
        return Err(format!("status {status} is not supported (use 200, 301, 302, 303, 307, 308, 404 or 410)").into());
    }

    let (path, from_query) = from.split_once('?').map_or((from, None), |(p, q)| (p, Some(q)));
    let pattern = Pattern::parse(path)?;
    if pattern.splats() > 1 {
        return Err(format!("`{from}`: a `_redirects` rule may have one `*`").into());
    }
    if pattern.as_str() == PLATFORM_PREFIX || pattern.as_str().starts_with("/_tma/") {
        return Err(
            format!("`{from}`: `{PLATFORM_PREFIX}/` belongs to the platform and never reaches `_redirects`").into()
        );
    }
    let mut query = Vec::new();
    for pair in query_parts.iter().copied().chain(from_query.into_iter().flat_map(|q| q.split('&'))) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = match value.strip_prefix(':') {
            Some(name) if is_name(name) => QueryValue::Capture(name.to_owned()),
            _ => QueryValue::Equals(value.to_owned()),
        };
        query.push(QueryMatch { key: key.to_owned(), value });
    }
    if from_query.is_some() {
        notes.push(format!(
            "`{from}`: the query is matched as parameters the request must have, as Netlify's `{path} {}` \
             (Cloudflare Pages ignores it)",
            from_query.unwrap_or_default().replace('&', " ")
        ));
    }

    let to = match to {
        Some(to) => to.to_owned(),
        // Netlify: `/admin/* 200` serves the path asked (and stops later rules).
        None if status == 200 => pattern.as_str().replacen('*', ":splat", 1),
        None => return Err(format!("a {status} rule needs a destination").into()),
    };
    let external = is_url(&to);
    if external && matches!(status, 200 | 404 | 410) {
        return Err(format!(
            "`{to}`: proxying to another site is not supported; route the path to a backend with the app's \
             `backends` setting"
        )
        .into());
    }
    if to.chars().any(|c| c.is_control()) {
        return Err("the destination contains control characters".to_owned().into());
    }
    let captured = |name: &str| {
        pattern.placeholder_names().any(|p| p == name)
            || (name == "splat" && pattern.splats() > 0)
            || query.iter().any(|q| q.value == QueryValue::Capture(name.to_owned()))
    };
    for name in placeholders(&to).filter(|n| !captured(n)) {
        notes.push(format!("`:{name}` in the destination is not a placeholder of `{from}`; it stays as written"));
    }
    Ok((Redirect { from: pattern, query, to, status, force }, notes))
}

fn parse_headers(text: &str, warnings: &mut Vec<RuleError>) -> Result<Vec<HeaderRule>, RuleError> {
    let file = HEADERS_FILE;
    let mut out: Vec<HeaderRule> = Vec::new();
    // The line of the last rule's path and how many header lines followed it (to report a
    // rule without any), and whether the current path line was left out (its header lines go
    // with it, without a warning each).
    let mut path_line = 0;
    let mut under_path = 0;
    let mut complex = 0;
    let mut skipping = false;
    // A rule whose lines were all left out goes too; their warnings say why.
    let drop_if_empty = |out: &mut Vec<HeaderRule>, warnings: &mut Vec<RuleError>, line: usize, under: usize| {
        if out.last().is_some_and(|r| r.set.is_empty() && r.unset.is_empty()) {
            let rule = out.pop().expect("a last rule");
            if under == 0 {
                warnings.push(err(file, line, format!("`{}` has no header lines; it is ignored", rule.pattern)));
            }
        }
    };
    for (n, line) in lines(file, text, warnings)? {
        // Both hosts tell a path line by its start, not by indentation.
        if line.starts_with('/') || is_url(line) {
            drop_if_empty(&mut out, warnings, path_line, under_path);
            under_path = 0;
            if out.len() == MAX_HEADER_RULES {
                warnings.push(err(
                    file,
                    n,
                    format!("more than {MAX_HEADER_RULES} rules: this line and the rest are ignored"),
                ));
                return Ok(out);
            }
            path_line = n;
            skipping = true;
            if !line.starts_with('/') {
                let m = format!(
                    "`{line}`: a rule's path is a path; rules for a whole host are not supported; the rule is ignored"
                );
                warnings.push(err(file, n, m));
                continue;
            }
            match Pattern::parse(line).and_then(|p| count_complex(&p, &mut complex).map(|()| p)) {
                Ok(pattern) => {
                    out.push(HeaderRule { pattern, set: Vec::new(), unset: Vec::new() });
                    skipping = false;
                }
                Err(m) => warnings.push(err(file, n, format!("{m}; the rule is ignored"))),
            }
            continue;
        }
        if skipping {
            continue;
        }
        under_path += 1;
        match header_line(line) {
            Ok(change) => {
                let Some(rule) = out.last_mut() else {
                    warnings.push(err(file, n, "a header line must follow a path line such as `/*`; it is ignored"));
                    continue;
                };
                match change {
                    HeaderChange::Set(name, value) => rule.set.push((name, value)),
                    HeaderChange::Unset(name) => rule.unset.push(name),
                }
            }
            Err(Problem::Ignored(m)) => warnings.push(err(file, n, format!("{m}; the line is ignored"))),
            Err(Problem::Refused(m)) => return Err(err(file, n, m)),
        }
    }
    drop_if_empty(&mut out, warnings, path_line, under_path);
    Ok(out)
}

/// A `Name: value` or `! Name` line of `_headers`.
fn header_line(line: &str) -> Result<HeaderChange, Problem> {
    let Some((name, value)) = line.split_once(':') else {
        return match line.strip_prefix('!') {
            Some(name) => Ok(HeaderChange::Unset(header_name(name.trim())?)),
            None => Err(format!("`{line}`: expected `Name: value`").into()),
        };
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return Err("expected `Name: value`: the name is missing".to_owned().into());
    }
    if name.eq_ignore_ascii_case("basic-auth") {
        return Err(Problem::Refused(
            "`Basic-Auth` (Netlify's password protection) is not supported, and would send the password to \
             every visitor as a header; remove it (apps are gated by Telegram sign-in: see `access`)"
                .into(),
        ));
    }
    let name = header_name(name)?;
    if value.is_empty() || !value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return Err(format!("the value of `{name}` must be non-empty printable ASCII").into());
    }
    if name == "set-cookie" {
        cookie_stays_on_origin(value).map_err(Problem::Refused)?;
    }
    Ok(HeaderChange::Set(name, value.to_owned()))
}

/// A `Set-Cookie` from a bundle must stay on the app's own origin: a `Domain` attribute
/// names a parent domain (the platform's base domain or a name above a custom domain), whose
/// cookies reach every other tenant's app there; placeholders would let a request write one.
fn cookie_stays_on_origin(value: &str) -> Result<(), String> {
    if cookie::is_session_cookie(value) {
        return Err(format!(
            "`Set-Cookie` may not set `{}`: the name belongs to the platform's session cookie",
            cookie::name(value)
        ));
    }
    if cookie::has_domain(value) {
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

/// A path pattern: literal text, `:name` placeholders and `*` splats.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pattern {
    source: String,
    tokens: Vec<Token>,
    /// How [`match_steps`] matches it in one pass, or
    plan: Plan,
    /// for what that cannot take (a placeholder next to a `*` in one segment, or between two
    /// `*`): a regular expression, linear in the path's length as well but slower, and the
    /// names of its groups in order.
    regex: Option<Box<(regex::bytes::Regex, Vec<String>)>>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

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
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    push_literal(&mut tokens, &mut lit);
                    tokens.push(Token::Splat);
                }
                ':' if chars.peek().is_some_and(char::is_ascii_alphabetic) => {
                    let mut name = String::new();
                    while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
                        name.push(c);
                    }
                    if name == "splat" {
                        return Err(format!("`{s}`: `:splat` is what `*` captures; write `*`"));
                    }
                    push_literal(&mut tokens, &mut lit);
                    if matches!(tokens.last(), Some(Token::Param(_) | Token::Splat)) {
                        return Err(format!("`{s}`: `:{name}` must be separated from what comes before it by text"));
                    }
                    tokens.push(Token::Param(name));
                }
                c if c.is_control() => return Err(format!("`{s}`: a pattern cannot contain control characters")),
                c => lit.push(c),
            }
        }
        push_literal(&mut tokens, &mut lit);
        let (plan, regex) = match plan(&tokens) {
            Some(plan) => (plan, None),
            None => (Plan::default(), Some(Box::new(compile(s, &tokens)?))),
        };
        Ok(Self { source: s.to_owned(), tokens, plan, regex })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn splats(&self) -> usize {
        self.tokens.iter().filter(|t| **t == Token::Splat).count()
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

    /// For the fuzz target: whether the one-pass matcher captures what the pattern's regular
    /// expression does for `path` (both spellings), as `Err` with both answers if not.
    #[doc(hidden)]
    pub fn differs_from_regex(&self, path: &str) -> Result<(), String> {
        if self.regex.is_some() {
            return Ok(());
        }
        let (regex, names) = compile(&self.source, &self.tokens)?;
        let spellings = Spellings::of(path);
        for p in std::iter::once(path).chain(spellings.other()) {
            let ours = match_steps(&self.plan, p, true).map(|c| c.0);
            let theirs = regex.captures(p.as_bytes()).map(|found| {
                let values =
                    found.iter().skip(1).map(|m| m.map_or("", |m| p.get(m.range()).unwrap_or("<not a boundary>")));
                names.iter().map(String::as_str).zip(values).collect::<Vec<_>>()
            });
            fn sorted<'s>(c: Option<Vec<(&'s str, &'s str)>>) -> Option<Vec<(&'s str, &'s str)>> {
                c.map(|mut v| {
                    v.sort_unstable();
                    v
                })
            }
            if sorted(ours.clone()) != sorted(theirs.clone()) {
                return Err(format!("{} on {p:?}: one pass {ours:?}, regex {theirs:?}", self.source));
            }
        }
        Ok(())
    }

    /// [`Pattern::matches`] for a path whose other spelling (trailing `/` added or removed)
    /// was made once for all the rules it is matched against. The literal checks that reject
    /// most rules stay inline in the caller's loop; the rest is a call.
    #[inline]
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
        self.captures_past_literals(path)
    }

    #[inline(never)]
    fn captures_past_literals<'a>(&'a self, path: &'a Spellings<'a>) -> Option<Captures<'a>> {
        if let Some(compiled) = &self.regex {
            let (regex, names) = compiled.as_ref();
            let matches = |p: &&str| regex.is_match(p.as_bytes());
            let matching = Some(path.given).filter(matches).or_else(|| path.other().filter(matches))?;
            let found = regex.captures(matching.as_bytes())?;
            // Groups end where a `/` or a literal starts, so on character boundaries.
            let values: Option<Vec<&str>> =
                found.iter().skip(1).map(|m| m.map_or(Some(""), |m| matching.get(m.range()))).collect();
            return Some(Captures(names.iter().map(String::as_str).zip(values?).collect()));
        }
        // Most of the rest fail too: find the spelling that matches before capturing anything.
        let matching = Some(path.given)
            .filter(|p| match_steps(&self.plan, p, false).is_some())
            .or_else(|| path.other().filter(|p| match_steps(&self.plan, p, false).is_some()))?;
        match_steps(&self.plan, matching, true)
    }
}

/// Ends the literal being read, with its `%XX` escapes decoded: request paths are matched
/// decoded, so `/some%20page` is the page the browser asks for as `/some%20page`.
fn push_literal(tokens: &mut Vec<Token>, lit: &mut String) {
    if lit.is_empty() {
        return;
    }
    let text = std::mem::take(lit);
    let decoded = match percent_encoding::percent_decode_str(&text).decode_utf8() {
        Ok(Cow::Owned(d)) if !d.chars().any(char::is_control) => d,
        _ => text,
    };
    tokens.push(Token::Lit(decoded));
}

/// A pattern as [`match_steps`] takes it: literals (which may span segments), `*`, and whole
/// segments holding placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Lit(String),
    Splat,
    /// A whole segment (between `/`s or the path's ends), one or more characters.
    Param(String),
    /// One segment holding literals and placeholders alternating.
    Segment(Vec<Part>),
}

/// The steps, and where the first and the last `*` are among them.
#[derive(Debug, Clone, Default)]
struct Plan {
    steps: Vec<Step>,
    splats: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Param(String),
}

/// The steps for `tokens`, or `None` when a segment has both a placeholder and a `*`, or a
/// placeholder sits between two `*` (these need a search the steps do not do).
fn plan(tokens: &[Token]) -> Option<Plan> {
    // The tokens cut into segments at every `/` of the literals.
    let mut segments: Vec<Vec<Token>> = vec![Vec::new()];
    for token in tokens {
        match token {
            Token::Lit(l) => {
                for (i, piece) in l.split('/').enumerate() {
                    if i > 0 {
                        segments.push(Vec::new());
                    }
                    if !piece.is_empty() {
                        segments.last_mut().expect("a segment").push(Token::Lit(piece.to_owned()));
                    }
                }
            }
            other => segments.last_mut().expect("a segment").push(other.clone()),
        }
    }
    let mut steps = Vec::new();
    let push_lit = |steps: &mut Vec<Step>, text: &str| match steps.last_mut() {
        Some(Step::Lit(l)) => l.push_str(text),
        _ => steps.push(Step::Lit(text.to_owned())),
    };
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            push_lit(&mut steps, "/");
        }
        if !segment.iter().any(|t| matches!(t, Token::Param(_))) {
            for token in segment {
                match token {
                    Token::Lit(l) => push_lit(&mut steps, l),
                    _ => steps.push(Step::Splat),
                }
            }
            continue;
        }
        let parts = segment.iter().map(|t| match t {
            Token::Lit(l) => Some(Part::Lit(l.clone())),
            Token::Param(n) => Some(Part::Param(n.clone())),
            Token::Splat => None,
        });
        // A whole segment needs no search, nor a second allocation to reach when matching.
        match parts.collect::<Option<Vec<Part>>>()? {
            whole if matches!(whole.as_slice(), [Part::Param(_)]) => {
                let Some(Part::Param(name)) = whole.into_iter().next() else { unreachable!("one placeholder") };
                steps.push(Step::Param(name));
            }
            parts => steps.push(Step::Segment(parts)),
        }
    }
    let first = steps.iter().position(|s| *s == Step::Splat);
    let last = steps.iter().rposition(|s| *s == Step::Splat);
    let splats = first.zip(last);
    if let Some((first, last)) = splats
        && steps[first..last].iter().any(|s| matches!(s, Step::Param(_) | Step::Segment(_)))
    {
        return None;
    }
    Some(Plan { steps, splats })
}

/// The regular expression for a pattern the one-pass matcher cannot take: a placeholder is
/// `([^/]+)`, a splat `(.*)`, both greedy.
fn compile(source: &str, tokens: &[Token]) -> Result<(regex::bytes::Regex, Vec<String>), String> {
    let mut re = String::from("^");
    let mut names = Vec::new();
    for token in tokens {
        match token {
            Token::Lit(l) => re.push_str(&regex::escape(l)),
            Token::Param(name) => {
                re.push_str("([^/]+)");
                names.push(name.clone());
            }
            Token::Splat => {
                re.push_str("(.*)");
                names.push("splat".to_owned());
            }
        }
    }
    re.push('$');
    // Bytes, not characters: `.` and `[^/]` then need no UTF-8 decoding states, which made
    // the automaton several times slower (literals still match their UTF-8 bytes).
    let regex = regex::bytes::RegexBuilder::new(&re)
        .unicode(false)
        .dot_matches_new_line(true)
        .size_limit(MAX_PATTERN_PROGRAM)
        .build()
        .map_err(|_| format!("`{source}`: the pattern is too complex"))?;
    Ok((regex, names))
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

/// Matches `input` against a pattern's steps in one pass, linear in the input's length: the
/// steps before the first `*` from the left, the ones after the last `*` from the right (each
/// literal and segment there has one possible place), and the literals between `*`s each at
/// its rightmost place, so earlier `*`s take the most, as greedy ones do. Backtracking over
/// the cuts would cost the path's length per cut. Captures are collected only with `capture`
/// (a failed match then allocates nothing), in pattern order.
#[inline(never)]
fn match_steps<'a>(plan: &'a Plan, input: &'a str, capture: bool) -> Option<Captures<'a>> {
    let steps = plan.steps.as_slice();
    let head = &steps[..plan.splats.map_or(steps.len(), |(first, _)| first)];
    let mut caps = Vec::new();
    let mut start = 0;
    for step in head {
        let rest = &input[start..];
        match step {
            Step::Lit(l) => {
                if !rest.starts_with(l.as_str()) {
                    return None;
                }
                start += l.len();
            }
            Step::Param(name) => {
                let len = rest.find('/').unwrap_or(rest.len());
                if len == 0 {
                    return None;
                }
                if capture {
                    caps.push((name.as_str(), &rest[..len]));
                }
                start += len;
            }
            Step::Segment(parts) => {
                let len = rest.find('/').unwrap_or(rest.len());
                let from = caps.len();
                if !match_segment(parts, &rest[..len], capture.then_some(&mut caps)) {
                    return None;
                }
                caps[from..].reverse();
                start += len;
            }
            Step::Splat => return None,
        }
    }
    let Some((first, last)) = plan.splats else {
        return (start == input.len()).then_some(Captures(caps));
    };
    // From here on captures are collected right to left, and turned round at the end.
    let mut end = input.len();
    let tail_from = caps.len();
    for step in steps[last + 1..].iter().rev() {
        let rest = &input[start..end];
        match step {
            Step::Lit(l) => {
                if !rest.ends_with(l.as_str()) {
                    return None;
                }
                end -= l.len();
            }
            Step::Param(name) => {
                let from = rest.rfind('/').map_or(0, |i| i + 1);
                if from == rest.len() {
                    return None;
                }
                if capture {
                    caps.push((name.as_str(), &rest[from..]));
                }
                end = start + from;
            }
            Step::Segment(parts) => {
                let from = rest.rfind('/').map_or(0, |i| i + 1);
                if !match_segment(parts, &rest[from..], capture.then_some(&mut caps)) {
                    return None;
                }
                end = start + from;
            }
            Step::Splat => return None,
        }
    }
    // From the last `*` to the first: literals and more `*` (see `plan`). Right to left, the
    // `*` waiting for where it starts ends at `splat_end`; one right after another (`**`) is
    // empty, as the greedy one before it takes all.
    let mut splat_end = end;
    let mut waiting = false;
    for step in steps[first..=last].iter().rev() {
        match step {
            Step::Splat => {
                if waiting && capture {
                    caps.push(("splat", ""));
                }
                waiting = true;
            }
            Step::Lit(l) => {
                let at = start + input[start..end].rfind(l.as_str())?;
                if capture {
                    caps.push(("splat", &input[at + l.len()..splat_end]));
                }
                end = at;
                splat_end = at;
                waiting = false;
            }
            Step::Param(_) | Step::Segment(_) => return None,
        }
    }
    if capture {
        caps.push(("splat", &input[start..splat_end]));
    }
    caps[tail_from..].reverse();
    Some(Captures(caps))
}

/// Matches one path segment (no `/`) against literals and placeholders alternating (`plan`
/// never puts two placeholders together), each placeholder taking one or more characters.
/// Literals are placed from the right, each at its rightmost possible place: what greedy
/// placeholders capture, one search per literal. Captures are pushed right to left.
#[inline]
fn match_segment<'a>(parts: &'a [Part], seg: &'a str, mut caps: Option<&mut Vec<(&'a str, &'a str)>>) -> bool {
    let mut parts = parts;
    let (mut lo, mut hi) = (0, seg.len());
    if let [Part::Lit(l), rest @ ..] = parts {
        if !seg.starts_with(l.as_str()) {
            return false;
        }
        lo = l.len();
        parts = rest;
    }
    if let [rest @ .., Part::Lit(l)] = parts {
        if !seg[lo..].ends_with(l.as_str()) {
            return false;
        }
        hi = seg.len() - l.len();
        parts = rest;
    }
    // `parts` is now placeholder (literal placeholder)*.
    let mut right = hi;
    while let [before @ .., Part::Lit(l), Part::Param(name)] = parts {
        // The placeholder after the literal keeps at least its last character.
        let Some((last_char, _)) = seg[lo..right].char_indices().next_back() else { return false };
        let Some(at) = seg[lo..lo + last_char].rfind(l.as_str()).filter(|at| *at > 0) else { return false };
        if let Some(caps) = caps.as_deref_mut() {
            caps.push((name.as_str(), &seg[lo + at + l.len()..right]));
        }
        right = lo + at;
        parts = before;
    }
    match parts {
        [Part::Param(name)] if right > lo => {
            if let Some(caps) = caps {
                caps.push((name.as_str(), &seg[lo..right]));
            }
            true
        }
        _ => false,
    }
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

    /// The matcher as it was, trying every cut of the splats and placeholders: the
    /// specification the one-pass matcher and the regular expressions must agree with.
    fn backtracking(tokens: &[Token], input: &str, caps: &mut Vec<(String, String)>) -> bool {
        let Some((first, rest)) = tokens.split_first() else { return input.is_empty() };
        match first {
            Token::Lit(l) => input.strip_prefix(l.as_str()).is_some_and(|tail| backtracking(rest, tail, caps)),
            // One or more characters up to the next `/`, the longest that works first.
            Token::Param(name) => {
                let max = input.find('/').unwrap_or(input.len());
                (1..=max).rev().filter(|end| input.is_char_boundary(*end)).any(|end| {
                    let mark = caps.len();
                    caps.push((name.clone(), input[..end].to_owned()));
                    backtracking(rest, &input[end..], caps) || {
                        caps.truncate(mark);
                        false
                    }
                })
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
    fn matching_agrees_with_backtracking() {
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
            // For the regular expressions: placeholders inside segments, several `*`.
            "/x:name",
            "/:a-:b",
            "/:x.html",
            "/a/*/*",
            "/*/x/*.js",
            "/a*b*c",
            "/:x/*/*",
            "/v:n/*.js",
            "/:a-:b-:c",
            "/x/*/*/y",
            "/:a/**",
            "/a**b",
            "/***",
            // For the regular expressions: a placeholder next to a `*`, or between two.
            "/:x-*",
            "/*/:id/*",
            "/a/:x*",
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
            "/x42",
            "/x",
            "/2024-01-02",
            "/a-b/",
            "/page.html",
            "/.html",
            "/q/x/z.js",
            "/x/x/x.js",
            "/abcabc",
            "/v2/a/b.js",
            "/é-ü",
            "/a-b-c-d",
            "/a--b",
            "/x/1/2/3/y",
            "/x//y",
            "/x-y/z",
            "/a/1/b/2",
        ];
        let regexes = patterns.iter().filter(|p| Pattern::parse(p).expect("pattern").regex.is_some()).count();
        assert_eq!(regexes, 3, "the last three patterns take the regular expressions");
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
