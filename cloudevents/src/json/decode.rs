//! Decoding of the JSON event and batch formats.
//!
//! serde visitors can only return serde errors, which carry text and a position but no
//! structure. So the visitors put the [`DecodeError`] they mean into a side channel
//! ([`Context`]) and abort with a placeholder serde error; the public functions prefer the side
//! channel when they turn the failure into a `DecodeError`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::de::SliceRead;
use serde_json::value::RawValue;

use super::super::model::{CloudEvent, Data, ExtensionValue};
use super::super::validate::{DecodeError, validate_attribute_name, validate_event};
use super::value::{AttrValue, CoreKey, Key};
use super::{check_data_nesting, is_json_media_type, share};

/// Standard base64 as the spec requires, but tolerant of missing padding, which some senders
/// strip; it costs nothing and loses nothing.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Decodes one event in the JSON event format. `Data::Json` payloads are slices of `input`.
pub fn decode_event(input: &Bytes) -> Result<CloudEvent, DecodeError> {
    run(input, |de, ctx| EventSeed { ctx }.deserialize(de))
}

/// Decodes a JSON batch: all events or none. An error names the index of the bad event.
pub fn decode_batch(input: &Bytes) -> Result<Vec<CloudEvent>, DecodeError> {
    run(input, |de, ctx| de.deserialize_seq(BatchVisitor { ctx }))
}

type JsonDeserializer<'a> = serde_json::Deserializer<SliceRead<'a>>;

/// Runs `parse` over the whole of `input`, rejecting trailing data, and turns any failure into
/// the most precise `DecodeError` available.
fn run<'a, T>(
    input: &'a Bytes,
    parse: impl FnOnce(&mut JsonDeserializer<'a>, &mut Context<'a>) -> serde_json::Result<T>,
) -> Result<T, DecodeError> {
    let mut ctx = Context {
        input,
        failure: None,
        index: None,
    };
    let mut de = serde_json::Deserializer::from_slice(input);
    let result = parse(&mut de, &mut ctx).and_then(|value| de.end().map(|()| value));
    result.map_err(|e| {
        let error = ctx.failure.take().unwrap_or_else(|| from_serde(&e));
        match ctx.index {
            Some(index) => error.in_event(index),
            None => error,
        }
    })
}

fn from_serde(e: &serde_json::Error) -> DecodeError {
    match e.classify() {
        serde_json::error::Category::Data => DecodeError::new(e.to_string()),
        _ => DecodeError::new(format!("malformed JSON: {e}")),
    }
}

/// What the visitors share with [`run`].
struct Context<'a> {
    /// The whole message, so that `data` can be sliced out of it without copying.
    input: &'a Bytes,
    /// The precise reason a visitor gave up, if it was not a JSON syntax error.
    failure: Option<DecodeError>,
    /// The batch index being decoded, to prefix errors with; `None` outside a batch element.
    index: Option<usize>,
}

impl Context<'_> {
    /// Records `error` and returns the serde error that aborts the parse.
    fn reject<E: de::Error>(&mut self, error: DecodeError) -> E {
        self.failure = Some(error);
        E::custom("invalid CloudEvent")
    }
}

struct BatchVisitor<'c, 'a> {
    ctx: &'c mut Context<'a>,
}

impl<'de> Visitor<'de> for BatchVisitor<'_, '_> {
    type Value = Vec<CloudEvent>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of CloudEvents")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            self.ctx.index = Some(events.len());
            match seq.next_element_seed(EventSeed {
                ctx: &mut *self.ctx,
            })? {
                Some(event) => events.push(event),
                None => break,
            }
        }
        self.ctx.index = None;
        Ok(events)
    }
}

/// Decodes one event object.
struct EventSeed<'c, 'a> {
    ctx: &'c mut Context<'a>,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_, '_> {
    type Value = CloudEvent;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<CloudEvent, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_, '_> {
    type Value = CloudEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CloudEvent as a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CloudEvent, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let read = match key {
                Key::Core(key) => fields.read_core(key, &mut map)?,
                Key::Extension(name) => fields.read_extension(name, &mut map)?,
            };
            if let Err(error) = read {
                return Err(self.ctx.reject(error));
            }
        }
        fields
            .into_event(self.ctx.input)
            .and_then(|event| validate_event(&event).map(|()| event))
            .map_err(|error| self.ctx.reject(error))
    }
}

/// The members of one event object as read, before the checks that need all of them.
#[derive(Default)]
struct Fields<'de> {
    /// Core members seen so far (by [`CoreKey::bit`]), `null` ones included, to catch duplicates.
    seen: u16,
    specversion: Option<Cow<'de, str>>,
    id: Option<Cow<'de, str>>,
    source: Option<Cow<'de, str>>,
    ty: Option<Cow<'de, str>>,
    datacontenttype: Option<Cow<'de, str>>,
    dataschema: Option<Cow<'de, str>>,
    subject: Option<Cow<'de, str>>,
    time: Option<Cow<'de, str>>,
    data: Option<&'de RawValue>,
    data_base64: Option<Cow<'de, str>>,
    extensions: BTreeMap<String, ExtensionValue>,
    /// Extensions that were `null` (unset), kept only to catch duplicates.
    null_extensions: Vec<Cow<'de, str>>,
}

/// The outer `Result` carries JSON syntax errors, the inner one semantic errors.
type Read<E> = Result<Result<(), DecodeError>, E>;

impl<'de> Fields<'de> {
    fn read_core<A: MapAccess<'de>>(&mut self, key: CoreKey, map: &mut A) -> Read<A::Error> {
        if self.seen & key.bit() != 0 {
            return Ok(Err(DecodeError::duplicate(key.name())));
        }
        self.seen |= key.bit();
        let slot = match key {
            CoreKey::Data => {
                self.data = Some(map.next_value()?);
                return Ok(Ok(()));
            }
            CoreKey::SpecVersion => &mut self.specversion,
            CoreKey::Id => &mut self.id,
            CoreKey::Source => &mut self.source,
            CoreKey::Type => &mut self.ty,
            CoreKey::DataContentType => &mut self.datacontenttype,
            CoreKey::DataSchema => &mut self.dataschema,
            CoreKey::Subject => &mut self.subject,
            CoreKey::Time => &mut self.time,
            CoreKey::DataBase64 => &mut self.data_base64,
        };
        // `null` means unset; any other non-string is a type error.
        *slot = match map.next_value::<AttrValue<'de>>()? {
            AttrValue::Null => None,
            AttrValue::Str(s) => Some(s),
            _ => return Ok(Err(DecodeError::attribute(key.name(), "must be a string"))),
        };
        Ok(Ok(()))
    }

    fn read_extension<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        map: &mut A,
    ) -> Read<A::Error> {
        if let Err(error) = validate_attribute_name(&name) {
            return Ok(Err(error));
        }
        if self.extensions.contains_key(&*name) || self.null_extensions.contains(&name) {
            return Ok(Err(DecodeError::duplicate(&name)));
        }
        let value = match map.next_value::<AttrValue<'de>>()? {
            AttrValue::Null => {
                self.null_extensions.push(name);
                return Ok(Ok(()));
            }
            AttrValue::Str(s) => ExtensionValue::String(s.into_owned()),
            AttrValue::Bool(b) => ExtensionValue::Boolean(b),
            AttrValue::Int(i) => match i32::try_from(i) {
                Ok(i) => ExtensionValue::Integer(i),
                Err(_) => {
                    return Ok(Err(DecodeError::attribute(
                        name,
                        "is outside the int32 range",
                    )));
                }
            },
            AttrValue::BigInt | AttrValue::Float => {
                let reason = "must be an integer in the int32 range, a string or a boolean";
                return Ok(Err(DecodeError::attribute(name, reason)));
            }
            AttrValue::Composite => {
                let reason = "must be a string, an integer or a boolean, not an object or array";
                return Ok(Err(DecodeError::attribute(name, reason)));
            }
        };
        self.extensions.insert(name.into_owned(), value);
        Ok(Ok(()))
    }

    fn into_event(self, input: &Bytes) -> Result<CloudEvent, DecodeError> {
        DecodeError::check_specversion(self.specversion.as_deref())?;
        let required = |value: Option<Cow<'_, str>>, name: &str| {
            value
                .map(Cow::into_owned)
                .ok_or_else(|| DecodeError::missing(name))
        };
        let data = resolve_data(
            self.data,
            self.data_base64.as_deref(),
            self.datacontenttype.as_deref(),
            input,
        )?;
        Ok(CloudEvent {
            id: required(self.id, "id")?,
            source: required(self.source, "source")?,
            ty: required(self.ty, "type")?,
            datacontenttype: self.datacontenttype.map(Cow::into_owned),
            dataschema: self.dataschema.map(Cow::into_owned),
            subject: self.subject.map(Cow::into_owned),
            time: self.time.map(Cow::into_owned),
            extensions: self.extensions,
            data,
        })
    }
}

/// Applies the JSON format's deserialization rules for `data` and `data_base64`.
fn resolve_data(
    data: Option<&RawValue>,
    data_base64: Option<&str>,
    datacontenttype: Option<&str>,
    input: &Bytes,
) -> Result<Option<Data>, DecodeError> {
    match (data, data_base64) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(DecodeError::new(
            "`data` and `data_base64` must not both be present",
        )),
        (None, Some(encoded)) => match BASE64.decode(encoded) {
            Ok(bytes) => Ok(Some(Data::Binary(Bytes::from(bytes)))),
            Err(e) => Err(DecodeError::attribute(
                "data_base64",
                format!("is not valid base64: {e}"),
            )),
        },
        (Some(raw), None) if is_json_media_type(datacontenttype) => {
            check_data_nesting(raw.get())?;
            Ok(Some(Data::Json(share(input, raw.get().as_bytes()))))
        }
        // A JSON string is the only way the format carries non-JSON text.
        (Some(raw), None) => match serde_json::from_str::<String>(raw.get()) {
            Ok(text) => Ok(Some(Data::Text(text))),
            Err(_) => Err(DecodeError::new(
                "`data` must be a JSON string when `datacontenttype` is not JSON",
            )),
        },
    }
}
