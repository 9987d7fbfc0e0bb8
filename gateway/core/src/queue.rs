//! Work queues: push-pull with competing consumers. Producers reach a queue through routes
//! (sink `queue:NAME`); consumers lease messages (`GET /queues/{name}`), each under a fresh
//! receipt, and settle them: ack, requeue, or dead-letter. A lease that runs out returns its
//! message to the queue, first in line and marked redelivered.
//!
//! Where messages wait is the backend's business. In memory (the embedded default) the queue
//! holds them itself, bounded by `capacity`, and loses them on a crash. A broker-backed queue
//! (AMQP) holds here only the messages its consumer was handed (bounded by the prefetch); the
//! broker keeps them unacked meanwhile, and every settlement goes back to it ([`Broker`]).

mod sink;
mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::cloudevent::CloudEvent;
use crate::error::DeliveryError;
pub use sink::{QueueSink, sink_name};
use state::State;

/// The bounds of one queue.
#[derive(Debug, Clone)]
pub struct QueueLimits {
    /// Messages held at once (ready and on lease); a push beyond it is refused (503).
    pub capacity: usize,
    /// A lease's length when the consumer names none.
    pub default_lease: Duration,
    /// The longest lease a consumer may ask for (longer is a 400).
    pub max_lease: Duration,
    /// The most messages one lease may take (more is a 400).
    pub max_batch: usize,
}

/// Every configured queue, by name.
pub type Queues = Arc<std::collections::HashMap<String, WorkQueue>>;

/// A message waiting in the queue or out on lease.
#[derive(Debug)]
struct Item {
    event: CloudEvent,
    /// Times it was leased.
    deliveries: u32,
    /// The broker delivered it before (to us or another consumer).
    redelivered: bool,
    /// The broker's handle, for a broker-backed queue.
    tag: Option<u64>,
}

/// One leased message.
#[derive(Debug, Clone)]
pub struct Leased {
    pub receipt: String,
    pub event: CloudEvent,
    /// It was delivered before: a lease ran out, it was requeued, or the broker says so.
    pub redelivered: bool,
    pub deliveries: u32,
}

/// How a consumer settles a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Done: the message leaves the queue.
    Ack,
    /// Back to the queue, for another consumer.
    Requeue,
    /// Out of the queue, to its dead letters.
    DeadLetter,
}

/// Why a settlement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    #[error("no lease has this receipt")]
    Unknown,
    #[error("the lease ran out; the message went back to the queue")]
    Expired,
    #[error("this receipt was settled already")]
    AlreadySettled,
    #[error("the broker refused the settlement: {0}")]
    Broker(String),
}

/// Why a lease request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("lease_ms must be from 1 to {max}")]
    LeaseOutOfRange { max: u128 },
    #[error("max must be from 1 to {max}")]
    TooMany { max: usize },
}

/// Where a broker-backed queue settles what it leased.
pub trait Broker: std::fmt::Debug + Send + Sync + 'static {
    fn settle(&self, tag: u64, how: Settle) -> BoxFuture<'static, Result<(), String>>;
}

/// A work queue; cheap to clone.
#[derive(Debug, Clone)]
pub struct WorkQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    limits: QueueLimits,
    state: Mutex<State>,
    /// Woken when a message becomes ready.
    available: Notify,
    /// Woken when a lease is taken, so the expiry task sees an earlier deadline.
    leased: Arc<Notify>,
    broker: Option<Arc<dyn Broker>>,
    _expiry: DropGuard,
}

impl WorkQueue {
    /// An in-memory queue; starts its lease timer (inside a tokio runtime).
    pub fn new(name: &str, limits: QueueLimits) -> Self {
        Self::start(name, limits, None)
    }

    /// A queue whose messages the broker holds; `offer` feeds it.
    pub fn backed_by(name: &str, limits: QueueLimits, broker: Arc<dyn Broker>) -> Self {
        Self::start(name, limits, Some(broker))
    }

    fn start(name: &str, limits: QueueLimits, broker: Option<Arc<dyn Broker>>) -> Self {
        let stop = CancellationToken::new();
        let inner = Arc::new(Inner {
            name: name.to_owned(),
            limits,
            state: Mutex::default(),
            available: Notify::new(),
            leased: Arc::new(Notify::new()),
            broker,
            _expiry: stop.clone().drop_guard(),
        });
        tokio::spawn(expire_leases(Arc::downgrade(&inner), stop));
        Self { inner }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn limits(&self) -> &QueueLimits {
        &self.inner.limits
    }

    /// Messages held (ready and on lease), and ready.
    pub fn depth(&self) -> (usize, usize) {
        let state = self.inner.state();
        (state.len(), state.ready())
    }

    /// Enqueues a produced event (an in-memory queue); refused at capacity.
    pub fn push(&self, event: CloudEvent) -> Result<(), DeliveryError> {
        let mut state = self.inner.state();
        if state.len() >= self.inner.limits.capacity {
            count(&self.inner.name, "refused_full");
            return Err(DeliveryError::Unavailable {
                sink: format!("queue:{}", self.inner.name),
                reason: format!("the queue holds {} messages, its capacity", state.len()),
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        state.push_back(Item {
            event,
            deliveries: 0,
            redelivered: false,
            tag: None,
        });
        drop(state);
        count(&self.inner.name, "enqueued");
        self.inner.available.notify_waiters();
        Ok(())
    }

    /// A message the broker handed this queue's consumer (bounded by its prefetch).
    pub fn offer(&self, event: CloudEvent, tag: u64, redelivered: bool) {
        self.inner.state().push_back(Item {
            event,
            deliveries: 0,
            redelivered,
            tag: Some(tag),
        });
        self.inner.available.notify_waiters();
    }

    /// Forgets every broker message held here (the channel they came on is gone, and the
    /// broker redelivers them); their receipts read as expired.
    pub fn forget_broker_messages(&self) {
        let mut state = self.inner.state();
        state.retain_ready(|item| item.tag.is_none());
        state.expire_leases_where(|item| item.tag.is_some());
    }

    /// Leases up to `max` messages for `lease` (the default when `None`), waiting up to
    /// `wait` for the first one; an empty answer means none came in time.
    pub async fn lease(
        &self,
        max: usize,
        lease: Option<Duration>,
        wait: Duration,
    ) -> Result<Vec<Leased>, LeaseError> {
        let limits = &self.inner.limits;
        let lease = lease.unwrap_or(limits.default_lease);
        if lease.is_zero() || lease > limits.max_lease {
            return Err(LeaseError::LeaseOutOfRange {
                max: limits.max_lease.as_millis(),
            });
        }
        if max == 0 || max > limits.max_batch {
            return Err(LeaseError::TooMany {
                max: limits.max_batch,
            });
        }
        let deadline = Instant::now() + wait;
        loop {
            let available = self.inner.available.notified();
            tokio::pin!(available);
            available.as_mut().enable();
            let leased = self.inner.state().lease(max, lease);
            if !leased.is_empty() {
                self.inner.leased.notify_one();
                count_n(&self.inner.name, "leased", leased.len());
                return Ok(leased);
            }
            if tokio::time::timeout_at(deadline, available).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    /// Settles the message leased under `receipt`.
    pub async fn settle(&self, receipt: &str, how: Settle) -> Result<(), SettleError> {
        let item = self.inner.state().take(receipt)?;
        count(&self.inner.name, label(how));
        match (item.tag, &self.inner.broker) {
            (Some(tag), Some(broker)) => broker.settle(tag, how).await.map_err(SettleError::Broker),
            _ => {
                match how {
                    Settle::Ack => {}
                    Settle::Requeue => self.requeue(item),
                    Settle::DeadLetter => {
                        tracing::info!(queue = %self.inner.name, id = %item.event.id, "message dead-lettered (dropped: in-memory queues have no dead-letter store)");
                    }
                }
                Ok(())
            }
        }
    }

    fn requeue(&self, mut item: Item) {
        item.redelivered = true;
        self.inner.state().push_front(item);
        self.inner.available.notify_waiters();
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Returns messages whose lease ran out: to the front of the queue, or to the broker.
async fn expire_leases(weak: Weak<Inner>, stop: CancellationToken) {
    loop {
        let Some(leased) = weak.upgrade().map(|inner| inner.leased.clone()) else {
            return;
        };
        // Armed before the deadline is read, so a lease taken meanwhile is not missed.
        let woken = leased.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let Some(next) = weak.upgrade().map(|inner| inner.state().next_deadline()) else {
            return;
        };
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            () = stop.cancelled() => return,
            () = woken => continue,
            () = tokio::time::sleep_until(next.unwrap_or(far)) => {}
        }
        let Some(inner) = weak.upgrade() else { return };
        let expired = inner.state().expire(Instant::now());
        let queue = WorkQueue { inner };
        count_n(queue.name(), "expired", expired.len());
        for item in expired {
            match (item.tag, &queue.inner.broker) {
                (Some(tag), Some(broker)) => {
                    if let Err(e) = broker.settle(tag, Settle::Requeue).await {
                        tracing::warn!(queue = %queue.name(), error = %e, "cannot hand an expired lease back to the broker");
                    }
                }
                _ => queue.requeue(item),
            }
        }
    }
}

fn label(how: Settle) -> &'static str {
    match how {
        Settle::Ack => "acked",
        Settle::Requeue => "requeued",
        Settle::DeadLetter => "dead_lettered",
    }
}

fn count(queue: &str, event: &'static str) {
    count_n(queue, event, 1);
}

/// `switchyard_queue_messages_total{queue, event}`.
fn count_n(queue: &str, event: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!("switchyard_queue_messages_total", "queue" => queue.to_owned(), "event" => event)
            .increment(n as u64);
    }
}

#[cfg(test)]
mod tests;
