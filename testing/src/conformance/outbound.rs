//! The outbound suite: what every sink (webhook, MQTT, AMQP, hub, and every later
//! one) must do, checked the same way for each. A sink's test implements [`OutboundFixture`]
//! for its protocol and calls [`check_outbound`]:
//!
//! - it confirms an event only once its peer has it (a peer that takes the event but never
//!   confirms gets a `Timeout`, never a confirmation);
//! - it is `Unavailable` at once while it cannot reach its peer, and not ready;
//! - an event its binding cannot carry is `Rejected`, and the sink goes on working;
//! - readiness follows the connection.

use std::time::{Duration, Instant};

use tower::ServiceExt;

use switchyard_core::cloudevent::{CloudEvent, Data};
use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::pipeline::Sink;
use switchyard_core::{BoxError, DeliveryError};

use crate::wait::{eventually, poll_some_mut, within};

/// How long "at once" may take on a loaded 2-core machine.
const AT_ONCE: Duration = Duration::from_secs(2);

/// One protocol's sink and the peer behind it, as the suite drives them.
#[allow(async_fn_in_trait)]
pub trait OutboundFixture {
    /// Starts the sink against a live peer; returns it with the readiness it reports to.
    async fn live(&mut self) -> (Sink, Readiness);
    /// The ids of the events the live peer has received so far.
    async fn received(&mut self) -> Vec<String>;
    /// Starts the sink against an address where no peer listens; `None` for an in-process
    /// sink that has no peer to lose (the hub).
    async fn unreachable(&mut self) -> Option<(Sink, Readiness)>;
    /// Starts the sink against a peer that takes events but never confirms them, with a
    /// short confirm timeout; `None` where no such peer can be staged.
    async fn silent(&mut self) -> Option<Sink>;
    /// An event this sink's binding cannot carry (too large, an unpublishable topic, ...);
    /// `None` for a sink that can carry every valid event.
    fn uncarriable(&self) -> Option<Event>;
    /// Whether the sink keeps a connection that readiness follows (a webhook does not: it
    /// is always ready, each request finds out whether the server is up).
    fn has_connection(&self) -> bool {
        true
    }
    /// An ordinary event with this id, on a topic the live peer receives.
    fn event(&self, id: &str) -> Event {
        let mut cloud = CloudEvent::new(id, "/conformance", "dev.switchyard.conformance");
        cloud.datacontenttype = Some("application/json".into());
        cloud.data = Some(Data::Json(br#"{"n":1}"#.as_slice().into()));
        Event::new(cloud, "conformance", "conformance/events")
    }
}

/// Runs every check of the suite against `fixture`'s sink.
pub async fn check_outbound(fixture: &mut impl OutboundFixture) {
    let (sink, readiness) = fixture.live().await;
    readiness_follows_the_connection(&readiness).await;
    confirms_what_its_peer_received(fixture, &sink).await;
    refuses_what_its_binding_cannot_carry(fixture, &sink).await;
    unavailable_at_once_while_disconnected(fixture).await;
    never_confirms_without_its_peer(fixture).await;
}

async fn readiness_follows_the_connection(readiness: &Readiness) {
    let readiness = readiness.clone();
    eventually("a connected sink to be ready", move || readiness.report().0).await;
}

async fn confirms_what_its_peer_received(fixture: &mut impl OutboundFixture, sink: &Sink) {
    let ids: Vec<String> = (0..3)
        .map(|n| format!("conf-{}-{n}", uuid_like()))
        .collect();
    for id in &ids {
        let answer = within(
            "a live sink's confirmation",
            sink.clone().oneshot(fixture.event(id)),
        )
        .await;
        answer.unwrap_or_else(|e| panic!("a live sink must confirm `{id}`: {e}"));
    }
    // Confirmed means the peer has it: it must be there (allowing for the peer's own
    // delivery to the test's reader).
    poll_some_mut("the peer to hold every confirmed event", async || {
        let received = fixture.received().await;
        ids.iter().all(|id| received.contains(id)).then_some(())
    })
    .await;
}

async fn refuses_what_its_binding_cannot_carry(fixture: &mut impl OutboundFixture, sink: &Sink) {
    let Some(uncarriable) = fixture.uncarriable() else {
        return;
    };
    let answer = within("a refusal", sink.clone().oneshot(uncarriable)).await;
    let error = answer.expect_err("an event the binding cannot carry must not be confirmed");
    assert!(
        matches!(
            kind(&error),
            Some(
                DeliveryError::Rejected { .. }
                    | DeliveryError::InvalidTopic { .. }
                    | DeliveryError::TooLarge { .. }
            )
        ),
        "an event the binding cannot carry must be refused for good, got: {error}"
    );
    let after = fixture.event(&format!("after-refusal-{}", uuid_like()));
    within("a delivery after a refusal", sink.clone().oneshot(after))
        .await
        .unwrap_or_else(|e| panic!("a refusal must not break the sink: {e}"));
}

async fn unavailable_at_once_while_disconnected(fixture: &mut impl OutboundFixture) {
    let Some((sink, readiness)) = fixture.unreachable().await else {
        return;
    };
    let started = Instant::now();
    let answer = within(
        "an answer without a peer",
        sink.oneshot(fixture.event("no-peer")),
    )
    .await;
    let error = answer.expect_err("no peer, no confirmation");
    assert!(
        started.elapsed() < AT_ONCE,
        "a sink without its peer must fail at once, took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(kind(&error), Some(DeliveryError::Unavailable { .. })),
        "a sink without its peer must be Unavailable, got: {error}"
    );
    if fixture.has_connection() {
        assert!(
            !readiness.report().0,
            "a sink without its peer is not ready"
        );
    }
}

async fn never_confirms_without_its_peer(fixture: &mut impl OutboundFixture) {
    let Some(sink) = fixture.silent().await else {
        return;
    };
    let answer = within(
        "the confirm timeout",
        sink.oneshot(fixture.event("unconfirmed")),
    )
    .await;
    let error = answer.expect_err("a peer that never confirms must not get a confirmation");
    assert!(
        matches!(kind(&error), Some(DeliveryError::Timeout { .. })),
        "a confirmation that never comes must be a Timeout, got: {error}"
    );
}

fn kind(error: &BoxError) -> Option<&DeliveryError> {
    DeliveryError::find(error.as_ref())
}

/// A short unique suffix, so runs against a shared broker do not see each other's events.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{}", std::process::id())
}
