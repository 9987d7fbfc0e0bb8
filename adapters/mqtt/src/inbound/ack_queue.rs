//! The ordered acknowledgement queue. MQTT requires PUBACK/PUBREC to go out in the order the
//! PUBLISH packets arrived [MQTT-4.6.0-2], but deliveries finish in any order and rumqttc does
//! not enforce it (bytebeamio/rumqtt#846). So every message that needs an ack takes a place
//! here on arrival, is marked done when its delivery settles, and only the done prefix is
//! released for acking.

use std::collections::VecDeque;

/// Items in arrival order, each done or not; sequence numbers identify them.
#[derive(Debug)]
pub struct AckQueue<T> {
    /// Sequence number of `slots[0]`.
    head: u64,
    slots: VecDeque<Slot<T>>,
}

#[derive(Debug)]
struct Slot<T> {
    item: T,
    done: bool,
}

impl<T> Default for AckQueue<T> {
    fn default() -> Self {
        Self {
            head: 0,
            slots: VecDeque::new(),
        }
    }
}

impl<T> AckQueue<T> {
    /// Appends `item`, not done; returns its sequence number.
    pub fn push(&mut self, item: T) -> u64 {
        self.slots.push_back(Slot { item, done: false });
        self.head + self.slots.len() as u64 - 1
    }

    /// Marks item `seq` done and returns it for updating; `None` if it has left the queue.
    pub fn complete(&mut self, seq: u64) -> Option<&mut T> {
        let index = usize::try_from(seq.checked_sub(self.head)?).ok()?;
        let slot = self.slots.get_mut(index)?;
        slot.done = true;
        Some(&mut slot.item)
    }

    /// The first item, if it is done (and so may be acknowledged now).
    pub fn front_done(&self) -> Option<&T> {
        self.slots.front().filter(|s| s.done).map(|s| &s.item)
    }

    /// Removes the first item, done or not.
    pub fn pop_front(&mut self) -> Option<T> {
        let slot = self.slots.pop_front()?;
        self.head += 1;
        Some(slot.item)
    }

    /// Removes items from the front while `stale` holds, done or not; returns how many.
    pub fn drop_front_while(&mut self, mut stale: impl FnMut(&T) -> bool) -> usize {
        let mut dropped = 0;
        while self.slots.front().is_some_and(|s| stale(&s.item)) {
            self.pop_front();
            dropped += 1;
        }
        dropped
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_done(queue: &mut AckQueue<u32>) -> Vec<u32> {
        let mut out = Vec::new();
        while queue.front_done().is_some() {
            out.extend(queue.pop_front());
        }
        out
    }

    #[test]
    fn releases_only_the_done_prefix_in_arrival_order() {
        let mut queue = AckQueue::default();
        let seqs: Vec<u64> = (0..5).map(|i| queue.push(i)).collect();
        queue.complete(seqs[2]);
        queue.complete(seqs[1]);
        assert_eq!(drain_done(&mut queue), Vec::<u32>::new());
        queue.complete(seqs[0]);
        assert_eq!(drain_done(&mut queue), vec![0, 1, 2]);
        queue.complete(seqs[4]);
        assert_eq!(drain_done(&mut queue), Vec::<u32>::new());
        queue.complete(seqs[3]);
        assert_eq!(drain_done(&mut queue), vec![3, 4]);
        assert!(queue.is_empty());
    }

    #[test]
    fn items_that_left_are_not_found() {
        let mut queue = AckQueue::default();
        let first = queue.push(1);
        let second = queue.push(2);
        assert_eq!(queue.drop_front_while(|&i| i < 2), 1);
        assert!(queue.complete(first).is_none());
        assert_eq!(queue.complete(second).copied(), Some(2));
        assert!(queue.complete(second + 1).is_none());
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.push(3), second + 1);
    }

    #[test]
    fn random_completion_orders_ack_everything_in_order() {
        use rand::seq::SliceRandom;
        for _ in 0..50 {
            let mut queue = AckQueue::default();
            let mut seqs: Vec<(u64, u32)> = (0..64).map(|i| (queue.push(i), i)).collect();
            seqs.shuffle(&mut rand::rng());
            let mut acked = Vec::new();
            for (seq, _) in seqs {
                queue.complete(seq);
                acked.extend(drain_done(&mut queue));
            }
            assert_eq!(acked, (0..64).collect::<Vec<u32>>());
        }
    }
}
