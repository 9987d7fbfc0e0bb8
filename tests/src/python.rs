//! Runs the independent broker clients of `tests/interop/brokers.py` (paho-mqtt, pika).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/interop/brokers.py")
}

fn grpc_script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/interop/grpc_client.py")
}

/// Runs `grpc_client.py args…` (grpcio) the same way.
pub fn grpc(args: &[&str]) -> Vec<serde_json::Value> {
    run_script(grpc_script(), args)
}

/// [`grpc`] with environment settings (`SWITCHYARD_GRPC_CA`, `SWITCHYARD_GRPC_AUTH`).
pub fn grpc_with(env: &[(&str, &str)], args: &[&str]) -> Vec<serde_json::Value> {
    run_script_with(grpc_script(), env, args)
}

fn nats_script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/interop/nats_client.py")
}

/// A name no other test run uses (topics, queues, exchanges).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// Runs `brokers.py args…` to completion; panics with its stderr unless it exits 0. Returns
/// the JSON lines it printed.
pub fn run(args: &[&str]) -> Vec<serde_json::Value> {
    run_script(script(), args)
}

/// Runs `nats_client.py args…` (nats-py) the same way.
pub fn nats(args: &[&str]) -> Vec<serde_json::Value> {
    run_script(nats_script(), args)
}

/// [`nats`] with environment settings (`SWITCHYARD_NATS_URL`, `SWITCHYARD_NATS_CA`).
pub fn nats_with(env: &[(&str, &str)], args: &[&str]) -> Vec<serde_json::Value> {
    run_script_with(nats_script(), env, args)
}

fn run_script(script: &str, args: &[&str]) -> Vec<serde_json::Value> {
    run_script_with(script, &[], args)
}

fn run_script_with(script: &str, env: &[(&str, &str)], args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}): {} (scripts/test.sh installs paho-mqtt, pika and nats-py)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_lines(&out.stdout)
}

fn parse_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// A running MQTT subscriber (paho-mqtt), already subscribed when `start` returns.
#[derive(Debug)]
pub struct MqttSubscriber(Background);

impl MqttSubscriber {
    pub async fn start(filter: &str, count: usize, timeout: Duration) -> Self {
        let (count, timeout) = (count.to_string(), timeout.as_secs_f64().to_string());
        Self(Background::start(script(), &["mqtt-sub", filter, &count, &timeout]).await)
    }

    /// Waits for the subscriber to finish; the messages it got, panicking if too few.
    pub async fn messages(self) -> Vec<serde_json::Value> {
        self.0.lines().await
    }
}

/// A `grpc_client.py` command running in the background (a subscriber, a health watch, a
/// backend), started once it wrote its `--ready` file.
#[derive(Debug)]
pub struct GrpcProcess(Background);

impl GrpcProcess {
    /// Starts `grpc_client.py args… --ready FILE` and waits (with a deadline) for FILE.
    pub async fn start(args: &[&str]) -> Self {
        Self(Background::start(grpc_script(), args).await)
    }

    /// What the process wrote to its ready file (a backend's port).
    pub fn ready_contents(&self) -> String {
        std::fs::read_to_string(&self.0.ready).unwrap_or_default()
    }

    /// Writes a line to the process's standard input (releases a `--hold` subscriber).
    pub fn release(&mut self) {
        use std::io::Write as _;
        let child = self.0.child.as_mut().expect("running");
        let stdin = child.stdin.as_mut().expect("stdin piped");
        stdin
            .write_all(b"go\n")
            .and_then(|()| stdin.flush())
            .expect("write to the client");
    }

    /// Waits for the process to finish; the JSON lines it printed.
    pub async fn lines(self) -> Vec<serde_json::Value> {
        self.0.lines().await
    }
}

/// A service of `rpc_services.py` (an HTTP backend, a pika RPC server, a paho MQTT 5
/// responder), running until dropped.
#[derive(Debug)]
pub struct RpcService(Background);

impl RpcService {
    /// Starts `rpc_services.py args… --ready FILE` and waits (with a deadline) for FILE.
    pub async fn start(args: &[&str]) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/rpc_services.py");
        Self(Background::start(script, args).await)
    }

    /// What the service wrote to its ready file (the HTTP backend's port).
    pub fn ready_contents(&self) -> String {
        std::fs::read_to_string(&self.0.ready).unwrap_or_default()
    }

    /// Releases what the service holds (`/held`, `--hold`): a line on its standard input.
    pub fn release(&mut self) {
        use std::io::Write as _;
        let child = self.0.child.as_mut().expect("running");
        let stdin = child.stdin.as_mut().expect("stdin piped");
        stdin
            .write_all(b"go\n")
            .and_then(|()| stdin.flush())
            .expect("write to the service");
    }

    /// Stops the service; the JSON lines it printed, one per request it answered.
    pub async fn stop_lines(mut self) -> Vec<serde_json::Value> {
        let mut child = self.0.child.take().expect("running");
        let _ = child.kill();
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("wait");
        parse_lines(&out.stdout)
    }
}

/// A Python script started with `--ready FILE`, running until it has printed what it was
/// asked for; killed when dropped.
#[derive(Debug)]
struct Background {
    child: Option<Child>,
    ready: PathBuf,
}

impl Background {
    /// Starts `python3 script args… --ready FILE` and waits, with a deadline, for FILE.
    async fn start(script: &str, args: &[&str]) -> Self {
        let ready = std::env::temp_dir().join(unique("py-ready"));
        let child = Command::new("python3")
            .arg(script)
            .args(args)
            .arg("--ready")
            .arg(&ready)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let path = ready.clone();
        crate::eventually(Duration::from_secs(30), "python client ready", || {
            let path = path.clone();
            async move { path.exists().then_some(()) }
        })
        .await;
        Self {
            child: Some(child),
            ready,
        }
    }

    /// Waits for the process to finish; the JSON lines it printed, panicking unless it
    /// exited 0.
    async fn lines(mut self) -> Vec<serde_json::Value> {
        let child = self.child.take().expect("running");
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("wait");
        assert!(
            out.status.success(),
            "python client: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_lines(&out.stdout)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.ready);
    }
}

/// Decodes a base64 payload field.
pub fn payload(message: &serde_json::Value, field: &str) -> Vec<u8> {
    use base64::Engine;
    let text = message[field].as_str().expect("base64 field");
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}
