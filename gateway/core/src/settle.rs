//! How a source settles one message once the pipeline answered: ack it, retry it later (nack
//! with requeue, or simply do not ack yet), or hand it to the dead-letter sink. Every broker
//! inbound uses this one mapping, so "what heals" means the same for MQTT and AMQP.

mod driver;

use std::time::Duration;

use bytes::Bytes;

use crate::cloudevent::{CloudEvent, Data, ExtensionValue};
use crate::error::{BoxError, DeliveryError};
use crate::event::Event;
use crate::pipeline::Delivered;
pub use driver::{Acker, Outcome, Received, RetryMode, SettlementDriver};

/// Extension carrying why an event was dead-lettered.
pub const REASON_EXTENSION: &str = "deadletterreason";
/// Type of the event made for a message that could not be decoded at all.
pub const UNDECODABLE_TYPE: &str = "dev.switchyard.deadletter.undecodable";

/// What the source does with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Every required sink confirmed.
    Ack,
    /// A failure that may heal (a sink down, a timeout, overload): do not ack; redeliver after
    /// at least `after`.
    Retry { after: Duration, reason: String },
    /// A failure that will not heal (no route, a sink refused it for good): dead-letter it, or
    /// reject it if no dead-letter sink is configured.
    DeadLetter { reason: String },
}

/// Maps the pipeline's answer to a settlement.
pub fn settle(result: &Result<Delivered, BoxError>) -> Settlement {
    let err = match result {
        Ok(_) => return Settlement::Ack,
        Err(err) => err,
    };
    let reason = err.to_string();
    match DeliveryError::find(err.as_ref()) {
        Some(
            DeliveryError::NoRoute { .. }
            | DeliveryError::Rejected { .. }
            | DeliveryError::InvalidTopic { .. }
            | DeliveryError::TooLarge { .. }
            | DeliveryError::Forbidden(_)
            | DeliveryError::NoReplier { .. }
            | DeliveryError::BadReply { .. },
        ) => Settlement::DeadLetter { reason },
        Some(DeliveryError::Unavailable { retry_after, .. }) => Settlement::Retry {
            after: retry_after.unwrap_or(Duration::from_secs(1)),
            reason,
        },
        Some(
            DeliveryError::Overloaded | DeliveryError::Hub(_) | DeliveryError::RateLimited { .. },
        ) => Settlement::Retry {
            after: Duration::from_millis(200),
            reason,
        },
        Some(DeliveryError::Timeout { .. } | DeliveryError::ShuttingDown) | None => {
            Settlement::Retry {
                after: Duration::from_secs(1),
                reason,
            }
        }
    }
}

/// The copy of `event` sent to a dead-letter sink: unchanged but for the reason extension.
pub fn dead_letter_copy(event: &Event, reason: &str) -> Event {
    let mut copy = event.clone();
    // A dead letter answers no one.
    copy.reply = None;
    copy.cloud.extensions.insert(
        REASON_EXTENSION.into(),
        ExtensionValue::String(printable(reason)),
    );
    copy
}

/// An event for a message that is not a valid CloudEvent (bad UTF-8, malformed JSON, invalid
/// attributes): the raw payload as binary data, the reason in an extension, so nothing is lost.
pub fn undecodable(inbound: &str, topic: &str, payload: Bytes, reason: &str) -> Event {
    let mut cloud = CloudEvent::new(
        uuid::Uuid::now_v7().to_string(),
        format!("/switchyard/inbounds/{inbound}"),
        UNDECODABLE_TYPE,
    );
    cloud.subject = (!topic.is_empty()).then(|| printable(topic));
    cloud.time = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    cloud.data = Some(Data::Binary(payload));
    cloud.extensions.insert(
        REASON_EXTENSION.into(),
        ExtensionValue::String(printable(reason)),
    );
    Event::new(cloud, inbound, topic)
}

/// CloudEvents strings may not hold control characters; reasons and topics come from outside.
fn printable(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.is_empty() {
        "-".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(e: DeliveryError) -> Result<Delivered, BoxError> {
        Err(Box::new(e))
    }

    #[test]
    fn permanent_failures_dead_letter_and_transient_ones_retry() {
        assert_eq!(settle(&Ok(Delivered::default())), Settlement::Ack);
        let no_route = err(DeliveryError::NoRoute {
            inbound: "i".into(),
            topic: "t".into(),
        });
        assert!(matches!(settle(&no_route), Settlement::DeadLetter { .. }));
        let rejected = err(DeliveryError::Rejected {
            sink: "s".into(),
            reason: "400".into(),
        });
        assert!(matches!(settle(&rejected), Settlement::DeadLetter { .. }));
        let down = err(DeliveryError::Unavailable {
            sink: "s".into(),
            reason: "down".into(),
            retry_after: Some(Duration::from_secs(3)),
        });
        assert!(
            matches!(settle(&down), Settlement::Retry { after, .. } if after == Duration::from_secs(3))
        );
        assert!(matches!(
            settle(&err(DeliveryError::Overloaded)),
            Settlement::Retry { .. }
        ));
    }

    #[test]
    fn undecodable_payload_is_kept_whole() {
        let event = undecodable(
            "devices",
            "a/b",
            Bytes::from_static(&[0xff, 0xfe]),
            "not UTF-8\n",
        );
        assert_eq!(
            event.cloud.data,
            Some(Data::Binary(Bytes::from_static(&[0xff, 0xfe])))
        );
        assert_eq!(
            event.cloud.extensions[REASON_EXTENSION],
            ExtensionValue::String("not UTF-8 ".into())
        );
        event.cloud.validate().expect("a valid event");
    }
}
