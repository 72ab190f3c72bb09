//! Host -> app routing: the in-memory table built from the database in one query and swapped
//! whole on every change, so a lookup is one hash probe and never waits for the database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use tmahost_service::{Platform, ServiceError};
use tmahost_store::model::{AppSettings, AppSlug, BotStatus};
use tmahost_types::host::{self, AppHost, PlatformHost};
use tmahost_types::{BotId, BotToken, InitDataKey};

use crate::content::Manifest;
use crate::stats::{AppCounters, Stats};

/// One servable app, with what every request to it needs.
#[derive(Debug)]
pub(crate) struct AppRoute {
    pub app_id: String,
    pub bot_id: BotId,
    pub slug: AppSlug,
    pub disabled: bool,
    pub settings: AppSettings,
    /// `settings.allowed_user_ids` as a set: probed on every gated request.
    pub allowed: Option<HashSet<i64>>,
    /// Verifies the HMAC of the launch data; derived from the token once per table build.
    pub init_key: InitDataKey,
    pub active: Option<String>,
    /// `active`'s manifest once a request has loaded it.
    pub active_manifest: OnceLock<Arc<Manifest>>,
    /// Previously active deployments, most recent first (skew protection).
    pub previous: Vec<String>,
    /// Platform admins and the bot's members: their staff sessions (opened with a deploy
    /// notice's one-time code) are valid while they are in this set.
    pub staff: Arc<HashSet<i64>>,
    /// Traffic counters, kept across table rebuilds.
    pub counters: Arc<AppCounters>,
}

/// What a host names.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    App(Arc<AppRoute>),
    /// `{short-id}--{app}--{bot}`: one deployment of the app, whatever is active.
    Preview(Arc<AppRoute>, String),
}

#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    /// Keys: `{bot}` and `main--{bot}` for main apps, `{app}--{bot}` for the others.
    labels: HashMap<String, Arc<AppRoute>, crate::FastHash>,
    /// Custom domains, full host names.
    domains: HashMap<String, Arc<AppRoute>, crate::FastHash>,
    /// `.{base_domain}`
    suffix: String,
}

impl RouteTable {
    pub async fn load(platform: &Platform, stats: &Stats) -> Result<Self, ServiceError> {
        let db = platform.db();
        let rows = db.edge_apps().await?;
        let mut previous: HashMap<String, Vec<String>> = HashMap::new();
        for (app_id, id) in db.previous_deployments(20).await? {
            previous.entry(app_id).or_default().push(id);
        }
        // Only domains whose owner proved control of them (DNS TXT) are routed.
        let domains: HashMap<String, String> = db.verified_domains().await?.into_iter().collect();
        let admins = &platform.config().admin_ids;
        let mut staff: HashMap<i64, HashSet<i64>> = HashMap::new();
        for (bot, user) in db.all_members().await? {
            staff.entry(bot).or_insert_with(|| admins.iter().copied().collect()).insert(user);
        }
        let admins_only: Arc<HashSet<i64>> = Arc::new(admins.iter().copied().collect());
        let staff: HashMap<i64, Arc<HashSet<i64>>> = staff.into_iter().map(|(b, s)| (b, Arc::new(s))).collect();
        let mut table = Self::with_suffix(&format!(".{}", platform.config().base_domain));
        for row in rows {
            let plain = match platform.master_key().decrypt(&row.token_ciphertext, row.bot_id.to_string().as_bytes()) {
                Ok(p) => p,
                Err(e) => {
                    // One unreadable row (wrong master key) must not take every other app down.
                    tracing::error!(bot = row.bot_id, error = %e, "cannot decrypt the bot token; its apps are not served");
                    continue;
                }
            };
            let Some(token) = std::str::from_utf8(plain.expose()).ok().and_then(|t| BotToken::parse(t).ok()) else {
                tracing::error!(bot = row.bot_id, "stored bot token is malformed; its apps are not served");
                continue;
            };
            let mut prev = previous.remove(&row.app_id).unwrap_or_default();
            prev.truncate(row.settings.skew_protection_deployments as usize);
            let route = Arc::new(AppRoute {
                bot_id: BotId(row.bot_id),
                disabled: row.bot_status == BotStatus::Disabled,
                active: row.active_deployment,
                active_manifest: OnceLock::new(),
                previous: prev,
                staff: staff.get(&row.bot_id).unwrap_or(&admins_only).clone(),
                counters: stats
                    .counters_for(&row.app_id, &AppHost::Named { slug: &row.slug, bot: &row.host_label }.to_string()),
                init_key: InitDataKey::new(&token),
                app_id: row.app_id,
                slug: row.slug,
                allowed: row.settings.allowed_user_ids.as_ref().map(|ids| ids.iter().copied().collect()),
                settings: row.settings,
            });
            for key in AppHost::route_keys(&route.slug, &row.host_label) {
                table.labels.insert(key, route.clone());
            }
            if let Some(domain) = domains.get(&route.app_id) {
                table.domains.insert(domain.clone(), route.clone());
            }
        }
        Ok(table)
    }

    /// An empty table for hosts ending in `suffix` (`.{base_domain}`).
    pub fn with_suffix(suffix: &str) -> Self {
        Self { suffix: suffix.to_owned(), ..Self::default() }
    }

    pub fn insert_label(&mut self, label: String, route: Arc<AppRoute>) {
        self.labels.insert(label, route);
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Resolves a `Host` header value. Platform hosts come first: a name under the base domain
    /// is never looked up among custom domains, so no setting can shadow one. A label is tried
    /// whole before it is read as a preview (bot labels hold `--` when usernames hold `__`).
    pub fn lookup(&self, host: &str) -> Option<Target> {
        let label = match PlatformHost::parse(host, &self.suffix)? {
            PlatformHost::Other(name) => return self.domains.get(name.as_ref()).map(|r| Target::App(r.clone())),
            PlatformHost::Label(label) => label,
        };
        if let Some(route) = self.labels.get(label.as_ref()) {
            return Some(Target::App(route.clone()));
        }
        let (short, named) = host::preview(&label)?;
        self.labels.get(named).map(|route| Target::Preview(route.clone(), short.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(slug: &str) -> Arc<AppRoute> {
        Arc::new(AppRoute {
            app_id: format!("app-{slug}"),
            bot_id: BotId(1),
            slug: AppSlug::parse(slug).expect("slug"),
            disabled: false,
            settings: AppSettings::default(),
            allowed: None,
            init_key: InitDataKey::new(&BotToken::parse("1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("token")),
            active: None,
            active_manifest: OnceLock::new(),
            previous: Vec::new(),
            staff: Arc::default(),
            counters: Arc::default(),
        })
    }

    fn table() -> RouteTable {
        let mut t = RouteTable { suffix: ".apps.test".into(), ..RouteTable::default() };
        let main = route("main");
        t.labels.insert("demo-bot".into(), main.clone());
        t.labels.insert("main--demo-bot".into(), main);
        t.labels.insert("shop--demo-bot".into(), route("shop"));
        t.labels.insert("odd--name-bot".into(), route("main"));
        t.domains.insert("app.example.com".into(), route("shop"));
        // Refused by the settings; the table must not let it shadow the platform host anyway.
        t.domains.insert("demo-bot.apps.test".into(), route("shop"));
        t
    }

    fn resolved(t: &RouteTable, host: &str) -> Option<(String, Option<String>)> {
        t.lookup(host).map(|target| match target {
            Target::App(r) => (r.slug.to_string(), None),
            Target::Preview(r, short) => (r.slug.to_string(), Some(short)),
        })
    }

    #[test]
    fn hosts_resolve_to_apps_and_previews() {
        let t = table();
        assert_eq!(resolved(&t, "demo-bot.apps.test"), Some(("main".into(), None)));
        assert_eq!(resolved(&t, "Demo-Bot.apps.test:8080"), Some(("main".into(), None)));
        assert_eq!(resolved(&t, "shop--demo-bot.apps.test"), Some(("shop".into(), None)));
        assert_eq!(resolved(&t, "odd--name-bot.apps.test"), Some(("main".into(), None)));
        assert_eq!(
            resolved(&t, "0123456789ab--shop--demo-bot.apps.test"),
            Some(("shop".into(), Some("0123456789ab".into())))
        );
        assert_eq!(
            resolved(&t, "0123456789ab--main--demo-bot.apps.test"),
            Some(("main".into(), Some("0123456789ab".into())))
        );
        assert_eq!(resolved(&t, "app.example.com."), Some(("shop".into(), None)));
    }

    #[test]
    fn platform_hosts_win_over_custom_domains() {
        assert_eq!(resolved(&table(), "demo-bot.apps.test"), Some(("main".into(), None)));
    }

    #[test]
    fn unknown_and_malformed_hosts_resolve_to_nothing() {
        let t = table();
        for host in [
            "other-bot.apps.test",
            "apps.test",
            "x.demo-bot.apps.test",
            "demo-bot.apps.test.evil.com",
            "0123456789ab--demo-bot.apps.test",
            "zzzzzzzzzzzz--shop--demo-bot.apps.test",
            "demo bot.apps.test",
            "",
        ] {
            assert!(t.lookup(host).is_none(), "{host}");
        }
    }
}
