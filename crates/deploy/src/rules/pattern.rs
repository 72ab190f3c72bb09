//! Path patterns: `:name` placeholders and `*` splats matched in one pass over the path
//! (a planned walk of its segments), or by a regular expression for the forms that cannot be
//! planned; their count is capped per file.

use super::*;

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
pub(super) struct Captures<'a>(pub(super) Vec<(&'a str, &'a str)>);

impl Captures<'_> {
    /// A name used twice in a pattern (`/:a/:a`) has the value of its last occurrence.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Replaces `:splat` and `:name` in `template` with the captured values.
    pub(super) fn fill(&self, template: &str) -> String {
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

    pub(super) fn splats(&self) -> usize {
        self.tokens.iter().filter(|t| **t == Token::Splat).count()
    }

    pub(super) fn placeholder_names(&self) -> impl Iterator<Item = &str> {
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
    pub(super) fn captures_either<'a>(&'a self, path: &'a Spellings<'a>) -> Option<Captures<'a>> {
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
pub(super) struct Spellings<'a> {
    given: &'a str,
    other: std::cell::OnceCell<Option<Cow<'a, str>>>,
}

impl<'a> Spellings<'a> {
    pub(super) fn of(given: &'a str) -> Self {
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

/// Counts a pattern that needs a regular expression against [`MAX_COMPLEX_PATTERNS`].
pub(super) fn count_complex(pattern: &Pattern, count: &mut usize) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
