//! The platform's session cookie, and the rule for cookies a tenant sets beside it (in
//! `_headers` at upload, and in an app backend's answers at the edge): a tenant's cookie stays
//! on its app's host (no `Domain` attribute, which would share it with every app under that
//! domain) and never takes the platform's session cookie's name.

/// The edge's session cookie; `__Host-`: no `Domain`, `Path=/`, `Secure`.
pub const SESSION_COOKIE: &str = "__Host-tma_session";

/// The cookie the gate page sets for its one navigation back to the app: the launch data,
/// which the edge trades for a session cookie on the way (one round trip less than
/// `POST /_tma/session`). `__Host-`, so no other app's page can set it for this host.
pub const LAUNCH_COOKIE: &str = "__Host-tma_launch";

/// The name of the cookie a `Set-Cookie` value sets: what comes before its first `=` (or its
/// first `;`, a nameless cookie's value, which browsers send back bare), trimmed.
pub fn name(set_cookie: &str) -> &str {
    let pair = set_cookie.split(';').next().unwrap_or_default();
    pair.split('=').next().unwrap_or_default().trim()
}

/// Whether the cookie passes for one of the platform's cookies: its name without a
/// `__Host-`/`__Secure-` prefix, in any case (browsers match prefixes so), is `tma_session`
/// or `tma_launch`.
pub fn is_platform_cookie(set_cookie: &str) -> bool {
    let name = name(set_cookie);
    let bare = ["__host-", "__secure-"]
        .iter()
        .find_map(|p| name.get(..p.len()).filter(|head| head.eq_ignore_ascii_case(p)).map(|_| &name[p.len()..]))
        .unwrap_or(name);
    bare.eq_ignore_ascii_case("tma_session") || bare.eq_ignore_ascii_case("tma_launch")
}

/// Whether the value has a `Domain` attribute (any case, any spacing around its name).
pub fn has_domain(set_cookie: &str) -> bool {
    set_cookie.split(';').skip(1).any(is_domain_attribute)
}

/// The value without its `Domain` attributes: a host-only cookie of the same name and value.
pub fn without_domain(set_cookie: &str) -> String {
    let mut parts = set_cookie.split(';');
    let mut out = parts.next().unwrap_or_default().to_owned();
    for attribute in parts.filter(|a| !is_domain_attribute(a)) {
        out.push(';');
        out.push_str(attribute);
    }
    out
}

fn is_domain_attribute(attribute: &str) -> bool {
    attribute.split('=').next().unwrap_or_default().trim().eq_ignore_ascii_case("domain")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_cookies_names_in_any_spelling_are_the_platforms() {
        for value in [
            "__Host-tma_session=x; Path=/",
            "__Host-tma_launch=x; Path=/",
            "__secure-TMA_LAUNCH=x",
            "__host-TMA_SESSION=x",
            "__Secure-tma_session=x",
            "tma_session=x",
            " tma_session =x",
            "__Host-tma_session",
        ] {
            assert!(is_platform_cookie(value), "{value}");
        }
        for value in ["theme=dark", "tma_session2=x", "tma_launcher=x", "x__Host-tma_session=x", "a=__Host-tma_session"]
        {
            assert!(!is_platform_cookie(value), "{value}");
        }
    }

    #[test]
    fn domain_attributes_are_found_and_removed() {
        assert!(has_domain("a=1; Path=/; Domain=localhost"));
        assert!(has_domain("a=1;domain=.example.com"));
        assert!(has_domain("a=1; DOMAIN = example.com; Secure"));
        assert!(!has_domain("a=1; Path=/domain; Secure"));
        assert!(!has_domain("domain=1; Secure"));
        assert_eq!(without_domain("a=1; Path=/; Domain=localhost; Secure"), "a=1; Path=/; Secure");
        assert_eq!(without_domain("a=1;domain=.x;DOMAIN=y"), "a=1");
        assert_eq!(without_domain("a=1; Path=/"), "a=1; Path=/");
    }
}
