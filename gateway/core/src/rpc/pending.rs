//! The requests a broker sink sent and waits to see answered, by correlation id. Bounded: at
//! capacity a new request is refused (503) rather than an older one forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::Counter;
use tokio::sync::oneshot;

use super::{Reply, ReplyTo};
use crate::error::DeliveryError;

/// What a waiting attempt receives: the reply, or why the one that came cannot be used
/// (too large, undecodable).
type Answer = Result<Reply, String>;

/// One sink's table of waiting attempts.
#[derive(Debug)]
pub struct Pending {
    sink: String,
    capacity: usize,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    unmatched: Counter,
    malformed: Counter,
}

impl Pending {
    /// A table for the sink `sink` holding at most `capacity` waiting attempts.
    pub fn new(sink: &str, capacity: usize) -> Arc<Self> {
        let dropped = |reason: &'static str| metrics::counter!("switchyard_rpc_replies_dropped_total", "outbound" => sink.to_owned(), "reason" => reason);
        Arc::new(Self {
            sink: sink.to_owned(),
            capacity,
            waiting: Mutex::new(HashMap::new()),
            unmatched: dropped("unmatched"),
            malformed: dropped("malformed"),
        })
    }

    /// Registers one attempt under a fresh random correlation id (not guessable, so no one
    /// can aim a reply at another caller's request); refused at capacity.
    pub fn register(self: &Arc<Self>) -> Result<Registration, DeliveryError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (sender, receiver) = oneshot::channel();
        let mut waiting = self.lock();
        if waiting.len() >= self.capacity {
            return Err(DeliveryError::Unavailable {
                sink: self.sink.clone(),
                reason: format!("{} requests already wait for replies", self.capacity),
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        waiting.insert(id.clone(), sender);
        Ok(Registration {
            id,
            receiver,
            pending: self.clone(),
        })
    }

    /// Hands `answer` to the attempt waiting under `correlation`. A reply no one waits for (it
    /// came after its deadline, or names no request of ours) is dropped and counted.
    pub fn answer(&self, correlation: &str, answer: Answer) {
        let waiter = self.lock().remove(correlation);
        // A waiter whose receiver is gone timed out between its deadline and its drop.
        let delivered = waiter.is_some_and(|w| w.send(answer).is_ok());
        if !delivered {
            self.unmatched.increment(1);
            tracing::debug!(outbound = %self.sink, correlation = %printable(correlation), "reply matches no waiting request; dropped");
        }
    }

    /// Counts a reply that could not be matched at all (no or malformed correlation id).
    pub fn malformed(&self, reason: &str) {
        self.malformed.increment(1);
        tracing::debug!(outbound = %self.sink, %reason, "reply without a usable correlation id; dropped");
    }

    /// Attempts waiting now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Answer>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A correlation id from the wire, shortened and made printable for a log line.
fn printable(id: &str) -> String {
    id.chars().take(64).filter(|c| !c.is_control()).collect()
}

/// One attempt's place in the table; leaving it (by drop) unregisters it.
#[derive(Debug)]
pub struct Registration {
    id: String,
    receiver: oneshot::Receiver<Answer>,
    pending: Arc<Pending>,
}

impl Registration {
    /// The correlation id to send with the request.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits for the reply until the caller's deadline and hands it on: `Ok` once the caller
    /// has it; `Timeout` when none came in time; `BadReply` for one that cannot be used.
    pub async fn forward(mut self, reply_to: &ReplyTo) -> Result<(), DeliveryError> {
        let waited = reply_to.remaining();
        let sink = self.pending.sink.clone();
        match tokio::time::timeout_at(reply_to.deadline(), &mut self.receiver).await {
            Err(_) | Ok(Err(_)) => Err(DeliveryError::Timeout {
                sink,
                timeout: waited,
            }),
            Ok(Ok(Err(reason))) => Err(DeliveryError::BadReply { sink, reason }),
            Ok(Ok(Ok(reply))) => {
                reply_to.send(reply);
                Ok(())
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::time::Instant;

    fn body(text: &'static str) -> Reply {
        Reply::Body {
            content_type: None,
            body: Bytes::from_static(text.as_bytes()),
        }
    }

    #[tokio::test]
    async fn a_reply_reaches_its_own_request_only() {
        let pending = Pending::new("svc", 8);
        let (a, b) = (
            pending.register().expect("room"),
            pending.register().expect("room"),
        );
        assert_ne!(a.id(), b.id());
        let (reply_a, caller_a) = ReplyTo::channel(Instant::now() + Duration::from_secs(5));
        pending.answer(a.id(), Ok(body("for a")));
        a.forward(&reply_a).await.expect("answered");
        assert_eq!(caller_a.await.expect("reply"), body("for a"));
        assert_eq!(pending.len(), 1, "b still waits; a left the table");
        drop(b);
        assert!(pending.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_reply_is_dropped_and_the_table_stays_empty() {
        let pending = Pending::new("svc", 8);
        let attempt = pending.register().expect("room");
        let id = attempt.id().to_owned();
        let (reply_to, _caller) = ReplyTo::channel(Instant::now() + Duration::from_millis(50));
        let err = attempt.forward(&reply_to).await.expect_err("times out");
        assert!(matches!(err, DeliveryError::Timeout { .. }), "{err}");
        assert!(pending.is_empty(), "the timed-out attempt unregistered");
        pending.answer(&id, Ok(body("late")));
        assert!(pending.is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let pending = Pending::new("svc", 1);
        let _held = pending.register().expect("room");
        let err = pending.register().expect_err("full");
        assert!(matches!(err, DeliveryError::Unavailable { .. }), "{err}");
    }
}
