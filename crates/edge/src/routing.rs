//! Host -> app routing: the in-memory table, built from the database in a few queries at start
//! and then changed one app or bot at a time as the change log names them, so a lookup is one
//! hash probe and never waits for the database, and a change costs what it touches.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use tmahost_service::ServedApp;
use tmahost_service::model::{AppSettings, AppSlug};
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
    /// The bot's host label: with `slug`, the names this route is under.
    pub host_label: String,
    /// The verified custom domain this route is also under.
    pub domain: Option<String>,
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

/// An app backend's upstream, read when its app's route is made. A custom domain of the
/// platform is recognised when forwarding (`RouteTable::serves_domain`): domains are proven
/// after settings are saved, and by other apps.
#[derive(Debug)]
pub(crate) enum Upstream {
    Url(url::Url),
    /// It does not parse (answered 502).
    Invalid,
    /// The platform itself, and why (answered 508): a name or socket of the platform by the
    /// configuration (`backends::names_platform`).
    Platform(String),
}

impl Upstream {
    fn read(config: &tmahost_service::Config, upstream: &str) -> Self {
        let Ok(url) = url::Url::parse(upstream) else { return Self::Invalid };
        match tmahost_service::backends::names_platform(config, &url) {
            Some(why) => Self::Platform(why),
            None => Self::Url(url),
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
    /// Every route by app id, and each bot's app ids: what a change names.
    apps: HashMap<String, Arc<AppRoute>, crate::FastHash>,
    bots: HashMap<BotId, HashSet<String>, crate::FastHash>,
    /// `.{base_domain}`
    suffix: String,
}

impl AppRoute {
    pub fn new(config: &tmahost_service::Config, stats: &Stats, app: ServedApp) -> Arc<Self> {
        Arc::new(Self {
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
            host_label: app.host_label,
            domain: app.domain,
            allowed: app.settings.allowed_user_ids.as_ref().map(|ids| ids.iter().copied().collect()),
            upstreams: app.settings.backends.iter().map(|b| Upstream::read(config, &b.upstream)).collect(),
            settings: app.settings,
        })
    }
}

impl RouteTable {
    /// A table of `routes`: every app, read at start or after a gap in the change log.
    pub fn build(suffix: &str, routes: impl IntoIterator<Item = Arc<AppRoute>>) -> Self {
        let mut table = Self::with_suffix(suffix);
        for route in routes {
            table.put(route);
        }
        table
    }

    /// Puts an app's route, under its names, in place of the one the table had.
    pub fn put(&mut self, route: Arc<AppRoute>) {
        self.remove(&route.app_id);
        for key in AppHost::route_keys(&route.slug, &route.host_label) {
            self.insert_label(key, route.clone());
        }
        if let Some(domain) = &route.domain {
            self.domains.insert(domain.clone(), route.clone());
        }
        self.bots.entry(route.bot_id).or_default().insert(route.app_id.clone());
        self.apps.insert(route.app_id.clone(), route);
    }

    /// Takes an app's route out, with the names that still lead to it.
    pub fn remove(&mut self, app_id: &str) -> Option<Arc<AppRoute>> {
        let old = self.apps.remove(app_id)?;
        let mine = |r: Option<&Arc<AppRoute>>| r.is_some_and(|r| r.app_id == app_id);
        for key in AppHost::route_keys(&old.slug, &old.host_label) {
            let host = format!("{key}{}", self.suffix);
            if mine(self.hosts.get(&host)) {
                self.hosts.remove(&host);
            }
            if mine(self.labels.get(&key)) {
                self.labels.remove(&key);
            }
        }
        if let Some(domain) = &old.domain
            && mine(self.domains.get(domain))
        {
            self.domains.remove(domain);
        }
        if let Some(apps) = self.bots.get_mut(&old.bot_id) {
            apps.remove(app_id);
            if apps.is_empty() {
                self.bots.remove(&old.bot_id);
            }
        }
        Some(old)
    }

    /// Replaces everything of `bot` with `routes`, its apps as they are now (none: it is gone).
    pub fn replace_bot(&mut self, bot: BotId, routes: Vec<Arc<AppRoute>>) {
        for app_id in self.bots.remove(&bot).unwrap_or_default() {
            self.remove(&app_id);
        }
        for route in routes {
            self.put(route);
        }
    }

    /// Replaces one app's route (`None`: it is gone).
    pub fn replace_app(&mut self, app_id: &str, route: Option<Arc<AppRoute>>) {
        self.remove(app_id);
        if let Some(route) = route {
            self.put(route);
        }
    }

    /// Whether `name` is a custom domain this table serves (an upstream there would loop).
    pub fn serves_domain(&self, name: &str) -> bool {
        self.domains.contains_key(name.trim_end_matches('.'))
    }

    /// Every name with the app it leads to and what that app's route holds, sorted: two tables
    /// that route alike describe alike (the change-log tests compare a followed table with a
    /// fresh one).
    pub fn describe(&self) -> Vec<String> {
        let route = |r: &AppRoute| {
            let mut staff: Vec<_> = r.staff.iter().copied().collect();
            staff.sort_unstable();
            format!(
                "{} bot={} disabled={} active={:?} previous={:?} staff={staff:?} domain={:?} settings={}",
                r.app_id,
                r.bot_id,
                r.disabled,
                r.active,
                r.previous,
                r.domain,
                serde_json::to_string(&r.settings).unwrap_or_default()
            )
        };
        let mut out: Vec<String> = (self.labels.iter().map(|(k, r)| format!("label {k}: {}", route(r))))
            .chain(self.hosts.iter().map(|(k, r)| format!("host {k}: {}", r.app_id)))
            .chain(self.domains.iter().map(|(k, r)| format!("domain {k}: {}", r.app_id)))
            .collect();
        out.sort();
        out
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
            host_label: "demo-bot".into(),
            domain: None,
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
