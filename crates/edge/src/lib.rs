//! The edge: routes `Host` -> bot -> app -> deployment -> blob, lets in only users whose
//! Telegram `initData` it verified, and serves files with the HTTP semantics of the static
//! hosts developers know.
//!
//! A pipeline that reads top to bottom; a module uses only those below it (the test
//! `modules_use_only_those_below_them` holds it to that):
//!
//! - `server`: the listener, worker threads and connections (hyper HTTP/1.1);
//! - `serve`: one request: its id, `Host` -> app, the [`gate::Gate`] made once, then the one
//!   handler for it;
//! - handlers: `endpoints` (`/_tma/*`: sessions, staff links, the identity JWKS, TON Connect
//!   proofs), `proxy` (app backends, with a signed `Tma-Identity`), `files` (the bundle:
//!   method -> gate -> deployment -> resolve -> respond);
//! - `gate`: who the caller is (once per request), whether a path needs a session, whether a
//!   browser sent the request from another site;
//! - `state`: the [`Edge`] handle, its caches and how the routing table stays fresh;
//! - `upstream`: the client app backends are reached with;
//! - `session`: launch data verified, session JWTs, revocations;
//! - `respond`: every response shape the edge sends;
//! - `routing`, `stats`, `client`, `content`: the routing table, traffic counters, client
//!   addresses, path resolution (pure parts, each with table tests);
//! - `wire`: the request and response types, reading a body.

#[doc(hidden)]
pub mod bench;
mod client;
mod content;
mod endpoints;
mod files;
mod gate;
mod proxy;
mod respond;
mod routing;
mod serve;
mod server;
mod session;
mod state;
mod stats;
mod upstream;
mod wire;

pub use server::{Server, ServerHandle};
pub use state::Edge;

/// Seconds since the epoch.
pub(crate) fn now_secs() -> i64 {
    tmahost_service::now_ms() / 1000
}

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

#[cfg(test)]
mod layering {
    /// The edge's modules, bottom first (`bench` is a test helper on top of everything).
    const LAYERS: [&str; 17] = [
        "wire",
        "content",
        "client",
        "stats",
        "routing",
        "respond",
        "session",
        "upstream",
        "state",
        "gate",
        "files",
        "proxy",
        "endpoints",
        "serve",
        "server",
        "bench",
        "lib",
    ];

    /// Names the crate root re-exports, by the module that defines them.
    fn module_of(name: &str) -> Option<&'static str> {
        match name {
            "Edge" => Some("state"),
            "Server" | "ServerHandle" => Some("server"),
            // The root's own helpers sit below every module.
            "FastHash" | "UniformKey" | "now_secs" => None,
            other => LAYERS.iter().copied().find(|m| *m == other),
        }
    }

    /// Every `crate::…` a source names outside its tests: `crate::a::b`, `crate::{a, b::c}`.
    fn uses(source: &str) -> Vec<String> {
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        let mut found = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                found.extend(inner.split(',').map(|p| p.trim().split("::").next().unwrap_or_default().to_owned()));
            } else {
                let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
                found.push(rest[..end].to_owned());
            }
        }
        found.retain(|n| !n.is_empty() && n != "self");
        found
    }

    #[test]
    fn modules_use_only_those_below_them() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&src).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).expect("dir").map(|e| e.expect("entry").path()));
            } else {
                files.push(path);
            }
        }
        let mut wrong = Vec::new();
        for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "rs")) {
            let rel = path.strip_prefix(&src).expect("under src");
            let first = rel.components().next().expect("a name").as_os_str().to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            let rank = LAYERS.iter().position(|m| *m == module);
            let Some(rank) = rank else {
                wrong.push(format!("{}: a module with no place in LAYERS", rel.display()));
                continue;
            };
            for name in uses(&std::fs::read_to_string(path).expect("read")) {
                let Some(used) = module_of(&name) else { continue };
                if used == module {
                    continue;
                }
                let used_rank = LAYERS.iter().position(|m| *m == used).expect("listed");
                if used_rank >= rank {
                    wrong.push(format!("{} uses crate::{name} ({used} is not below {module})", rel.display()));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
