//! Opening and closing broker connections, the same way for inbounds and outbounds: the
//! reconnect pacing (`backoff`) and the topology declared after each connect (`topology`).
//!
//! lapin's own recovery stays off (`ConnectionProperties::default()`): the callers run their
//! own reconnect loops (see `inbound.rs` for why).

mod backoff;
pub(crate) mod topology;

pub(crate) use backoff::{STABLE, reconnect_backoff};

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use lapin::{Connection, ConnectionProperties};

use crate::error::SetupError;

/// Connection-level events (errors, blocked/unblocked), boxed so sessions can hold them.
pub(crate) type Events = Pin<Box<dyn Stream<Item = lapin::Event> + Send>>;

/// How long a polite close may take before we just drop the connection.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects to `url`, naming the connection after the component (`switchyard inbound
/// orders`) so operators can find it in the broker's management UI.
pub(crate) async fn open(url: &str, component: &str) -> Result<(Connection, Events), SetupError> {
    let properties = ConnectionProperties::default()
        .with_connection_name(format!("switchyard {component}").into());
    let connection = Connection::connect(url, properties)
        .await
        .map_err(SetupError::at("connecting"))?;
    // Listen before anything else can fail: lapin only queues events for live listeners.
    let events: Events = Box::pin(connection.events_listener());
    Ok((connection, events))
}

/// Closes `connection`; a dead or stuck one is simply dropped (which closes the socket).
pub(crate) async fn close(connection: Connection) {
    let closing = connection.close(200, "closing".into());
    if let Ok(Err(e)) = tokio::time::timeout(CLOSE_TIMEOUT, closing).await {
        tracing::debug!(error = %e, "closing the AMQP connection failed; dropping it");
    }
}
