//! `Lease`, `Ack` and `Nack` of `switchyard.v1.Gateway`: the work queues, as
//! `GET /queues/{name}` and `POST /queues/{name}/ack|nack` serve them over HTTP.

use std::time::Duration;

use tonic::Status;

use switchyard_core::auth::check_subscribe;
use switchyard_core::cloudevent::protobuf;
use switchyard_core::principal::Principal;
use switchyard_core::queue::{Settle, SettleError, WorkQueue};
use switchyard_core::topic::TopicFilter;

use crate::proto::switchyard_v1::{LeaseRequest, LeaseResponse, LeasedEvent, SettleRequest};
use crate::shared::Shared;

/// The longest `wait_ms` honoured, as the HTTP long poll's default cap.
const MAX_WAIT: Duration = Duration::from_secs(60);

pub(crate) async fn lease(
    shared: &Shared,
    principal: Option<&Principal>,
    request: LeaseRequest,
) -> Result<LeaseResponse, Status> {
    let queue = allowed(shared, principal, &request.queue)?;
    let max = usize::try_from(request.max.max(1)).unwrap_or(usize::MAX);
    let lease = (request.lease_ms > 0).then(|| Duration::from_millis(request.lease_ms));
    let wait = Duration::from_millis(request.wait_ms).min(MAX_WAIT);
    let leased = tokio::select! {
        leased = queue.lease(max, lease, wait) => leased.map_err(|e| Status::invalid_argument(e.to_string()))?,
        () = shared.streams_end.cancelled() => Vec::new(),
    };
    let events = leased
        .into_iter()
        .map(|one| LeasedEvent {
            receipt: one.receipt,
            event: Some(protobuf::to_proto(&one.event)),
            redelivered: one.redelivered,
            deliveries: one.deliveries,
        })
        .collect();
    Ok(LeaseResponse { events })
}

pub(crate) async fn settle(
    shared: &Shared,
    principal: Option<&Principal>,
    request: SettleRequest,
    nack: bool,
) -> Result<(), Status> {
    let queue = allowed(shared, principal, &request.queue)?;
    let how = match (nack, request.dead_letter) {
        (false, false) => Settle::Ack,
        (false, true) => return Err(Status::invalid_argument("dead_letter is for Nack")),
        (true, false) => Settle::Requeue,
        (true, true) => Settle::DeadLetter,
    };
    queue.settle(&request.receipt, how).await.map_err(|err| {
        let message = err.to_string();
        match err {
            SettleError::Unknown => Status::not_found(message),
            SettleError::Expired => Status::failed_precondition(message),
            SettleError::AlreadySettled => Status::already_exists(message),
            SettleError::Broker(_) => Status::unavailable(message),
        }
    })
}

/// The queue `name`, if it exists and the caller may consume it.
fn allowed(
    shared: &Shared,
    principal: Option<&Principal>,
    name: &str,
) -> Result<WorkQueue, Status> {
    let queue = shared
        .queues
        .get(name)
        .cloned()
        .ok_or_else(|| Status::not_found(format!("no queue named `{name}`")))?;
    let topic = TopicFilter::parse(&format!("queues/{name}"))
        .map_err(|e| Status::invalid_argument(format!("queue name: {e}")))?;
    check_subscribe(principal, &topic).map_err(|d| crate::caller::denied(&d))?;
    Ok(queue)
}
