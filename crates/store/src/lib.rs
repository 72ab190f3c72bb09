//! Persistence for tmahost.
//!
//! - [`Db`]: one repository API over SQLite (embedded default) and PostgreSQL (scale-out),
//!   with embedded migrations. Both engines run the same SQL text; [`on_db!`] expands a query
//!   once per engine so every statement is type-checked against both drivers.
//! - [`BlobStore`]: content-addressed blobs (and their `.br`/`.gz` variants) in object_store.
//! - [`MasterKey`]: the key that encrypts bot tokens at rest and derives signing keys.

mod blobs;
mod crypto;
mod db;
mod error;
mod isolation;
pub mod model;
mod repo;

pub use blobs::{BlobKey, BlobStore, Encoding, ListedBlob};
pub use crypto::{KeyPurpose, MasterKey, SecretBytes};
pub use db::{ChangeListener, Db, DbKind, Heard};
pub use error::StoreError;
pub use isolation::{DomainClaim, ProofOutcome, StaffCode};
pub use repo::changes::{EdgeChange, LoggedChange};
pub use repo::{
    BlobClaim, EdgeScope, Erasure, ExpectedBlob, GcCandidate, NewDeploymentFile, NewUpload, Retention, StoredBlob,
    Upload,
};

/// Milliseconds since the Unix epoch: how every timestamp is stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
