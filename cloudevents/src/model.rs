//! The in-memory shape of one CloudEvent: context attributes, extensions and data.

use std::collections::BTreeMap;

use bytes::Bytes;

/// The only `specversion` Switchyard accepts and emits.
pub const SPEC_VERSION: &str = "1.0";

/// One CloudEvents 1.0 event. `specversion` is implied: an event that parsed is a 1.0 event.
///
/// Attribute values are kept in their canonical string form exactly as received (for example
/// `time` keeps the sender's offset and precision) so that transcoding between modes is lossless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent {
    /// Required, non-empty; unique together with `source`.
    pub id: String,
    /// Required, non-empty URI-reference.
    pub source: String,
    /// Required, non-empty (`type` in the spec).
    pub ty: String,
    /// Optional RFC 2046 media type of `data`.
    pub datacontenttype: Option<String>,
    /// Optional absolute URI.
    pub dataschema: Option<String>,
    /// Optional, non-empty.
    pub subject: Option<String>,
    /// Optional RFC 3339 timestamp, kept as the sender wrote it (validated).
    pub time: Option<String>,
    /// Extension attributes by name (names already validated).
    pub extensions: BTreeMap<String, ExtensionValue>,
    /// The payload, if any.
    pub data: Option<Data>,
}

/// The value of an extension attribute. The JSON format only distinguishes these three types;
/// Binary, URI, URI-reference and Timestamp travel as strings in their canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionValue {
    String(String),
    Integer(i32),
    Boolean(bool),
}

/// An event's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// A JSON value, held as its validated JSON text (never re-parsed to be re-encoded).
    /// `null` is an explicit null payload, distinct from no data.
    Json(Bytes),
    /// Text data (a non-JSON, textual `datacontenttype`), written as a JSON string in `data`.
    Text(String),
    /// Opaque bytes, written as `data_base64` in the JSON format.
    Binary(Bytes),
}

impl ExtensionValue {
    /// The canonical string form (CloudEvents type system), used by bindings without types.
    pub fn to_canonical_string(&self) -> String {
        match self {
            Self::String(s) => s.clone(),
            Self::Integer(i) => i.to_string(),
            Self::Boolean(b) => b.to_string(),
        }
    }
}

impl CloudEvent {
    /// A new event with the required attributes and nothing else.
    pub fn new(id: impl Into<String>, source: impl Into<String>, ty: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            source: source.into(),
            ty: ty.into(),
            datacontenttype: None,
            dataschema: None,
            subject: None,
            time: None,
            extensions: BTreeMap::new(),
            data: None,
        }
    }

    /// Looks an attribute (core or extension) up by name, in its canonical string form.
    /// Used by routing filters, which compare strings.
    pub fn attribute(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match name {
            "id" => Some(Cow::Borrowed(&self.id)),
            "source" => Some(Cow::Borrowed(&self.source)),
            "type" => Some(Cow::Borrowed(&self.ty)),
            "specversion" => Some(Cow::Borrowed(SPEC_VERSION)),
            "datacontenttype" => self.datacontenttype.as_deref().map(Cow::Borrowed),
            "dataschema" => self.dataschema.as_deref().map(Cow::Borrowed),
            "subject" => self.subject.as_deref().map(Cow::Borrowed),
            "time" => self.time.as_deref().map(Cow::Borrowed),
            other => self.extensions.get(other).map(|v| match v {
                ExtensionValue::String(s) => Cow::Borrowed(s.as_str()),
                v => Cow::Owned(v.to_canonical_string()),
            }),
        }
    }
}
