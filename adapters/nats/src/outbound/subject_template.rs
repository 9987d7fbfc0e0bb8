//! The outbound's `subject` template, in the one template language: literal subject text,
//! `{topic}` (the event's topic, each `/` level a `.` token) and attribute placeholders. What
//! it renders must be a publishable subject, or the event is refused naming why.

use switchyard_core::cloudevent::validate_attribute_name;
use switchyard_core::event::Event;
use switchyard_core::template::{Piece, Template};

use crate::config::validate::check_subject;
use crate::convert::subject::subject_of;
use crate::error::EncodeError;

#[derive(Debug, Clone)]
enum Part {
    Topic,
    Attribute(String),
}

/// A parsed `subject` template.
#[derive(Debug, Clone)]
pub struct SubjectTemplate(Template<Part>);

impl SubjectTemplate {
    /// Parses `text`; its literal parts must be valid subject text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let template = Template::parse(text, |name| match name {
            "topic" => Ok(Part::Topic),
            _ => validate_attribute_name(name)
                .map(|()| Part::Attribute(name.to_owned()))
                .map_err(|e| format!("placeholder `{{{name}}}` in `{text}`: {e}")),
        })?;
        let sample: String = template
            .pieces()
            .iter()
            .map(|piece| match piece {
                Piece::Literal(text) => text.as_str(),
                Piece::Placeholder(_) => "x",
            })
            .collect();
        check_subject(&sample, false)?;
        Ok(Self(template))
    }

    /// The subject for `event`.
    pub fn render(&self, event: &Event) -> Result<String, EncodeError> {
        let mut failure = None;
        let rendered = self.0.render(|part, out| {
            match part {
                Part::Topic => match subject_of(&event.topic, false) {
                    Ok(subject) => out.push_str(&subject),
                    Err(e) => {
                        failure = Some(e.to_string());
                        return None;
                    }
                },
                Part::Attribute(name) => out.push_str(&event.cloud.attribute(name)?),
            }
            Some(())
        });
        let subject = match (rendered, failure) {
            (Some(subject), None) => subject,
            (_, Some(reason)) => return Err(EncodeError::Subject(reason)),
            (None, None) => {
                return Err(EncodeError::Subject(
                    "an attribute it names is missing".into(),
                ));
            }
        };
        check_subject(&subject, false).map_err(EncodeError::Subject)?;
        Ok(subject)
    }
}
