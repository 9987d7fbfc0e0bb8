//! Test fixtures for end-to-end tests: the real `switchyard` binary on 127.0.0.1:0, a small HTTP
//! client, an SSE reader, a webhook receiver, and waiting on conditions with deadlines.

pub mod brokers;
pub mod browser;
pub mod client;
pub mod gateway;
pub mod proxy;
pub mod python;
pub mod receiver;
pub mod sse;

use std::future::Future;
use std::time::Duration;

pub use gateway::Gateway;

/// Waits until `check` returns `Some`, polling every 10 ms; panics with `what` after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Fails with `what` if `fut` does not finish within `within`.
pub async fn within<T>(within: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(within, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {within:?}: {what}"),
    }
}
