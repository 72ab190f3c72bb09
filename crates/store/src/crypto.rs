//! The master key: loaded from configuration or generated once into `{data_dir}/master.key`.
//!
//! Purpose-specific keys are derived from it with HMAC-SHA256, so the AES key that encrypts
//! bot tokens is never the same bytes as the key that signs API tokens. Every purpose is a
//! [`KeyPurpose`], listed once: no free string can give two features one key.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::StoreError;

const NONCE_LEN: usize = 12;

/// Bytes that must not be printed; `Debug` shows only their length.
#[derive(Clone)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// What a derived key is for. Each purpose's label is part of data the platform has handed
/// out or stored (encrypted bot tokens, DNS proofs, public identity keys, cookies): a label
/// never changes, and a new purpose gets a new label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose<'a> {
    /// AES-256-GCM of bot tokens at rest.
    BotTokenEncryption,
    /// API tokens (HS256).
    ApiTokenSigning,
    /// Dashboard session cookies (HS256).
    DashboardSession,
    /// The dashboard's CSRF tokens.
    DashboardCsrf,
    /// Edge session cookies (HS256).
    EdgeSessionSigning,
    /// The edge's loop mark in `Via` on forwarded requests.
    EdgeHopMark,
    /// The control bot's webhook secret.
    ControlBotWebhook,
    /// The Ed25519 key that signs dev links' launch data.
    DevLinkSigning,
    /// TON Connect proof payloads.
    TonProofPayload,
    /// The Ed25519 key of `Tma-Identity` version N.
    IdentitySigning(u32),
    /// The DNS TXT proof of one app's custom domain.
    CustomDomainProof(&'a str),
}

impl KeyPurpose<'_> {
    fn label(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::BotTokenEncryption => "bot-token-encryption".into(),
            Self::ApiTokenSigning => "api-token-signing".into(),
            Self::DashboardSession => "dashboard-session".into(),
            Self::DashboardCsrf => "dashboard-csrf".into(),
            Self::EdgeSessionSigning => "edge-session-signing".into(),
            Self::EdgeHopMark => "edge-hop-mark".into(),
            Self::ControlBotWebhook => "control-bot-webhook".into(),
            Self::DevLinkSigning => "dev-link-ed25519".into(),
            Self::TonProofPayload => "ton-proof-payload".into(),
            Self::IdentitySigning(version) => format!("identity-ed25519-v{version}").into(),
            Self::CustomDomainProof(app_id) => format!("custom-domain-proof/{app_id}").into(),
        }
    }
}

/// 32 random bytes from which every other platform secret is derived.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Parses 64 hex characters or standard/url-safe base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| StoreError::MasterKey(e.to_string()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| StoreError::MasterKey("expected 64 hex characters or base64 of 32 bytes".into()))?
        };
        let arr: [u8; 32] =
            bytes.try_into().map_err(|_| StoreError::MasterKey("the key must be exactly 32 bytes".into()))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(k.as_mut());
        Self(k)
    }

    /// Reads `path`, or creates it with a fresh key (mode 0600, never overwritten).
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                check_permissions(path)?;
                Self::parse(&text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts
                    .open(path)
                    .map_err(|e| StoreError::MasterKey(format!("cannot create {}: {e}", path.display())))?;
                let encoded = Zeroizing::new(hex::encode(key.0.as_ref()));
                f.write_all(encoded.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| StoreError::MasterKey(format!("cannot write {}: {e}", path.display())))?;
                Ok(key)
            }
            Err(e) => Err(StoreError::MasterKey(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Writes the key to a new file at `path` (mode 0600) as `load_or_create` reads it; an
    /// existing file is never overwritten.
    pub fn save_new(&self, path: &Path) -> Result<(), StoreError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let encoded = Zeroizing::new(hex::encode(self.0.as_ref()));
        opts.open(path)
            .and_then(|mut f| f.write_all(encoded.as_bytes()).and_then(|_| f.sync_all()))
            .map_err(|e| StoreError::MasterKey(format!("cannot write {}: {e}", path.display())))
    }

    /// Whether two keys are the same, in constant time.
    pub fn same_as(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_ref(), other.0.as_ref()).into()
    }

    /// The 32-byte key for `purpose`.
    pub fn derive(&self, purpose: KeyPurpose<'_>) -> SecretBytes {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref()).expect("HMAC takes any key length");
        mac.update(b"tmahost/v1/");
        mac.update(purpose.label().as_bytes());
        SecretBytes::new(mac.finalize().into_bytes().to_vec())
    }

    /// AES-256-GCM with a random nonce; `aad` binds the ciphertext to its row (e.g. the bot id),
    /// so a ciphertext copied onto another row does not decrypt.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = self.derive(KeyPurpose::BotTokenEncryption);
        let cipher = Aes256Gcm::new_from_slice(key.expose()).expect("derived key is 32 bytes");
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption of in-memory data cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn decrypt(&self, data: &[u8], aad: &[u8]) -> Result<SecretBytes, StoreError> {
        if data.len() < NONCE_LEN {
            return Err(StoreError::Decrypt);
        }
        let key = self.derive(KeyPurpose::BotTokenEncryption);
        let cipher = Aes256Gcm::new_from_slice(key.expose()).expect("derived key is 32 bytes");
        let (nonce, ct) = data.split_at(NONCE_LEN);
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map(SecretBytes::new)
            .map_err(|_| StoreError::Decrypt)
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_err(|e| StoreError::MasterKey(e.to_string()))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(StoreError::MasterKey(format!(
            "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertexts_round_trip_and_are_bound_to_their_row() {
        let k = MasterKey::generate();
        let ct = k.encrypt(b"123:secret", b"123");
        assert!(!ct.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.decrypt(&ct, b"123").expect("decrypts").expose(), b"123:secret");
        assert!(matches!(k.decrypt(&ct, b"124"), Err(StoreError::Decrypt)));
        assert!(matches!(MasterKey::generate().decrypt(&ct, b"123"), Err(StoreError::Decrypt)));
    }

    /// Every purpose, the parameterised ones with two parameters each. `variant` makes a new
    /// purpose fail to compile here, and the check below fails until the list names it.
    fn every_purpose() -> Vec<KeyPurpose<'static>> {
        fn variant(p: &KeyPurpose<'_>) -> usize {
            match p {
                KeyPurpose::BotTokenEncryption => 0,
                KeyPurpose::ApiTokenSigning => 1,
                KeyPurpose::DashboardSession => 2,
                KeyPurpose::DashboardCsrf => 3,
                KeyPurpose::EdgeSessionSigning => 4,
                KeyPurpose::EdgeHopMark => 5,
                KeyPurpose::ControlBotWebhook => 6,
                KeyPurpose::DevLinkSigning => 7,
                KeyPurpose::TonProofPayload => 8,
                KeyPurpose::IdentitySigning(_) => 9,
                KeyPurpose::CustomDomainProof(_) => 10,
            }
        }
        const VARIANTS: usize = 11;
        let all = vec![
            KeyPurpose::BotTokenEncryption,
            KeyPurpose::ApiTokenSigning,
            KeyPurpose::DashboardSession,
            KeyPurpose::DashboardCsrf,
            KeyPurpose::EdgeSessionSigning,
            KeyPurpose::EdgeHopMark,
            KeyPurpose::ControlBotWebhook,
            KeyPurpose::DevLinkSigning,
            KeyPurpose::TonProofPayload,
            KeyPurpose::IdentitySigning(1),
            KeyPurpose::IdentitySigning(2),
            KeyPurpose::CustomDomainProof("0190a6b2-app-a"),
            KeyPurpose::CustomDomainProof("0190a6b2-app-b"),
        ];
        let named: std::collections::HashSet<usize> = all.iter().map(variant).collect();
        assert_eq!(named, (0..VARIANTS).collect(), "every purpose is in the list");
        all
    }

    #[test]
    fn every_purpose_has_its_own_key() {
        let k = MasterKey::generate();
        let keys: std::collections::HashSet<Vec<u8>> =
            every_purpose().into_iter().map(|p| k.derive(p).expose().to_vec()).collect();
        assert_eq!(keys.len(), every_purpose().len());
        assert!(keys.iter().all(|key| key.len() == 32));
    }

    /// The labels are in data handed out long ago (ciphertexts, DNS records, public keys).
    #[test]
    fn labels_never_change() {
        let labels: Vec<String> = every_purpose().iter().map(|p| p.label().into_owned()).collect();
        assert_eq!(
            labels,
            [
                "bot-token-encryption",
                "api-token-signing",
                "dashboard-session",
                "dashboard-csrf",
                "edge-session-signing",
                "edge-hop-mark",
                "control-bot-webhook",
                "dev-link-ed25519",
                "ton-proof-payload",
                "identity-ed25519-v1",
                "identity-ed25519-v2",
                "custom-domain-proof/0190a6b2-app-a",
                "custom-domain-proof/0190a6b2-app-b",
            ]
        );
    }

    #[test]
    fn two_encryptions_use_different_nonces() {
        let k = MasterKey::generate();
        assert_ne!(k.encrypt(b"x", b""), k.encrypt(b"x", b""));
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        let a = MasterKey::load_or_create(&path).expect("created");
        let b = MasterKey::load_or_create(&path).expect("loaded");
        assert_eq!(a.0.as_ref(), b.0.as_ref());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(MasterKey::load_or_create(&path).is_err());
        }
    }

    #[test]
    fn keys_parse_from_hex_and_base64_and_debug_is_redacted() {
        let hex_key = "00".repeat(32);
        let a = MasterKey::parse(&hex_key).expect("hex");
        let b = MasterKey::parse(&base64::engine::general_purpose::STANDARD.encode([0u8; 32])).expect("b64");
        assert_eq!(a.0.as_ref(), b.0.as_ref());
        assert!(MasterKey::parse("short").is_err());
        assert_eq!(format!("{a:?}"), "MasterKey(<redacted>)");
        assert!(!format!("{:?}", a.derive(KeyPurpose::DashboardCsrf)).contains('['));
    }
}
