//! Readiness: whether the gateway should receive traffic. Each adapter that depends on a peer
//! registers a check and flips it as its connection comes and goes; draining makes the whole
//! gateway unready so load balancers stop sending before connections close.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Shared readiness state.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    draining: AtomicBool,
    checks: Mutex<BTreeMap<String, Arc<AtomicBool>>>,
}

/// One component's readiness flag.
#[derive(Debug, Clone)]
pub struct ReadinessCheck(Arc<AtomicBool>);

impl ReadinessCheck {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
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
        ReadinessCheck(flag)
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
