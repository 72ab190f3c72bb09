//! DNS names as the platform accepts them: for its base domain and for tenants' custom domains.

use std::fmt;

/// A DNS name: at most 253 bytes of dot-separated labels, each 1-63 bytes of `a-z0-9-` not
/// starting or ending with `-`. Parsed lowercase and without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DnsName(String);

impl DnsName {
    /// `None` for anything that is not an ASCII DNS name (punycode is; IP addresses in brackets,
    /// underscores or spaces are not).
    pub fn parse(raw: &str) -> Option<Self> {
        let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        ok.then_some(Self(d))
    }

    /// A name someone can own on the internet: more than one label, and a top-level domain that
    /// is not numeric (which refuses IPv4 addresses).
    pub fn is_public(&self) -> bool {
        self.0.contains('.') && self.0.rsplit('.').next().is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
    }

    /// This name is `base` or a name under it.
    pub fn is_within(&self, base: &str) -> bool {
        is_within(&self.0, base)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `name` is `base` or a name under it (both lowercase, without a trailing dot); for names
/// that are not [`DnsName`]s too, such as a URL's host with `_` in it.
pub fn is_within(name: &str, base: &str) -> bool {
    name == base || name.strip_suffix(base).is_some_and(|head| head.ends_with('.'))
}

impl From<DnsName> for String {
    fn from(d: DnsName) -> Self {
        d.0
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_and_checked_label_by_label() {
        assert_eq!(DnsName::parse(" App.Example.COM. ").map(String::from).as_deref(), Some("app.example.com"));
        assert_eq!(DnsName::parse("xn--80ak6aa92e.com").map(String::from).as_deref(), Some("xn--80ak6aa92e.com"));
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abc.".repeat(63));
        for bad in ["", ".", "a..b", "-a.com", "a-.com", "a_b.com", "a b.com", "[::1]", &long_label, &long_name] {
            assert_eq!(DnsName::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn public_names_have_a_real_top_level_domain() {
        let public = |s: &str| DnsName::parse(s).expect("name").is_public();
        assert!(public("app.example.com"));
        assert!(!public("localhost"));
        assert!(!public("127.0.0.1"));
    }

    #[test]
    fn within_means_equal_or_under_a_dot() {
        let d = DnsName::parse("a.apps.example.com").expect("name");
        assert!(d.is_within("apps.example.com"));
        assert!(d.is_within("a.apps.example.com"));
        assert!(!d.is_within("ps.example.com"));
        assert!(!d.is_within("example.org"));
    }
}
