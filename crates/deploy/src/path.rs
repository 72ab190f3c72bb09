//! [`BundlePath`]: a file's path inside a bundle, normalised and safe.

use std::fmt;

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
}
