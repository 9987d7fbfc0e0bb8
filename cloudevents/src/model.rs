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

/// The value of an extension attribute, by its CloudEvents type. The JSON format and the
/// header bindings distinguish only string, integer and boolean: they read every other type
/// as a string and write it as its canonical string. A typed format (protobuf) reads and
/// writes all seven, so an extension keeps its type from protobuf to protobuf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionValue {
    String(String),
    Integer(i32),
    Boolean(bool),
    /// Bytes; canonical string: base64.
    Binary(bytes::Bytes),
    /// An absolute URI, validated.
    Uri(String),
    /// A URI-reference, validated.
    UriRef(String),
    /// An RFC 3339 timestamp, validated, kept as written.
    Timestamp(String),
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
            Self::String(s) | Self::Uri(s) | Self::UriRef(s) | Self::Timestamp(s) => s.clone(),
            Self::Integer(i) => i.to_string(),
            Self::Boolean(b) => b.to_string(),
            Self::Binary(b) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(b)
            }
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
                ExtensionValue::String(s)
                | ExtensionValue::Uri(s)
                | ExtensionValue::UriRef(s)
                | ExtensionValue::Timestamp(s) => Cow::Borrowed(s.as_str()),
                v => Cow::Owned(v.to_canonical_string()),
            }),
        }
    }
}
