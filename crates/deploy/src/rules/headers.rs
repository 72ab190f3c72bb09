//! `_headers`: a path line, then the headers it sets or removes.

use tmahost_types::cookie;

use super::*;

pub(super) fn parse_headers(text: &str, warnings: &mut Vec<RuleError>) -> Result<Vec<HeaderRule>, RuleError> {
    let file = HEADERS_FILE;
    let mut out: Vec<HeaderRule> = Vec::new();
    // The line of the last rule's path and how many header lines followed it (to report a
    // rule without any), and whether the current path line was left out (its header lines go
    // with it, without a warning each).
    let mut path_line = 0;
    let mut under_path = 0;
    let mut complex = 0;
    let mut skipping = false;
    // A rule whose lines were all left out goes too; their warnings say why.
    let drop_if_empty = |out: &mut Vec<HeaderRule>, warnings: &mut Vec<RuleError>, line: usize, under: usize| {
        if out.last().is_some_and(|r| r.set.is_empty() && r.unset.is_empty()) {
            let rule = out.pop().expect("a last rule");
            if under == 0 {
                warnings.push(err(file, line, format!("`{}` has no header lines; it is ignored", rule.pattern)));
            }
        }
    };
    for (n, line) in lines(file, text, warnings)? {
        // Both hosts tell a path line by its start, not by indentation.
        if line.starts_with('/') || is_url(line) {
            drop_if_empty(&mut out, warnings, path_line, under_path);
            under_path = 0;
            if out.len() == MAX_HEADER_RULES {
                warnings.push(err(
                    file,
                    n,
                    format!("more than {MAX_HEADER_RULES} rules: this line and the rest are ignored"),
                ));
                return Ok(out);
            }
            path_line = n;
            skipping = true;
            if !line.starts_with('/') {
                let m = format!(
                    "`{line}`: a rule's path is a path; rules for a whole host are not supported; the rule is ignored"
                );
                warnings.push(err(file, n, m));
                continue;
            }
            match Pattern::parse(line).and_then(|p| count_complex(&p, &mut complex).map(|()| p)) {
                Ok(pattern) => {
                    out.push(HeaderRule { pattern, set: Vec::new(), unset: Vec::new() });
                    skipping = false;
                }
                Err(m) => warnings.push(err(file, n, format!("{m}; the rule is ignored"))),
            }
            continue;
        }
        if skipping {
            continue;
        }
        under_path += 1;
        match header_line(line) {
            Ok(change) => {
                let Some(rule) = out.last_mut() else {
                    warnings.push(err(file, n, "a header line must follow a path line such as `/*`; it is ignored"));
                    continue;
                };
                match change {
                    HeaderChange::Set(name, value) => rule.set.push((name, value)),
                    HeaderChange::Unset(name) => rule.unset.push(name),
                }
            }
            Err(Problem::Ignored(m)) => warnings.push(err(file, n, format!("{m}; the line is ignored"))),
            Err(Problem::Refused(m)) => return Err(err(file, n, m)),
        }
    }
    drop_if_empty(&mut out, warnings, path_line, under_path);
    Ok(out)
}

/// A `Name: value` or `! Name` line of `_headers`.
fn header_line(line: &str) -> Result<HeaderChange, Problem> {
    let Some((name, value)) = line.split_once(':') else {
        return match line.strip_prefix('!') {
            Some(name) => Ok(HeaderChange::Unset(header_name(name.trim())?)),
            None => Err(format!("`{line}`: expected `Name: value`").into()),
        };
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return Err("expected `Name: value`: the name is missing".to_owned().into());
    }
    if name.eq_ignore_ascii_case("basic-auth") {
        return Err(Problem::Refused(
            "`Basic-Auth` (Netlify's password protection) is not supported, and would send the password to \
             every visitor as a header; remove it (apps are gated by Telegram sign-in: see `access`)"
                .into(),
        ));
    }
    let name = header_name(name)?;
    if value.is_empty() || !value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return Err(format!("the value of `{name}` must be non-empty printable ASCII").into());
    }
    if name == "set-cookie" {
        cookie_stays_on_origin(value).map_err(Problem::Refused)?;
    }
    Ok(HeaderChange::Set(name, value.to_owned()))
}

/// A `Set-Cookie` from a bundle must stay on the app's own origin: a `Domain` attribute
/// names a parent domain (the platform's base domain or a name above a custom domain), whose
/// cookies reach every other tenant's app there; placeholders would let a request write one.
fn cookie_stays_on_origin(value: &str) -> Result<(), String> {
    if cookie::is_platform_cookie(value) {
        return Err(format!(
            "`Set-Cookie` may not set `{}`: the name belongs to the platform's session cookies",
            cookie::name(value)
        ));
    }
    if cookie::has_domain(value) {
        return Err("`Set-Cookie` may not have a `Domain` attribute: the cookie would reach other apps under that \
                    domain; leave it out so the cookie stays on this app's host"
            .into());
    }
    if placeholders(value).next().is_some() {
        return Err("`Set-Cookie` may not use placeholders".into());
    }
    Ok(())
}

fn header_name(name: &str) -> Result<String, String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("`{name}` is not a valid header name"));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(format!("`{name}` is set by the server and cannot be changed"));
    }
    Ok(lower)
}
