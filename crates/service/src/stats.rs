//! Platform counters for `/stats` and the dashboard: per bot, filtered to what the caller may
//! see; storage totals for admins; per-app daily traffic recorded by the edges.

use tmahost_store::model::{Bot, BotStats, DailyStats};
use tmahost_store::now_ms;

use crate::refs::AppRef;
use crate::{Actor, Platform, ServiceError};

/// The window of `BotStats::recent_deploys`.
pub const RECENT_DEPLOYS_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone)]
pub struct Stats {
    pub bots: Vec<(Bot, BotStats)>,
    /// `(distinct stored contents, their bytes)`, for admins only.
    pub storage: Option<(i64, i64)>,
}

impl Platform {
    pub async fn stats(&self, actor: &Actor) -> Result<Stats, ServiceError> {
        let bots = self.list_bots(actor).await?;
        let mut per_bot: std::collections::HashMap<i64, BotStats> = self
            .db()
            .bot_stats(now_ms() - RECENT_DEPLOYS_SECS * 1000)
            .await?
            .into_iter()
            .map(|s| (s.bot_id, s))
            .collect();
        let bots = bots.into_iter().filter_map(|b| per_bot.remove(&b.id).map(|s| (b, s))).collect();
        let storage = if actor.is_admin() { Some(self.db().blob_totals().await?) } else { None };
        Ok(Stats { bots, storage })
    }

    /// The app's traffic for the last `days` UTC days (today included), one entry per day,
    /// oldest first; days without traffic are zeros.
    pub async fn app_analytics(&self, r: &AppRef, days: i64) -> Result<Vec<DailyStats>, ServiceError> {
        let app = &r.app;
        let days = days.clamp(1, 366);
        let today = now_ms() / 86_400_000;
        let from = today - days + 1;
        let mut rows = self.db().daily_stats(&app.id, from).await?.into_iter().peekable();
        let mut out = Vec::with_capacity(days as usize);
        for day in from..=today {
            match rows.peek() {
                Some(r) if r.day == day => out.extend(rows.next()),
                _ => out.push(DailyStats { day, requests: 0, sessions: 0, users: 0 }),
            }
        }
        Ok(out)
    }
}
