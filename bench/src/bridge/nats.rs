//! HTTP → NATS JetStream, every 200 after the stream's PubAck, against a bare async-nats
//! JetStream publisher keeping the same number of publishes awaiting their PubAck, in one run
//! on one stream (issue 13's second benchmark). Prints its own table.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::gateway_config::{ConfigFile, start_gateway};
use super::http_load::{self, Load};
use super::window::{Pids, measure_window_plain};
use super::{Settings, record};
use crate::gateway::Launch;

/// Runs both phases (bare first, then the gateway) and prints the comparison.
pub async fn run(launch: &Launch, s: &Settings, url: &str) -> Result<()> {
    let client = async_nats::connect(url).await.context("connect to NATS")?;
    let context = jetstream::new(client);
    let name = format!("BENCH{}", std::process::id());
    let config = stream::Config {
        name: name.clone(),
        subjects: vec![format!("{name}.>")],
        max_age: Duration::from_secs(600),
        ..stream::Config::default()
    };
    context
        .create_stream(config)
        .await
        .context("create the bench stream")?;
    let bare = bare(&context, &name, s).await?;
    let (gateway, cpu_secs) = gateway(launch, s, url, &name).await?;
    let _ = context.delete_stream(&name).await;
    let window = s.window.as_secs_f64();
    let (bare_rate, gw_rate) = (bare as f64 / window, gateway as f64 / window);
    println!(
        "== nats: HTTP -> JetStream (200 after the PubAck) vs bare async-nats, {} in flight, {} B events, window {window:.1}s",
        s.confirm_window, s.event_bytes
    );
    println!("bare async-nats JetStream publisher  {bare_rate:>9.0} msg/s");
    println!(
        "gateway HTTP -> JetStream            {gw_rate:>9.0} msg/s  ({:.2}x bare; target >= 0.8x)",
        gw_rate / bare_rate.max(1.0)
    );
    println!(
        "gateway CPU-s per 1M published       {:>9.2}",
        cpu_secs * 1e6 / (gateway.max(1) as f64)
    );
    Ok(())
}

/// Bare: `confirm_window` tasks, each publishing and awaiting its PubAck in turn.
async fn bare(context: &jetstream::Context, stream: &str, s: &Settings) -> Result<u64> {
    let (body, _, _) = record::event("bare", 0, 0, 0, s.event_bytes);
    let body = Bytes::from(body);
    let from = Instant::now() + s.warmup;
    let until = from + s.window;
    let counted = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for task in 0..s.confirm_window {
        let (context, body, counted) = (context.clone(), body.clone(), counted.clone());
        let subject = format!("{stream}.bare.{task}");
        tasks.spawn(async move {
            while Instant::now() < until {
                let ack = context.publish(subject.clone(), body.clone()).await?;
                ack.await?;
                if Instant::now() >= from {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("bare publisher")??;
    }
    Ok(counted.load(Ordering::Relaxed))
}

/// The gateway: `confirm_window` keep-alive HTTP connections POSTing to a JetStream outbound.
async fn gateway(launch: &Launch, s: &Settings, url: &str, stream: &str) -> Result<(u64, f64)> {
    let yaml = format!(
        "outbounds:\n  js: {{ type: nats, url: \"{url}\", subject: \"{stream}.{{topic}}\", jetstream: true, mode: binary }}\nroutes:\n  - {{ name: r, to: js }}\n"
    );
    let config = ConfigFile::write("nats", &yaml)?;
    let gw = start_gateway(launch, &config).await?;
    // The outbound connects in the background: `/readyz` is 200 once it has.
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::conn::http_get(gw.addr(), "/readyz").await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gateway's NATS outbound did not connect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let from = Instant::now() + s.warmup;
    let until = from + s.window;
    let load = Load::new(gw.addr(), s, from, until);
    let pids = Pids::find(Some(gw.pid()));
    let (stats, cpu) = tokio::join!(
        http_load::run(load),
        measure_window_plain(&pids, from, until)
    );
    let stats = stats?;
    anyhow::ensure!(stats.errors.is_empty(), "gateway phase: {:?}", stats.errors);
    Ok((stats.ok_in_window, cpu?.gateway_secs))
}
