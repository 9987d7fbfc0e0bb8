//! The gateway of a bridge part: a generated configuration file, and a start that waits until
//! its brokers are connected.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::time::Instant;

use crate::conn;
use crate::gateway::{Gateway, Launch};

/// Longest wait for the gateway's brokers to be connected (`/readyz`).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A generated gateway configuration, removed when dropped.
#[derive(Debug)]
pub struct ConfigFile(PathBuf);

impl ConfigFile {
    pub fn write(name: &str, yaml: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!("switchyard-bench-{name}.yaml"));
        std::fs::write(&path, yaml).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts the gateway with `config` and waits until `/readyz` says its brokers are connected.
pub async fn start_gateway(launch: &Launch, config: &ConfigFile) -> Result<Gateway> {
    let launched = Launch {
        config: Some(config.0.clone()),
        ..launch.clone()
    };
    let mut gw = tokio::task::spawn_blocking(move || Gateway::start(&launched))
        .await
        .context("gateway start task")??;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        gw.ensure_alive()?;
        match conn::http_get(gw.addr(), "/readyz").await {
            Ok(_) => return Ok(gw),
            Err(e) if Instant::now() >= deadline => {
                bail!("gateway not ready within {READY_TIMEOUT:?}: {e:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
