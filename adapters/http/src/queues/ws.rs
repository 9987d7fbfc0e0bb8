//! A WebSocket consumer on `/queues/{name}`, with credit-based flow: the client grants credit
//! (`{"credit": n}`), and the gateway pushes at most that many leased messages, each a text
//! frame holding the event in the JSON format with its `receipt` extension (and `redelivered`
//! when it was delivered before). The client settles with `{"ack": receipt}` or
//! `{"nack": receipt}` (`"requeue": false` dead-letters); a refused settlement is answered
//! with `{"error": code, "receipt": receipt}` and the connection stays. Credit plus the
//! messages held unsettled is capped at the queue's `max_batch`. A frame that is none of these closes with 1008. When the
//! socket closes, every message it still holds goes back to the queue at once.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use switchyard_core::cloudevent::json;
use switchyard_core::queue::{Settle, WorkQueue};

/// How long one lease call waits before it is asked again (credit still open).
const LEASE_WAIT: Duration = Duration::from_secs(30);

/// A frame the client sends.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Control {
    Credit { credit: usize },
    Ack { ack: String },
    Nack { nack: String, requeue: Option<bool> },
}

pub(super) struct Consumer {
    pub(super) queue: WorkQueue,
    pub(super) lease: Option<Duration>,
    pub(super) shutdown: CancellationToken,
}

impl Consumer {
    pub(super) async fn run(self, mut socket: WebSocket) {
        let mut credit = 0usize;
        let mut held = HashSet::new();
        let max = self.queue.limits().max_batch;
        let close = loop {
            tokio::select! {
                frame = socket.recv() => match frame {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<Control>(&text) {
                        // Unsettled messages count against it, so a consumer that never
                        // settles holds at most `max_batch` (and this set stays bounded).
                        Ok(Control::Credit { credit: more }) => {
                            credit = (credit + more).min(max.saturating_sub(held.len()));
                        }
                        Ok(control) => {
                            if let Some(answer) = self.settle(control, &mut held).await
                                && socket.send(Message::text(answer)).await.is_err()
                            {
                                break None;
                            }
                        }
                        Err(_) => break Some((close_code::POLICY, "expected {\"credit\": n}, {\"ack\": receipt} or {\"nack\": receipt}")),
                    },
                    Some(Ok(Message::Binary(_))) => break Some((close_code::UNSUPPORTED, "control frames are JSON text")),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                    Some(Ok(_)) => {}
                },
                leased = self.queue.lease(credit, self.lease, LEASE_WAIT), if credit > 0 => {
                    let Ok(leased) = leased else { break Some((close_code::POLICY, "lease_ms is out of range")) };
                    credit -= leased.len();
                    if !self.push(&mut socket, leased, &mut held).await {
                        break None;
                    }
                }
                () = self.shutdown.cancelled() => break Some((close_code::AWAY, "shutting down")),
            }
        };
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
        for receipt in held {
            let _ = self.queue.settle(&receipt, Settle::Requeue).await;
        }
    }

    /// Sends each leased message; `false` when the socket is gone.
    async fn push(
        &self,
        socket: &mut WebSocket,
        leased: Vec<switchyard_core::queue::Leased>,
        held: &mut HashSet<String>,
    ) -> bool {
        for one in leased {
            held.insert(one.receipt.clone());
            let event = super::with_receipt(one);
            let text = String::from_utf8(json::to_vec(&event)).unwrap_or_default();
            if socket.send(Message::text(text)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Settles an ack or nack; the answer to send when it was refused.
    async fn settle(&self, control: Control, held: &mut HashSet<String>) -> Option<String> {
        let (receipt, how) = match control {
            Control::Ack { ack } => (ack, Settle::Ack),
            Control::Nack { nack, requeue } => match requeue {
                Some(false) => (nack, Settle::DeadLetter),
                _ => (nack, Settle::Requeue),
            },
            Control::Credit { .. } => return None,
        };
        held.remove(&receipt);
        let refused = self.queue.settle(&receipt, how).await.err()?;
        let code = super::settle_error(refused).error;
        Some(serde_json::json!({ "error": code, "receipt": receipt }).to_string())
    }
}
