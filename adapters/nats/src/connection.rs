//! Opening a NATS connection, the same way for inbounds and outbounds: named after the
//! component (so operators find it in the server's `connz`), reconnecting forever with capped,
//! jittered backoff, readiness following the connection. async-nats resubscribes core
//! subscriptions after a reconnect by itself.

use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};

use switchyard_core::health::ReadinessCheck;
use switchyard_core::retry::RetryPolicy;
use switchyard_core::secret::Secret;

/// Longest a startup check waits for the server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Forever, from 100 ms doubling up to 10 s.
const RECONNECT: RetryPolicy = RetryPolicy::new(None, 100, 10_000);

/// What every NATS link is opened with.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub url: Secret,
    pub token: Option<Secret>,
    pub tls_ca_file: Option<String>,
}

/// Connects `component` (`inbound orders`) in the background: returns at once with a client
/// that connects (and reconnects) by itself; `ready` is true while it is connected.
pub(crate) async fn open(
    link: &Link,
    component: &str,
    ready: ReadinessCheck,
) -> Result<Client, async_nats::ConnectError> {
    ready.set(false);
    let name = component.to_owned();
    let options = ConnectOptions::new()
        .name(format!("switchyard {component}"))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(move |event| {
            let (ready, name) = (ready.clone(), name.clone());
            async move { on_event(&event, &ready, &name) }
        });
    credentials(options, link).connect(link.url.expose()).await
}

/// The link's token and TLS trust, on `options`.
fn credentials(mut options: ConnectOptions, link: &Link) -> ConnectOptions {
    if let Some(token) = &link.token {
        options = options.token(token.expose().to_owned());
    }
    if let Some(ca) = &link.tls_ca_file {
        options = options.add_root_certificates(ca.into()).require_tls(true);
    }
    options
}

/// A one-off connection for a check, or `None` when the server cannot be reached within a
/// few seconds.
pub(crate) async fn probe(link: &Link) -> Option<Client> {
    let connect = credentials(ConnectOptions::new(), link)
        .connection_timeout(PROBE_TIMEOUT)
        .connect(link.url.expose());
    match tokio::time::timeout(PROBE_TIMEOUT, connect).await {
        Ok(Ok(client)) => Some(client),
        Ok(Err(error)) => {
            tracing::warn!(%error, "NATS not reachable for the startup check; it is retried when running");
            None
        }
        Err(_) => None,
    }
}

/// The wait before reconnect attempt `attempts` (async-nats counts from 1 after each loss).
fn reconnect_delay(attempts: usize) -> Duration {
    let mut backoff = RECONNECT.backoff();
    // Past 16 doublings every step is the cap anyway.
    for _ in 1..attempts.min(16) {
        backoff.next_delay(Duration::ZERO);
    }
    backoff.next_delay(Duration::ZERO)
}

fn on_event(event: &Event, ready: &ReadinessCheck, component: &str) {
    match event {
        Event::Connected => {
            tracing::info!(%component, "NATS connected");
            ready.set(true);
        }
        Event::Disconnected | Event::Closed => {
            tracing::warn!(%component, %event, "NATS connection lost; reconnecting");
            ready.set(false);
        }
        other => tracing::debug!(%component, event = %other, "NATS connection event"),
    }
}
