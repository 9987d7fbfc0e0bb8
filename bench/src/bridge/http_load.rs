//! Closed-loop HTTP load: `connections` keep-alive HTTP/1.1 connections, each POSTing a
//! 256-byte structured CloudEvent as soon as the previous one was answered. Only answers
//! that arrive inside the window count; latency is request written → response read.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::rabbit::LoadStats;
use super::record;
use crate::conn;
use crate::subscriber::Clock;

/// Time allowed for one POST to be answered.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// The topic POSTed to.
pub const TOPIC: &str = "t";

/// The load's shape.
#[derive(Debug, Clone)]
pub struct Load {
    pub server: SocketAddr,
    pub connections: usize,
    pub event_bytes: usize,
    pub clock: Clock,
    /// Answers are counted from here...
    pub from: Instant,
    /// ...until here, when no new request is started.
    pub until: Instant,
    /// Sent as `Authorization` on every request, when set.
    pub authorization: Option<std::sync::Arc<str>>,
}

impl Load {
    /// `s.confirm_window` connections of `s.event_bytes` events to `server`, counted in
    /// `[from, until)`, without credentials.
    pub fn new(server: SocketAddr, s: &super::Settings, from: Instant, until: Instant) -> Self {
        Self {
            server,
            connections: s.confirm_window,
            event_bytes: s.event_bytes,
            clock: Clock::new(),
            from,
            until,
            authorization: None,
        }
    }
}

/// Runs the load and merges the connections' figures.
pub async fn run(load: Load) -> Result<LoadStats> {
    let mut tasks = JoinSet::new();
    for index in 0..load.connections {
        tasks.spawn(connection(load.clone(), index));
    }
    let mut total = LoadStats::new()?;
    while let Some(joined) = tasks.join_next().await {
        let stats = joined.context("HTTP load task")??;
        total.ok_in_window += stats.ok_in_window;
        total.ok_total += stats.ok_total;
        total.refused += stats.refused;
        total.hist.add(&stats.hist).context("merge histograms")?;
        total.errors.extend(stats.errors);
    }
    Ok(total)
}

async fn connection(load: Load, index: usize) -> Result<LoadStats> {
    let mut stats = LoadStats::new()?;
    if let Err(e) = post_loop(&load, index, &mut stats).await {
        stats.errors.push(format!("connection {index}: {e:#}"));
    }
    Ok(stats)
}

async fn post_loop(load: &Load, index: usize, stats: &mut LoadStats) -> Result<()> {
    let authorization = load
        .authorization
        .as_deref()
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    let mut socket = tokio::time::timeout(POST_TIMEOUT, TcpStream::connect(load.server))
        .await
        .context("connect timed out")?
        .context("connect")?;
    socket.set_nodelay(true)?;
    let mut request = Vec::with_capacity(load.event_bytes + 256);
    let mut scratch = Vec::with_capacity(1024);
    let mut seq: u64 = 0;
    while Instant::now() < load.until {
        let id = format!("h{index}-{seq}");
        let (body, _, _) = record::event(
            &id,
            index as u64,
            seq,
            load.clock.now_ns(),
            load.event_bytes,
        );
        request.clear();
        request.extend_from_slice(
            format!(
                "POST /topics/{TOPIC} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/cloudevents+json\r\n{authorization}Content-Length: {}\r\n\r\n",
                load.server,
                body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(&body);
        let started = Instant::now();
        let exchange = async {
            socket.write_all(&request).await?;
            conn::read_response(&mut socket, &mut scratch).await
        };
        let status = tokio::time::timeout(POST_TIMEOUT, exchange)
            .await
            .with_context(|| format!("no answer within {POST_TIMEOUT:?}"))??;
        seq += 1;
        if status == 200 {
            stats.ok(started, Instant::now(), load.from, load.until);
        } else {
            stats.refused += 1;
            if stats.refused == 1 {
                stats.errors.push(format!("status {status}"));
            }
            if stats.refused > 100 {
                bail!("over 100 refusals (last status {status})");
            }
        }
    }
    Ok(())
}
