//! Warns when `index.html` points at assets the bundle does not have — the usual sign of an
//! app built with a GitHub Pages `base` path (`/repo/assets/…`).

use std::collections::HashSet;

use crate::BundleFile;

pub(crate) const MAX_INDEX_BYTES: u64 = 2 * 1024 * 1024;
const MAX_WARNINGS: usize = 5;

pub(crate) fn missing_references(files: &[BundleFile]) -> Vec<String> {
    let Some(index) = files.iter().find(|f| f.path.as_str() == "index.html") else {
        return Vec::new();
    };
    if index.size > MAX_INDEX_BYTES {
        return Vec::new();
    }
    let Ok(html) = std::fs::read_to_string(&index.local) else {
        return Vec::new();
    };
    let present: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    missing_in(&html, &present)
}

/// The warnings for one index.html, given the paths the bundle has.
pub(crate) fn missing_in(html: &str, present: &HashSet<&str>) -> Vec<String> {
    let mut warnings = Vec::new();
    for reference in references(html) {
        let Some(path) = local_asset(&reference) else { continue };
        if present.contains(path.as_str()) {
            continue;
        }
        let hint = path
            .split_once('/')
            .filter(|(_, rest)| present.contains(rest))
            .map(|(base, _)| {
                format!(" (the bundle has it without `/{base}/`: was the app built with base `/{base}/`?)")
            })
            .unwrap_or_default();
        warnings.push(format!("index.html references `{reference}`, which is not in the bundle{hint}"));
        if warnings.len() == MAX_WARNINGS {
            break;
        }
    }
    warnings
}

/// Values of `src="…"` and `href="…"` attributes (either quote).
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=", "href="] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
            if let Some(end) = rest[1..].find(q) {
                out.push(rest[1..1 + end].to_owned());
            }
        }
    }
    out
}

/// The bundle path an attribute value points at, for same-origin file references only.
fn local_asset(reference: &str) -> Option<String> {
    let r = reference.split(['?', '#']).next()?.trim();
    if r.is_empty() || r.starts_with("//") || r.contains(':') || r.ends_with('/') {
        return None;
    }
    let path = r.trim_start_matches("./").trim_start_matches('/');
    // Extension-less references are routes, not files.
    let last = path.rsplit('/').next()?;
    if !last.contains('.') || path.split('/').any(|c| c == "..") {
        return None;
    }
    Some(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_files_are_checked() {
        assert_eq!(local_asset("/assets/a.js?v=1"), Some("assets/a.js".into()));
        assert_eq!(local_asset("./vite.svg"), Some("vite.svg".into()));
        assert_eq!(local_asset("https://telegram.org/js/telegram-web-app.js"), None);
        assert_eq!(local_asset("//cdn.example/x.js"), None);
        assert_eq!(local_asset("/about"), None);
        assert_eq!(local_asset("#top"), None);
    }

    #[test]
    fn attribute_values_are_found_with_either_quote() {
        let html = r#"<script src="/a.js"></script><link href='/b.css'><a href=/c>"#;
        assert_eq!(references(html), vec!["/a.js", "/b.css"]);
    }
}
