//! Recognising fingerprinted (content-hashed) file names, which can be cached as immutable
//! and kept for skew protection. Bundlers spell the hash in several ways; all count:
//!
//! - Vite 4+ / Rollup / esbuild: `assets/index-BXk3f9a1.js` (8 base64url-ish characters)
//! - Vite 3: `assets/index.dd9778f6.js` (8 hex characters after a dot)
//! - webpack: `7583a8.main.js` (a hex prefix of 6 or more) and `[name].[contenthash:20].js`
//!   (a dot-separated hex segment of 8-64)
//!
//! A false positive is the costly mistake (a mutable file cached for a year), so the rules are
//! strict: a hex hash needs a digit; a base64url hash is exactly 8 characters with an upper-case
//! letter and is not a capitalised word, so `app-settings.js`, `button-primary2.js` or
//! `Card-Settings.js` are not hashes. The price is that about 2% of Vite hashes (those
//! without an upper-case letter) are missed and merely revalidated instead of immutable.

/// Whether the file name of `path` carries a content hash.
pub fn is_fingerprinted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((stem, _ext)) = name.rsplit_once('.') else { return false };
    let segments: Vec<&str> = stem.split('.').collect();
    // `name.HASH` / `name.HASH.chunk`: any later dot segment that is a long hex run.
    if segments.iter().skip(1).any(|s| is_hex_hash(s, 8)) {
        return true;
    }
    // `HASH.name`: a hex prefix of 6+ followed by more name.
    if segments.len() > 1 && is_hex_hash(segments[0], 6) {
        return true;
    }
    // `name-HASH`: the hash itself may contain `-`, so take the last 8 characters.
    let last = segments.last().copied().unwrap_or(stem);
    last.len() > 9
        && last.as_bytes()[last.len() - 9] == b'-'
        && last.get(last.len() - 8..).is_some_and(is_base64url_hash)
}

fn is_hex_hash(s: &str, min: usize) -> bool {
    (min..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b.is_ascii_digit())
}

fn is_base64url_hash(s: &str) -> bool {
    let b = s.as_bytes();
    let capitalised_word = b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_lowercase);
    b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        && !capitalised_word
}

#[cfg(test)]
mod tests {
    use super::is_fingerprinted;

    #[test]
    fn bundler_hash_styles_count_as_fingerprinted() {
        for p in [
            "assets/index-BXk3f9a1.js",         // Vite 4+
            "assets/vendor-C_x9-Lq2.css",       // Vite 4+, base64url with _ and -
            "assets/index.dd9778f6.js",         // Vite 3
            "7583a8.main.js",                   // webpack [contenthash:6].[name]
            "static/js/main.3f2b1c9e.chunk.js", // create-react-app
            "app.0123456789abcdef0123.js",      // [name].[contenthash:20]
            "chunk-5A2B3C4D.js",                // esbuild
        ] {
            assert!(is_fingerprinted(p), "{p}");
        }
    }

    #[test]
    fn ordinary_names_are_not() {
        for p in [
            "index.html",
            "favicon.ico",
            "app-settings.js",
            "tonconnect-manifest.json",
            "jquery-3.6.0.min.js",
            "robots.txt",
            "decade.js",
            "app-settings-v2.js",
            "button-primary2.js",
            "Card-Settings.js",
            "main.js",
            "LICENSE",
        ] {
            assert!(!is_fingerprinted(p), "{p}");
        }
    }
}
