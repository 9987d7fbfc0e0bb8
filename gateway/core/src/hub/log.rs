//! One topic's bounded replay window.

use std::collections::VecDeque;
use std::sync::Arc;

use super::HubMessage;

/// The most recent events of one topic, bounded by count and by encoded bytes.
#[derive(Debug, Default)]
pub(super) struct TopicLog {
    window: VecDeque<Arc<HubMessage>>,
    bytes: usize,
    /// The cursor of the newest event that was evicted: a resume from below it has a gap.
    evicted_through: u64,
}

impl TopicLog {
    pub(super) fn push(&mut self, msg: Arc<HubMessage>, max_events: usize, max_bytes: usize) {
        self.bytes += msg.json.len();
        self.window.push_back(msg);
        while self.window.len() > max_events.max(1)
            || (self.bytes > max_bytes && self.window.len() > 1)
        {
            let Some(old) = self.window.pop_front() else {
                break;
            };
            self.bytes -= old.json.len();
            self.evicted_through = old.seq;
        }
    }

    /// The cursor of the newest event this topic has seen.
    pub(super) fn last_seq(&self) -> u64 {
        self.window.back().map_or(self.evicted_through, |m| m.seq)
    }

    pub(super) fn evicted_through(&self) -> u64 {
        self.evicted_through
    }

    /// The retained events with a cursor above `since`, oldest first.
    pub(super) fn after(&self, since: u64) -> impl Iterator<Item = &Arc<HubMessage>> {
        let start = self.window.partition_point(|m| m.seq <= since);
        self.window.range(start..)
    }
}
