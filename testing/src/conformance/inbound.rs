//! The inbound suite: what every broker inbound (MQTT, AMQP, and every later one) must do,
//! checked the same way for each. An inbound's test implements [`InboundFixture`] for its
//! protocol and calls [`check_inbound`]:
//!
//! - a message is acknowledged once every sink confirmed, and only then: one whose delivery
//!   never finished comes back after a restart, one that was delivered does not;
//! - a failure that may heal keeps the message until it is delivered;
//! - undecodable and refused messages go to the dead-letter sink, with the reason;
//! - drain leaves the messages it did not settle with the broker.

use switchyard_core::DeliveryError;
use switchyard_core::inbound::Inbound;
use switchyard_core::settle::REASON_EXTENSION;

use crate::harness::RunningInbound;
use crate::recorder::{Answer, Recorder};
use crate::wait::eventually;

/// One protocol's inbound and the broker behind it, as the suite drives them.
#[allow(async_fn_in_trait)]
pub trait InboundFixture {
    type Inbound: Inbound;
    /// The inbound under test over the fixture's source. Every call builds it with the same
    /// identity (client id, queue), so a new one resumes where a stopped one left off.
    fn inbound(&self) -> Self::Inbound;
    /// Publishes a valid CloudEvent with this id to the source, and waits until the broker
    /// has it.
    async fn publish(&mut self, id: &str);
    /// Publishes a message that claims to be a CloudEvent but is not one.
    async fn publish_undecodable(&mut self);
}

/// Runs every check of the suite against `fixture`'s inbound, one after another on the same
/// source (each check leaves nothing unsettled behind).
pub async fn check_inbound(fixture: &mut impl InboundFixture) {
    acks_only_after_the_sinks_confirmed(fixture).await;
    a_failure_that_may_heal_keeps_the_message(fixture).await;
    what_cannot_be_delivered_is_dead_lettered(fixture).await;
}

async fn start(
    fixture: &impl InboundFixture,
    recorder: &Recorder,
    script: impl Fn(crate::Call, &switchyard_core::event::Event) -> Answer + Send + Sync + 'static,
    dead_letter: Option<&Recorder>,
) -> RunningInbound {
    let dead_letter = dead_letter.map(Recorder::sink);
    let pipeline = recorder.pipeline(script);
    RunningInbound::start("conformance", fixture.inbound(), pipeline, dead_letter).await
}

/// An unfinished delivery is not acked (drain leaves it with the broker, which redelivers it
/// to the next session); a confirmed one is acked (the next session does not see it again:
/// the broker delivers a redelivery before a message published later, so the sentinel's
/// arrival shows it is not coming).
async fn acks_only_after_the_sinks_confirmed(fixture: &mut impl InboundFixture) {
    let stuck = Recorder::new();
    let inbound = start(fixture, &stuck, |_, _| Answer::Hang, None).await;
    fixture.publish("unfinished").await;
    eventually("the delivery to start", || stuck.calls() == 1).await;
    inbound.stop().await;

    let first = Recorder::new();
    let inbound = start(fixture, &first, |_, _| Answer::Deliver, None).await;
    first.wait_for(1).await;
    assert_eq!(
        first.delivered()[0].cloud.id,
        "unfinished",
        "a message whose delivery did not finish must be redelivered, not acked"
    );
    inbound.stop().await;

    let second = Recorder::new();
    let inbound = start(fixture, &second, |_, _| Answer::Deliver, None).await;
    fixture.publish("sentinel").await;
    let delivered = second.wait_for(1).await;
    let ids: Vec<&str> = delivered.iter().map(|e| e.cloud.id.as_str()).collect();
    assert_eq!(
        ids,
        ["sentinel"],
        "a delivered message must be acked: it came back after a restart"
    );
    inbound.stop().await;
}

async fn a_failure_that_may_heal_keeps_the_message(fixture: &mut impl InboundFixture) {
    let flaky = Recorder::new();
    let script = |call: crate::Call, _: &_| {
        if call.attempt <= 2 {
            Answer::Fail(DeliveryError::Unavailable {
                sink: "conformance".into(),
                reason: "down for two attempts".into(),
                retry_after: Some(std::time::Duration::from_millis(1)),
            })
        } else {
            Answer::Deliver
        }
    };
    let inbound = start(fixture, &flaky, script, None).await;
    fixture.publish("flaky").await;
    flaky.wait_for(1).await;
    assert_eq!(
        flaky.attempts("flaky"),
        3,
        "a failure that may heal must be retried until delivered"
    );
    inbound.stop().await;
}

async fn what_cannot_be_delivered_is_dead_lettered(fixture: &mut impl InboundFixture) {
    let (refusing, dead) = (Recorder::new(), Recorder::new());
    let script = |_: crate::Call, _: &_| {
        Answer::Fail(DeliveryError::Rejected {
            sink: "conformance".into(),
            reason: "410 Gone".into(),
        })
    };
    let inbound = start(fixture, &refusing, script, Some(&dead)).await;
    fixture.publish("refused").await;
    fixture.publish_undecodable().await;
    let letters = dead.wait_for(2).await;
    assert!(
        letters.iter().any(|e| e.cloud.id == "refused"),
        "a refused event must reach the dead-letter sink as it was: {letters:?}"
    );
    for letter in &letters {
        let reason = letter.cloud.attribute(REASON_EXTENSION);
        assert!(
            reason.is_some_and(|r| !r.is_empty()),
            "every dead letter must carry its reason: {letter:?}"
        );
    }
    assert_eq!(
        refusing.calls(),
        1,
        "an undecodable message must not reach the pipeline, a refusal must not be retried"
    );
    inbound.stop().await;
}
