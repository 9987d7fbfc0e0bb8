//! Capped exponential backoff with jitter: the waits between retries of a delivery and between
//! reconnects to a broker. One implementation for every adapter, so "backoff" means the same
//! everywhere: wait `initial * 2^n`, at most `max`, drawn from the upper half of that step
//! ("equal jitter") so that many clients failing together do not retry in lockstep.

use std::time::Duration;

use rand::Rng;

/// The waits of one series of attempts; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: bool,
    attempt: u32,
}

impl Backoff {
    /// Waits from `initial` doubling up to `max` (both at least 1 ms), randomised.
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self {
            initial,
            max: max.max(initial),
            jitter: true,
            attempt: 0,
        }
    }

    /// The same without randomness: each wait is the full step.
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The wait before the next attempt; never less than `floor` (a peer's Retry-After)
    /// unless that exceeds `max`.
    pub fn next_delay(&mut self, floor: Duration) -> Duration {
        let step = self
            .initial
            .saturating_mul(1u32.checked_shl(self.attempt).unwrap_or(u32::MAX))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let wait = if self.jitter {
            let half = step / 2;
            half + rand::rng().random_range(Duration::ZERO..=step - half)
        } else {
            step
        };
        wait.max(floor.min(self.max))
    }

    /// Starts again from `initial` (after a success, or a session that lasted).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        for ceiling in [100, 200, 400, 800, 1000, 1000] {
            let ceiling = Duration::from_millis(ceiling);
            let delay = b.next_delay(Duration::ZERO);
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{delay:?} vs {ceiling:?}"
            );
        }
        b.reset();
        assert!(b.next_delay(Duration::ZERO) <= Duration::from_millis(100));
    }

    #[test]
    fn floor_is_honoured_up_to_the_cap() {
        let mut b =
            Backoff::new(Duration::from_millis(10), Duration::from_secs(1)).without_jitter();
        assert_eq!(
            b.next_delay(Duration::from_millis(300)),
            Duration::from_millis(300)
        );
        assert_eq!(
            b.next_delay(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        assert_eq!(b.next_delay(Duration::ZERO), Duration::from_millis(40));
    }
}
