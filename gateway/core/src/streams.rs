//! Streaming subscriptions per principal (`auth.max_streams_per_principal`): SSE streams,
//! WebSockets and gRPC `Subscribe` calls a principal holds open at once, whichever listener
//! they came through. A count each, in a bounded table (principals with nothing open are
//! forgotten first), so a flood of new principals cannot grow memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Principals tracked at most.
const MAX_PRINCIPALS: usize = 65_536;

/// One principal's open streams.
#[derive(Debug)]
pub struct StreamSlots {
    max: usize,
    open: AtomicUsize,
}

/// An open stream's place; leaving it (by drop) frees it.
#[derive(Debug)]
pub struct StreamGuard(Arc<StreamSlots>);

impl StreamSlots {
    /// A place for one more stream, if the principal has one left.
    pub fn open(self: &Arc<Self>) -> Option<StreamGuard> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        taken.is_ok().then(|| StreamGuard(self.clone()))
    }

    pub fn max(&self) -> usize {
        self.max
    }

    fn idle(&self) -> bool {
        self.open.load(Ordering::Acquire) == 0
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The slots of every principal seen, at one limit.
#[derive(Debug)]
pub struct StreamLimits {
    max: usize,
    slots: Mutex<HashMap<Arc<str>, Arc<StreamSlots>>>,
}

impl StreamLimits {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            slots: Mutex::default(),
        }
    }

    /// The slots of `id`.
    pub fn slots(&self, id: &str) -> Arc<StreamSlots> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = slots.get(id) {
            return found.clone();
        }
        if slots.len() >= MAX_PRINCIPALS {
            // Forgetting an idle principal loses nothing; a busy one keeps its count.
            slots.retain(|_, s| !s.idle() || Arc::strong_count(s) > 1);
        }
        let fresh = Arc::new(StreamSlots {
            max: self.max,
            open: AtomicUsize::new(0),
        });
        if slots.len() < MAX_PRINCIPALS {
            slots.insert(id.into(), fresh.clone());
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_holds_at_most_its_limit_and_a_closed_stream_frees_its_place() {
        let limits = StreamLimits::new(2);
        let (a, b) = (limits.slots("a").open(), limits.slots("a").open());
        assert!(a.is_some() && b.is_some());
        assert!(limits.slots("a").open().is_none(), "a third");
        assert!(limits.slots("other").open().is_some(), "another principal");
        drop(a);
        assert!(limits.slots("a").open().is_some(), "a place freed");
    }
}
