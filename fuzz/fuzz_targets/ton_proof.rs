//! The TON Connect proof checker on untrusted input: a wallet's stateInit (any bytes, as the
//! edge receives them base64-encoded) and a whole `{account, proof}` pair as JSON. Neither
//! may panic, abort or allocate without bound; a proof may only verify if it is valid, which
//! random bytes never are.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use tmahost_types::ton::{Account, Expected, Proof, read_state_init, verify};

fuzz_target!(|data: &[u8]| {
    let _ = read_state_init(&STANDARD.encode(data), 0);
    if let Ok((account, proof)) = serde_json::from_slice::<(Account, Proof)>(data) {
        let at = Expected { domain: "app.example.com", now: 1_800_000_000 };
        assert!(verify(&account, &proof, at).is_err(), "random input verified");
    }
});
