//! `Publish` and `PublishBatch` of `switchyard.v1.Gateway`: decode and validate everything,
//! then deliver in order, answering once every sink of every matching route confirmed.
//! A client deadline (`grpc-timeout`) bounds the whole call: when it passes the delivery is
//! dropped and the answer is DEADLINE_EXCEEDED ([`crate::deadline`]).

use tonic::{Request, Response, Status};

use switchyard_core::cloudevent::CloudEvent;
use switchyard_core::cloudevent::protobuf::{self, pb};
use switchyard_core::event::Event;
use switchyard_core::pipeline::deliver;
use switchyard_core::topic::validate_topic_name;

use crate::proto::switchyard_v1::gateway_server::Gateway;
use crate::proto::switchyard_v1::{
    CallRequest, CallResponse, LeaseRequest, LeaseResponse, PublishBatchRequest, PublishRequest,
    PublishResponse, SettleRequest, SettleResponse, SubscribeRequest,
};
use crate::shared::Shared;
use crate::subscribe::{self, Feed};
use crate::{caller, deadline, status};

/// The `switchyard.v1.Gateway` service.
#[derive(Debug)]
pub(crate) struct GatewayService(pub Shared);

#[tonic::async_trait]
impl Gateway for GatewayService {
    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let budget = deadline::budget(request.metadata());
        let principal = caller::principal(&self.0, &request)?;
        let PublishRequest { topic, event } = request.into_inner();
        validate_topic_name(&topic).map_err(status::invalid_topic)?;
        let event = event.ok_or_else(|| Status::invalid_argument("`event` is required"))?;
        let event = protobuf::from_proto(event).map_err(status::invalid_event)?;
        let delivery = deliver_all(&self.0, principal, &topic, vec![event]);
        let accepted = deadline::within(budget, delivery).await?;
        Ok(Response::new(PublishResponse { accepted }))
    }

    async fn publish_batch(
        &self,
        request: Request<PublishBatchRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let budget = deadline::budget(request.metadata());
        let principal = caller::principal(&self.0, &request)?;
        let PublishBatchRequest { topic, batch } = request.into_inner();
        validate_topic_name(&topic).map_err(status::invalid_topic)?;
        let batch = batch.ok_or_else(|| Status::invalid_argument("`batch` is required"))?;
        // All decoded and validated before any is delivered: one bad event refuses the batch.
        let events = decode_batch(batch)?;
        let delivery = deliver_all(&self.0, principal, &topic, events);
        let accepted = deadline::within(budget, delivery).await?;
        Ok(Response::new(PublishResponse { accepted }))
    }

    async fn call(&self, request: Request<CallRequest>) -> Result<Response<CallResponse>, Status> {
        let budget = deadline::budget(request.metadata());
        let principal = caller::principal(&self.0, &request)?;
        crate::call::call(&self.0, principal, request.into_inner(), budget)
            .await
            .map(Response::new)
    }

    async fn lease(
        &self,
        request: Request<LeaseRequest>,
    ) -> Result<Response<LeaseResponse>, Status> {
        let principal = caller::principal(&self.0, &request)?;
        crate::queues::lease(&self.0, principal.as_deref(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn ack(
        &self,
        request: Request<SettleRequest>,
    ) -> Result<Response<SettleResponse>, Status> {
        let principal = caller::principal(&self.0, &request)?;
        crate::queues::settle(&self.0, principal.as_deref(), request.into_inner(), false).await?;
        Ok(Response::new(SettleResponse {}))
    }

    async fn nack(
        &self,
        request: Request<SettleRequest>,
    ) -> Result<Response<SettleResponse>, Status> {
        let principal = caller::principal(&self.0, &request)?;
        crate::queues::settle(&self.0, principal.as_deref(), request.into_inner(), true).await?;
        Ok(Response::new(SettleResponse {}))
    }

    type SubscribeStream = Feed;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Feed>, Status> {
        let principal = caller::principal(&self.0, &request)?;
        subscribe::open(&self.0, principal.as_deref(), request.into_inner()).map(Response::new)
    }
}

fn decode_batch(batch: pb::CloudEventBatch) -> Result<Vec<CloudEvent>, Status> {
    batch
        .events
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            protobuf::from_proto(event).map_err(|e| status::invalid_event(e.in_event(index)))
        })
        .collect()
}

/// Delivers `events` on `topic` in order; the ids of those delivered, or the first failure
/// (with `accepted-count` when some were delivered before it).
pub(crate) async fn deliver_all(
    shared: &Shared,
    principal: Option<std::sync::Arc<switchyard_core::principal::Principal>>,
    topic: &str,
    events: Vec<CloudEvent>,
) -> Result<Vec<String>, Status> {
    let topic: std::sync::Arc<str> = topic.into();
    let mut accepted = Vec::with_capacity(events.len());
    for cloud in events {
        let id = cloud.id.clone();
        let event = Event::new(cloud, shared.inbound.clone(), topic.clone()).by(principal.clone());
        if let Err(err) = deliver(&shared.pipeline, event).await {
            return Err(status::with_accepted(
                status::from_delivery(&err),
                accepted.len(),
            ));
        }
        accepted.push(id);
    }
    Ok(accepted)
}
