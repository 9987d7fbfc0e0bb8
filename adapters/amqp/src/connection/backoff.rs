//! Reconnect pacing shared by inbounds and outbounds (the core's capped, jittered backoff), so
//! a broker that is down is not hammered and many gateways restarting together do not
//! reconnect in lockstep (reliability.md F7, F12).

use std::time::Duration;

use switchyard_core::backoff::Backoff;
use switchyard_core::retry::RetryPolicy;

/// Forever, from 100 ms doubling up to 10 s: a recovered broker is noticed within 10 s.
const RECONNECT: RetryPolicy = RetryPolicy::new(None, 100, 10_000);
/// A session that lasted this long was healthy: the next outage starts with short waits.
/// Shorter ones (a channel the broker closes right after connecting) keep growing the wait,
/// so a connection that fails at once is not retried ten times a second.
pub(crate) const STABLE: Duration = Duration::from_secs(10);

/// The waits between reconnect attempts.
pub(crate) fn reconnect_backoff() -> Backoff {
    RECONNECT.backoff()
}
