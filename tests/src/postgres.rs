//! A throwaway PostgreSQL cluster, started once per test process on a free loopback port.
//!
//! `initdb` runs into a temp dir (as the `postgres` user when we are root, since PostgreSQL
//! refuses to run as root). A small watchdog shell process stops the server and removes the
//! directory when the test process exits, however it exits.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// A URL of a fresh, empty database, or `None` (after a notice) when PostgreSQL is not
/// available and [`crate::require_all`] is off. `TMAHOST_TEST_POSTGRES_URL` points the suite
/// at an existing server instead (a database is still created per call).
pub async fn fresh_database() -> Option<String> {
    let admin_url = match std::env::var("TMAHOST_TEST_POSTGRES_URL") {
        Ok(url) => url,
        Err(_) => match CLUSTER.get_or_init(start_cluster) {
            Ok(c) => format!("postgres://postgres@127.0.0.1:{}/postgres", c.port),
            Err(e) => return crate::unavailable("PostgreSQL", e),
        },
    };
    let name = format!("t_{:016x}", rand_u64());
    let mut last_err = String::new();
    // The server accepts TCP before it accepts logins: retry for a while.
    for _ in 0..100 {
        match create_database(&admin_url, &name).await {
            Ok(()) => {
                let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
                return Some(format!("{base}/{name}"));
            }
            Err(e) => last_err = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("PostgreSQL did not accept connections: {last_err}");
}

async fn create_database(admin_url: &str, name: &str) -> Result<(), String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await.map_err(|e| e.to_string())?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

fn find_bin(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Runs `program` as the `postgres` user when we are root.
fn as_pg(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--clear-groups", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start_cluster() -> Result<Cluster, String> {
    let initdb = find_bin("initdb").ok_or("initdb not found on PATH or in /usr/lib/postgresql/*/bin")?;
    let postgres = find_bin("postgres").ok_or("postgres binary not found")?;
    let root = is_root();
    let dir = tempfile::Builder::new().prefix("tmahost-pg-").tempdir().map_err(|e| e.to_string())?.keep();
    if root {
        let ok = Command::new("chown").arg("-R").arg("postgres:postgres").arg(&dir).status().is_ok_and(|s| s.success());
        if !ok {
            return Err("cannot chown the cluster directory to the postgres user (does it exist?)".into());
        }
    }
    let data = dir.join("data");
    let out = as_pg(&initdb, root)
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let child = as_pg(&postgres, root)
        .arg("-D")
        .arg(&data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(&dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("postgres: {e}"))?;
    // The watchdog outlives us: when this process is gone it stops the server (SIGINT =
    // fast shutdown) and removes the cluster directory.
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; kill -INT {pg} 2>/dev/null; \
         for i in $(seq 50); do kill -0 {pg} 2>/dev/null || break; sleep 0.1; done; rm -rf '{dir}'",
        me = std::process::id(),
        pg = child.id(),
        dir = dir.display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    // Reap the server if it dies early, so a crash shows up as refused connections.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(Cluster { port })
}
