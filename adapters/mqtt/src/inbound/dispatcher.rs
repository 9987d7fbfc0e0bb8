//! The dispatcher: takes messages from the poller, runs at most `inflight` deliveries at once,
//! and acknowledges settled messages in arrival order. It never waits on rumqttc (acks are
//! queued without blocking), so the poller, which must keep polling, can never wait on it in
//! a cycle.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ack_queue::AckQueue;
use super::delivery::Delivery;
use super::{Arrival, DispatcherLinks, Session};
use crate::connection::{Client, Message};

/// How soon an ack that rumqttc's full request queue refused is tried again.
const ACK_RETRY_INTERVAL: Duration = Duration::from_millis(5);

/// A message waiting for its acknowledgement.
#[derive(Debug)]
struct Pending {
    message: Arc<Message>,
    /// The connection it arrived on: an ack on a later connection would be out of order, so
    /// it is only sent on this one.
    generation: u64,
    /// Whether it settled (and may be acked) or was abandoned.
    settled: bool,
    /// Held until the ack, so waiting acks count against `inflight` too.
    _permit: Option<OwnedSemaphorePermit>,
}

/// What a delivery task hands back.
#[derive(Debug)]
struct Finished {
    /// Its place in the ack queue, if it needs an ack on the current connection.
    seq: Option<u64>,
    /// Settled (may be acknowledged), or abandoned.
    settled: bool,
    permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
pub struct Dispatcher {
    client: Client,
    delivery: Arc<Delivery>,
    arrivals: mpsc::Receiver<Arrival>,
    session: watch::Receiver<Session>,
    /// Bounds deliveries running plus messages waiting for their ack.
    permits: Arc<Semaphore>,
    queue: AckQueue<Pending>,
    tasks: JoinSet<Finished>,
    /// The newest connection acted upon.
    seen_generation: u64,
    /// Stops the retry loops of one connection's messages, by generation; children of
    /// `retries`, which shutdown cancels.
    generations: Vec<(u64, CancellationToken)>,
    retries: CancellationToken,
    /// An ack was refused by a full request queue and must be tried again.
    ack_retry: bool,
    /// Tells the poller, which may be waiting for us, that acks are backed up.
    acks_stalled: Arc<Notify>,
}

/// One turn of the dispatcher's loop.
enum Step {
    Stop,
    Arrived(OwnedSemaphorePermit, Arrival),
    Finished(Finished),
    SessionChanged,
    RetryAcks,
}

impl Dispatcher {
    pub fn new(
        client: Client,
        delivery: Arc<Delivery>,
        links: DispatcherLinks,
        inflight: usize,
    ) -> Self {
        let DispatcherLinks {
            arrivals,
            session,
            acks_stalled,
        } = links;
        Self {
            client,
            delivery,
            arrivals,
            session,
            permits: Arc::new(Semaphore::new(inflight)),
            queue: AckQueue::default(),
            tasks: JoinSet::new(),
            seen_generation: 0,
            generations: Vec::new(),
            retries: CancellationToken::new(),
            ack_retry: false,
            acks_stalled,
        }
    }

    /// Dispatches until `shutdown`, then lets deliveries under way finish for up to `grace`.
    pub async fn run(mut self, shutdown: &CancellationToken, grace: Duration) {
        loop {
            match self.next_step(shutdown).await {
                Step::Stop => break,
                Step::Arrived(permit, arrival) => self.start(permit, arrival),
                Step::Finished(finished) => self.finish(finished),
                Step::SessionChanged => self.on_session_change(),
                Step::RetryAcks => self.ack_ready(),
            }
        }
        self.drain(grace).await;
    }

    async fn next_step(&mut self, shutdown: &CancellationToken) -> Step {
        let (permits, arrivals) = (self.permits.clone(), &mut self.arrivals);
        let arrival = async move {
            // A permit first: at the limit, messages stay in the channel, then in rumqttc, and
            // (MQTT 5) the broker stops sending at our Receive Maximum.
            let permit = permits.acquire_owned().await.ok()?;
            let arrival = arrivals.recv().await?;
            Some((permit, arrival))
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => Step::Stop,
            Some(joined) = self.tasks.join_next() => match joined {
                Ok(finished) => Step::Finished(finished),
                // Only aborts end a task without an answer, and only drain aborts.
                Err(_) => Step::RetryAcks,
            },
            Ok(()) = self.session.changed() => Step::SessionChanged,
            _ = tokio::time::sleep(ACK_RETRY_INTERVAL), if self.ack_retry => Step::RetryAcks,
            arrived = arrival => match arrived {
                Some((permit, arrival)) => Step::Arrived(permit, arrival),
                // The poller is gone: nothing more will arrive.
                None => Step::Stop,
            },
        }
    }

    /// Starts delivering a message.
    fn start(&mut self, permit: OwnedSemaphorePermit, arrival: Arrival) {
        let session = *self.session.borrow();
        let stale = arrival.generation < session.generation;
        let needs_ack = arrival.message.qos() > 0;
        if stale && needs_ack && session.resumed {
            // Its connection is gone and the broker resumed the session: it redelivers this
            // message, which will be delivered (and acked) then.
            return;
        }
        let message = Arc::new(arrival.message);
        let seq = (needs_ack && !stale).then(|| {
            self.queue.push(Pending {
                message: message.clone(),
                generation: arrival.generation,
                settled: false,
                _permit: None,
            })
        });
        let stop = self.retry_token(arrival.generation);
        let delivery = self.delivery.clone();
        self.tasks.spawn(async move {
            let run = AssertUnwindSafe(delivery.run(&message, &stop)).catch_unwind();
            let settled = run.await.unwrap_or_else(|_| {
                tracing::error!(inbound = %delivery.inbound(), "a delivery panicked; the message is left unacknowledged");
                false
            });
            Finished { seq, settled, permit }
        });
    }

    fn finish(&mut self, finished: Finished) {
        let Finished {
            seq,
            settled,
            permit,
        } = finished;
        if let Some(pending) = seq.and_then(|seq| self.queue.complete(seq)) {
            pending.settled = settled;
            pending._permit = Some(permit);
        }
        self.ack_ready();
    }

    /// Acknowledges the settled prefix of the queue, in order.
    fn ack_ready(&mut self) {
        self.ack_retry = false;
        while let Some(head) = self.queue.front_done() {
            if head.settled {
                // An ack belongs on the connection its message came on. Once that is gone
                // there is nothing to ack: the broker redelivers the message if the session
                // survives. Checked and sent under the session lock, so no ack slips into
                // rumqttc's queue after the poller marked the connection down (it then
                // discards that queue).
                let session = self.session.borrow();
                let its_connection = session.connected && session.generation == head.generation;
                if its_connection && self.client.try_ack(&head.message).is_err() {
                    self.ack_retry = true;
                    self.acks_stalled.notify_waiters();
                    return;
                }
            }
            self.queue.pop_front();
        }
    }

    /// A reconnect: acks of earlier connections can no longer be sent, and if the broker
    /// resumed the session it redelivers those messages, so their retries can stop.
    fn on_session_change(&mut self) {
        let session = *self.session.borrow_and_update();
        if session.generation <= self.seen_generation {
            return;
        }
        self.seen_generation = session.generation;
        let dropped = self
            .queue
            .drop_front_while(|p| p.generation < session.generation);
        if dropped > 0 {
            tracing::info!(inbound = %self.delivery.inbound(), dropped, resumed = session.resumed,
                "reconnected; messages of the previous connection can no longer be acknowledged");
        }
        let (old, current): (Vec<_>, Vec<_>) = std::mem::take(&mut self.generations)
            .into_iter()
            .partition(|(generation, _)| *generation < session.generation);
        if session.resumed {
            old.iter().for_each(|(_, token)| token.cancel());
        }
        self.generations = current;
        self.ack_ready();
    }

    fn retry_token(&mut self, generation: u64) -> CancellationToken {
        if let Some((_, token)) = self.generations.iter().find(|(g, _)| *g == generation) {
            return token.clone();
        }
        let token = self.retries.child_token();
        self.generations.push((generation, token.clone()));
        token
    }

    /// Stops taking messages; lets deliveries under way finish (and be acked) for up to
    /// `grace`; abandons the rest, which stay unacknowledged for the broker to redeliver.
    async fn drain(mut self, grace: Duration) {
        // Closing makes the poller's sends fail at once: it drops further messages unacked
        // instead of blocking, and keeps polling so that our last acks go out.
        self.arrivals.close();
        // A delivery that is waiting to retry will not succeed within the grace period.
        self.retries.cancel();
        let deadline = Instant::now() + grace;
        while !self.tasks.is_empty() || self.ack_retry {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                Some(Ok(finished)) = self.tasks.join_next() => self.finish(finished),
                _ = tokio::time::sleep(ACK_RETRY_INTERVAL), if self.ack_retry => self.ack_ready(),
            }
        }
        if !self.tasks.is_empty() || !self.queue.is_empty() {
            tracing::info!(inbound = %self.delivery.inbound(), running = self.tasks.len(), unacked = self.queue.len(),
                "shutdown grace period over; unfinished messages are left for the broker to redeliver");
        }
        self.tasks.shutdown().await;
    }
}
