//! Wallet stateInits: the bag of cells checked, then read as a recognised wallet contract's
//! code and data, giving its public key and the address it derives.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tonlib_core::TonAddress;
use tonlib_core::cell::{ArcCell, BagOfCells, Cell};
use tonlib_core::tlb_types::block::state_init::StateInit;
use tonlib_core::tlb_types::tlb::TLB;
use tonlib_core::wallet::version_helper::VersionHelper;
use tonlib_core::wallet::versioned::v3::WalletDataV3;
use tonlib_core::wallet::versioned::v4::WalletDataV4;
use tonlib_core::wallet::versioned::v5::WalletDataV5;
use tonlib_core::wallet::wallet_version::WalletVersion;

use super::{MAX_STATE_INIT_BYTES, ProofError};

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
pub(super) fn check_boc(b: &[u8]) -> Result<(), &'static str> {
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

pub(super) fn version_name(v: WalletVersion) -> &'static str {
    match v {
        WalletVersion::V3R1 => "v3r1",
        WalletVersion::V3R2 => "v3r2",
        WalletVersion::V4R2 => "v4r2",
        WalletVersion::V5R1 => "v5r1",
        _ => "other",
    }
}
