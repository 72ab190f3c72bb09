//! The host grammar: any `Host` value is placed under the apps' domain or not without
//! panicking; only names under it are read as labels, a label has no dot, and a preview reading
//! gives back the label it was read from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tmahost_types::host::{PlatformHost, preview};

fuzz_target!(|raw: &str| {
    let Some(PlatformHost::Label(label)) = PlatformHost::parse(raw, ".apps.test") else {
        return;
    };
    let name = raw.rsplit_once(':').map_or(raw, |(n, _)| n).trim_end_matches('.').to_ascii_lowercase();
    assert!(name.ends_with(".apps.test") && !label.contains('.'), "{raw:?} -> {label:?}");
    if let Some((short, named)) = preview(&label) {
        assert_eq!(format!("{short}--{named}"), *label, "{raw:?}");
    }
});
