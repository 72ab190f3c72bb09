//! Wallets for tests (ours and the end-to-end suites'): a key, the stateInit its contract
//! version deploys with (built by tonlib-core, as wallet apps build it), and proofs signed as a
//! wallet signs them.

use ed25519_dalek::{Signer, SigningKey};
use tonlib_core::wallet::mnemonic::KeyPair;
use tonlib_core::wallet::ton_wallet::TonWallet;

use super::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tonlib_core::TonAddress;
use tonlib_core::tlb_types::block::state_init::StateInit;
use tonlib_core::tlb_types::tlb::TLB;
use tonlib_core::wallet::version_helper::VersionHelper;

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
