//! Archive ingestion (zip and tar.gz, told apart by their magic bytes) on any bytes: a bundle
//! whose every path is a clean relative path inside the extraction dir, or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tmahost_deploy::{Limits, ingest};

fuzz_target!(|bytes: &[u8]| {
    let work = tempfile::tempdir().expect("temp dir");
    let archive = work.path().join("upload");
    std::fs::write(&archive, bytes).expect("write");
    let limits = Limits { max_files: 64, max_file_bytes: 1 << 20, max_total_bytes: 4 << 20, ..Limits::default() };
    if let Ok(bundle) = ingest(&archive, &limits, work.path()) {
        assert!(bundle.files.len() <= limits.max_files);
        for f in &bundle.files {
            let p = f.path.as_str();
            assert!(!p.starts_with('/') && !p.split('/').any(|s| s == ".." || s == "." || s.is_empty()), "{p}");
            assert!(f.local.starts_with(work.path()), "{} escaped", f.local.display());
            assert!(f.size <= limits.max_file_bytes);
        }
    }
});
