use thiserror::Error;

/// Why an archive was refused. Each variant has a stable machine-readable [`code`](Self::code)
/// and an HTTP status; the message tells the developer what to change.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("the archive is larger than the limit of {limit} bytes")]
    ArchiveTooLarge { limit: u64 },
    #[error("unsupported archive format: upload a .zip or a .tar.gz (detected from the first bytes, not the name)")]
    UnsupportedFormat,
    #[error("the archive is corrupt or truncated: {0}")]
    Corrupt(String),
    #[error("`{0}` is an absolute path; archive entries must be relative to the bundle root")]
    AbsolutePath(String),
    #[error("`{0}` contains `..`; archive entries must stay inside the bundle")]
    PathTraversal(String),
    #[error("entry name {0} is not allowed: {1}")]
    InvalidPath(String, &'static str),
    #[error("`{0}` is a {1}; only regular files and folders may be uploaded")]
    SpecialFile(String, &'static str),
    #[error("`{0}` appears more than once (or is both a file and a folder)")]
    DuplicatePath(String),
    #[error("the archive has more than {limit} files")]
    TooManyFiles { limit: usize },
    #[error("`{path}` is larger than the per-file limit of {limit} bytes")]
    FileTooLarge { path: String, limit: u64 },
    #[error("the files add up to more than the limit of {limit} bytes uncompressed")]
    BundleTooLarge { limit: u64 },
    #[error("`{0}` expands more than {1}x; refusing a possible decompression bomb")]
    CompressionRatio(String, u64),
    #[error("no index.html at the bundle root (a single top-level folder such as dist/ is unwrapped automatically)")]
    MissingIndex,
    #[error("the archive contains no files")]
    Empty,
    #[error("invalid {0}")]
    InvalidRules(#[from] crate::RuleError),
    #[error("I/O error while reading the upload: {0}")]
    Io(#[from] std::io::Error),
}

impl IngestError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::ArchiveTooLarge { .. } => "archive_too_large",
            Self::UnsupportedFormat => "unsupported_archive",
            Self::Corrupt(_) => "corrupt_archive",
            Self::AbsolutePath(_) => "absolute_path",
            Self::PathTraversal(_) => "path_traversal",
            Self::InvalidPath(..) => "invalid_path",
            Self::SpecialFile(..) => "special_file",
            Self::DuplicatePath(_) => "duplicate_path",
            Self::TooManyFiles { .. } => "too_many_files",
            Self::FileTooLarge { .. } => "file_too_large",
            Self::BundleTooLarge { .. } => "bundle_too_large",
            Self::CompressionRatio(..) => "compression_ratio",
            Self::MissingIndex => "missing_index",
            Self::Empty => "empty_archive",
            Self::InvalidRules(e) if e.file == crate::rules::HEADERS_FILE => "invalid_headers",
            Self::InvalidRules(_) => "invalid_redirects",
            Self::Io(_) => "io_error",
        }
    }

    /// 413 for size limits, 415 for formats, 400 for unreadable data, 422 for content rules.
    pub fn status(&self) -> u16 {
        match self {
            Self::ArchiveTooLarge { .. }
            | Self::TooManyFiles { .. }
            | Self::FileTooLarge { .. }
            | Self::BundleTooLarge { .. }
            | Self::CompressionRatio(..) => 413,
            Self::UnsupportedFormat => 415,
            Self::Corrupt(_) => 400,
            Self::Io(_) => 500,
            _ => 422,
        }
    }
}
