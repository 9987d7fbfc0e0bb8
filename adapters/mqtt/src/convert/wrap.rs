//! Wrapping a payload that is not a CloudEvent in a new event, with attributes rendered from
//! the inbound's `wrap` templates over the topic (see [`crate::config::WrapConfig`]).

use bytes::Bytes;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use switchyard_core::cloudevent::content::data_from_body;
use switchyard_core::cloudevent::{CloudEvent, Data, DecodeError};

use crate::config::WrapConfig;

/// Characters escaped in `source` values: those a URI-reference cannot hold, plus `%`, `?` and
/// `#`, which would change its meaning. `/` stays, so topic levels read as path segments.
const URI_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The compiled `wrap` settings of one inbound.
#[derive(Debug, Clone)]
pub struct Wrapper {
    pattern: Option<TopicPattern>,
    source: Template,
    ty: Template,
    subject: Option<Template>,
    broker: String,
    datacontenttype: Option<String>,
}

/// What a wrap template's placeholder refers to.
#[derive(Debug, Clone)]
enum Source {
    Topic,
    Broker,
    /// The value of the pattern's n-th named level.
    Level(usize),
}

/// A wrap template, in the one template language (`switchyard_core::template`).
#[derive(Debug, Clone)]
struct Template(switchyard_core::template::Template<Source>);

#[derive(Debug, Clone)]
enum PatternLevel {
    Literal(String),
    Named,
    Any,
    Rest,
}

/// `sensors/{device}/+/#`: names the levels of matching topics.
#[derive(Debug, Clone)]
struct TopicPattern {
    levels: Vec<PatternLevel>,
    names: Vec<String>,
}

impl Wrapper {
    /// Compiles `config` for a broker at `broker` (`host:port`). Errors are `(key, reason)`.
    pub fn compile(config: &WrapConfig, broker: &str) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let pattern = match config.topic_pattern.as_deref().map(TopicPattern::parse) {
            Some(Err(e)) => {
                errors.push(("topic_pattern", e));
                None
            }
            Some(Ok(pattern)) => Some(pattern),
            None => None,
        };
        let names = pattern.as_ref().map_or(&[][..], |p| &p.names[..]);
        let mut template = |key, text: &str| {
            Template::parse(text, names)
                .map_err(|e| errors.push((key, e)))
                .ok()
        };
        let source = template("source", &config.source);
        let ty = template("type", &config.ty);
        let subject = config.subject.as_deref().map(|s| template("subject", s));
        match (source, ty, subject) {
            (Some(source), Some(ty), subject) if errors.is_empty() => Ok(Self {
                pattern,
                source,
                ty,
                subject: subject.flatten(),
                broker: broker.to_owned(),
                datacontenttype: config.datacontenttype.clone(),
            }),
            _ => Err(errors),
        }
    }

    /// Wraps `payload`, received on `topic` with `content_type` (if the message had one).
    pub fn wrap(
        &self,
        topic: &str,
        content_type: Option<&str>,
        payload: &Bytes,
    ) -> Result<CloudEvent, DecodeError> {
        let levels = self.pattern.as_ref().and_then(|p| p.captures(topic));
        let render = |template: &Template, escape: bool, name: &str| {
            template
                .render(topic, &self.broker, levels.as_deref(), escape)
                .ok_or_else(|| {
                    let reason =
                        "topic does not match wrap.topic_pattern, which the template needs";
                    DecodeError::attribute(name, reason)
                })
        };
        let mut event = CloudEvent::new(
            uuid::Uuid::now_v7().to_string(),
            render(&self.source, true, "source")?,
            render(&self.ty, false, "type")?,
        );
        event.subject = self
            .subject
            .as_ref()
            .and_then(|s| render(s, false, "subject").ok());
        event.time = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        let content_type = content_type.or(self.datacontenttype.as_deref());
        (event.datacontenttype, event.data) = wrap_data(content_type, payload)?;
        event.validate()?;
        Ok(event)
    }
}

/// The data of a wrapped payload. Without a content type, valid JSON becomes JSON data (MQTT
/// payloads are mostly JSON, and JSON data reads far better downstream than base64), anything
/// else opaque bytes with no `datacontenttype`, which the spec forbids inventing.
fn wrap_data(
    content_type: Option<&str>,
    payload: &Bytes,
) -> Result<(Option<String>, Option<Data>), DecodeError> {
    if let Some(content_type) = content_type {
        let data = data_from_body(Some(content_type), payload.clone())?;
        return Ok((Some(content_type.to_owned()), data));
    }
    if payload.is_empty() {
        return Ok((None, None));
    }
    match data_from_body(Some("application/json"), payload.clone()) {
        Ok(data) => Ok((Some("application/json".to_owned()), data)),
        Err(_) => Ok((None, Some(Data::Binary(payload.clone())))),
    }
}

impl Template {
    /// Parses `text`: literals and `{topic}`, `{broker}` or one of the pattern's `names`.
    fn parse(text: &str, names: &[String]) -> Result<Self, String> {
        let template = switchyard_core::template::Template::parse(text, |name| {
            match name {
            "topic" => Ok(Source::Topic),
            "broker" => Ok(Source::Broker),
            _ => names.iter().position(|n| n == name).map(Source::Level).ok_or_else(|| {
                format!("`{{{name}}}` is neither `{{topic}}`, `{{broker}}` nor a level named in topic_pattern")
            }),
        }
        })?;
        if template.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Self(template))
    }

    /// The rendered text, or `None` when it needs a topic level the topic did not provide.
    fn render(
        &self,
        topic: &str,
        broker: &str,
        levels: Option<&[&str]>,
        escape: bool,
    ) -> Option<String> {
        self.0.render(|source, out| {
            let value = match source {
                Source::Topic => topic,
                Source::Broker => broker,
                Source::Level(i) => levels?.get(*i)?,
            };
            match escape {
                true => out.extend(utf8_percent_encode(value, URI_ESCAPES)),
                false => out.push_str(value),
            }
            Some(())
        })
    }
}

impl TopicPattern {
    fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let mut levels = Vec::with_capacity(parts.len());
        let mut names: Vec<String> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let level = match *part {
                "+" => PatternLevel::Any,
                "#" if i + 1 == parts.len() => PatternLevel::Rest,
                "#" => return Err(format!("`{text}`: `#` must be the last level")),
                named if named.starts_with('{') && named.ends_with('}') => {
                    let name = &named[1..named.len() - 1];
                    check_level_name(name, &names).map_err(|e| format!("`{text}`: {e}"))?;
                    names.push(name.to_owned());
                    PatternLevel::Named
                }
                literal if literal.contains(['{', '}', '+', '#']) || literal.is_empty() => {
                    return Err(format!(
                        "`{text}`: each level is a literal, `{{name}}`, `+` or a final `#`"
                    ));
                }
                literal => PatternLevel::Literal(literal.to_owned()),
            };
            levels.push(level);
        }
        Ok(Self { levels, names })
    }

    /// The values of the named levels, in order, or `None` when `topic` does not match.
    fn captures<'t>(&self, topic: &'t str) -> Option<Vec<&'t str>> {
        let mut parts = topic.split('/');
        let mut values = Vec::with_capacity(self.names.len());
        for level in &self.levels {
            match level {
                PatternLevel::Rest => return Some(values),
                PatternLevel::Any => {
                    parts.next()?;
                }
                PatternLevel::Named => values.push(parts.next()?),
                PatternLevel::Literal(want) => {
                    if parts.next()? != want {
                        return None;
                    }
                }
            }
        }
        parts.next().is_none().then_some(values)
    }
}

fn check_level_name(name: &str, taken: &[String]) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "level name `{name}` must be letters, digits and `_`"
        ));
    }
    if name == "topic" || name == "broker" || taken.iter().any(|t| t == name) {
        return Err(format!("level name `{name}` is already taken"));
    }
    Ok(())
}
