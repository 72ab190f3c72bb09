//! The analytics chart: a server-rendered SVG (no script, allowed by the dashboard's CSP) of
//! requests per day as bars and distinct users as a line, with exact numbers in `<title>`s.

use std::fmt::Write as _;

use tmahost_service::model::DailyStats;

const W: f64 = 720.0;
const H: f64 = 180.0;
const PAD_LEFT: f64 = 48.0;
const PAD_BOTTOM: f64 = 22.0;
const PAD_TOP: f64 = 10.0;

fn day_label(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| format!("{:02}-{:02}", u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

/// The chart. Numbers and dates are the only data in it, so it is safe to embed unescaped.
pub(super) fn svg(days: &[DailyStats]) -> String {
    let max_requests = days.iter().map(|d| d.requests).max().unwrap_or(0).max(1) as f64;
    let max_users = days.iter().map(|d| d.users).max().unwrap_or(0).max(1) as f64;
    let plot_w = W - PAD_LEFT;
    let plot_h = H - PAD_BOTTOM - PAD_TOP;
    let slot = plot_w / days.len().max(1) as f64;
    let total_requests: i64 = days.iter().map(|d| d.requests).sum();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="Requests per day (bars) and distinct users per day (line), last {n} days; {total_requests} requests in all" xmlns="http://www.w3.org/2000/svg">"#,
        n = days.len()
    );
    let _ = write!(
        out,
        r##"<line x1="{PAD_LEFT}" y1="{y}" x2="{W}" y2="{y}" stroke="#e4e7ec"/><text x="{tx}" y="{ty}" font-size="11" text-anchor="end" fill="#667085">{max}</text><text x="{tx}" y="{y}" font-size="11" text-anchor="end" fill="#667085">0</text>"##,
        y = PAD_TOP + plot_h,
        tx = PAD_LEFT - 6.0,
        ty = PAD_TOP + 10.0,
        max = max_requests as i64
    );
    let mut line = Vec::with_capacity(days.len());
    for (i, d) in days.iter().enumerate() {
        let x = PAD_LEFT + i as f64 * slot;
        let h = d.requests as f64 / max_requests * plot_h;
        let label = day_label(d.day);
        let users = if d.users == 1 { "user" } else { "users" };
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#2a6ef2" opacity="0.75"><title>{label}: {r} requests, {s} sessions, {u} {users}</title></rect>"##,
            y = PAD_TOP + plot_h - h,
            w = (slot * 0.7).max(1.0),
            r = d.requests,
            s = d.sessions,
            u = d.users
        );
        line.push(format!("{:.1},{:.1}", x + slot * 0.35, PAD_TOP + plot_h - d.users as f64 / max_users * plot_h));
        // A date every week, counted back from today so the last one is today.
        if (days.len() - 1 - i).is_multiple_of(7) {
            let _ = write!(
                out,
                r##"<text x="{tx:.1}" y="{ty}" font-size="11" text-anchor="middle" fill="#667085">{label}</text>"##,
                tx = x + slot * 0.35,
                ty = H - 6.0
            );
        }
    }
    let _ =
        write!(out, r##"<polyline points="{}" fill="none" stroke="#067647" stroke-width="2"/></svg>"##, line.join(" "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day_and_carry_exact_numbers() {
        let days = [
            DailyStats { day: 20_000, requests: 10, sessions: 2, users: 1 },
            DailyStats { day: 20_001, requests: 40, sessions: 5, users: 4 },
        ];
        let s = svg(&days);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("<title>10-05: 40 requests, 5 sessions, 4 users</title>"), "{s}");
        assert!(s.contains(r#"height="148.0""#), "the busiest day fills the plot: {s}");
        assert!(s.contains("50 requests in all"));
        assert!(svg(&[]).contains("0 requests in all"), "empty is drawn, not a panic");
    }
}
