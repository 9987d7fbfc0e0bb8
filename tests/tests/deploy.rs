//! `deploy/`: the container image's Dockerfile passes hadolint; the Kubernetes manifests
//! validate against the Kubernetes 1.29 schemas in strict mode (kubernetes-validate); every
//! config they and the compose example carry passes `switchyard check` with the environment
//! their Secret or compose file gives; and the statically linked binary the image holds
//! (built by `deploy/container/build-static.sh`, path in `SWITCHYARD_STATIC_BIN`, which
//! `scripts/test.sh` sets) runs from an empty directory with an empty environment and
//! answers its own `switchyard probe`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchyard_e2e::gateway::binary;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A tool the test needs: present, or (outside CI) the test is skipped with a note.
fn tool(name: &str) -> Option<PathBuf> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is missing (scripts/test.sh installs it)"
        );
        eprintln!("skipped: {name} is not installed (scripts/test.sh installs it)");
    }
    found
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let Some(hadolint) = tool("hadolint") else {
        return;
    };
    let out = Command::new(hadolint)
        .arg(repo().join("deploy/container/Dockerfile"))
        .output()
        .expect("hadolint runs");
    assert!(
        out.status.success(),
        "hadolint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn manifests() -> Vec<PathBuf> {
    let dir = repo().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "sidecar, native sidecar, edge: {files:?}");
    files
}

#[test]
fn the_kubernetes_manifests_validate_strictly_against_1_29() {
    let Some(validate) = tool("kubernetes-validate") else {
        return;
    };
    for file in manifests() {
        let out = Command::new(&validate)
            .args(["--kubernetes-version", "1.29.0", "--strict"])
            .arg(&file)
            .output()
            .expect("kubernetes-validate runs");
        assert!(
            out.status.success(),
            "{}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `switchyard check FILE` with exactly `env` as the environment.
fn check(file: &Path, env: &BTreeMap<String, String>) {
    let out = Command::new(binary())
        .arg("check")
        .arg(file)
        .env_clear()
        .envs(env)
        .output()
        .expect("switchyard runs");
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn strings(value: &serde_yaml_ng::Value) -> BTreeMap<String, String> {
    value
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.as_str().expect("key").to_owned(),
                v.as_str().expect("value").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_manifests_configs_pass_switchyard_check_with_their_secrets() {
    use serde::Deserialize as _;
    for file in manifests() {
        let text = std::fs::read_to_string(&file).expect("read");
        let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|doc| serde_yaml_ng::Value::deserialize(doc).expect("yaml"))
            .collect();
        let of_kind = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
        let env: BTreeMap<String, String> = of_kind("Secret")
            .flat_map(|s| strings(&s["stringData"]))
            .collect();
        let mut configs = 0;
        for map in of_kind("ConfigMap") {
            for (name, config) in strings(&map["data"]) {
                let path =
                    std::env::temp_dir().join(format!("deploy-{}-{name}", std::process::id()));
                std::fs::write(&path, config).expect("write");
                check(&path, &env);
                let _ = std::fs::remove_file(&path);
                configs += 1;
            }
        }
        assert!(configs > 0, "{}: no config in a ConfigMap", file.display());
    }
}

#[test]
fn the_compose_config_passes_switchyard_check_with_the_compose_environment() {
    let dir = repo().join("deploy/compose");
    let compose: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("compose.yaml")).expect("read"))
            .expect("yaml");
    for service in ["switchyard", "rabbitmq", "mosquitto", "nats"] {
        assert!(
            compose["services"].get(service).is_some(),
            "service {service}"
        );
    }
    let env = strings(&compose["services"]["switchyard"]["environment"]);
    check(&dir.join("switchyard.yaml"), &env);
}

#[test]
fn the_static_binary_runs_from_an_empty_directory_and_probes_itself() {
    let Ok(built) = std::env::var("SWITCHYARD_STATIC_BIN") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "SWITCHYARD_STATIC_BIN is not set (scripts/test.sh builds it with deploy/container/build-static.sh)"
        );
        eprintln!("skipped: SWITCHYARD_STATIC_BIN is not set");
        return;
    };
    let dir = std::env::temp_dir().join(format!("switchyard-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let bin = dir.join("switchyard");
    std::fs::copy(&built, &bin).expect("copy the binary");
    let mut child = Command::new(&bin)
        .current_dir(&dir)
        .env_clear()
        .env("SWITCHYARD_HTTP_LISTEN", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the static binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let addr = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.contains("http listening")
                .then(|| line.split("address=").nth(1).map(|a| a.trim().to_owned()))
                .flatten()
        })
        .expect("an `http listening` line");
    let probe = |path: &str| {
        Command::new(&bin)
            .current_dir(&dir)
            .env_clear()
            .args(["probe", &format!("http://{addr}{path}")])
            .status()
            .expect("probe runs")
    };
    let started = Instant::now();
    assert!(probe("/healthz").success(), "probe /healthz");
    assert!(!probe("/no-such-page").success(), "a 404 is a failed probe");
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
