//! Test harness shared by the workspace's test suites.
//!
//! - [`app`]: [`app::TestApp`], a running `tmahost` with the API, deploy and edge calls the
//!   end-to-end suites make, written once.
//! - [`backend`]: the Python app backend that verifies `Tma-Identity` with PyJWT.
//! - [`postgres`]: a throwaway PostgreSQL cluster per test process, one fresh database per call.
//! - [`dns`]: a real DNS server on loopback whose TXT records a test sets (custom domains).
//! - [`bundles`]: zip / tar.gz builders, including malformed and malicious archives.
//! - [`fake_telegram`]: a local Bot API server with the real JSON shapes that records calls.
//! - [`platform`]: an in-process platform with two tenants, for the crates' integration tests.
//! - [`relay`]: an outside HTTP relay that forwards to an address under another `Host`.
//! - [`s3`]: `moto_server`, a real S3 API on loopback, with a bucket.
//! - [`server`]: the real `tmahost` binary on random ports with a temp data dir.
//! - [`web`]: a browser without JavaScript for the dashboard (forms, CSRF, login links).
//! - [`require_all`]: CI sets `TMAHOST_TEST_REQUIRE_ALL=1`, turning a missing external
//!   dependency (PostgreSQL, …) into a failure instead of a skip.
//! - [`code`], [`seeded_rng`], [`Rows`]: the error code of an answer; randomness that prints
//!   its seed; a table's failed rows reported together.

pub mod app;
pub mod backend;
pub mod bundles;
pub mod dns;
pub mod fake_telegram;
pub mod platform;
pub mod postgres;
pub mod relay;
pub mod s3;
pub mod server;
pub mod web;

/// A tenant's bot token (bot id 111111111), for `Demo_Bot` (host label `demo-bot`) in most
/// tests. No real bot has it; the Bot API in tests is always a fake.
pub const TOKEN_A: &str = "111111111:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_";
/// Another tenant's (bot id 222222222), `Other_Bot` in most tests.
pub const TOKEN_B: &str = "222222222:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_";

/// The platform's control bot (`tmahost_control_bot` in the fake Bot API), for the suites
/// that run one.
pub const CONTROL_TOKEN: &str = "555000111:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_";

/// The error code of an API or edge error answer (`{"error": {"code": …}}`), or `""`.
pub fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// A random generator for a test, seeded from `TEST_SEED` when set, else at random; the seed is
/// printed (cargo shows it with a failure), so `TEST_SEED=… cargo test name` replays the run.
pub fn seeded_rng(test: &str) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    let seed = std::env::var("TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>);
    println!("{test}: TEST_SEED={seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// The failures of a table's rows or a scenario's steps, collected so that one failure does not
/// hide the others: `check` each row (or run each `step`), then `finish` fails the test with
/// every failure listed.
#[derive(Debug, Default)]
#[must_use = "call finish() to fail the test on failed rows"]
pub struct Rows {
    failures: Vec<String>,
}

impl Rows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `what` as a failed row unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }

    /// Runs one step of a scenario. A panic in it is recorded as that step's failure and the
    /// scenario goes on, so the steps after it still report; the step's value, if it finished.
    pub async fn step<T>(&mut self, name: &str, step: impl std::future::Future<Output = T>) -> Option<T> {
        use futures_util::FutureExt;
        match std::panic::AssertUnwindSafe(step).catch_unwind().await {
            Ok(value) => Some(value),
            Err(panic) => {
                let message = (panic.downcast_ref::<String>().map(String::as_str))
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("panicked");
                self.failures.push(format!("step `{name}`: {message}"));
                None
            }
        }
    }

    pub fn finish(self, table: &str) {
        let n = self.failures.len();
        assert!(n == 0, "{table}: {n} rows failed:\n{}", self.failures.join("\n"));
    }
}

/// Whether a missing external dependency must fail the test run (set by `.ci/run`).
pub fn require_all() -> bool {
    std::env::var("TMAHOST_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1" || v == "true")
}

/// Skips (returns `None`) or fails, depending on [`require_all`], when `what` is unavailable.
pub fn unavailable<T>(what: &str, why: &str) -> Option<T> {
    assert!(!require_all(), "{what} is required (TMAHOST_TEST_REQUIRE_ALL=1) but unavailable: {why}");
    eprintln!("SKIPPING: {what} unavailable: {why} (set TMAHOST_TEST_REQUIRE_ALL=1 to fail instead)");
    None
}

/// Every file below `dir`, recursively (for tests that scan a data dir for secrets).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}

/// Launch data as Telegram would give a Mini App now: `user` (its JSON) signed with the bot's
/// token.
pub fn launch_data(bot_token: &str, user_json: &str) -> String {
    let token = tmahost_types::BotToken::parse(bot_token).expect("bot token");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    tmahost_types::init_data::sign(&[("user", user_json)], &token, now)
}

/// A memory figure of process `pid` from `/proc/{pid}/status`, in MB: `"VmRSS"` (resident now)
/// or `"VmHWM"` (its peak).
pub fn proc_memory_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.strip_prefix(':')))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    kb / 1024.0
}

/// How many files (sockets among them) process `pid` has open, from `/proc/{pid}/fd`.
pub fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("proc fd").count()
}

#[cfg(test)]
mod tests {
    use super::Rows;

    #[tokio::test]
    async fn a_failed_step_is_listed_and_the_steps_after_it_run() {
        let mut rows = Rows::new();
        let failed = rows.step::<()>("first", async { panic!("boom") }).await;
        let ran = rows.step("second", async { 7 }).await;
        assert_eq!((failed, ran), (None, Some(7)));
        let panic = std::panic::catch_unwind(move || rows.finish("scenario")).expect_err("a failed step fails it");
        let message = panic.downcast_ref::<String>().expect("a message");
        assert!(message.contains("scenario: 1 rows failed") && message.contains("step `first`: boom"), "{message}");
    }
}
