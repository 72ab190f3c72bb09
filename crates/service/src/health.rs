//! Readiness: what `/readyz` reports. The database and the object store are probed on each
//! ask; background parts (the control bot) report their own state here as it changes, so a
//! part that cannot reach its outside service shows as degraded instead of holding up the rest.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// How one part of the process stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum PartState {
    Up,
    /// Not working yet or any more, and retrying by itself (the detail says why).
    Degraded(String),
    /// Gave up; needs an operator (e.g. Telegram rejected the token).
    Failed(String),
}

impl PartState {
    fn is_up(&self) -> bool {
        matches!(self, Self::Up)
    }
}

/// The background parts' last reported states, by name.
#[derive(Debug, Default)]
pub(crate) struct Parts(Mutex<BTreeMap<&'static str, PartState>>);

impl Parts {
    pub(crate) fn set(&self, part: &'static str, state: PartState) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(part, state);
    }

    fn snapshot(&self) -> BTreeMap<&'static str, PartState> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// `ready` (all up), `degraded` (serving, but a background part is not up) or `not_ready`
    /// (the database or the object store does not answer: nothing new can be served).
    pub status: &'static str,
    pub checks: BTreeMap<&'static str, PartState>,
}

impl Readiness {
    /// Whether a load balancer should send traffic here: the stores answer. A degraded
    /// background part (the control bot) does not stop the API or the edge from serving.
    pub fn serving(&self) -> bool {
        self.status != "not_ready"
    }
}

/// Probes both stores (bounded: a dead database makes its pool retry until the acquire
/// timeout) and adds the background parts' states.
pub(crate) async fn check(platform: &crate::Platform, parts: &Parts) -> Readiness {
    const PROBE: Duration = Duration::from_secs(3);
    let probe = |r: Result<Result<(), tmahost_store::StoreError>, tokio::time::error::Elapsed>| match r {
        Ok(Ok(())) => PartState::Up,
        Ok(Err(e)) => PartState::Failed(e.to_string()),
        Err(_) => PartState::Failed(format!("no answer within {} s", PROBE.as_secs())),
    };
    let (db, blobs) = tokio::join!(
        tokio::time::timeout(PROBE, platform.db().ping()),
        tokio::time::timeout(PROBE, platform.blobs().ping())
    );
    let mut checks = parts.snapshot();
    let stores_up = [("database", probe(db)), ("object_store", probe(blobs))].map(|(name, state)| {
        let up = state.is_up();
        checks.insert(name, state);
        up
    });
    let status = if !stores_up.iter().all(|up| *up) {
        "not_ready"
    } else if checks.values().all(PartState::is_up) {
        "ready"
    } else {
        "degraded"
    };
    Readiness { status, checks }
}

#[cfg(test)]
mod tests {
    use super::PartState;

    #[test]
    fn states_serialize_with_their_reason() {
        let up = serde_json::to_value(PartState::Up).expect("json");
        assert_eq!(up, serde_json::json!({ "status": "up" }));
        let down = serde_json::to_value(PartState::Degraded("getMe failed".into())).expect("json");
        assert_eq!(down, serde_json::json!({ "status": "degraded", "detail": "getMe failed" }));
    }
}
