//! The platform's operations, each written once and called by every front door (HTTP API,
//! dashboard, control bot, CLI). Authorization happens here, inside each operation: a front
//! door authenticates the caller into an [`Actor`] and passes it in.

mod apps;
mod audit;
mod auth;
pub mod backends;
pub mod backup;
mod bots;
pub mod brotli;
pub mod config;
mod deployments;
mod dev_link;
pub mod display;
pub mod domains;
mod error;
pub mod gc;
pub mod health;
pub mod identity;
mod jwt;
mod login;
mod members;
pub mod metrics;
mod notices;
mod platform;
pub mod quotas;
mod refs;
mod removal;
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
pub use removal::{BotRemoval, UserErasure};
pub use serving::{ServedApp, Traffic};
pub use staff::{Revocations, STAFF_CODE_TTL_SECS};
pub use stats::{RECENT_DEPLOYS_SECS, Stats};
pub use tmahost_deploy::{DeclaredFile, IngestError, Limits};
/// The stores' value types that operations take and return; the stores themselves stay here.
pub use tmahost_store::{
    BlobKey, EdgeChange, EdgeScope, Encoding, KeyPurpose, LoggedChange, MasterKey, SecretBytes, model, now_ms,
};
pub use uploads::{BlobPut, UploadPlan};

/// An id for one request, for logs and the `x-request-id` response header: the caller's own
/// when it sent a sane one (a proxy's), else a fresh process-unique one.
pub fn request_id(incoming: Option<&str>) -> String {
    match incoming.filter(|id| sane_request_id(id.as_bytes())) {
        Some(id) => id.to_owned(),
        None => FreshRequestId::new().as_str().to_owned(),
    }
}

/// Whether a client's `x-request-id` is kept as the request's id: short, and only letters,
/// digits, `-` and `_` (it goes into logs and back into a header).
pub fn sane_request_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= 64 && id.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh request id, `{prefix:08x}-{counter:x}` (the prefix random per process), written on
/// the stack without the formatting machinery: the edge makes one per request.
#[derive(Debug, Clone, Copy)]
pub struct FreshRequestId {
    buf: [u8; 25],
    len: u8,
}

impl FreshRequestId {
    #[allow(clippy::new_without_default)] // each one is another id: not a default value
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let prefix = *PREFIX.get_or_init(rand::random::<u32>);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1) as usize;
        let mut id = Self { buf: [b'-'; 25], len: (9 + digits) as u8 };
        write_hex(&mut id.buf[..8], u64::from(prefix));
        write_hex(&mut id.buf[9..9 + digits], n);
        id
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    pub fn as_str(&self) -> &str {
        // Hex digits and a dash only.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// The low `out.len()` hex digits of `v`, zero-padded.
fn write_hex(out: &mut [u8], mut v: u64) {
    for d in out.iter_mut().rev() {
        *d = b"0123456789abcdef"[(v & 0xf) as usize];
        v >>= 4;
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
        assert_eq!((pa.len(), pa), (8, pb), "one prefix per process");
        let (na, nb) = (u64::from_str_radix(na, 16).expect("hex"), u64::from_str_radix(nb, 16).expect("hex"));
        assert!(nb > na, "the counter goes up");
        assert_eq!(format!("{na:x}"), a.split_once('-').expect("dash").1, "no leading zeros");
        let mut digits = [0u8; 12];
        super::write_hex(&mut digits, 0xdead_beef_0042);
        assert_eq!(&digits, b"deadbeef0042");
        super::write_hex(&mut digits[..4], 0x1);
        assert_eq!(&digits[..4], b"0001");
        assert_eq!(super::request_id(Some("proxy-id_1")), "proxy-id_1");
        assert!(!super::sane_request_id(b""));
        assert!(!super::sane_request_id(&[b'a'; 65]));
        assert!(super::sane_request_id(&[b'a'; 64]));
    }
}
