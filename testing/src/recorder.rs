//! A recording pipeline and sink: each call is answered as the test's script says, and what
//! was confirmed, how often each event was tried and how many calls ran at once are kept for
//! the test to assert on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tower::util::BoxCloneSyncService;

use switchyard_core::event::Event;
use switchyard_core::pipeline::{Delivered, Pipeline, Sink};
use switchyard_core::{BoxError, DeliveryError};

use crate::wait::DEADLINE;

/// What the script answers for one call.
#[derive(Debug)]
pub enum Answer {
    Deliver,
    DeliverAfter(Duration),
    Fail(DeliveryError),
    /// Never answers (a sink that hangs).
    Hang,
}

impl From<Result<(), DeliveryError>> for Answer {
    fn from(result: Result<(), DeliveryError>) -> Self {
        result.map_or_else(Answer::Fail, |()| Answer::Deliver)
    }
}

/// Which call the script is answering.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    /// Calls before this one, of any event.
    pub index: usize,
    /// This event's attempts so far, this one included (from 1), by CloudEvents `id`.
    pub attempt: usize,
}

/// Records what the pipeline (or sink) was given; cheap to clone, clones share the record.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    delivered: Mutex<Vec<Event>>,
    confirmed: watch::Sender<usize>,
    calls: AtomicUsize,
    attempts: Mutex<HashMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// When set, each call waits for a permit first: lets a test hold calls in flight.
    gate: Option<Semaphore>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder whose calls wait until the test [`release`](Self::release)s them.
    pub fn gated() -> Self {
        Self(Arc::new(Inner {
            gate: Some(Semaphore::new(0)),
            ..Inner::default()
        }))
    }

    /// Lets `n` more gated calls through.
    pub fn release(&self, n: usize) {
        self.0
            .gate
            .as_ref()
            .expect("a gated recorder")
            .add_permits(n);
    }

    /// Events confirmed, in order.
    pub fn delivered(&self) -> Vec<Event> {
        lock(&self.0.delivered).clone()
    }

    pub fn delivered_count(&self) -> usize {
        lock(&self.0.delivered).len()
    }

    /// Calls begun, failed ones and ones waiting at the gate included.
    pub fn calls(&self) -> usize {
        self.0.calls.load(Ordering::SeqCst)
    }

    /// Calls for the event with this `id`.
    pub fn attempts(&self, id: &str) -> usize {
        lock(&self.0.attempts).get(id).copied().unwrap_or(0)
    }

    /// Different events (by `id`) the recorder was called for.
    pub fn distinct_events(&self) -> usize {
        lock(&self.0.attempts).len()
    }

    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::SeqCst)
    }

    /// The most calls that were under way at once.
    pub fn max_in_flight(&self) -> usize {
        self.0.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` events were confirmed, and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Event> {
        let mut confirmed = self.0.confirmed.subscribe();
        let reached = tokio::time::timeout(DEADLINE, confirmed.wait_for(|c| *c >= n)).await;
        let delivered = self.delivered();
        assert!(
            reached.is_ok(),
            "timed out waiting for {n} delivered events; {} were delivered in {} calls",
            delivered.len(),
            self.calls()
        );
        delivered
    }

    /// A pipeline answering each call as `script` says.
    pub fn pipeline(
        &self,
        script: impl Fn(Call, &Event) -> Answer + Send + Sync + 'static,
    ) -> Pipeline {
        let (recorder, script) = (self.clone(), Arc::new(script));
        BoxCloneSyncService::new(tower::service_fn(move |event: Event| {
            let (recorder, script) = (recorder.clone(), script.clone());
            async move {
                recorder.answer(event, &*script).await?;
                Ok::<_, BoxError>(Delivered { sinks: 1 })
            }
        }))
    }

    /// A pipeline that confirms everything.
    pub fn accepting(&self) -> Pipeline {
        self.pipeline(|_, _| Answer::Deliver)
    }

    /// A sink that confirms everything (e.g. a dead-letter sink).
    pub fn sink(&self) -> Sink {
        let recorder = self.clone();
        BoxCloneSyncService::new(tower::service_fn(move |event: Event| {
            let recorder = recorder.clone();
            async move { recorder.answer(event, &|_, _| Answer::Deliver).await }
        }))
    }

    async fn answer(
        &self,
        event: Event,
        script: &(dyn Fn(Call, &Event) -> Answer + Send + Sync),
    ) -> Result<(), BoxError> {
        let inner = &self.0;
        let index = inner.calls.fetch_add(1, Ordering::SeqCst);
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(gate) = &inner.gate {
            gate.acquire().await.expect("the gate stays open").forget();
        }
        let attempt = {
            let mut attempts = lock(&inner.attempts);
            let count = attempts.entry(event.cloud.id.clone()).or_default();
            *count += 1;
            *count
        };
        let result = match script(Call { index, attempt }, &event) {
            Answer::Deliver => Ok(()),
            Answer::DeliverAfter(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            Answer::Fail(error) => Err(Box::new(error) as BoxError),
            Answer::Hang => std::future::pending().await,
        };
        if result.is_ok() {
            lock(&inner.delivered).push(event);
            inner.confirmed.send_modify(|c| *c += 1);
        }
        inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
}
