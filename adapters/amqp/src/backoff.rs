//! Reconnect pacing shared by inbounds and outbounds: capped exponential backoff with jitter,
//! so a broker that is down is not hammered, and many gateways restarting together do not
//! reconnect in lockstep (reliability.md F7, F12).

use std::time::Duration;

use rand::Rng;

/// First wait after a failure.
const INITIAL: Duration = Duration::from_millis(100);
/// Longest wait between attempts: a recovered broker is noticed within this.
const MAX: Duration = Duration::from_secs(10);
/// A session that lasted this long was healthy: the next outage starts with short waits.
/// Shorter ones (a channel the broker closes right after connecting) keep growing the wait,
/// so a connection that fails at once is not retried ten times a second.
const STABLE: Duration = Duration::from_secs(10);

/// The delays between reconnect attempts.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self { next: INITIAL }
    }

    /// The wait before the next attempt: a random point in the upper half of the current
    /// step ("equal jitter"), so waits still grow but spread out.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(MAX);
        let half = step / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }

    /// Called when a connected session ends after `lasted`.
    pub(crate) fn session_ended(&mut self, lasted: Duration) {
        if lasted >= STABLE {
            self.next = INITIAL;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut backoff = Backoff::new();
        let first = backoff.next_delay();
        assert!(first >= INITIAL / 2 && first <= INITIAL);
        for _ in 0..20 {
            assert!(backoff.next_delay() <= MAX);
        }
        assert!(backoff.next_delay() >= MAX / 2);
        backoff.session_ended(Duration::from_secs(1));
        assert!(backoff.next_delay() >= MAX / 2);
        backoff.session_ended(STABLE);
        assert!(backoff.next_delay() <= INITIAL);
    }
}
