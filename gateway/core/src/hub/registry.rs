//! Who is subscribed to what, and the fan-out of one message to them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

use super::HubMessage;
use crate::topic::TopicFilter;

/// Why a subscription ended from the hub's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The subscriber's queue was full: it did not keep up.
    SlowConsumer { queue: usize },
    /// The hub is gone.
    HubClosed,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SlowConsumer { queue } => {
                write!(f, "slow consumer: {queue} events queued and not read")
            }
            Self::HubClosed => f.write_str("hub closed"),
        }
    }
}

type Sender = mpsc::Sender<Arc<HubMessage>>;

/// Shared by a subscription and its registry entry: why the hub closed it, and the transport's
/// token to cancel then. A subscriber that stopped reading is not polled any more, so it
/// cannot notice its own close; the token lets the transport drop the connection (and the
/// bytes its write buffers hold) at once.
#[derive(Debug, Default)]
pub(super) struct CloseSignal(Mutex<(Option<CloseReason>, Option<CancellationToken>)>);

impl CloseSignal {
    fn state(&self) -> std::sync::MutexGuard<'_, (Option<CloseReason>, Option<CancellationToken>)> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn close(&self, reason: CloseReason) {
        let mut state = self.state();
        state.0.get_or_insert(reason);
        if let Some(token) = &state.1 {
            token.cancel();
        }
    }

    fn reason(&self) -> Option<CloseReason> {
        self.state().0
    }

    fn cancel_on_close(&self, token: CancellationToken) {
        let mut state = self.state();
        if state.0.is_some() {
            token.cancel();
        }
        state.1 = Some(token);
    }
}

#[derive(Debug)]
struct Member {
    id: u64,
    tx: Sender,
    closing: Arc<CloseSignal>,
}

#[derive(Debug)]
struct FilterEntry {
    filter: TopicFilter,
    solo: Vec<Member>,
    groups: HashMap<String, Group>,
}

#[derive(Debug, Default)]
struct Group {
    members: Vec<Member>,
    /// Round-robin position.
    next: usize,
}

/// All live subscriptions, grouped by filter text so that a thousand subscribers of one filter
/// cost one match per published event.
#[derive(Debug)]
pub(super) struct Registry {
    queue: usize,
    /// Groups span gateways (a backplane feeds each group from its own shared consumer, through
    /// [`Registry::deliver_to_group`]), so fan-out skips them.
    shared_groups: bool,
    next_id: u64,
    by_filter: HashMap<String, FilterEntry>,
    /// Subscription id -> (filter text, group).
    index: HashMap<u64, (String, Option<String>)>,
}

impl Registry {
    pub(super) fn new(queue: usize, shared_groups: bool) -> Self {
        Self {
            queue,
            shared_groups,
            next_id: 1,
            by_filter: HashMap::new(),
            index: HashMap::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn add(
        &mut self,
        filter: TopicFilter,
        group: Option<String>,
        tx: Sender,
        closing: Arc<CloseSignal>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let key = filter.as_str().to_owned();
        let entry = self
            .by_filter
            .entry(key.clone())
            .or_insert_with(|| FilterEntry {
                filter,
                solo: Vec::new(),
                groups: HashMap::new(),
            });
        let member = Member { id, tx, closing };
        match &group {
            None => entry.solo.push(member),
            Some(g) => entry
                .groups
                .entry(g.clone())
                .or_default()
                .members
                .push(member),
        }
        self.index.insert(id, (key, group));
        id
    }

    pub(super) fn remove(&mut self, id: u64) {
        let Some((key, group)) = self.index.remove(&id) else {
            return;
        };
        let Some(entry) = self.by_filter.get_mut(&key) else {
            return;
        };
        match group {
            None => entry.solo.retain(|m| m.id != id),
            Some(g) => {
                if let Some(group) = entry.groups.get_mut(&g) {
                    group.members.retain(|m| m.id != id);
                    if group.members.is_empty() {
                        entry.groups.remove(&g);
                    }
                }
            }
        }
        if entry.solo.is_empty() && entry.groups.is_empty() {
            self.by_filter.remove(&key);
        }
    }

    /// Hands `msg` to every matching subscriber and to one member of every matching group.
    /// Never blocks: a full queue disconnects its subscriber. Returns the number of deliveries.
    pub(super) fn fan_out(&mut self, msg: &Arc<HubMessage>) -> usize {
        let mut delivered = 0;
        let mut dropped = Vec::new();
        for entry in self.by_filter.values_mut() {
            if !entry.filter.matches(&msg.topic) {
                continue;
            }
            for member in &entry.solo {
                match offer(member, msg, self.queue) {
                    true => delivered += 1,
                    false => dropped.push(member.id),
                }
            }
            if self.shared_groups {
                continue;
            }
            for group in entry.groups.values_mut() {
                match group.deliver(msg, self.queue) {
                    Ok(()) => delivered += 1,
                    Err(id) => dropped.push(id),
                }
            }
        }
        for id in dropped {
            self.remove(id);
        }
        delivered
    }
}

impl Registry {
    /// Every (filter, group) with members here.
    pub(super) fn groups(&self) -> Vec<(String, String)> {
        let entries = self.by_filter.iter();
        entries
            .flat_map(|(key, entry)| entry.groups.keys().map(|g| (key.clone(), g.clone())))
            .collect()
    }

    /// Gives `msg` to one member of `group` on `filter`; `false` when none took it (none
    /// left, or every queue full: the message belongs to another gateway's member then).
    pub(super) fn deliver_to_group(
        &mut self,
        filter: &str,
        group: &str,
        msg: &Arc<HubMessage>,
    ) -> bool {
        let queue = self.queue;
        let Some(members) = self
            .by_filter
            .get_mut(filter)
            .and_then(|e| e.groups.get_mut(group))
        else {
            return false;
        };
        match members.deliver(msg, queue) {
            Ok(()) => true,
            Err(id) => {
                self.remove(id);
                false
            }
        }
    }
}

impl Group {
    /// Gives `msg` to the next member with room. If every queue is full, the member whose turn
    /// it is gets the slow-consumer treatment and the event is counted as dropped for the group.
    fn deliver(&mut self, msg: &Arc<HubMessage>, queue: usize) -> Result<(), u64> {
        let n = self.members.len();
        for i in 0..n {
            let member = &self.members[(self.next + i) % n];
            match member.tx.try_send(msg.clone()) {
                Ok(()) => {
                    self.next = (self.next + i + 1) % n;
                    return Ok(());
                }
                Err(TrySendError::Closed(_)) => return Err(member.id),
                Err(TrySendError::Full(_)) => {}
            }
        }
        let member = &self.members[self.next % n];
        member.closing.close(CloseReason::SlowConsumer { queue });
        metrics::counter!("switchyard_hub_dropped_total", "reason" => "group_full").increment(1);
        metrics::counter!("switchyard_hub_disconnects_total", "reason" => "slow_consumer")
            .increment(1);
        Err(member.id)
    }
}

/// Tries to queue `msg` for one subscriber; `false` means it must be removed.
fn offer(member: &Member, msg: &Arc<HubMessage>, queue: usize) -> bool {
    match member.tx.try_send(msg.clone()) {
        Ok(()) => true,
        Err(TrySendError::Closed(_)) => false,
        Err(TrySendError::Full(_)) => {
            member.closing.close(CloseReason::SlowConsumer { queue });
            metrics::counter!("switchyard_hub_disconnects_total", "reason" => "slow_consumer")
                .increment(1);
            false
        }
    }
}

/// Removes a subscription from the hub when it is dropped.
pub(super) trait Unregister: Send + Sync + std::fmt::Debug {
    fn unregister(&self, id: u64);
}

/// A live subscription: replayed events first, then live ones, until the hub closes it.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    start_cursor: u64,
    replay: VecDeque<Arc<HubMessage>>,
    rx: mpsc::Receiver<Arc<HubMessage>>,
    closing: Arc<CloseSignal>,
    hub: Box<dyn Unregister>,
    /// The subscriber's place under its principal's stream limit, freed with the subscription.
    held: Option<crate::streams::StreamGuard>,
}

impl Subscription {
    /// Keeps `place` (a principal's stream slot) for as long as this subscription lives.
    pub fn hold(&mut self, place: Option<crate::streams::StreamGuard>) {
        self.held = place;
    }

    pub(super) fn new(
        id: u64,
        start_cursor: u64,
        replay: Vec<Arc<HubMessage>>,
        rx: mpsc::Receiver<Arc<HubMessage>>,
        closing: Arc<CloseSignal>,
        hub: Box<dyn Unregister>,
    ) -> Self {
        Self {
            id,
            start_cursor,
            replay: replay.into(),
            rx,
            closing,
            hub,
            held: None,
        }
    }

    /// The next message; an error once the hub closed the subscription (queued messages are
    /// still delivered first).
    pub async fn recv(&mut self) -> Result<Arc<HubMessage>, CloseReason> {
        if let Some(msg) = self.replay.pop_front() {
            return Ok(msg);
        }
        match self.rx.recv().await {
            Some(msg) => Ok(msg),
            None => Err(self.closing.reason().unwrap_or(CloseReason::HubClosed)),
        }
    }

    /// Cancels `token` when the hub closes this subscription (at once if it already did), so
    /// the transport can drop a connection whose client stopped reading.
    pub fn cancel_on_close(&self, token: CancellationToken) {
        self.closing.cancel_on_close(token);
    }

    /// The hub's cursor when the subscription started: live events all come after it.
    pub fn start_cursor(&self) -> u64 {
        self.start_cursor
    }

    /// The next message if one is ready now; used to coalesce several events into one write.
    pub fn try_recv(&mut self) -> Option<Arc<HubMessage>> {
        self.replay.pop_front().or_else(|| self.rx.try_recv().ok())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}
