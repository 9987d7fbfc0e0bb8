//! The gateway under test: started as a child process on a port it picks itself (`127.0.0.1:0`,
//! the bound address read back from its `http listening address=...` log line; with
//! [`Launch::grpc`] also a gRPC listener, read from `grpc listening address=...`), optionally
//! pinned to one CPU with `taskset`, and observed from outside: CPU time and memory from
//! `/proc/<pid>`, subscriber counts from `GET /metrics`. Dropping a [`Gateway`] kills it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::{conn, sysinfo};

/// How long the gateway may take to print its listening address.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of the gateway's stderr kept to explain a crash.
const TAIL_LINES: usize = 20;

/// The pid of the gateway currently running, so the watchdog can kill it before exiting.
static CURRENT_PID: AtomicU32 = AtomicU32::new(0);

/// Where the gateway binary is and how to start it.
#[derive(Debug, Clone)]
pub struct Launch {
    pub bin: PathBuf,
    /// Pin the gateway to this CPU (`taskset -c`).
    pub cpu: Option<usize>,
    /// A configuration file (`--config`); without one the embedded default runs.
    pub config: Option<PathBuf>,
    /// Also listen for gRPC (`SWITCHYARD_GRPC_LISTEN=127.0.0.1:0`, i.e. `listen.grpc`).
    pub grpc: bool,
}

impl Launch {
    /// `$SWITCHYARD_BIN`, else `switchyard` next to this executable (`target/release/`).
    pub fn locate(
        explicit: Option<PathBuf>,
        cpu: Option<usize>,
        config: Option<PathBuf>,
    ) -> Result<Self> {
        let bin = match explicit {
            Some(bin) => bin,
            None => std::env::current_exe()
                .context("cannot find the bench executable's path")?
                .with_file_name("switchyard"),
        };
        if !bin.is_file() {
            bail!(
                "gateway binary {} not found: build it with `cargo build --release -p switchyard` \
                 or point SWITCHYARD_BIN at it",
                bin.display()
            );
        }
        if let Some(config) = &config
            && !config.is_file()
        {
            bail!("gateway configuration {} not found", config.display());
        }
        Ok(Self {
            bin,
            cpu,
            config,
            grpc: false,
        })
    }
}

/// A running gateway process.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    /// The gRPC listener's address, when [`Launch::grpc`] asked for one.
    grpc_addr: Option<SocketAddr>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

/// Which listener a `... listening address=...` log line announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    Http,
    Grpc,
}

impl Gateway {
    /// Starts the gateway (listening on a port of its choice) and waits until it listens.
    pub fn start(launch: &Launch) -> Result<Self> {
        let mut child = spawn(launch)?;
        let pid = child.id();
        CURRENT_PID.store(pid, Ordering::SeqCst);
        let stderr = child
            .stderr
            .take()
            .context("gateway stderr was not piped")?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let (addr_tx, addr_rx) = mpsc::channel();
        let lines = tail.clone();
        std::thread::Builder::new()
            .name("gateway-stderr".into())
            .spawn(move || drain_stderr(stderr, &lines, &addr_tx))
            .context("cannot start the stderr reader thread")?;
        let mut gateway = Self {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc_addr: None,
            tail,
        };
        gateway.wait_listening(&addr_rx, launch.grpc)?;
        Ok(gateway)
    }

    /// Waits for the `http listening` line (and `grpc listening` when `grpc`).
    fn wait_listening(
        &mut self,
        addr_rx: &mpsc::Receiver<(Listener, SocketAddr)>,
        grpc: bool,
    ) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut http = None;
        loop {
            match addr_rx.recv_timeout(Duration::from_millis(100)) {
                Ok((Listener::Http, addr)) => http = Some(addr),
                Ok((Listener::Grpc, addr)) => self.grpc_addr = Some(addr),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    self.ensure_alive()?;
                }
                Err(_) => {
                    self.ensure_alive()?;
                    let wanted = if grpc { "`http` and `grpc`" } else { "`http`" };
                    bail!(
                        "gateway printed no {wanted} listening line within {START_TIMEOUT:?}{}",
                        self.tail_text()
                    );
                }
            }
            if let Some(addr) = http
                && (!grpc || self.grpc_addr.is_some())
            {
                self.addr = addr;
                return Ok(());
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The gRPC listener's address; an error if the gateway was started without one.
    pub fn grpc_addr(&self) -> Result<SocketAddr> {
        self.grpc_addr
            .context("the gateway was started without a gRPC listener")
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// An error (with the last lines of its log) if the gateway has exited.
    pub fn ensure_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(anyhow!(
                "gateway (pid {}) exited: {status}{}",
                self.pid,
                self.tail_text()
            )),
            Err(e) => Err(anyhow!("cannot query gateway status: {e}")),
        }
    }

    fn tail_text(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.is_empty() {
            return String::new();
        }
        let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
        format!("; last log lines:\n  {}", lines.join("\n  "))
    }

    /// User + system CPU time consumed so far, in clock ticks.
    pub fn cpu_ticks(&self) -> Result<u64> {
        sysinfo::proc_cpu_ticks(&format!("/proc/{}/stat", self.pid))
    }

    /// Resident memory now and at its peak (`VmRSS`, `VmHWM`), in KiB.
    pub fn memory_kib(&self) -> Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .context("cannot read the gateway's /proc status")?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .with_context(|| format!("no {name} in /proc/{}/status", self.pid))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// `Rss` from `smaps_rollup` (falls back to `VmRSS`), in KiB.
    pub fn rss_rollup_kib(&self) -> Result<u64> {
        let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.pid));
        if let Ok(text) = rollup
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("Rss:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        {
            return Ok(kib);
        }
        Ok(self.memory_kib()?.0)
    }

    /// The value of an unlabelled gauge or counter in `/metrics`.
    pub async fn metric(&self, name: &str) -> Result<f64> {
        let body = conn::http_get(self.addr, "/metrics").await?;
        let text = String::from_utf8_lossy(&body);
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (key, value) = l.split_once(' ')?;
                if key == name {
                    value.trim().parse::<f64>().ok()
                } else {
                    None
                }
            })
            .with_context(|| format!("metric {name} not in /metrics"))
    }

    /// Waits until the hub reports exactly `expected` subscribers.
    pub async fn wait_subscribers(&mut self, expected: usize, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.ensure_alive()?;
            // Before the first subscriber the gauge may not exist yet.
            let now = self
                .metric("switchyard_hub_subscribers")
                .await
                .unwrap_or(0.0);
            if now as usize == expected {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("hub reports {now} subscribers, expected {expected} (waited {timeout:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = CURRENT_PID.compare_exchange(self.pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Kills the gateway that is running, if any (for the watchdog, which then exits the process
/// without running destructors).
pub fn kill_current() {
    let pid = CURRENT_PID.swap(0, Ordering::SeqCst);
    if pid != 0 {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
}

/// The gateway's command: `taskset` when pinned, the listen addresses from the environment.
fn spawn(launch: &Launch) -> Result<Child> {
    let mut command = match launch.cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(&launch.bin);
            c
        }
        None => Command::new(&launch.bin),
    };
    if let Some(config) = &launch.config {
        command.arg("--config").arg(config);
    }
    if launch.grpc {
        command.env("SWITCHYARD_GRPC_LISTEN", "127.0.0.1:0");
    } else {
        command.env_remove("SWITCHYARD_GRPC_LISTEN");
    }
    command
        .env("SWITCHYARD_HTTP_LISTEN", "127.0.0.1:0")
        .env("SWITCHYARD_LOG", "info")
        .env_remove("SWITCHYARD_CONFIG")
        .env_remove("SWITCHYARD_ADMIN_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
        .spawn()
        .with_context(|| format!("cannot start {}", launch.bin.display()))
}

/// Reads stderr line by line: keeps a tail for error reports and reports the listen addresses.
fn drain_stderr(
    stderr: std::process::ChildStderr,
    tail: &Mutex<VecDeque<String>>,
    addr_tx: &mpsc::Sender<(Listener, SocketAddr)>,
) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let listener = if line.contains("http listening") {
            Some(Listener::Http)
        } else if line.contains("grpc listening") {
            Some(Listener::Grpc)
        } else {
            None
        };
        if let Some(listener) = listener
            && let Some(addr) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("address="))
                .and_then(|a| a.parse().ok())
        {
            let _ = addr_tx.send((listener, addr));
        }
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}
