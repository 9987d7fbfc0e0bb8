//! Binary mode on input: `cloudEvents_`/`cloudEvents:` headers with native AMQP values →
//! attributes.
//!
//! Senders may use native AMQP types or canonical strings (the AMQP binding says receivers
//! must accept both), so every type that has a sensible CloudEvents reading is accepted:
//! strings, booleans, integers, timestamps and byte arrays.

use std::collections::BTreeMap;

use base64::Engine;
use lapin::types::AMQPValue;

use switchyard_core::cloudevent::{
    CloudEvent, Data, DecodeError, ExtensionValue, SPEC_VERSION, validate_attribute_name,
};

/// Both separators the binding allows; matched ignoring ASCII case, because header names
/// are written by hand in many clients.
const PREFIXES: [&str; 2] = ["cloudEvents_", "cloudEvents:"];

/// The attribute a header carries, if its name has a CloudEvents prefix.
pub(crate) fn attribute_name(header: &str) -> Option<&str> {
    PREFIXES.iter().find_map(|prefix| {
        let head = header.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix)
            .then(|| &header[prefix.len()..])
    })
}

/// Reads one header value as an attribute value in the CloudEvents type system.
fn attribute_value(name: &str, value: &AMQPValue) -> Result<ExtensionValue, DecodeError> {
    let integer = |i: i64| match i32::try_from(i) {
        Ok(i) => ExtensionValue::Integer(i),
        // CloudEvents integers are 32-bit; a wider value is kept whole as its decimal string.
        Err(_) => ExtensionValue::String(i.to_string()),
    };
    Ok(match value {
        AMQPValue::Boolean(b) => ExtensionValue::Boolean(*b),
        AMQPValue::ShortShortInt(i) => integer(i64::from(*i)),
        AMQPValue::ShortShortUInt(i) => integer(i64::from(*i)),
        AMQPValue::ShortInt(i) => integer(i64::from(*i)),
        AMQPValue::ShortUInt(i) => integer(i64::from(*i)),
        AMQPValue::LongInt(i) => integer(i64::from(*i)),
        AMQPValue::LongUInt(i) => integer(i64::from(*i)),
        AMQPValue::LongLongInt(i) => integer(*i),
        AMQPValue::ShortString(s) => ExtensionValue::String(s.to_string()),
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => ExtensionValue::String(text.to_owned()),
            Err(_) => return Err(DecodeError::attribute(name, "header value is not UTF-8")),
        },
        AMQPValue::Timestamp(seconds) => ExtensionValue::String(rfc3339(name, *seconds)?),
        // The CloudEvents Binary type's canonical string form is Base64.
        AMQPValue::ByteArray(bytes) => ExtensionValue::String(
            base64::engine::general_purpose::STANDARD.encode(bytes.as_slice()),
        ),
        other => {
            let reason = format!(
                "AMQP type {} cannot carry a CloudEvents attribute",
                other.get_type()
            );
            return Err(DecodeError::attribute(name, reason));
        }
    })
}

/// An AMQP timestamp (whole seconds) in RFC 3339.
fn rfc3339(name: &str, seconds: u64) -> Result<String, DecodeError> {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .ok_or_else(|| DecodeError::attribute(name, "timestamp out of range"))
}

/// Attributes gathered from the headers of one message.
#[derive(Debug, Default)]
pub(crate) struct Attributes {
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

impl Attributes {
    /// Records attribute `name`; the same attribute under both prefixes is a duplicate.
    pub(crate) fn set(&mut self, name: &str, value: &AMQPValue) -> Result<(), DecodeError> {
        let value = attribute_value(name, value)?;
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
                if self.extensions.insert(name.to_owned(), value).is_some() {
                    return Err(DecodeError::duplicate(name));
                }
                return Ok(());
            }
        };
        if slot.is_some() {
            return Err(DecodeError::duplicate(name));
        }
        // Core attributes are strings (or timestamps, already turned into strings); a native
        // integer id is read leniently as its canonical string.
        *slot = Some(value.to_canonical_string());
        Ok(())
    }

    /// `datacontenttype` sent as a header, used when the `content_type` property is absent.
    pub(crate) fn take_datacontenttype(&mut self) -> Option<String> {
        self.datacontenttype.take()
    }

    pub(crate) fn into_event(
        self,
        datacontenttype: Option<String>,
        data: Option<Data>,
    ) -> Result<CloudEvent, DecodeError> {
        match self.specversion.as_deref() {
            Some(SPEC_VERSION) => {}
            Some(other) => {
                let reason = format!("must be \"{SPEC_VERSION}\", not {other:?}");
                return Err(DecodeError::attribute("specversion", reason));
            }
            None => return Err(DecodeError::missing("specversion")),
        }
        let required =
            |value: Option<String>, name: &str| value.ok_or_else(|| DecodeError::missing(name));
        Ok(CloudEvent {
            id: required(self.id, "id")?,
            source: required(self.source, "source")?,
            ty: required(self.ty, "type")?,
            datacontenttype,
            dataschema: self.dataschema,
            subject: self.subject,
            time: self.time,
            extensions: self.extensions,
            data,
        })
    }
}
