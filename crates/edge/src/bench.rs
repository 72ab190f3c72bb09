//! Hot-path pieces built from synthetic data, without a database, for the criterion
//! benchmarks in `benches/` and the fuzz targets in `fuzz/`. Not part of the edge's API.

use std::sync::Arc;

use tmahost_deploy::Rules;
use tmahost_service::model::{AppSettings, AppSlug, DeploymentFile, Sha256};
use tmahost_service::{KeyPurpose, MasterKey, SecretBytes};
use tmahost_types::{BotId, BotToken, InitData, InitDataKey};

use crate::content::{self, Manifest, Resolution};
use crate::routing::{AppRoute, RouteTable};
use crate::session::{SessionClaims, Sessions, verify_launch};

const TOKEN: &str = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8";

fn route(bot: i64, slug: &str) -> Arc<AppRoute> {
    Arc::new(AppRoute {
        app_id: format!("app-{bot}-{slug}"),
        bot_id: BotId(bot),
        slug: AppSlug::parse(slug).expect("slug"),
        host_label: format!("bot-{bot}"),
        domain: None,
        disabled: false,
        settings: AppSettings::default(),
        allowed: None,
        upstreams: Vec::new(),
        init_key: InitDataKey::new(&BotToken::parse(TOKEN).expect("token")),
        active: Some(format!("deployment-{bot}-{slug}")),
        active_manifest: std::sync::OnceLock::new(),
        previous: Vec::new(),
        staff: Arc::default(),
        counters: Arc::default(),
    })
}

/// A routing table of `bots` bots (`bot-N`) with `apps` apps each (`main`, `app1`, …) under
/// `.apps.test`.
#[derive(Debug)]
pub struct Routes(RouteTable);

impl Routes {
    pub fn synthetic(bots: usize, apps: usize) -> Self {
        let mut table = RouteTable::with_suffix(".apps.test");
        for b in 0..bots {
            for a in 0..apps {
                let slug = if a == 0 { "main".to_owned() } else { format!("app{a}") };
                table.put(route(b as i64, &slug));
            }
        }
        Self(table)
    }

    /// Whether `host` names an app or a preview.
    pub fn hit(&self, host: &str) -> bool {
        self.0.lookup(host).is_some()
    }
}

/// A manifest of `files` files (`index.html`, `assets/f{i}-{hash}.js`) and optional
/// `_redirects` text.
#[derive(Debug)]
pub struct Files(Manifest);

impl Files {
    pub fn synthetic(files: usize, redirects: Option<&str>) -> Self {
        let file = |path: String| DeploymentFile {
            path,
            sha256: Sha256::from_digest(&[7; 32]),
            size: 1000,
            content_type: "text/javascript; charset=utf-8".into(),
            br_size: Some(300),
            gz_size: Some(350),
            br_pending: 0,
        };
        let mut list = vec![file("index.html".into())];
        list.extend((1..files).map(|i| file(format!("assets/f{i}-{i:08x}.js"))));
        let rules = Rules::parse(None, redirects).expect("valid _redirects").rules;
        Self(Manifest::new(list, rules))
    }

    /// Whether `path` resolves to a file or a redirect (`content::resolve`, as per request).
    pub fn resolves(&self, path: &str) -> bool {
        content::resolve(&self.0, path, "") != Resolution::Missing
    }
}

/// A session cookie of one app and what checks it.
#[derive(Debug)]
pub struct Session {
    sessions: Sessions,
    route: Arc<AppRoute>,
    jwt: String,
    launch: String,
    now: i64,
}

impl Session {
    /// Mints a cookie from freshly signed launch data, as `POST /_tma/session` does.
    pub fn new(now: i64) -> Self {
        let token = BotToken::parse(TOKEN).expect("token");
        let user = r#"{"id":279058397,"first_name":"Vladislav","username":"vdkfrost","language_code":"ru"}"#;
        let raw = tmahost_types::init_data::sign(&[("user", user), ("chat_type", "sender")], &token, now);
        let data = InitData::parse(&raw).expect("parse").verify_hmac(&token, now, 3600).expect("valid");
        let sessions = Sessions::new(
            &MasterKey::parse(&"11".repeat(32)).expect("key").derive(KeyPurpose::EdgeSessionSigning),
            30,
            Vec::new(),
        );
        let route = route(5768337691, "main");
        let jwt = sessions.mint(&SessionClaims::from_launch(&route, &data, now, 86_400)).expect("mint");
        Self { sessions, route, jwt, launch: raw, now }
    }

    /// The cookie check every gated request makes (after the first: a cache hit).
    pub fn check(&self) -> bool {
        self.sessions.check(&self.route, self.jwt.as_bytes(), self.now).is_some()
    }

    /// What `POST /_tma/session` computes: the launch data verified for the app (HMAC, age,
    /// access rules), the claims, a signed cookie.
    pub fn create(&self) -> bool {
        let Ok(data) = verify_launch(&self.route, &self.launch, self.now) else { return false };
        let claims = SessionClaims::from_launch(&self.route, &data, self.now, 86_400);
        self.sessions.mint(&claims).is_some()
    }

    /// The full verification a cookie gets the first time an edge sees it: HMAC and claims.
    pub fn verify(&self) -> bool {
        self.sessions.decode(&self.jwt).is_some()
    }
}

/// A session cookie value for `app_id`, as `POST /_tma/session` would set it on an edge with
/// this session key (the scale benchmark gives each of its 10,000 apps one).
pub fn mint_cookie(signing: &SecretBytes, app_id: &str, user_id: i64, now: i64) -> String {
    let token = BotToken::parse(TOKEN).expect("token");
    let user = format!(r#"{{"id":{user_id},"first_name":"Load"}}"#);
    let raw = tmahost_types::init_data::sign(&[("user", &user)], &token, now);
    let data = InitData::parse(&raw).expect("parse").verify_hmac(&token, now, 3600).expect("valid");
    let mut route = route(1, "main");
    Arc::get_mut(&mut route).expect("unshared").app_id = app_id.to_owned();
    let sessions = Sessions::new(signing, 30, Vec::new());
    let jwt = sessions.mint(&SessionClaims::from_launch(&route, &data, now, 86_400)).expect("mint");
    format!("{}={jwt}", crate::respond::COOKIE)
}
