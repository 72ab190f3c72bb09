//! Paths, parsed once into a form that is safe afterwards: [`BundlePath`], a file's path inside
//! a bundle, and [`request_path`], the path of a request for one.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::percent_decode_str;

use crate::IngestError;

/// A relative path of `/`-separated, non-empty components with no `.`, `..`, NUL or control
/// characters, e.g. `assets/index-BXk3f9a1.js`. Served at `/` + this path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundlePath(String);

impl BundlePath {
    /// Parses an archive entry name. `Ok(None)` means the entry names the root itself (`./`).
    pub fn parse(raw: &[u8], max_len: usize) -> Result<Option<Self>, IngestError> {
        let shown = String::from_utf8_lossy(raw).escape_debug().to_string();
        let s =
            std::str::from_utf8(raw).map_err(|_| IngestError::InvalidPath(shown.clone(), "it is not valid UTF-8"))?;
        if s.chars().any(char::is_control) {
            return Err(IngestError::InvalidPath(shown, "it contains NUL or control characters"));
        }
        if s.len() > max_len {
            return Err(IngestError::InvalidPath(shown, "it is too long"));
        }
        // Archivers on Windows sometimes write `\` as the separator.
        let s = s.replace('\\', "/");
        let b = s.as_bytes();
        if s.starts_with('/') || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':') {
            return Err(IngestError::AbsolutePath(s));
        }
        let mut parts = Vec::new();
        for part in s.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(IngestError::PathTraversal(s)),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self(parts.join("/"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The first component and the rest, if the path has a folder.
    pub(crate) fn split_first(&self) -> Option<(&str, &str)> {
        self.0.split_once('/')
    }

    pub(crate) fn strip_first(&self) -> Option<Self> {
        self.split_first().map(|(_, rest)| Self(rest.to_owned()))
    }

    /// Every folder prefix: `a/b/c.js` -> `a`, `a/b`.
    pub(crate) fn parents(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(|(i, _)| &self.0[..i])
    }
}

impl fmt::Display for BundlePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest request path served, in bytes (percent-encoded, as sent): twice the longest path a
/// bundle may hold, room for `_redirects` patterns.
pub const MAX_REQUEST_PATH: usize = 4096;
/// Most path segments a request may have.
pub const MAX_SEGMENTS: usize = 128;

/// Why a request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadRequestPath {
    #[error("the path is longer than 4096 bytes")]
    TooLong,
    #[error("the path is not valid UTF-8")]
    NotUtf8,
    #[error("the path has more than 128 segments")]
    TooDeep,
    #[error("the path holds NUL or a `..` segment")]
    Forbidden,
}

/// The request path as manifests spell paths: percent-decoded UTF-8 without NUL or `..`
/// segments, at most [`MAX_REQUEST_PATH`] bytes and [`MAX_SEGMENTS`] segments, so that the
/// work per request (rule matching, fallbacks) stays bounded whatever a client sends.
pub fn request_path(raw: &str) -> Result<Cow<'_, str>, BadRequestPath> {
    if raw.len() > MAX_REQUEST_PATH {
        return Err(BadRequestPath::TooLong);
    }
    let found = scan(raw.as_bytes());
    // Most paths have nothing to decode (and are UTF-8 already, being a `str`).
    let (path, found) = if found.percent {
        let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| BadRequestPath::NotUtf8)?;
        let found = scan(decoded.as_bytes());
        (decoded, found)
    } else {
        (Cow::Borrowed(raw), found)
    };
    if found.slashes > MAX_SEGMENTS {
        return Err(BadRequestPath::TooDeep);
    }
    if found.forbidden {
        return Err(BadRequestPath::Forbidden);
    }
    Ok(path)
}

/// What one pass over a path finds.
struct Scan {
    percent: bool,
    /// A NUL, or a `..` segment.
    forbidden: bool,
    slashes: usize,
}

/// One scalar pass (the edge runs it per request): request paths are short, and a vectorised
/// scan per question (`%`, NUL, `/`) cost more in setting up than this costs per byte.
fn scan(bytes: &[u8]) -> Scan {
    // Most bytes are none of the three: one table load tells.
    const SPECIAL: [bool; 256] = {
        let mut t = [false; 256];
        (t[b'/' as usize], t[b'%' as usize], t[0]) = (true, true, true);
        t
    };
    let mut found = Scan { percent: false, forbidden: false, slashes: 0 };
    let mut segment = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !SPECIAL[usize::from(b)] {
            continue;
        }
        match b {
            b'/' => {
                found.forbidden |= &bytes[segment..i] == b"..";
                found.slashes += 1;
                segment = i + 1;
            }
            b'%' => found.percent = true,
            0 => found.forbidden = true,
            _ => {}
        }
    }
    found.forbidden |= &bytes[segment..] == b"..";
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Option<String>, &'static str> {
        BundlePath::parse(s.as_bytes(), 1024).map(|o| o.map(|b| b.0)).map_err(|e| e.code())
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(p("./dist//assets/./a.js"), Ok(Some("dist/assets/a.js".into())));
        assert_eq!(p("dist\\index.html"), Ok(Some("dist/index.html".into())));
        assert_eq!(p("./"), Ok(None));
    }

    #[test]
    fn unsafe_names_are_rejected_with_their_own_code() {
        assert_eq!(p("/etc/passwd"), Err("absolute_path"));
        assert_eq!(p("C:/x"), Err("absolute_path"));
        assert_eq!(p("\\\\server\\x"), Err("absolute_path"));
        assert_eq!(p("a/../../b"), Err("path_traversal"));
        assert_eq!(p(".."), Err("path_traversal"));
        assert_eq!(p("a\0b"), Err("invalid_path"));
        assert_eq!(p("a\nb"), Err("invalid_path"));
        assert_eq!(BundlePath::parse(b"\xff", 10).map_err(|e| e.code()), Err("invalid_path"));
        assert_eq!(BundlePath::parse(b"abcdefghijk", 10).map_err(|e| e.code()), Err("invalid_path"));
    }

    #[test]
    fn parents_lists_every_folder() {
        let b = BundlePath("a/b/c.js".into());
        assert_eq!(b.parents().collect::<Vec<_>>(), vec!["a", "a/b"]);
        assert_eq!(b.file_name(), "c.js");
    }

    #[test]
    fn request_paths_are_bounded_in_length_and_segments() {
        assert_eq!(request_path("/assets/app.js").as_deref(), Ok("/assets/app.js"));
        let long = format!("/{}", "a".repeat(MAX_REQUEST_PATH));
        assert_eq!(request_path(&long), Err(BadRequestPath::TooLong));
        let at_limit = format!("/{}", "a".repeat(MAX_REQUEST_PATH - 1));
        assert!(request_path(&at_limit).is_ok());
        let deep = "/a".repeat(MAX_SEGMENTS + 1);
        assert_eq!(request_path(&deep), Err(BadRequestPath::TooDeep));
        assert!(request_path(&"/a".repeat(MAX_SEGMENTS)).is_ok());
        // Encoded slashes count once decoded.
        let encoded = "/a%2F".repeat(MAX_SEGMENTS);
        assert_eq!(request_path(&encoded), Err(BadRequestPath::TooDeep));
        assert_eq!(request_path("/a/%2e%2E/b"), Err(BadRequestPath::Forbidden));
        assert_eq!(request_path("/a%00"), Err(BadRequestPath::Forbidden));
        assert_eq!(request_path("/%ff"), Err(BadRequestPath::NotUtf8));
        for forbidden in ["..", "/..", "/../a", "/a/..", "a/../", "/a\0b", "/%2e./x"] {
            assert_eq!(request_path(forbidden), Err(BadRequestPath::Forbidden), "{forbidden}");
        }
        for fine in ["", "/", "/...", "/.a./", "/a..", "/..a/b", "//", "/a/./b"] {
            assert_eq!(request_path(fine).as_deref(), Ok(fine), "{fine}");
        }
    }
}
