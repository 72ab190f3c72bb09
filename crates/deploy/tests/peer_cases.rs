//! The peers' own test cases for `_redirects` and `_headers`, run against tmahost's parser and
//! matcher: Cloudflare's (workers-sdk parsers and rules engine) and Netlify's (build's redirect
//! and headers parsers, with their fixtures). Each row names where it comes from, what tmahost
//! does, and whether that agrees with the peer or differs by design, and why. README's table
//! sums them up; `cargo test -p tmahost-deploy --test peer_cases -- --nocapture` prints the
//! count.

use tmahost_deploy::Rules;
use tmahost_deploy::rules::{HeaderChange, Redirect, location};

const CF_REDIRECTS_VALID: &str = "workers-sdk packages/workers-shared/utils/tests/parseRedirects.valid.test.ts";
const CF_REDIRECTS_INVALID: &str = "workers-sdk packages/workers-shared/utils/tests/parseRedirects.invalid.test.ts";
const CF_HEADERS_VALID: &str = "workers-sdk packages/workers-shared/utils/tests/parseHeaders.valid.test.ts";
const CF_HEADERS_INVALID: &str = "workers-sdk packages/workers-shared/utils/tests/parseHeaders.invalid.test.ts";
const CF_RULES_ENGINE: &str = "workers-sdk packages/workers-shared/asset-worker/tests/rules-engine.test.ts";
const NETLIFY_REDIRECTS: &str = "netlify/build packages/redirect-parser/tests/fixtures/redirects_file";
const NETLIFY_HEADERS: &str = "netlify/build packages/headers-parser/tests/fixtures/headers_file";
const NETLIFY_FOR_REGEXP: &str = "netlify/build packages/headers-parser/tests/for-regexp.test.ts";
const ISSUE: &str = "tmahost issue 21 (tried as a new user)";

/// Why tmahost's default status differs from Cloudflare's.
const DEFAULT_301: &str = "a rule without a status is a 301, as on Netlify (Cloudflare: 302)";
const HOST_RULES: &str = "rules for a whole host are left out with a warning: each app has its own hosts";
const LIMITS: &str = "limits are 2,000 redirects of any kind and 500 header rules (Cloudflare: 2,000 static and 100 dynamic redirects, 100 header rules)";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Redirects,
    Headers,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Agree,
    Differs(&'static str),
}

#[derive(Debug)]
enum Expect {
    /// The rules kept, in order (see [`describe_redirect`], [`describe_header_rule`]), and the
    /// lines reported as warnings.
    Parsed(&'static [&'static str], &'static [usize]),
    /// As many rules kept, and the lines reported.
    Counted(usize, &'static [usize]),
    /// The upload is refused at this line.
    Refused(usize),
    /// Requests (`path?query`) and what answers: `"301 /to"` (a redirect and its Location, or
    /// a rewrite and its target), or `None` when no rule applies.
    Answers(&'static [(&'static str, Option<&'static str>)]),
    /// Requests and the headers the rules set (`name: value`, `! name` for a removal).
    Sets(&'static [(&'static str, &'static [&'static str])]),
}

struct Case {
    source: String,
    kind: Kind,
    input: String,
    expect: Expect,
    verdict: Verdict,
}

fn case(source: &str, name: &str, kind: Kind, input: impl Into<String>, expect: Expect, verdict: Verdict) -> Case {
    Case { source: format!("{source} > {name}"), kind, input: input.into(), expect, verdict }
}

fn describe_redirect(r: &Redirect) -> String {
    let query: String = r
        .query
        .iter()
        .map(|q| match &q.value {
            tmahost_deploy::rules::QueryValue::Capture(name) => format!(" {}=:{name}", q.key),
            tmahost_deploy::rules::QueryValue::Equals(v) => format!(" {}={v}", q.key),
        })
        .collect();
    format!("{}{query} {} {}{}", r.from.as_str(), r.to, r.status, if r.force { "!" } else { "" })
}

fn describe_header_rule(r: &tmahost_deploy::rules::HeaderRule) -> String {
    let mut parts: Vec<String> = r.set.iter().map(|(n, v)| format!("{n}: {v}")).collect();
    parts.extend(r.unset.iter().map(|n| format!("! {n}")));
    format!("{} {}", r.pattern.as_str(), parts.join("; "))
}

fn answer(rules: &Rules, request: &str) -> Option<String> {
    let (path, query) = request.split_once('?').unwrap_or((request, ""));
    let (rule, to) = rules.redirect_for(path, query, false)?;
    Some(match rule.status {
        301..=308 => format!("{} {}", rule.status, location(&to, query)),
        status => format!("{status} {to}"),
    })
}

fn headers(rules: &Rules, path: &str) -> Vec<String> {
    rules
        .headers_for(path)
        .into_iter()
        .map(|c| match c {
            HeaderChange::Set(n, v) => format!("{n}: {v}"),
            HeaderChange::Unset(n) => format!("! {n}"),
        })
        .collect()
}

/// Runs one case; `Err` says how tmahost's answer differs from the row's.
fn check(c: &Case) -> Result<(), String> {
    let parsed = match c.kind {
        Kind::Redirects => Rules::parse(None, Some(&c.input)),
        Kind::Headers => Rules::parse(Some(&c.input), None),
    };
    let parsed = match (parsed, &c.expect) {
        (Err(e), Expect::Refused(line)) if e.line == *line => return Ok(()),
        (Err(e), _) => return Err(format!("refused: {e}")),
        (Ok(_), Expect::Refused(line)) => return Err(format!("accepted, not refused at line {line}")),
        (Ok(p), _) => p,
    };
    let warned: Vec<usize> = parsed.warnings.iter().map(|w| w.line).collect();
    let described: Vec<String> = match c.kind {
        Kind::Redirects => parsed.rules.redirects.iter().map(describe_redirect).collect(),
        Kind::Headers => parsed.rules.headers.iter().map(describe_header_rule).collect(),
    };
    match &c.expect {
        Expect::Parsed(rules, lines) => {
            if described != *rules || warned != *lines {
                return Err(format!("rules {described:?}, warnings {:?}", parsed.warnings));
            }
        }
        Expect::Counted(n, lines) => {
            if described.len() != *n || warned != *lines {
                return Err(format!("{} rules, warnings at {warned:?}", described.len()));
            }
        }
        Expect::Answers(requests) => {
            for (request, want) in *requests {
                let got = answer(&parsed.rules, request);
                if got.as_deref() != *want {
                    return Err(format!("{request}: {got:?} (warnings {:?})", parsed.warnings));
                }
            }
        }
        Expect::Sets(requests) => {
            for (path, want) in *requests {
                let got = headers(&parsed.rules, path);
                if got != *want {
                    return Err(format!("{path}: {got:?} (warnings {:?})", parsed.warnings));
                }
            }
        }
        Expect::Refused(_) => unreachable!("handled above"),
    }
    Ok(())
}

fn lines_of(n: usize, line: impl Fn(usize) -> String) -> String {
    (0..n).map(|i| line(i) + "\n").collect()
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    use Expect::*;
    use Kind::*;
    use Verdict::*;
    let long = format!("/{} /{} 301", "a".repeat(2000), "b".repeat(2000));
    let long_header = format!(
        "\n    # Valid entry\n    /a\n      Name: Value\n    # Jumbo comment line OK, ignored as normal\n    {}\n    # Huge path names rejected\n    /b\n      Name: Value\n      {}: {}\n  ",
        "#".repeat(1001),
        "a".repeat(1001),
        "b".repeat(1001)
    );
    vec![
        // Cloudflare: parseRedirects, valid files.
        case(CF_REDIRECTS_VALID, "a single rule", Redirects, "/a /b 301", Parsed(&["/a /b 301"], &[]), Agree),
        case(CF_REDIRECTS_VALID, "ignore blank lines", Redirects, "\n/a /b 301\n", Parsed(&["/a /b 301"], &[]), Agree),
        case(CF_REDIRECTS_VALID, "trim whitespace", Redirects, "\n  /a /b 301\n", Parsed(&["/a /b 301"], &[]), Agree),
        case(
            CF_REDIRECTS_VALID,
            "ignore comments",
            Redirects,
            "\n  # This is a comment\n  /a /b 301\n  # And one here too.\n",
            Parsed(&["/a /b 301"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "a single comment-only line",
            Redirects,
            "# This is just a comment",
            Parsed(&[], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "an indented comment-only line",
            Redirects,
            "  # indented comment",
            Parsed(&[], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "multiple consecutive comment lines",
            Redirects,
            "\n# First comment\n# Second comment\n  # Indented comment\n/a /b 301\n# Comment after rule\n# Another comment\n/c /d\n# Final comment\n",
            Parsed(&["/a /b 301", "/c /d 301"], &[]),
            Differs(DEFAULT_301),
        ),
        case(
            CF_REDIRECTS_VALID,
            "a file with only comments",
            Redirects,
            "\n# This file has no redirects\n# Just comments\n  # Some indented\n# And more comments\n",
            Parsed(&[], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "default to 302",
            Redirects,
            "\n  /a /b 302\n  /c /d\n",
            Parsed(&["/a /b 302", "/c /d 301"], &[]),
            Differs(DEFAULT_301),
        ),
        case(
            CF_REDIRECTS_VALID,
            "preserve querystrings on to",
            Redirects,
            "\n  /a /b?query=string 302\n  /c?this=rejected /d 301\n  /ext https://some.domain:1234/route?q=string#anchor\n",
            Parsed(
                &[
                    "/a /b?query=string 302",
                    "/c this=rejected /d 301",
                    "/ext https://some.domain:1234/route?q=string#anchor 301",
                ],
                &[3],
            ),
            Differs(
                "a query in `from` must be in the request, as Netlify's `from key=value` (Cloudflare matches the path alone), with a warning saying so; and the default status",
            ),
        ),
        case(
            CF_REDIRECTS_VALID,
            "preserve fragments",
            Redirects,
            "\n  /a /b#blah 302\n",
            Parsed(&["/a /b#blah 302"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "fragments which contain a hash sign",
            Redirects,
            "\n  /a /b##blah-1 302\n",
            Parsed(&["/a /b##blah-1 302"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "fragments with a hash sign in full URLs",
            Redirects,
            "\n  /a https://example.com/b##blah-1 302\n",
            Parsed(&["/a https://example.com/b##blah-1 302"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "accept 200 (proxying) redirects",
            Redirects,
            "\n\t/a /b 200\n",
            Parsed(&["/a /b 200"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "absolute URLs that end with index.html",
            Redirects,
            "\n\t/foo https://bar.com/index.html 302\n",
            Parsed(&["/foo https://bar.com/index.html 302"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "absolute URLs with ports",
            Redirects,
            "\n\t/foo https://bar.com:123/index.html 302\n\t/cat https://cat.com:12345 302\n\t/dog https://dog.com:12345\n\t",
            Parsed(
                &[
                    "/foo https://bar.com:123/index.html 302",
                    "/cat https://cat.com:12345 302",
                    "/dog https://dog.com:12345 301",
                ],
                &[],
            ),
            Differs(
                "destinations are kept as written (Cloudflare adds the `/` after a bare host: the same URL); and the default status",
            ),
        ),
        case(
            CF_REDIRECTS_VALID,
            "relative URLs that don't point to .html files",
            Redirects,
            "\n\t/* /foo 200\n",
            Parsed(&["/* /foo 200"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "inline comments",
            Redirects,
            "/a /b 301 # redirect a to b",
            Parsed(&["/a /b 301"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "inline comments without status code",
            Redirects,
            "/a /b # redirect with default status",
            Parsed(&["/a /b 301"], &[]),
            Differs(DEFAULT_301),
        ),
        case(
            CF_REDIRECTS_VALID,
            "inline comments after URL fragments",
            Redirects,
            "/a /b#section 301 # redirect to section",
            Parsed(&["/a /b#section 301"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "inline comments without space after hash",
            Redirects,
            "/a /b 301 #no space comment",
            Parsed(&["/a /b 301"], &[]),
            Agree,
        ),
        case(
            CF_REDIRECTS_VALID,
            "multiple rules with inline comments",
            Redirects,
            "\n    /a /b 301 # first rule\n    /c /d # second rule with default status\n    # full line comment\n    /e /f 307 # third rule\n  ",
            Parsed(&["/a /b 301", "/c /d 301", "/e /f 307"], &[]),
            Differs(DEFAULT_301),
        ),
        case(
            CF_REDIRECTS_VALID,
            "inline comments with absolute URLs containing fragments",
            Redirects,
            "/a https://x.com/b#c # comment",
            Parsed(&["/a https://x.com/b#c 301"], &[]),
            Differs(DEFAULT_301),
        ),
        case(
            CF_REDIRECTS_VALID,
            "empty inline comments (just hash)",
            Redirects,
            "/a /b #",
            Parsed(&["/a /b 301"], &[]),
            Differs(DEFAULT_301),
        ),
        case(
            CF_REDIRECTS_VALID,
            "multiple hashes in URL fragment",
            Redirects,
            "/a /b##anchor # comment",
            Parsed(&["/a /b##anchor 301"], &[]),
            Differs(DEFAULT_301),
        ),
        // Cloudflare: parseRedirects, invalid files.
        case(
            CF_REDIRECTS_INVALID,
            "malformed lines",
            Redirects,
            "\n    # Single token\n    /c\n    # Four tokens\n    /d /e 302 !important\n  ",
            Parsed(&[], &[3, 5]),
            Agree,
        ),
        case(
            CF_REDIRECTS_INVALID,
            "invalid status codes",
            Redirects,
            "\n    # Valid token sails through\n    /a /b 301\n    # 418 NOT OK\n    /c /d 418\n  ",
            Parsed(&["/a /b 301"], &[5]),
            Agree,
        ),
        case(
            CF_REDIRECTS_INVALID,
            "duplicate 'from' paths",
            Redirects,
            "\n    # Valid entry\n    /a /b\n    # Nonsensical but permitted (for now)\n    /b /a\n    # Duplicate 'from'\n    /a /c\n  ",
            Parsed(&["/a /b 301", "/b /a 301"], &[7]),
            Differs(DEFAULT_301),
        ),
        case(
            CF_REDIRECTS_INVALID,
            "lines longer than 2000 chars",
            Redirects,
            format!(
                "\n    # Valid entry\n    /a /b 302\n    # Jumbo comment line OK, ignored as normal\n    {}\n    # Huge path names rejected\n    {long}\n  ",
                "#".repeat(2001)
            ),
            Parsed(&["/a /b 302"], &[7]),
            Agree,
        ),
        case(
            CF_REDIRECTS_INVALID,
            "dynamic rules after the first 100",
            Redirects,
            lines_of(150, |i| format!("/a/{i}/* /b/{i}/:splat 302")),
            Counted(150, &[]),
            Differs(LIMITS),
        ),
        case(
            CF_REDIRECTS_INVALID,
            "static rules after the first 2000",
            Redirects,
            lines_of(2050, |i| format!("/a/{i} /b/{i} 302")),
            Counted(2000, &[2001]),
            Agree,
        ),
        case(
            CF_REDIRECTS_INVALID,
            "lots of static and dynamic rules",
            Redirects,
            lines_of(2050, |i| format!("/a/{i} /b/{i}")) + &lines_of(150, |i| format!("/a/{i}/* /b/{i}/:splat")),
            Counted(2000, &[2001]),
            Differs(LIMITS),
        ),
        case(
            CF_REDIRECTS_INVALID,
            "malformed URLs",
            Redirects,
            "\n  # Spaces rejected on token length\n  /some page /somewhere else\n  # OK with URL escaped encoding\n  /some%20page /somewhere%20else 302\n  # Unescaped URLs are handled OK by Deno, so escape & pass them through\n  /://so;`me /nons:/&@%+~{}ense 302\n  # Absolute URLs aren't OK for 'from', but are fine for 'to'\n  https://yeah.com https://nah.com\n  /nah https://yeah.com 302\n  # This is actually parsed as /yeah.com, which we might want to detect but is ok for now\n  yeah.com https://nah.com\n",
            Parsed(
                &[
                    "/some%20page /somewhere%20else 302",
                    "/://so;`me /nons:/&@%+~{}ense 302",
                    "/nah https://yeah.com 302",
                ],
                &[3, 9, 12],
            ),
            Differs(
                "a `from` without its leading `/` is left out with a warning (Cloudflare reads `yeah.com` as `/yeah.com`); destinations are kept as written, not re-escaped",
            ),
        ),
        case(
            CF_REDIRECTS_INVALID,
            "non-relative URLs for proxying (200) redirects",
            Redirects,
            "\n\t/a https://example.com/b 200\n",
            Parsed(&[], &[2]),
            Agree,
        ),
        case(
            CF_REDIRECTS_INVALID,
            "wildcard patterns to index",
            Redirects,
            "\n/* /index.html 200\n/* /index 200\n/ /index.html 302\n/ /index 302\n",
            Parsed(&["/* /index.html 200", "/ /index.html 302"], &[3, 5]),
            Differs(
                "tmahost serves `index.html` without stripping its name, so these do not loop: `/* /index.html 200` is the single-page-app rewrite; the second rule for a `from` is left out, as Cloudflare does",
            ),
        ),
        // Netlify: the redirect parser's `_redirects` fixtures.
        case(
            NETLIFY_REDIRECTS,
            "comment_full",
            Redirects,
            "# this is just an old leftover\n/blog/my-post.php  /blog/my-post\n",
            Parsed(&["/blog/my-post.php /blog/my-post 301"], &[]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "comment_inline",
            Redirects,
            "/blog/my-post.php  /blog/my-post # this is just an old leftover\n",
            Parsed(&["/blog/my-post.php /blog/my-post 301"], &[]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "conditions_country",
            Redirects,
            "/  /china 302 Country=ch,tw\n",
            Parsed(&[], &[1]),
            Differs("country and language conditions are Netlify's: the rule is left out with a warning"),
        ),
        case(
            NETLIFY_REDIRECTS,
            "conditions_country_case",
            Redirects,
            "/old-path /new-path 200 Country=US\n",
            Parsed(&[], &[1]),
            Differs("country conditions are Netlify's: left out with a warning"),
        ),
        case(
            NETLIFY_REDIRECTS,
            "conditions_country_language",
            Redirects,
            "/  /china 302 Country=il Language=en\n",
            Parsed(&[], &[1]),
            Differs("country and language conditions are Netlify's: left out with a warning"),
        ),
        case(
            NETLIFY_REDIRECTS,
            "conditions_language_case",
            Redirects,
            "/old-path /new-path 200 Language=en\n",
            Parsed(&[], &[1]),
            Differs("language conditions are Netlify's: left out with a warning"),
        ),
        case(
            NETLIFY_REDIRECTS,
            "conditions_query",
            Redirects,
            "/donate source=:source email=:email /donate/usa?source=:source&email=:email 302 Country=us\n",
            Parsed(&[], &[1]),
            Differs("the country condition is Netlify's: the rule is left out with a warning"),
        ),
        case(
            NETLIFY_REDIRECTS,
            "conditions_role",
            Redirects,
            "/admin/*  /admin/:splat 200 Role=admin\n",
            Refused(1),
            Differs("role conditions need Netlify Identity: refused, since the rule without them would serve everyone"),
        ),
        case(
            NETLIFY_REDIRECTS,
            "conditions_role_case",
            Redirects,
            "/old-path /new-path 200 Role=admin\n",
            Refused(1),
            Differs("role conditions: refused"),
        ),
        case(
            NETLIFY_REDIRECTS,
            "conditions_roles",
            Redirects,
            "/member/*  /member/:splat 200 Role=admin,member\n",
            Refused(1),
            Differs("role conditions: refused"),
        ),
        case(NETLIFY_REDIRECTS, "empty", Redirects, "", Parsed(&[], &[]), Agree),
        case(
            NETLIFY_REDIRECTS,
            "empty_line",
            Redirects,
            "/blog/my-post.php  /blog/my-post\n\n/blog/my-post-two.php  /blog/my-post-two\n",
            Parsed(&["/blog/my-post.php /blog/my-post 301", "/blog/my-post-two.php /blog/my-post-two 301"], &[]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "from_absolute_uri",
            Redirects,
            "http://hello.bitballoon.com/* http://www.hello.com/:splat\n",
            Parsed(&[], &[1]),
            Differs(HOST_RULES),
        ),
        case(
            NETLIFY_REDIRECTS,
            "from_simple",
            Redirects,
            "/home              /\n",
            Parsed(&["/home / 301"], &[]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "invalid_dot_netlify_path",
            Redirects,
            "/.netlify/from /to\n",
            Parsed(&["/.netlify/from /to 301"], &[]),
            Differs("`/.netlify/` is Netlify's own prefix; tmahost's, `/_tma/`, is the one left out"),
        ),
        case(
            NETLIFY_REDIRECTS,
            "invalid_dot_netlify_url",
            Redirects,
            "http://example.com/.netlify/from /to\n",
            Parsed(&[], &[1]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "invalid_mistaken_headers",
            Redirects,
            "# Protect backups with Basic Auth\n/backup/*\n    Basic-Auth: dev@terraeclipse.com:nud-feud-contour\n",
            Parsed(&[], &[2, 3]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "invalid_no_slash",
            Redirects,
            "/\tindex.html\n/blog\tblog.html\n/trt-therapy-san-diego\ttrt-therapy-san-diego.html\n",
            Parsed(&[], &[1, 2, 3]),
            Agree,
        ),
        case(NETLIFY_REDIRECTS, "invalid_no_to_no_status", Redirects, "/m/scge/legal\n", Parsed(&[], &[1]), Agree),
        case(
            NETLIFY_REDIRECTS,
            "invalid_no_to_query",
            Redirects,
            "/m/scge/legal source=:source\n",
            Parsed(&[], &[1]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "invalid_no_to_status",
            Redirects,
            "/swfobject.html?detectflash=false 301\n",
            Parsed(&[], &[1]),
            Agree,
        ),
        case(NETLIFY_REDIRECTS, "invalid_status", Redirects, "/from /to not_a_status\n", Parsed(&[], &[1]), Agree),
        case(NETLIFY_REDIRECTS, "invalid_url", Redirects, "http:// /to\n", Parsed(&[], &[1]), Agree),
        case(
            NETLIFY_REDIRECTS,
            "line_trim",
            Redirects,
            "  /home              /\n",
            Parsed(&["/home / 301"], &[]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "multiple_lines",
            Redirects,
            "/10thmagnitude   http://www.10thmagnitude.com/   301\n/bananastand     http://eepurl.com/Lgde5         301\n",
            Parsed(
                &["/10thmagnitude http://www.10thmagnitude.com/ 301", "/bananastand http://eepurl.com/Lgde5 301"],
                &[],
            ),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "proxy",
            Redirects,
            "/api/*  https://api.bitballoon.com/*   200\n",
            Parsed(&[], &[1]),
            Differs(
                "proxying to another site is what an app's `backends` setting does; the line is left out with a warning saying so",
            ),
        ),
        case(
            NETLIFY_REDIRECTS,
            "query",
            Redirects,
            "/      page=news      /news\n/blog  post=:post_id  /blog/:post_id\n/      _escaped_fragment_=/about    /about\n",
            Parsed(
                &[
                    "/ page=news /news 301",
                    "/blog post=:post_id /blog/:post_id 301",
                    "/ _escaped_fragment_=/about /about 301",
                ],
                &[],
            ),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "query (as served)",
            Redirects,
            "/      page=news      /news\n/blog  post=:post_id  /blog/:post_id\n/store id=:id /blog/:id 301\n",
            Answers(&[
                ("/?page=news", Some("301 /news?page=news")),
                ("/?page=other", None),
                ("/blog?post_id=7", None),
                ("/blog?post=7", Some("301 /blog/7?post=7")),
                ("/store?id=my-post", Some("301 /blog/my-post?id=my-post")),
            ]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "signed",
            Redirects,
            "/api/*   https://api.example.com/:splat   200!  Sign=API_SECRET\n",
            Refused(1),
            Differs("signed proxying cannot happen here: refused"),
        ),
        case(
            NETLIFY_REDIRECTS,
            "signed_backward_compat",
            Redirects,
            "/api/*   https://api.example.com/:splat   200!  signed=API_SECRET\n",
            Refused(1),
            Differs("signed proxying: refused"),
        ),
        case(NETLIFY_REDIRECTS, "simple", Redirects, "/one /two\n", Parsed(&["/one /two 301"], &[]), Agree),
        case(
            NETLIFY_REDIRECTS,
            "simple_multiple",
            Redirects,
            "/one /two\n/one /four\n",
            Answers(&[("/one", Some("301 /two"))]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "status",
            Redirects,
            "/test https://www.bitballoon.com/test=hello 301\n",
            Parsed(&["/test https://www.bitballoon.com/test=hello 301"], &[]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "status_force",
            Redirects,
            "/test https://www.bitballoon.com/test=hello 301!\n",
            Parsed(&["/test https://www.bitballoon.com/test=hello 301!"], &[]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "to_anchor",
            Redirects,
            "/blog/my-post-ads.php  /blog/my-post#ads # this is a valid anchor with a comment\n",
            Parsed(&["/blog/my-post-ads.php /blog/my-post#ads 301"], &[]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "to_path_forward",
            Redirects,
            "/admin/* 200\n/admin/* 200!\n",
            Answers(&[("/admin/users", Some("200 /admin/users")), ("/admin", Some("200 /admin/"))]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "to_splat_force",
            Redirects,
            "/*  https://www.bitballoon.com/:splat 301!\n",
            Parsed(&["/* https://www.bitballoon.com/:splat 301!"], &[]),
            Agree,
        ),
        case(
            NETLIFY_REDIRECTS,
            "to_splat_no_force",
            Redirects,
            "/*  https://www.bitballoon.com/:splat 301\n",
            Answers(&[("/a/b?x=1", Some("301 https://www.bitballoon.com/a/b?x=1"))]),
            Agree,
        ),
        // Netlify: the headers parser's `_headers` fixtures.
        case(
            NETLIFY_HEADERS,
            "comment",
            Headers,
            "/path\n  # comment\n  test: one\n",
            Parsed(&["/path test: one"], &[]),
            Agree,
        ),
        case(
            NETLIFY_HEADERS,
            "duplicate",
            Headers,
            "/path\n  test: one\n\n/path\n  test: three\n",
            Sets(&[("/path", &["test: one, three"])]),
            Agree,
        ),
        case(NETLIFY_HEADERS, "empty", Headers, "", Parsed(&[], &[]), Agree),
        case(
            NETLIFY_HEADERS,
            "empty_line",
            Headers,
            "/path\n\n  test: one\n",
            Parsed(&["/path test: one"], &[]),
            Agree,
        ),
        case(NETLIFY_HEADERS, "invalid_for_order", Headers, "  test: one\n/path\n", Parsed(&[], &[1, 2]), Agree),
        case(NETLIFY_HEADERS, "invalid_value_name", Headers, "/path\n  : one\n", Parsed(&[], &[2]), Agree),
        case(NETLIFY_HEADERS, "invalid_value_string", Headers, "/path\n  test:\n", Parsed(&[], &[2]), Agree),
        case(
            NETLIFY_HEADERS,
            "multiple_values",
            Headers,
            "/path\n  test: one\n  test: two\n",
            Sets(&[("/path", &["test: one, two"])]),
            Agree,
        ),
        case(NETLIFY_HEADERS, "no_colon", Headers, "/path\n  test = one\n", Parsed(&[], &[2]), Agree),
        case(NETLIFY_HEADERS, "success", Headers, "/path\n  test: one\n", Parsed(&["/path test: one"], &[]), Agree),
        case(NETLIFY_HEADERS, "success_two", Headers, "/path\n  test: two\n", Parsed(&["/path test: two"], &[]), Agree),
        case(NETLIFY_HEADERS, "trim_line_path", Headers, "  /path\n", Parsed(&[], &[1]), Agree),
        case(
            NETLIFY_HEADERS,
            "trim_line_values",
            Headers,
            "/path\ntest: one\n",
            Parsed(&["/path test: one"], &[]),
            Agree,
        ),
        case(NETLIFY_HEADERS, "trim_name", Headers, "/path\n  test : one\n", Parsed(&["/path test: one"], &[]), Agree),
        case(
            NETLIFY_HEADERS,
            "trim_value",
            Headers,
            "/path\n  test:   one\n",
            Parsed(&["/path test: one"], &[]),
            Agree,
        ),
        // Netlify: how header paths match.
        case(
            NETLIFY_FOR_REGEXP,
            "wildcard_multiple",
            Headers,
            "/a/*/*\n  test: one\n",
            Sets(&[("/a/b/c", &["test: one"]), ("/b/c", &[])]),
            Agree,
        ),
        case(
            NETLIFY_FOR_REGEXP,
            "wildcard_inside",
            Headers,
            "/a/b*c\n  test: one\n",
            Sets(&[("/a/bxyzc", &["test: one"]), ("/a/bxyz", &[])]),
            Agree,
        ),
        case(
            NETLIFY_FOR_REGEXP,
            "wildcard_append",
            Headers,
            "/*/a\n  test: one\n",
            Sets(&[("/x/y/a", &["test: one"]), ("/x/b", &[])]),
            Agree,
        ),
        case(
            NETLIFY_FOR_REGEXP,
            "wildcard_prepend",
            Headers,
            "/a/*\n  test: one\n",
            Sets(&[("/a", &["test: one"]), ("/a/b/c", &["test: one"]), ("/ab", &[])]),
            Agree,
        ),
        case(
            NETLIFY_FOR_REGEXP,
            "placeholder",
            Headers,
            "/a/:b\n  test: one\n",
            Sets(&[("/a/x", &["test: one"]), ("/a/x/y", &[])]),
            Agree,
        ),
        case(
            NETLIFY_FOR_REGEXP,
            "trailing_slash",
            Headers,
            "/a/\n  test: one\n",
            Sets(&[("/a", &["test: one"]), ("/a/", &["test: one"])]),
            Agree,
        ),
        case(
            NETLIFY_FOR_REGEXP,
            "regexp_escape",
            Headers,
            "/a.\n  test: one\n",
            Sets(&[("/a.", &["test: one"]), ("/ab", &[])]),
            Agree,
        ),
        case(
            NETLIFY_FOR_REGEXP,
            "the `iu` flag",
            Headers,
            "/Path\n  test: one\n",
            Sets(&[("/Path", &["test: one"]), ("/path", &[])]),
            Differs("paths match case-sensitively, as files are named (and as on Cloudflare); Netlify ignores case"),
        ),
        case(
            NETLIFY_FOR_REGEXP,
            "double_slash_multiple",
            Headers,
            "//a//b//\n  test: one\n",
            Sets(&[("//a//b//", &["test: one"]), ("/a/b", &[])]),
            Differs("a pattern's slashes are matched as written; Netlify collapses repeated ones"),
        ),
        // Cloudflare: parseHeaders, valid files.
        case(CF_HEADERS_VALID, "a single rule", Headers, "/a\n  Name: Value", Parsed(&["/a name: Value"], &[]), Agree),
        case(
            CF_HEADERS_VALID,
            "headers with exclamation marks",
            Headers,
            "/a\n  !Name: Value",
            Parsed(&["/a !name: Value"], &[]),
            Agree,
        ),
        case(
            CF_HEADERS_VALID,
            "ignore blank lines",
            Headers,
            "\n/a\nName: Value\n",
            Parsed(&["/a name: Value"], &[]),
            Agree,
        ),
        case(
            CF_HEADERS_VALID,
            "trim whitespace",
            Headers,
            "\n                /a\n    Name         :           Value\n",
            Parsed(&["/a name: Value"], &[]),
            Agree,
        ),
        case(
            CF_HEADERS_VALID,
            "ignore comments",
            Headers,
            "\n  # This is a comment\n  /a\n  # And one here too.\n  Name: Value\n",
            Parsed(&["/a name: Value"], &[]),
            Agree,
        ),
        case(
            CF_HEADERS_VALID,
            "combine headers together",
            Headers,
            "\n  /a\n    Set-Cookie: test=cookie; expires=never\n    Set-Cookie: another=cookie; magic!\n  /b\n    A: ABBA\n    B: BABA\n",
            Parsed(
                &[
                    "/a set-cookie: test=cookie; expires=never; set-cookie: another=cookie; magic!",
                    "/b a: ABBA; b: BABA",
                ],
                &[],
            ),
            Agree,
        ),
        case(
            CF_HEADERS_VALID,
            "setting hosts",
            Headers,
            "\n  https://example.com\n    a: a\n  https://example.com/\n    b: b\n  https://example.com/blog\n    c: c\n  /blog\n    d:d\n  https://:subdomain.example.*/path\n    e:e\n",
            Parsed(&["/blog d: d"], &[2, 4, 6, 10]),
            Differs(HOST_RULES),
        ),
        case(
            CF_HEADERS_VALID,
            "unset headers",
            Headers,
            "/a\n  Name: Value\n  ! Place",
            Parsed(&["/a name: Value; ! place"], &[]),
            Agree,
        ),
        // Cloudflare: parseHeaders, invalid files.
        case(
            CF_HEADERS_INVALID,
            "malformed initial lines",
            Headers,
            "\n    # A single token before a path\n    c\n    # A header before a path\n    Access-Control-Allow-Origin: *\n  ",
            Parsed(&[], &[3, 5]),
            Agree,
        ),
        case(
            CF_HEADERS_INVALID,
            "invalid headers",
            Headers,
            "\n    # Valid header sails through\n    /a\n      Name:       Value\n    #\n    /b\n      I'm invalid!\n      !x-content-type\n      But: I'm okay!\n      ! Content-Type: application/json\n  ",
            Parsed(&["/a name: Value", "/b but: I'm okay!; ! x-content-type"], &[7, 10]),
            Differs("`!name` removes a header with or without a space after the `!` (Cloudflare needs `! name`)"),
        ),
        case(
            CF_HEADERS_INVALID,
            "lines longer than 2000 chars",
            Headers,
            long_header,
            Parsed(&["/a name: Value", "/b name: Value"], &[10]),
            Agree,
        ),
        case(
            CF_HEADERS_INVALID,
            "rules after the first 100",
            Headers,
            lines_of(150, |i| format!("/a/{i}\nx-index: {i}")),
            Counted(150, &[]),
            Differs(LIMITS),
        ),
        case(
            CF_HEADERS_INVALID,
            "paths with multiple wildcards",
            Headers,
            "\n  # Multiple wildcards in an absolute URL\n  https://*.pages.dev/*\n    x-custom: value\n  # Multiple wildcards in a relative path\n  /blog/*/posts/*\n    x-custom: value\n  # Single wildcard is fine\n  https://*.pages.dev/\n    x-custom: value\n  /blog/*\n    x-custom: value\n",
            Parsed(&["/blog/*/posts/* x-custom: value", "/blog/* x-custom: value"], &[3, 9]),
            Differs("several `*` in a header path match as on Netlify; host rules are left out"),
        ),
        case(
            CF_HEADERS_INVALID,
            "wildcard combined with :splat",
            Headers,
            "\n  https://*.pages.dev/:splat\n    x-custom: value\n  /blog/*/:splat\n    x-custom: value\n  /blog/:splat\n    x-custom: value\n",
            Parsed(&[], &[2, 4, 6]),
            Differs(
                "`:splat` is only what `*` captures, never a placeholder's name (Cloudflare accepts `/blog/:splat` as one)",
            ),
        ),
        case(
            CF_HEADERS_INVALID,
            "malformed URLs",
            Headers,
            "\n  # Spaces should be URI encoded\n  /some page with spaces\n    valid: yup\n  # OK with URL escaped encoding\n  /some%20page\n    valid: yup\n  # Unescaped URLs are handled OK by Deno, so escape & pass them through\n  /://so;`me\n    valid: yup\n  /nons:/&@%+~{}ense\n    valid: yup\n  # Absolute URLs with a non-https protocol should be rejected\n  https://yeah.com\n    valid: yup\n  http://nah.com/blog\n    invalid: things\n  # Absolute URLs with a port should be rejected\n  https://nah.com:8080\n    invalid: also\n  https://nah.com:8080/blog\n    invalid: 2\n  //yeah.com/blog\n    valid: things\n  /yeah\n    valid: yup\n  /yeah.com\n    valid: yup\n  # Anything standalone is interpreted as a invalid header pair\n  nah.com\n  :\n  test:\n",
            Parsed(
                &[
                    "/some page with spaces valid: yup",
                    "/some%20page valid: yup",
                    "/://so;`me valid: yup",
                    "/nons:/&@%+~{}ense valid: yup",
                    "//yeah.com/blog valid: things",
                    "/yeah valid: yup",
                    "/yeah.com valid: yup",
                ],
                &[14, 16, 19, 21, 30, 31, 32],
            ),
            Differs(HOST_RULES),
        ),
        // Cloudflare: the rules engine (how paths match and placeholders fill in).
        case(
            CF_RULES_ENGINE,
            "simple pathname hosts",
            Headers,
            "/test\n  x: 1\n/some%20page\n  x: 2\n",
            Sets(&[("/test", &["x: 1"]), ("/some page", &["x: 2"])]),
            Agree,
        ),
        case(
            CF_RULES_ENGINE,
            "escape funky rules",
            Headers,
            "/$~.%20/!+-/[bo|%7Bo%7D]...()\n  x: 1\n",
            Sets(&[("/$~. /!+-/[bo|{o}]...()", &["x: 1"])]),
            Agree,
        ),
        case(
            CF_RULES_ENGINE,
            "splats and placeholders",
            Redirects,
            "/foo/test/* /1/:splat 200\n/foo/* /2/:splat 200\n/blog/:code/:name /3/:name/:code 200\n/blog/* /4/:splat 200\n",
            Answers(&[
                ("/foo/test/yes", Some("200 /1/yes")),
                ("/foo/test/", Some("200 /1/")),
                ("/foo/", Some("200 /2/")),
                ("/blog/123/tricycle", Some("200 /3/tricycle/123")),
                ("/blog/123", Some("200 /4/123")),
            ]),
            Agree,
        ),
        case(
            CF_RULES_ENGINE,
            "a splat's parent path",
            Redirects,
            "/foo/test/* /1/:splat 200\n/foo/* /2/:splat 200\n",
            Answers(&[("/foo/test", Some("200 /1/")), ("/foo", Some("200 /2/"))]),
            Differs("`/a/*` also matches `/a`, as on Netlify (Cloudflare only `/a/` and below)"),
        ),
        case(
            CF_RULES_ENGINE,
            "replace placeholders",
            Redirects,
            "/img/:code/:name /:code/:name.jpg 302\n/files/:code/* /:code/:splat 302\n",
            Answers(&[
                ("/img/123/tricycle", Some("302 /123/tricycle.jpg")),
                ("/files/123/tricycle/images", Some("302 /123/tricycle/images")),
            ]),
            Agree,
        ),
        case(
            CF_RULES_ENGINE,
            "replace all instances of placeholders",
            Headers,
            "/x/:value\n  Link: </assets/:value/main.js>; rel=preload; as=script, </assets/:value/lang.js>; rel=preload; as=script\n",
            Sets(&[(
                "/x/js",
                &["link: </assets/js/main.js>; rel=preload; as=script, </assets/js/lang.js>; rel=preload; as=script"],
            )]),
            Agree,
        ),
        // What issue 21's new user tried.
        case(
            ISSUE,
            "the query goes before the fragment",
            Redirects,
            "/bar https://foobar.com/#heading 301\n",
            Answers(&[("/bar?test=abc", Some("301 https://foobar.com/?test=abc#heading"))]),
            Agree,
        ),
        case(
            ISSUE,
            "a destination's own query replaces the request's",
            Redirects,
            "/a /b?x=1#f 302\n",
            Answers(&[("/a?y=2", Some("302 /b?x=1#f"))]),
            Agree,
        ),
        case(
            ISSUE,
            "query parameters in from (Netlify)",
            Redirects,
            "/store id=:id  /blog/:id  301\n",
            Answers(&[("/store?id=7", Some("301 /blog/7?id=7")), ("/store", None)]),
            Agree,
        ),
        case(
            ISSUE,
            "a placeholder inside a segment",
            Redirects,
            "/x:name /to/:name 302\n/news/:year-:month /archive/:year/:month 302\n",
            Answers(&[("/x42", Some("302 /to/42")), ("/news/2024-05", Some("302 /archive/2024/05"))]),
            Agree,
        ),
        case(
            ISSUE,
            "`/admin/* 200` rewrites to the path asked (Netlify)",
            Redirects,
            "/admin/*  200\n/* /index.html 200\n",
            Answers(&[("/admin/x", Some("200 /admin/x")), ("/y", Some("200 /index.html"))]),
            Agree,
        ),
        case(
            ISSUE,
            "header lines with stray indentation",
            Headers,
            "  /a\n X-A: 1\n\t/b\n      X-B: 2\n",
            Sets(&[("/a", &["x-a: 1"]), ("/b", &["x-b: 2"])]),
            Agree,
        ),
        case(
            ISSUE,
            "headers the server owns",
            Headers,
            "/*\n  ETag: \"x\"\n  Content-Length: 3\n  X-A: 1\n",
            Parsed(&["/* x-a: 1"], &[2, 3]),
            Agree,
        ),
    ]
}

#[test]
fn the_peers_cases_hold_as_documented() {
    let cases = cases();
    let failures: Vec<String> =
        cases.iter().filter_map(|c| check(c).err().map(|e| format!("{}: {e}", c.source))).collect();
    assert!(failures.is_empty(), "{} of {} rows fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
    let differing: Vec<&Case> = cases.iter().filter(|c| c.verdict != Verdict::Agree).collect();
    println!(
        "{} peer cases: {} agree, {} differ by design",
        cases.len(),
        cases.len() - differing.len(),
        differing.len()
    );
    for c in differing {
        if let Verdict::Differs(why) = c.verdict {
            println!("  {}: {why}", c.source);
        }
    }
}
