//! Soak: mixed load on the real `tmahost serve` (page and asset reads with a session cookie,
//! and session creation) while a deploy or a rollback happens every second. Every valid
//! request must get a 2xx whose body is byte-identical to that file in one of the deployed
//! versions, and memory must stay bounded. `TMAHOST_SOAK_SECS` sets the duration (60).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Client, StatusCode};
use serde_json::json;
use tmahost_testkit::app::TestApp;
use tmahost_testkit::bundles;

const TOKEN: &str = tmahost_testkit::TOKEN_A;
const APP: &str = "/api/v1/bots/demo-bot/apps/main";
const ASSET: &str = "/assets/index-BXk3f9a1.js";
const CLIENTS: usize = 16;

/// The bytes of `/` and of the asset in the bundle labelled `label`.
fn bodies(label: &str) -> [Vec<u8>; 2] {
    let files = bundles::sample_app(label);
    let file = |p: &str| files.iter().find(|(path, _)| path == p).expect("file").1.clone();
    [file("index.html"), file(ASSET.trim_start_matches('/'))]
}

fn launch_data(user: i64) -> String {
    tmahost_testkit::launch_data(TOKEN, &format!(r#"{{"id":{user},"first_name":"Soak"}}"#))
}

fn rss_mb(pid: u32) -> f64 {
    tmahost_testkit::proc_memory_mb(pid, "VmRSS")
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    sessions: AtomicU64,
    bad: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_load_during_deploys_and_rollbacks_gets_only_whole_versions() {
    let secs: u64 = std::env::var("TMAHOST_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    // Rollbacks go to any earlier version: retention keeps them all here.
    let t = TestApp::start(&[
        ("TMAHOST_SESSION_RATE_PER_MINUTE", "1000000"),
        ("TMAHOST_LOG", "warn"),
        ("TMAHOST_KEEP_DEPLOYMENTS", "1000"),
    ]);
    let admin = t.admin().to_owned();
    t.register(TOKEN, Some("Demo_Bot")).await;
    // Its own client: the load reuses pooled connections (the TestApp client keeps none).
    let (serve, http) = (&t.serve, Client::new());
    let api = serve.api.clone();

    // What may be served: every version ever deployed (added before its deploy starts).
    let allowed: Arc<RwLock<[HashSet<Vec<u8>>; 2]>> = Arc::default();
    let deploy = {
        let (http, api, admin, allowed) = (http.clone(), api.clone(), admin.clone(), allowed.clone());
        move |label: String| {
            let (http, api, admin, allowed) = (http.clone(), api.clone(), admin.clone(), allowed.clone());
            async move {
                let [page, asset] = bodies(&label);
                {
                    let mut a = allowed.write().expect("lock");
                    a[0].insert(page);
                    a[1].insert(asset);
                }
                let res = http
                    .post(format!("{api}{APP}/deployments"))
                    .bearer_auth(&admin)
                    .header("content-type", "application/zip")
                    .body(bundles::zip(&bundles::sample_app(&label)))
                    .send()
                    .await
                    .expect("deploy");
                assert_eq!(res.status(), StatusCode::CREATED, "{label}");
            }
        }
    };
    deploy("s1".into()).await;

    let host = t.host("demo-bot");
    let edge = serve.edge.clone();
    // The first deploy reaches the edge's table asynchronously: wait for its asset itself (the
    // app may be known to the edge a moment before its first version is).
    let body = json!({ "init_data": launch_data(999) });
    let res = http.post(format!("{edge}/_tma/session")).header("host", &host).json(&body).send().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut res = res.expect("session");
    while res.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the app never appeared: {}", res.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = http.post(format!("{edge}/_tma/session")).header("host", &host).json(&body).send().await;
        res = again.expect("session");
    }
    let set = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
    let cookie = set.split(';').next().expect("pair").to_owned();
    let first = bodies("s1")[1].clone();
    loop {
        let res = http.get(format!("{edge}{ASSET}")).header("host", &host).header("cookie", &cookie).send().await;
        let res = res.expect("edge");
        let status = res.status();
        if status == StatusCode::OK && res.bytes().await.expect("body").as_ref() == first.as_slice() {
            break;
        }
        assert!(Instant::now() < deadline, "the first version never appeared: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let rss_before = rss_mb(serve.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, edge, host, allowed, stop, tally) =
            (http.clone(), edge.clone(), host.clone(), allowed.clone(), stop.clone(), tally.clone());
        clients.push(tokio::spawn(async move {
            let mut cookie = String::new();
            let mut opened = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                // Every client opens a session first, then a fresh one every second: sessions
                // at a rate that does not depend on the machine's speed, so the memory they
                // may take in the edge's verified-cookie cache is the same on any machine.
                if cookie.is_empty() || opened.elapsed() >= Duration::from_secs(1) {
                    opened = Instant::now();
                    let body = json!({ "init_data": launch_data(1000 + c as i64) });
                    let res = http.post(format!("{edge}/_tma/session")).header("host", &host).json(&body).send().await;
                    let res = res.expect("session");
                    if res.status() != StatusCode::OK {
                        tally.bad.fetch_add(1, Ordering::Relaxed);
                        panic!("session: {}", res.status());
                    }
                    let set = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
                    cookie = set.split(';').next().expect("pair").to_owned();
                    tally.sessions.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let which = usize::from(n.is_multiple_of(2));
                let path = if which == 0 { "/" } else { ASSET };
                let res =
                    http.get(format!("{edge}{path}")).header("host", &host).header("cookie", &cookie).send().await;
                let res = res.expect("request");
                let status = res.status();
                let body = res.bytes().await.expect("body");
                let whole = allowed.read().expect("lock")[which].contains(body.as_ref());
                if status != StatusCode::OK || !whole {
                    tally.bad.fetch_add(1, Ordering::Relaxed);
                    panic!("{path}: {status}, {} bytes, a deployed version: {whole}", body.len());
                }
                tally.ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    // A deploy or a rollback every second.
    let started = Instant::now();
    let mut rng = tmahost_testkit::seeded_rng("soak");
    let mut versions = 1;
    let mut changes = 0u32;
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if changes.is_multiple_of(2) {
            versions += 1;
            deploy(format!("s{versions}")).await;
        } else {
            let to = rng.random_range(1..versions);
            let res = http.post(format!("{api}{APP}/rollback")).bearer_auth(&admin).json(&json!({ "to": to }));
            assert!(res.send().await.expect("rollback").status().is_success());
        }
        changes += 1;
        assert_eq!(tally.bad.load(Ordering::Relaxed), 0);
    }
    stop.store(true, Ordering::Relaxed);
    let mut rows = tmahost_testkit::Rows::new();
    for (i, c) in clients.into_iter().enumerate() {
        let failure = c.await.err();
        rows.check(failure.is_none(), || format!("client {i}: {failure:?}"));
    }
    let rss_after = rss_mb(serve.pid());
    let (ok, sessions) = (tally.ok.load(Ordering::Relaxed), tally.sessions.load(Ordering::Relaxed));
    eprintln!(
        "soak: {secs} s, {changes} deploys/rollbacks, {ok} reads and {sessions} sessions, all whole; \
         RSS {rss_before:.1} -> {rss_after:.1} MB"
    );
    rows.check(ok > secs * 10, || format!("the load ran: only {ok} reads"));
    let bad = tally.bad.load(Ordering::Relaxed);
    rows.check(bad == 0, || format!("{bad} reads were not a whole deployed version"));
    // Blobs are cached up to TMAHOST_EDGE_CACHE_MB (256); the bundles here are tiny, so growth
    // beyond a few tens of MB would be a leak.
    rows.check(rss_after < rss_before + 100.0, || format!("RSS grew from {rss_before:.1} to {rss_after:.1} MB"));
    rows.finish("soak");
}
