//! A bounded memory of recently delivered (`source`, `id`) pairs.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Remembers the last `capacity` keys; the oldest is forgotten first.
#[derive(Debug)]
pub struct DedupeWindow {
    capacity: usize,
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    set: HashSet<(String, String)>,
    order: VecDeque<(String, String)>,
}

impl DedupeWindow {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// How many keys it remembers.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn contains(&self, source: &str, id: &str) -> bool {
        let seen = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.set.contains(&(source.to_owned(), id.to_owned()))
    }

    /// Records a delivered event. Called only after delivery succeeded, so a failed first
    /// attempt does not make its redelivery look like a duplicate.
    pub fn insert(&self, source: &str, id: &str) {
        let mut seen = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (source.to_owned(), id.to_owned());
        if seen.set.insert(key.clone()) {
            seen.order.push_back(key);
            while seen.order.len() > self.capacity {
                if let Some(old) = seen.order.pop_front() {
                    seen.set.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let window = DedupeWindow::new(2);
        window.insert("s", "1");
        window.insert("s", "2");
        assert!(window.contains("s", "1"));
        window.insert("s", "3");
        assert!(!window.contains("s", "1"));
        assert!(window.contains("s", "2") && window.contains("s", "3"));
        assert!(!window.contains("other", "3"), "keyed on source too");
    }
}
