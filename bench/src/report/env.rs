//! The run's identification, printed at the top of every report.

use crate::sysinfo;

/// Identification printed at the top of every report.
#[derive(Debug, Clone)]
pub struct Env {
    pub sha: String,
    /// When the run started, UTC.
    pub date: String,
    pub nproc: String,
    pub cpus_online: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub load_at_start: String,
    pub pinning: String,
    pub gateway_bin: String,
    pub command: String,
}

impl Env {
    pub fn gather(pinning: String, gateway_bin: String) -> Self {
        Self {
            sha: sysinfo::git_sha(),
            date: sysinfo::date_utc(),
            nproc: sysinfo::nproc(),
            cpus_online: sysinfo::cpus_online(),
            cpu_model: sysinfo::cpu_model(),
            kernel: sysinfo::kernel(),
            load_at_start: sysinfo::loadavg(),
            pinning,
            gateway_bin,
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    pub fn print(&self) {
        println!("switchyard-bench");
        println!("  git            {}", self.sha);
        println!("  date           {}", self.date);
        println!(
            "  machine        nproc {} (online {}), {}, kernel {}",
            self.nproc, self.cpus_online, self.cpu_model, self.kernel
        );
        println!("  load average   {} (at start)", self.load_at_start);
        println!("  pinning        {}", self.pinning);
        println!("  gateway        {}", self.gateway_bin);
        println!("  command        {}", self.command);
        println!();
    }
}
