//! Readiness: whether the gateway should receive traffic. Each adapter that depends on a peer
//! registers a check and flips it as its connection comes and goes; draining makes the whole
//! gateway unready so load balancers stop sending before connections close.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Shared readiness state.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    draining: AtomicBool,
    checks: Mutex<BTreeMap<String, Arc<AtomicBool>>>,
    /// Woken whenever a check turns ready.
    changed: Arc<Notify>,
}

/// One component's readiness flag.
#[derive(Debug, Clone)]
pub struct ReadinessCheck {
    flag: Arc<AtomicBool>,
    changed: Arc<Notify>,
}

impl ReadinessCheck {
    pub fn set(&self, ready: bool) {
        let was = self.flag.swap(ready, Ordering::Relaxed);
        if ready && !was {
            self.changed.notify_waiters();
        }
    }
}

impl Readiness {
    /// Registers a component, initially not ready.
    pub fn register(&self, name: &str) -> ReadinessCheck {
        let flag = Arc::new(AtomicBool::new(false));
        let mut checks = self
            .inner
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        checks.insert(name.to_owned(), flag.clone());
        ReadinessCheck {
            flag,
            changed: self.inner.changed.clone(),
        }
    }

    /// Waits, up to `within`, until every check in `names` is ready (one no longer registered
    /// counts as ready); returns whether they all were.
    pub async fn wait_ready(&self, names: &[String], within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.inner.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before looking, so a check turning ready in between is not missed.
            changed.as_mut().enable();
            if names.iter().all(|name| self.is_ready(name)) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }

    fn is_ready(&self, name: &str) -> bool {
        let checks = self
            .inner
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        checks
            .get(name)
            .is_none_or(|flag| flag.load(Ordering::Relaxed))
    }

    /// Forgets a component that no longer runs (a reload removed it).
    pub fn unregister(&self, name: &str) {
        let mut checks = self
            .inner
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        checks.remove(name);
    }

    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }

    /// Every check with its state, and whether all are ready and the gateway is not draining.
    pub fn report(&self) -> (bool, Vec<(String, bool)>) {
        let checks = self
            .inner
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list: Vec<(String, bool)> = checks
            .iter()
            .map(|(name, flag)| (name.clone(), flag.load(Ordering::Relaxed)))
            .collect();
        let ready = !self.is_draining() && list.iter().all(|(_, ok)| *ok);
        (ready, list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_for_checks_ends_when_they_turn_ready_or_at_the_deadline() {
        let readiness = Readiness::default();
        let check = readiness.register("outbound:a");
        let names = ["outbound:a".to_owned(), "gone".to_owned()];
        let waiter = {
            let readiness = readiness.clone();
            let names = names.clone();
            tokio::spawn(async move { readiness.wait_ready(&names, Duration::from_secs(30)).await })
        };
        tokio::task::yield_now().await;
        check.set(true);
        assert!(
            waiter.await.expect("join"),
            "ready once the check turned ready"
        );
        check.set(false);
        assert!(
            !readiness
                .wait_ready(&names, Duration::from_millis(20))
                .await
        );
    }
}
