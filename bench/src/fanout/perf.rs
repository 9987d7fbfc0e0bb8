//! `perf stat` on the gateway's write syscalls, for the write-coalescing figure.

use std::time::Duration;

use crate::sysinfo;

/// `perf stat` counting the gateway's write syscalls for one window.
#[derive(Debug)]
pub struct PerfStat {
    child: tokio::process::Child,
    output: std::path::PathBuf,
    window: Duration,
}

impl PerfStat {
    const EVENTS: &'static str = "syscalls:sys_enter_write,syscalls:sys_enter_writev,\
                                  syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg";

    /// Starts counting; `None` if perf is not available.
    pub fn start(pid: u32, window: Duration) -> Option<Self> {
        if !sysinfo::have_program("perf") {
            return None;
        }
        let output = std::env::temp_dir().join(format!("switchyard-bench-perf-{pid}.csv"));
        let child = tokio::process::Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-e",
                Self::EVENTS,
                "-p",
                &pid.to_string(),
                "-o",
            ])
            .arg(&output)
            .args(["--", "sleep", &format!("{:.3}", window.as_secs_f64())])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        Some(Self {
            child,
            output,
            window,
        })
    }

    /// The summed count, or `None` if perf failed.
    pub async fn finish(mut self) -> Option<u64> {
        let waited = tokio::time::timeout(self.window + Duration::from_secs(5), self.child.wait());
        let status = waited.await.ok()?.ok()?;
        let text = std::fs::read_to_string(&self.output).ok();
        let _ = std::fs::remove_file(&self.output);
        if !status.success() {
            return None;
        }
        let mut total = 0;
        let mut counted = false;
        for line in text?.lines().filter(|l| l.contains("syscalls:")) {
            let count: u64 = line.split(',').next()?.trim().parse().ok()?;
            total += count;
            counted = true;
        }
        counted.then_some(total)
    }
}
