//! Server-side cursors of polling consumer groups, keyed by (filter, group). Group names come
//! from clients, so the table is bounded: at `max` groups the least recently polled 1 % are
//! forgotten. A forgotten group is remembered as a tombstone (a keyed hash of its name and the
//! cursor it had, 4 × `max` of them, oldest dropped first), so when it polls again it gets an
//! explicit reset event instead of silently starting at the present (never a silent gap).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

/// Tombstones kept per group slot.
const TOMBSTONES_PER_GROUP: usize = 4;

/// (filter text, group name).
pub(super) type GroupKey = (String, String);

/// Where a group's next poll starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupStart {
    /// A group the hub knows: after its cursor.
    Known(u64),
    /// A group the hub forgot (at the limit): it had reached this cursor; it starts again at
    /// the present, after a reset event.
    Forgotten(u64),
    /// A group never seen: at the present.
    New,
}

#[derive(Debug)]
pub(super) struct PollGroups {
    max: usize,
    groups: HashMap<GroupKey, GroupCursor>,
    /// Counts polls, so the least recently polled group can be found.
    clock: u64,
    /// Keyed hash of a forgotten group → its cursor; `order` drops the oldest first.
    tombstones: HashMap<u64, u64>,
    order: VecDeque<u64>,
    hasher: RandomState,
}

/// Where a polling consumer group stands.
#[derive(Debug, Clone, Copy)]
struct GroupCursor {
    cursor: u64,
    /// `clock` at its last poll.
    polled: u64,
}

impl PollGroups {
    pub(super) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            groups: HashMap::new(),
            clock: 0,
            tombstones: HashMap::new(),
            order: VecDeque::new(),
            hasher: RandomState::new(),
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.groups.len()
    }

    /// Where `key` continues from; makes room for it if it is not in the table.
    pub(super) fn start(&mut self, key: &GroupKey) -> GroupStart {
        if let Some(group) = self.groups.get(key) {
            return GroupStart::Known(group.cursor);
        }
        if self.groups.len() >= self.max {
            self.forget_idle(self.max / 100 + 1);
        }
        match self.tombstones.remove(&self.hasher.hash_one(key)) {
            Some(cursor) => GroupStart::Forgotten(cursor),
            None => GroupStart::New,
        }
    }

    /// Records where `key` stands after a poll.
    pub(super) fn record(&mut self, key: GroupKey, cursor: u64) {
        self.clock += 1;
        let polled = self.clock;
        self.groups.insert(key, GroupCursor { cursor, polled });
    }

    /// Forgets the `n` least recently polled groups, leaving tombstones.
    fn forget_idle(&mut self, n: usize) {
        let mut ages: Vec<(u64, GroupKey)> = self
            .groups
            .iter()
            .map(|(k, g)| (g.polled, k.clone()))
            .collect();
        let n = n.min(ages.len());
        if n == 0 {
            return;
        }
        ages.select_nth_unstable_by_key(n - 1, |(polled, _)| *polled);
        for (_, key) in ages.into_iter().take(n) {
            if let Some(group) = self.groups.remove(&key) {
                self.bury(&key, group.cursor);
            }
        }
        metrics::counter!("switchyard_hub_poll_groups_forgotten_total").increment(n as u64);
    }

    fn bury(&mut self, key: &GroupKey, cursor: u64) {
        let hash = self.hasher.hash_one(key);
        if self.tombstones.insert(hash, cursor).is_none() {
            self.order.push_back(hash);
        }
        while self.order.len() > self.max * TOMBSTONES_PER_GROUP {
            if let Some(oldest) = self.order.pop_front() {
                self.tombstones.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(g: &str) -> GroupKey {
        ("f/#".to_owned(), g.to_owned())
    }

    #[test]
    fn a_forgotten_group_is_told_where_it_was() {
        let mut groups = PollGroups::new(10);
        assert_eq!(groups.start(&key("victim")), GroupStart::New);
        groups.record(key("victim"), 7);
        for i in 0..10 {
            let k = key(&format!("g{i}"));
            groups.start(&k);
            groups.record(k, 100);
        }
        assert!(groups.len() <= 10);
        assert_eq!(groups.start(&key("victim")), GroupStart::Forgotten(7));
        // Told once: after its reset it is a group like any other.
        groups.record(key("victim"), 200);
        assert_eq!(groups.start(&key("victim")), GroupStart::Known(200));
    }

    #[test]
    fn tombstones_are_bounded() {
        let mut groups = PollGroups::new(10);
        for i in 0..1000 {
            let k = key(&format!("g{i}"));
            groups.start(&k);
            groups.record(k, i);
        }
        assert!(groups.tombstones.len() <= 10 * TOMBSTONES_PER_GROUP);
        assert_eq!(groups.order.len(), groups.tombstones.len());
    }
}
