//! The SSE subscriber: a raw-socket client reading event blocks until stopped or disconnected
//! (an `event: error` block counts as a disconnect).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Result;
use tokio::sync::{Semaphore, watch};

use super::recorder::Recorder;
use super::{Spec, SubStats, TOPIC};
use crate::conn;
use crate::sse::{Block, SseClient};

pub async fn run(
    spec: &Spec,
    mut recorder: Recorder,
    connecting: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> Result<SubStats> {
    let mut client = {
        let _permit = connecting.acquire().await?;
        SseClient::connect(spec.source, spec.server, &format!("/topics/{TOPIC}")).await?
    };
    recorder.shared.connected.fetch_add(1, Ordering::Relaxed);
    let mut closed = None;
    loop {
        let mut on_block = |block: Block<'_>| match block {
            Block::Event(event) => recorder.on_event(event),
            Block::Error(text) => {
                closed = Some(format!("SSE event: error ({})", error_code(text)));
            }
            Block::Meta => {}
        };
        let read = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            read = client.read_blocks(&mut on_block) => read,
        };
        match read {
            Ok(true) if closed.is_none() => {}
            Ok(true) => break,
            Ok(false) => {
                closed.get_or_insert_with(|| "end of stream".into());
                break;
            }
            Err(e) => {
                closed = Some(format!("read error: {e:#}"));
                break;
            }
        }
    }
    conn::abort(client.tcp());
    let reads = client.reads;
    let mut stats = recorder.finish(reads);
    stats.closed = closed;
    Ok(stats)
}

/// The `error` member of an SSE error event's data (`slow_consumer`, `hub_closed`).
fn error_code(block: &[u8]) -> String {
    const KEY: &[u8] = b"\"error\":\"";
    block
        .windows(KEY.len())
        .position(|w| w == KEY)
        .map(|at| &block[at + KEY.len()..])
        .and_then(|rest| rest.split(|&b| b == b'"').next())
        .map_or_else(
            || "no error code".into(),
            |code| String::from_utf8_lossy(code).into_owned(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_of_an_sse_error_event() {
        let block = br#"event: error
data: {"error":"slow_consumer","message":"slow consumer: 2 events queued and not read"}"#;
        assert_eq!(error_code(block), "slow_consumer");
    }
}
