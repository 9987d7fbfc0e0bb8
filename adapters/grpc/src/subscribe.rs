//! `Subscribe` of `switchyard.v1.Gateway`: a hub subscription as a server stream, the same as
//! SSE's: replay from `since`, consumer groups, the reset notice, and an end that says why
//! (RESOURCE_EXHAUSTED for a subscriber that fell behind, UNAVAILABLE for the drain), after
//! which the client resumes from its last cursor.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use futures_util::stream::BoxStream;
use tonic::Status;

use switchyard_core::hub::{CloseReason, HubMessage, MessageKind, SubscribeOptions, Subscription};
use switchyard_core::topic::TopicFilter;
use tokio_util::sync::CancellationToken;

use crate::proto::switchyard_v1::SubscribeRequest;
use crate::shared::Shared;
use crate::status;
use crate::wire::SubscribeResponse;

/// Longest consumer group name, as for HTTP's `?group=`.
const MAX_GROUP_BYTES: usize = 200;

/// The response stream of one subscription.
pub struct Feed(BoxStream<'static, Result<SubscribeResponse, Status>>);

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed")
    }
}

impl Stream for Feed {
    type Item = Result<SubscribeResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

pub(crate) fn open(
    shared: &Shared,
    principal: Option<&switchyard_core::principal::Principal>,
    request: SubscribeRequest,
) -> Result<Feed, Status> {
    let filter = TopicFilter::parse(&request.filter).map_err(status::invalid_topic)?;
    switchyard_core::auth::check_subscribe(principal, &filter)
        .map_err(|d| crate::caller::denied(&d))?;
    let place = match principal.map(|p| p.open_stream()).transpose() {
        Ok(place) => place.flatten(),
        Err(denial) => return Err(crate::caller::denied(&denial)),
    };
    let group = (!request.group.is_empty()).then_some(request.group);
    if group.as_ref().is_some_and(|g| g.len() > MAX_GROUP_BYTES) {
        return Err(Status::invalid_argument(
            "`group` must be at most 200 bytes",
        ));
    }
    let options = SubscribeOptions {
        since: request.since,
        group,
    };
    let mut subscription = shared.hub.subscribe(filter, options);
    subscription.hold(place);
    let state = Live {
        subscription,
        end: shared.streams_end.clone(),
        done: false,
    };
    Ok(Feed(Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        },
    ))))
}

/// A hub message as its subscriber receives it.
pub(crate) fn response(message: &HubMessage) -> SubscribeResponse {
    SubscribeResponse {
        cursor: message.seq,
        event: message.protobuf().clone(),
        reset: message.kind == MessageKind::Reset,
    }
}

struct Live {
    subscription: Subscription,
    end: CancellationToken,
    done: bool,
}

impl Live {
    async fn next(&mut self) -> Option<Result<SubscribeResponse, Status>> {
        if self.done {
            return None;
        }
        let received = tokio::select! {
            biased;
            () = self.end.cancelled() => {
                // The drain ends streams only after every accepted publish reached their
                // queues: what is queued goes out first.
                if let Some(message) = self.subscription.try_recv() {
                    return Some(Ok(response(&message)));
                }
                self.done = true;
                let reason = "the gateway is shutting down; resume from your last cursor";
                return Some(Err(status::unavailable(reason, Duration::from_secs(1))));
            }
            received = self.subscription.recv() => received,
        };
        Some(match received {
            Ok(message) => Ok(response(&message)),
            Err(reason) => {
                self.done = true;
                Err(closed(reason))
            }
        })
    }
}

/// The end of a stream the hub closed.
fn closed(reason: CloseReason) -> Status {
    match reason {
        CloseReason::SlowConsumer { .. } => {
            Status::resource_exhausted(format!("{reason}; resume from your last cursor"))
        }
        CloseReason::HubClosed => status::unavailable(reason.to_string(), Duration::from_secs(1)),
    }
}
