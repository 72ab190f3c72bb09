//! The repository contract, run against SQLite and against a real PostgreSQL (a throwaway
//! cluster started by the test harness). Each scenario is one async fn; the macro at the
//! bottom turns it into a test per engine.

use serde_json::json;
use tmahost_store::model::{
    AppSettings, AppSlug, BotStatus, DeploymentStatus, NewAuditEvent, Role, Sha256, TokenScope,
};
use tmahost_store::{BlobClaim, Db, NewDeploymentFile, NewUpload, Retention, StoreError};
use tmahost_types::BotId;

async fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.expect("connect");
    db.migrate().await.expect("migrate");
    (db, dir)
}

async fn postgres() -> Option<Db> {
    let url = tmahost_testkit::postgres::fresh_database().await?;
    let db = Db::connect(&url).await.expect("connect");
    db.migrate().await.expect("migrate");
    Some(db)
}

fn ev(action: &str, bot: Option<BotId>) -> NewAuditEvent<'static> {
    let action = action.parse().expect("an audit action");
    NewAuditEvent { actor: "test", action, bot_id: bot, app_id: None, deployment_id: None, details: json!({}) }
}

fn sha(n: u8) -> Sha256 {
    Sha256::parse(&format!("{n:02x}").repeat(32)).expect("sha")
}

async fn bot_with_app(db: &Db, id: i64, name: &str) -> (BotId, String) {
    let bot = BotId(id);
    db.insert_bot(bot, name, &name.to_lowercase().replace('_', "-"), b"ciphertext", &ev("bot.register", Some(bot)))
        .await
        .expect("bot");
    let app =
        db.insert_app(bot, &AppSlug::main(), &AppSettings::default(), &ev("app.create", Some(bot))).await.expect("app");
    (bot, app.id)
}

/// Stores a content the way uploaders do: claim, (write the objects), finish.
async fn stored(db: &Db, h: &Sha256, size: i64, gz: Option<i64>, br_pending: bool) {
    let claim = db.claim_blob(h, size).await.expect("claim");
    assert!(matches!(claim, BlobClaim::Upload | BlobClaim::Live), "{claim:?}");
    assert!(db.finish_blob(h, size, gz, br_pending, &[]).await.expect("finish"), "live");
}

async fn deploy(db: &Db, app: &str, files: &[(&str, u8)], activate: bool) -> String {
    for (_, h) in files {
        stored(db, &sha(*h), 10, Some(5), false).await;
    }
    let d = db.create_deployment(app, "test", None).await.expect("create");
    let files: Vec<NewDeploymentFile> = files
        .iter()
        .map(|(p, h)| NewDeploymentFile {
            path: (*p).into(),
            sha256: sha(*h),
            size: 10,
            content_type: "text/html".into(),
        })
        .collect();
    db.complete_deployment(&d.id, &files, "{}", activate, &ev("deployment.create", None)).await.expect("complete");
    d.id
}

async fn bots_and_apps(db: Db) {
    let (bot, _) = bot_with_app(&db, 42, "Demo_Bot").await;
    let again = db.insert_bot(bot, "Demo_Bot", "demo-bot", b"x", &ev("bot.register", Some(bot))).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let got = db.get_bot_by_label("demo-bot").await.expect("get").expect("found");
    assert_eq!((got.id, got.status), (42, BotStatus::Active));
    assert_eq!(db.bot_token_ciphertext(bot).await.expect("ct"), b"ciphertext");
    db.set_bot_status(bot, BotStatus::Disabled, &ev("bot.disable", Some(bot))).await.expect("disable");
    assert_eq!(db.get_bot(bot).await.expect("get").expect("found").status, BotStatus::Disabled);

    let dup = db.insert_app(bot, &AppSlug::main(), &AppSettings::default(), &ev("app.create", Some(bot))).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    let shop = AppSlug::parse("shop").expect("slug");
    let mut settings = AppSettings { spa_fallback: false, ..AppSettings::default() };
    let app = db.insert_app(bot, &shop, &settings, &ev("app.create", Some(bot))).await.expect("shop");
    assert!(!app.settings.spa_fallback);
    settings.custom_domain = Some("shop.example.com".into());
    db.update_app_settings(&app.id, &settings, &ev("app.update", Some(bot))).await.expect("update");
    let app = db.get_app(bot, &shop).await.expect("get").expect("found");
    assert_eq!(app.settings.custom_domain.as_deref(), Some("shop.example.com"));
    let slugs: Vec<String> = db.list_apps(bot).await.expect("list").into_iter().map(|a| a.slug.to_string()).collect();
    assert_eq!(slugs, ["main", "shop"]);
    // Every mutation above left its audit event, bound to the bot.
    let actions: Vec<&str> =
        db.list_audit(Some(bot), 100).await.expect("audit").into_iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["app.update", "app.create", "bot.disable", "app.create", "bot.register"]);
}

async fn deployment_lifecycle(db: Db) {
    let (_, app) = bot_with_app(&db, 7, "Life_Bot").await;
    let v1 = deploy(&db, &app, &[("index.html", 1)], true).await;
    let v2 = deploy(&db, &app, &[("index.html", 2), ("a.js", 3)], true).await;
    let staged = deploy(&db, &app, &[("index.html", 4)], false).await;

    let status = |id: String| {
        let db = db.clone();
        async move { db.get_deployment(&id).await.expect("get").expect("found").status }
    };
    assert_eq!(status(v1.clone()).await, DeploymentStatus::Superseded);
    assert_eq!(status(v2.clone()).await, DeploymentStatus::Active);
    assert_eq!(status(staged.clone()).await, DeploymentStatus::Ready);
    let versions: Vec<i64> = db.list_deployments(&app, 10).await.expect("list").iter().map(|d| d.version).collect();
    assert_eq!(versions, [3, 2, 1]);

    let files = db.deployment_files(&v2).await.expect("files");
    assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["a.js", "index.html"]);
    assert_eq!(files[0].gz_size, Some(5));

    // Rollback: v1 active again, v2 superseded, in one step.
    db.activate_deployment(&v1, &ev("deployment.rollback", None)).await.expect("rollback");
    assert_eq!(db.active_deployment(&app).await.expect("active").expect("one").id, v1);
    assert_eq!(status(v2.clone()).await, DeploymentStatus::Superseded);

    // The active deployment cannot be deleted; others can, and their manifest goes with them.
    assert!(matches!(
        db.delete_deployment(&v1, &ev("deployment.delete", None)).await,
        Err(StoreError::InvalidState(_))
    ));
    db.delete_deployment(&v2, &ev("deployment.delete", None)).await.expect("delete");
    assert!(db.deployment_files(&v2).await.expect("files").is_empty());

    // The database itself refuses a second active deployment.
    let second = on_any_db_execute(&db, &staged).await;
    assert!(second.is_err(), "unique index must refuse two active deployments");

    // A failed upload cannot be activated.
    let broken = db.create_deployment(&app, "test", None).await.expect("create");
    db.fail_deployment(&broken.id, "boom").await.expect("fail");
    assert!(matches!(
        db.activate_deployment(&broken.id, &ev("deployment.activate", None)).await,
        Err(StoreError::InvalidState(_))
    ));
}

async fn on_any_db_execute(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    let q = "UPDATE deployments SET status = 'active' WHERE id = $1";
    match db {
        Db::Sqlite(p) => sqlx::query(q).bind(id).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(q).bind(id).execute(p).await.map(|_| ()),
    }
}

async fn interrupted_uploads_become_failed_and_stay_invisible(db: Db) {
    let (_, app) = bot_with_app(&db, 8, "Crash_Bot").await;
    let live = deploy(&db, &app, &[("index.html", 1)], true).await;
    let crashed = db.create_deployment(&app, "test", None).await.expect("create");
    assert_eq!(db.active_deployment(&app).await.expect("active").expect("one").id, live);
    let now = tmahost_store::now_ms();
    assert_eq!(db.fail_stale_uploads(crashed.created_at - 1, now).await.expect("none yet"), 0);
    assert_eq!(db.fail_stale_uploads(now + 1, now).await.expect("fail"), 1);
    let d = db.get_deployment(&crashed.id).await.expect("get").expect("found");
    assert_eq!(d.status, DeploymentStatus::Failed);
    // Completing it later is refused: it never becomes visible.
    let late = db.complete_deployment(&crashed.id, &[], "{}", true, &ev("deployment.create", None)).await;
    assert!(matches!(late, Err(StoreError::InvalidState(_))), "{late:?}");
    assert_eq!(db.active_deployment(&app).await.expect("active").expect("one").id, live);
}

/// A digest deploy expects blobs until it completes or expires; only then may its blobs be
/// refused, and an expired one never completes.
async fn digest_uploads_expect_blobs_until_completed_or_expired(db: Db) {
    let (bot, app) = bot_with_app(&db, 10, "Digest_Bot").await;
    let now = tmahost_store::now_ms();
    let upload = |expires_at| NewUpload {
        manifest_json: r#"[{"path":"index.html"}]"#.into(),
        activate: true,
        expires_at,
        expected: vec![(sha(7), 10, "text/html".into())],
    };
    let open = db.create_upload(&app, "test", Some("m"), &upload(now + 60_000)).await.expect("open");
    let expired = db.create_upload(&app, "test", None, &upload(now - 1)).await.expect("open");
    assert_eq!((open.version, expired.version), (1, 2));
    let u = db.upload(&open.id).await.expect("upload").expect("recorded");
    assert_eq!((u.activate, u.new_blobs, u.manifest.as_str()), (1, 1, r#"[{"path":"index.html"}]"#));

    // Only the unexpired deployment counts, and it names its bot.
    let want = db.expected_blob(&sha(7), now).await.expect("expected");
    assert_eq!(want.len(), 1);
    assert_eq!((want[0].bot_id, want[0].size, want[0].content_type.as_str()), (bot.0, 10, "text/html"));
    assert!(!want[0].provided);
    assert!(db.expected_blob(&sha(8), now).await.expect("none").is_empty());
    // Once the bot has provided the content, its own declaration no longer asks for it.
    assert!(db.claim_blob(&sha(7), 10).await.expect("claim") == BlobClaim::Upload);
    assert!(db.finish_blob(&sha(7), 10, None, false, &[bot]).await.expect("finish"), "live");
    let want = db.expected_blob(&sha(7), now).await.expect("provided");
    assert!(want.len() == 1 && want[0].provided, "{want:?}");

    // Expiry fails the expired one only; archive uploads younger than the cutoff are kept.
    assert_eq!(db.fail_stale_uploads(0, now).await.expect("sweep"), 1);
    assert!(db.upload(&expired.id).await.expect("gone").is_none());
    assert_eq!(db.get_deployment(&expired.id).await.expect("get").expect("found").status, DeploymentStatus::Failed);

    // Completing the open one forgets its declaration: the blob is no longer expected.
    stored(&db, &sha(7), 10, None, false).await;
    let files =
        [NewDeploymentFile { path: "index.html".into(), sha256: sha(7), size: 10, content_type: "text/html".into() }];
    db.complete_deployment(&open.id, &files, "{}", true, &ev("deployment.create", Some(bot))).await.expect("complete");
    assert!(db.upload(&open.id).await.expect("gone").is_none());
    assert!(db.expected_blob(&sha(7), now).await.expect("none").is_empty());
}

async fn concurrent_deploys_get_distinct_versions_and_one_active(db: Db) {
    let (_, app) = bot_with_app(&db, 9, "Busy_Bot").await;
    stored(&db, &sha(1), 1, None, false).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (db, app) = (db.clone(), app.clone());
            tokio::spawn(async move {
                let d = db.create_deployment(&app, "t", None).await.expect("create");
                let f = NewDeploymentFile {
                    path: "index.html".into(),
                    sha256: sha(1),
                    size: 1,
                    content_type: "text/html".into(),
                };
                db.complete_deployment(&d.id, &[f], "{}", true, &ev("deployment.create", None))
                    .await
                    .expect("complete");
                d.version
            })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.expect("join"));
    }
    versions.sort();
    assert_eq!(versions, (1..=8).collect::<Vec<i64>>());
    let all = db.list_deployments(&app, 100).await.expect("list");
    assert_eq!(all.iter().filter(|d| d.status == DeploymentStatus::Active).count(), 1);
}

async fn blobs_members_tokens(db: Db) {
    let (bot, _) = bot_with_app(&db, 10, "Misc_Bot").await;
    stored(&db, &sha(1), 1, None, false).await;
    stored(&db, &sha(1), 1, None, false).await;
    let missing = db.missing_blobs(&[sha(1), sha(2), sha(2), sha(3)]).await.expect("missing");
    assert_eq!(missing, [sha(2), sha(3)]);
    assert_eq!(db.count_blobs().await.expect("count"), 1);
    let many: Vec<Sha256> = (0..=255u8).chain(0..=255u8).chain(0..=255u8).map(sha).collect();
    assert_eq!(db.missing_blobs(&many).await.expect("chunks").len(), 255);

    db.upsert_member(bot, 1001, Role::Developer, &ev("member.grant", Some(bot))).await.expect("grant");
    db.upsert_member(bot, 1001, Role::Owner, &ev("member.grant", Some(bot))).await.expect("regrant");
    let m = db.list_members(bot).await.expect("members");
    assert_eq!((m.len(), m[0].role), (1, Role::Owner));
    db.remove_member(bot, 1001, &ev("member.revoke", Some(bot))).await.expect("revoke");
    assert!(matches!(db.remove_member(bot, 1001, &ev("member.revoke", Some(bot))).await, Err(StoreError::NotFound)));

    let scope = TokenScope::Bots(vec![bot]);
    let t = db
        .insert_token(
            "tok1",
            "ci",
            "hash1",
            &scope,
            "test",
            false,
            tmahost_store::now_ms() + 60_000,
            &ev("token.create", None),
        )
        .await
        .expect("token");
    assert_eq!(t.scope, scope);
    assert_eq!(db.token_by_jti_hash("hash1").await.expect("get").expect("found").id, "tok1");
    assert_eq!(db.count_live_tokens().await.expect("count"), 1);
    db.revoke_token("tok1", &ev("token.revoke", None)).await.expect("revoke");
    assert!(db.token_by_jti_hash("hash1").await.expect("get").expect("found").revoked_at.is_some());
    assert_eq!(db.count_live_tokens().await.expect("count"), 0);
    assert!(matches!(db.revoke_token("tok1", &ev("token.revoke", None)).await, Err(StoreError::NotFound)));
}

async fn one_time_payloads_are_used_once_and_expire(db: Db) {
    let later = tmahost_store::now_ms() + 60_000;
    // A TON Connect proof payload: the first use counts, a second (from any edge) does not.
    assert!(db.use_ton_proof_payload("nonce-1", later).await.expect("use"));
    assert!(!db.use_ton_proof_payload("nonce-1", later).await.expect("reuse"));
    // Each kind has its own table: the same key as a Login Widget payload is another thing.
    assert!(db.use_login_payload("nonce-1", later).await.expect("use"));
    assert!(!db.use_login_payload("nonce-1", later).await.expect("reuse"));
    // Rows past their expiry are dropped on the next use, so the tables stay small.
    assert!(db.use_ton_proof_payload("old", 1).await.expect("use"));
    assert!(db.use_ton_proof_payload("nonce-2", later).await.expect("use"));
    assert!(db.use_ton_proof_payload("old", later).await.expect("the expired row was purged"));
}

/// Brotli variants left for later are listed oldest first, made by one worker at a time (the
/// lease), taken up again when a worker's lease runs out, and listed no more once recorded.
async fn pending_brotli_is_leased_to_one_worker_and_finished_once(db: Db) {
    stored(&db, &sha(1), 5000, Some(900), true).await;
    stored(&db, &sha(2), 5000, Some(900), true).await;
    stored(&db, &sha(3), 5000, Some(900), false).await;
    let now = tmahost_store::now_ms();
    let pending = db.pending_brotli(now, 10).await.expect("pending");
    assert_eq!(pending.len(), 2);
    assert!(!pending.contains(&sha(3)));
    assert_eq!(db.pending_brotli(now, 1).await.expect("limit").len(), 1);

    assert!(db.claim_brotli(&sha(1), now, now + 60_000).await.expect("claim"));
    assert!(!db.claim_brotli(&sha(1), now, now + 60_000).await.expect("second worker"), "one lease at a time");
    assert_eq!(db.pending_brotli(now, 10).await.expect("pending"), [sha(2)], "a leased blob is not offered");
    // The worker died: after its lease, another one takes the blob.
    let later = now + 60_001;
    assert_eq!(db.pending_brotli(later, 10).await.expect("pending").len(), 2);
    assert!(db.claim_brotli(&sha(1), later, later + 60_000).await.expect("after the lease"));

    assert!(db.finish_brotli(&sha(1), Some(700)).await.expect("made"));
    assert!(db.finish_brotli(&sha(2), None).await.expect("no smaller"));
    assert!(db.pending_brotli(later + 120_000, 10).await.expect("pending").is_empty());
    assert!(!db.claim_brotli(&sha(2), later, later + 1).await.expect("nothing to claim"));
}

/// The collector's rules, as the database keeps them: only unreferenced rows untouched since
/// the cutoff are candidates; a doomed content makes uploaders wait and cannot be recorded in a
/// deployment; dropping it removes what names it; a stale doom is taken again; one lease holder.
async fn the_collector_never_takes_a_referenced_or_recently_used_content(db: Db) {
    let (bot, app) = bot_with_app(&db, 12, "Gc_Bot").await;
    deploy(&db, &app, &[("index.html", 1)], true).await;
    for h in [2, 3, 4] {
        stored(&db, &sha(h), 10, None, false).await;
    }
    db.add_bot_blobs(bot, &[sha(2), sha(3)]).await.expect("bot blobs");
    let after = tmahost_store::now_ms() + 1;
    let far = after + 1_000_000;
    let candidates: Vec<Sha256> =
        db.gc_candidates(None, after, 0, 100).await.expect("candidates").into_iter().map(|c| c.sha256).collect();
    assert_eq!(candidates, [sha(2), sha(3), sha(4)], "the referenced content is not a candidate");
    assert!(db.gc_candidates(None, after - 60_000, 0, 100).await.expect("none").is_empty(), "touched after the cutoff");
    assert_eq!(db.gc_candidates(Some(&sha(2)), after, 0, 1).await.expect("paged").len(), 1, "keyset paging");

    // An "exists" answer after the pass started keeps the content.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let mark = tmahost_store::now_ms();
    assert!(db.missing_blobs(&[sha(3)]).await.expect("exists").is_empty());
    let doomed = db.doom_blobs(&[sha(1), sha(2), sha(3), sha(4)], mark, 0, mark).await.expect("doom");
    assert_eq!(doomed, [sha(2), sha(4)], "not the referenced one, not the one just answered for");

    // While doomed: missing to deploys, waited for by uploaders, refused in a deployment.
    assert_eq!(db.missing_blobs(&[sha(2)]).await.expect("missing"), [sha(2)]);
    assert_eq!(db.unknown_to_bot(bot, &[sha(2), sha(3)]).await.expect("unknown"), [sha(2)]);
    assert_eq!(db.claim_blob(&sha(2), 10).await.expect("claim"), BlobClaim::Doomed { since: mark });
    let d = db.create_deployment(&app, "test", None).await.expect("create");
    let f = NewDeploymentFile { path: "a.js".into(), sha256: sha(2), size: 10, content_type: "text/javascript".into() };
    let refused = db.complete_deployment(&d.id, &[f], "{}", false, &ev("deployment.create", Some(bot))).await;
    assert!(matches!(&refused, Err(StoreError::InvalidState(m)) if m.contains("no longer stored")), "{refused:?}");

    // A stale doom (its collector died) is taken again with a new mark; the old mark drops nothing.
    assert!(db.gc_candidates(None, after, mark, 100).await.expect("fresh doom").iter().all(|c| c.sha256 != sha(2)));
    let again = db.doom_blobs(&[sha(2)], after, mark + 1, mark + 5).await.expect("re-doom");
    assert_eq!(again, [sha(2)]);
    assert_eq!(db.drop_doomed(&[sha(2), sha(4)], mark).await.expect("old mark"), 1, "only sha(4) still has it");
    assert_eq!(db.drop_doomed(&[sha(2)], mark + 5).await.expect("drop"), 1);
    assert_eq!(db.unknown_to_bot(bot, &[sha(2)]).await.expect("unknown"), [sha(2)], "its bot_blobs row went too");
    assert_eq!(db.claim_blob(&sha(2), 10).await.expect("claim"), BlobClaim::Upload, "a new upload may begin");

    // Objects without a row are doomed for deletion, unless someone claimed the content.
    let orphans = db.doom_orphans(&[sha(2), sha(9)], far).await.expect("orphans");
    assert_eq!(orphans, [sha(9)], "sha(2) is claimed");
    assert!(db.blob_rows(&[sha(9), sha(8)]).await.expect("rows").contains(sha(9).as_str()));

    // One lease holder at a time; a lapsed lease can be taken.
    assert!(db.take_lease("gc", "a", 1000, 2000).await.expect("take"));
    assert!(!db.take_lease("gc", "b", 1500, 2500).await.expect("held"));
    assert!(db.take_lease("gc", "a", 1500, 2500).await.expect("renew"));
    assert!(db.take_lease("gc", "b", 2600, 3600).await.expect("lapsed"));
    db.release_lease("gc", "a").await.expect("not a's any more");
    assert!(!db.take_lease("gc", "a", 2700, 3700).await.expect("b holds it"));
    db.release_lease("gc", "b").await.expect("release");
    assert!(db.take_lease("gc", "a", 2700, 3700).await.expect("free"));
}

/// Retention deletes the oldest deployments beyond `keep`, never the active one, a pinned one,
/// one skew protection serves, or one still uploading; each deletion is audited.
async fn retention_keeps_the_newest_the_active_the_pinned_and_the_skew_protected(db: Db) {
    let (bot, app) = bot_with_app(&db, 13, "Keep_Bot").await;
    let mut ids = Vec::new();
    for v in 1..=8 {
        ids.push(deploy(&db, &app, &[("index.html", v)], v != 8).await);
    }
    // v1..v7 were activated in turn (v7 active), v8 is staged; v2 is pinned; one upload is open.
    db.pin_deployment(&ids[1], true, &ev("deployment.pin", Some(bot))).await.expect("pin");
    let open = db.create_deployment(&app, "test", None).await.expect("open");
    let gone = db.expire_deployments(&app, Retention { keep: 2, skew: 2 }, "test").await.expect("expire");
    assert_eq!(gone, [1, 3, 4], "v9 (uploading), v8, v7 (active): newest; v6, v5: skew; v2: pinned");
    let left: Vec<i64> = db.list_deployments(&app, 100).await.expect("list").iter().map(|d| d.version).collect();
    assert_eq!(left, [9, 8, 7, 6, 5, 2]);
    assert!(db.get_deployment(&open.id).await.expect("get").is_some());
    let audit = db.list_audit(Some(bot), 100).await.expect("audit");
    let expired: Vec<&str> = audit
        .iter()
        .filter(|e| e.action == tmahost_store::model::AuditAction::DeploymentExpire)
        .filter_map(|e| e.deployment_id.as_deref())
        .collect();
    assert_eq!(expired.len(), 3);
    assert!(expired.contains(&ids[0].as_str()));
    // Unpinned, v2 goes at the next pass; nothing else does.
    db.pin_deployment(&ids[1], false, &ev("deployment.unpin", Some(bot))).await.expect("unpin");
    assert_eq!(db.expire_deployments(&app, Retention { keep: 2, skew: 2 }, "test").await.expect("again"), [2]);
}

macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (db, _dir) = super::sqlite().await;
                super::$name(db).await;
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(db) = super::postgres().await else { return };
                super::$name(db).await;
            })+
        }
    };
}

on_both_engines!(
    bots_and_apps,
    deployment_lifecycle,
    interrupted_uploads_become_failed_and_stay_invisible,
    digest_uploads_expect_blobs_until_completed_or_expired,
    concurrent_deploys_get_distinct_versions_and_one_active,
    blobs_members_tokens,
    one_time_payloads_are_used_once_and_expire,
    pending_brotli_is_leased_to_one_worker_and_finished_once,
    the_collector_never_takes_a_referenced_or_recently_used_content,
    retention_keeps_the_newest_the_active_the_pinned_and_the_skew_protected,
);
