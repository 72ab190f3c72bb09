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
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonlib_core::TonAddress;
use tonlib_core::cell::{ArcCell, BagOfCells, Cell};
use tonlib_core::tlb_types::block::state_init::StateInit;
use tonlib_core::tlb_types::tlb::TLB;
use tonlib_core::wallet::version_helper::VersionHelper;
use tonlib_core::wallet::versioned::v3::WalletDataV3;
use tonlib_core::wallet::versioned::v4::WalletDataV4;
use tonlib_core::wallet::versioned::v5::WalletDataV5;
use tonlib_core::wallet::wallet_version::WalletVersion;

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

/// A recognised wallet's stateInit: its contract, key and address.
#[derive(Debug)]
pub struct StateInitWallet {
    pub version: WalletVersion,
    pub public_key: [u8; 32],
    pub address: TonAddress,
}

/// Reads a base64 stateInit BoC: one root cell, code of a recognised wallet contract, data laid
/// out as that contract's, and the address it derives on `workchain`.
pub fn read_state_init(base64: &str, workchain: i32) -> Result<StateInitWallet, ProofError> {
    if base64.len() > MAX_STATE_INIT_BYTES * 4 / 3 + 4 {
        return Err(ProofError::StateInit("too large".into()));
    }
    let boc = STANDARD.decode(base64.trim()).map_err(|_| ProofError::StateInit("not base64".into()))?;
    let root = parse_boc(&boc)?;
    let state: StateInit = StateInit::from_cell(&root).map_err(|e| ProofError::StateInit(short(&e)))?;
    let (Some(code), Some(data)) = (state.code, state.data) else {
        return Err(ProofError::StateInit("no code or no data".into()));
    };
    let version = *VersionHelper::get_version(&Cell::cell_hash(&code.0)).map_err(|_| ProofError::UnknownWallet)?;
    let key = match version {
        WalletVersion::V3R1 | WalletVersion::V3R2 => WalletDataV3::from_cell(&data.0).map(|d| d.public_key),
        WalletVersion::V4R2 => WalletDataV4::from_cell(&data.0).map(|d| d.public_key),
        WalletVersion::V5R1 => WalletDataV5::from_cell(&data.0).map(|d| d.public_key),
        _ => return Err(ProofError::UnknownWallet),
    }
    .map_err(|e| ProofError::StateInit(short(&e)))?;
    let public_key = <[u8; 32]>::try_from(key.as_slice()).map_err(|_| ProofError::StateInit("key size".into()))?;
    // The address is the hash of the stateInit cell as sent, not of a re-encoding of it.
    Ok(StateInitWallet { version, public_key, address: TonAddress::new(workchain, Cell::cell_hash(&root)) })
}

/// One root cell from a BoC: its layout checked here, then parsed by tonlib-core.
fn parse_boc(boc: &[u8]) -> Result<ArcCell, ProofError> {
    check_boc(boc).map_err(|what| ProofError::StateInit(format!("bag of cells: {what}")))?;
    // Belt and braces: the layout check covers the panics fuzzing found; should the
    // dependency's parser still panic on some input, that is a refusal, not a dead worker.
    let parsed = std::panic::catch_unwind(|| BagOfCells::parse(boc).and_then(BagOfCells::single_root));
    match parsed {
        Ok(Ok(root)) => Ok(root),
        Ok(Err(e)) => Err(ProofError::StateInit(short(&e))),
        Err(_) => Err(ProofError::StateInit("unreadable bag of cells".into())),
    }
}

/// Checks a bag of cells' layout (the `serialized_boc#b5ee9c72` TL-B) before tonlib-core
/// parses it, because that parser trusts the header: it reserves memory for as many cells as
/// the header claims (4 billion would abort the process) and indexes by reference numbers
/// unchecked (one past the last cell panics). Wallet stateInits are one root of ordinary
/// cells without stored hashes; anything else is refused here.
fn check_boc(b: &[u8]) -> Result<(), &'static str> {
    struct Bytes<'a>(&'a [u8]);
    impl Bytes<'_> {
        fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
            if n > self.0.len() {
                return Err("truncated");
            }
            let (head, rest) = self.0.split_at(n);
            self.0 = rest;
            Ok(head)
        }
        fn uint(&mut self, n: usize) -> Result<usize, &'static str> {
            Ok(self.take(n)?.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b)))
        }
    }
    let mut r = Bytes(b);
    if r.take(4)? != [0xb5, 0xee, 0x9c, 0x72] {
        return Err("not a generic bag of cells");
    }
    let flags = r.uint(1)?;
    let (has_index, has_crc) = (flags & 0x80 != 0, flags & 0x40 != 0);
    let size = flags & 0x07;
    let offset = r.uint(1)?;
    if !(1..=4).contains(&size) || !(1..=8).contains(&offset) {
        return Err("bad field sizes");
    }
    let (cells, roots, absent) = (r.uint(size)?, r.uint(size)?, r.uint(size)?);
    r.take(offset)?;
    // Every cell takes at least two bytes: more cells than that cannot be there.
    if cells == 0 || cells > b.len() / 2 || roots != 1 || absent != 0 {
        return Err("bad counts");
    }
    if r.uint(size)? >= cells {
        return Err("root out of range");
    }
    if has_index {
        r.take(cells * offset)?;
    }
    for i in 0..cells {
        let (d1, d2) = (r.uint(1)?, r.uint(1)?);
        // d1: references (3 bits), exotic, stored hashes, level (3 bits).
        if d1 & 0b1111_1000 != 0 {
            return Err("exotic cells, stored hashes or levels");
        }
        if d1 > 4 {
            return Err("more than four references");
        }
        r.take(d2.div_ceil(2))?;
        for _ in 0..d1 {
            // References point forward, inside the bag (what the parser then indexes by).
            let to = r.uint(size)?;
            if to <= i || to >= cells {
                return Err("reference out of range");
            }
        }
    }
    if has_crc {
        r.take(4)?;
    }
    if !r.0.is_empty() {
        return Err("trailing bytes");
    }
    Ok(())
}

fn short(e: &impl std::fmt::Display) -> String {
    e.to_string().chars().take(120).collect()
}

fn version_name(v: WalletVersion) -> &'static str {
    match v {
        WalletVersion::V3R1 => "v3r1",
        WalletVersion::V3R2 => "v3r2",
        WalletVersion::V4R2 => "v4r2",
        WalletVersion::V5R1 => "v5r1",
        _ => "other",
    }
}

/// Issues and checks payloads: `base64url(nonce ‖ expiry ‖ mac)`, the MAC binding them to one
/// session, so an edge needs no state to issue one and any edge can check it.
#[derive(Clone)]
pub struct PayloadKey(Vec<u8>);

impl std::fmt::Debug for PayloadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayloadKey(redacted)")
    }
}

/// A payload that checked out: its nonce (what a use is recorded under) and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub nonce: String,
    pub expires_at: i64,
}

impl PayloadKey {
    pub fn new(key: &[u8]) -> Self {
        Self(key.to_vec())
    }

    fn mac(&self, sid: &str, nonce: &[u8], expires: i64) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"ton-proof-payload/");
        mac.update(sid.as_bytes());
        mac.update(b"/");
        mac.update(nonce);
        mac.update(&expires.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// A fresh payload for session `sid`, valid for [`PAYLOAD_TTL_SECS`].
    pub fn issue(&self, sid: &str, now: i64) -> (String, i64) {
        let nonce: [u8; 16] = rand::random();
        let expires = now + PAYLOAD_TTL_SECS;
        let mut raw = Vec::with_capacity(40);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&expires.to_be_bytes());
        raw.extend_from_slice(&self.mac(sid, &nonce, expires));
        (URL_SAFE_NO_PAD.encode(raw), expires)
    }

    /// The payload, if this key issued it to `sid` and it has not expired (whether it was used
    /// already is for the caller to record).
    pub fn check(&self, payload: &str, sid: &str, now: i64) -> Result<Payload, ProofError> {
        let raw = URL_SAFE_NO_PAD.decode(payload).map_err(|_| ProofError::Payload)?;
        if raw.len() != 40 {
            return Err(ProofError::Payload);
        }
        let (nonce, rest) = raw.split_at(16);
        let (expires, mac) = rest.split_at(8);
        let expires = i64::from_be_bytes(expires.try_into().map_err(|_| ProofError::Payload)?);
        let good: bool = subtle::ConstantTimeEq::ct_eq(mac, &self.mac(sid, nonce, expires)[..]).into();
        if !good || expires <= now {
            return Err(ProofError::Payload);
        }
        Ok(Payload { nonce: hex::encode(nonce), expires_at: expires })
    }
}

/// Wallets for tests (ours and the end-to-end suites'): a key, the stateInit its contract
/// version deploys with (built by tonlib-core, as wallet apps build it), and proofs signed as a
/// wallet signs them.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use ed25519_dalek::{Signer, SigningKey};
    use tonlib_core::wallet::mnemonic::KeyPair;
    use tonlib_core::wallet::ton_wallet::TonWallet;

    use super::*;

    pub use tonlib_core::wallet::wallet_version::WalletVersion;

    #[derive(Debug)]
    pub struct TestWallet {
        pub key: SigningKey,
        pub address: TonAddress,
        pub state_init: String,
    }

    impl TestWallet {
        /// The wallet of `version` for the key made from `seed`.
        pub fn new(version: WalletVersion, seed: u8) -> Self {
            let key = SigningKey::from_bytes(&[seed; 32]);
            let public = key.verifying_key().to_bytes().to_vec();
            let mut secret = key.to_bytes().to_vec();
            secret.extend_from_slice(&public);
            let made = TonWallet::new(version, KeyPair { public_key: public, secret_key: secret }).expect("wallet");
            let data = VersionHelper::get_data(version, &made.key_pair, made.wallet_id).expect("data").to_arc();
            let code = VersionHelper::get_code(version).expect("code").clone();
            let state_init = StateInit::new(code, data).to_boc_b64(false).expect("boc");
            Self { key, address: made.address, state_init }
        }

        /// `wallet.account`, on mainnet.
        pub fn account(&self) -> Account {
            Account {
                address: self.address.to_hex(),
                chain: "-239".into(),
                wallet_state_init: self.state_init.clone(),
                public_key: Some(hex::encode(self.key.verifying_key().to_bytes())),
            }
        }

        /// The proof this wallet sends for `payload` to the dapp at `domain`, at `timestamp`.
        pub fn prove(&self, domain: &str, timestamp: u64, payload: &str) -> Proof {
            let mut proof = Proof {
                timestamp,
                domain: Domain { length_bytes: domain.len() as u32, value: domain.into() },
                signature: String::new(),
                payload: payload.into(),
            };
            let digest = signed_digest(&self.address, &proof);
            proof.signature = STANDARD.encode(self.key.sign(&digest).to_bytes());
            proof
        }
    }
}

#[cfg(test)]
mod tests {
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
