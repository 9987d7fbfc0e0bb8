//! The outbound's readiness between deliveries: a lazy channel has no connection state to
//! watch, so a background task asks the backend `grpc.health.v1.Health/Check` (service `""`,
//! the whole server) every [`INTERVAL`] on the sink's own channel, which also makes tonic
//! reconnect after the backend comes back. SERVING is ready. A backend without the health
//! service (UNIMPLEMENTED) or without an entry for `""` (NOT_FOUND) still answered, so it is
//! reachable and ready too; NOT_SERVING, a transient code, a transport error or no answer
//! within the deadline is not ready. Deliveries flip the same flag as they go (see
//! `outbound.rs`), so it never lags a failure by a whole interval.

use std::error::Error as _;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use switchyard_core::health::ReadinessCheck;

use crate::status::is_transient;

/// Time between two checks; the first is made at once.
pub(crate) const INTERVAL: Duration = Duration::from_secs(2);

/// Checks the backend on `channel` every [`INTERVAL`], each within `deadline`, and sets
/// `ready` after each, until `stop` is cancelled (when the last clone of the sink is dropped).
pub(crate) async fn follow(
    channel: Channel,
    ready: ReadinessCheck,
    deadline: Duration,
    stop: CancellationToken,
) {
    let mut client = HealthClient::new(channel);
    let checking = async {
        loop {
            ready.set(check(&mut client, deadline).await);
            tokio::time::sleep(INTERVAL).await;
        }
    };
    stop.run_until_cancelled(checking).await;
}

/// Whether the backend answered the check in a way that shows it takes calls.
async fn check(client: &mut HealthClient<Channel>, deadline: Duration) -> bool {
    let mut request = Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request.set_timeout(deadline);
    match tokio::time::timeout(deadline, client.check(request)).await {
        Ok(Ok(response)) => response.into_inner().status() == ServingStatus::Serving,
        Ok(Err(status)) => answered(&status),
        Err(_) => false,
    }
}

/// A failed check from a backend that is there all the same: it answered (no transport
/// error under the status) with a code that does not say "come back later". UNIMPLEMENTED
/// (no health service) and NOT_FOUND (no status for `""`) are the usual ones.
fn answered(status: &Status) -> bool {
    status.source().is_none() && !is_transient(status.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_without_the_health_service_is_reachable() {
        assert!(answered(&Status::unimplemented("no health service")));
        assert!(answered(&Status::not_found("unknown service")));
        assert!(!answered(&Status::unavailable("overloaded")));
        let mut broken = Status::unknown("connection reset");
        broken.set_source(std::sync::Arc::new(std::io::Error::other("reset")));
        assert!(!answered(&broken), "a transport error is not an answer");
    }
}
