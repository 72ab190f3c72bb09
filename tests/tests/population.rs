//! The load benchmarks' data makers (`tests/load/scale.sh` runs the `populate` example with
//! thousands of bots, `gc.sh` and `backup.sh` run `gc_populate`) run here at a small size on
//! every test run, so they cannot stop working unnoticed; and the real binary's edge started on
//! `populate`'s data serves every app to its cookie, as the benchmark's load expects.

use std::process::Command;

use tmahost_service::{Actor, Config, Need, Platform};
use tmahost_testkit::server::{Serve, example};

fn run(name: &str, args: &[&str]) {
    let out = Command::new(example(name)).args(args).env("TMAHOST_LOG", "warn").output().expect("run");
    assert!(out.status.success(), "{name} failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_benchmark_data_is_made_and_every_app_is_served_to_its_cookie() {
    let data = tempfile::tempdir().expect("tempdir");
    run("populate", &[data.path().to_str().expect("utf-8"), "12"]);
    let hosts = std::fs::read_to_string(data.path().join("hosts.txt")).expect("hosts.txt");
    let hosts: Vec<(String, String)> =
        hosts.lines().filter_map(|l| l.split_once(' ')).map(|(h, c)| (h.to_owned(), c.to_owned())).collect();
    assert_eq!(hosts.len(), 12, "one line per app");
    let edge = Serve::start_in(data, "edge", &[]);
    let http = reqwest::Client::new();
    for (host, cookie) in hosts {
        let res = http.get(format!("{}/", edge.edge)).header("host", &host).header("cookie", cookie).send().await;
        let res = res.expect("edge");
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{host}");
        assert!(res.text().await.expect("page").contains("<h1>hello</h1>"), "{host} serves its page");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_garbage_collection_benchmark_data_is_made() {
    let data = tempfile::tempdir().expect("tempdir");
    run("gc_populate", &[data.path().to_str().expect("utf-8"), "3", "4"]);
    let mut config = Config::default();
    config.storage.data_dir = data.path().to_owned();
    let p = Platform::open(config).await.expect("platform");
    let admin = Actor::local_admin();
    let bots = p.list_bots(&admin).await.expect("bots");
    assert_eq!(bots.len(), 3);
    for bot in bots {
        let app = p.app(&admin, bot.bot_id(), "main", Need::See).await.expect("app");
        let kept = p.list_deployments(&app, 100).await.expect("deployments");
        assert_eq!(kept.len(), 2, "the older half of {}'s deployments is deleted", bot.username);
    }
}
