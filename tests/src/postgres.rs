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
    // The shared cluster lives as long as the test process; its watchdog cleans up after it.
    let server = PgServer::start()?;
    let port = server.port;
    std::mem::forget(server);
    Ok(Cluster { port })
}

/// A PostgreSQL server of one's own, for tests that stop and restart it (database outages).
/// Dropping it stops the server and removes its files; a watchdog does the same if the test
/// process dies first.
#[derive(Debug)]
pub struct PgServer {
    dir: PathBuf,
    postgres: PathBuf,
    root: bool,
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PgServer {
    /// `initdb` into a temp dir and start the server on a free loopback port, or `None` (after
    /// a notice, or a failure under [`crate::require_all`]) when PostgreSQL is not installed.
    pub fn try_start() -> Option<Self> {
        match Self::start() {
            Ok(s) => Some(s),
            Err(e) => crate::unavailable("PostgreSQL", &e),
        }
    }

    fn start() -> Result<Self, String> {
        let initdb = find_bin("initdb").ok_or("initdb not found on PATH or in /usr/lib/postgresql/*/bin")?;
        let postgres = find_bin("postgres").ok_or("postgres binary not found")?;
        let root = is_root();
        let dir = tempfile::Builder::new().prefix("tmahost-pg-").tempdir().map_err(|e| e.to_string())?.keep();
        if root {
            let ok =
                Command::new("chown").arg("-R").arg("postgres:postgres").arg(&dir).status().is_ok_and(|s| s.success());
            if !ok {
                return Err("cannot chown the cluster directory to the postgres user (does it exist?)".into());
            }
        }
        let out = as_pg(&initdb, root)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        // The watchdog outlives us: when this process is gone it stops whichever server runs
        // on the directory now (SIGINT = fast shutdown) and removes it.
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; \
             pg=$(head -1 '{dir}/data/postmaster.pid' 2>/dev/null); [ -n \"$pg\" ] && kill -INT $pg 2>/dev/null; \
             for i in $(seq 50); do [ -n \"$pg\" ] && kill -0 $pg 2>/dev/null || break; sleep 0.1; done; rm -rf '{dir}'",
            me = std::process::id(),
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
        let mut server = Self { dir, postgres, root, port, child: None };
        server.run()?;
        Ok(server)
    }

    fn run(&mut self) -> Result<(), String> {
        let child = as_pg(&self.postgres, self.root)
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("postgres: {e}"))?;
        self.child = Some(child);
        Ok(())
    }

    /// `postgres://postgres@127.0.0.1:PORT/{db}`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new empty database on this server, once it accepts logins.
    pub async fn create_database(&self, name: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            match create_database(&self.url("postgres"), name).await {
                Ok(()) => return self.url(name),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("PostgreSQL did not accept connections: {last}");
    }

    /// Fast shutdown (SIGINT), waiting until the server has exited.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same directory and port.
    pub fn restart(&mut self) {
        self.stop();
        self.run().expect("restart PostgreSQL");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
