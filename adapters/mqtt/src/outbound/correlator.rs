//! Matching the broker's acknowledgements to the deliveries waiting for them.
//!
//! rumqttc's `publish` only queues a message and returns no handle to its acknowledgement
//! (bytebeamio/rumqtt#805). What it does report is the packet id of each publish as it writes
//! it (`Outgoing::Publish(pkid)`), in the order the publishes were queued. So each delivery
//! queues its publish and its waiter together, under one lock; written publishes take waiters
//! from the front of that queue and learn their packet id; PUBACK / PUBCOMP for that id then
//! answers exactly that waiter.

use std::collections::{HashMap, VecDeque};

use tokio::sync::oneshot;

use crate::error::RequestRefused;

/// Why a publish was not confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not connected, the request queue is full, or the connection dropped before the broker
    /// answered (so the message may or may not have arrived): worth retrying.
    Unavailable(String),
    /// The broker refused it with a reason code that may clear (quota exceeded).
    Busy(String),
    /// The broker refused it for good.
    Refused(String),
    /// The packet would be larger than the broker's Maximum Packet Size, so it was not sent.
    TooLarge { size: usize, max: u32 },
}

/// The answer a delivery waits for.
pub type Confirmation = oneshot::Receiver<Result<(), Failure>>;
type Confirm = oneshot::Sender<Result<(), Failure>>;

#[derive(Debug, Default)]
pub struct Correlator {
    connected: bool,
    /// The current connection's limit on packets we send, from the broker's CONNACK.
    max_packet_size: Option<u32>,
    /// Publishes queued to rumqttc whose packet id is not known yet, in queue order.
    unassigned: VecDeque<Confirm>,
    /// Publishes written, by packet id, waiting for PUBACK (QoS 1) or PUBCOMP (QoS 2).
    awaiting: HashMap<u16, Confirm>,
    /// A publish whose packet id was still in use; rumqttc writes it once that id is
    /// acknowledged, and stops taking new publishes meanwhile.
    collided: Option<(u16, Confirm)>,
}

impl Correlator {
    /// Queues a publish of at most `packet_size` bytes with `enqueue`, which must hand it to
    /// rumqttc without waiting: the lock held here is what keeps waiters and publishes in the
    /// same order, and the size checked against the limit of the connection it is sent on.
    pub fn submit(
        &mut self,
        packet_size: usize,
        enqueue: impl FnOnce() -> Result<(), RequestRefused>,
    ) -> Result<Confirmation, Failure> {
        if !self.connected {
            // Queueing while disconnected would hold memory without bound and answer late:
            // failing now lets the source retry (and back off).
            return Err(Failure::Unavailable("not connected to the broker".into()));
        }
        // rumqttc would fail the whole connection over it (and with it every publish in
        // flight), and the source would retry it forever: refuse this one alone.
        if let Some(max) = self.max_packet_size
            && packet_size > max as usize
        {
            return Err(Failure::TooLarge {
                size: packet_size,
                max,
            });
        }
        enqueue().map_err(|_| Failure::Unavailable("too many publishes queued".into()))?;
        let (confirm, confirmation) = oneshot::channel();
        self.unassigned.push_back(confirm);
        Ok(confirmation)
    }

    /// A connection is up; the broker takes packets of at most `max_packet_size` bytes.
    pub fn on_connected(&mut self, max_packet_size: Option<u32>) {
        self.connected = true;
        self.max_packet_size = max_packet_size;
    }

    /// A publish was written with `pkid` (0 for QoS 0, which is then complete).
    pub fn on_sent(&mut self, pkid: u16) {
        if let Some((collided, _)) = &self.collided
            && *collided == pkid
            && let Some((_, confirm)) = self.collided.take()
        {
            self.awaiting.insert(pkid, confirm);
            return;
        }
        let Some(confirm) = self.unassigned.pop_front() else {
            tracing::debug!(pkid, "a publish was written that no delivery waits for");
            return;
        };
        if pkid == 0 {
            let _ = confirm.send(Ok(()));
        } else if let Some(stale) = self.awaiting.insert(pkid, confirm) {
            // rumqttc reuses an id only once it was acknowledged; never expected.
            let _ = stale.send(Err(Failure::Unavailable(
                "packet id reused before its acknowledgement".into(),
            )));
        }
    }

    /// A publish is waiting for `pkid` to be acknowledged before it is written.
    pub fn on_collided(&mut self, pkid: u16) {
        if let Some(confirm) = self.unassigned.pop_front() {
            self.collided = Some((pkid, confirm));
        }
    }

    /// The broker took responsibility for publish `pkid`.
    pub fn on_confirmed(&mut self, pkid: u16) {
        if let Some(confirm) = self.awaiting.remove(&pkid) {
            // The delivery may have timed out and stopped listening: nothing to do then.
            let _ = confirm.send(Ok(()));
        }
    }

    /// The broker refused publish `pkid`.
    pub fn on_refused(&mut self, pkid: u16, failure: Failure) {
        if let Some(confirm) = self.awaiting.remove(&pkid) {
            let _ = confirm.send(Err(failure));
        }
    }

    /// The connection dropped: no publish in flight can be confirmed any more (rumqttc's
    /// resend list is discarded, and we use clean sessions), so all fail as unavailable and
    /// their sources retry. The message may have reached the broker: at-least-once.
    pub fn on_connection_lost(&mut self, reason: &str) {
        self.connected = false;
        let failure = || {
            Err(Failure::Unavailable(format!(
                "connection lost before the broker confirmed: {reason}"
            )))
        };
        let collided = self.collided.take().map(|(_, confirm)| confirm);
        let awaiting = self.awaiting.drain().map(|(_, confirm)| confirm);
        for confirm in self.unassigned.drain(..).chain(awaiting).chain(collided) {
            let _ = confirm.send(failure());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected() -> Correlator {
        let mut correlator = Correlator::default();
        correlator.on_connected(None);
        correlator
    }

    fn submit(correlator: &mut Correlator) -> Confirmation {
        correlator.submit(100, || Ok(())).expect("connected")
    }

    fn answer(confirmation: &mut Confirmation) -> Option<Result<(), Failure>> {
        confirmation.try_recv().ok()
    }

    #[test]
    fn acks_answer_the_publish_with_that_packet_id() {
        let mut c = connected();
        let (mut a, mut b, mut zero) = (submit(&mut c), submit(&mut c), submit(&mut c));
        c.on_sent(7);
        c.on_sent(8);
        assert_eq!(answer(&mut a), None, "written is not confirmed");
        c.on_sent(0);
        assert_eq!(
            answer(&mut zero),
            Some(Ok(())),
            "QoS 0 is confirmed when written"
        );
        c.on_confirmed(8);
        assert_eq!(answer(&mut b), Some(Ok(())));
        assert_eq!(answer(&mut a), None);
        c.on_refused(7, Failure::Refused("PUBACK NotAuthorized".into()));
        assert_eq!(
            answer(&mut a),
            Some(Err(Failure::Refused("PUBACK NotAuthorized".into())))
        );
    }

    #[test]
    fn a_collided_publish_keeps_its_waiter() {
        let mut c = connected();
        let (mut first, mut second) = (submit(&mut c), submit(&mut c));
        c.on_sent(1);
        c.on_collided(1);
        c.on_confirmed(1);
        assert_eq!(answer(&mut first), Some(Ok(())));
        c.on_sent(1);
        assert_eq!(answer(&mut second), None);
        c.on_confirmed(1);
        assert_eq!(answer(&mut second), Some(Ok(())));
    }

    #[test]
    fn a_lost_connection_fails_everything_in_flight_and_refuses_new_work() {
        let mut c = connected();
        let (mut written, mut queued) = (submit(&mut c), submit(&mut c));
        c.on_sent(3);
        c.on_connection_lost("reset");
        assert!(matches!(
            answer(&mut written),
            Some(Err(Failure::Unavailable(_)))
        ));
        assert!(matches!(
            answer(&mut queued),
            Some(Err(Failure::Unavailable(_)))
        ));
        assert!(matches!(
            c.submit(100, || Ok(())),
            Err(Failure::Unavailable(_))
        ));
        c.on_connected(None);
        let mut fresh = submit(&mut c);
        c.on_sent(1);
        c.on_confirmed(1);
        assert_eq!(answer(&mut fresh), Some(Ok(())));
    }

    #[test]
    fn a_full_request_queue_fails_fast() {
        let mut c = connected();
        assert!(matches!(
            c.submit(100, || Err(RequestRefused)),
            Err(Failure::Unavailable(_))
        ));
        assert!(c.unassigned.is_empty());
    }

    #[test]
    fn a_publish_over_the_brokers_limit_is_refused_without_being_queued() {
        let mut c = Correlator::default();
        c.on_connected(Some(4096));
        let mut queued = false;
        let refused = c.submit(4097, || {
            queued = true;
            Ok(())
        });
        assert_eq!(
            refused.err(),
            Some(Failure::TooLarge {
                size: 4097,
                max: 4096
            })
        );
        assert!(!queued, "never handed to rumqttc");
        assert!(c.unassigned.is_empty());
        assert!(c.submit(4096, || Ok(())).is_ok(), "at the limit");
        c.on_connection_lost("reset");
        c.on_connected(None);
        assert!(
            c.submit(1 << 20, || Ok(())).is_ok(),
            "the limit is the connection's"
        );
    }
}
