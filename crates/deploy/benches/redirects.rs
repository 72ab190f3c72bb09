//! `_redirects` and `_headers` matching with the most rules a bundle may have, the edge's cost
//! for a path no file answers, on typical paths and on the longest, deepest path the edge
//! accepts (4,096 bytes, 128 segments). Matching is linear in the path, so a hostile path must
//! stay within 2x of a typical one. Run: `cargo bench -p tmahost-deploy`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tmahost_deploy::Rules;

/// A typical mix: exact pages, folders moved with a splat, placeholders, SPA sections.
fn typical(n: usize) -> Rules {
    let mut text = String::new();
    for i in 0..n {
        match i % 4 {
            0 => text.push_str(&format!("/old/page-{i} /new/page-{i} 301\n")),
            1 => text.push_str(&format!("/blog/{i}/* /posts/{i}/:splat 302\n")),
            2 => text.push_str(&format!("/users/{i}/:id /profile/:id 200\n")),
            _ => text.push_str(&format!("/shop-{i}/* /index.html 200\n")),
        }
    }
    Rules::parse(None, Some(&text)).expect("valid rules").rules
}

/// The worst a bundle can write for a long path: every rule starts with a splat, so no
/// leading literal rejects it, and the rest must be matched against the path's end.
fn splat_first(n: usize) -> Rules {
    let mut text = String::new();
    for i in 0..n {
        match i % 3 {
            0 => text.push_str(&format!("/*.ext{i} /x 301\n")),
            1 => text.push_str(&format!("/*/:id/edit{i} /e/:id 302\n")),
            _ => text.push_str(&format!("/*/v{i}/:id /v/:splat/:id 200\n")),
        }
    }
    Rules::parse(None, Some(&text)).expect("valid rules").rules
}

/// Placeholders inside a segment (`k7-:v`), no rule rejected by a leading or trailing
/// literal: each is matched against the path's end.
fn in_segment(n: usize) -> Rules {
    let text: String = (0..n).map(|i| format!("/*/k{i}-:v/:w /x/:v 301\n")).collect();
    parsed(&text)
}

/// The most patterns a file may have that need a regular expression (a placeholder next to a
/// `*`), none rejected by its literals: each runs over the whole path.
fn regexes(n: usize) -> Rules {
    let text: String = (0..n).map(|i| format!("/:v-k{i}* /x/:v 301\n")).collect();
    parsed(&text)
}

fn parsed(redirects: &str) -> Rules {
    let parsed = Rules::parse(None, Some(redirects)).expect("valid rules");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    parsed.rules
}

/// 500 `_headers` rules (the most allowed) that all match every path.
fn headers_everywhere(n: usize) -> Rules {
    let text: String = (0..n).map(|i| format!("/*\n  X-Rule-{i}: on\n")).collect();
    Rules::parse(Some(&text), None).expect("valid rules").rules
}

/// The longest path the edge serves: 4,096 bytes in 128 segments, no trailing match.
fn long_path() -> String {
    let segment = format!("/{}", "a".repeat(4096 / 128 - 1));
    segment.repeat(128)
}

fn bench(c: &mut Criterion) {
    let long = long_path();
    let long_last_rule = format!("/shop-1999{}", &long[..long.len() - 10]);
    let r = typical(2_000);
    let mut g = c.benchmark_group("redirects_2000");
    g.bench_function("first_rule", |b| {
        b.iter(|| assert!(r.redirect_for(black_box("/old/page-0"), "", false).is_some()))
    });
    g.bench_function("last_rule", |b| {
        b.iter(|| assert!(r.redirect_for(black_box("/shop-1999/cart/item"), "", false).is_some()))
    });
    g.bench_function("no_match", |b| {
        b.iter(|| assert!(r.redirect_for(black_box("/nothing/here"), "", false).is_none()))
    });
    g.bench_function("long_path_last_rule", |b| {
        b.iter(|| assert!(r.redirect_for(black_box(&long_last_rule), "", false).is_some()))
    });
    g.bench_function("long_path_no_match", |b| {
        b.iter(|| assert!(r.redirect_for(black_box(&long), "", false).is_none()))
    });
    g.finish();

    // The worst cases: no rule matches, on a short path and on the longest.
    let worst = [
        ("redirects_2000_splat_first", splat_first(2_000)),
        ("redirects_2000_in_segment", in_segment(2_000)),
        ("redirects_10_regex", regexes(tmahost_deploy::rules::MAX_COMPLEX_PATTERNS)),
    ];
    for (name, r) in worst {
        let mut g = c.benchmark_group(name);
        for (case, path) in [("no_match", "/nothing/here"), ("long_path_no_match", long.as_str())] {
            g.bench_function(case, |b| b.iter(|| assert!(r.redirect_for(black_box(path), "", false).is_none())));
        }
        g.finish();
    }

    let r = headers_everywhere(500);
    let mut g = c.benchmark_group("headers_500_all_match");
    g.bench_function("short_path", |b| b.iter(|| assert_eq!(r.headers_for(black_box("/app.js")).len(), 500)));
    g.bench_function("long_path", |b| b.iter(|| assert_eq!(r.headers_for(black_box(&long)).len(), 500)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
