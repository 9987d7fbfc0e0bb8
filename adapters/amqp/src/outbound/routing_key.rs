//! The outbound's routing key: a topic template rendered per event, with `/` turned into
//! AMQP's `.` word separator.

use lapin::types::ShortString;

use switchyard_core::event::Event;
use switchyard_core::template::TopicTemplate;

use crate::error::{EncodeError, short_string};

/// AMQP binding-key wildcards. A routing key may contain them, but one rendered from event
/// data almost certainly did not mean to, and the same key used to bind would match far more
/// than intended.
const WILDCARDS: [char; 2] = ['*', '#'];

/// A parsed routing key template; an empty one publishes with the empty key (fanout, or the
/// default exchange's nameless queue, which does not exist).
#[derive(Debug, Clone)]
pub(crate) struct RoutingKeyTemplate {
    template: Option<TopicTemplate>,
}

impl RoutingKeyTemplate {
    /// Parses `text`: `{topic}`, attribute placeholders and literal text without wildcards.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self { template: None });
        }
        // Placeholder names are [a-z0-9], so any wildcard is in the literal text.
        if let Some(wildcard) = text.chars().find(|c| WILDCARDS.contains(c)) {
            return Err(format!("`{text}` contains the AMQP wildcard `{wildcard}`"));
        }
        let template = TopicTemplate::parse(text)?;
        Ok(Self {
            template: Some(template),
        })
    }

    /// The routing key for `event`; refused when longer than 255 bytes or holding a wildcard
    /// that came from a placeholder value.
    pub(crate) fn render(&self, event: &Event) -> Result<ShortString, EncodeError> {
        let Some(template) = &self.template else {
            return Ok(ShortString::default());
        };
        let key = template.render_unchecked(event).replace('/', ".");
        if let Some(wildcard) = key.chars().find(|c| WILDCARDS.contains(c)) {
            return Err(EncodeError::RoutingKeyWildcard { key, wildcard });
        }
        Ok(short_string("routing key", &key)?)
    }
}

#[cfg(test)]
mod tests {
    use switchyard_core::cloudevent::CloudEvent;

    use super::*;

    fn event(topic: &str, subject: &str) -> Event {
        let mut cloud = CloudEvent::new("1", "/s", "t");
        cloud.subject = Some(subject.into());
        Event::new(cloud, "in", topic)
    }

    #[test]
    fn slashes_become_dots() {
        let key = RoutingKeyTemplate::parse("{topic}").expect("valid");
        let rendered = key
            .render(&event("orders/eu/created", "x"))
            .expect("renders");
        assert_eq!(rendered.as_str(), "orders.eu.created");
        let key = RoutingKeyTemplate::parse("audit.{subject}").expect("valid");
        assert_eq!(
            key.render(&event("t", "a/b")).expect("renders").as_str(),
            "audit.a.b"
        );
        let empty = RoutingKeyTemplate::parse("").expect("valid");
        assert_eq!(
            empty.render(&event("t", "x")).expect("renders").as_str(),
            ""
        );
    }

    #[test]
    fn wildcards_and_long_keys_are_refused() {
        assert!(RoutingKeyTemplate::parse("a.*").is_err());
        assert!(RoutingKeyTemplate::parse("a.#").is_err());
        let key = RoutingKeyTemplate::parse("{subject}").expect("valid");
        assert!(matches!(
            key.render(&event("t", "a.*")),
            Err(EncodeError::RoutingKeyWildcard { wildcard: '*', .. })
        ));
        assert!(matches!(
            key.render(&event("t", &"k".repeat(256))),
            Err(EncodeError::TooLong(_))
        ));
        assert!(key.render(&event("t", &"k".repeat(255))).is_ok());
    }
}
