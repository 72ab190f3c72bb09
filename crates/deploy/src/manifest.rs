//! Digest deploys: a client declares `{path: {sha256, size}}` and uploads only the contents
//! the store lacks. This module holds the same rules for a declared manifest as [`ingest`]
//! holds for an archive (names, counts, sizes, index.html, `_headers`/`_redirects`), so both
//! ways in accept exactly the same bundles.
//!
//! [`ingest`]: crate::ingest

use std::collections::HashSet;

use tmahost_types::Sha256;

use crate::archive::{check_tree, is_junk, rewrite_warnings, rule_text};
use crate::rules::{HEADERS_FILE, REDIRECTS_FILE};
use crate::{BundlePath, IngestError, Limits, Rules, content_type_for, html_refs};

/// A file as the client declares it; nothing about it is trusted yet.
#[derive(Debug, Clone)]
pub struct DeclaredFile {
    pub path: String,
    pub sha256: Sha256,
    pub size: u64,
}

/// A file of a checked manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    pub path: BundlePath,
    pub sha256: Sha256,
    pub size: u64,
    pub content_type: String,
}

/// A manifest that passed every rule that does not need the files' bytes.
#[derive(Debug, Clone)]
pub struct CheckedManifest {
    /// Served files, sorted by path.
    pub files: Vec<ManifestFile>,
    /// `_headers` and `_redirects`, read and parsed when the upload is finalized.
    pub rule_files: Vec<ManifestFile>,
}

impl CheckedManifest {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().chain(&self.rule_files).map(|f| f.size).sum()
    }

    /// Every file, served or not; each needs its blob before the deployment can finish.
    pub fn all_files(&self) -> impl Iterator<Item = &ManifestFile> {
        self.files.iter().chain(&self.rule_files)
    }

    pub fn file(&self, path: &str) -> Option<&ManifestFile> {
        self.all_files().find(|f| f.path.as_str() == path)
    }
}

/// Applies the archive rules to a declared manifest.
pub fn check_manifest(declared: Vec<DeclaredFile>, limits: &Limits) -> Result<CheckedManifest, IngestError> {
    if declared.len() > limits.max_files {
        return Err(IngestError::TooManyFiles { limit: limits.max_files });
    }
    let mut seen = HashSet::new();
    let mut files = Vec::with_capacity(declared.len());
    let mut total: u64 = 0;
    for d in declared {
        let Some(path) = BundlePath::parse(d.path.as_bytes(), limits.max_path_bytes)? else {
            return Err(IngestError::InvalidPath(
                d.path.escape_debug().to_string(),
                "a file cannot be the bundle root",
            ));
        };
        if is_junk(&path) {
            continue;
        }
        if !seen.insert(path.clone()) {
            return Err(IngestError::DuplicatePath(path.to_string()));
        }
        if d.size > limits.max_file_bytes {
            return Err(IngestError::FileTooLarge { path: path.to_string(), limit: limits.max_file_bytes });
        }
        total = total.saturating_add(d.size);
        if total > limits.max_total_bytes {
            return Err(IngestError::BundleTooLarge { limit: limits.max_total_bytes });
        }
        files.push(ManifestFile {
            content_type: content_type_for(path.as_str()),
            path,
            sha256: d.sha256,
            size: d.size,
        });
    }
    if !check_tree(files.iter().map(|f| &f.path))?.contains("index.html") {
        return Err(IngestError::MissingIndex);
    }
    let (rule_files, mut files): (Vec<_>, Vec<_>) =
        files.into_iter().partition(|f| [HEADERS_FILE, REDIRECTS_FILE].contains(&f.path.as_str()));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(CheckedManifest { files, rule_files })
}

/// The bytes the last step needs: the rule files and index.html (for the same warnings an
/// archive upload gets). `None` for a file the manifest does not have.
#[derive(Debug, Default)]
pub struct FinalInputs {
    pub headers: Option<Vec<u8>>,
    pub redirects: Option<Vec<u8>>,
    pub index_html: Option<Vec<u8>>,
}

/// Parses the rule files and computes the warnings, once every blob is stored.
pub fn finish_manifest(m: &CheckedManifest, inputs: FinalInputs) -> Result<(Rules, Vec<String>), IngestError> {
    let headers = inputs.headers.map(|b| rule_text(HEADERS_FILE, b)).transpose()?;
    let redirects = inputs.redirects.map(|b| rule_text(REDIRECTS_FILE, b)).transpose()?;
    let parsed = Rules::parse(headers.as_deref(), redirects.as_deref())?;
    let rules = parsed.rules;
    let names: HashSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    let mut warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    if let Some(html) = inputs.index_html
        && html.len() as u64 <= html_refs::MAX_INDEX_BYTES
    {
        warnings.extend(html_refs::missing_in(&String::from_utf8_lossy(&html), &names));
    }
    warnings.extend(rewrite_warnings(&names, &rules));
    Ok((rules, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(n: u8) -> Sha256 {
        Sha256::from_digest(&[n; 32])
    }

    fn declared(files: &[(&str, u64)]) -> Vec<DeclaredFile> {
        files
            .iter()
            .enumerate()
            .map(|(i, (p, s))| DeclaredFile { path: (*p).to_owned(), sha256: sha(i as u8), size: *s })
            .collect()
    }

    #[test]
    fn a_manifest_follows_the_archive_rules() {
        let limits = Limits { max_files: 3, max_file_bytes: 100, max_total_bytes: 150, ..Limits::default() };
        let ok =
            check_manifest(declared(&[("index.html", 10), ("_redirects", 5), ("a/b.js", 20)]), &limits).expect("valid");
        assert_eq!(ok.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["a/b.js", "index.html"]);
        assert_eq!(ok.rule_files.len(), 1);
        assert_eq!(ok.files[0].content_type, "text/javascript; charset=utf-8");
        assert_eq!(ok.total_bytes(), 35);

        let code = |files: &[(&str, u64)]| check_manifest(declared(files), &limits).expect_err("refused").code();
        assert_eq!(code(&[("index.html", 1), ("../x", 1)]), "path_traversal");
        assert_eq!(code(&[("/index.html", 1)]), "absolute_path");
        assert_eq!(code(&[("index.html", 1), ("a\0b", 1)]), "invalid_path");
        assert_eq!(code(&[("index.html", 1), ("./index.html", 1)]), "duplicate_path");
        assert_eq!(code(&[("index.html", 1), ("a", 1), ("a/b", 1)]), "duplicate_path");
        assert_eq!(code(&[("index.html", 101)]), "file_too_large");
        assert_eq!(code(&[("index.html", 100), ("b", 51)]), "bundle_too_large");
        assert_eq!(code(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]), "too_many_files");
        assert_eq!(code(&[("app.js", 1)]), "missing_index");
        assert_eq!(code(&[(".DS_Store", 1)]), "empty_archive");
    }

    #[test]
    fn finishing_parses_rules_and_warns_like_an_archive_upload() {
        let m = check_manifest(declared(&[("index.html", 10), ("_redirects", 5)]), &Limits::default()).expect("ok");
        let (rules, warnings) = finish_manifest(
            &m,
            FinalInputs {
                redirects: Some(b"/old /new 301\n/app/* /missing.html 200\n".to_vec()),
                index_html: Some(br#"<script src="/repo/assets/x.js"></script>"#.to_vec()),
                ..FinalInputs::default()
            },
        )
        .expect("finish");
        assert_eq!(rules.redirects.len(), 2);
        assert!(warnings.iter().any(|w| w.contains("/repo/assets/x.js")), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("/missing.html")), "{warnings:?}");

        let bad = finish_manifest(&m, FinalInputs { redirects: Some(vec![0xff, 0xfe]), ..FinalInputs::default() });
        assert_eq!(bad.expect_err("refused").code(), "invalid_redirects");
    }
}
