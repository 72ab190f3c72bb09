//! The platform's operations, each written once and called by every front door (HTTP API,
//! dashboard, control bot, CLI). Authorization happens here, inside each operation: a front
//! door authenticates the caller into an [`Actor`] and passes it in.

mod apps;
mod audit;
mod auth;
pub mod backends;
mod bots;
pub mod brotli;
pub mod config;
mod deployments;
mod dev_link;
pub mod display;
pub mod domains;
mod error;
pub mod health;
pub mod identity;
mod jwt;
mod login;
mod members;
pub mod metrics;
mod notices;
mod platform;
mod refs;
mod serving;
mod staff;
mod stats;
mod telegram_api;
mod tokens;
pub mod ton_connect;
mod uploads;

pub use auth::{Actor, MintedToken, Need, TokenSigner};
pub use bots::Registration;
pub use config::{Config, ConfigError, LogFormat, Secret};
pub use deployments::{DeployOptions, DeployReport};
pub use dev_link::{DARK_THEME, DevLink, DevUser, LIGHT_THEME, PLATFORMS};
pub use error::ServiceError;
pub use jwt::JwtKey;
pub use login::{LOGIN_LINK_TTL_SECS, LoginLink, WIDGET_MAX_AGE_SECS};
pub use notices::{DeployNotice, NoticeKind};
pub use platform::Platform;
pub use refs::{AppRef, BotKey, BotRef, DeploymentRef, Granted};
pub use serving::{ServedApp, Traffic};
pub use staff::STAFF_CODE_TTL_SECS;
pub use stats::{RECENT_DEPLOYS_SECS, Stats};
pub use tmahost_deploy::{DeclaredFile, IngestError, Limits};
/// The stores' value types that operations take and return; the stores themselves stay here.
pub use tmahost_store::{BlobKey, Encoding, MasterKey, SecretBytes, model, now_ms};
pub use uploads::{BlobPut, UploadPlan};

/// An id for one request, for logs and the `x-request-id` response header: the caller's own
/// when it sent a sane one (a proxy's), else a fresh process-unique one.
pub fn request_id(incoming: Option<&str>) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    if let Some(id) = incoming.filter(|id| {
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return id.to_owned();
    }
    let prefix = PREFIX.get_or_init(rand::random::<u32>);
    // `{prefix:08x}-{n:x}`, without the formatting machinery: the edge makes one per request.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    let mut id = String::with_capacity(9 + digits as usize);
    push_hex(&mut id, u64::from(*prefix), 8);
    id.push('-');
    push_hex(&mut id, n, digits);
    id
}

/// The low `digits` hex digits of `v`, zero-padded.
fn push_hex(out: &mut String, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        out.push(char::from(b"0123456789abcdef"[((v >> (i * 4)) & 0xf) as usize]));
    }
}

/// Runs blocking work on the blocking pool, keeping the caller's tracing span.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ServiceError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f)).await.map_err(ServiceError::internal)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fresh_request_ids_are_prefix_dash_counter_in_hex() {
        let a = super::request_id(None);
        let b = super::request_id(Some("bad id!"));
        let (pa, na) = a.split_once('-').expect("dash");
        let (pb, nb) = b.split_once('-').expect("dash");
        assert_eq!((pa.len(), pa), (8, pb));
        let (na, nb) = (u64::from_str_radix(na, 16).expect("hex"), u64::from_str_radix(nb, 16).expect("hex"));
        assert_eq!(nb, na + 1);
        assert_eq!(format!("{na:x}"), a.split_once('-').expect("dash").1);
        let mut s = String::new();
        super::push_hex(&mut s, 0xdead_beef_0042, 12);
        assert_eq!(s, "deadbeef0042");
        assert_eq!(super::request_id(Some("proxy-id_1")), "proxy-id_1");
    }
}
