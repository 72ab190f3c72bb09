//! The value types of tmahost, parsed once at the boundary so nothing downstream re-checks them.
//!
//! This crate is pure (no I/O) and at the bottom of the tree. It owns the rules for bot tokens,
//! bot usernames and the host label a bot's apps are served under; Mini App launch data
//! (`initData`): parsing, HMAC and Ed25519 verification, and signing; the Login Widget's
//! callback; content digests (`Sha256`); app slugs; the host grammar (`host`); DNS names; the
//! session cookie's name and the rule for tenants' cookies (`cookie`); the audit log's actions; the error body of every HTTP answer (`ErrorBody`);
//! and how a configuration section is declared (`settings`).

pub mod audit;
pub mod cookie;
pub mod dns;
mod error_body;
pub mod host;
pub mod init_data;
pub mod login_widget;
pub mod settings;
mod sha256;
mod slug;
mod token;
pub mod ton;
mod username;

pub use audit::AuditAction;
pub use dns::DnsName;
pub use error_body::{ErrorBody, ErrorDetail};
pub use init_data::{InitData, InitDataError, InitDataKey, TelegramKey, VerifiedInitData, WebAppChat, WebAppUser};
pub use sha256::Sha256;
pub use slug::AppSlug;
pub use token::{BotId, BotToken};
pub use username::{BotUsername, HostLabel};

/// Why a Telegram value was rejected; the message tells the user what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("a bot token looks like `123456789:AA...` (digits, a colon, then at least 30 letters, digits, `_` or `-`)")]
    BotToken,
    #[error("a bot username has 5-32 letters, digits or `_`, starts with a letter and ends with `bot`")]
    BotUsername,
}
