//! Topic templates: `live/{topic}`, `devices/{subject}/{type}`.

use super::{Piece, Template};
use crate::cloudevent::validate_attribute_name;
use crate::event::Event;
use crate::topic::{TopicError, validate_topic_name};

/// A parsed topic template.
#[derive(Debug, Clone)]
pub struct TopicTemplate {
    template: Template<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    /// The event's topic: what it arrived on, or what a route rewrote it to (a route renders
    /// its own template before rewriting, so there it is still the arrival topic).
    Topic,
    Attribute(String),
}

impl TopicTemplate {
    /// Parses `text`; placeholders are `{topic}` or an attribute name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let template = Template::parse(text, |name| match name {
            "topic" => Ok(Part::Topic),
            _ => validate_attribute_name(name)
                .map(|()| Part::Attribute(name.to_owned()))
                .map_err(|e| format!("placeholder `{{{name}}}` in `{text}`: {e}")),
        })
        .map_err(|e| format!("template: {e}"))?;
        // Literal parts must not smuggle wildcards or `$` into every topic the template makes.
        let sample: String = template
            .pieces()
            .iter()
            .map(|p| match p {
                Piece::Literal(s) => s.as_str(),
                Piece::Placeholder(_) => "x",
            })
            .collect();
        validate_topic_name(&sample).map_err(|e| format!("template `{text}`: {}", e.reason))?;
        Ok(Self { template })
    }

    /// Renders the topic for `event`; refuses a result that is not a valid topic name (a
    /// placeholder value holding `+`, `#`, an empty level or a missing attribute).
    pub fn render(&self, event: &Event) -> Result<String, TopicError> {
        let out = self.render_unchecked(event);
        validate_topic_name(&out)?;
        Ok(out)
    }

    /// Renders without checking the result: for targets with their own naming rules (AMQP
    /// routing keys), which check it themselves. A missing attribute renders as nothing.
    pub fn render_unchecked(&self, event: &Event) -> String {
        let rendered = self.template.render(|part, out| {
            match part {
                Part::Topic => out.push_str(&event.topic),
                Part::Attribute(name) => {
                    if let Some(value) = event.cloud.attribute(name) {
                        out.push_str(&value);
                    }
                }
            }
            Some(())
        });
        rendered.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudevent::CloudEvent;

    #[test]
    fn topic_is_the_topic_a_route_rewrote_not_the_arrival_topic() {
        let mut event = Event::new(CloudEvent::new("1", "/s", "t"), "in", "sensors/a");
        let template = TopicTemplate::parse("out/{topic}/{type}").expect("valid");
        assert_eq!(template.render(&event).expect("renders"), "out/sensors/a/t");
        event.topic = "live/sensors/a".into();
        assert_eq!(
            template.render(&event).expect("renders"),
            "out/live/sensors/a/t"
        );
    }
}
