//! Publish rate limits per principal: a token bucket each, kept in a bounded table. By hand
//! rather than with `governor`: its keyed limiter's table grows with every new key until
//! someone prunes it, and a flood of new principals must not grow memory here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Buckets kept at most; when full, idle (refilled) buckets go first, then any.
const MAX_BUCKETS: usize = 65_536;

/// One principal's bucket.
#[derive(Debug)]
pub struct Bucket {
    per_s: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket refilling `per_s` tokens a second, up to `burst`.
    pub fn new(per_s: f64, burst: f64) -> Self {
        Self {
            per_s,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&self) -> Result<(), Duration> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let (tokens, at) = *state;
        let tokens = (tokens + now.duration_since(at).as_secs_f64() * self.per_s).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            Ok(())
        } else {
            *state = (tokens, now);
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_s))
        }
    }

    fn is_full(&self) -> bool {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, at) = *state;
        tokens + at.elapsed().as_secs_f64() * self.per_s >= self.burst
    }
}

/// The buckets of every principal seen, at one rate.
#[derive(Debug)]
pub struct RateLimits {
    per_s: f64,
    burst: f64,
    buckets: Mutex<HashMap<Arc<str>, Arc<Bucket>>>,
}

impl RateLimits {
    /// `per_s` publishes a second on average, up to `burst` at once.
    pub fn new(per_s: f64, burst: u32) -> Self {
        Self {
            per_s: per_s.max(f64::MIN_POSITIVE),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// The bucket of `id`.
    pub fn bucket(&self, id: &str) -> Arc<Bucket> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bucket) = buckets.get(id) {
            return bucket.clone();
        }
        if buckets.len() >= MAX_BUCKETS {
            // A full bucket is one nobody has drawn on lately: forgetting it loses nothing.
            buckets.retain(|_, b| !b.is_full());
            if buckets.len() >= MAX_BUCKETS
                && let Some(victim) = buckets.keys().next().cloned()
            {
                buckets.remove(&victim);
            }
        }
        let bucket = Arc::new(Bucket::new(self.per_s, self.burst));
        buckets.insert(id.into(), bucket.clone());
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_allows_its_burst_then_its_rate() {
        let limits = RateLimits::new(10.0, 3);
        let bucket = limits.bucket("p");
        for _ in 0..3 {
            bucket.take().expect("within the burst");
        }
        let wait = bucket.take().expect_err("burst spent");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        tokio::time::advance(Duration::from_millis(100)).await;
        bucket.take().expect("refilled at 10/s");
        assert!(
            Arc::ptr_eq(&bucket, &limits.bucket("p")),
            "one bucket per principal"
        );
    }

    #[test]
    fn the_table_stays_bounded_under_many_principals() {
        let limits = RateLimits::new(1.0, 1);
        for i in 0..MAX_BUCKETS + 100 {
            let _ = limits.bucket(&format!("p{i}")).take();
        }
        assert!(limits.buckets.lock().expect("lock").len() <= MAX_BUCKETS);
    }
}
