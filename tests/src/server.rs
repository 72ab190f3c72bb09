//! Starts the real `tmahost` binary as a child process with a temp data dir and random
//! ports, reads the addresses and the first admin token it prints, and stops it on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The `tmahost` binary of this build, next to the test executable's `deps/` folder.
/// `cargo test --workspace` builds it; `cargo test -p tmahost-testkit` alone does not rebuild
/// another package's binary, so when it is missing or older than the sources it is built here
/// (a stale binary would test old code).
pub fn binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| fresh(&format!("tmahost{}", std::env::consts::EXE_SUFFIX), &["--bin", "tmahost"])).clone()
}

/// An example of the `tmahost` package (`populate`, `gc_populate`: the load benchmarks' data
/// makers), built like [`binary`] when missing or stale.
pub fn example(name: &str) -> PathBuf {
    fresh(&format!("examples/{name}{}", std::env::consts::EXE_SUFFIX), &["--example", name])
}

/// `target/<profile>/{path}`, built by `cargo build -p tmahost {what}` unless it is newer than
/// every source.
fn fresh(path: &str, what: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    let bin = profile_dir.join(path);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    // web-admin: the dashboard's templates and scripts are compiled into the binary.
    let sources =
        ["crates", "migrations", "web-admin", "Cargo.lock"].iter().filter_map(|p| newest(&root.join(p))).max();
    if built.is_some() && sources.is_none_or(|s| Some(s) <= built) {
        return bin;
    }
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "tmahost"]).args(what).current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo build");
    assert!(status.success(), "building {path} failed");
    bin
}

/// The newest modification time of a file or of any file below a folder.
fn newest(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path).ok()?.flatten().filter_map(|e| newest(&e.path())).max()
}

/// A running `tmahost serve` (or another role).
pub struct Serve {
    child: Child,
    stdout: mpsc::Receiver<String>,
    role: String,
    env: Vec<(String, String)>,
    pub data_dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` of the API role.
    pub api: String,
    /// `http://127.0.0.1:PORT` of the edge role (empty for `api`).
    pub edge: String,
    /// The bootstrap admin token printed on first start, if any.
    pub admin_token: Option<String>,
    seen: Vec<String>,
    /// Everything the process wrote to stderr (its logs), across restarts.
    logs: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve").field("role", &self.role).field("api", &self.api).finish()
    }
}

impl Serve {
    /// Starts `tmahost serve` with `env` added to a clean `TMAHOST_*` environment.
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::start_role("serve", env)
    }

    pub fn start_role(role: &str, env: &[(&str, &str)]) -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"), role, env)
    }

    /// Starts `role` on a data dir prepared beforehand (an older installation, a restore).
    pub fn start_in(data_dir: tempfile::TempDir, role: &str, env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let logs = Arc::default();
        let (child, stdout) = spawn(data_dir.path(), role, &env, &logs);
        let mut s = Self {
            logs,
            child,
            stdout,
            role: role.to_owned(),
            env,
            data_dir,
            api: String::new(),
            edge: String::new(),
            admin_token: None,
            seen: Vec::new(),
        };
        s.read_banner();
        s
    }

    fn read_banner(&mut self) {
        if self.role == "bot" {
            self.wait_for_line("control bot: ", Duration::from_secs(60));
            return;
        }
        if self.role != "edge" {
            let api_line = self.wait_for_line("api: ", Duration::from_secs(60));
            let url = api_line.trim_start_matches("api: ").split_whitespace().next().expect("url");
            self.api = url.trim_end_matches("/api/v1").to_owned();
        }
        if self.role != "api" {
            let edge_line = self.wait_for_line("edge: ", Duration::from_secs(60));
            self.edge = edge_line.trim_start_matches("edge: ").split_whitespace().next().expect("url").to_owned();
        }
        self.admin_token = if self.role == "serve" {
            self.try_line("admin token", Duration::from_secs(5)).and_then(|l| l.rsplit(' ').next().map(str::to_owned))
        } else {
            None
        };
    }

    /// Every line the process wrote so far: stdout, then its logs (stderr).
    pub fn output(&mut self) -> Vec<String> {
        while let Ok(line) = self.stdout.try_recv() {
            self.seen.push(line);
        }
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.seen.iter().cloned().chain(logs).collect()
    }

    /// The next stdout line starting with `prefix` (lines skipped on the way are kept for
    /// [`Serve::printed`]).
    fn try_line(&mut self, prefix: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            match self.stdout.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// A line starting with `prefix` that the process printed since its last start, waiting up
    /// to `within` for it.
    pub fn printed(&mut self, prefix: &str, within: Duration) -> Option<String> {
        if let Some(line) = self.seen.iter().find(|l| l.starts_with(prefix)) {
            return Some(line.clone());
        }
        self.try_line(prefix, within)
    }

    fn wait_for_line(&mut self, prefix: &str, within: Duration) -> String {
        match self.try_line(prefix, within) {
            Some(l) => l,
            None => {
                let status = self.child.try_wait().ok().flatten();
                panic!("tmahost printed no `{prefix}` line (exit status: {status:?})");
            }
        }
    }

    /// Runs another `tmahost` command (e.g. `dev-link`) on this server's data dir and settings.
    pub fn cli(&self, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Output {
        self.commands().run(args, extra_env)
    }

    /// What [`Serve::cli`] runs commands with, to run them from other threads.
    pub fn commands(&self) -> Commands {
        Commands { data_dir: self.data_dir.path().to_owned(), env: self.env.clone() }
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The process id (to read its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (no cleanup of any kind) and waits for it.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process (asserting a clean exit) and starts it again on the same data dir.
    pub fn restart(&mut self) {
        assert_eq!(self.stop(), Some(0), "SIGTERM must stop tmahost cleanly");
        self.start_again();
    }

    /// Starts the process again on the same data dir (after [`Serve::crash`] or a stop).
    pub fn start_again(&mut self) {
        let (child, stdout) = spawn(self.data_dir.path(), &self.role, &self.env, &self.logs);
        self.child = child;
        self.stdout = stdout;
        self.seen.clear();
        self.read_banner();
    }
}

/// Runs `tmahost` commands on a server's data dir and settings (see [`Serve::commands`]).
#[derive(Debug, Clone)]
pub struct Commands {
    data_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Commands {
    /// The command, ready to run or spawn: a clean `TMAHOST_*` environment plus the server's.
    pub fn command(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args).current_dir(&self.data_dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("TMAHOST_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("TMAHOST_DATA_DIR", &self.data_dir).env("TMAHOST_LOG", "warn");
        for (k, v) in self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(extra_env.iter().copied()) {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Output {
        self.command(args, extra_env).output().expect("run tmahost")
    }
}

fn spawn(
    data_dir: &Path,
    role: &str,
    env: &[(String, String)],
    logs: &Arc<Mutex<Vec<String>>>,
) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new(binary());
    cmd.arg(role).current_dir(data_dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("TMAHOST_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TMAHOST_DATA_DIR", data_dir)
        .env("TMAHOST_API_ADDR", "127.0.0.1:0")
        .env("TMAHOST_EDGE_ADDR", "127.0.0.1:0")
        .env("TMAHOST_CONTROL_BOT_WEBHOOK_ADDR", "127.0.0.1:0")
        .env("TMAHOST_TELEGRAM_API_URL", "http://127.0.0.1:1")
        .env("TMAHOST_LOG", "info,tmahost::api::access=warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn tmahost");
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let logs = logs.clone();
    std::thread::spawn(move || {
        // Kept for `Serve::logs`, and still shown with the test's output.
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("{line}");
            logs.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
