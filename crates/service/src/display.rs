//! How values read for people, shared by the front doors that render text (control bot,
//! dashboard): sizes, times.

/// `512 B`, `340.0 KB`, `5.0 MB`.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n.max(0) as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// Milliseconds since the epoch as `2026-11-25 01:02 UTC`.
pub fn when(ms: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(348_160), "340.0 KB");
        assert_eq!(super::bytes(5 * 1024 * 1024), "5.0 MB");
        assert_eq!(super::when(1_764_032_520_000), "2025-11-25 01:02 UTC");
    }
}
