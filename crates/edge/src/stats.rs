//! Traffic counters per app, atomics held by the app's route (no lock on the hot path; they
//! outlive table rebuilds because the table asks [`Stats::counters_for`] for them). Two readers:
//! the dashboard's analytics (requests and sessions, with distinct users buffered, added to the
//! per-day rows every [`FLUSH_EVERY`]) and Prometheus (monotonic totals by status class and
//! bytes, read at scrape time by [`Stats`]'s collector).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tmahost_service::metrics::{Collector, ConstCounter, ConstGauge, DescriptorEncoder, EncodeMetric};
use tmahost_service::{Platform, ServiceError, Traffic};

/// How a proxied request ended, for `edge_proxy_requests{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The upstream answered (any status).
    Answered,
    /// No connection, or the upstream broke it.
    Unreachable,
    /// The upstream's address is one upstreams may not use.
    Forbidden,
    /// No answer within the timeout.
    Timeout,
    /// The request body was over the limit.
    TooLarge,
    /// A WebSocket over the app's limit of open ones.
    TooManyWebSockets,
    /// The request came back to the platform: it carried the hop mark, or the upstream is the
    /// platform itself.
    Loop,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Answered,
        Outcome::Unreachable,
        Outcome::Forbidden,
        Outcome::Timeout,
        Outcome::TooLarge,
        Outcome::TooManyWebSockets,
        Outcome::Loop,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Unreachable => "unreachable",
            Outcome::Forbidden => "forbidden",
            Outcome::Timeout => "timeout",
            Outcome::TooLarge => "too_large",
            Outcome::TooManyWebSockets => "too_many_websockets",
            Outcome::Loop => "loop",
        }
    }
}

pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Distinct users buffered between flushes, at most (beyond: counted next time they appear).
const MAX_PENDING_USERS: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct AppCounters {
    /// Since the last flush (dashboard).
    requests: AtomicU64,
    sessions: AtomicU64,
    /// Since start (Prometheus): responses by status class 1xx..5xx, body bytes, sessions.
    /// `app--bot`, as in the app's host name.
    name: String,
    responses: [AtomicU64; 5],
    bytes: AtomicU64,
    sessions_total: AtomicU64,
    /// Requests forwarded to the app's backends, by [`Outcome`].
    proxied: [AtomicU64; Outcome::ALL.len()],
    /// WebSockets passed through to the app's backends, open now.
    websockets: AtomicU64,
}

impl AppCounters {
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A response on its way out, with its body size when known.
    pub fn response(&self, status: u16, bytes: Option<u64>) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        if let Some(n) = bytes {
            self.bytes.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// A request forwarded to one of the app's backends, and how it ended.
    pub fn proxied(&self, outcome: Outcome) {
        let i = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.proxied[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a WebSocket opening, unless `max` are open already; the slot is freed when the
    /// returned guard drops (the tunnel closed).
    pub fn open_websocket(self: &Arc<Self>, max: u64) -> Option<WebSocketSlot> {
        self.websockets
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| WebSocketSlot(self.clone()))
    }
}

/// One open WebSocket of an app, counted until dropped.
#[derive(Debug)]
pub(crate) struct WebSocketSlot(Arc<AppCounters>);

impl Drop for WebSocketSlot {
    fn drop(&mut self) {
        self.0.websockets.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    counters: Mutex<HashMap<String, Arc<AppCounters>>>,
    /// `(app id, day, user id)` → when last seen (ms).
    users: Mutex<HashMap<(String, i64, i64), i64>>,
}

pub(crate) fn today() -> i64 {
    tmahost_service::now_ms() / 86_400_000
}

impl Stats {
    /// The counters of an app (the same ones every time); `name` labels its metrics.
    pub fn counters_for(&self, app_id: &str, name: &str) -> Arc<AppCounters> {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(app_id.to_owned())
            .or_insert_with(|| Arc::new(AppCounters { name: name.to_owned(), ..AppCounters::default() }))
            .clone()
    }

    pub fn session_created(&self, app_id: &str, counters: &AppCounters, user_id: i64) {
        counters.sessions.fetch_add(1, Ordering::Relaxed);
        counters.sessions_total.fetch_add(1, Ordering::Relaxed);
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.len() < MAX_PENDING_USERS {
            users.insert((app_id.to_owned(), today(), user_id), tmahost_service::now_ms());
        }
    }

    /// Adds what was counted since the last flush to today's rows. Counts taken but not
    /// written (database down) are put back for the next flush.
    pub async fn flush(&self, platform: &Platform) -> Result<(), ServiceError> {
        let day = today();
        let counters: Vec<(String, Arc<AppCounters>)> = self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (app, c) in counters {
            let requests = c.requests.swap(0, Ordering::Relaxed);
            let sessions = c.sessions.swap(0, Ordering::Relaxed);
            if requests == 0 && sessions == 0 {
                continue;
            }
            let traffic = Traffic { requests: requests as i64, sessions: sessions as i64 };
            if let Err(e) = platform.record_traffic(&app, day, traffic).await {
                c.requests.fetch_add(requests, Ordering::Relaxed);
                c.sessions.fetch_add(sessions, Ordering::Relaxed);
                return Err(e);
            }
        }
        let users: Vec<((String, i64, i64), i64)> =
            std::mem::take(&mut *self.users.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
        if let Err(e) = platform.record_users(&users).await {
            self.users.lock().unwrap_or_else(|e| e.into_inner()).extend(users);
            return Err(e);
        }
        Ok(())
    }
}

/// Which total of an app a metric reads.
type Field = fn(&AppCounters) -> &AtomicU64;

/// Reads the per-app totals at scrape time.
impl Collector for Stats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let apps: Vec<Arc<AppCounters>> =
            self.counters.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
        let counter = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "edge_responses",
            "Edge responses by app (app--bot) and status class",
            None,
            counter.metric_type(),
        )?;
        for app in &apps {
            for (class, n) in CLASSES.iter().zip(&app.responses) {
                let labels = [("app", app.name.as_str()), ("status", class)];
                ConstCounter::new(n.load(Ordering::Relaxed)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "edge_proxy_requests",
            "Requests forwarded to app backends, by app (app--bot) and outcome",
            None,
            counter.metric_type(),
        )?;
        for app in &apps {
            for (outcome, n) in Outcome::ALL.iter().zip(&app.proxied) {
                let labels = [("app", app.name.as_str()), ("outcome", outcome.label())];
                ConstCounter::new(n.load(Ordering::Relaxed)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "edge_proxy_websockets_open",
            "WebSockets passed through to app backends, open now, by app (app--bot)",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for app in &apps {
            let open = i64::try_from(app.websockets.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
            ConstGauge::new(open).encode(family.encode_family(&[("app", app.name.as_str())])?)?;
        }
        // One counter per app, labelled by the app alone.
        let per_app: [(&str, &str, Field); 2] = [
            ("edge_response_bytes", "Edge response body bytes by app", |a| &a.bytes),
            ("edge_sessions_created", "Sessions created by app", |a| &a.sessions_total),
        ];
        for (name, help, value) in per_app {
            let mut family = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            for app in &apps {
                ConstCounter::new(value(app).load(Ordering::Relaxed))
                    .encode(family.encode_family(&[("app", app.name.as_str())])?)?;
            }
        }
        Ok(())
    }
}
