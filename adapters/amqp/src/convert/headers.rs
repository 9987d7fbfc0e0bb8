//! Binary mode on input: `cloudEvents_`/`cloudEvents:` headers with native AMQP values →
//! attributes.
//!
//! Senders may use native AMQP types or canonical strings (the AMQP binding says receivers
//! must accept both), so every type that has a sensible CloudEvents reading is accepted:
//! strings, booleans, integers, timestamps and byte arrays.

use base64::Engine;
use lapin::types::AMQPValue;

use switchyard_core::cloudevent::{DecodeError, ExtensionValue};

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
pub(crate) fn attribute_value(
    name: &str,
    value: &AMQPValue,
) -> Result<ExtensionValue, DecodeError> {
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
