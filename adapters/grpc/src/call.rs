//! `Call` of `switchyard.v1.Gateway`: request-reply, as `POST /rpc/{topic}`. The request
//! carries a reply slot through the pipeline; the route's one reply-capable sink fills it.

use std::time::Duration;

use tokio::time::Instant;
use tonic::Status;

use switchyard_core::cloudevent::protobuf;
use switchyard_core::event::Event;
use switchyard_core::pipeline::deliver;
use switchyard_core::principal::Principal;
use switchyard_core::rpc::{self, Reply, ReplyTo};
use switchyard_core::topic::validate_topic_name;

use crate::proto::switchyard_v1::{CallRequest, CallResponse, RawReply, call_response};
use crate::shared::Shared;
use crate::status;

/// Routes the request and waits for its reply until `deadline`.
pub(crate) async fn call(
    shared: &Shared,
    principal: Option<std::sync::Arc<Principal>>,
    request: CallRequest,
    budget: Option<Duration>,
) -> Result<CallResponse, Status> {
    let CallRequest { topic, event } = request;
    validate_topic_name(&topic).map_err(status::invalid_topic)?;
    let event = event.ok_or_else(|| Status::invalid_argument("`event` is required"))?;
    let mut cloud = protobuf::from_proto(event).map_err(status::invalid_event)?;
    rpc::mark_request(&mut cloud);
    let request_id = cloud.id.clone();
    let limits = &shared.rpc;
    let wait = budget.map_or(Duration::from_millis(limits.timeout_ms), |b| {
        b.min(Duration::from_millis(limits.max_timeout_ms))
    });
    let deadline = Instant::now() + wait;
    let (reply_to, receiver) = ReplyTo::channel(deadline);
    let event = Event::new(cloud, shared.inbound.clone(), topic)
        .by(principal)
        .asking(reply_to);
    let exchange = async {
        deliver(&shared.pipeline, event)
            .await
            .map_err(|e| status::from_delivery(&e))?;
        receiver
            .await
            .map_err(|_| Status::unavailable("the route's sink took the request but gave no reply"))
    };
    let reply = match tokio::time::timeout_at(deadline, exchange).await {
        Ok(reply) => reply?,
        Err(_) => {
            metrics::counter!("switchyard_rpc_timeouts_total").increment(1);
            return Err(Status::deadline_exceeded(
                "no reply within the call's deadline",
            ));
        }
    };
    Ok(CallResponse {
        reply: Some(match reply.correlated(&request_id) {
            Reply::Event(event) => call_response::Reply::Event(protobuf::to_proto(&event)),
            Reply::Body { content_type, body } => call_response::Reply::Raw(RawReply {
                content_type: content_type.unwrap_or_default(),
                body: body.to_vec(),
            }),
        }),
    })
}
