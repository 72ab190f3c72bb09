//! An edge follows the platform's change log: after any sequence of changes, the routing table
//! it changed one app or bot at a time is the table it would read whole, on SQLite and on
//! PostgreSQL; and another node's edge whose notifications are lost is only late.

mod common;
use common::*;
use rand::Rng;
use tmahost_service::EdgeChange;
use tmahost_testkit::dns::DnsServer;
use tmahost_testkit::platform::TestPlatform;

const BOTS: [&str; 2] = ["demo_bot", "other_bot"];

/// The platform on `database_url` (SQLite in the temp dir when `None`), with DNS answered by
/// `dns` so custom domains can be proven.
async fn platform(database_url: Option<String>, dns: &DnsServer, refresh_secs: u64) -> TestPlatform {
    tmahost_testkit::platform::open(|c| {
        c.storage.database_url = database_url.map(tmahost_service::Secret::new);
        c.domains.dns_server = Some(dns.addr.to_string());
        c.edge.refresh_secs = refresh_secs;
    })
    .await
}

/// Makes `steps` random changes of every kind the edge routes by, through the service as the
/// front doors make them, letting `edge` catch up now and then (as notifications would) and
/// sometimes not (several changes in one round, and changes of one app twice in it).
async fn churn(p: &Platform, edge: &Edge, dns: &DnsServer, rng: &mut impl Rng, steps: usize) {
    let admin = Actor::local_admin();
    let archive = tempfile::NamedTempFile::new().expect("tmp");
    let mut apps: Vec<(&str, String)> = BOTS.iter().map(|b| (*b, "main".to_owned())).collect();
    for step in 0..steps {
        let (bot, slug) = apps[rng.random_range(0..apps.len())].clone();
        let app = || p.app(&admin, bot, &slug, Need::Manage);
        // Refusals (a rollback with nothing before, a deleted app named again) are part of it.
        let _ = match rng.random_range(0..11) {
            0 => {
                let slug = format!("a{step}");
                let bot_ref = p.bot(&admin, bot, Need::Manage).await.expect("bot");
                let made = p.create_app(&bot_ref, &slug, None).await.map(|_| ());
                if made.is_ok() {
                    apps.push((bot, slug));
                }
                made
            }
            1 | 2 => {
                std::fs::write(archive.path(), bundles::zip(&bundles::sample_app(&format!("v{step}")))).expect("zip");
                let opts = DeployOptions { activate: rng.random_bool(0.8), message: None };
                async { p.deploy_archive(&app().await?, archive.path(), opts).await.map(|_| ()) }.await
            }
            3 => async { p.rollback(&app().await?, None).await.map(|_| ()) }.await,
            4 => {
                let domain = rng.random_bool(0.5).then(|| format!("d{step}.example.com"));
                let settings = AppSettings {
                    access: if rng.random_bool(0.5) { Access::Public } else { Access::Gated },
                    allowed_user_ids: rng.random_bool(0.3).then(|| vec![rng.random_range(1..5)]),
                    custom_domain: domain,
                    ..AppSettings::default()
                };
                async { p.update_app_settings(&app().await?, settings).await.map(|_| ()) }.await
            }
            5 => {
                async {
                    let r = app().await?;
                    if let Some(claim) = p.app_domain(&r.app).await? {
                        dns.set_txt(&claim.txt_name, &claim.txt_value).await;
                    }
                    p.verify_domain(&r).await.map(|_| ())
                }
                .await
            }
            6 => {
                async {
                    let bot_ref = p.bot(&admin, bot, Need::Manage).await?;
                    p.grant_member(&bot_ref, rng.random_range(1..5), Role::Developer).await
                }
                .await
            }
            7 => {
                async {
                    let bot_ref = p.bot(&admin, bot, Need::Manage).await?;
                    p.revoke_member(&bot_ref, rng.random_range(1..5)).await
                }
                .await
            }
            8 if slug != "main" => async { p.delete_app(&app().await?).await }.await,
            9 => {
                async {
                    let bot_ref = p.bot(&admin, bot, Need::Manage).await?;
                    let status = if rng.random_bool(0.5) { BotStatus::Active } else { BotStatus::Disabled };
                    p.set_bot_status(&bot_ref, status).await.map(|_| ())
                }
                .await
            }
            _ => p.revoke_edge_session(&format!("sid-{step}"), now() + 3600).await,
        };
        if rng.random_bool(0.3) {
            edge.catch_up().await.expect("catch up");
        }
    }
}

async fn a_followed_table_is_the_table_read_whole(database_url: Option<String>) {
    let dns = DnsServer::start().await;
    let TestPlatform { p, dir: _dir } = platform(database_url, &dns, 5).await;
    let edge = Edge::start(p.clone()).await.expect("edge");
    let mut rng = tmahost_testkit::seeded_rng("following");
    churn(&p, &edge, &dns, &mut rng, 120).await;
    edge.catch_up().await.expect("catch up");
    let fresh = Edge::start(p.clone()).await.expect("a fresh edge");
    let (followed, whole) = (edge.describe_table(), fresh.describe_table());
    assert!(followed.len() > 4, "the churn made apps: {followed:#?}");
    assert_eq!(followed, whole, "the followed table differs from the table read whole");
    // Every change was applied as a change, never by reading everything again: the followed
    // edge (registered first) read the table once, at its start.
    let metrics = p.metrics().render();
    assert!(metrics.contains("tmahost_edge_changes_applied_total{kind=\"app\"}"), "{metrics}");
    assert_eq!(first_line(&metrics, "tmahost_edge_table_loads_total"), "tmahost_edge_table_loads_total 1");
}

fn first_line<'a>(metrics: &'a str, name: &str) -> &'a str {
    metrics.lines().find(|l| l.starts_with(name)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_table_is_the_table_read_whole_on_sqlite() {
    a_followed_table_is_the_table_read_whole(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_table_is_the_table_read_whole_on_postgresql() {
    let Some(url) = tmahost_testkit::postgres::fresh_database().await else { return };
    a_followed_table_is_the_table_read_whole(Some(url)).await;
}

/// Two nodes on one PostgreSQL database; the second never hears `NOTIFY` (it does not listen),
/// so its edge learns of the first node's changes only by reading the log on its timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_notification_only_delays() {
    let Some(url) = tmahost_testkit::postgres::fresh_database().await else { return };
    let dns = DnsServer::start().await;
    let TestPlatform { p: first, dir: _first } = platform(Some(url.clone()), &dns, 5).await;
    let mut config = first.config().clone();
    let second_dir = tempfile::tempdir().expect("tempdir");
    config.storage.data_dir = second_dir.path().to_owned();
    std::fs::copy(first.config().storage.data_dir.join("master.key"), second_dir.path().join("master.key"))
        .expect("the same master key");
    config.edge.refresh_secs = 1;
    let second = Platform::open(config).await.expect("second node");
    let late = Edge::start(second.clone()).await.expect("second node's edge");
    let mut rng = tmahost_testkit::seeded_rng("lost-notify");
    let here = Edge::start(first.clone()).await.expect("first node's edge");
    churn(&first, &here, &dns, &mut rng, 30).await;
    here.catch_up().await.expect("catch up");
    let want = Edge::start(first.clone()).await.expect("a fresh edge").describe_table();
    let deadline = Instant::now() + Duration::from_secs(30);
    while late.describe_table() != want {
        assert!(Instant::now() < deadline, "the second node's edge never caught up by polling the log");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A logout names one session: edges add it to what they refuse without touching the routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_changes_the_revocations_not_the_routes() {
    let e = env().await;
    e.edge.catch_up().await.expect("catch up");
    let before = e.p.metrics().render();
    for i in 0..200 {
        e.p.revoke_edge_session(&format!("s{i}"), now() + 3600).await.expect("logout");
    }
    e.edge.catch_up().await.expect("catch up");
    let after = e.p.metrics().render();
    let loads = "tmahost_edge_table_loads_total";
    assert_eq!(first_line(&before, loads), first_line(&after, loads), "no reading of the whole table");
    assert!(after.contains("tmahost_edge_changes_applied_total{kind=\"session\"} 200"), "{after}");
    let logged = e.p.changes_from(0, 1000).await.expect("log");
    assert_eq!(logged.iter().filter(|c| matches!(c.change, EdgeChange::Session(_))).count(), 200);
}

/// On PostgreSQL a change's row is numbered at insert and seen at commit: a change that
/// commits after a later-numbered one is still applied when it shows, and a number that never
/// shows (its transaction rolled back) makes the edge read the table whole, once it has waited
/// long enough for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_that_commit_out_of_order_are_applied_and_a_lost_one_reloads() {
    use sqlx::Connection;
    let Some(url) = tmahost_testkit::postgres::fresh_database().await else { return };
    let dns = DnsServer::start().await;
    let TestPlatform { p, dir: _dir } = platform(Some(url.clone()), &dns, 3600).await;
    let edge = Edge::start(p.clone()).await.expect("edge");
    let admin = Actor::local_admin();
    let main = p.app(&admin, "demo_bot", "main", Need::Manage).await.expect("app");
    let public =
        serde_json::to_string(&AppSettings { access: Access::Public, ..AppSettings::default() }).expect("json");

    // A change written the way the store writes one, held open.
    let mut held = sqlx::PgConnection::connect(&url).await.expect("connect");
    let mut tx = held.begin().await.expect("begin");
    sqlx::query("UPDATE apps SET settings = $1 WHERE id = $2")
        .bind(&public)
        .bind(&main.app.id)
        .execute(&mut *tx)
        .await
        .expect("update");
    log_app_change(&mut tx, &main.app.id).await;
    // A later change commits first; the edge applies it and notes the gap before it.
    let other = p.bot(&admin, "other_bot", Need::Manage).await.expect("bot");
    p.grant_member(&other, 7, Role::Developer).await.expect("grant");
    edge.catch_up().await.expect("catch up");
    let gated = |table: &[String]| table.iter().any(|l| l.starts_with("label demo-bot:") && l.contains("\"gated\""));
    assert!(gated(&edge.describe_table()), "the held change is not visible yet");
    tx.commit().await.expect("commit");
    edge.catch_up().await.expect("catch up");
    assert!(!gated(&edge.describe_table()), "the change that committed late was applied");
    assert_eq!(edge.describe_table(), Edge::start(p.clone()).await.expect("fresh").describe_table());

    // A numbered change that never commits.
    let mut tx = held.begin().await.expect("begin");
    log_app_change(&mut tx, &main.app.id).await;
    tx.rollback().await.expect("rollback");
    p.revoke_member(&other, 7).await.expect("revoke");
    let loads = |p: &Platform| first_line(&p.metrics().render(), "tmahost_edge_table_loads_total").to_owned();
    let before = loads(&p);
    let deadline = Instant::now() + Duration::from_secs(60);
    while loads(&p) == before {
        assert!(Instant::now() < deadline, "a change lost from the log never made the edge read the table whole");
        edge.catch_up().await.expect("catch up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Logs a change of `app_id` the way the store does, in `tx`.
async fn log_app_change(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, app_id: &str) {
    sqlx::query("INSERT INTO changes (at_ms, kind, subject) VALUES ($1, 'app', $2)")
        .bind(now() * 1000)
        .bind(app_id)
        .execute(&mut **tx)
        .await
        .expect("log");
}

/// Pruning the log while changes are made and followed (here everything logged so far, each
/// time; the platform keeps an hour) loses nothing: an edge that finds the rows it had not read
/// gone reads the table whole, and ends with the table a fresh read gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_the_log_while_changes_are_followed_loses_none() {
    let dns = DnsServer::start().await;
    let TestPlatform { p, dir: _dir } = platform(None, &dns, 5).await;
    let edge = Edge::start(p.clone()).await.expect("edge");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pruning = {
        let (p, done) = (p.clone(), done.clone());
        tokio::spawn(async move {
            let mut pruned = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                pruned += p.db_for_tests().prune_changes(tmahost_service::now_ms() + 1).await.expect("prune");
                tokio::task::yield_now().await;
            }
            pruned
        })
    };
    let mut rng = tmahost_testkit::seeded_rng("pruning");
    churn(&p, &edge, &dns, &mut rng, 80).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let pruned = pruning.await.expect("pruner");
    assert!(pruned > 0, "the pruner ran beside the changes");
    // The edge reads the whole table once the rows it missed are given up for lost.
    let want = Edge::start(p.clone()).await.expect("a fresh edge").describe_table();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        edge.catch_up().await.expect("catch up");
        if edge.describe_table() == want {
            break;
        }
        assert!(Instant::now() < deadline, "the followed table never matched after pruning");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
