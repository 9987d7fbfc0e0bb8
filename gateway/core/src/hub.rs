//! The hub: the in-process topic space behind the browser-facing feeds (SSE, WebSocket, long and
//! short polling). Routes deliver into it; subscriptions read from it.
//!
//! - Cursors are one hub-wide sequence, so a wildcard subscription resumes with one number. The
//!   sequence starts at the start-up time in microseconds, so a cursor from an earlier run of the
//!   process is recognisably older than anything this run holds and gets a reset, never a gap.
//! - Each topic keeps a bounded replay window (events and bytes). A subscriber whose cursor fell
//!   out of the window receives an explicit reset event first.
//! - Each subscriber has a bounded queue. When it is full the subscriber is disconnected with
//!   reason [`CloseReason::SlowConsumer`]; it may reconnect and resume from its cursor.
//! - Consumer groups: subscribers sharing `(filter, group)` split the stream, each event going to
//!   one member (round robin, skipping members whose queue is full).

mod external;
mod log;
mod message;
mod poll_groups;
mod registry;
mod sink;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::mpsc;

use crate::cloudevent::CloudEvent;
use crate::topic::TopicFilter;
use log::TopicLog;
pub use message::{HubMessage, MessageKind, RESET_EVENT_TYPE, sse_frame};
use poll_groups::{GroupStart, PollGroups};
use registry::Registry;
pub use registry::{CloseReason, Subscription};
pub use sink::HubSink;

/// Limits of the hub; every buffer it holds is bounded by one of these.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Events kept per topic for resume.
    pub replay_events: usize,
    /// Bytes (encoded JSON) kept per topic for resume.
    pub replay_bytes: usize,
    /// Events queued per subscriber before it is disconnected as a slow consumer.
    pub subscriber_queue: usize,
    /// Polling consumer groups whose cursors the hub keeps (group names come from clients, so
    /// they are bounded too); at the limit the least recently polled 1 % are forgotten and
    /// start again at the present when they come back.
    pub max_poll_groups: usize,
    /// Topics the hub holds at once; at the limit, the least recently published 1 % are
    /// forgotten (a later resume from before them gets a reset, never a silent gap).
    pub max_topics: usize,
    /// Cursors come from outside ([`Hub::publish_at`]: a backplane stream's sequence, the same
    /// on every gateway) instead of starting at this process's start time, and consumer groups
    /// are fed from outside too ([`Hub::deliver_to_group`]), not by fan-out.
    pub external_cursors: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            replay_events: 1024,
            replay_bytes: 4 << 20,
            subscriber_queue: 1024,
            max_topics: 100_000,
            external_cursors: false,
            max_poll_groups: 10_000,
        }
    }
}

/// Why the hub refused an event. Nothing refuses today (the topic limit forgets old topics
/// instead); the type keeps `publish` fallible for limits to come, such as total memory.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the hub is full")]
    Full,
}

/// A cheap handle to the hub; clones share it.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: HubConfig,
    /// Cursors below this come from before this process started.
    history_start: u64,
    state: Mutex<State>,
    /// `switchyard_hub_published_total` and `switchyard_hub_deliveries_total`, registered
    /// once: publish is the hot path.
    published: metrics::Counter,
    deliveries: metrics::Counter,
}

#[derive(Debug)]
struct State {
    /// The cursor of the most recent event (`history_start - 1` before the first).
    last_seq: u64,
    topics: HashMap<Arc<str>, TopicLog>,
    /// The newest cursor of any forgotten topic: resuming from below it may have missed events
    /// of a topic the hub no longer knows, so such a resume gets a reset.
    forgotten_through: u64,
    registry: Registry,
    /// Server-side cursors of polling consumer groups.
    poll_groups: PollGroups,
}

/// What a subscription or poll starts from.
#[derive(Debug, Clone, Default)]
pub struct SubscribeOptions {
    /// Resume after this cursor; `None` means live events only. `Some(0)` replays the window.
    pub since: Option<u64>,
    /// Join this consumer group (replay does not apply to groups).
    pub group: Option<String>,
}

/// The result of a poll: events after a cursor, and the cursor to poll from next.
#[derive(Debug, Default)]
pub struct PollBatch {
    pub messages: Vec<Arc<HubMessage>>,
    pub cursor: u64,
}

impl Hub {
    pub fn new(config: HubConfig) -> Self {
        let start = if config.external_cursors {
            1
        } else {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_micros() as u64)
        };
        let registry = Registry::new(config.subscriber_queue, config.external_cursors);
        Self {
            inner: Arc::new(Inner {
                history_start: start,
                state: Mutex::new(State {
                    last_seq: start - 1,
                    topics: HashMap::new(),
                    forgotten_through: 0,
                    registry,
                    poll_groups: PollGroups::new(config.max_poll_groups),
                }),
                config,
                published: metrics::counter!("switchyard_hub_published_total"),
                deliveries: metrics::counter!("switchyard_hub_deliveries_total"),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than stopping the hub would, so a poisoned lock is taken over.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cursor of the most recent event.
    pub fn cursor(&self) -> u64 {
        self.lock().last_seq
    }

    /// Stores `event` on `topic` (a valid topic name) and hands it to every matching subscriber.
    /// Returns the event's cursor.
    pub fn publish(&self, topic: &str, event: &CloudEvent) -> Result<u64, HubError> {
        self.store(topic, event, None, true)
    }

    /// Stores `event` (at `at`, or the next cursor) and, if `live`, fans it out.
    pub(crate) fn store(
        &self,
        topic: &str,
        event: &CloudEvent,
        at: Option<u64>,
        live: bool,
    ) -> Result<u64, HubError> {
        // Encode outside the lock: this is the expensive part and it is per event, not per
        // subscriber (every subscriber shares the same bytes).
        let encoded = message::Encoded::new(event);
        let mut state = self.lock();
        let cfg = &self.inner.config;
        if at.is_some_and(|seq| seq <= state.last_seq) {
            return Ok(state.last_seq);
        }
        if !state.topics.contains_key(topic) && state.topics.len() >= cfg.max_topics {
            state.forget_oldest_topics(cfg.max_topics / 100 + 1);
        }
        if let Some(seq) = at
            && seq > state.last_seq + 1
        {
            // The backplane's stream no longer has what came between (expired or deleted): a
            // resume from before it gets a reset, not a silent gap.
            state.forgotten_through = state.forgotten_through.max(seq - 1);
        }
        state.last_seq = at.unwrap_or(state.last_seq + 1);
        let seq = state.last_seq;
        let topic: Arc<str> = match state.topics.get_key_value(topic) {
            Some((k, _)) => k.clone(),
            None => Arc::from(topic),
        };
        let msg = Arc::new(encoded.into_message(seq, topic.clone()));
        let log = state.topics.entry(topic).or_default();
        log.push(msg.clone(), cfg.replay_events, cfg.replay_bytes);
        let delivered = if live {
            state.registry.fan_out(&msg)
        } else {
            0
        };
        drop(state);
        self.inner.published.increment(1);
        self.inner.deliveries.increment(delivered as u64);
        Ok(seq)
    }

    /// Subscribes to `filter`. The replay (if `since` is set) is in the returned subscription,
    /// taken under the same lock as the registration, so nothing falls between replay and live.
    pub fn subscribe(&self, filter: TopicFilter, options: SubscribeOptions) -> Subscription {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut state = self.lock();
        let replay = match (&options.group, options.since) {
            (None, Some(since)) => {
                // A stream cannot page, so a wildcard over many topics replays the newest
                // events that fit a subscriber's queue, after a reset for what it skipped.
                let keep = self
                    .inner
                    .config
                    .replay_events
                    .max(self.inner.config.subscriber_queue);
                self.replay_locked(&state, &filter, since, Keep::Newest(keep))
            }
            _ => Vec::new(),
        };
        let (tx, rx) = mpsc::channel(self.inner.config.subscriber_queue.max(1));
        let closing = Arc::new(registry::CloseSignal::default());
        let id = state
            .registry
            .add(filter, options.group, tx, closing.clone());
        let start_cursor = state.last_seq;
        drop(state);
        Subscription::new(
            id,
            start_cursor,
            replay,
            rx,
            closing,
            Box::new(HubHandle(weak)),
        )
    }

    /// Events on `filter` after `since`, at most `limit` of them (a reset first if `since` fell
    /// out of the window).
    pub fn poll(&self, filter: &TopicFilter, since: u64, limit: usize) -> PollBatch {
        let state = self.lock();
        let messages = self.replay_locked(&state, filter, since, Keep::Oldest(limit));
        let cursor = next_cursor(&messages, state.last_seq, limit);
        PollBatch { messages, cursor }
    }

    /// The next events for a polling consumer group; each event is handed to one poll only.
    /// A group starts at the present when it first polls; one the hub forgot at its group
    /// limit starts at the present too, after a reset event saying where it was.
    pub fn poll_group(&self, filter: &TopicFilter, group: &str, limit: usize) -> PollBatch {
        let mut state = self.lock();
        let key = (filter.as_str().to_owned(), group.to_owned());
        let last = state.last_seq;
        let (since, forgotten_at) = match state.poll_groups.start(&key) {
            GroupStart::Known(cursor) => (cursor, None),
            GroupStart::Forgotten(cursor) => (last, Some(cursor)),
            GroupStart::New => (last, None),
        };
        let mut messages = self.replay_locked(&state, filter, since, Keep::Oldest(limit));
        // A group's members share one cursor, so the reset is for the group, not one member;
        // it is still reported, once, to whoever polls first.
        let cursor = next_cursor(&messages, last, limit);
        if let Some(was) = forgotten_at {
            messages.insert(0, Arc::new(HubMessage::reset(was, last)));
        }
        state.poll_groups.record(key, cursor);
        PollBatch { messages, cursor }
    }

    #[cfg(test)]
    fn state_poll_groups(&self) -> usize {
        self.lock().poll_groups.len()
    }

    /// Number of topics and of live subscriptions, for the admin endpoints.
    pub fn stats(&self) -> (usize, usize) {
        let state = self.lock();
        (state.topics.len(), state.registry.len())
    }

    fn replay_locked(
        &self,
        state: &State,
        filter: &TopicFilter,
        since: u64,
        keep: Keep,
    ) -> Vec<Arc<HubMessage>> {
        let from_other_run =
            since != 0 && (since < self.inner.history_start - 1 || since > state.last_seq);
        let mut out = Vec::new();
        let mut lost = from_other_run || (since != 0 && since < state.forgotten_through);
        let topics: Box<dyn Iterator<Item = (&Arc<str>, &TopicLog)>> = if filter.is_exact() {
            Box::new(state.topics.get_key_value(filter.as_str()).into_iter())
        } else {
            Box::new(state.topics.iter().filter(|(t, _)| filter.matches(t)))
        };
        for (_, log) in topics {
            lost |= since != 0 && log.evicted_through() > since;
            out.extend(log.after(if from_other_run { 0 } else { since }).cloned());
        }
        out.sort_unstable_by_key(|m| m.seq);
        match keep {
            Keep::Oldest(n) => out.truncate(n),
            Keep::Newest(n) if out.len() > n => {
                lost = true;
                out.drain(..out.len() - n);
            }
            Keep::Newest(_) => {}
        }
        if lost {
            let resumed_from = out.first().map_or(state.last_seq, |m| m.seq - 1);
            out.insert(0, Arc::new(HubMessage::reset(since, resumed_from)));
        }
        out
    }
}

impl State {
    /// Forgets the `n` least recently published topics. Linear in the number of topics, but
    /// runs once per `n` new topics at the limit.
    fn forget_oldest_topics(&mut self, n: usize) {
        let mut ages: Vec<(u64, Arc<str>)> = self
            .topics
            .iter()
            .map(|(k, log)| (log.last_seq(), k.clone()))
            .collect();
        let n = n.min(ages.len());
        if n == 0 {
            return;
        }
        ages.select_nth_unstable_by_key(n - 1, |(seq, _)| *seq);
        for (seq, topic) in ages.into_iter().take(n) {
            self.forgotten_through = self.forgotten_through.max(seq);
            self.topics.remove(&topic);
        }
        metrics::counter!("switchyard_hub_topics_forgotten_total").increment(n as u64);
    }
}

/// Which part of a replay longer than its limit is kept.
#[derive(Debug, Clone, Copy)]
enum Keep {
    /// The oldest: a poll returns a page and continues from its end.
    Oldest(usize),
    /// The newest, after a reset: a stream cannot page.
    Newest(usize),
}

/// Where the next poll continues: after the last event returned, or (nothing returned) at the
/// present, so a reset with an empty window does not make the client loop.
fn next_cursor(messages: &[Arc<HubMessage>], last_seq: u64, limit: usize) -> u64 {
    let last_event = messages
        .iter()
        .rev()
        .find(|m| m.kind == MessageKind::Event)
        .map(|m| m.seq);
    match last_event {
        Some(seq) if messages.len() >= limit => seq,
        Some(_) | None => last_seq,
    }
}

/// Lets a dropped [`Subscription`] remove itself from the hub without keeping it alive.
#[derive(Debug)]
struct HubHandle(Weak<Inner>);

impl registry::Unregister for HubHandle {
    fn unregister(&self, id: u64) {
        if let Some(inner) = self.0.upgrade() {
            let mut state = inner
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.registry.remove(id);
        }
    }
}
