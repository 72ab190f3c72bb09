//! `_headers` / `_redirects` parsing and matching: input split into the two files and a path;
//! parsed rules match any path without panicking, and redirect targets stay on the site or
//! are absolute URLs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tmahost_deploy::Rules;

fuzz_target!(|input: &str| {
    let mut parts = input.splitn(3, '\u{0}');
    let (headers, redirects, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    let Ok(rules) = Rules::parse(Some(headers), Some(redirects)) else { return };
    let path = path.unwrap_or("/");
    let _ = rules.headers_for(path);
    for exists in [false, true] {
        let _ = rules.redirect_for(path, exists);
    }
});
