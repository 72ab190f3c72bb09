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
//! - `respond`: every response shape the edge sends;
//! - `server`, `wire`: HTTP/1.1 on hyper: worker threads and connections, the request and
//!   response types handlers use.

#[doc(hidden)]
pub mod bench;
mod client;
mod content;
mod endpoints;
mod proxy;
mod respond;
mod routing;
mod serve;
mod server;
mod session;
mod state;
mod stats;
mod ton;
mod wire;

pub use server::{Server, ServerHandle};
pub use state::Edge;

/// Hasher of the maps probed on every request. Seeded per process; their keys are either
/// checked before insertion (verified cookies) or come from the platform's own tables.
pub(crate) type FastHash = foldhash::fast::RandomState;

/// A cache key whose bytes are already uniform (a digest, a signature's tail): hashed by its
/// first 8 bytes alone, a fraction of the cost of hashing all of them on every probe; equality
/// still compares it whole, so keys that share those bytes only share a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UniformKey<const N: usize>(pub [u8; N]);

impl<const N: usize> std::hash::Hash for UniformKey<N> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        let n = N.min(8);
        head[..n].copy_from_slice(&self.0[..n]);
        state.write_u64(u64::from_le_bytes(head));
    }
}
