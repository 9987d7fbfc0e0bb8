//! Starts the real binary and finds the address it bound.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `switchyard` process; killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Everything the process wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
    /// The `grpc listening` line's address, sent by the log reader when it comes.
    grpc_line: Mutex<std::sync::mpsc::Receiver<String>>,
    grpc: std::sync::OnceLock<SocketAddr>,
    config_path: Option<PathBuf>,
    _config: Option<tempfile_path::TempFile>,
}

/// The binary under test: `$SWITCHYARD_BIN`, or `switchyard` next to the test's `deps/` dir
/// (cargo builds the workspace's binaries before running its tests).
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("SWITCHYARD_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("switchyard")
}

impl Gateway {
    /// Starts the gateway with the embedded default config.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts the gateway with `yaml` as its config file (listen address forced to port 0).
    pub fn start_with(yaml: Option<&str>) -> Self {
        let config = yaml.map(tempfile_path::TempFile::with_contents);
        let path = config.as_ref().map(|f| f.path.clone());
        let mut gateway = Self::spawn(path, &[]);
        gateway._config = config;
        gateway
    }

    /// Starts the gateway on the config file at `path`, which the test owns (it may rewrite
    /// it, or swap it as Kubernetes does), with `args` after it.
    pub fn start_file(path: &Path, args: &[&str]) -> Self {
        Self::spawn(Some(path.to_owned()), args)
    }

    /// Starts the gateway with `yaml` as its config file and `args` after it.
    pub fn start_args(yaml: &str, args: &[&str]) -> Self {
        let config = tempfile_path::TempFile::with_contents(yaml);
        let mut gateway = Self::spawn(Some(config.path.clone()), args);
        gateway._config = Some(config);
        gateway
    }

    fn spawn(path: Option<PathBuf>, args: &[&str]) -> Self {
        let mut cmd = Command::new(binary());
        if let Some(path) = &path {
            cmd.arg("--config").arg(path);
        }
        cmd.args(args);
        cmd.env("SWITCHYARD_HTTP_LISTEN", "127.0.0.1:0")
            .env("SWITCHYARD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start {} ({e}): run `cargo build -p switchyard` first (scripts/test.sh does)", binary().display())
        });
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (grpc_tx, grpc_line) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line
                    .split("address=")
                    .nth(1)
                    .filter(|_| line.contains("http listening"))
                {
                    let _ = tx.send(addr.trim().to_owned());
                }
                if let Some(addr) = line
                    .split("address=")
                    .nth(1)
                    .filter(|_| line.contains("grpc listening"))
                {
                    let _ = grpc_tx.send(addr.trim().to_owned());
                }
                sink.lock().expect("log lock").push_str(&(line + "\n"));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(50)) {
                break addr.parse().expect("address in log line");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "switchyard exited with {status}: {}",
                    log.lock().expect("log lock")
                );
            }
            assert!(
                Instant::now() < deadline,
                "switchyard did not start: {}",
                log.lock().expect("log lock")
            );
        };
        Self {
            child: Some(child),
            addr,
            log,
            grpc_line: Mutex::new(grpc_line),
            grpc: std::sync::OnceLock::new(),
            config_path: path,
            _config: None,
        }
    }

    /// Replaces the config file's text the way editors save: a new file renamed over it.
    pub fn rewrite_config(&self, yaml: &str) {
        let path = self
            .config_path
            .as_ref()
            .expect("started with a config file");
        let next = path.with_extension("next");
        std::fs::write(&next, yaml).expect("write config");
        std::fs::rename(&next, path).expect("rename config");
    }

    /// Sends SIGHUP: reload the config file.
    pub fn hangup(&self) {
        signal(i32::try_from(self.pid()).expect("pid fits"), "HUP");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The gRPC listener's address (the config must set `listen.grpc`, port 0 is fine), read
    /// from its `grpc listening` log line, waited for with a deadline.
    pub fn grpc_addr(&self) -> SocketAddr {
        *self.grpc.get_or_init(|| {
            let line = self.grpc_line.lock().expect("lock");
            let addr = line
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| {
                    panic!(
                        "no `grpc listening` line: {}",
                        self.log.lock().expect("log lock")
                    )
                });
            addr.parse().expect("address in log line")
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Kills the process with SIGKILL: no drain, no acks, nothing flushed.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let pid = i32::try_from(child.id()).expect("pid fits");
        signal(pid, "TERM");
        // Wait for the exit itself (not a polling loop), bounded by a deadline.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait().map(|status| status.code()));
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("switchyard did not exit within 30 s of SIGTERM")
            .expect("wait for switchyard")
    }
}

/// Sends a signal with kill(1): no unsafe code for libc::kill.
pub fn signal(pid: i32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A config file in a directory of its own (so that the gateway's watch on the directory sees
/// only this test's changes); both are removed when dropped.
mod tempfile_path {
    use std::path::PathBuf;

    #[derive(Debug)]
    pub struct TempFile {
        pub path: PathBuf,
    }

    impl TempFile {
        pub fn with_contents(text: &str) -> Self {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("switchyard-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("config dir");
            let path = dir.join("config.yaml");
            std::fs::write(&path, text).expect("write config");
            Self { path }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}
