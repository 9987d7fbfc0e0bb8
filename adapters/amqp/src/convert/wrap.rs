//! Wrapping a plain AMQP message (not a CloudEvent) in a new event, with `source` and `type`
//! from the inbound's templates.

use lapin::types::ShortString;
use switchyard_core::cloudevent::content::data_from_body;
use switchyard_core::cloudevent::{CloudEvent, DecodeError};
use switchyard_core::template::Template;

use super::Incoming;
use crate::config::WrapConfig;

/// What a wrap template can refer to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WrapContext<'a> {
    pub(crate) inbound: &'a str,
    pub(crate) queue: &'a str,
    pub(crate) exchange: &'a str,
    pub(crate) routing_key: &'a str,
}

/// A parsed template: `{inbound}`, `{queue}`, `{exchange}`, `{routing_key}` and literal text,
/// in the one template language (`switchyard_core::template`).
#[derive(Debug, Clone)]
pub(crate) struct WrapTemplate(Template<Part>);

#[derive(Debug, Clone, Copy)]
enum Part {
    Inbound,
    Queue,
    Exchange,
    RoutingKey,
}

impl WrapTemplate {
    /// Parses `text`; unknown placeholders and unbalanced braces are errors.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        let template = Template::parse(text, |name| match name {
            "inbound" => Ok(Part::Inbound),
            "queue" => Ok(Part::Queue),
            "exchange" => Ok(Part::Exchange),
            "routing_key" => Ok(Part::RoutingKey),
            other => Err(format!(
                "unknown placeholder `{{{other}}}`; use {{inbound}}, {{queue}}, {{exchange}} or {{routing_key}}"
            )),
        })?;
        Ok(Self(template))
    }

    fn render(&self, context: &WrapContext<'_>) -> String {
        let rendered = self.0.render(|part, out| {
            out.push_str(match part {
                Part::Inbound => context.inbound,
                Part::Queue => context.queue,
                Part::Exchange => context.exchange,
                Part::RoutingKey => context.routing_key,
            });
            Some(())
        });
        rendered.unwrap_or_default()
    }
}

/// The inbound's compiled wrap settings.
#[derive(Debug, Clone)]
pub(crate) struct Wrapper {
    source: WrapTemplate,
    ty: WrapTemplate,
}

impl Wrapper {
    /// Compiles the config; errors are reported by config validation first.
    pub(crate) fn new(config: &WrapConfig) -> Result<Self, String> {
        Ok(Self {
            source: WrapTemplate::parse(&config.source)?,
            ty: WrapTemplate::parse(&config.ty)?,
        })
    }

    /// A new event around `message`: its `message_id` as id when there is one (so a
    /// redelivered message keeps its identity and can be deduplicated by source and id),
    /// else a UUIDv7; the routing key as subject; the time of arrival; the content type
    /// as `datacontenttype`, and the body as data (validated when it claims to be JSON).
    pub(crate) fn wrap(
        &self,
        message: &Incoming<'_>,
        context: &WrapContext<'_>,
    ) -> Result<CloudEvent, DecodeError> {
        let id = message
            .properties
            .message_id()
            .as_ref()
            .map(ShortString::as_str)
            .filter(|id| !id.is_empty())
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
        let mut event = CloudEvent::new(id, self.source.render(context), self.ty.render(context));
        event.subject = (!context.routing_key.is_empty()).then(|| context.routing_key.to_owned());
        event.time = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        event.datacontenttype = message
            .properties
            .content_type()
            .as_ref()
            .map(ShortString::to_string);
        event.data = data_from_body(event.datacontenttype.as_deref(), message.body.clone())?;
        event.validate()?;
        Ok(event)
    }
}
