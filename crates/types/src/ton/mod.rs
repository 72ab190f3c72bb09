//! TON Connect done by the platform: the wallet-ownership proof (`ton_proof`) a wallet signs
//! when it connects, verified offline from the wallet's own `walletStateInit` (no node asked),
//! and the session-bound, expiring payloads it signs. Which payloads were used already is the
//! caller's business (a database row each, so one proof counts once on any edge).
//!
//! The check follows the TON Connect spec: the message `ton-proof-item-v2/` ‖ workchain (i32
//! BE) ‖ address hash ‖ domain length (u32 LE) ‖ domain ‖ timestamp (u64 LE) ‖ payload, then
//! Ed25519 over `sha256(0xffff ‖ "ton-connect" ‖ sha256(message))`, with the public key read
//! from the stateInit's data as its wallet contract (recognised by code hash) lays it out, and
//! the address derived from that stateInit equal to the one claimed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonlib_core::TonAddress;

mod payload;
mod state_init;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use payload::{Payload, PayloadKey};
use state_init::version_name;
pub use state_init::{StateInitWallet, read_state_init};

/// How long a payload may be signed and sent back, and how old a proof's timestamp may be.
pub const PAYLOAD_TTL_SECS: i64 = 15 * 60;
/// A wallet's clock ahead of ours by at most this much still counts.
const CLOCK_SKEW_SECS: i64 = 60;
/// Wallet stateInits are about 1 KB (v4r2's code is the largest recognised); anything far
/// larger is not one of them and is refused before parsing.
pub const MAX_STATE_INIT_BYTES: usize = 4 * 1024;
const MAX_DOMAIN_BYTES: usize = 253;
const MAX_PAYLOAD_CHARS: usize = 512;

/// Why a proof does not count; each names what the wallet or the app got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the proof is malformed: {0}")]
    Malformed(&'static str),
    #[error("`{0}` is not a TON Connect chain (-239 mainnet, -3 testnet)")]
    UnknownNetwork(String),
    #[error("the wallet's stateInit cannot be read: {0}")]
    StateInit(String),
    #[error("the wallet's contract is not one the platform can check offline (v3r1, v3r2, v4r2, v5r1)")]
    UnknownWallet,
    #[error("the address is not the one the wallet's stateInit derives")]
    AddressMismatch,
    #[error("the proof was made for `{0}`, not for this app's host")]
    DomainMismatch(String),
    #[error("the proof's timestamp is outside the accepted window")]
    Timestamp,
    #[error("the signature does not verify with the wallet's key")]
    Signature,
    #[error("the payload was not issued to this session, or has expired")]
    Payload,
}

/// `wallet.account` as TON Connect UI returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Raw form, `0:<64 hex>`.
    pub address: String,
    /// `-239` (mainnet) or `-3` (testnet).
    pub chain: String,
    /// Base64 BoC of the wallet's StateInit.
    pub wallet_state_init: String,
    /// What the wallet says its key is; never trusted (the key comes from the stateInit).
    #[serde(default)]
    pub public_key: Option<String>,
}

/// `wallet.connectItems.tonProof.proof`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proof {
    pub timestamp: u64,
    pub domain: Domain,
    /// Base64 Ed25519 signature.
    pub signature: String,
    pub payload: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    pub length_bytes: u32,
    pub value: String,
}

/// The wallet a proof showed the user controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    /// `0:<hex>`.
    pub address: String,
    /// User-friendly form (non-bounceable, as wallets show their own address; testnet flag
    /// on testnet).
    pub friendly: String,
    /// `mainnet` or `testnet`.
    pub network: String,
    /// The wallet contract, e.g. `v4r2`.
    pub version: String,
}

/// What a proof must match besides its own consistency.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The app host the session belongs to (no port).
    pub domain: &'a str,
    /// Unix seconds.
    pub now: i64,
}

/// Checks a proof (not its payload: see [`PayloadKey`]) and names the wallet.
pub fn verify(account: &Account, proof: &Proof, expected: Expected<'_>) -> Result<Wallet, ProofError> {
    let testnet = match account.chain.as_str() {
        "-239" => false,
        "-3" => true,
        other => return Err(ProofError::UnknownNetwork(other.chars().take(16).collect())),
    };
    let claimed = TonAddress::from_hex_str(&account.address).map_err(|_| ProofError::Malformed("address"))?;
    if proof.domain.value.len() > MAX_DOMAIN_BYTES || proof.domain.length_bytes as usize != proof.domain.value.len() {
        return Err(ProofError::Malformed("domain"));
    }
    if proof.payload.len() > MAX_PAYLOAD_CHARS {
        return Err(ProofError::Malformed("payload"));
    }
    if !proof.domain.value.eq_ignore_ascii_case(expected.domain) {
        return Err(ProofError::DomainMismatch(proof.domain.value.chars().take(64).collect()));
    }
    let at = i64::try_from(proof.timestamp).map_err(|_| ProofError::Timestamp)?;
    if at < expected.now - PAYLOAD_TTL_SECS || at > expected.now + CLOCK_SKEW_SECS {
        return Err(ProofError::Timestamp);
    }

    let wallet = read_state_init(&account.wallet_state_init, claimed.workchain)?;
    if wallet.address != claimed {
        return Err(ProofError::AddressMismatch);
    }
    let signature = STANDARD
        .decode(proof.signature.trim())
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or(ProofError::Malformed("signature"))?;
    let key = VerifyingKey::from_bytes(&wallet.public_key).map_err(|_| ProofError::Signature)?;
    key.verify_strict(&signed_digest(&claimed, proof), &signature).map_err(|_| ProofError::Signature)?;

    Ok(Wallet {
        address: claimed.to_hex(),
        friendly: claimed.to_base64_url_flags(true, testnet),
        network: if testnet { "testnet" } else { "mainnet" }.to_owned(),
        version: version_name(wallet.version).to_owned(),
    })
}

/// `sha256(0xffff ‖ "ton-connect" ‖ sha256(message))`, what the wallet's key signed.
fn signed_digest(address: &TonAddress, proof: &Proof) -> [u8; 32] {
    let mut message = Sha256::new();
    message.update(b"ton-proof-item-v2/");
    message.update(address.workchain.to_be_bytes());
    message.update(address.hash_part.as_slice());
    message.update(proof.domain.length_bytes.to_le_bytes());
    message.update(proof.domain.value.as_bytes());
    message.update(proof.timestamp.to_le_bytes());
    message.update(proof.payload.as_bytes());
    let mut full = Sha256::new();
    full.update([0xff, 0xff]);
    full.update(b"ton-connect");
    full.update(message.finalize());
    full.finalize().into()
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use tonlib_core::cell::{BagOfCells, Cell};
    use tonlib_core::tlb_types::block::state_init::StateInit;
    use tonlib_core::tlb_types::tlb::TLB;
    use tonlib_core::wallet::wallet_version::WalletVersion;

    use super::state_init::check_boc;
    use super::testing::TestWallet;
    use super::*;

    const DOMAIN: &str = "shop--demo-bot.apps.example.com";
    const NOW: i64 = 1_800_000_000;

    fn wallet(version: WalletVersion, seed: u8) -> TestWallet {
        TestWallet::new(version, seed)
    }

    fn signed(w: &TestWallet, domain: &str, timestamp: u64, payload: &str) -> (Account, Proof) {
        (w.account(), w.prove(domain, timestamp, payload))
    }

    fn expected() -> Expected<'static> {
        Expected { domain: DOMAIN, now: NOW }
    }

    #[test]
    fn wallets_of_each_recognised_version_prove_their_address() {
        for (version, name) in [
            (WalletVersion::V3R1, "v3r1"),
            (WalletVersion::V3R2, "v3r2"),
            (WalletVersion::V4R2, "v4r2"),
            (WalletVersion::V5R1, "v5r1"),
        ] {
            let w = wallet(version, 7);
            let (account, proof) = signed(&w, DOMAIN, NOW as u64, "payload-1");
            let got = verify(&account, &proof, expected()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.address, w.address.to_hex());
            assert_eq!((got.version.as_str(), got.network.as_str()), (name, "mainnet"));
            assert!(got.friendly.starts_with("UQ"), "non-bounceable mainnet form: {}", got.friendly);
        }
    }

    /// A proof a real v4r2 wallet made for a dapp at ab328c6h7.duckdns.org (published in a
    /// project's test suite; found through public code search).
    #[test]
    fn a_published_proof_from_a_real_wallet_verifies() {
        let account = Account {
            address: "0:f4355c5607b5a36e4462c9f8a9cbb9db0bf1ec9b8fc25987ecacc046eec3b770".into(),
            chain: "-239".into(),
            wallet_state_init: PUBLISHED_STATE_INIT.into(),
            public_key: Some("4f16b3d0e1bf086af95da8e8500638797837f48c0621b7e3d1791e65ab043fc3".into()),
        };
        let proof = Proof {
            timestamp: 1_735_327_997,
            domain: Domain { length_bytes: 21, value: "ab328c6h7.duckdns.org".into() },
            signature: "i3E881kKct4p0NIij+WvHvjLPkS3wJ4qkplXz3SIghCmlpO+Ocatnf7ipMEW1LIzo8Kp77dDzwjN8rrjwYb6Ag=="
                .into(),
            payload: PUBLISHED_PAYLOAD.into(),
        };
        let at = Expected { domain: "ab328c6h7.duckdns.org", now: 1_735_328_000 };
        let got = verify(&account, &proof, at).expect("the published proof verifies");
        assert_eq!(got.version, "v4r2");
        let key = read_state_init(PUBLISHED_STATE_INIT, 0).expect("stateInit").public_key;
        assert_eq!(hex::encode(key), "4f16b3d0e1bf086af95da8e8500638797837f48c0621b7e3d1791e65ab043fc3");
        // Its signature covers its payload: one character off and it fails.
        let mut changed = proof.clone();
        changed.payload.replace_range(0..1, "f");
        assert_eq!(verify(&account, &changed, at), Err(ProofError::Signature));
    }

    #[test]
    fn classic_mutants_fail() {
        let w = wallet(WalletVersion::V4R2, 7);
        let other = wallet(WalletVersion::V4R2, 8);
        let v5 = wallet(WalletVersion::V5R1, 7);
        let (account, proof) = signed(&w, DOMAIN, NOW as u64, "payload-1");
        let check = |account: &Account, proof: &Proof| verify(account, proof, expected());

        // Another domain, signed as such: not this app's host.
        let (a, p) = signed(&w, "evil--other-bot.apps.example.com", NOW as u64, "payload-1");
        assert!(matches!(check(&a, &p), Err(ProofError::DomainMismatch(_))));
        // The domain changed after signing (and its length with it).
        let mut p = proof.clone();
        p.domain = Domain { length_bytes: 7, value: "a.b.com".into() };
        assert!(matches!(check(&account, &p), Err(ProofError::DomainMismatch(_))));
        // A length that does not match the value.
        let mut p = proof.clone();
        p.domain.length_bytes += 1;
        assert_eq!(check(&account, &p), Err(ProofError::Malformed("domain")));
        // Timestamp one second either way: the signature covers it.
        for t in [NOW as u64 - 1, NOW as u64 + 1] {
            let mut p = proof.clone();
            p.timestamp = t;
            assert_eq!(check(&account, &p), Err(ProofError::Signature), "timestamp {t}");
        }
        // Signed too long ago, or in the future: outside the window, however well signed.
        for t in [NOW - PAYLOAD_TTL_SECS - 1, NOW + CLOCK_SKEW_SECS + 1] {
            let (a, p) = signed(&w, DOMAIN, t as u64, "payload-1");
            assert_eq!(check(&a, &p), Err(ProofError::Timestamp), "timestamp {t}");
        }
        // The payload changed.
        let mut p = proof.clone();
        p.payload = "payload-2".into();
        assert_eq!(check(&account, &p), Err(ProofError::Signature));
        // Another stateInit than the address's (the other key's wallet): the address it
        // derives is not the one claimed.
        let mut a = account.clone();
        a.wallet_state_init = other.state_init.clone();
        assert_eq!(check(&a, &proof), Err(ProofError::AddressMismatch));
        // The same key's v5r1 wallet: another address too.
        let mut a = account.clone();
        a.wallet_state_init = v5.state_init.clone();
        assert_eq!(check(&a, &proof), Err(ProofError::AddressMismatch));
        // The other wallet's address and stateInit, with this key's signature.
        let (mut a, _) = signed(&other, DOMAIN, NOW as u64, "payload-1");
        a.public_key = Some(hex::encode(w.key.verifying_key().to_bytes()));
        assert_eq!(check(&a, &proof), Err(ProofError::Signature), "the claimed public key is never used");
        // Another workchain for the same hash: the stateInit derives it there too, but the
        // wallet signed for workchain 0.
        let mut a = account.clone();
        a.address = a.address.replacen("0:", "-1:", 1);
        assert_eq!(check(&a, &proof), Err(ProofError::Signature));
        // An unknown chain.
        let mut a = account.clone();
        a.chain = "-1".into();
        assert!(matches!(check(&a, &proof), Err(ProofError::UnknownNetwork(_))));
        // An unknown wallet contract: any code cell that is not a recognised wallet's.
        let mut a = account.clone();
        let mut code = tonlib_core::cell::CellBuilder::new();
        code.store_u32(32, 0xdead_beef).expect("bits");
        let unknown = StateInit::new(code.build().expect("cell").to_arc(), Cell::default().to_arc());
        a.address = TonAddress::new(0, unknown.cell_hash().expect("hash")).to_hex();
        a.wallet_state_init = unknown.to_boc_b64(false).expect("boc");
        assert_eq!(check(&a, &proof), Err(ProofError::UnknownWallet));
        // Garbage where the stateInit goes.
        let mut a = account.clone();
        a.wallet_state_init = STANDARD.encode(b"\xb5\xee\x9c\x72 not a bag of cells");
        assert!(matches!(check(&a, &proof), Err(ProofError::StateInit(_))));
        // A signature that is not one.
        let mut p = proof.clone();
        p.signature = "AAAA".into();
        assert_eq!(check(&account, &p), Err(ProofError::Malformed("signature")));
        // And the untouched proof still passes (the mutants failed for their own reasons).
        assert!(check(&account, &proof).is_ok());
    }

    #[test]
    fn payloads_are_bound_to_their_session_and_expire() {
        let key = PayloadKey::new(b"k1");
        let (payload, expires) = key.issue("sid-a", NOW);
        assert_eq!(expires, NOW + PAYLOAD_TTL_SECS);
        let ok = key.check(&payload, "sid-a", NOW + 10).expect("valid");
        assert_eq!(ok.expires_at, expires);
        assert_eq!(key.check(&payload, "sid-b", NOW), Err(ProofError::Payload), "another session's");
        assert_eq!(PayloadKey::new(b"k2").check(&payload, "sid-a", NOW), Err(ProofError::Payload), "another key's");
        assert_eq!(key.check(&payload, "sid-a", expires), Err(ProofError::Payload), "expired");
        let mut forged = URL_SAFE_NO_PAD.decode(&payload).expect("b64");
        forged[20] ^= 1; // a later expiry
        assert_eq!(key.check(&URL_SAFE_NO_PAD.encode(forged), "sid-a", NOW), Err(ProofError::Payload));
        assert_eq!(key.check("not-a-payload", "sid-a", NOW), Err(ProofError::Payload));
        assert_ne!(key.issue("sid-a", NOW).0, payload, "a fresh nonce each time");
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_state_init_reader() {
        // Mutations of real stateInits (every byte flipped in turn, truncations) and random
        // bytes: each is refused or read, never a panic.
        let real = STANDARD.decode(wallet(WalletVersion::V4R2, 3).state_init).expect("b64");
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for i in 0..real.len() {
            for bit in [0x01u8, 0x80] {
                let mut m = real.clone();
                m[i] ^= bit;
                inputs.push(m);
            }
            inputs.push(real[..i].to_vec());
        }
        for _ in 0..2000 {
            let len = rand::random_range(0..256);
            let mut m: Vec<u8> = (0..len).map(|_| rand::random()).collect();
            if len > 4 {
                m[..4].copy_from_slice(&[0xb5, 0xee, 0x9c, 0x72]);
            }
            inputs.push(m);
        }
        // Straight to the dependency's parser (no catch_unwind) whenever the layout check
        // passes: the check alone keeps it from panicking.
        for m in inputs {
            if check_boc(&m).is_ok() {
                let _ = BagOfCells::parse(&m).and_then(BagOfCells::single_root);
            }
            let _ = read_state_init(&STANDARD.encode(&m), 0);
        }
    }

    #[test]
    fn headers_claiming_more_than_is_there_are_refused_before_parsing() {
        // 4 billion cells, one root: tonlib-core would try to reserve memory for them all.
        let mut huge = vec![0xb5, 0xee, 0x9c, 0x72, 0x04, 0x01];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        huge.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x10, 0, 0, 0, 0]);
        assert_eq!(check_boc(&huge), Err("bad counts"));
        // Two cells, the first referring to cell 7.
        let far = [0xb5, 0xee, 0x9c, 0x72, 0x01, 0x01, 2, 1, 0, 4, 0, 0x01, 0x00, 7, 0x00, 0x00];
        assert_eq!(check_boc(&far), Err("reference out of range"));
        // Every real wallet stateInit passes.
        for version in [WalletVersion::V3R1, WalletVersion::V3R2, WalletVersion::V4R2, WalletVersion::V5R1] {
            let boc = STANDARD.decode(wallet(version, 1).state_init).expect("b64");
            assert_eq!(check_boc(&boc), Ok(()), "{version:?}");
        }
        assert_eq!(check_boc(&STANDARD.decode(PUBLISHED_STATE_INIT).expect("b64")), Ok(()));
    }

    const PUBLISHED_PAYLOAD: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhMTA4ODk5Yi0yYzgxLTQ0ZTctODkxYy1jN2E1ZGFjNzZjYWMiLCJleHAiOjE3MzUzMzkzNjIsImlzcyI6IndpcGktYmFjayIsImF1ZCI6IndpcGktZnJvbnQifQ.TVtg5KbHIDBWWQGSewrBYHbgW9ygvZWDYdTBRJ6j000";
    const PUBLISHED_STATE_INIT: &str = "te6cckECFgEAAwQAAgE0AREBFP8A9KQT9LzyyAsCAgEgCAME+PKDCNcYINMf0x/THwL4I7vyZO1E0NMf0x/T//QE0VFDuvKhUVG68qIF+QFUEGT5EPKj+AAkpMjLH1JAyx9SMMv/UhD0AMntVPgPAdMHIcAAn2xRkyDXSpbTB9QC+wDoMOAhwAHjACHAAuMAAcADkTDjDQOkyMsfEssfy/8GBwUEAAr0AMntVABsgQEI1xj6ANM/MFIkgQEI9Fnyp4IQZHN0cnB0gBjIywXLAlAFzxZQA/oCE8tqyx8Syz/Jc/sAAG7SB/oA1NQi+QAFyMoHFcv/ydB3dIAYyMsFywIizxZQBfoCFMtrEszMyXP7AMhAFIEBCPRR8qcCAHCBAQjXGPoA0z/IVCBHgQEI9FHyp4IQbm90ZXB0gBjIywXLAlAGzxZQBPoCFMtqEssfyz/Jc/sAAgIBSA0JAgEgChUCASAMCwARuMl+1E0NcLH4AgFYEBIC5tAB0NMDIXGwkl8E4CLXScEgkl8E4ALTHyGCEHBsdWe9IoIQZHN0cr2wkl8F4AP6QDAg+kQByMoHy//J0O1E0IEBQNch9AQwXIEBCPQKb6Exs5JfB+AF0z/IJYIQcGx1Z7qSODDjDQOCEGRzdHK6kl8G4w0PDgCKUASBAQj0WTDtRNCBAUDXIMgBzxb0AMntVAFysI4jghBkc3Rygx6xcIAYUAXLBVADzxYj+gITy2rLH8s/yYBA+wCSXwPiAHgB+gD0BDD4J28iMFAKoSG+8uBQghBwbHVngx6xcIAYUATLBSbPFlj6Ahn0AMtpF8sfUmDLPyDJgED7AAYAPbKd+1E0IEBQNch9AQwAsjKB8v/ydABgQEI9ApvoTGAAUQAAAAApqaMXTxaz0OG/CGr5XajoUAY4eXg39IwGIbfj0XkeZasEP8NAAgEgFBMAGa8d9qJoQBBrkOuFj8AAGa3OdqJoQCBrkOuF/8AAWb0kK29qJoQICga5D6AhhHDUCAhHpJN9KZEM5pA+n/mDeBKAG3gQFImHFZ8xhKOjwYk=";
}
