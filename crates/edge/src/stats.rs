//! Traffic counters for the dashboard's analytics: requests and sessions per app are atomics
//! held by the app's route (no lock on the hot path; they outlive table rebuilds because the
//! table asks [`Stats::counters_for`] for them), distinct users are buffered, and everything
//! is added to the per-day rows in the database every [`FLUSH_EVERY`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tmahost_store::{Db, StoreError};

pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Distinct users buffered between flushes, at most (beyond: counted next time they appear).
const MAX_PENDING_USERS: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct AppCounters {
    requests: AtomicU64,
    sessions: AtomicU64,
}

impl AppCounters {
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    counters: Mutex<HashMap<String, Arc<AppCounters>>>,
    users: Mutex<HashSet<(String, i64, i64)>>,
}

pub(crate) fn today() -> i64 {
    tmahost_store::now_ms() / 86_400_000
}

impl Stats {
    /// The counters of an app (the same ones every time).
    pub fn counters_for(&self, app_id: &str) -> Arc<AppCounters> {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(app_id.to_owned()).or_default().clone()
    }

    pub fn session_created(&self, app_id: &str, counters: &AppCounters, user_id: i64) {
        counters.sessions.fetch_add(1, Ordering::Relaxed);
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.len() < MAX_PENDING_USERS {
            users.insert((app_id.to_owned(), today(), user_id));
        }
    }

    /// Adds what was counted since the last flush to today's rows. Counts taken but not
    /// written (database down) are put back for the next flush.
    pub async fn flush(&self, db: &Db) -> Result<(), StoreError> {
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
            if let Err(e) = db.add_daily_stats(&app, day, requests as i64, sessions as i64).await {
                c.requests.fetch_add(requests, Ordering::Relaxed);
                c.sessions.fetch_add(sessions, Ordering::Relaxed);
                return Err(e);
            }
        }
        let users: Vec<(String, i64, i64)> =
            std::mem::take(&mut *self.users.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
        if let Err(e) = db.add_daily_users(&users).await {
            self.users.lock().unwrap_or_else(|e| e.into_inner()).extend(users);
            return Err(e);
        }
        Ok(())
    }
}
