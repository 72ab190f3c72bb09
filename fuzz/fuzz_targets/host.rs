//! Host routing on a table of 100 bots x 3 apps: any `Host` value resolves or not, without
//! panicking; names outside the apps' domain never resolve.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tmahost_edge::bench::Routes;

static ROUTES: LazyLock<Routes> = LazyLock::new(|| Routes::synthetic(100, 3));

fuzz_target!(|host: &str| {
    let hit = ROUTES.hit(host);
    let name = host.rsplit_once(':').map_or(host, |(n, _)| n).trim_end_matches('.').to_ascii_lowercase();
    assert!(!hit || name.ends_with(".apps.test"), "{host} resolved");
});
