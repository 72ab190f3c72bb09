//! The edge's request path check: whatever the encoding (`%2e%2e`, double encoding, NUL,
//! invalid UTF-8), an accepted path has no `..` segment and no NUL, and stays within the caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tmahost_deploy::{MAX_SEGMENTS, request_path};

fuzz_target!(|raw: &str| {
    if let Ok(path) = request_path(raw) {
        assert!(!path.contains('\0'), "{raw:?} -> {path:?}");
        assert!(!path.split('/').any(|s| s == ".."), "{raw:?} -> {path:?}");
        assert!(path.split('/').count() <= MAX_SEGMENTS + 1, "{raw:?}");
    }
});
