//! Waiting on a condition with a deadline: poll it every few milliseconds, fail the test
//! with what was awaited when the deadline passes.

use std::future::Future;
use std::time::Duration;

/// Generous, for a loaded 2-core machine; conditions are usually met in milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(10);

/// Polls `check` until it returns `Some`, failing the test with `what` after `deadline`.
pub async fn poll_some_within<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let polling = async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(POLL).await;
        }
    };
    within_for(deadline, what, polling).await
}

/// [`poll_some`] for a check that needs mutable state (an `async` closure borrowing it).
pub async fn poll_some_mut<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let polling = async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(POLL).await;
        }
    };
    within_for(DEADLINE, what, polling).await
}

/// [`poll_some_within`] the [`DEADLINE`].
pub async fn poll_some<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll_some_within(DEADLINE, what, check).await
}

/// Waits until `condition` holds, failing the test after [`DEADLINE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    poll_some(what, || std::future::ready(condition().then_some(()))).await;
}

/// Awaits `future`, failing the test with `what` after `deadline`.
pub async fn within_for<T>(deadline: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(deadline, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {deadline:?} waiting for {what}"),
    }
}

/// Awaits `future`, failing the test with `what` after [`DEADLINE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    within_for(DEADLINE, what, future).await
}
