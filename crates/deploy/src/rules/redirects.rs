//! `_redirects`: one rule per line, read as Netlify reads it.

use super::*;

pub(super) fn parse_redirects(text: &str, warnings: &mut Vec<RuleError>) -> Result<Vec<Redirect>, RuleError> {
    let file = REDIRECTS_FILE;
    let mut out: Vec<Redirect> = Vec::new();
    let mut seen = HashSet::new();
    let mut complex = 0;
    for (n, line) in lines(file, text, warnings)? {
        if out.len() == MAX_REDIRECTS {
            warnings.push(err(file, n, format!("more than {MAX_REDIRECTS} rules: this line and the rest are ignored")));
            break;
        }
        match redirect_line(line) {
            Ok((rule, notes)) => {
                warnings.extend(notes.into_iter().map(|m| err(file, n, m)));
                if let Err(m) = count_complex(&rule.from, &mut complex) {
                    warnings.push(err(file, n, format!("{m}; the line is ignored")));
                    continue;
                }
                if !seen.insert((rule.from.as_str().to_owned(), format!("{:?}", rule.query))) {
                    let m = format!("`{}` has a rule on an earlier line, which wins; this one is ignored", rule.from);
                    warnings.push(err(file, n, m));
                    continue;
                }
                out.push(rule);
            }
            Err(Problem::Ignored(m)) => warnings.push(err(file, n, format!("{m}; the line is ignored"))),
            Err(Problem::Refused(m)) => return Err(err(file, n, m)),
        }
    }
    Ok(out)
}

fn is_destination(part: &str) -> bool {
    part.starts_with('/') || is_url(part)
}

/// One `_redirects` line, `from [key=value …] [to] [status[!]] [conditions]` as Netlify reads
/// it, and notes on what it reads differently than written.
fn redirect_line(line: &str) -> Result<(Redirect, Vec<String>), Problem> {
    let mut notes = Vec::new();
    let mut parts: Vec<&str> = line.split_whitespace().collect();
    if let Some(i) = parts.iter().position(|p| p.starts_with('#')) {
        parts.truncate(i);
    }
    let Some((&from, rest)) = parts.split_first() else { return Err("expected `from to [status]`".to_owned().into()) };
    if is_url(from) {
        return Err(format!("`{from}`: a rule's `from` is a path; rules for a whole host are not supported").into());
    }
    let query_len = rest.iter().take_while(|p| p.contains('=') && !is_destination(p)).count();
    let (query_parts, rest) = rest.split_at(query_len);
    let (to, rest) = match rest.split_first() {
        Some((to, rest)) if is_destination(to) => (Some(*to), rest),
        _ => (None, rest),
    };
    let (status, conditions) = match rest.split_first() {
        Some((status, conditions)) => (Some(*status), conditions),
        None => (None, rest),
    };
    if let Some(c) = conditions.iter().find(|c| {
        c.split_once('=').is_some_and(|(k, _)| ENFORCING_CONDITIONS.contains(&k.to_ascii_lowercase().as_str()))
    }) {
        return Err(Problem::Refused(format!(
            "`{c}`: Netlify's role and signature conditions cannot be enforced here, and the rule without \
             them would apply to everyone; remove it (apps are gated by Telegram sign-in: see `access`)"
        )));
    }
    if !conditions.is_empty() {
        return Err(format!(
            "`{}`: conditions (Netlify's `Country=`, `Language=`, …) are not supported",
            conditions.join(" ")
        )
        .into());
    }
    if to.is_none() && query_parts.is_empty() && rest.is_empty() {
        return Err("expected `from to [status]`".to_owned().into());
    }
    let (status, force) = match status {
        None => (301, false),
        Some(s) => {
            let (digits, force) = s.strip_suffix('!').map_or((s, false), |d| (d, true));
            let Ok(code) = digits.parse::<u16>() else {
                return Err(match to {
                    None => format!("`{s}`: the destination must start with `/` or be an http(s) URL"),
                    Some(_) => format!("`{s}` is not a status code"),
                }
                .into());
            };
            (code, force)
        }
    };
    if ![200, 301, 302, 303, 307, 308, 404, 410].contains(&status) {
        return Err(format!("status {status} is not supported (use 200, 301, 302, 303, 307, 308, 404 or 410)").into());
    }

    let (path, from_query) = from.split_once('?').map_or((from, None), |(p, q)| (p, Some(q)));
    let pattern = Pattern::parse(path)?;
    if pattern.splats() > 1 {
        return Err(format!("`{from}`: a `_redirects` rule may have one `*`").into());
    }
    if pattern.as_str() == PLATFORM_PREFIX || pattern.as_str().starts_with("/_tma/") {
        return Err(
            format!("`{from}`: `{PLATFORM_PREFIX}/` belongs to the platform and never reaches `_redirects`").into()
        );
    }
    let mut query = Vec::new();
    for pair in query_parts.iter().copied().chain(from_query.into_iter().flat_map(|q| q.split('&'))) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = match value.strip_prefix(':') {
            Some(name) if is_name(name) => QueryValue::Capture(name.to_owned()),
            _ => QueryValue::Equals(value.to_owned()),
        };
        query.push(QueryMatch { key: key.to_owned(), value });
    }
    if from_query.is_some() {
        notes.push(format!(
            "`{from}`: the query is matched as parameters the request must have, as Netlify's `{path} {}` \
             (Cloudflare Pages ignores it)",
            from_query.unwrap_or_default().replace('&', " ")
        ));
    }

    let to = match to {
        Some(to) => to.to_owned(),
        // Netlify: `/admin/* 200` serves the path asked (and stops later rules).
        None if status == 200 => pattern.as_str().replacen('*', ":splat", 1),
        None => return Err(format!("a {status} rule needs a destination").into()),
    };
    let external = is_url(&to);
    if external && matches!(status, 200 | 404 | 410) {
        return Err(format!(
            "`{to}`: proxying to another site is not supported; route the path to a backend with the app's \
             `backends` setting"
        )
        .into());
    }
    if to.chars().any(|c| c.is_control()) {
        return Err("the destination contains control characters".to_owned().into());
    }
    let captured = |name: &str| {
        pattern.placeholder_names().any(|p| p == name)
            || (name == "splat" && pattern.splats() > 0)
            || query.iter().any(|q| q.value == QueryValue::Capture(name.to_owned()))
    };
    for name in placeholders(&to).filter(|n| !captured(n)) {
        notes.push(format!("`:{name}` in the destination is not a placeholder of `{from}`; it stays as written"));
    }
    Ok((Redirect { from: pattern, query, to, status, force }, notes))
}
