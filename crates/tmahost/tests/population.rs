//! The load benchmarks' data makers (`tests/load/scale.sh` runs the `populate` example with
//! thousands of bots, `gc.sh` and `backup.sh` run `gc_populate`) run here at a small size on
//! every test run, so they cannot stop working unnoticed; and an edge started on `populate`'s
//! data serves every app to its cookie, as the benchmark's load expects.

use std::net::SocketAddr;
use std::process::Command;

use tmahost::{Application, Role};
use tmahost_service::Config;

fn run(example_name: &str, args: &[&str]) {
    let out = Command::new(tmahost_testkit::server::example(example_name))
        .args(args)
        .env("TMAHOST_LOG", "warn")
        .output()
        .expect("run");
    assert!(out.status.success(), "{example_name} failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_benchmark_data_is_made_and_every_app_is_served_to_its_cookie() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    run("populate", &[data.to_str().expect("utf-8"), "12"]);
    let hosts = std::fs::read_to_string(data.join("hosts.txt")).expect("hosts.txt");
    let hosts: Vec<(&str, &str)> = hosts.lines().filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(hosts.len(), 12, "one line per app");

    let mut config = Config::default();
    config.storage.data_dir = data;
    config.server.edge_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.telegram.api_url = "http://127.0.0.1:1".into();
    let app = Application::build(config, Role::Edge).await.expect("edge");
    let (edge, routed) = app.edge.expect("the edge role");
    assert!(routed >= 12, "every bot's host is routed: {routed}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    for (host, cookie) in hosts {
        let res = http.get(format!("http://{edge}/")).header("host", host).header("cookie", cookie).send().await;
        let res = res.expect("edge");
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{host}");
        assert!(res.text().await.expect("page").contains("<h1>hello</h1>"), "{host} serves its page");
    }
    stop.send(()).expect("still running");
    running.await.expect("joined").expect("a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_garbage_collection_benchmark_data_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    run("gc_populate", &[data.to_str().expect("utf-8"), "3", "4"]);
    let mut config = Config::default();
    config.storage.data_dir = data;
    let p = tmahost_service::Platform::open(config).await.expect("platform");
    let admin = tmahost_service::Actor::local_admin();
    let bots = p.list_bots(&admin).await.expect("bots");
    assert_eq!(bots.len(), 3);
    for bot in bots {
        let app = p.app(&admin, bot.bot_id(), "main", tmahost_service::Need::See).await.expect("app");
        let kept = p.list_deployments(&app, 100).await.expect("deployments");
        assert_eq!(kept.len(), 2, "the older half of {}'s deployments is deleted", bot.username);
    }
}
