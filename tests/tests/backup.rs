//! Backup and restore, end to end on the real binary: a backup taken while deploys run holds
//! every content its database names; restored into an empty data dir, the platform serves
//! every deployment byte for byte. A damaged copy is named by `backup --check`, and a restore
//! refuses a data dir that is not empty.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tmahost_testkit::app::TestApp;
use tmahost_testkit::{TOKEN_A, bundles};

type Files = Vec<(String, Vec<u8>)>;

fn bundle(n: u64) -> Files {
    vec![
        ("index.html".to_owned(), format!("<!doctype html><p>release {n}</p>").into_bytes()),
        ("assets/shared.js".to_owned(), b"export const shared = 1;\n".repeat(200)),
        ("assets/own.js".to_owned(), format!("export const n = {n};\n").repeat(100 + n as usize).into_bytes()),
    ]
}

fn host_of(preview: &str) -> String {
    let u = url::Url::parse(preview).expect("url");
    format!("{}:{}", u.host_str().expect("host"), u.port().expect("port"))
}

/// Every complete deployment the API lists, read from its preview host, equals what was
/// deployed; and the app's own host serves the active one. Returns how many files were read.
async fn serves_what_was_deployed(t: &TestApp, admin: &str, deployed: &HashMap<String, Files>) -> usize {
    let (s, list) = t.api(Method::GET, "/api/v1/bots/demo_bot/apps/main/deployments", Some(admin), None).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let mut read = 0;
    for d in list.as_array().expect("list") {
        if !matches!(d["status"].as_str(), Some("active" | "superseded" | "ready")) {
            continue;
        }
        let files = deployed.get(d["id"].as_str().expect("id")).unwrap_or_else(|| panic!("unknown deployment {d}"));
        let mut hosts = vec![host_of(d["preview_url"].as_str().expect("preview"))];
        if d["status"] == "active" {
            hosts.push(t.host("demo-bot"));
        }
        for host in hosts {
            for (path, want) in files {
                let res = t.edge(&host, &format!("/{path}")).send().await.expect("edge");
                assert_eq!(res.status(), StatusCode::OK, "v{} {host}/{path}", d["version"]);
                assert_eq!(res.bytes().await.expect("body").as_ref(), want.as_slice(), "v{} /{path}", d["version"]);
                read += 1;
            }
        }
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_deploying_restores_into_an_empty_dir_and_serves_the_same_bytes() {
    let mut t = TestApp::start(&[("TMAHOST_KEEP_DEPLOYMENTS", "1000")]);
    let admin = t.admin().to_owned();
    t.register(TOKEN_A, Some("Demo_Bot")).await;
    t.settings("demo_bot", "main", json!({ "access": "public" })).await;
    let deployed: Arc<Mutex<HashMap<String, Files>>> = Arc::default();
    let deploy = |n: u64| {
        let (t, admin, deployed) = (&t, admin.clone(), deployed.clone());
        async move {
            let files = bundle(n);
            let (s, body) = t.deploy(&admin, "demo_bot", "main", "", bundles::zip(&files)).await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
            deployed.lock().expect("lock").insert(body["id"].as_str().expect("id").to_owned(), files);
        }
    };
    deploy(0).await;

    // Deploys go on while the backup runs.
    let commands = t.serve.commands();
    let dest = tempfile::tempdir().expect("dir");
    let backup = dest.path().join("nightly");
    let done = Arc::new(AtomicBool::new(false));
    let run = {
        let (backup, done) = (backup.clone(), done.clone());
        tokio::task::spawn_blocking(move || {
            let out = commands.run(&["backup", backup.to_str().expect("utf-8")], &[]);
            done.store(true, Ordering::Relaxed);
            out
        })
    };
    let mut n = 1;
    while !done.load(Ordering::Relaxed) || n < 4 {
        deploy(n).await;
        n += 1;
    }
    let out = run.await.expect("backup");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("as secret as the key"));
    let info: Value =
        serde_json::from_slice(&std::fs::read(backup.join("backup.json")).expect("manifest")).expect("json");
    assert!(info["contents"].as_u64().expect("contents") >= 3, "{info}");
    // Nothing half-written is left beside it, and a second backup to the same name is refused.
    let names: Vec<_> = std::fs::read_dir(dest.path()).expect("ls").flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("nightly")]);
    let again = t.serve.cli(&["backup", backup.to_str().expect("utf-8")], &[]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let check = t.serve.cli(&["backup", "--check", backup.to_str().expect("utf-8")], &[]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    // Restore refuses the live data dir; wiped, it takes the backup.
    assert_eq!(t.serve.stop(), Some(0));
    let restore = |t: &TestApp| t.serve.cli(&["restore", backup.to_str().expect("utf-8")], &[]);
    let refused = restore(&t);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("not empty"));
    for e in std::fs::read_dir(t.serve.data_dir.path()).expect("ls").flatten() {
        let p = e.path();
        if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) }.expect("wipe");
    }
    let out = restore(&t);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    t.serve.start_again();

    // Every deployment the restored database lists is served as it was deployed (those made
    // after the snapshot are simply not in it), the admin token still works.
    let deployed = deployed.lock().expect("lock").clone();
    let read = serves_what_was_deployed(&t, &admin, &deployed).await;
    assert!(read >= 6, "read {read} files");

    // A damaged copy is named.
    let objects = backup.join("objects");
    let victim =
        tmahost_testkit::files_under(&objects).into_iter().find(|p| p.extension().is_none()).expect("an original");
    std::fs::write(&victim, b"bit rot").expect("damage");
    let check = t.serve.cli(&["backup", "--check", backup.to_str().expect("utf-8")], &[]);
    assert!(!check.status.success());
    let name = victim.file_name().expect("name").to_string_lossy().into_owned();
    assert!(String::from_utf8_lossy(&check.stdout).contains(&name), "{}", String::from_utf8_lossy(&check.stdout));
}

/// `cmd` run under `sh` with a file-size limit (and SIGXFSZ ignored, so a write past it fails
/// with an error instead of killing the process): the kernel refuses the backup's writes in
/// the middle of the copy as a full disk does, without the mount rights a small tmpfs needs.
fn with_file_size_limit(cmd: &std::process::Command, kib: u64) -> std::process::Command {
    let mut sh = std::process::Command::new("sh");
    // dash counts `ulimit -f` in 512-byte blocks.
    sh.arg("-c").arg(format!("trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"", kib * 2));
    sh.arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        sh.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_whose_destination_refuses_writes_fails_clearly_and_leaves_nothing_that_looks_whole() {
    use rand::RngCore;
    let t = TestApp::start(&[]);
    let admin = t.admin().to_owned();
    t.register(TOKEN_A, Some("Demo_Bot")).await;
    let mut big = vec![0u8; 3 << 20];
    tmahost_testkit::seeded_rng("backup out of space").fill_bytes(&mut big);
    let files = vec![("index.html".to_owned(), b"<p>hi</p>".to_vec()), ("video.bin".to_owned(), big)];
    let (s, body) = t.deploy(&admin, "demo_bot", "main", "", bundles::zip(&files)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    let dest = tempfile::tempdir().expect("dir");
    let backup = dest.path().join("nightly");
    let args = ["backup", backup.to_str().expect("utf-8")];
    // Room for the database, not for the 3 MiB content.
    let out = with_file_size_limit(&t.serve.commands().command(&args, &[]), 1024).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("writing ") && stderr.contains("File too large"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dest.path()).expect("ls").flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "a failed backup left {left:?}");

    // Room for nothing: the database copy itself fails.
    let out = with_file_size_limit(&t.serve.commands().command(&args, &[]), 4).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("cannot write the database copy"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dest.path()).expect("ls").flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "a failed backup left {left:?}");

    // With room, the same command makes a whole copy that checks out.
    let out = t.serve.cli(&args, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = t.serve.cli(&["backup", "--check", backup.to_str().expect("utf-8")], &[]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}
