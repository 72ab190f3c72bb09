//! Faults on the real `tmahost serve`: SIGKILL in the middle of an archive upload, of a digest
//! deploy and of activations, then a restart on the same data dir; and concurrent deploys on
//! SQLite. Afterwards the previous version is served, no partial deployment is visible, every
//! file of every deployment has its blob, unfinished uploads are failed, nothing is left in
//! the scratch dir, and versions are unique.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use tmahost_testkit::app::TestApp;
use tmahost_testkit::bundles;
use tokio::io::AsyncWriteExt;

const TOKEN: &str = tmahost_testkit::TOKEN_A;
const APP: &str = "/api/v1/bots/demo-bot/apps/main";

struct Platform {
    app: TestApp,
    admin: String,
}

impl Platform {
    async fn start() -> Self {
        // Scratch files older than a second count as left behind.
        let app = TestApp::start(&[("TMAHOST_STALE_UPLOAD_SECS", "1")]);
        let admin = app.admin().to_owned();
        app.register(TOKEN, Some("Demo_Bot")).await;
        // Public, so the edge can be read without a session.
        app.settings("demo-bot", "main", json!({ "access": "public" })).await;
        Self { app, admin }
    }

    async fn deploy(&self, label: &str) -> StatusCode {
        self.deploy_answer(label).await.0
    }

    async fn deploy_answer(&self, label: &str) -> (StatusCode, Value) {
        self.app.deploy(&self.admin, "demo-bot", "main", "", bundles::zip(&bundles::sample_app(label))).await
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.app.api(Method::GET, path, Some(&self.admin), None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        body
    }

    async fn deployments(&self) -> Vec<Value> {
        self.get(&format!("{APP}/deployments")).await.as_array().expect("list").clone()
    }

    /// What the edge serves at `/` (the page names its version).
    async fn served(&self) -> String {
        self.app.edge_text(&self.app.host("demo-bot"), "/").await.1
    }

    fn scratch(&self) -> Vec<String> {
        let dir = self.app.serve.data_dir.path().join("tmp");
        std::fs::read_dir(dir).expect("tmp").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
    }

    /// Exactly one active deployment, the edge serves it, no deployment is half there, and
    /// every file of every usable deployment has its blob in the object store.
    async fn assert_consistent(&self) -> i64 {
        let list = self.deployments().await;
        let active: Vec<&Value> = list.iter().filter(|d| d["status"] == "active").collect();
        assert_eq!(active.len(), 1, "{list:?}");
        let version = active[0]["version"].as_i64().expect("version");
        let want = format!("<title>v{version}</title>");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.served().await.contains(&want) {
            assert!(Instant::now() < deadline, "the edge does not serve the active v{version}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut versions: Vec<i64> = list.iter().map(|d| d["version"].as_i64().expect("version")).collect();
        versions.sort_unstable();
        versions.dedup();
        assert_eq!(versions.len(), list.len(), "versions are unique: {list:?}");
        for d in list.iter().filter(|d| d["status"] != "failed") {
            assert_ne!(d["status"], "uploading", "nothing is left uploading after a restart: {d}");
            let files = self.get(&format!("{APP}/deployments/{}/files", d["id"].as_str().expect("id"))).await;
            for f in files.as_array().expect("files") {
                let sha = f["sha256"].as_str().expect("sha");
                let blob = self.app.serve.data_dir.path().join("objects/blobs").join(&sha[..2]).join(&sha[2..]);
                assert!(blob.exists(), "v{} {} has no blob {sha}", d["version"], f["path"]);
            }
        }
        version
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_upload_or_mid_deploy_loses_nothing_and_shows_nothing_partial() {
    let mut p = Platform::start().await;
    for v in ["v1", "v2"] {
        assert_eq!(p.deploy(v).await, StatusCode::CREATED);
    }
    assert_eq!(p.assert_consistent().await, 2);

    // An archive upload, half sent when the server dies.
    let zip = bundles::zip(&bundles::sample_app("v3"));
    let api = p.app.serve.api.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&api).await.expect("connect");
    let head = format!(
        "POST {APP}/deployments HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/zip\r\nContent-Length: {}\r\n\r\n",
        p.admin,
        zip.len()
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    conn.write_all(&zip[..zip.len() / 2]).await.expect("half the body");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !p.scratch().iter().any(|n| n.starts_with("upload-")) {
        assert!(Instant::now() < deadline, "the upload never reached the scratch dir");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A digest deploy, opened and half uploaded.
    let files: Vec<(String, Vec<u8>)> = bundles::sample_app("v4");
    let manifest: serde_json::Map<String, Value> = files
        .iter()
        .map(|(path, body)| {
            (path.clone(), json!({ "sha256": hex::encode(sha2::Sha256::digest(body)), "size": body.len() }))
        })
        .collect();
    let res = p.app.http.post(format!("{}{APP}/deployments", p.app.serve.api)).bearer_auth(&p.admin);
    let plan: Value = res.json(&json!({ "files": manifest })).send().await.expect("plan").json().await.expect("json");
    let missing = plan["missing"].as_array().expect("missing").clone();
    assert!(missing.len() >= 2, "{plan}");
    let first = missing[0].as_str().expect("sha");
    let body = files.iter().find(|(_, b)| hex::encode(sha2::Sha256::digest(b)) == first).expect("file").1.clone();
    let res = p.app.http.put(format!("{}/api/v1/blobs/{first}", p.app.serve.api)).bearer_auth(&p.admin).body(body);
    assert!(res.send().await.expect("blob").status().is_success());

    p.app.serve.crash();
    drop(conn);
    // Let the leftovers age past TMAHOST_STALE_UPLOAD_SECS.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    p.app.serve.start_again();

    assert_eq!(p.assert_consistent().await, 2, "the version live before the crash is still live");
    let list = p.deployments().await;
    assert_eq!(list.len(), 3, "the archive upload left no deployment; the digest one is there: {list:?}");
    let digest = list.iter().find(|d| d["version"] == 3).expect("digest deployment");
    assert_eq!(digest["status"], "failed", "an unfinished upload is failed at start: {digest}");
    assert!(p.scratch().is_empty(), "the scratch dir was cleaned: {:?}", p.scratch());

    // Activations interrupted by SIGKILL at different moments.
    for (round, after_ms) in [30u64, 90, 160].into_iter().enumerate() {
        let (http, api, admin) = (p.app.http.clone(), p.app.serve.api.clone(), p.admin.clone());
        let flipping = tokio::spawn(async move {
            for i in 0.. {
                let to = if i % 2 == 0 { 1 } else { 2 };
                let res = http.post(format!("{api}{APP}/rollback")).bearer_auth(&admin).json(&json!({ "to": to }));
                if res.send().await.is_err() {
                    return i;
                }
            }
            unreachable!()
        });
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        p.app.serve.crash();
        let flips = flipping.await.expect("flipping task");
        p.app.serve.start_again();
        let live = p.assert_consistent().await;
        assert!(live == 1 || live == 2, "round {round}: v{live} after {flips} rollbacks");
    }
    // And it still deploys.
    assert_eq!(p.deploy("v4").await, StatusCode::CREATED);
    assert_eq!(p.assert_consistent().await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deploys_on_sqlite_all_succeed_with_unique_versions() {
    let p = Platform::start().await;
    let deploys: Vec<_> = (0..8)
        .map(|i| {
            let (http, api, admin) = (p.app.http.clone(), p.app.serve.api.clone(), p.admin.clone());
            tokio::spawn(async move {
                let res = http
                    .post(format!("{api}{APP}/deployments"))
                    .bearer_auth(admin)
                    .header("content-type", "application/zip")
                    .body(bundles::zip(&bundles::sample_app(&format!("c{i}"))))
                    .send()
                    .await
                    .expect("upload");
                (res.status(), res.text().await.unwrap_or_default())
            })
        })
        .collect();
    for d in deploys {
        let (status, body) = d.await.expect("task");
        assert_eq!(status, StatusCode::CREATED, "no client sees SQLITE_BUSY: {body}");
    }
    let list = p.deployments().await;
    let mut versions: Vec<i64> = list.iter().map(|d| d["version"].as_i64().expect("version")).collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    assert_eq!(list.iter().filter(|d| d["status"] == "active").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_object_store_or_scratch_dir_refuses_uploads_and_keeps_the_live_version() {
    let p = Platform::start().await;
    assert_eq!(p.deploy("v1").await, StatusCode::CREATED);
    assert_eq!(p.assert_consistent().await, 1);
    let data = p.app.serve.data_dir.path().to_owned();
    // A file where a directory should be: every write below it fails (ENOTDIR), even for root.
    for dir in ["objects/blobs", "tmp"] {
        let (real, saved) = (data.join(dir), data.join(format!("{dir}.saved")));
        std::fs::rename(&real, &saved).expect("move aside");
        std::fs::write(&real, b"").expect("blocker");
        let (status, body) = p.deploy_answer("v2").await;
        assert!(status.is_server_error(), "{dir}: {status} {body}");
        assert_eq!(body["error"]["code"], "internal", "{dir}: the error shape: {body}");
        // The attempt is on record as failed, with its reason, and holds no files.
        let list = p.deployments().await;
        let usable: Vec<&Value> = list.iter().filter(|d| d["status"] != "failed").collect();
        assert_eq!(usable.len(), 1, "{dir}: nothing half-written: {list:?}");
        for d in list.iter().filter(|d| d["status"] == "failed") {
            assert!(d["error"].is_string() && d["file_count"] == 0 && d["activated_at"].is_null(), "{dir}: {d}");
        }
        assert!(p.served().await.contains("<title>v1</title>"), "{dir}: v1 is still served");
        std::fs::remove_file(&real).expect("remove blocker");
        std::fs::rename(&saved, &real).expect("restore");
    }
    // Versions of failed attempts are not reused.
    let next = p.deployments().await.len() + 1;
    assert_eq!(p.deploy(&format!("v{next}")).await, StatusCode::CREATED);
    assert_eq!(p.assert_consistent().await, next as i64);
}
