//! Capped exponential backoff with jitter, for reconnects and delivery retries. rumqttc
//! reconnects as soon as it is polled again after an error, so without this a broker that is
//! down would be hammered in a tight loop.

use std::time::Duration;

use rand::Rng;

use crate::config::BackoffConfig;

/// The waits of one series of attempts; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(config: &BackoffConfig) -> Self {
        Self {
            initial: Duration::from_millis(config.initial_ms.max(1)),
            max: Duration::from_millis(config.max_ms.max(config.initial_ms).max(1)),
            attempt: 0,
        }
    }

    /// The wait before the next attempt: `initial * 2^attempt`, capped at `max`, drawn from its
    /// upper half so that many clients do not retry in step; never less than `floor` (a peer's
    /// Retry-After) unless that exceeds `max`.
    pub fn next_delay(&mut self, floor: Duration) -> Duration {
        let exponential = self
            .initial
            .saturating_mul(1u32.checked_shl(self.attempt).unwrap_or(u32::MAX))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let jittered = rand::rng().random_range(exponential / 2..=exponential);
        jittered.max(floor.min(self.max))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(initial_ms: u64, max_ms: u64) -> Backoff {
        Backoff::new(&BackoffConfig { initial_ms, max_ms })
    }

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let mut b = backoff(100, 1_000);
        let expected = [100, 200, 400, 800, 1_000, 1_000];
        for ceiling in expected {
            let delay = b.next_delay(Duration::ZERO);
            let ceiling = Duration::from_millis(ceiling);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
        }
        for _ in 0..100 {
            assert!(b.next_delay(Duration::ZERO) <= Duration::from_millis(1_000));
        }
        b.reset();
        assert!(b.next_delay(Duration::ZERO) <= Duration::from_millis(100));
    }

    #[test]
    fn honours_the_floor_up_to_the_cap() {
        let mut b = backoff(10, 500);
        assert!(b.next_delay(Duration::from_millis(300)) >= Duration::from_millis(300));
        assert_eq!(
            b.next_delay(Duration::from_secs(60)),
            Duration::from_millis(500)
        );
    }
}
