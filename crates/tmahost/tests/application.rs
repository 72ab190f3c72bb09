//! The application in-process: `Application::build` binds every listener of a role on the
//! ports it is given (0 here), the banner names the bound addresses, and `run` serves until its
//! stop signal, then returns cleanly.

use std::net::SocketAddr;

use tmahost::{Application, Role};
use tmahost_service::Config;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_builds_every_listener_serves_and_stops_on_its_signal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.storage.data_dir = dir.path().to_owned();
    config.server.api_addr = any_port();
    config.server.edge_addr = any_port();
    config.server.ops_addr = Some(any_port());
    config.telegram.admin_ids = vec![1001];
    config.telegram.api_url = "http://127.0.0.1:1".into();
    let app = Application::build(config, Role::All).await.expect("built");
    let (api, (edge, hosts), ops) = (app.api.expect("api"), app.edge.expect("edge"), app.ops.expect("ops"));
    assert!(api.port() != 0 && edge.port() != 0 && ops.port() != 0, "real ports: {api} {edge} {ops}");
    assert_eq!(hosts, 0, "nothing registered yet");
    assert_eq!(app.control_bot, None, "no control bot token, no bot");
    let bootstrap = app.bootstrap.as_ref().expect("a first start mints an admin token");
    let (admin, link) = bootstrap.login.as_ref().expect("and a login link for the first admin");
    assert_eq!(*admin, 1001);
    let jwt = bootstrap.token.jwt.clone();
    let banner = app.banner().join("\n");
    for line in [
        format!("api: http://{api}/api/v1"),
        format!("edge: http://{edge}"),
        format!("ops: http://{ops}"),
        format!("admin token (shown once; store it now): {}", bootstrap.token.jwt),
        link.url.clone(),
    ] {
        assert!(banner.contains(&line), "{line} missing from:\n{banner}");
    }

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let bots = http.get(format!("http://{api}/api/v1/bots")).bearer_auth(&jwt).send().await;
    assert_eq!(bots.expect("api").status(), reqwest::StatusCode::OK, "the API serves with the minted token");
    let ready = http.get(format!("http://{ops}/readyz")).send().await.expect("ops");
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    let edge_health = http.get(format!("http://{edge}/_tma/health")).send().await.expect("edge");
    assert_eq!(edge_health.text().await.expect("text"), "ok\n");

    stop.send(()).expect("still running");
    running.await.expect("joined").expect("a clean stop");
    assert!(http.get(format!("http://{api}/healthz")).send().await.is_err(), "the API stopped listening");
}

#[tokio::test]
async fn the_bot_role_needs_a_control_bot_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.storage.data_dir = dir.path().to_owned();
    let err = Application::build(config, Role::Bot).await.expect_err("no token");
    assert_eq!(err.to_string(), "`tmahost bot` needs TMAHOST_CONTROL_BOT_TOKEN");
}
