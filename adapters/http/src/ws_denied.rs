//! A WebSocket whose caller is refused (bad credentials, or a filter it may not subscribe
//! to) is upgraded and closed at once with 1008 and the reason: a browser sees nothing of a
//! refused upgrade's status, but it does see a close code and its reason.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade, close_code};
use axum::response::Response;

use switchyard_core::auth::Denial;

/// Accepts the upgrade only to close it with 1008 and `denial`.
pub(crate) fn refuse(upgrade: WebSocketUpgrade, denial: &Denial) -> Response {
    let reason = crate::ws::short(denial.to_string());
    let reason_is_limit = denial.reason == switchyard_core::principal::TOO_MANY_STREAMS;
    upgrade.on_upgrade(move |mut socket| async move {
        // A limit is worth trying again later (1013); a refusal is not (1008).
        let code = match reason_is_limit {
            true => close_code::AGAIN,
            false => close_code::POLICY,
        };
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
