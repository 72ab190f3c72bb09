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
use tmahost_types::settings::check::positive;

tmahost_types::section! {
    /// Limits on what one upload may contain (`[uploads]`). Defaults suit real Mini App bundles
    /// with room to spare (the largest Vite builds seen are a few MB).
    pub struct Limits in "uploads" {
        /// Size of an uploaded archive itself (bytes).
        MAX_ARCHIVE_BYTES => max_archive_bytes: u64 = 100 * 1000 * 1000, check positive;
        /// Entries in a bundle archive (files, folders and tar headers all count).
        MAX_FILES => max_files: usize = 20_000, check positive;
        /// Size of one file, uncompressed (bytes).
        MAX_FILE_BYTES => max_file_bytes: u64 = 25 * 1000 * 1000, check positive;
        /// Sum of a deployment's uncompressed file sizes (bytes).
        MAX_TOTAL_BYTES => max_total_bytes: u64 = 500 * 1000 * 1000, check positive;
        /// Uncompressed/compressed ratio above which an entry (or a tar.gz stream) larger than
        /// 1 MiB is treated as a decompression bomb.
        MAX_COMPRESSION_RATIO => max_compression_ratio: u64 = 100, check positive;
        /// Length of one path in a bundle (bytes).
        MAX_PATH_BYTES => max_path_bytes: usize = 1024, check positive;
    }
}
