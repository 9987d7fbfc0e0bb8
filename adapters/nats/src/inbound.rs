//! The NATS inbound: core NATS subjects (optionally in a queue group) or a durable JetStream
//! consumer. Every message is decoded (`delivery.rs`) and settled by the core's settlement
//! driver:
//!
//! - **core NATS** (`inbound/core.rs`) is at-most-once: the server keeps nothing for a
//!   subscriber, so a failure that may heal is retried in place until it is delivered or the
//!   gateway stops, and a message that arrives while the gateway is away is lost.
//! - **JetStream** (`inbound/jetstream.rs`) is at-least-once: a message is acked only after
//!   every sink confirmed; a failure that may heal is held for the delay and then nak'ed (the
//!   server redelivers it), one that never will is terminated (`term`) after the dead-letter
//!   sink took it, or without one; an unsettled message is redelivered after `ack_wait`.
//!
//! At most `inflight` messages are delivered at once; on shutdown the inbound stops taking
//! messages and lets those under way settle for `shutdown_grace_ms`.

mod core;
mod delivery;
mod jetstream;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use switchyard_core::inbound::{Inbound, InboundContext};
use switchyard_core::retry::RetryPolicy;
use switchyard_core::settle::{RetryMode, SettlementDriver};

use crate::config::{INBOUND_RETRY, NatsInboundConfig};
use crate::connection::{self, Link};
use crate::convert::Wrapper;
use delivery::Delivery;

/// Longest a failed JetStream message is held before it is nak'ed, whatever delay a sink asked
/// for: a held message counts against the consumer's `max_ack_pending`.
const MAX_NAK_DELAY: Duration = Duration::from_secs(60);

/// A validated NATS inbound: the only way to run one (see [`Inbound`]).
#[derive(Debug)]
pub struct NatsInbound {
    /// Where its settings sit (`inbounds.NAME`), for errors.
    path: String,
    config: NatsInboundConfig,
    wrapper: Wrapper,
    retry: RetryPolicy,
}

impl NatsInbound {
    /// Compiles `config` (errors name keys under `inbounds.NAME`); done once, at `check` time.
    pub fn build(name: &str, config: &NatsInboundConfig) -> Result<Self, Vec<String>> {
        let errors = config.validate(&format!("inbounds.{name}"));
        if !errors.is_empty() {
            return Err(errors);
        }
        let wrapper = Wrapper::new(name, &config.wrap).map_err(|errors| {
            let errors = errors.into_iter();
            errors
                .map(|(key, e)| format!("inbounds.{name}.wrap.{key}: {e}"))
                .collect::<Vec<_>>()
        })?;
        Ok(Self {
            path: format!("inbounds.{name}"),
            config: config.clone(),
            wrapper,
            retry: config.retry.resolve(INBOUND_RETRY),
        })
    }
}

impl Inbound for NatsInbound {
    fn run(self: Box<Self>, ctx: InboundContext) -> BoxFuture<'static, ()> {
        Box::pin(run(*self, ctx))
    }

    /// A JetStream inbound's stream and durable consumer must exist.
    fn preflight(&self) -> BoxFuture<'_, Result<(), Vec<String>>> {
        Box::pin(async {
            match &self.config.jetstream {
                None => Ok(()),
                Some(js) => jetstream::preflight(&self.link(), js, &self.path).await,
            }
        })
    }
}

impl NatsInbound {
    fn link(&self) -> Link {
        Link {
            url: self.config.url.clone(),
            token: self.config.token.clone(),
            tls_ca_file: self.config.tls_ca_file.clone(),
        }
    }
}

async fn run(inbound: NatsInbound, ctx: InboundContext) {
    let InboundContext {
        name,
        pipeline,
        dead_letter,
        ready,
        shutdown,
    } = ctx;
    let link = inbound.link();
    let NatsInbound {
        config,
        wrapper,
        retry,
        ..
    } = inbound;
    let client = match connection::open(&link, &format!("inbound {name}"), ready.clone()).await {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(inbound = %name, %error, "cannot set up the NATS connection; not consuming");
            return;
        }
    };
    let retry = match &config.jetstream {
        None => RetryMode::InPlace(retry),
        Some(_) => {
            let min = Duration::from_millis(config.nak_delay_ms);
            RetryMode::HandBack {
                min,
                max: MAX_NAK_DELAY.max(min),
            }
        }
    };
    let driver = SettlementDriver::new(name.clone(), pipeline, dead_letter, retry);
    let delivery = Arc::new(Delivery::new(driver, wrapper));
    let mut tasks = Tasks::new(config.inflight);
    match &config.jetstream {
        None => core::consume(&client, &config, &delivery, &mut tasks, &shutdown).await,
        Some(js) => jetstream::consume(&client, js, &delivery, &ready, &mut tasks, &shutdown).await,
    }
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    tasks.drain(&name, grace).await;
    ready.set(false);
    if let Err(error) = client.drain().await {
        tracing::debug!(inbound = %name, %error, "closing the NATS connection");
    }
}

/// The deliveries under way, at most `inflight` at once.
#[derive(Debug)]
struct Tasks {
    permits: Arc<Semaphore>,
    set: JoinSet<()>,
    /// Cut retries' and holds' waits short at shutdown.
    stop: CancellationToken,
}

impl Tasks {
    fn new(inflight: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(inflight)),
            set: JoinSet::new(),
            stop: CancellationToken::new(),
        }
    }

    /// Waits for a free slot (`None` once `shutdown` is cancelled), reaping finished tasks.
    async fn slot(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        while let Some(joined) = self.set.try_join_next() {
            if let Err(e) = joined
                && e.is_panic()
            {
                tracing::error!(error = %e, "a NATS delivery panicked; the message is left unacknowledged");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => None,
            permit = self.permits.clone().acquire_owned() => permit.ok(),
        }
    }

    fn spawn(
        &mut self,
        permit: tokio::sync::OwnedSemaphorePermit,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.set.spawn(async move {
            work.await;
            drop(permit);
        });
    }

    /// Lets the deliveries under way settle for up to `grace`; abandons the rest.
    async fn drain(mut self, inbound: &str, grace: Duration) {
        self.stop.cancel();
        let settled = tokio::time::timeout(grace, async {
            while self.set.join_next().await.is_some() {}
        });
        if settled.await.is_err() {
            tracing::info!(%inbound, unsettled = self.set.len(),
                "shutdown grace period over; unsettled messages are left unacknowledged");
            self.set.shutdown().await;
        }
    }
}
