//! Wrapping a payload that is not a CloudEvent in a new one: a fresh id (UUIDv7), `source`
//! and `type` from the inbound's templates (placeholders `{inbound}`, `{subject}`, `{topic}`, in
//! the one template language of `switchyard_core::template`), the time of arrival, and the
//! `Content-Type` header as `datacontenttype`.

use switchyard_core::cloudevent::content::data_from_body;
use switchyard_core::cloudevent::{CloudEvent, DecodeError};
use switchyard_core::template::Template;

use super::NatsMessage;
use super::subject::topic_of;
use crate::config::WrapConfig;

/// What a wrap template's placeholder refers to.
#[derive(Debug, Clone, Copy)]
enum Part {
    Inbound,
    Subject,
    Topic,
}

/// The compiled wrap templates of one inbound.
#[derive(Debug, Clone)]
pub struct Wrapper {
    inbound: String,
    source: Template<Part>,
    ty: Template<Part>,
}

fn parse(text: &str) -> Result<Template<Part>, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    Template::parse(text, |name| match name {
        "inbound" => Ok(Part::Inbound),
        "subject" => Ok(Part::Subject),
        "topic" => Ok(Part::Topic),
        other => Err(format!(
            "unknown placeholder `{{{other}}}`; use {{inbound}}, {{subject}} or {{topic}}"
        )),
    })
}

impl Wrapper {
    /// Compiles `config`; errors are `(key, reason)`.
    pub fn new(inbound: &str, config: &WrapConfig) -> Result<Self, Vec<(&'static str, String)>> {
        let (source, ty) = (parse(&config.source), parse(&config.ty));
        match (source, ty) {
            (Ok(source), Ok(ty)) => Ok(Self {
                inbound: inbound.to_owned(),
                source,
                ty,
            }),
            (source, ty) => Err([("source", source.err()), ("type", ty.err())]
                .into_iter()
                .filter_map(|(key, e)| e.map(|e| (key, e)))
                .collect()),
        }
    }

    fn render(&self, template: &Template<Part>, subject: &str) -> String {
        let rendered = template.render(|part, out| {
            match part {
                Part::Inbound => out.push_str(&self.inbound),
                Part::Subject => out.push_str(subject),
                Part::Topic => out.push_str(&topic_of(subject)),
            }
            Some(())
        });
        rendered.unwrap_or_default()
    }

    /// The new event carrying `message`'s payload as its data.
    pub fn wrap(
        &self,
        message: NatsMessage<'_>,
        content_type: Option<&str>,
    ) -> Result<CloudEvent, DecodeError> {
        let mut event = CloudEvent::new(
            uuid::Uuid::now_v7().to_string(),
            self.render(&self.source, message.subject),
            self.render(&self.ty, message.subject),
        );
        event.time = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        event.datacontenttype = content_type.map(str::to_owned);
        event.data = data_from_body(content_type, message.payload.clone())?;
        event.validate()?;
        Ok(event)
    }
}
