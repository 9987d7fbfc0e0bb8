//! Context attributes gathered one at a time from a binding's metadata (HTTP `ce-` headers,
//! MQTT user properties, AMQP headers), then made into an event. One type for every binding,
//! so duplicates, `specversion` and the required attributes are checked the same way
//! everywhere; what a binding allows (HTTP refuses a `ce-datacontenttype` header, MQTT skips
//! property names that cannot be attributes) it decides before calling [`AttributeSet::set`].

use std::collections::BTreeMap;

use super::model::{CloudEvent, Data, ExtensionValue};
use super::validate::{DecodeError, validate_attribute_name};

/// Attributes read so far.
#[derive(Debug, Default)]
pub struct AttributeSet {
    specversion: Option<String>,
    id: Option<String>,
    source: Option<String>,
    ty: Option<String>,
    datacontenttype: Option<String>,
    dataschema: Option<String>,
    subject: Option<String>,
    time: Option<String>,
    extensions: BTreeMap<String, ExtensionValue>,
}

impl AttributeSet {
    /// Records attribute `name`. Core attributes are kept in their canonical string form
    /// (a binding with native types may hand over an integer id, read leniently); any other
    /// name must be a valid extension name. The same attribute twice is an error.
    pub fn set(&mut self, name: &str, value: ExtensionValue) -> Result<(), DecodeError> {
        let slot = match name {
            "specversion" => &mut self.specversion,
            "id" => &mut self.id,
            "source" => &mut self.source,
            "type" => &mut self.ty,
            "datacontenttype" => &mut self.datacontenttype,
            "dataschema" => &mut self.dataschema,
            "subject" => &mut self.subject,
            "time" => &mut self.time,
            _ => {
                validate_attribute_name(name)?;
                return match self.extensions.insert(name.to_owned(), value) {
                    None => Ok(()),
                    Some(_) => Err(DecodeError::duplicate(name)),
                };
            }
        };
        if slot.is_some() {
            return Err(DecodeError::duplicate(name));
        }
        *slot = Some(match value {
            ExtensionValue::String(s) => s,
            other => other.to_canonical_string(),
        });
        Ok(())
    }

    /// A `datacontenttype` that came as an attribute rather than as the protocol's own
    /// content-type field (which, where present, wins).
    pub fn take_datacontenttype(&mut self) -> Option<String> {
        self.datacontenttype.take()
    }

    /// The event, once `specversion` is 1.0 and the required attributes are there. The caller
    /// validates the whole event afterwards.
    pub fn into_event(
        self,
        datacontenttype: Option<String>,
        data: Option<Data>,
    ) -> Result<CloudEvent, DecodeError> {
        DecodeError::check_specversion(self.specversion.as_deref())?;
        let required =
            |value: Option<String>, name: &str| value.ok_or_else(|| DecodeError::missing(name));
        Ok(CloudEvent {
            id: required(self.id, "id")?,
            source: required(self.source, "source")?,
            ty: required(self.ty, "type")?,
            datacontenttype: datacontenttype.or(self.datacontenttype),
            dataschema: self.dataschema,
            subject: self.subject,
            time: self.time,
            extensions: self.extensions,
            data,
        })
    }
}
