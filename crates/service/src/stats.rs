//! Platform counters for `/stats` (and later the dashboard): per bot, filtered to what the
//! caller may see; storage totals for admins.

use tmahost_store::model::{Bot, BotStats};
use tmahost_store::now_ms;

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
}
