//! A route's delivery policy: per-sink timeout and retries with backoff and jitter, the
//! dead-letter sink for failures that will not heal, and an optional de-duplication window.

mod dedupe;

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use switchyard_core::retry::RetryPolicy;
use tower::ServiceExt;

use metrics::Counter;
use switchyard_core::error::{BoxError, DeliveryError};
use switchyard_core::event::Event;
use switchyard_core::pipeline::Sink;

pub use dedupe::DedupeWindow;

/// `retry:` on a route, for failures that may heal (a sink unavailable, a timeout); a
/// permanent refusal is never retried. Default one attempt per sink: sinks such as webhooks
/// retry on their own; raise it to ride out a broker restart without failing the source.
pub const ROUTE_RETRY: RetryPolicy = RetryPolicy::new(Some(1), 100, 5_000);

/// `dedupe:` on a route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// How many recent (`source`, `id`) pairs are remembered; a repeat within them is acked
    /// without being delivered again.
    pub window: usize,
}

/// One sink of a route, with its counters registered once at compile time rather than looked
/// up (and their labels allocated) for every event.
#[derive(Debug)]
pub(crate) struct RouteSink {
    pub(crate) name: String,
    pub(crate) sink: Sink,
    confirmed: Counter,
    rejected: Counter,
    failed: Counter,
    retries: Counter,
}

impl RouteSink {
    pub(crate) fn new(route: &str, name: &str, sink: Sink) -> Self {
        let outcome = |outcome: &'static str| metrics::counter!("switchyard_sink_deliveries_total", "route" => route.to_owned(), "sink" => name.to_owned(), "outcome" => outcome);
        Self {
            name: name.to_owned(),
            sink,
            confirmed: outcome("confirmed"),
            rejected: outcome("rejected"),
            failed: outcome("failed"),
            retries: metrics::counter!("switchyard_sink_retries_total", "route" => route.to_owned(), "sink" => name.to_owned()),
        }
    }
}

/// The compiled policy of one route.
#[derive(Debug)]
pub(crate) struct DeliveryPolicy {
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Option<Duration>,
    pub(crate) dead_letter: Option<RouteSink>,
    /// Shared, so that a reload that keeps the route keeps what it remembers.
    pub(crate) dedupe: Option<Arc<DedupeWindow>>,
}

/// Whether an error is worth another attempt.
pub(crate) fn is_permanent(err: &BoxError) -> bool {
    matches!(
        DeliveryError::find(err.as_ref()),
        Some(
            DeliveryError::Rejected { .. }
                | DeliveryError::NoRoute { .. }
                | DeliveryError::InvalidTopic { .. }
                | DeliveryError::TooLarge { .. }
                | DeliveryError::NoReplier { .. }
                | DeliveryError::BadReply { .. }
        )
    )
}

impl DeliveryPolicy {
    /// Delivers `event` to one sink: each attempt bounded by the timeout, transient failures
    /// retried with backoff.
    pub(crate) async fn deliver(
        &self,
        route: &str,
        target: &RouteSink,
        event: &Event,
    ) -> Result<(), BoxError> {
        let attempts = self.retry.max_attempts();
        let mut attempt = 1;
        let mut backoff = self.retry.backoff();
        loop {
            let result = self
                .attempt(&target.name, &target.sink, event.clone())
                .await;
            match &result {
                Ok(()) => target.confirmed.increment(1),
                Err(e) if is_permanent(e) => target.rejected.increment(1),
                Err(_) => target.failed.increment(1),
            }
            match result {
                Err(err) if !is_permanent(&err) && attempt < attempts => {
                    target.retries.increment(1);
                    tracing::debug!(%route, sink = %target.name, attempt, error = %err, "retrying");
                    tokio::time::sleep(backoff.next_delay(Duration::ZERO)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn attempt(&self, name: &str, sink: &Sink, event: Event) -> Result<(), BoxError> {
        let call = sink.clone().oneshot(event);
        match self.timeout {
            None => call.await,
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(DeliveryError::Timeout {
                    sink: name.to_owned(),
                    timeout: limit,
                })),
            },
        }
    }
}
