//! Which file answers a path: manifests (cached for good once complete; read again while the
//! platform is still making brotli variants for them) and the lookup order of
//! the static hosts developers know — exact file, folder index, clean URL, `_redirects`,
//! skew protection, SPA fallback, nearest `404.html`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};

use hyper::StatusCode;
use hyper::header::HeaderValue;
use tmahost_deploy::{BadRequestPath, Rules};
use tmahost_service::Encoding;
use tmahost_service::model::{DeploymentFile, Sha256};

/// One file of a deployment, with the response headers that depend only on it built once
/// (manifests are immutable, so nothing here is computed per request).
#[derive(Debug, Clone)]
pub(crate) struct FileEntry {
    pub sha: Sha256,
    /// The digest's bytes: the blob cache's key, hashed without allocating.
    pub digest: [u8; 32],
    pub content_type: HeaderValue,
    pub html: bool,
    /// The path has a content hash in its name (immutable caching); decided once, not per request.
    pub fingerprinted: bool,
    pub br: bool,
    pub gz: bool,
    /// Strong ETags of the original, the brotli and the gzip representation.
    etags: [HeaderValue; 3],
}

impl FileEntry {
    pub fn new(path: &str, sha: Sha256, content_type: &str, br: bool, gz: bool) -> Self {
        let mut digest = [0; 32];
        // A Sha256 is 64 lowercase hex digits by construction.
        hex::decode_to_slice(sha.as_str(), &mut digest).unwrap_or_default();
        // Each representation needs its own strong validator: the content hash, plus the encoding.
        let hash = &sha.as_str()[..32];
        let tag =
            |suffix: &str| HeaderValue::try_from(format!("\"{hash}{suffix}\"")).expect("hex is a valid header value");
        Self {
            digest,
            content_type: HeaderValue::try_from(content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            html: content_type.starts_with("text/html"),
            fingerprinted: tmahost_deploy::is_fingerprinted(path),
            br,
            gz,
            etags: [
                tag(""),
                tag(&format!("-{}", Encoding::Br.suffix())),
                tag(&format!("-{}", Encoding::Gzip.suffix())),
            ],
            sha,
        }
    }

    pub fn etag(&self, enc: Option<Encoding>) -> &HeaderValue {
        match enc {
            None => &self.etags[0],
            Some(Encoding::Br) => &self.etags[1],
            Some(Encoding::Gzip) => &self.etags[2],
        }
    }
}

/// How often an edge reads again a manifest whose brotli variants were still being made.
const PENDING_RECHECK_MS: i64 = 1000;

/// A deployment's files by path (no leading `/`) and its rules.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    pub files: HashMap<String, FileEntry, crate::FastHash>,
    pub rules: Rules,
    /// The bundle's `404.html` files, deepest folder first: the nearest one to a missing path
    /// is the first whose folder holds the path (no key is built per parent folder).
    not_found_pages: Vec<String>,
    /// Some file's brotli variant was still being made when this was read.
    pending: bool,
    /// When (ms) a pending manifest is next read again; taken by one request at a time.
    next_check: AtomicI64,
}

impl Manifest {
    pub fn new(files: Vec<DeploymentFile>, rules: Rules) -> Self {
        let mut pending = false;
        let files = files
            .into_iter()
            .inspect(|f| pending |= f.brotli_pending())
            .map(|f| {
                let entry =
                    FileEntry::new(&f.path, f.sha256, &f.content_type, f.br_size.is_some(), f.gz_size.is_some());
                (f.path, entry)
            })
            .collect();
        let mut m = Self::with_files(files, rules);
        m.pending = pending;
        m.next_check = AtomicI64::new(tmahost_service::now_ms() + PENDING_RECHECK_MS);
        m
    }

    fn with_files(files: HashMap<String, FileEntry, crate::FastHash>, rules: Rules) -> Self {
        let mut not_found_pages: Vec<String> =
            files.keys().filter(|k| *k == "404.html" || k.ends_with("/404.html")).cloned().collect();
        not_found_pages.sort_by_key(|k| std::cmp::Reverse(k.len()));
        Self { files, rules, not_found_pages, ..Self::default() }
    }

    /// Complete: every variant the manifest will ever list is there, so it can be kept for good.
    pub fn complete(&self) -> bool {
        !self.pending
    }

    /// Whether the caller should read this manifest again now: it is pending, its interval is
    /// over, and no other request took this turn.
    pub fn recheck_due(&self, now_ms: i64) -> bool {
        if !self.pending {
            return false;
        }
        let next = self.next_check.load(Ordering::Relaxed);
        now_ms >= next
            && self
                .next_check
                .compare_exchange(next, now_ms + PENDING_RECHECK_MS, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Bytes a cached manifest holds, roughly, for the cache's weigher.
    pub fn weight(&self) -> u32 {
        let files: usize = self.files.keys().map(|k| k.len() + 400).sum();
        u32::try_from(files + 1024 * (self.rules.headers.len() + self.rules.redirects.len())).unwrap_or(u32::MAX)
    }

    /// The file that answers `path` directly: `/` and folders -> `index.html`, `/about` ->
    /// `about.html` (clean URL). A folder requested without its slash gets `AddSlash`, so the
    /// page's relative links resolve inside the folder.
    pub fn find(&self, path: &str) -> Lookup<'_> {
        let key = path.trim_start_matches('/');
        if key.is_empty() {
            return self.key("index.html").map_or(Lookup::None, Lookup::File);
        }
        if key.ends_with('/') {
            return self.key(&format!("{key}index.html")).map_or(Lookup::None, Lookup::File);
        }
        if let Some(k) = self.key(key) {
            return Lookup::File(k);
        }
        if let Some(k) = self.key(&format!("{key}.html")) {
            return Lookup::File(k);
        }
        if self.files.contains_key(&format!("{key}/index.html")) {
            return Lookup::AddSlash;
        }
        Lookup::None
    }

    /// The manifest's own copy of `path`, so answers borrow it instead of allocating.
    fn key(&self, path: &str) -> Option<&str> {
        self.files.get_key_value(path).map(|(k, _)| k.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    File(&'a str),
    AddSlash,
    None,
}

/// The outcome of resolving a request path against one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution<'a> {
    /// Serve this manifest key with this status. `fallback`: an SPA or 404 page standing in
    /// for a missing path (never cached as the path's own content).
    File {
        key: &'a str,
        status: StatusCode,
        fallback: bool,
    },
    Redirect {
        status: StatusCode,
        location: String,
    },
    Missing,
}

/// Files first, then `_redirects` (a forced rule wins over a file).
pub(crate) fn resolve<'a>(m: &'a Manifest, path: &str, query: &str) -> Resolution<'a> {
    let found = m.find(path);
    if let Some((rule, to)) = m.rules.redirect_for(path, query, found != Lookup::None) {
        let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
        if status.is_redirection() {
            let location = tmahost_deploy::rules::location(&to, query).into_owned();
            return Resolution::Redirect { status, location };
        }
        let target = to.split(['?', '#']).next().unwrap_or("/");
        return match m.find(target) {
            Lookup::File(key) => Resolution::File { key, status, fallback: status != StatusCode::OK },
            _ => Resolution::Missing,
        };
    }
    match found {
        Lookup::File(key) => Resolution::File { key, status: StatusCode::OK, fallback: false },
        Lookup::AddSlash => {
            let location = if query.is_empty() { format!("{path}/") } else { format!("{path}/?{query}") };
            Resolution::Redirect { status: StatusCode::MOVED_PERMANENTLY, location }
        }
        Lookup::None => Resolution::Missing,
    }
}

/// The request path as manifests spell paths, or the status and text refusing it.
pub(crate) fn request_path(raw: &str) -> Result<Cow<'_, str>, BadPath> {
    tmahost_deploy::request_path(raw).map_err(|e| match e {
        BadRequestPath::TooLong => {
            BadPath(StatusCode::URI_TOO_LONG, "414 URI Too Long: the path is longer than 4096 bytes\n")
        }
        BadRequestPath::NotUtf8 => BadPath(StatusCode::BAD_REQUEST, "400 Bad Request: the path is not valid UTF-8\n"),
        BadRequestPath::TooDeep => {
            BadPath(StatusCode::BAD_REQUEST, "400 Bad Request: the path has more than 128 segments\n")
        }
        BadRequestPath::Forbidden => BadPath(StatusCode::BAD_REQUEST, "400 Bad Request\n"),
    })
}

/// Paths worth looking up in previous deployments: assets, never pages or app routes, so an
/// old HTML page cannot come back after a deploy removed it.
pub(crate) fn is_asset_path(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    match last.rsplit_once('.') {
        Some((stem, ext)) => !stem.is_empty() && !matches!(ext.to_ascii_lowercase().as_str(), "html" | "htm"),
        None => false,
    }
}

/// What stands in for a missing path: `/index.html` for extension-less paths when the app is
/// an SPA, else the nearest `404.html` up the folder tree.
pub(crate) fn fallback<'a>(m: &'a Manifest, path: &str, spa: bool) -> Resolution<'a> {
    let last = path.rsplit('/').next().unwrap_or_default();
    if spa
        && !last.contains('.')
        && let Some(key) = m.key("index.html")
    {
        return Resolution::File { key, status: StatusCode::OK, fallback: true };
    }
    // The folder the path is in, as manifest keys spell it (`blog/2024/`, or empty at the root).
    let path = path.trim_start_matches('/');
    let folder = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    m.not_found_pages
        .iter()
        .find(|page| folder.starts_with(&page[..page.len() - "404.html".len()]))
        .map_or(Resolution::Missing, |key| Resolution::File { key, status: StatusCode::NOT_FOUND, fallback: true })
}

/// Why a request path is refused, with the status and the text of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPath(pub StatusCode, pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(paths: &[&str], redirects: &str) -> Manifest {
        let files = paths
            .iter()
            .map(|p| {
                let entry = FileEntry::new(
                    p,
                    Sha256::parse(&"a".repeat(64)).expect("sha"),
                    "text/html; charset=utf-8",
                    false,
                    false,
                );
                ((*p).to_owned(), entry)
            })
            .collect();
        Manifest::with_files(files, Rules::parse(None, Some(redirects)).expect("rules").rules)
    }

    fn file(key: &str, status: u16, fallback: bool) -> Resolution<'_> {
        Resolution::File { key, status: StatusCode::from_u16(status).expect("status"), fallback }
    }

    #[test]
    fn folders_clean_urls_and_slashes() {
        let m = manifest(&["index.html", "about.html", "docs/index.html", "docs/a.html", "app.js"], "");
        assert_eq!(resolve(&m, "/", ""), file("index.html", 200, false));
        assert_eq!(resolve(&m, "/about", ""), file("about.html", 200, false));
        assert_eq!(resolve(&m, "/about.html", ""), file("about.html", 200, false));
        assert_eq!(resolve(&m, "/docs/", ""), file("docs/index.html", 200, false));
        assert_eq!(resolve(&m, "/docs/a", ""), file("docs/a.html", 200, false));
        assert_eq!(
            resolve(&m, "/docs", "x=1"),
            Resolution::Redirect { status: StatusCode::MOVED_PERMANENTLY, location: "/docs/?x=1".into() }
        );
        assert_eq!(resolve(&m, "/nope.js", ""), Resolution::Missing);
    }

    #[test]
    fn redirects_rewrite_and_respect_shadowing() {
        let m = manifest(
            &["index.html", "app.html", "old.html", "gone.html"],
            "/old /new 302\n/app/* /app.html 200\n/forced /index.html 200!\n/q /target\n/gone /gone.html 410\n",
        );
        assert_eq!(resolve(&m, "/old", ""), file("old.html", 200, false), "files shadow unforced rules");
        assert_eq!(resolve(&m, "/app/x/y", ""), file("app.html", 200, false));
        assert_eq!(
            resolve(&m, "/q", "a=1"),
            Resolution::Redirect { status: StatusCode::MOVED_PERMANENTLY, location: "/target?a=1".into() }
        );
        assert_eq!(resolve(&m, "/gone", ""), file("gone.html", 200, false), "gone.html exists at /gone");
        let m = manifest(&["index.html", "gone.html"], "/old/* /gone.html 410\n");
        assert_eq!(resolve(&m, "/old/page", ""), file("gone.html", 410, true));
    }

    #[test]
    fn fallbacks_pick_the_spa_index_or_the_nearest_404() {
        let m = manifest(&["index.html", "404.html", "blog/404.html"], "");
        assert_eq!(fallback(&m, "/settings/profile", true), file("index.html", 200, true));
        assert_eq!(fallback(&m, "/settings/profile", false), file("404.html", 404, true));
        assert_eq!(fallback(&m, "/blog/missing.png", true), file("blog/404.html", 404, true));
        assert_eq!(fallback(&m, "/blog/2024/x", false), file("blog/404.html", 404, true));
        assert_eq!(fallback(&manifest(&["index.html"], ""), "/x.js", true), Resolution::Missing);
        let m = manifest(&["404.html", "a/404.html", "a/b/404.html", "ab/404.html"], "");
        assert_eq!(fallback(&m, "/a/b/c/d", false), file("a/b/404.html", 404, true), "the nearest one");
        assert_eq!(fallback(&m, "/a/bc/d", false), file("a/404.html", 404, true), "folders, not name prefixes");
        assert_eq!(fallback(&m, "/abc/d", false), file("404.html", 404, true));
        assert_eq!(fallback(&m, "/a", false), file("404.html", 404, true), "/a is a file name at the root");
    }

    #[test]
    fn refused_request_paths_answer_414_or_400() {
        let long = format!("/{}", "a".repeat(tmahost_deploy::MAX_REQUEST_PATH));
        assert_eq!(request_path(&long).map_err(|e| e.0), Err(StatusCode::URI_TOO_LONG));
        for bad in ["/a/../b", "/%ff", &"/a".repeat(tmahost_deploy::MAX_SEGMENTS + 1)] {
            assert_eq!(request_path(bad).map_err(|e| e.0), Err(StatusCode::BAD_REQUEST), "{bad}");
        }
    }

    #[test]
    fn only_asset_paths_are_looked_up_in_old_deployments() {
        assert!(is_asset_path("/assets/index-BXk3f9a1.js"));
        assert!(is_asset_path("/logo.svg"));
        assert!(!is_asset_path("/old-page.html"));
        assert!(!is_asset_path("/settings"));
        assert!(!is_asset_path("/.well-known"));
    }
}
