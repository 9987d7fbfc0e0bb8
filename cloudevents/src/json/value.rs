//! The small serde types the JSON decoder reads member names and attribute values into.
//!
//! They exist instead of `serde_json::Value` so that strings are borrowed from the input when
//! they contain no escapes, and nothing is allocated for a member we are about to reject.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A member name of an event object.
pub(super) enum Key<'de> {
    Core(CoreKey),
    Extension(Cow<'de, str>),
}

/// The member names the spec defines; everything else is an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CoreKey {
    SpecVersion,
    Id,
    Source,
    Type,
    DataContentType,
    DataSchema,
    Subject,
    Time,
    Data,
    DataBase64,
}

impl CoreKey {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "specversion" => Self::SpecVersion,
            "id" => Self::Id,
            "source" => Self::Source,
            "type" => Self::Type,
            "datacontenttype" => Self::DataContentType,
            "dataschema" => Self::DataSchema,
            "subject" => Self::Subject,
            "time" => Self::Time,
            "data" => Self::Data,
            "data_base64" => Self::DataBase64,
            _ => return None,
        })
    }

    /// The member name, for error messages.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::SpecVersion => "specversion",
            Self::Id => "id",
            Self::Source => "source",
            Self::Type => "type",
            Self::DataContentType => "datacontenttype",
            Self::DataSchema => "dataschema",
            Self::Subject => "subject",
            Self::Time => "time",
            Self::Data => "data",
            Self::DataBase64 => "data_base64",
        }
    }

    /// A distinct bit per key, for duplicate detection without allocating.
    pub(super) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(CoreKey::from_name(v).map_or(Key::Extension(Cow::Borrowed(v)), Key::Core))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(CoreKey::from_name(v)
            .map_or_else(|| Key::Extension(Cow::Owned(v.to_owned())), Key::Core))
    }
}

/// An attribute value as JSON typed it. Only what the checks need to tell apart is kept.
pub(super) enum AttrValue<'de> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer beyond `i64`: never a valid CloudEvents Integer.
    BigInt,
    Float,
    Str(Cow<'de, str>),
    /// An object or an array (already skipped over).
    Composite,
}

impl<'de> Deserialize<'de> for AttrValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AttrValueVisitor)
    }
}

struct AttrValueVisitor;

impl<'de> Visitor<'de> for AttrValueVisitor {
    type Value = AttrValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(AttrValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(AttrValue::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(AttrValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(AttrValue::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(AttrValue::BigInt, AttrValue::Int))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(AttrValue::Float)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(AttrValue::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(AttrValue::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(AttrValue::Str(Cow::Owned(v)))
    }

    // Objects and arrays are consumed so that the caller can report a typed error naming the
    // attribute, rather than a parse error from a half-read map.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(AttrValue::Composite)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(AttrValue::Composite)
    }
}
