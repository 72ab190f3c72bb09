//! Running for years, end to end on the real binary: retention deletes old deployments after
//! each activation, and garbage collection deletes the contents nobody references any more,
//! while deploys (archive and digest, sharing contents across tenants) keep running. On both
//! engines: SQLite + files, and PostgreSQL + S3 (`moto_server`).
//!
//! What must hold: every file of every deployment that remains is served byte for byte (the
//! original and its gzip variant), whatever the collector did meanwhile and whatever apps
//! sharing those contents were deleted meanwhile, and a collector killed with SIGKILL in the
//! middle of a pass loses nothing referenced.

use std::collections::HashMap;
use std::io::Read;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tmahost_testkit::app::TestApp;
use tmahost_testkit::postgres::PgServer;
use tmahost_testkit::s3::S3Server;
use tmahost_testkit::server::Commands;
use tmahost_testkit::{TOKEN_A, TOKEN_B, bundles};

/// Contents every deploy draws from, so deploys of both tenants share them.
const POOL: usize = 24;
/// Deploys per deployer.
const DEPLOYS: u64 = 12;

fn shared(i: usize) -> Vec<u8> {
    // Text, so each one gets a gzip variant too.
    format!("/* shared content {i} */ export const v{i} = {i};\n").repeat(40 + i * 25).into_bytes()
}

/// A bundle: its own `index.html` and 6 contents of the pool picked by `seed`.
fn bundle(seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![("index.html".to_owned(), format!("<!doctype html><p>deploy {seed}</p>").into_bytes())];
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for slot in 0..6 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let i = (x >> 33) as usize % POOL;
        files.push((format!("assets/s{slot}.js"), shared(i)));
    }
    files
}

/// What a deploy that succeeded stored, by deployment id: its preview URL and its files.
type Deployed = Arc<std::sync::Mutex<HashMap<String, (String, Vec<(String, Vec<u8>)>)>>>;

fn record(deployed: &Deployed, answer: &Value, files: Vec<(String, Vec<u8>)>) {
    let id = answer["id"].as_str().expect("id").to_owned();
    let preview = answer["preview_url"].as_str().expect("preview_url").to_owned();
    deployed.lock().expect("lock").insert(id, (preview, files));
}

/// The `Host` of a preview URL.
fn host_of(preview: &str) -> String {
    let u = url::Url::parse(preview).expect("url");
    format!("{}:{}", u.host_str().expect("host"), u.port().expect("port"))
}

/// Failures a deploy may meet while the collector races it: the deployment is then failed,
/// never recorded with a missing content.
fn raced(text: &str) -> bool {
    ["no longer stored", "being garbage-collected", "not uploaded yet", "took longer than"]
        .iter()
        .any(|m| text.contains(m))
}

struct Platform {
    app: TestApp,
    /// Keeps the S3 emulator and the PostgreSQL cluster up as long as the server.
    _stores: Option<(S3Server, PgServer)>,
}

async fn start(engine: &str, extra: &[(&str, &str)]) -> Option<Platform> {
    let mut env: Vec<(String, String)> = [
        ("TMAHOST_GC_GRACE_SECS", "0"),
        ("TMAHOST_GC_EVERY_SECS", "1"),
        ("TMAHOST_KEEP_DEPLOYMENTS", "2"),
        ("TMAHOST_MAX_FILE_BYTES", "1000000"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let stores = if engine == "postgres+s3" {
        let pg = PgServer::try_start()?;
        let s3 = S3Server::start("tmahost-gc").await?;
        env.push(("TMAHOST_DATABASE_URL".into(), pg.create_database("tmahost").await));
        env.extend(s3.env());
        Some((s3, pg))
    } else {
        None
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = TestApp::start(&env);
    app.register(TOKEN_A, Some("Demo_Bot")).await;
    app.register(TOKEN_B, Some("Other_Bot")).await;
    for bot in ["demo-bot", "other-bot"] {
        app.settings(bot, "main", json!({ "access": "public", "skew_protection_deployments": 1 })).await;
    }
    Some(Platform { app, _stores: stores })
}

/// Archive deploys to `demo-bot` over HTTP.
async fn archive_deployer(app: &TestApp, deployed: Deployed, failed: Arc<AtomicU64>) {
    for n in 0..DEPLOYS {
        let files = bundle(1000 + n);
        let (status, body) = app.deploy(app.admin(), "demo-bot", "main", "", bundles::zip(&files)).await;
        if status == StatusCode::CREATED {
            record(&deployed, &body, files);
        } else {
            assert!(raced(&body.to_string()), "archive deploy {n}: {status} {body}");
            failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Digest deploys to `other-bot` with `tmahost deploy` (only contents the bot lacks are sent).
fn digest_deployer(tmahost: &Commands, api: &str, admin: &str, deployed: Deployed, failed: Arc<AtomicU64>) {
    let client = [("TMAHOST_SERVER", api), ("TMAHOST_TOKEN", admin)];
    for n in 0..DEPLOYS {
        let files = bundle(2000 + n);
        let dir = tempfile::tempdir().expect("dir");
        for (path, data) in &files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, data).expect("write");
        }
        let out =
            tmahost.run(&["deploy", dir.path().to_str().expect("utf-8"), "--bot", "other_bot", "--json"], &client);
        if out.status.success() {
            record(&deployed, &serde_json::from_slice(&out.stdout).expect("json"), files);
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(raced(&err), "digest deploy {n}: {err}");
            failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Apps of `other-bot` made, deployed to (contents of the pool, so shared with the others) and
/// deleted again while the others deploy and the collector runs; returns their slugs.
async fn app_deleter(app: &TestApp) -> Vec<String> {
    let mut gone = Vec::new();
    for n in 0..DEPLOYS / 3 {
        let slug = format!("gone{n}");
        let body = json!({ "slug": slug, "settings": { "access": "public" } });
        let (s, made) = app.api(Method::POST, "/api/v1/bots/other-bot/apps", Some(app.admin()), Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{made}");
        let (s, body) = app.deploy(app.admin(), "other-bot", &slug, "", bundles::zip(&bundle(3000 + n))).await;
        assert!(s == StatusCode::CREATED || raced(&body.to_string()), "{slug}: {s} {body}");
        let path = format!("/api/v1/bots/other-bot/apps/{slug}");
        let (s, body) = app.api(Method::DELETE, &path, Some(app.admin()), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
        gone.push(slug);
    }
    gone
}

/// Runs `tmahost gc` until `stop`; returns (passes that ran, contents they deleted).
fn collector(tmahost: &Commands, stop: &AtomicBool) -> (u64, u64) {
    let (mut passes, mut deleted) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let out = tmahost.run(&["gc"], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            passes += 1;
            deleted += String::from_utf8_lossy(&out.stdout).lines().count() as u64;
        } else {
            assert!(err.contains("another node is collecting"), "tmahost gc: {err}");
        }
    }
    (passes, deleted)
}

/// Every file of every deployment the API still lists, from its preview host: the original
/// and the gzip variant, byte for byte. Returns how many files were read.
async fn every_file_is_served(app: &TestApp, deployed: &Deployed) -> usize {
    let deployed = deployed.lock().expect("lock").clone();
    let mut read = 0;
    for bot in ["demo-bot", "other-bot"] {
        let path = format!("/api/v1/bots/{bot}/apps/main/deployments");
        let (s, list) = app.api(Method::GET, &path, Some(app.admin()), None).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        for d in list.as_array().expect("list") {
            if !matches!(d["status"].as_str(), Some("active" | "ready" | "superseded")) {
                continue;
            }
            let (_, files) =
                deployed.get(d["id"].as_str().expect("id")).unwrap_or_else(|| panic!("unknown deployment {d}"));
            let host = host_of(d["preview_url"].as_str().expect("preview"));
            for (path, want) in files {
                let res = app.edge(&host, &format!("/{path}")).send().await.expect("edge");
                assert_eq!(res.status(), StatusCode::OK, "v{} /{path}", d["version"]);
                assert_eq!(res.bytes().await.expect("body").as_ref(), want.as_slice(), "v{} /{path}", d["version"]);
                let res = app.edge(&host, &format!("/{path}")).header("accept-encoding", "gzip").send().await;
                let res = res.expect("edge");
                assert_eq!(res.status(), StatusCode::OK, "v{} /{path} (gzip)", d["version"]);
                let gzipped = res.headers().get("content-encoding").is_some_and(|v| v == "gzip");
                let body = res.bytes().await.expect("body");
                let mut plain = Vec::new();
                if gzipped {
                    flate2::read::GzDecoder::new(body.as_ref()).read_to_end(&mut plain).expect("gunzip");
                } else {
                    plain = body.to_vec();
                }
                assert_eq!(plain, *want, "v{} /{path} (gzip)", d["version"]);
                read += 1;
            }
        }
    }
    read
}

async fn deploys_and_collection_race(engine: &str) {
    let Some(p) = start(engine, &[]).await else { return };
    let app = &p.app;
    let deployed: Deployed = Arc::default();
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tmahost = app.serve.commands();
    let gc = {
        let (tmahost, stop) = (tmahost.clone(), stop.clone());
        std::thread::spawn(move || collector(&tmahost, &stop))
    };
    let digest = {
        let (api, admin) = (app.serve.api.clone(), app.admin().to_owned());
        let (deployed, failed) = (deployed.clone(), failed.clone());
        std::thread::spawn(move || digest_deployer(&tmahost, &api, &admin, deployed, failed))
    };
    let ((), gone) = tokio::join!(archive_deployer(app, deployed.clone(), failed.clone()), app_deleter(app));
    tokio::task::spawn_blocking(move || digest.join()).await.expect("join").expect("digest deployer");
    stop.store(true, Ordering::Relaxed);
    let (passes, deleted) = tokio::task::spawn_blocking(move || gc.join()).await.expect("join").expect("collector");
    let ok = deployed.lock().expect("lock").len();
    eprintln!(
        "{engine}: {ok} deploys recorded, {} failed by the race, {passes} passes deleted {deleted} contents in {:?}",
        failed.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert!(passes >= 3, "the collector ran during the deploys");
    assert!(deleted > 0, "retention left garbage that the collector deleted");
    // With no grace period a deploy that reuses a content a pass is deleting fails (cleanly, as
    // `raced` says); with the default hour none does. Both tenants have an active deployment.
    assert!(ok >= 2, "deploys went through: {ok} of {}", 2 * DEPLOYS);

    let read = every_file_is_served(app, &deployed).await;
    assert!(read >= 2 * 7, "read {read} files");
    for slug in gone {
        let (status, _) = app.edge_text(&app.host(&format!("{slug}--other-bot")), "/index.html").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "deleted app {slug}");
    }
    // One more pass leaves nothing unreferenced; what remains is still whole.
    let out = app.serve.cli(&["gc"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dry = app.serve.cli(&["gc", "--dry-run"], &[]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert_eq!(String::from_utf8_lossy(&dry.stdout), "", "nothing unreferenced is left");
    assert_eq!(every_file_is_served(app, &deployed).await, read);

    // Retention ran and says so in the audit log; the previews of what it deleted are unknown
    // hosts now.
    let (_, audit) = app.api(Method::GET, "/api/v1/audit?limit=1000", Some(app.admin()), None).await;
    let expired: Vec<&str> = audit
        .as_array()
        .expect("audit")
        .iter()
        .filter(|e| e["action"] == "deployment.expire")
        .filter_map(|e| e["deployment_id"].as_str())
        .collect();
    assert!(!expired.is_empty(), "retention deleted old deployments");
    let deployed = deployed.lock().expect("lock").clone();
    for id in expired.iter().filter(|id| deployed.contains_key(**id)) {
        let (status, body) = app.edge_text(&host_of(&deployed[*id].0), "/index.html").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the preview of expired {id}: {body:.100}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploys_and_garbage_collection_race_on_sqlite_and_files_and_lose_nothing() {
    deploys_and_collection_race("sqlite+files").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploys_and_garbage_collection_race_on_postgres_and_s3_and_lose_nothing() {
    deploys_and_collection_race("postgres+s3").await;
}

/// `tmahost gc` killed with SIGKILL in the middle of a pass: nothing referenced is lost, and the
/// next pass deletes what the killed one left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collector_killed_mid_pass_loses_nothing_referenced() {
    let Some(p) = start("sqlite+files", &[("TMAHOST_GC_EVERY_SECS", "0")]).await else { return };
    let app = &p.app;
    let files = bundle(7);
    let (s, body) = app.deploy(app.admin(), "demo-bot", "main", "", bundles::zip(&files)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let objects = app.serve.data_dir.path().join("objects");
    let deployed: Deployed = Arc::default();
    record(&deployed, &body, files);

    let mut attempts = 0u32;
    loop {
        attempts += 1;
        // Objects an interrupted upload left (no row), older than the grace period: a pass has
        // thousands of contents to delete, in batches.
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        for i in 0..20_000u32 {
            let hex = format!("{:064x}", u64::from(i) + u64::from(attempts) * 1_000_000);
            let dir = objects.join("blobs").join(&hex[..2]);
            std::fs::create_dir_all(&dir).expect("mkdir");
            let f = std::fs::File::create(dir.join(&hex[2..])).expect("orphan");
            f.set_modified(old).expect("mtime");
        }
        let before = tmahost_testkit::files_under(&objects).len();
        let mut gc = app
            .serve
            .commands()
            .command(&["gc"], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tmahost gc");
        // Kill it once it has deleted some of them, while it is still running.
        let deadline = Instant::now() + Duration::from_secs(60);
        let killed = loop {
            if gc.try_wait().expect("wait").is_some() {
                break false;
            }
            if tmahost_testkit::files_under(&objects).len() < before - 100 {
                gc.kill().expect("SIGKILL");
                gc.wait().expect("reap");
                break true;
            }
            assert!(Instant::now() < deadline, "the pass deleted nothing within a minute");
            std::thread::sleep(Duration::from_millis(5));
        };
        if killed {
            break;
        }
        // The pass finished before it could be caught: try again with more to do.
        assert!(attempts < 3, "every pass finished before it could be killed");
    }
    assert_eq!(every_file_is_served(app, &deployed).await, 7, "nothing referenced was lost");

    // The next pass, once the killed one's lease (30 s) has lapsed, finishes the work: only the
    // deployment's contents (and variants) remain.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = app.serve.cli(&["gc"], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            break;
        }
        assert!(err.contains("another node is collecting") && Instant::now() < deadline, "{err}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(every_file_is_served(app, &deployed).await, 7);
    let left = tmahost_testkit::files_under(&objects);
    let orphans = left.iter().filter(|f| std::fs::metadata(f).is_ok_and(|m| m.len() == 0)).count();
    // The listing page the killed pass had doomed (at most 1,000) waits until its doom is
    // stale (2 minutes), then goes.
    assert!(orphans <= 1000, "{orphans} orphans left after a full pass");
}

/// Retention through the API and the CLI: `keep_deployments` per app (validated), pins that
/// survive it, the skew-protected deployment kept, and the rest deleted after an activation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_what_the_owner_asked_for_and_pinned_deployments() {
    let Some(p) = start("sqlite+files", &[("TMAHOST_GC_EVERY_SECS", "0")]).await else { return };
    let app = &p.app;
    let base = "/api/v1/bots/demo-bot/apps/main";
    let client = [("TMAHOST_SERVER", app.serve.api.as_str()), ("TMAHOST_TOKEN", app.admin())];
    let cli = |args: &[&str]| {
        let out = app.serve.cli(args, &client);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = app.serve.cli(&["keep", "--bot", "demo-bot", "0"], &client);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("between 1 and 1000"));
    assert!(cli(&["keep", "--bot", "demo-bot", "3"]).contains("keeps the newest 3"));
    assert!(cli(&["keep", "--bot", "demo-bot"]).contains("keeps the newest 3"), "read back");
    let mut previews = Vec::new();
    for v in 1..=3 {
        let (s, d) = app.deploy(app.admin(), "demo-bot", "main", "", bundles::zip(&bundle(v))).await;
        assert_eq!(s, StatusCode::CREATED, "{d}");
        previews.push(d["preview_url"].as_str().expect("preview").to_owned());
    }
    assert!(cli(&["pin", "--bot", "demo-bot", "v1"]).contains("v1 pinned"));
    let (s, d) = app.api(Method::PUT, &format!("{base}/deployments/v2/pin"), Some(app.admin()), None).await;
    assert_eq!((s, &d["pinned"]), (StatusCode::OK, &json!(true)), "{d}");
    assert!(cli(&["pin", "--bot", "demo-bot", "2", "--off"]).contains("v2 unpinned"));
    for v in 4..=6 {
        let (s, d) = app.deploy(app.admin(), "demo-bot", "main", "", bundles::zip(&bundle(v))).await;
        assert_eq!(s, StatusCode::CREATED, "{d}");
    }
    // Kept: v6 (active), v5 and v4 (the newest 3), v5 (skew protection serves 1), v1 (pinned).
    let listing = cli(&["deployments", "--bot", "demo-bot"]);
    let (_, list) = app.api(Method::GET, &format!("{base}/deployments"), Some(app.admin()), None).await;
    let versions: Vec<i64> = list.as_array().expect("list").iter().map(|d| d["version"].as_i64().expect("v")).collect();
    assert_eq!(versions, [6, 5, 4, 1], "{listing}");
    assert!(listing.contains("superseded, pinned"), "{listing}");
    // The deleted ones' previews are unknown hosts; the pinned one's still serves.
    for gone in &previews[1..] {
        assert_eq!(app.edge_text(&host_of(gone), "/").await.0, StatusCode::NOT_FOUND, "{gone}");
    }
    let (s, body) = app.edge_text(&host_of(&previews[0]), "/").await;
    assert!(s == StatusCode::OK && body.contains("deploy 1"), "{s} {body}");
    // `default` goes back to TMAHOST_KEEP_DEPLOYMENTS.
    assert!(cli(&["keep", "--bot", "demo-bot", "default"]).contains("platform's default"));
}

/// Stored bytes are counted per bot (each distinct content its deployments name, once) and per
/// app, and capped: a deploy past `TMAHOST_MAX_BYTES_PER_BOT` is refused with 413
/// `quota_exceeded` before anything is stored, by archive and by `tmahost deploy`; an admin can
/// give one bot its own cap. Another tenant's copy of the same bytes counts for nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_bytes_are_counted_per_bot_and_capped() {
    let one = bundle(1);
    let size: usize = {
        let mut seen = std::collections::HashSet::new();
        one.iter().filter(|(_, d)| seen.insert(d.clone())).map(|(_, d)| d.len()).sum()
    };
    let cap = (size + size / 2).to_string();
    let Some(p) = start("sqlite+files", &[("TMAHOST_GC_EVERY_SECS", "0"), ("TMAHOST_MAX_BYTES_PER_BOT", &cap)]).await
    else {
        return;
    };
    let app = &p.app;
    let usage = |bot: &'static str| async move {
        let (s, u) = app.api(Method::GET, &format!("/api/v1/bots/{bot}/usage"), Some(app.admin()), None).await;
        assert_eq!(s, StatusCode::OK, "{u}");
        u
    };
    let (s, d) = app.deploy(app.admin(), "demo-bot", "main", "", bundles::zip(&one)).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let u = usage("demo-bot").await;
    assert_eq!(u["stored_bytes"], json!(size), "{u}");
    assert_eq!((&u["max_bytes"], &u["max_bytes_from"]), (&json!(size + size / 2), &json!("platform")), "{u}");
    assert_eq!(u["apps"], json!([{ "app": "main", "stored_bytes": size }]));
    // The same files again add nothing.
    assert_eq!(app.deploy(app.admin(), "demo-bot", "main", "", bundles::zip(&one)).await.0, StatusCode::CREATED);
    assert_eq!(usage("demo-bot").await["stored_bytes"], json!(size));

    // Past the cap: refused, naming the usage and the limit, and nothing is stored.
    let objects = app.serve.data_dir.path().join("objects");
    // Contents stored (object names without the variant's suffix: the brotli worker may still
    // be adding `.br` variants of the earlier deploy's files).
    let contents = || {
        let names = tmahost_testkit::files_under(&objects).into_iter();
        names.map(|p| p.with_extension("")).collect::<std::collections::BTreeSet<_>>()
    };
    let stored_before = contents();
    let (s, body) = app.deploy(app.admin(), "demo-bot", "main", "", bundles::zip(&bundle(2))).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains(&format!("stores {size} bytes")) && message.contains(&format!("limit is {cap}")),
        "{message}"
    );
    assert_eq!(contents(), stored_before, "nothing was stored");
    let (_, list) = app.api(Method::GET, "/api/v1/bots/demo-bot/apps/main/deployments", Some(app.admin()), None).await;
    assert_eq!(list.as_array().expect("list").len(), 2, "no deployment was opened: {list}");
    let dir = tempfile::tempdir().expect("dir");
    for (path, data) in bundle(2) {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    }
    let client = [("TMAHOST_SERVER", app.serve.api.as_str()), ("TMAHOST_TOKEN", app.admin())];
    let out = app.serve.cli(&["deploy", dir.path().to_str().expect("utf-8"), "--bot", "demo-bot"], &client);
    assert!(!out.status.success(), "a digest deploy past the cap is refused too");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("quota exceeded"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Another tenant deploying the same bytes stores them for itself: they count in full.
    assert_eq!(app.deploy(app.admin(), "other-bot", "main", "", bundles::zip(&one)).await.0, StatusCode::CREATED);
    assert_eq!(usage("other-bot").await["stored_bytes"], json!(size));

    // Only an admin sets a bot's own cap; 0 lifts it, `default` goes back to the platform's.
    let (s, scoped) = app
        .api(
            Method::POST,
            "/api/v1/tokens",
            Some(app.admin()),
            Some(json!({ "name": "ci", "scope": { "bots": [111111111] } })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{scoped}");
    let scoped = scoped["token"].as_str().expect("token");
    let (s, _) = app.api(Method::PATCH, "/api/v1/bots/demo-bot", Some(scoped), Some(json!({ "max_bytes": 0 }))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a tenant cannot lift its own cap");
    let set = |value: &str| app.serve.cli(&["usage", "--bot", "demo-bot", "--set-max", value], &client);
    let out = set("0");
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("limit: none"));
    let (s, body) = app.deploy(app.admin(), "demo-bot", "main", "", bundles::zip(&bundle(2))).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert!(String::from_utf8_lossy(&set("default").stdout).contains("(platform)"));
}

/// With the database unreachable, `tmahost gc` deletes nothing and says why.
#[test]
fn a_collector_without_its_database_deletes_nothing_and_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    let orphan = dir.path().join("objects/blobs/ab").join("c".repeat(62));
    std::fs::create_dir_all(orphan.parent().expect("parent")).expect("mkdir");
    std::fs::write(&orphan, b"left by an upload").expect("write");
    let out = std::process::Command::new(tmahost_testkit::server::binary())
        .arg("gc")
        .env("TMAHOST_DATA_DIR", dir.path())
        // Nothing listens on port 1.
        .env("TMAHOST_DATABASE_URL", "postgres://tmahost@127.0.0.1:1/tmahost")
        .env("TMAHOST_LOG", "warn")
        .output()
        .expect("tmahost gc");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("error:") && err.to_lowercase().contains("database"), "{err}");
    assert!(orphan.exists(), "nothing was deleted");
}
