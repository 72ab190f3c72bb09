//! Host -> app routing: the in-memory table built from the database in one query and swapped
//! whole on every change, so a lookup is one hash probe and never waits for the database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use tmahost_service::model::{AppSettings, AppSlug};
use tmahost_service::{Platform, ServiceError};
use tmahost_types::host::{self, AppHost, PlatformHost};
use tmahost_types::{BotId, InitDataKey};

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
    /// `settings.backends`' upstreams as the table read them, in the same order: parsing is a
    /// third of the edge's own work per proxied request, and whether one is the platform itself
    /// changes only with the table.
    pub upstreams: Vec<Upstream>,
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

/// An app backend's upstream, read when the table is built.
#[derive(Debug)]
pub(crate) enum Upstream {
    Url(url::Url),
    /// It does not parse (answered 502).
    Invalid,
    /// The platform itself, and why (answered 508): a name or socket of the platform by the
    /// configuration (`backends::names_platform`), or a custom domain in this table (proven
    /// after the settings were saved, or another app's).
    Platform(String),
}

impl Upstream {
    fn read(config: &tmahost_service::Config, upstream: &str, domains: &HashSet<String>) -> Self {
        let Ok(url) = url::Url::parse(upstream) else { return Self::Invalid };
        if let Some(why) = tmahost_service::backends::names_platform(config, &url) {
            return Self::Platform(why);
        }
        match url.host_str().map(|h| h.trim_end_matches('.')) {
            Some(host) if domains.contains(host) => {
                Self::Platform(format!("`{host}` is a custom domain the platform serves"))
            }
            _ => Self::Url(url),
        }
    }
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
    /// `labels` under their full host names (`{label}{suffix}`), as a browser sends them: one
    /// probe, where reading the `Host` value first (case, port, trailing dot, suffix) was most
    /// of a lookup's cost. Any other spelling of the same host goes the long way.
    hosts: HashMap<String, Arc<AppRoute>, crate::FastHash>,
    /// `.{base_domain}`
    suffix: String,
}

impl RouteTable {
    pub async fn load(platform: &Platform, stats: &Stats) -> Result<Self, ServiceError> {
        let config = platform.config();
        let mut table = Self::with_suffix(&format!(".{}", config.server.base_domain));
        let apps = platform.served_apps().await?;
        let domains: HashSet<String> = apps.iter().filter_map(|a| a.domain.clone()).collect();
        for app in apps {
            let route = Arc::new(AppRoute {
                bot_id: app.bot_id,
                disabled: app.disabled,
                active: app.active,
                active_manifest: OnceLock::new(),
                previous: app.previous,
                staff: app.staff,
                counters: stats
                    .counters_for(&app.app_id, &AppHost::Named { slug: &app.slug, bot: &app.host_label }.to_string()),
                init_key: InitDataKey::new(&app.token),
                app_id: app.app_id,
                slug: app.slug,
                allowed: app.settings.allowed_user_ids.as_ref().map(|ids| ids.iter().copied().collect()),
                upstreams: app
                    .settings
                    .backends
                    .iter()
                    .map(|b| Upstream::read(config, &b.upstream, &domains))
                    .collect(),
                settings: app.settings,
            });
            for key in AppHost::route_keys(&route.slug, &app.host_label) {
                table.insert_label(key, route.clone());
            }
            if let Some(domain) = app.domain {
                table.domains.insert(domain, route.clone());
            }
        }
        Ok(table)
    }

    /// An empty table for hosts ending in `suffix` (`.{base_domain}`).
    pub fn with_suffix(suffix: &str) -> Self {
        Self { suffix: suffix.to_owned(), ..Self::default() }
    }

    pub fn insert_label(&mut self, label: String, route: Arc<AppRoute>) {
        let host = format!("{label}{}", self.suffix);
        // Only a name the long way reads back as this very label may short-cut it.
        if PlatformHost::parse(&host, &self.suffix) == Some(PlatformHost::Label(label.as_str().into())) {
            self.hosts.insert(host, route.clone());
        }
        self.labels.insert(label, route);
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Resolves a `Host` header value. Platform hosts come first: a name under the base domain
    /// is never looked up among custom domains, so no setting can shadow one. A label is tried
    /// whole before it is read as a preview (bot labels hold `--` when usernames hold `__`).
    pub fn lookup(&self, host: &str) -> Option<Target> {
        if let Some(route) = self.hosts.get(host) {
            return Some(Target::App(route.clone()));
        }
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
pub(crate) mod tests {
    use super::*;

    /// A route of a gated app, for tests of the modules that take one.
    pub(crate) fn route(slug: &str) -> Arc<AppRoute> {
        Arc::new(AppRoute {
            app_id: format!("app-{slug}"),
            bot_id: BotId(1),
            slug: AppSlug::parse(slug).expect("slug"),
            disabled: false,
            settings: AppSettings::default(),
            allowed: None,
            upstreams: Vec::new(),
            init_key: InitDataKey::new(
                &tmahost_types::BotToken::parse("1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("token"),
            ),
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
        t.insert_label("demo-bot".into(), main.clone());
        t.insert_label("main--demo-bot".into(), main);
        t.insert_label("shop--demo-bot".into(), route("shop"));
        t.insert_label("odd--name-bot".into(), route("main"));
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
    fn the_exact_host_short_cut_agrees_with_reading_the_host() {
        let mut t = table();
        for host in ["demo-bot.apps.test", "main--demo-bot.apps.test", "shop--demo-bot.apps.test"] {
            assert!(t.hosts.contains_key(host), "{host} is short-cut");
            let long_way = t.labels.get(host.trim_end_matches(".apps.test")).map(|r| r.slug.to_string());
            assert_eq!(resolved(&t, host).map(|(slug, _)| slug), long_way, "{host}");
        }
        // A label that no host reads back as (it holds a dot) gains no host by the short cut.
        t.insert_label("x.demo-bot".into(), route("shop"));
        assert!(!t.hosts.contains_key("x.demo-bot.apps.test"));
        assert!(t.lookup("x.demo-bot.apps.test").is_none());
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
