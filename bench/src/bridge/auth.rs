//! The cost of authentication: `W` keep-alive connections POST structured events to the hub
//! as fast as the 200s come back, first with no `auth:` section, then with every request
//! carrying a JWT verified against an HS256 key and against an RS256 key (made here with
//! openssl, signed with jsonwebtoken), each phase on a fresh gateway. Printed: publishes per
//! second and gateway CPU per publish, each against the unauthenticated run.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio::time::Instant;

use super::Settings;
use super::gateway_config::{ConfigFile, start_gateway};
use super::http_load::{self, Load};
use super::window::{Pids, measure_window_plain};
use crate::gateway::Launch;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789";

/// One phase: its name, the `auth:` section, the `Authorization` value.
struct Phase {
    name: &'static str,
    auth: String,
    authorization: Option<String>,
}

pub async fn run(launch: &Launch, s: &Settings) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("switchyard-bench-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let phases = phases(&dir)?;
    println!(
        "== auth: {} connections, closed loop, {:?} window per phase",
        s.confirm_window, s.window
    );
    println!(
        "{:<8} {:>12} {:>18} {:>10} {:>10}",
        "phase", "publishes/s", "CPU µs / publish", "vs off", "CPU vs off"
    );
    let mut baseline: Option<(f64, f64)> = None;
    for phase in &phases {
        let (rate, cpu_us) = measure(launch, s, phase)
            .await
            .with_context(|| phase.name)?;
        let (base_rate, base_cpu) = *baseline.get_or_insert((rate, cpu_us));
        println!(
            "{:<8} {:>12.0} {:>18.1} {:>9.2}x {:>9.2}x",
            phase.name,
            rate,
            cpu_us,
            rate / base_rate,
            cpu_us / base_cpu
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn phases(dir: &Path) -> Result<Vec<Phase>> {
    let key = dir.join("rs.key");
    let public = dir.join("rs.pub");
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ],
        &key,
    )?;
    openssl(
        &["pkey", "-pubout", "-in", &key.display().to_string(), "-out"],
        &public,
    )?;
    let claims = serde_json::json!({
        "sub": "bench",
        "exp": SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 3600,
        "switchyard.pub": ["#"],
    });
    let header = |alg, kid: &str| Header {
        kid: Some(kid.into()),
        ..Header::new(alg)
    };
    let hs = jsonwebtoken::encode(
        &header(Algorithm::HS256, "hs"),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )?;
    let rs_key = EncodingKey::from_rsa_pem(&std::fs::read(&key)?)?;
    let rs = jsonwebtoken::encode(&header(Algorithm::RS256, "rs"), &claims, &rs_key)?;
    let keys = format!(
        "[{{ kid: hs, algorithm: HS256, secret: \"{SECRET}\" }}, {{ kid: rs, algorithm: RS256, pem_file: \"{}\" }}]",
        public.display()
    );
    let auth = format!("auth:\n  jwt:\n    keys: {keys}\n");
    Ok(vec![
        Phase {
            name: "off",
            auth: String::new(),
            authorization: None,
        },
        Phase {
            name: "HS256",
            auth: auth.clone(),
            authorization: Some(format!("Bearer {hs}")),
        },
        Phase {
            name: "RS256",
            auth,
            authorization: Some(format!("Bearer {rs}")),
        },
    ])
}

fn openssl(args: &[&str], out: &Path) -> Result<()> {
    let status = Command::new("openssl")
        .args(args)
        .arg(out)
        .output()
        .context("openssl runs")?;
    ensure!(
        status.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    Ok(())
}

/// Publishes per second and gateway CPU microseconds per publish, in the window.
async fn measure(launch: &Launch, s: &Settings, phase: &Phase) -> Result<(f64, f64)> {
    let config = ConfigFile::write(&format!("auth-{}", phase.name), &phase.auth)?;
    let gw = start_gateway(launch, &config).await?;
    let from = Instant::now() + s.warmup;
    let until = from + s.window;
    let load = Load {
        authorization: phase.authorization.as_deref().map(Arc::from),
        ..Load::new(gw.addr(), s, from, until)
    };
    let pids = Pids::find(Some(gw.pid()));
    let (stats, cpu) = tokio::join!(
        http_load::run(load),
        measure_window_plain(&pids, from, until)
    );
    let (stats, cpu) = (stats?, cpu?);
    ensure!(stats.errors.is_empty(), "{:?}", stats.errors);
    let ok = stats.ok_in_window.max(1) as f64;
    Ok((ok / cpu.window_secs, cpu.gateway_secs * 1e6 / ok))
}
