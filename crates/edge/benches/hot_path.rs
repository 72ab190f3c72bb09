//! What the edge does per request besides I/O: host routing on a 10,000-bot table, manifest
//! resolution in a 1,000-file deployment, session creation and the session cookie check.
//! Run: `cargo bench -p tmahost-edge`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tmahost_edge::bench::{Files, Routes, Session};

fn routing(c: &mut Criterion) {
    let routes = Routes::synthetic(10_000, 3);
    let mut g = c.benchmark_group("routing");
    g.bench_function("lookup/main_app", |b| b.iter(|| assert!(routes.hit(black_box("bot-7345.apps.test")))));
    g.bench_function("lookup/named_app_with_port", |b| {
        b.iter(|| assert!(routes.hit(black_box("app2--bot-7345.apps.test:8080"))))
    });
    g.bench_function("lookup/preview", |b| {
        b.iter(|| assert!(routes.hit(black_box("0123456789ab--app1--bot-7345.apps.test"))))
    });
    g.bench_function("lookup/unknown", |b| b.iter(|| assert!(!routes.hit(black_box("nobody.apps.test")))));
    g.finish();
}

fn manifest(c: &mut Criterion) {
    let files = Files::synthetic(1_000, None);
    let mut g = c.benchmark_group("manifest");
    g.bench_function("resolve/root", |b| b.iter(|| assert!(files.resolves(black_box("/")))));
    g.bench_function("resolve/asset", |b| b.iter(|| assert!(files.resolves(black_box("/assets/f512-00000200.js")))));
    g.bench_function("resolve/missing", |b| b.iter(|| assert!(!files.resolves(black_box("/assets/nope.js")))));
    g.finish();
}

fn session(c: &mut Criterion) {
    let session = Session::new(1_800_000_000);
    c.bench_function("session/create_from_init_data", |b| b.iter(|| assert!(black_box(&session).create())));
    c.bench_function("session/verify_cookie_jwt", |b| b.iter(|| assert!(black_box(&session).verify())));
    c.bench_function("session/check_cookie_cached", |b| b.iter(|| assert!(black_box(&session).check())));
}

criterion_group!(benches, routing, manifest, session);
criterion_main!(benches);
