//! The binary's command line and start-up validation. (Having an integration test here also
//! makes `cargo test --workspace` build the `tmahost` binary that `tests/` drives.)

use std::process::Command;

fn tmahost(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tmahost"));
    cmd.args(args).current_dir(dir.path()).env("TMAHOST_DATA_DIR", dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("TMAHOST_") && k != "TMAHOST_DATA_DIR" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run tmahost");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_roles_and_commands() {
    let (ok, out, _) = tmahost(&["--help"], &[]);
    assert!(ok);
    for cmd in ["serve", "api", "migrate", "admin"] {
        assert!(out.contains(cmd), "{out}");
    }
}

#[test]
fn an_invalid_setting_stops_start_up_naming_the_variable() {
    let (ok, _, err) = tmahost(&["migrate"], &[("TMAHOST_BASE_DOMAIN", "not a domain")]);
    assert!(!ok);
    assert!(err.contains("TMAHOST_BASE_DOMAIN"), "{err}");
    let (ok, _, err) = tmahost(&["migrate"], &[("TMAHOST_MAX_FILES", "lots")]);
    assert!(!ok);
    assert!(err.to_lowercase().contains("max_files"), "{err}");
}

#[test]
fn migrate_creates_the_embedded_database_and_a_private_master_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let (ok, out, err) = tmahost(&["migrate"], &[("TMAHOST_DATA_DIR", data)]);
    assert!(ok, "{err}");
    assert!(out.contains("migrations applied"), "{out}");
    assert!(dir.path().join("tmahost.db").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("master.key")).expect("key").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_typo_in_a_variable_name_is_warned_about() {
    let (ok, _, err) = tmahost(&["migrate"], &[("TMAHOST_BASE_DOMIAN", "x.example")]);
    assert!(ok, "{err}");
    assert!(err.contains("TMAHOST_BASE_DOMIAN"), "{err}");
}
