//! The ordered drain on SIGTERM/SIGINT.

use std::time::Duration;

use super::Running;

/// The ordered drain. A publish answered 200 was handed to every subscriber connected at that
/// moment, and reaches it:
/// 1. stop accepting (listeners, broker inbounds) and close the gate: new publishes get 503;
/// 2. let the deliveries already inside finish (and broker inbounds ack them);
/// 3. end the streams, each after flushing what it already holds (SSE, WebSocket with 1001,
///    long polls answer), and close connections after their current response.
///
/// Both waits share one grace period; what is left after it is closed.
pub(super) async fn drain(running: Running) {
    let grace = Duration::from_millis(running.config.shutdown.grace_ms);
    let deadline = tokio::time::Instant::now() + grace;
    running.readiness.start_draining();
    running.stop_accepting.cancel();
    running.gate.close();
    running.inbounds.close();
    let delivered = tokio::time::timeout_at(deadline, async {
        running.gate.finished().await;
        running.inbounds.wait().await;
        // Only now: deliveries that got past the gate may still have started some.
        running.background.close();
        running.background.wait().await;
    })
    .await;
    if delivered.is_err() {
        tracing::warn!(
            deliveries = running.gate.in_flight(),
            unconfirmed = running.background.len(),
            inbounds = running.inbounds.len(),
            "grace period over with deliveries still running; ending streams"
        );
    }
    let streams = &running.streams;
    streams.shutdown.cancel();
    streams.connections.close();
    streams.websockets.close();
    let finished = tokio::time::timeout_at(deadline, async {
        streams.connections.wait().await;
        streams.websockets.wait().await;
    })
    .await;
    match finished {
        Ok(()) => tracing::info!("drained"),
        Err(_) => tracing::warn!(
            connections = streams.connections.len(),
            websockets = streams.websockets.len(),
            "grace period over; closing what is left"
        ),
    }
}
