//! Content types of bundle files: `mime_guess`, plus `charset=utf-8` for text so browsers
//! never guess an encoding.

/// The `Content-Type` to serve for a bundle path.
pub fn content_type_for(path: &str) -> String {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    // mime_guess lacks or disagrees with current practice on a few web types.
    let mime = match ext.as_str() {
        "js" | "mjs" | "cjs" => "text/javascript".to_owned(),
        "webmanifest" => "application/manifest+json".to_owned(),
        "wasm" => "application/wasm".to_owned(),
        "map" => "application/json".to_owned(),
        _ => mime_guess::from_path(path).first_or_octet_stream().essence_str().to_owned(),
    };
    if is_textual(&mime) { format!("{mime}; charset=utf-8") } else { mime }
}

fn is_textual(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/json"
                | "application/manifest+json"
                | "application/ld+json"
                | "application/xml"
                | "image/svg+xml"
        )
}

/// Whether precompressed variants are worth trying for this content type.
pub fn is_compressible(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    is_textual(mime)
        || matches!(
            mime,
            "application/wasm"
                | "application/xhtml+xml"
                | "application/rss+xml"
                | "application/atom+xml"
                | "font/ttf"
                | "font/otf"
                | "image/x-icon"
                | "image/vnd.microsoft.icon"
                | "image/bmp"
                | "application/vnd.ms-fontobject"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_types_get_the_expected_content_type() {
        assert_eq!(content_type_for("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type_for("assets/index-BXk3f9a1.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type_for("a.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type_for("tonconnect-manifest.json"), "application/json; charset=utf-8");
        assert_eq!(content_type_for("site.webmanifest"), "application/manifest+json; charset=utf-8");
        assert_eq!(content_type_for("logo.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(content_type_for("a.png"), "image/png");
        assert_eq!(content_type_for("a.woff2"), "font/woff2");
        assert_eq!(content_type_for("app.wasm"), "application/wasm");
        assert_eq!(content_type_for("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn only_uncompressed_formats_are_precompressed() {
        assert!(is_compressible("text/javascript; charset=utf-8"));
        assert!(is_compressible("application/wasm"));
        assert!(!is_compressible("image/png"));
        assert!(!is_compressible("font/woff2"));
    }
}
