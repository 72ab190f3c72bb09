//! Bundle ingestion: turns an uploaded archive into a validated list of files with their
//! hashes, content types and precompressed variants, ready to be stored as blobs.
//!
//! Nothing here trusts the archive: entry names are parsed into [`BundlePath`]s (never used
//! as filesystem paths — extracted bytes go to numbered temp files), sizes are counted while
//! reading rather than taken from headers, and every limit of [`Limits`] is enforced before
//! anything reaches the store. All functions are blocking; callers run them in
//! `spawn_blocking`.

mod archive;
mod compress;
mod content_type;
mod error;
mod fingerprint;
mod html_refs;
mod manifest;
mod path;
pub mod rules;

pub use archive::{ArchiveFormat, Bundle, BundleFile, hash_file, ingest, sniff_format};
pub use compress::{brotli_variant, gzip_variant, wants_variants};
pub use content_type::{content_type_for, is_compressible};
pub use error::IngestError;
pub use fingerprint::is_fingerprinted;
pub use manifest::{CheckedManifest, DeclaredFile, FinalInputs, ManifestFile, check_manifest, finish_manifest};
pub use path::{BadRequestPath, BundlePath, MAX_REQUEST_PATH, MAX_SEGMENTS, request_path};
pub use rules::{Parsed, RuleError, Rules};

/// Limits on what one upload may contain. Defaults suit real Mini App bundles with room to
/// spare (the largest Vite builds seen are a few MB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Size of the uploaded archive itself.
    pub max_archive_bytes: u64,
    pub max_files: usize,
    pub max_file_bytes: u64,
    /// Sum of all uncompressed file sizes.
    pub max_total_bytes: u64,
    /// Uncompressed/compressed ratio above which an entry (or a tar.gz stream) larger than
    /// 1 MiB is treated as a decompression bomb.
    pub max_compression_ratio: u64,
    pub max_path_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_archive_bytes: 100 * 1000 * 1000,
            max_files: 20_000,
            max_file_bytes: 25 * 1000 * 1000,
            max_total_bytes: 500 * 1000 * 1000,
            max_compression_ratio: 100,
            max_path_bytes: 1024,
        }
    }
}
