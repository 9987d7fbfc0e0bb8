//! The de-facto `io.cloudevents.v1.CloudEventService` (open-cluster-management's sdk-go) on
//! the same hub and pipeline. It has no topic, so the event's `source` is one: `Publish` puts
//! an event from source `/a/b` (or `a/b`) on topic `a/b`; `Subscribe` follows the topics its
//! `source` names (MQTT wildcards allowed, empty: all), narrowed to extension `clustername`
//! = `cluster_name` and to types starting with `data_type` when those are set. Live events
//! only: the request has no cursor.

use prost::Message as _;
use tonic::{Request, Response, Status};

use switchyard_core::cloudevent::protobuf::{self, pb};
use switchyard_core::hub::{HubMessage, MessageKind, SubscribeOptions};
use switchyard_core::topic::{TopicFilter, validate_topic_name};

use crate::proto::cloudevents_v1::cloud_event_service_server::CloudEventService;
use crate::proto::cloudevents_v1::{PublishRequest, SubscriptionRequest};
use crate::publish::deliver_all;
use crate::shared::Shared;
use crate::status;

/// The `io.cloudevents.v1.CloudEventService` service.
#[derive(Debug)]
pub(crate) struct CloudEventServiceImpl(pub Shared);

type EventStream = futures_util::stream::BoxStream<'static, Result<pb::CloudEvent, Status>>;

#[tonic::async_trait]
impl CloudEventService for CloudEventServiceImpl {
    async fn publish(&self, request: Request<PublishRequest>) -> Result<Response<()>, Status> {
        let budget = crate::deadline::budget(request.metadata());
        let principal = crate::caller::principal(&self.0, &request)?;
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| Status::invalid_argument("`event` is required"))?;
        let event = protobuf::from_proto(event).map_err(status::invalid_event)?;
        let topic = event.source.trim_start_matches('/').to_owned();
        validate_topic_name(&topic).map_err(|e| {
            Status::invalid_argument(format!(
                "source `{}` cannot be used as a topic: {e}",
                event.source
            ))
        })?;
        let delivery = deliver_all(&self.0, principal, &topic, vec![event]);
        crate::deadline::within(budget, delivery).await?;
        Ok(Response::new(()))
    }

    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<SubscriptionRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let principal = crate::caller::principal(&self.0, &request)?;
        let request = request.into_inner();
        let source = request.source.trim_start_matches('/');
        let filter = TopicFilter::parse(if source.is_empty() { "#" } else { source })
            .map_err(status::invalid_topic)?;
        switchyard_core::auth::check_subscribe(principal.as_deref(), &filter)
            .map_err(|d| crate::caller::denied(&d))?;
        let subscription = self.0.hub.subscribe(filter, SubscribeOptions::default());
        let wanted = Wanted {
            cluster: request.cluster_name,
            data_type: request.data_type,
        };
        let end = self.0.streams_end.clone();
        let stream = futures_util::stream::unfold(
            (subscription, end, false),
            move |(mut subscription, end, done)| {
                let wanted = wanted.clone();
                async move {
                    if done {
                        return None;
                    }
                    loop {
                        let message = tokio::select! {
                            biased;
                            () = end.cancelled() => {
                                let status = status::unavailable("the gateway is shutting down", std::time::Duration::from_secs(1));
                                return Some((Err(status), (subscription, end, true)));
                            }
                            received = subscription.recv() => received,
                        };
                        match message {
                            Ok(message) => {
                                if let Some(event) = wanted.pick(&message) {
                                    return Some((Ok(event), (subscription, end, false)));
                                }
                            }
                            Err(reason) => {
                                let status = Status::resource_exhausted(reason.to_string());
                                return Some((Err(status), (subscription, end, true)));
                            }
                        }
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The subscription's narrowing beyond the topic.
#[derive(Debug, Clone)]
struct Wanted {
    cluster: String,
    data_type: String,
}

impl Wanted {
    fn pick(&self, message: &HubMessage) -> Option<pb::CloudEvent> {
        if message.kind == MessageKind::Reset {
            return None;
        }
        let event = pb::CloudEvent::decode(message.protobuf().clone()).ok()?;
        let cluster_ok = self.cluster.is_empty()
            || event
                .attributes
                .get("clustername")
                .and_then(|v| match &v.attr {
                    Some(pb::cloud_event::cloud_event_attribute_value::Attr::CeString(s)) => {
                        Some(s)
                    }
                    _ => None,
                })
                == Some(&self.cluster);
        let type_ok = event.r#type.starts_with(&self.data_type);
        (cluster_ok && type_ok).then_some(event)
    }
}
