//! The WebSocket subscriber: tokio-tungstenite with a small read buffer over a counting
//! socket, receiving until stopped or closed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::recorder::Recorder;
use super::{Spec, SubStats, TOPIC};
use crate::conn::{self, CountingStream};

/// WebSocket read buffer of each client (tungstenite's default is 128 KiB).
const WS_READ_BUFFER: usize = 4 * 1024;

pub async fn run(
    spec: &Spec,
    mut recorder: Recorder,
    connecting: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> Result<SubStats> {
    let mut socket = connect(spec, &connecting).await?;
    recorder.shared.connected.fetch_add(1, Ordering::Relaxed);
    let mut closed = None;
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            next = socket.next() => next,
        };
        match next {
            Some(Ok(Message::Text(text))) => recorder.on_event(text.as_bytes()),
            Some(Ok(Message::Close(frame))) => {
                closed = Some(match frame {
                    Some(f) => format!("close {} {}", u16::from(f.code), f.reason),
                    None => "close without code".into(),
                });
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                closed = Some(format!("read error: {e}"));
                break;
            }
            None => {
                closed = Some("end of stream".into());
                break;
            }
        }
    }
    // No closing handshake: a reset frees both ends at once.
    conn::abort(socket.get_ref().tcp());
    let reads = socket.get_ref().reads();
    let mut stats = recorder.finish(reads);
    stats.closed = closed;
    Ok(stats)
}

/// Connects and completes the WebSocket handshake, holding a permit of `connecting` meanwhile.
async fn connect(spec: &Spec, connecting: &Semaphore) -> Result<WebSocketStream<CountingStream>> {
    let _permit = connecting.acquire().await?;
    let tcp = conn::connect_from(spec.source, spec.server)
        .await
        .with_context(|| format!("connect from {}", spec.source))?;
    let mut request = format!("ws://{}/topics/{TOPIC}", spec.server).into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("cloudevents.json"),
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024);
    let (socket, _response) = tokio_tungstenite::client_async_with_config(
        request,
        CountingStream::new(tcp),
        Some(config),
    )
    .await
    .context("websocket handshake")?;
    Ok(socket)
}
