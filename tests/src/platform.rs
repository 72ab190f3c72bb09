//! An in-process platform for the crates' integration tests: a temp data dir, blobs in memory
//! (unless a test sets `storage_url`), an unreachable Bot API, and two tenants registered:
//! `Demo_Bot` ([`TOKEN_A`]) and `Other_Bot` ([`TOKEN_B`]).

use tmahost_service::{Actor, Config, Platform};

use crate::{TOKEN_A, TOKEN_B};

/// A platform and the temp dir it lives in (removed when this is dropped).
#[derive(Debug)]
pub struct TestPlatform {
    pub p: Platform,
    pub dir: tempfile::TempDir,
}

/// Opens the platform; `tweak` adjusts the configuration first (limits, admins, addresses).
pub async fn open(tweak: impl FnOnce(&mut Config)) -> TestPlatform {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.storage.data_dir = dir.path().to_owned();
    config.storage.storage_url = Some("memory://".into());
    // Nothing listens on port 1: registration takes the given username.
    config.telegram.api_url = "http://127.0.0.1:1".into();
    tweak(&mut config);
    let p = Platform::open(config).await.expect("platform");
    let admin = Actor::local_admin();
    p.register_bot(&admin, TOKEN_A, Some("Demo_Bot")).await.expect("Demo_Bot");
    p.register_bot(&admin, TOKEN_B, Some("Other_Bot")).await.expect("Other_Bot");
    TestPlatform { p, dir }
}
