//! Scale-out, end to end: one `tmahost api` and two `tmahost edge` processes on a real
//! PostgreSQL (a throwaway cluster of this test's own, so it can be stopped) and a real S3 API
//! (`moto_server`). Deploys and rollbacks reach both edges by LISTEN/NOTIFY; a database outage
//! leaves them serving what they cached, and they recover by themselves.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tmahost_testkit::app::TestApp;
use tmahost_testkit::bundles;
use tmahost_testkit::fake_telegram::FakeTelegram;
use tmahost_testkit::postgres::PgServer;
use tmahost_testkit::s3::S3Server;
use tmahost_testkit::server::Serve;

const TOKEN: &str = tmahost_testkit::TOKEN_A;

struct Edge {
    app: TestApp,
    ops: String,
}

impl Edge {
    fn start(env: &[(&str, &str)]) -> Self {
        let mut serve = Serve::start_role("edge", env);
        let line = serve.printed("ops: ", Duration::from_secs(10)).expect("ops listener");
        let ops = line.trim_start_matches("ops: ").split_whitespace().next().expect("url").to_owned();
        Self { app: TestApp::new(serve), ops }
    }

    /// `/` of the app on this edge.
    async fn index(&self) -> Option<String> {
        let res = self.app.edge(&self.app.host("demo-bot"), "/").send().await.ok()?;
        (res.status() == StatusCode::OK).then_some(res.text().await.ok()?)
    }

    async fn ready(&self) -> StatusCode {
        let res = self.app.http.get(format!("{}/readyz", self.ops)).send().await;
        res.map_or(StatusCode::BAD_GATEWAY, |r| r.status())
    }
}

/// Polls both edges until each serves `needle`; returns how long that took.
async fn both_serve(edges: &[Edge], needle: &str, within: Duration) -> Duration {
    let start = Instant::now();
    let mut done = [false, false];
    while !done.iter().all(|d| *d) {
        for (i, e) in edges.iter().enumerate() {
            if !done[i] {
                done[i] = e.index().await.is_some_and(|b| b.contains(needle));
            }
        }
        assert!(start.elapsed() < within, "edges serve {needle:?}: {done:?} after {:?}", start.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn two_edges_follow_the_api_through_postgres_and_s3_and_ride_out_a_database_outage() {
    let Some(mut pg) = PgServer::try_start() else { return };
    let Some(s3) = S3Server::start("tmahost").await else { return };
    let database = pg.create_database("tmahost").await;
    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN, "Demo_Bot");

    let mut env: Vec<(String, String)> = s3.env();
    env.extend(
        [
            ("TMAHOST_DATABASE_URL", database.as_str()),
            ("TMAHOST_MASTER_KEY", &"42".repeat(32)),
            ("TMAHOST_TELEGRAM_API_URL", fake.url.as_str()),
            // The timer is far away, so what the edges learn within a second came by NOTIFY.
            ("TMAHOST_EDGE_REFRESH_SECS", "120"),
            ("TMAHOST_OPS_ADDR", "127.0.0.1:0"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let api = TestApp::new(Serve::start_role("api", &env));
    let out = api.serve.cli(&["admin", "token", "create", "--scope", "admin"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();
    let edges = [Edge::start(&env), Edge::start(&env)];
    // A hung request fails the test instead of stalling it (the client has a timeout).
    let http = api.http.clone();
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", api.serve.api)).bearer_auth(&admin)
    };
    let body = json!({ "token": TOKEN });
    let (s, bot) = api.api(reqwest::Method::POST, "/api/v1/bots", Some(&admin), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{bot}");
    let path = "/api/v1/bots/demo-bot/apps/main/settings";
    let (s, settings) = api.api(reqwest::Method::PUT, path, Some(&admin), Some(json!({ "access": "public" }))).await;
    assert!(s.is_success(), "{settings}");
    let deploy = |version: &'static str| {
        call(reqwest::Method::POST, "/api/v1/bots/demo-bot/apps/main/deployments")
            .header("content-type", "application/zip")
            .body(bundles::zip(&bundles::sample_app(version)))
            .send()
    };

    // A deployment through the api is served by both edges (blobs from S3).
    assert_eq!(deploy("first-version").await.expect("v1").status(), StatusCode::CREATED);
    both_serve(&edges, "first-version", Duration::from_secs(5)).await;
    assert_eq!(deploy("second-version").await.expect("v2").status(), StatusCode::CREATED);
    both_serve(&edges, "second-version", Duration::from_secs(5)).await;

    // A rollback reaches both within a second (asserted with room for a slow CI machine).
    let res = call(reqwest::Method::POST, "/api/v1/bots/demo-bot/apps/main/rollback").json(&json!({ "to": 1 })).send();
    assert_eq!(res.await.expect("rollback").status(), StatusCode::OK);
    let lag = both_serve(&edges, "first-version", Duration::from_secs(3)).await;
    eprintln!("rollback visible on both edges after {} ms", lag.as_millis());
    for e in &edges {
        assert_eq!(e.ready().await, StatusCode::OK);
        let metrics =
            e.app.http.get(format!("{}/metrics", e.ops)).send().await.expect("metrics").text().await.expect("text");
        assert!(metrics.contains("tmahost_change_notification_lag_seconds_count"), "{metrics}");
        assert!(metrics.contains("tmahost_edge_responses_total{app=\"main--demo-bot\",status=\"2xx\"}"), "{metrics}");
    }

    // PostgreSQL goes away: both edges keep serving what they have, and say they are not ready.
    pg.stop();
    for e in &edges {
        for _ in 0..3 {
            let body = e.index().await.expect("served from cache during the outage");
            assert!(body.contains("first-version"));
        }
        assert_eq!(e.ready().await, StatusCode::SERVICE_UNAVAILABLE);
    }

    // It comes back: the edges are ready again and follow new deploys without a restart.
    pg.restart();
    for e in &edges {
        let deadline = Instant::now() + Duration::from_secs(30);
        while e.ready().await != StatusCode::OK {
            assert!(Instant::now() < deadline, "edge not ready after the database came back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The api's pool reconnects too; its first attempts may still fail.
        if deploy("third-version").await.is_ok_and(|r| r.status() == StatusCode::CREATED) {
            break;
        }
        assert!(Instant::now() < deadline, "the api did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    both_serve(&edges, "third-version", Duration::from_secs(10)).await;

    // A deleted app answers 404 on both edges as soon as they hear of it.
    let (s, body) = api
        .api(
            reqwest::Method::POST,
            "/api/v1/bots/demo-bot/apps",
            Some(&admin),
            Some(json!({ "slug": "shop", "settings": { "access": "public" } })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let res = call(reqwest::Method::POST, "/api/v1/bots/demo-bot/apps/shop/deployments")
        .header("content-type", "application/zip")
        .body(bundles::zip(&bundles::sample_app("shop-version")))
        .send();
    assert_eq!(res.await.expect("shop").status(), StatusCode::CREATED);
    let both = &edges;
    let shop_answers = |want: StatusCode| async move {
        let start = Instant::now();
        for e in both {
            loop {
                let res = e.app.edge(&e.app.host("shop--demo-bot"), "/").send().await.expect("edge");
                if res.status() == want {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(10), "an edge answers {} for the shop", res.status());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        start.elapsed()
    };
    shop_answers(StatusCode::OK).await;
    let res = call(reqwest::Method::DELETE, "/api/v1/bots/demo-bot/apps/shop").send();
    assert_eq!(res.await.expect("delete").status(), StatusCode::NO_CONTENT);
    let lag = shop_answers(StatusCode::NOT_FOUND).await;
    eprintln!("deletion visible on both edges after {} ms", lag.as_millis());
    both_serve(&edges, "third-version", Duration::from_secs(1)).await;

    // The object store goes away (moto keeps buckets in memory, so it does not come back):
    // what the edges hold in memory is still served, and they say they are not ready.
    drop(s3);
    for e in &edges {
        assert!(e.index().await.expect("served from memory").contains("third-version"));
        assert_eq!(e.ready().await, StatusCode::SERVICE_UNAVAILABLE);
    }
}
