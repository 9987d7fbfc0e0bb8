//! The rules a [`CloudEvent`] must satisfy whatever format or binding it arrived in, and the
//! error every decoder reports when an event breaks them.
//!
//! Decoders check what only they can see (missing attributes, wrong JSON types, duplicates) and
//! then hand the event they built to [`validate_event`], so every entry point enforces the same
//! rules and an invalid event never gets past the edge.

use std::fmt;

use super::model::{CloudEvent, ExtensionValue};

/// Attribute names the spec reserves: an extension may not reuse them, or encoding the event
/// would produce a duplicate member or header.
const RESERVED_NAMES: [&str; 10] = [
    "id",
    "source",
    "specversion",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    "data",
    "data_base64",
];

/// The spec says names SHOULD be at most 20 characters; we make that a hard limit so that
/// attribute names stay usable as header and property names in every binding.
const MAX_NAME_LEN: usize = 20;

/// Why an incoming message is not a valid CloudEvent.
///
/// `attribute` names the offending context attribute when there is one, so that protocol
/// adapters can report it to the sender in their own way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// The attribute that is missing or invalid, if the problem is about one attribute.
    pub attribute: Option<String>,
    /// What is wrong, in words meant for the sender of the message.
    pub reason: String,
}

impl DecodeError {
    /// An error about the message as a whole.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            attribute: None,
            reason: reason.into(),
        }
    }

    /// An error about one attribute.
    pub fn attribute(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            attribute: Some(name.into()),
            reason: reason.into(),
        }
    }

    /// The required attribute `name` is absent (or `null`).
    pub fn missing(name: &str) -> Self {
        Self::attribute(name, "missing")
    }

    /// Checks a received `specversion`: present, and the one version we speak.
    pub(crate) fn check_specversion(specversion: Option<&str>) -> Result<(), Self> {
        match specversion {
            Some(crate::model::SPEC_VERSION) => Ok(()),
            Some(other) => Err(Self::attribute(
                "specversion",
                format!("must be \"{}\", not {other:?}", crate::model::SPEC_VERSION),
            )),
            None => Err(Self::missing("specversion")),
        }
    }

    /// The attribute `name` appears more than once.
    pub fn duplicate(name: &str) -> Self {
        Self::attribute(name, "appears more than once")
    }

    /// Places this error inside event `index` of a batch. The whole message becomes the reason
    /// so that it reads "event 3: attribute `id`: missing"; `attribute` is cleared because it
    /// no longer describes a top-level attribute of the message.
    pub fn in_event(self, index: usize) -> Self {
        Self::new(format!("event {index}: {self}"))
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.attribute {
            Some(name) => write!(f, "attribute `{name}`: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// Checks an attribute or extension name: 1 to 20 characters from `[a-z0-9]`, and not `data`
/// (which names the payload in the JSON format).
pub fn validate_attribute_name(name: &str) -> Result<(), DecodeError> {
    let err = |reason: &str| DecodeError::attribute(name, reason);
    if name.is_empty() {
        return Err(err("name must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(err("name must be at most 20 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(err("name must contain only a-z and 0-9"));
    }
    if name == "data" {
        return Err(err("name is reserved for the event payload"));
    }
    Ok(())
}

impl CloudEvent {
    /// Checks the event against the spec's rules, as every decoder does. Code that builds
    /// events itself (or a binding outside this module) calls this before letting one through.
    pub fn validate(&self) -> Result<(), DecodeError> {
        validate_event(self)
    }
}

/// Checks every rule of the CloudEvents type system and attribute definitions that the model's
/// types cannot express. Every decoder calls this before returning an event.
pub fn validate_event(event: &CloudEvent) -> Result<(), DecodeError> {
    check_string("id", &event.id)?;
    check_non_empty("id", &event.id)?;
    check_uri_reference("source", &event.source)?;
    check_string("type", &event.ty)?;
    check_non_empty("type", &event.ty)?;
    if let Some(value) = &event.datacontenttype {
        check_string("datacontenttype", value)?;
        check_non_empty("datacontenttype", value)?;
    }
    if let Some(value) = &event.dataschema {
        check_absolute_uri("dataschema", value)?;
    }
    if let Some(value) = &event.subject {
        check_string("subject", value)?;
        check_non_empty("subject", value)?;
    }
    if let Some(value) = &event.time {
        check_timestamp("time", value)?;
    }
    for (name, value) in &event.extensions {
        check_extension(name, value)?;
    }
    Ok(())
}

fn check_extension(name: &str, value: &ExtensionValue) -> Result<(), DecodeError> {
    validate_attribute_name(name)?;
    if RESERVED_NAMES.contains(&name) {
        return Err(DecodeError::attribute(
            name,
            "is a core attribute and cannot be an extension",
        ));
    }
    match value {
        ExtensionValue::String(s) => check_string(name, s),
        ExtensionValue::Uri(s) => check_absolute_uri(name, s),
        ExtensionValue::UriRef(s) => check_uri_reference(name, s),
        ExtensionValue::Timestamp(s) => check_timestamp(name, s),
        ExtensionValue::Integer(_) | ExtensionValue::Boolean(_) | ExtensionValue::Binary(_) => {
            Ok(())
        }
    }
}

fn check_non_empty(name: &str, value: &str) -> Result<(), DecodeError> {
    if value.is_empty() {
        return Err(DecodeError::attribute(name, "must not be empty"));
    }
    Ok(())
}

/// The CloudEvents String type excludes control characters and Unicode noncharacters (lone
/// surrogates cannot occur in a Rust `str`).
fn check_string(name: &str, value: &str) -> Result<(), DecodeError> {
    if let Some(c) = value.chars().find(|&c| is_forbidden_char(c)) {
        return Err(DecodeError::attribute(
            name,
            format!("must not contain the character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(())
}

fn is_forbidden_char(c: char) -> bool {
    let code = u32::from(c);
    c.is_control() || (0xFDD0..=0xFDEF).contains(&code) || (code & 0xFFFE) == 0xFFFE
}

/// A URI-reference may be relative (`/sensors/x`, `#frag`); we only check what a parser would
/// never accept, because a full RFC 3986 grammar check buys nothing for routing.
fn check_uri_reference(name: &str, value: &str) -> Result<(), DecodeError> {
    check_string(name, value)?;
    check_non_empty(name, value)?;
    if value.chars().any(char::is_whitespace) {
        return Err(DecodeError::attribute(name, "must not contain whitespace"));
    }
    Ok(())
}

fn check_absolute_uri(name: &str, value: &str) -> Result<(), DecodeError> {
    check_uri_reference(name, value)?;
    if !has_scheme(value) {
        return Err(DecodeError::attribute(
            name,
            "must be an absolute URI (with a scheme)",
        ));
    }
    Ok(())
}

/// RFC 3986: `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`, followed by `:`.
fn has_scheme(value: &str) -> bool {
    let Some((scheme, _)) = value.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn check_timestamp(name: &str, value: &str) -> Result<(), DecodeError> {
    check_string(name, value)?;
    if chrono::DateTime::parse_from_rfc3339(value).is_err() {
        return Err(DecodeError::attribute(
            name,
            "must be an RFC 3339 timestamp",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> CloudEvent {
        CloudEvent::new("1", "/sensors/1", "com.example.reading")
    }

    fn reason_for(event: &CloudEvent) -> String {
        match validate_event(event) {
            Ok(()) => String::from("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn display_names_the_attribute() {
        assert_eq!(
            DecodeError::attribute("id", "must not be empty").to_string(),
            "attribute `id`: must not be empty"
        );
        assert_eq!(DecodeError::new("not JSON").to_string(), "not JSON");
        assert_eq!(
            DecodeError::missing("id").in_event(3).to_string(),
            "event 3: attribute `id`: missing"
        );
    }

    #[test]
    fn attribute_names() {
        for ok in ["a", "abc123", "0", "traceparent", "a2345678901234567890"] {
            assert_eq!(validate_attribute_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Abc",
            "a-b",
            "a_b",
            "é",
            "data",
            "data_base64",
            "a23456789012345678901",
        ] {
            assert!(validate_attribute_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_a_complete_event() {
        let mut event = valid();
        event.datacontenttype = Some("application/json".into());
        event.dataschema = Some("urn:example:schema".into());
        event.subject = Some("temperature 😀".into());
        event.time = Some("2018-04-05T17:31:00.123+02:00".into());
        event
            .extensions
            .insert("count".into(), ExtensionValue::Integer(-3));
        assert_eq!(reason_for(&event), "accepted");
    }

    #[test]
    fn rejects_empty_required_attributes() {
        let mut event = valid();
        event.id.clear();
        assert_eq!(reason_for(&event), "attribute `id`: must not be empty");
        let mut event = valid();
        event.source.clear();
        assert_eq!(reason_for(&event), "attribute `source`: must not be empty");
        let mut event = valid();
        event.ty.clear();
        assert_eq!(reason_for(&event), "attribute `type`: must not be empty");
    }

    #[test]
    fn rejects_bad_optional_attributes() {
        type Breaker = fn(&mut CloudEvent);
        let cases: [(Breaker, &str); 6] = [
            (|e| e.subject = Some(String::new()), "subject"),
            (
                |e| e.datacontenttype = Some(String::new()),
                "datacontenttype",
            ),
            (|e| e.dataschema = Some("/relative".into()), "dataschema"),
            (|e| e.dataschema = Some("1http://x".into()), "dataschema"),
            (|e| e.time = Some("2018-04-05 noon".into()), "time"),
            (|e| e.source = "a b".into(), "source"),
        ];
        for (break_it, attribute) in cases {
            let mut event = valid();
            break_it(&mut event);
            let err = validate_event(&event).expect_err(attribute);
            assert_eq!(err.attribute.as_deref(), Some(attribute));
        }
    }

    #[test]
    fn rejects_control_characters_and_noncharacters() {
        for bad in [
            "a\u{0}b",
            "tab\t",
            "\u{7f}",
            "\u{85}",
            "\u{9f}",
            "\u{fdd0}",
            "\u{1fffe}",
        ] {
            let mut event = valid();
            event.id = bad.into();
            assert!(validate_event(&event).is_err(), "{bad:?}");
            let mut event = valid();
            event
                .extensions
                .insert("ext".into(), ExtensionValue::String(bad.into()));
            assert!(validate_event(&event).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_bad_extension_names() {
        for name in ["id", "specversion", "data", "Upper", ""] {
            let mut event = valid();
            event
                .extensions
                .insert(name.into(), ExtensionValue::Boolean(true));
            assert!(validate_event(&event).is_err(), "{name}");
        }
    }
}
