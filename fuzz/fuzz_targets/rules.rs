//! `_headers` / `_redirects` parsing and matching: input split into the two files and a
//! request (`path?query`); parsed rules match any request without panicking, and the one-pass
//! matcher captures what a regular expression of each pattern does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tmahost_deploy::Rules;
use tmahost_deploy::rules::location;

fuzz_target!(|input: &str| {
    let mut parts = input.splitn(3, '\u{0}');
    let (headers, redirects, request) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    let Ok(parsed) = Rules::parse(Some(headers), Some(redirects)) else { return };
    let rules = parsed.rules;
    let (path, query) = request.unwrap_or("/").split_once('?').unwrap_or((request.unwrap_or("/"), ""));
    let _ = rules.headers_for(path);
    for exists in [false, true] {
        if let Some((_, to)) = rules.redirect_for(path, query, exists) {
            let _ = location(&to, query);
        }
    }
    let patterns = rules.redirects.iter().map(|r| &r.from).chain(rules.headers.iter().map(|h| &h.pattern));
    for pattern in patterns {
        if let Err(e) = pattern.differs_from_regex(path) {
            panic!("{e}");
        }
    }
});
