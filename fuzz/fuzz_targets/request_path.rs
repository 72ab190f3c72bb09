//! The edge's request path check: whatever the encoding (`%2e%2e`, double encoding, NUL,
//! invalid UTF-8), an accepted path has no `..` segment and no NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Some(path) = tmahost_edge::bench::request_path(raw) {
        assert!(!path.contains('\0'), "{raw:?} -> {path:?}");
        assert!(!path.split('/').any(|s| s == ".."), "{raw:?} -> {path:?}");
    }
});
