//! Upgrades lose nothing: an installation as the oldest supported schema (migration 0001) left
//! it, on SQLite and on PostgreSQL, is started with the current binary, which applies every
//! later migration and serves the old deployments byte for byte (the bot's token, encrypted
//! then, still verifies launch data). The fixture records 0001's checksum as sqlx did, so an
//! edited 0001 fails here: applied migrations never change (`tests/fixtures/upgrade/make.py`).

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Executor;
use tmahost_testkit::app::TestApp;
use tmahost_testkit::postgres::PgServer;
use tmahost_testkit::server::Serve;
use tmahost_testkit::{TOKEN_A, bundles, launch_data};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A data dir with the fixture's contents and master key.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let from = repo("tests/fixtures/upgrade/objects");
    for file in tmahost_testkit::files_under(&from) {
        let to = dir.path().join("objects").join(file.strip_prefix(&from).expect("under"));
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &to).expect("copy");
    }
    let key = dir.path().join("master.key");
    std::fs::copy(repo("tests/fixtures/upgrade/master.key"), &key).expect("key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    dir
}

/// The old deployments are there and served; a new deploy takes the next version.
async fn serves_the_old_installation(t: &TestApp) {
    let admin = t.admin().to_owned();
    let (s, list) = t.api(Method::GET, "/api/v1/bots/demo_bot/apps/main/deployments", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let versions: Vec<(i64, String)> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|d| (d["version"].as_i64().expect("v"), d["status"].as_str().expect("status").to_owned()))
        .collect();
    assert_eq!(versions, vec![(2, "active".to_owned()), (1, "superseded".to_owned())]);

    // The app is gated (its settings were `{}`): the token stored encrypted at schema 1 still
    // verifies launch data.
    let host = t.host("demo-bot");
    let launch = launch_data(TOKEN_A, r#"{"id":4242,"first_name":"Owner"}"#);
    let res = t.http.post(format!("{}/_tma/session", t.serve.edge)).header("host", &host);
    let res = res.json(&json!({ "init_data": launch })).send().await.expect("session");
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_owned();
    let want = [
        ("index.html", b"<!doctype html><p>made by schema 1</p>".to_vec()),
        ("app.js", b"console.log('deployed before any upgrade');\n".repeat(20)),
    ];
    for (path, body) in want {
        let res = t.edge(&host, &format!("/{path}")).header("cookie", &cookie).send().await.expect("edge");
        assert_eq!(res.status(), StatusCode::OK, "/{path}");
        assert_eq!(res.bytes().await.expect("body").as_ref(), body.as_slice(), "/{path}");
    }
    // The owner granted then is still the owner.
    let (_, members) = t.api(Method::GET, "/api/v1/bots/demo_bot/members", Some(&admin), None).await;
    assert_eq!(members[0]["user_id"], 4242, "{members}");
    let (s, d) = t.deploy(&admin, "demo_bot", "main", "", bundles::zip(&bundles::sample_app("after"))).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!(d["version"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_installation_of_the_first_schema_upgrades_and_serves_its_deployments() {
    let dir = data_dir();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("tmahost.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
    pool.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(read("migrations/sqlite/0001_init.sql")))).await.expect("0001");
    pool.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(read("tests/fixtures/upgrade/sqlite-0001.sql"))))
        .await
        .expect("fixture");
    pool.close().await;
    let t = TestApp::new(Serve::start_in(dir, "serve", &[]));
    serves_the_old_installation(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_installation_of_the_first_schema_upgrades_and_serves_its_deployments() {
    let Some(pg) = PgServer::try_start() else { return };
    let url = pg.create_database("tmahost").await;
    let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
    pool.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(read("migrations/postgres/0001_init.sql")))).await.expect("0001");
    pool.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(read("tests/fixtures/upgrade/postgres-0001.sql"))))
        .await
        .expect("fixture");
    pool.close().await;
    let t = TestApp::new(Serve::start_in(data_dir(), "serve", &[("TMAHOST_DATABASE_URL", url.as_str())]));
    serves_the_old_installation(&t).await;
}
