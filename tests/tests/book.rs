//! The book in `docs/` (mdBook): the getting-started page runs as written, the generated pages
//! (configuration, API) match the code, every link between pages (and from the README)
//! resolves, every page is in the summary, and `mdbook build` succeeds.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tmahost_testkit::TOKEN_A;
use tmahost_testkit::fake_telegram::FakeTelegram;
use tmahost_testkit::server::binary;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs/src"))
        .expect("docs/src")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

/// The ```sh blocks of a page, in order.
fn shell_blocks(page: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_getting_started_page_runs_as_written() {
    let page = std::fs::read_to_string(root().join("docs/src/getting-started.md")).expect("page");
    let blocks = shell_blocks(&page);
    assert!(blocks.len() >= 6, "the page has its shell blocks");
    let script = blocks.join("\n");

    let telegram = FakeTelegram::start().await;
    telegram.add_bot(TOKEN_A, "getting_started_bot");
    let home = tempfile::tempdir().expect("tempdir");
    let bin_dir = binary().parent().expect("bin dir").to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());

    let mut cmd = tokio::process::Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &script])
        .current_dir(home.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("TMAHOST_API_ADDR", free_addr())
        .env("TMAHOST_EDGE_ADDR", free_addr())
        .env("TMAHOST_TELEGRAM_API_URL", &telegram.url)
        .env("BOT_TOKEN", TOKEN_A)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd.spawn().expect("bash");
    let group = child.id().expect("pid");
    // A guard against a hang (the page waits for the server itself), not a timing assertion.
    let out = tokio::time::timeout(Duration::from_secs(600), child.wait_with_output()).await;
    // Whatever happened, nothing the page started outlives the test.
    let _ = std::process::Command::new("kill").args(["-9", "--", &format!("-{group}")]).status();
    let out = out.expect("the page finishes").expect("bash ran");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let log = std::fs::read_to_string(home.path().join("tmahost.log")).unwrap_or_default();
    assert!(out.status.success(), "the page failed:\n{stdout}\n{stderr}\nserver log:\n{log}");

    // What a reader sees: the bot, two deploys, the dev link, the rollback.
    for expected in ["@getting_started_bot", "deployed v1", "deployed v2", "tgWebAppData", "v1 is live again"] {
        assert!(stdout.contains(expected), "`{expected}` missing from the output:\n{stdout}\n{stderr}");
    }
    let menu = telegram.calls_to("setChatMenuButton");
    assert!(!menu.is_empty(), "registering pointed the bot's menu button at its app");
}

/// mdBook's anchor for a heading: lowercase, spaces to `-`, other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    text.lines()
        .filter(|l| {
            if l.starts_with("```") {
                in_code = !in_code;
            }
            !in_code && l.starts_with('#')
        })
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

/// `[text](target)` links outside code, as (line, target).
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_code = false;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            continue;
        }
        // Inline code spans are not links.
        let visible: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = visible.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((n + 1, after[..end].to_owned()));
            rest = &after[end..];
        }
    }
    out
}

/// Every relative link of `file` names a file that exists and, with `#…`, a heading in it.
fn check_links(file: &Path, broken: &mut Vec<String>) {
    let text = std::fs::read_to_string(file).expect("read");
    for (line, target) in links(&text) {
        if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, fragment) = target.split_once('#').unwrap_or((target.as_str(), ""));
        let dest = if path.is_empty() { file.to_owned() } else { file.parent().expect("dir").join(path) };
        if !dest.exists() {
            broken.push(format!("{}:{line}: {target} (no such file)", file.display()));
            continue;
        }
        if !fragment.is_empty() && dest.extension().is_some_and(|e| e == "md") {
            let headings = anchors(&std::fs::read_to_string(&dest).expect("read"));
            if !headings.iter().any(|h| h == fragment) {
                broken.push(format!("{}:{line}: {target} (no such heading)", file.display()));
            }
        }
    }
}

#[test]
fn every_link_of_the_book_and_the_readme_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        check_links(&page, &mut broken);
    }
    for file in ["README.md", "ARCHITECTURE.md", "tests/load/README.md"] {
        check_links(&root().join(file), &mut broken);
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_page_is_in_the_summary_and_the_readme_is_short() {
    let summary = std::fs::read_to_string(root().join("docs/src/SUMMARY.md")).expect("SUMMARY.md");
    for page in pages() {
        let name = page.file_name().expect("name").to_string_lossy().into_owned();
        if name != "SUMMARY.md" {
            assert!(summary.contains(&format!("]({name})")), "{name} is not in SUMMARY.md");
        }
    }
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(readme.lines().count() <= 200, "README.md is {} lines; the book is for the rest", readme.lines().count());
}

/// The part of `page` between the generator's markers equals `fresh`; `UPDATE_DOCS=1` rewrites it.
fn assert_generated(page: &str, begin: &str, fresh: &str) {
    let path = root().join(page);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
    let end = "<!-- end of reference -->";
    let (head, rest) = text.split_once(begin).unwrap_or_else(|| panic!("{page}: no `{begin}`"));
    let (current, tail) = rest.split_once(end).unwrap_or_else(|| panic!("{page}: no `{end}`"));
    if current == fresh {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{head}{begin}{fresh}{end}{tail}")).expect("write the page");
    } else {
        panic!("{page} is stale: run `UPDATE_DOCS=1 cargo test --test book` and commit it");
    }
}

#[test]
fn the_generated_pages_are_current() {
    let config = "<!-- reference: generated from crates/service/src/config.rs -->\n";
    assert_generated("docs/src/configuration.md", config, &tmahost_service::config::reference());
    let api = "<!-- reference: generated from the OpenAPI document -->\n";
    assert_generated("docs/src/api.md", api, &tmahost_api::api_reference());
}

#[test]
fn the_book_builds() {
    let Ok(version) = std::process::Command::new("mdbook").arg("--version").output() else {
        return tmahost_testkit::unavailable("mdbook", "not on PATH (cargo install mdbook --locked)").unwrap_or(());
    };
    assert!(version.status.success());
    let out = tempfile::tempdir().expect("tempdir");
    let build = std::process::Command::new("mdbook")
        .arg("build")
        .arg(root().join("docs"))
        .arg("--dest-dir")
        .arg(out.path())
        .output()
        .expect("mdbook build");
    let log = String::from_utf8_lossy(&build.stderr);
    assert!(build.status.success(), "mdbook build failed:\n{log}");
    assert!(!log.contains("WARN") && !log.contains("ERROR"), "mdbook warned:\n{log}");
    for page in ["index.html", "getting-started.html", "configuration.html", "api.html"] {
        assert!(out.path().join(page).exists(), "{page} was not built");
    }
}
