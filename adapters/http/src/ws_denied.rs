//! A WebSocket whose caller is refused (bad credentials, or a filter it may not subscribe
//! to) is upgraded and closed at once with 1008 and the reason (1013 for a limit it is over):
//! a browser sees nothing of a refused upgrade's status, but it does see a close code and its
//! reason.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade, close_code};
use axum::response::Response;

use switchyard_core::auth::Denial;

/// Accepts the upgrade only to close it with `denial`.
pub(crate) fn refuse(upgrade: WebSocketUpgrade, denial: &Denial) -> Response {
    let reason = crate::ws::short(denial.to_string());
    // A limit is worth trying again later (1013); a refusal is not (1008).
    let code = if denial.is_limit() {
        close_code::AGAIN
    } else {
        close_code::POLICY
    };
    upgrade.on_upgrade(move |mut socket| async move {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        // Send the close and wait (briefly) for the client's, then drop the socket.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            if socket.send(Message::Close(Some(frame))).await.is_ok() {
                while let Some(Ok(_)) = socket.recv().await {}
            }
        })
        .await;
    })
}
