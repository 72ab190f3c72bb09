//! The files in `deploy/` cannot be run here (no Docker engine, no cluster), so they are read:
//! every YAML file parses, the roles and `TMAHOST_*` variables they use exist in this build,
//! and the Kubernetes objects point at each other correctly.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_norway::Value;
use tmahost_testkit::server::binary;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(deploy_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every document of a YAML file, with merge keys (`<<: *anchor`) applied.
fn documents(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_norway::Deserializer::from_str(&text)
        .map(|d| {
            let mut v = Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: {e}"));
            v.apply_merge().unwrap_or_else(|e| panic!("{rel}: merge keys: {e}"));
            v
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_str().unwrap_or_else(|| panic!("no string at {path:?} in {v:?}"))
}

/// `tmahost <role> --help` succeeds for every role the files start.
fn assert_roles_exist(roles: &BTreeSet<String>) {
    for role in roles {
        let out = Command::new(binary()).args([role.as_str(), "--help"]).output().expect("run tmahost");
        assert!(out.status.success(), "`tmahost {role}` is used in deploy/ but is not a command");
    }
}

/// Every `TMAHOST_*` name is in the configuration reference (generated from the settings'
/// declarations, so a documented name is a setting of this build, or one of the others).
fn assert_known_variables(names: &BTreeSet<String>) {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/src/configuration.md");
    let reference = std::fs::read_to_string(page).expect("docs/src/configuration.md");
    for name in names.iter().filter(|n| n.starts_with("TMAHOST_")) {
        assert!(reference.contains(&format!("`{name}`")), "{name} is used in deploy/ but not in the reference");
    }
}

#[test]
fn the_compose_file_runs_every_role_on_postgres_and_s3() {
    let docs = documents("compose.yaml");
    assert_eq!(docs.len(), 1);
    let services = docs[0]["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(Value::as_str).collect();
    for needed in ["postgres", "minio", "bucket", "migrate", "api", "bot", "edge1", "edge2", "proxy"] {
        assert!(names.contains(needed), "compose.yaml has no `{needed}` service: {names:?}");
    }
    let mut roles = BTreeSet::new();
    let mut variables = BTreeSet::new();
    let mut edges = 0;
    for (name, svc) in services {
        let name = name.as_str().expect("name");
        if svc["image"].as_str() != Some("tmahost:local") {
            continue;
        }
        assert_eq!(str_at(svc, &["build", "dockerfile"]), "deploy/Dockerfile", "{name}");
        let role = svc["command"][0].as_str().expect("command").to_owned();
        let env = svc["environment"].as_mapping().unwrap_or_else(|| panic!("{name}: environment"));
        let var = |k: &str| env.get(k).and_then(Value::as_str).unwrap_or_else(|| panic!("{name}: no {k}"));
        assert!(var("TMAHOST_DATABASE_URL").starts_with("postgres://"), "{name}");
        assert!(var("TMAHOST_STORAGE_URL").starts_with("s3://"), "{name}");
        assert!(var("TMAHOST_MASTER_KEY").contains("TMAHOST_MASTER_KEY"), "{name}: the shared key");
        assert!(var("AWS_ENDPOINT_URL").starts_with("http://minio:"), "{name}");
        variables.extend(env.keys().filter_map(Value::as_str).map(str::to_owned));
        if role == "edge" {
            edges += 1;
        }
        if role != "migrate" {
            let deps = svc["depends_on"].as_mapping().unwrap_or_else(|| panic!("{name}: depends_on"));
            assert!(deps.contains_key("postgres") && deps.contains_key("migrate"), "{name} waits for the database");
        }
        roles.insert(role);
    }
    assert_eq!(edges, 2, "two edges");
    assert_eq!(roles, ["api", "bot", "edge", "migrate"].map(String::from).into_iter().collect());
    assert_roles_exist(&roles);
    assert_known_variables(&variables);

    // The proxy mounts the Caddyfile, which sends the base domain's hosts to both edges.
    let proxy = &services[&Value::from("proxy")];
    let volumes: Vec<&str> =
        proxy["volumes"].as_sequence().expect("volumes").iter().filter_map(Value::as_str).collect();
    assert!(volumes.iter().any(|v| v.starts_with("./Caddyfile:")), "{volumes:?}");
    let caddy = read("Caddyfile");
    assert!(caddy.contains("reverse_proxy edge1:8080 edge2:8080") && caddy.contains("/_tma/tls-ask"), "{caddy}");
}

#[test]
fn the_kubernetes_manifests_are_consistent() {
    let mut objects = Vec::new();
    for file in ["kubernetes/config.yaml", "kubernetes/api.yaml", "kubernetes/bot.yaml", "kubernetes/edge.yaml"] {
        objects.extend(documents(file));
    }
    let find = |kind: &str, name: &str| {
        objects
            .iter()
            .find(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    };
    for o in &objects {
        assert!(o["apiVersion"].is_string() && o["kind"].is_string() && o["metadata"]["name"].is_string(), "{o:?}");
    }
    let config = find("ConfigMap", "tmahost-config");
    let secret = find("Secret", "tmahost-secrets");
    let mut variables: BTreeSet<String> = BTreeSet::new();
    for m in [&config["data"], &secret["stringData"]] {
        variables.extend(m.as_mapping().expect("data").keys().filter_map(Value::as_str).map(str::to_owned));
    }
    for needed in ["TMAHOST_DATABASE_URL", "TMAHOST_MASTER_KEY", "TMAHOST_STORAGE_URL", "TMAHOST_OPS_ADDR"] {
        assert!(variables.contains(needed), "{needed} missing from the ConfigMap/Secret");
    }
    assert_known_variables(&variables);

    let mut roles = BTreeSet::new();
    for (name, role) in [("tmahost-api", "api"), ("tmahost-bot", "bot"), ("tmahost-edge", "edge")] {
        let d = find("Deployment", name);
        let selector = &d["spec"]["selector"]["matchLabels"];
        assert_eq!(&d["spec"]["template"]["metadata"]["labels"], selector, "{name}: the selector matches its pods");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["args"][0].as_str(), Some(role));
        roles.insert(role.to_owned());
        let from: Vec<&str> = c["envFrom"]
            .as_sequence()
            .expect("envFrom")
            .iter()
            .filter_map(|e| e["configMapRef"]["name"].as_str().or(e["secretRef"]["name"].as_str()))
            .collect();
        assert_eq!(from, ["tmahost-config", "tmahost-secrets"], "{name}");
        // Probes go to the ops port, which the ConfigMap opens on 9090.
        let ports: Vec<(&str, i64)> = c["ports"]
            .as_sequence()
            .expect("ports")
            .iter()
            .map(|p| (p["name"].as_str().expect("port name"), p["containerPort"].as_i64().expect("port")))
            .collect();
        assert!(ports.contains(&("ops", 9090)), "{name}: {ports:?}");
        assert_eq!(str_at(c, &["readinessProbe", "httpGet", "path"]), "/readyz");
        assert_eq!(str_at(c, &["livenessProbe", "httpGet", "path"]), "/healthz");
        if role != "bot" {
            let service = find("Service", name);
            assert_eq!(&service["spec"]["selector"], selector, "Service {name} selects the pods");
        }
    }
    assert_eq!(str_at(config, &["data", "TMAHOST_OPS_ADDR"]), "0.0.0.0:9090");
    assert_eq!(find("Deployment", "tmahost-bot")["spec"]["replicas"].as_i64(), Some(1), "one control bot");
    let hpa = find("HorizontalPodAutoscaler", "tmahost-edge");
    assert_eq!(str_at(hpa, &["spec", "scaleTargetRef", "name"]), "tmahost-edge");
    assert!(hpa["spec"]["minReplicas"].as_i64() >= Some(2));
    let job = find("Job", "tmahost-migrate");
    roles.insert(job["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str().expect("arg").to_owned());
    assert_roles_exist(&roles);

    // The ingress sends wildcard hosts to the edges and the API host to the API.
    let ingress = find("Ingress", "tmahost");
    let rules = ingress["spec"]["rules"].as_sequence().expect("rules");
    let backend = |host: &str| {
        rules
            .iter()
            .find(|r| r["host"].as_str() == Some(host))
            .map(|r| str_at(&r["http"]["paths"][0], &["backend", "service", "name"]))
    };
    assert_eq!(backend("*.apps.example.com"), Some("tmahost-edge"));
    assert_eq!(backend("api.apps.example.com"), Some("tmahost-api"));
}

#[test]
fn the_dockerfile_and_units_start_real_roles() {
    let dockerfile = read("Dockerfile");
    let stages = dockerfile.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(stages >= 2, "multi-stage");
    assert!(dockerfile.contains("cargo build --release --locked -p tmahost"));
    assert!(dockerfile.contains("ENTRYPOINT [\"tmahost\"]") && dockerfile.contains("USER tmahost"));
    let mut roles = BTreeSet::new();
    let mut variables = BTreeSet::new();
    for entry in std::fs::read_dir(deploy_dir().join("systemd")).expect("systemd") {
        let unit = std::fs::read_to_string(entry.expect("entry").path()).expect("unit");
        let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("ExecStart");
        let mut words = exec.split_whitespace();
        assert_eq!(words.next(), Some("/usr/local/bin/tmahost"));
        roles.insert(words.next().expect("role").to_owned());
        for l in unit.lines().filter_map(|l| l.strip_prefix("Environment=")) {
            variables.insert(l.split('=').next().expect("name").to_owned());
        }
    }
    assert_eq!(roles, ["api", "bot", "edge", "serve"].map(String::from).into_iter().collect());
    assert_roles_exist(&roles);
    assert_known_variables(&variables);
}
