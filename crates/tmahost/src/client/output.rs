//! What the client commands print: tables and lines for people (JSON is printed as the API
//! sent it).

use serde_json::Value;

pub(super) fn print_deployed(d: &Value) {
    for w in d["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", text(w));
    }
    let staged = d["status"] == "ready";
    let counts = match d.get("uploaded_blobs") {
        Some(n) => format!("; {n} uploaded, {} already stored", d["reused_blobs"]),
        None => format!("; {} new contents", d["new_blobs"]),
    };
    println!(
        "{} v{} ({} files, {}{counts})",
        if staged { "staged" } else { "deployed" },
        d["version"],
        d["file_count"],
        human(d["total_bytes"].as_i64().unwrap_or(0) as u64),
    );
    if staged {
        println!("preview: {}", text(&d["preview_url"]));
        println!("promote: tmahost promote {}", text(&d["id"]));
    } else {
        println!("url:     {}", text(&d["url"]));
        println!("preview: {}", text(&d["preview_url"]));
    }
}

pub(super) fn print_deployments(list: &Value) {
    table(
        &["VERSION", "STATUS", "CREATED", "FILES", "SIZE", "BY", "MESSAGE", "ID"],
        list.as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let pinned = if d["pinned"] == true { ", pinned" } else { "" };
                vec![
                    format!("v{}", d["version"]),
                    format!("{}{pinned}", text(&d["status"])),
                    text(&d["created_at"]),
                    d["file_count"].to_string(),
                    human(d["total_bytes"].as_i64().unwrap_or(0) as u64),
                    text(&d["created_by"]),
                    d["message"].as_str().map(|m| m.chars().take(40).collect()).unwrap_or_default(),
                    text(&d["id"]),
                ]
            })
            .collect(),
    );
}

/// A JSON string without quotes (other values as JSON).
pub(super) fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

pub(crate) fn human(n: u64) -> String {
    tmahost_service::display::bytes(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Left-aligned columns, two spaces apart.
pub(super) fn table(header: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        println!("(none)");
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row);
    }
}
