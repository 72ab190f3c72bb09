//! TON Connect manifests: the app setting (`ton_connect`) checked when saved, the manifest the
//! edge generates from it for the host a wallet asked, and the upload's warning when a bundle's
//! own manifest names a URL that is none of the app's hosts. (Proofs of wallet ownership are
//! `tmahost_types::ton`.)

use serde_json::{Value, json};

use crate::ServiceError;
use crate::model::TonConnectManifest;

/// Where the manifest is served; wallets are given this URL by the app.
pub const MANIFEST_PATH: &str = "/tonconnect-manifest.json";
const MAX_URL: usize = 2048;
const MAX_NAME: usize = 64;

fn invalid(message: String) -> ServiceError {
    ServiceError::invalid("invalid_ton_connect", message)
}

/// An absolute `https` URL, or a path on the app's own host (`/…`, never `//host`).
fn check_link(field: &str, value: &str) -> Result<(), ServiceError> {
    let relative = value.starts_with('/') && !value.starts_with("//") && !value.contains('\\');
    let absolute = url::Url::parse(value).is_ok_and(|u| u.scheme() == "https" && u.host().is_some());
    if value.len() > MAX_URL || value.chars().any(char::is_control) || !(relative || absolute) {
        return Err(invalid(format!(
            "ton_connect.{field}: an https URL or a path on the app's host such as /icon.png (at most {MAX_URL} bytes)"
        )));
    }
    Ok(())
}

/// The setting as saved: a name wallets can show, a PNG or ICO icon (wallets show no SVG), and
/// links that are https or on the app's own host.
pub fn check(m: &TonConnectManifest) -> Result<(), ServiceError> {
    let name = m.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(invalid(format!("ton_connect.name: 1 to {MAX_NAME} characters")));
    }
    check_link("icon_url", &m.icon_url)?;
    let path = url::Url::parse(&m.icon_url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| m.icon_url.split(['?', '#']).next().unwrap_or_default().to_owned());
    let lower = path.to_ascii_lowercase();
    if !(lower.ends_with(".png") || lower.ends_with(".ico")) {
        return Err(invalid(
            "ton_connect.icon_url: wallets show PNG or ICO icons (a path ending in .png or .ico)".into(),
        ));
    }
    for (field, link) in [("terms_of_use_url", &m.terms_of_use_url), ("privacy_policy_url", &m.privacy_policy_url)] {
        if let Some(link) = link {
            check_link(field, link)?;
        }
    }
    Ok(())
}

/// The manifest for the app at `origin` (`https://host`, no trailing slash): the dapp's `url`
/// is the host the wallet asked, and paths become URLs on it.
pub fn manifest(m: &TonConnectManifest, origin: &str) -> Value {
    let link = |v: &str| if v.starts_with('/') { format!("{origin}{v}") } else { v.to_owned() };
    let mut out = json!({ "url": origin, "name": m.name.trim(), "iconUrl": link(&m.icon_url) });
    if let Some(t) = &m.terms_of_use_url {
        out["termsOfUseUrl"] = json!(link(t));
    }
    if let Some(p) = &m.privacy_policy_url {
        out["privacyPolicyUrl"] = json!(link(p));
    }
    out
}

/// `host[:port]` of a URL, lowercased: what a `Host` header says for it.
pub fn authority(u: &url::Url) -> Option<String> {
    let host = u.host_str()?.to_ascii_lowercase();
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// The upload's warning for a bundle's own manifest (`bytes`) whose `url` is none of `hosts`
/// (the app's main host and custom domain), or `None` when it matches.
pub fn bundled_manifest_warning(bytes: &[u8], hosts: &[String]) -> Option<String> {
    let url = serde_json::from_slice::<Value>(bytes).ok().and_then(|v| v["url"].as_str().map(str::to_owned));
    let Some(url) = url else {
        return Some(format!(
            "{MANIFEST_PATH} has no `url`: wallets refuse it. Set `ton_connect` in the app's settings and the \
             platform serves one for each of the app's hosts"
        ));
    };
    let host = url::Url::parse(&url).ok().as_ref().and_then(authority);
    if host.is_some_and(|h| hosts.iter().any(|a| a.eq_ignore_ascii_case(&h))) {
        return None;
    }
    Some(format!(
        "{MANIFEST_PATH} names `{url}`, which is not this app's host ({}): wallets will show and sign for that \
         site. Set `ton_connect` in the app's settings and the platform serves a manifest for each host, \
         previews included",
        hosts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(icon: &str) -> TonConnectManifest {
        TonConnectManifest {
            name: "Shop".into(),
            icon_url: icon.into(),
            terms_of_use_url: None,
            privacy_policy_url: None,
            replace_bundled: false,
        }
    }

    #[test]
    fn icons_are_png_or_ico_and_links_https_or_on_the_app_host() {
        for ok in ["https://cdn.example.com/i/logo.png", "/icon.PNG", "/favicon.ico", "https://x.example/a.png?v=2"] {
            assert!(check(&setting(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "https://cdn.example.com/logo.svg",
            "http://cdn.example.com/logo.png",
            "//evil.example/logo.png",
            "/\\evil.example/logo.png",
            "javascript:alert(1)//.png",
            "logo.png",
            "/logo.png.svg",
        ] {
            assert!(check(&setting(bad)).is_err(), "{bad}");
        }
        let mut m = setting("/icon.png");
        m.terms_of_use_url = Some("//evil.example/terms".into());
        assert!(check(&m).is_err());
        m.terms_of_use_url = Some("/terms".into());
        m.name = " ".into();
        assert!(check(&m).is_err());
    }

    #[test]
    fn the_manifest_names_the_host_asked_and_puts_paths_on_it() {
        let mut m = setting("/icon.png");
        m.privacy_policy_url = Some("https://legal.example.com/privacy".into());
        m.terms_of_use_url = Some("/terms".into());
        assert_eq!(
            manifest(&m, "https://v3--shop--demo-bot.apps.example.com"),
            json!({
                "url": "https://v3--shop--demo-bot.apps.example.com",
                "name": "Shop",
                "iconUrl": "https://v3--shop--demo-bot.apps.example.com/icon.png",
                "termsOfUseUrl": "https://v3--shop--demo-bot.apps.example.com/terms",
                "privacyPolicyUrl": "https://legal.example.com/privacy",
            })
        );
    }

    #[test]
    fn a_bundled_manifest_for_another_site_is_warned_about() {
        let hosts = ["demo-bot.apps.example.com".to_owned(), "shop.example.org".to_owned()];
        let manifest = |url: &str| format!(r#"{{"url":"{url}","name":"x","iconUrl":"https://x/i.png"}}"#);
        assert_eq!(bundled_manifest_warning(manifest("https://demo-bot.apps.example.com").as_bytes(), &hosts), None);
        assert_eq!(bundled_manifest_warning(manifest("https://shop.example.org/").as_bytes(), &hosts), None);
        let other = bundled_manifest_warning(manifest("https://myname.github.io/shop").as_bytes(), &hosts);
        assert!(other.is_some_and(|w| w.contains("myname.github.io") && w.contains("demo-bot.apps.example.com")));
        assert!(bundled_manifest_warning(b"{}", &hosts).is_some_and(|w| w.contains("no `url`")));
    }
}
