//! A real S3 API on loopback: `moto_server` (PyPI `moto[server]`, installed by `.ci/run`), one
//! process per call, stopped on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running S3 emulator with one bucket.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    /// Starts `moto_server` and creates `bucket`, or `None` (after a notice, or a failure under
    /// [`crate::require_all`]) when moto is not installed.
    pub async fn start(bucket: &str) -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).ok()?.port();
        // The script where pip put it on PATH, else the module through python3.
        let port_arg = port.to_string();
        let spawn = |program: &str, pre: &[&str]| {
            Command::new(program)
                .args(pre)
                .args(["-H", "127.0.0.1", "-p", &port_arg])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        };
        let has_module =
            || Command::new("python3").args(["-c", "import moto.server"]).output().is_ok_and(|o| o.status.success());
        let child = match spawn("moto_server", &[]) {
            Ok(c) => c,
            Err(_) if has_module() => spawn("python3", &["-m", "moto.server"]).expect("python3 -m moto.server"),
            Err(e) => return crate::unavailable("moto_server (pip install 'moto[server]')", &e.to_string()),
        };
        let server = Self { child, endpoint: format!("http://127.0.0.1:{port}"), bucket: bucket.to_owned() };
        // moto accepts unsigned requests: create the bucket with a plain PUT once it answers.
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.put(format!("{}/{bucket}", server.endpoint)).send().await {
                Ok(r) if r.status().is_success() => return Some(server),
                Ok(r) => panic!("moto refused to create the bucket: {}", r.status()),
                Err(e) => assert!(Instant::now() < deadline, "moto_server did not start: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What a tmahost process needs to use the bucket: `TMAHOST_STORAGE_URL` and the standard
    /// `AWS_*` variables (path-style requests, plain HTTP, dummy credentials).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("TMAHOST_STORAGE_URL", format!("s3://{}", self.bucket)),
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
