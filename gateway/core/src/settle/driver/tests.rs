use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tower::util::BoxCloneSyncService;

use super::*;
use crate::cloudevent::CloudEvent;
use crate::error::{BoxError, DeliveryError};
use crate::pipeline::Delivered;
use crate::settle::undecodable;

/// A pipeline that answers from a script (then confirms) and records what it was given.
#[derive(Clone, Default)]
struct Scripted {
    answers: Arc<Mutex<VecDeque<DeliveryError>>>,
    seen: Arc<Mutex<Vec<Event>>>,
}

impl Scripted {
    fn failing(errors: impl IntoIterator<Item = DeliveryError>) -> Self {
        let scripted = Self::default();
        scripted.lock_answers().extend(errors);
        scripted
    }

    fn lock_answers(&self) -> std::sync::MutexGuard<'_, VecDeque<DeliveryError>> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn seen(&self) -> Vec<Event> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn pipeline(&self) -> Pipeline {
        let this = self.clone();
        BoxCloneSyncService::new(tower::service_fn(move |event: Event| {
            let this = this.clone();
            async move {
                this.seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(event);
                match this.lock_answers().pop_front() {
                    Some(err) => Err(Box::new(err) as BoxError),
                    None => Ok(Delivered { sinks: 1 }),
                }
            }
        }))
    }
}

/// Records which settlement the driver chose.
struct Recording;

impl Acker for Recording {
    type Settled = &'static str;
    async fn ack(self) -> &'static str {
        "ack"
    }
    async fn retry(self) -> &'static str {
        "retry"
    }
    async fn reject(self, _: &str) -> &'static str {
        "reject"
    }
    fn abandon(self) -> &'static str {
        "abandon"
    }
}

const IN_PLACE: RetryMode = RetryMode::InPlace(RetryPolicy::new(None, 1, 5));
const HAND_BACK: RetryMode = RetryMode::HandBack {
    min: Duration::from_millis(1),
    max: Duration::from_millis(5),
};

fn event() -> Received {
    Received::Event(Event::new(CloudEvent::new("e-1", "/s", "t"), "in", "a/b"))
}

fn unavailable() -> DeliveryError {
    DeliveryError::Unavailable {
        sink: "s".into(),
        reason: "down".into(),
        retry_after: Some(Duration::from_millis(1)),
    }
}

fn rejected() -> DeliveryError {
    DeliveryError::Rejected {
        sink: "s".into(),
        reason: "no".into(),
    }
}

fn driver(pipeline: &Scripted, dead: Option<&Scripted>, retry: RetryMode) -> SettlementDriver {
    SettlementDriver::new(
        "in".into(),
        pipeline.pipeline(),
        dead.map(Scripted::pipeline),
        retry,
    )
}

async fn settle(driver: &SettlementDriver, received: Received) -> &'static str {
    driver
        .settle(received, Recording, &CancellationToken::new())
        .await
}

#[tokio::test]
async fn in_place_retries_until_the_sinks_confirm_then_acks() {
    let pipeline = Scripted::failing([unavailable(), unavailable()]);
    let driver = driver(&pipeline, None, IN_PLACE);
    assert_eq!(settle(&driver, event()).await, "ack");
    assert_eq!(pipeline.seen().len(), 3);
}

#[tokio::test]
async fn hand_back_returns_a_failure_that_may_heal_to_the_broker() {
    let pipeline = Scripted::failing([unavailable()]);
    let driver = driver(&pipeline, None, HAND_BACK);
    assert_eq!(settle(&driver, event()).await, "retry");
    assert_eq!(pipeline.seen().len(), 1, "tried once, then handed back");
}

#[tokio::test]
async fn a_refusal_goes_to_the_dead_letter_pipeline_with_its_reason() {
    for retry in [IN_PLACE, HAND_BACK] {
        let (pipeline, dead) = (Scripted::failing([rejected()]), Scripted::default());
        let driver = driver(&pipeline, Some(&dead), retry);
        assert_eq!(settle(&driver, event()).await, "ack");
        let letters = dead.seen();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].cloud.id, "e-1");
        assert!(reason_of(&letters[0]).contains("no"), "{letters:?}");
    }
}

#[tokio::test]
async fn without_a_dead_letter_sink_a_refusal_is_rejected() {
    for retry in [IN_PLACE, HAND_BACK] {
        let driver = driver(&Scripted::failing([rejected()]), None, retry);
        assert_eq!(settle(&driver, event()).await, "reject");
    }
}

#[tokio::test]
async fn a_dead_letter_sink_that_refuses_too_is_a_rejection() {
    let dead = Scripted::failing([rejected()]);
    let driver = driver(&Scripted::failing([rejected()]), Some(&dead), IN_PLACE);
    assert_eq!(settle(&driver, event()).await, "reject");
}

#[tokio::test]
async fn undecodable_messages_skip_the_pipeline_and_reach_the_dead_letters() {
    let (pipeline, dead) = (Scripted::default(), Scripted::default());
    let driver = driver(&pipeline, Some(&dead), HAND_BACK);
    let bad = undecodable("in", "a/b", bytes::Bytes::from_static(b"\xff"), "bad");
    assert_eq!(settle(&driver, Received::Undecodable(bad)).await, "ack");
    assert!(pipeline.seen().is_empty());
    assert_eq!(dead.seen().len(), 1);
}

#[tokio::test]
async fn a_failing_dead_letter_sink_hands_the_whole_message_back() {
    let dead = Scripted::failing([unavailable()]);
    let driver = driver(&Scripted::failing([rejected()]), Some(&dead), HAND_BACK);
    assert_eq!(settle(&driver, event()).await, "retry");
}

#[tokio::test]
async fn stop_abandons_a_message_waiting_to_be_retried() {
    let pipeline = Scripted::failing(std::iter::repeat_with(unavailable).take(1000));
    let driver = driver(&pipeline, None, IN_PLACE);
    let stop = CancellationToken::new();
    let settled = driver.settle(event(), Recording, &stop);
    let stopper = async {
        // Stops once an attempt has been made and failed.
        while pipeline.seen().is_empty() {
            tokio::task::yield_now().await;
        }
        stop.cancel();
    };
    let (settled, ()) = tokio::join!(settled, stopper);
    assert_eq!(settled, "abandon");
}
