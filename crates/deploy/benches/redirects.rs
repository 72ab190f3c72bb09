//! `_redirects` matching with 2,000 rules, the edge's cost for a path no file answers.
//! Run: `cargo bench -p tmahost-deploy`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tmahost_deploy::Rules;

fn rules(n: usize) -> Rules {
    let mut text = String::new();
    for i in 0..n {
        match i % 4 {
            0 => text.push_str(&format!("/old/page-{i} /new/page-{i} 301\n")),
            1 => text.push_str(&format!("/blog/{i}/* /posts/{i}/:splat 302\n")),
            2 => text.push_str(&format!("/users/{i}/:id /profile/:id 200\n")),
            _ => text.push_str(&format!("/shop-{i}/* /index.html 200\n")),
        }
    }
    Rules::parse(None, Some(&text)).expect("valid rules")
}

fn bench(c: &mut Criterion) {
    let r = rules(2_000);
    let mut g = c.benchmark_group("redirects_2000");
    g.bench_function("first_rule", |b| b.iter(|| assert!(r.redirect_for(black_box("/old/page-0"), false).is_some())));
    g.bench_function("last_rule", |b| {
        b.iter(|| assert!(r.redirect_for(black_box("/shop-1999/cart/item"), false).is_some()))
    });
    g.bench_function("no_match", |b| b.iter(|| assert!(r.redirect_for(black_box("/nothing/here"), false).is_none())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
