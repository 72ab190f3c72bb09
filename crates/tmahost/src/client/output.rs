//! What the client commands print for people: tables and lines (`--json` prints the DTOs).

use serde_json::Value;
use tmahost_api::dto::DeploymentDto;

use super::deploy::Deployed;

pub(super) fn print_deployed(deployed: &Deployed) {
    let (r, d) = (&deployed.result, &deployed.result.deployment);
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    let staged = d.status == "ready";
    let counts = match deployed.uploaded_blobs {
        Some(n) => format!("; {n} uploaded, {} already stored", r.reused_blobs),
        None => format!("; {} new contents", r.new_blobs),
    };
    println!(
        "{} v{} ({} files, {}{counts})",
        if staged { "staged" } else { "deployed" },
        d.version,
        d.file_count,
        human(d.total_bytes as u64),
    );
    if staged {
        println!("preview: {}", d.preview_url);
        println!("promote: tmahost promote {}", d.id);
    } else {
        println!("url:     {}", d.url);
        println!("preview: {}", d.preview_url);
    }
}

pub(super) fn print_deployments(list: &[DeploymentDto]) {
    table(
        &["VERSION", "STATUS", "CREATED", "FILES", "SIZE", "BY", "MESSAGE", "ID"],
        list.iter()
            .map(|d| {
                let pinned = if d.pinned { ", pinned" } else { "" };
                vec![
                    format!("v{}", d.version),
                    format!("{}{pinned}", d.status),
                    d.created_at.clone(),
                    d.file_count.to_string(),
                    human(d.total_bytes as u64),
                    d.created_by.clone(),
                    d.message.as_deref().map(|m| m.chars().take(40).collect()).unwrap_or_default(),
                    d.id.clone(),
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
