//! `tests/backend/upstream.py`: an app's backend written in Python, as a tenant's developer
//! would, that verifies `Tma-Identity` with PyJWT against the platform's JWKS and says what it
//! verified. The backend and TON Connect suites route an app's paths to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::unavailable;

/// The running backend; killed when dropped.
#[derive(Debug)]
pub struct PythonBackend {
    child: Child,
    /// Its HTTP server, as a backend's upstream is written (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its WebSocket server (an `http://` base as well).
    pub ws_url: String,
}

impl Drop for PythonBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PythonBackend {
    /// Starts the backend for `audience` (an app id) of the platform whose API is at `api`;
    /// `None` (or a panic under `TMAHOST_TEST_REQUIRE_ALL`) without python3, PyJWT or websockets.
    pub fn start(api: &str, audience: &str) -> Option<Self> {
        Self::start_for(api, audience, api)
    }

    /// [`PythonBackend::start`] for a platform whose tokens name `issuer` (its public API URL,
    /// when one is set) rather than the address its API is reached at.
    pub fn start_for(api: &str, audience: &str, issuer: &str) -> Option<Self> {
        let probe = Command::new("python3").args(["-c", "import jwt, cryptography, websockets.sync.server"]).output();
        match probe {
            Ok(o) if o.status.success() => {}
            Ok(o) => return unavailable("PyJWT and websockets", &String::from_utf8_lossy(&o.stderr)),
            Err(e) => return unavailable("python3", &e.to_string()),
        }
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("backend/upstream.py");
        let mut child = Command::new("python3")
            .arg(script)
            .env("JWKS_URL", format!("{api}/api/v1/jwks.json"))
            .env("AUDIENCE", audience)
            .env("ISSUER", issuer)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the backend");
        // It prints its ports once both accept connections.
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("its first line");
        let ports = line.trim().strip_prefix("listening on ").expect("ports");
        let (http, ws) = ports.split_once(' ').expect("two ports");
        Some(Self { child, url: format!("http://127.0.0.1:{http}"), ws_url: format!("http://127.0.0.1:{ws}") })
    }

    /// The paths that reached the backend.
    pub async fn seen(&self, http: &reqwest::Client) -> Vec<String> {
        let body: Value =
            http.get(format!("{}/_seen", self.url)).send().await.expect("seen").json().await.expect("json");
        body["seen"].as_array().expect("list").iter().filter_map(|p| p.as_str().map(str::to_owned)).collect()
    }
}
