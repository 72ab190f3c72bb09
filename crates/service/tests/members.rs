//! Who may do what: platform admins everything; a bot's owners manage members, settings and
//! tokens; its developers deploy and roll back; everyone else sees nothing. Checked in the
//! service layer, so every front door (API, control bot, dashboard) gets the same answers.

use tmahost_service::model::{AppSettings, Role, TokenScope};
use tmahost_service::{Actor, DeployOptions, Need, Platform, ServiceError};
use tmahost_testkit::bundles;
use tmahost_testkit::platform::TestPlatform;
use tmahost_types::BotId;

/// The bots `tmahost_testkit::platform` registers (`Demo_Bot`, `Other_Bot`).
const DEMO: BotId = BotId(111111111);
const OTHER_ID: BotId = BotId(222222222);
const ADMIN: i64 = 10;
const OWNER: i64 = 20;
const DEV: i64 = 30;
const STRANGER: i64 = 40;

async fn platform() -> TestPlatform {
    tmahost_testkit::platform::open(|c| c.telegram.admin_ids = vec![ADMIN]).await
}

async fn deploy(p: &Platform, actor: &Actor) -> Result<i64, ServiceError> {
    let f = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(f.path(), bundles::zip(&bundles::sample_app("v"))).expect("write");
    let opts = DeployOptions { activate: true, message: None };
    Ok(async { p.deploy_archive(&p.app(actor, "demo_bot", "main", Need::Deploy).await?, f.path(), opts).await }
        .await?
        .deployment
        .version)
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, ServiceError>) {
    assert_eq!(r.expect_err("must be refused").status(), 403);
}

fn missing<T: std::fmt::Debug>(r: Result<T, ServiceError>) {
    assert_eq!(r.expect_err("must look missing").status(), 404);
}

#[tokio::test]
async fn roles_decide_what_a_telegram_user_may_do() {
    let TestPlatform { p, dir: _dir } = platform().await;
    let admin = p.telegram_actor(ADMIN).await.expect("admin");
    assert!(admin.is_admin());

    // A stranger is told nothing: no bots, and a named bot looks missing.
    let stranger = p.telegram_actor(STRANGER).await.expect("stranger");
    assert!(stranger.is_stranger());
    assert!(p.list_bots(&stranger).await.expect("list").is_empty());
    missing(p.bot(&stranger, "demo_bot", Need::See).await);
    missing(
        async { p.grant_member(&p.bot(&stranger, "demo_bot", Need::Manage).await?, STRANGER, Role::Owner).await }.await,
    );

    // The admin makes an owner; the owner makes a developer.
    async { p.grant_member(&p.bot(&admin, "demo_bot", Need::Manage).await?, OWNER, Role::Owner).await }
        .await
        .expect("grant owner");
    let owner = p.telegram_actor(OWNER).await.expect("owner");
    assert_eq!(owner.role(DEMO), Some(Role::Owner));
    async { p.grant_member(&p.bot(&owner, "demo_bot", Need::Manage).await?, DEV, Role::Developer).await }
        .await
        .expect("grant developer");
    let dev = p.telegram_actor(DEV).await.expect("dev");
    assert_eq!(p.list_bots(&dev).await.expect("list").len(), 1, "members see their bots only");
    missing(p.bot(&dev, "other_bot", Need::See).await);

    // Developers deploy, roll back and make dev links...
    assert_eq!(deploy(&p, &dev).await.expect("dev deploys"), 1);
    assert_eq!(deploy(&p, &dev).await.expect("dev deploys"), 2);
    async {
        p.activate_deployment(&p.deployment(&p.app(&dev, "demo_bot", "main", Need::Deploy).await?, "v1").await?).await
    }
    .await
    .expect("dev rolls back");
    async { p.dev_link(&p.app(&dev, "demo_bot", "main", Need::Deploy).await?, &Default::default(), None).await }
        .await
        .expect("dev link");
    // ...but do not manage members, settings, apps or tokens.
    forbidden(
        async { p.grant_member(&p.bot(&dev, "demo_bot", Need::Manage).await?, STRANGER, Role::Developer).await }.await,
    );
    forbidden(async { p.revoke_member(&p.bot(&dev, "demo_bot", Need::Manage).await?, OWNER).await }.await);
    forbidden(
        async {
            p.update_app_settings(&p.app(&dev, "demo_bot", "main", Need::Manage).await?, AppSettings::default()).await
        }
        .await,
    );
    forbidden(async { p.create_app(&p.bot(&dev, "demo_bot", Need::Manage).await?, "shop", None).await }.await);
    forbidden(p.create_token(&dev, "ci", TokenScope::Bots(vec![DEMO]), None).await);

    // Owners do; admins do everything, including what owners cannot.
    async {
        p.update_app_settings(&p.app(&owner, "demo_bot", "main", Need::Manage).await?, AppSettings::default()).await
    }
    .await
    .expect("owner settings");
    async { p.create_app(&p.bot(&owner, "demo_bot", Need::Manage).await?, "shop", None).await }
        .await
        .expect("owner creates apps");
    let (ci, _) =
        p.create_token(&owner, "ci", TokenScope::Bots(vec![DEMO]), None).await.expect("owner mints a bot token");
    // Tokens are keys: developers neither see nor revoke them; owners do.
    assert!(p.list_tokens(&dev).await.expect("list").is_empty());
    missing(p.revoke_token(&dev, &ci.id).await);
    assert_eq!(p.list_tokens(&owner).await.expect("list").len(), 1);
    p.revoke_token(&owner, &ci.id).await.expect("owner revokes");
    forbidden(
        async {
            p.set_bot_status(&p.bot(&owner, "demo_bot", Need::See).await?, tmahost_service::model::BotStatus::Disabled)
                .await
        }
        .await,
    );
    forbidden(p.register_bot(&owner, tmahost_testkit::TOKEN_B, Some("Other_Bot")).await);

    // Members are listed; revoking makes the user a stranger again.
    let members = async { p.list_members(&p.bot(&dev, "demo_bot", Need::See).await?).await }.await.expect("members");
    let listed: Vec<(i64, Role)> = members.iter().map(|m| (m.user_id, m.role)).collect();
    assert_eq!(listed, [(OWNER, Role::Owner), (DEV, Role::Developer)]);
    async { p.revoke_member(&p.bot(&owner, "demo_bot", Need::Manage).await?, DEV).await }.await.expect("revoke");
    assert!(p.telegram_actor(DEV).await.expect("dev").is_stranger());
    missing(async { p.revoke_member(&p.bot(&owner, "demo_bot", Need::Manage).await?, DEV).await }.await);

    // Every change is in the bot's audit log, attributed to the Telegram user.
    let log = async { p.bot_audit_log(&p.bot(&owner, "demo_bot", Need::See).await?, 100).await }.await.expect("audit");
    let grants: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e.action.as_str().starts_with("member."))
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(grants, [("member.revoke", "tg:20"), ("member.grant", "tg:20"), ("member.grant", "tg:10")]);
}

#[tokio::test]
async fn api_tokens_die_with_their_minters_rights() {
    let TestPlatform { p, dir: _dir } = platform().await;
    let admin = p.telegram_actor(ADMIN).await.expect("admin");
    async { p.grant_member(&p.bot(&admin, "demo_bot", Need::Manage).await?, OWNER, Role::Owner).await }
        .await
        .expect("grant");
    async { p.grant_member(&p.bot(&admin, "other_bot", Need::Manage).await?, OWNER, Role::Owner).await }
        .await
        .expect("grant");
    let owner = p.telegram_actor(OWNER).await.expect("owner");
    let both = TokenScope::Bots(vec![DEMO, OTHER_ID]);
    let (_, by_owner) = p.create_token(&owner, "owner-ci", both.clone(), None).await.expect("mint");
    let (_, by_admin) = p.create_token(&admin, "admin-ci", both.clone(), None).await.expect("mint");
    // A token minted with the owner's token: it lives no longer than that one.
    let owner_token = p.authenticate(&by_owner.jwt).await.expect("owner's token");
    let one = TokenScope::Bots(vec![OTHER_ID]);
    let (_, by_token) = p.create_token(&owner_token, "child", one, None).await.expect("mint");
    assert_eq!(p.authenticate(&by_owner.jwt).await.expect("valid").scope, both);

    // Demoted on one bot: the owner's tokens lose that bot, the admin's keep both.
    async { p.grant_member(&p.bot(&admin, "demo_bot", Need::Manage).await?, OWNER, Role::Developer).await }
        .await
        .expect("demote");
    let narrowed = p.authenticate(&by_owner.jwt).await.expect("still valid for the other bot");
    assert_eq!(narrowed.scope, TokenScope::Bots(vec![OTHER_ID]));
    missing(async { p.list_deployments(&p.app(&narrowed, "demo_bot", "main", Need::See).await?, 10).await }.await);
    assert_eq!(p.authenticate(&by_admin.jwt).await.expect("admin's").scope, both);
    assert!(p.authenticate(&by_token.jwt).await.is_ok());

    // Revoked from the other bot too: the owner's tokens, and tokens they minted, stop working.
    async { p.revoke_member(&p.bot(&admin, "other_bot", Need::Manage).await?, OWNER).await }.await.expect("revoke");
    for jwt in [&by_owner.jwt, &by_token.jwt] {
        let e = p.authenticate(jwt).await.expect_err("dead");
        assert_eq!(e.status(), 401, "{e}");
        assert!(e.to_string().contains("no longer has rights"), "{e}");
    }
    assert_eq!(p.authenticate(&by_admin.jwt).await.expect("admin's").scope, both);
}

#[tokio::test]
async fn an_app_is_never_served_on_another_bots_host() {
    let TestPlatform { p, dir: _dir } = platform().await;
    let admin = Actor::local_admin();
    // Registration refuses such bots (`shop__Demo_Bot`); one that got into the database some
    // other way must still not share a host with `shop` of `@Demo_Bot`.
    let e = p.register_bot(&admin, "555555555:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_", Some("shop__Demo_Bot")).await;
    assert_eq!(e.expect_err("collides").code(), "host_collision");
    let ev = tmahost_service::model::NewAuditEvent {
        actor: "test",
        action: tmahost_service::model::AuditAction::BotRegister,
        bot_id: None,
        app_id: None,
        deployment_id: None,
        details: serde_json::json!({}),
    };
    p.db_for_tests()
        .insert_bot(tmahost_types::BotId(555555555), "shop__Demo_Bot", "shop--demo-bot", b"x", &ev)
        .await
        .expect("inserted behind the service's back");
    let e = async { p.create_app(&p.bot(&admin, "demo_bot", Need::Manage).await?, "shop", None).await }
        .await
        .expect_err("collides");
    assert_eq!((e.status(), e.code()), (422, "host_collision"));
    async { p.create_app(&p.bot(&admin, "demo_bot", Need::Manage).await?, "cart", None).await }
        .await
        .expect("other slugs are fine");
}

use Answer::{Forbidden, Missing, Ok as Yes};

/// What the caller is told: the handle, 403 (a member without the right) or 404 (no such bot,
/// as far as the caller may know).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Forbidden,
    Missing,
}

fn answer<T>(r: Result<T, ServiceError>) -> Answer {
    match r {
        Ok(_) => Yes,
        Err(e) if e.status() == 403 => Forbidden,
        Err(e) if e.status() == 404 => Missing,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn token(scope: TokenScope) -> Actor {
    Actor { token_id: None, scope, label: "token:test".into(), roles: None }
}

/// Each handle kind with each need, on `demo_bot` (deployment v1 of `main`) and on `other_bot`.
async fn answers(p: &Platform, actor: &Actor) -> Vec<(String, Answer)> {
    let mut out = Vec::new();
    for need in [Need::See, Need::Deploy, Need::Manage] {
        out.push((format!("bot {need:?}"), answer(p.bot(actor, "demo_bot", need).await)));
        out.push((format!("app {need:?}"), answer(p.app(actor, "demo_bot", "main", need).await)));
        let deployment = async { p.deployment(&p.app(actor, "demo_bot", "main", need).await?, "v1").await }.await;
        out.push((format!("deployment {need:?}"), answer(deployment)));
        out.push((format!("other bot {need:?}"), answer(p.bot(actor, "other_bot", need).await)));
    }
    out
}

/// The one authorization point (`refs.rs`) as a table: every kind of caller against every level
/// of need, on a bot, its app and a deployment of it, and on another bot. Every mismatch is
/// reported together, so one wrong answer does not hide the rest.
#[tokio::test]
async fn every_caller_against_every_need() {
    let TestPlatform { p, dir: _dir } = platform().await;
    let admin = Actor::local_admin();
    async {
        let bot = p.bot(&admin, "demo_bot", Need::Manage).await?;
        p.grant_member(&bot, OWNER, Role::Owner).await?;
        p.grant_member(&bot, DEV, Role::Developer).await?;
        let f = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(f.path(), bundles::zip(&bundles::sample_app("v1"))).expect("write");
        let app = p.app(&admin, "demo_bot", "main", Need::Deploy).await?;
        p.deploy_archive(&app, f.path(), DeployOptions { activate: true, message: None }).await?;
        Ok::<_, ServiceError>(())
    }
    .await
    .expect("members and a deployment");

    // Per caller: [See, Deploy, Manage] on demo_bot (bot, app and deployment alike), then on
    // other_bot.
    let table: Vec<(&str, Actor, [Answer; 3], [Answer; 3])> = vec![
        ("local admin", admin.clone(), [Yes, Yes, Yes], [Yes, Yes, Yes]),
        ("Telegram admin", p.telegram_actor(ADMIN).await.expect("admin"), [Yes, Yes, Yes], [Yes, Yes, Yes]),
        ("owner", p.telegram_actor(OWNER).await.expect("owner"), [Yes, Yes, Yes], [Missing, Missing, Missing]),
        ("developer", p.telegram_actor(DEV).await.expect("dev"), [Yes, Yes, Forbidden], [Missing, Missing, Missing]),
        ("stranger", p.telegram_actor(STRANGER).await.expect("stranger"), [Missing; 3], [Missing; 3]),
        ("admin token", token(TokenScope::Admin), [Yes, Yes, Yes], [Yes, Yes, Yes]),
        ("token for demo_bot", token(TokenScope::Bots(vec![DEMO])), [Yes, Yes, Yes], [Missing; 3]),
        ("token for other_bot", token(TokenScope::Bots(vec![OTHER_ID])), [Missing; 3], [Yes, Yes, Yes]),
        ("token for no bot", token(TokenScope::Bots(vec![])), [Missing; 3], [Missing; 3]),
    ];

    let mut wrong = Vec::new();
    for (who, actor, demo, other) in &table {
        for (what, got) in answers(&p, actor).await {
            let level = if what.ends_with("See") {
                0
            } else if what.ends_with("Deploy") {
                1
            } else {
                2
            };
            let expected = if what.starts_with("other bot") { other[level] } else { demo[level] };
            if got != expected {
                wrong.push(format!("{who}: {what}: expected {expected:?}, got {got:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong answers:\n{}", wrong.len(), wrong.join("\n"));
}
