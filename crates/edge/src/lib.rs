//! The edge: routes `Host` -> bot -> app -> deployment -> blob, lets in only users whose
//! Telegram `initData` it verified, and serves files with the HTTP semantics of the static
//! hosts developers know.
//!
//! - `state`: the [`Edge`] handle, its caches and how the routing table stays fresh;
//! - `serve`: one request through method -> gate -> deployment -> resolve -> respond;
//! - `endpoints`: `/_tma/*` (sessions, staff links, the identity JWKS);
//! - `proxy`: app backends (path prefixes forwarded with a signed `Tma-Identity`);
//! - `ton`: TON Connect wallet proofs (`/_tma/ton/*`), the wallet kept in the session;
//! - `routing`, `content`, `session`, `client`: pure parts (host lookup, path resolution,
//!   launch-data verification, client addresses), each with table tests;
//! - `respond`: every response shape the edge sends.

#[doc(hidden)]
pub mod bench;
mod client;
mod content;
mod endpoints;
mod proxy;
mod respond;
mod routing;
mod serve;
mod session;
mod state;
mod stats;
mod ton;

pub use state::Edge;

/// Hasher of the maps probed on every request. Seeded per process; their keys are either
/// checked before insertion (verified cookies) or come from the platform's own tables.
pub(crate) type FastHash = foldhash::fast::RandomState;
