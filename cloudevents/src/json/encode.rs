//! Encoding of the JSON event and batch formats.
//!
//! Bytes are written straight into the caller's buffer: no intermediate value, no `Result`,
//! because there is nothing that can go wrong when writing an in-memory event into a `Vec`.

use base64::Engine as _;

use super::super::model::{CloudEvent, Data, ExtensionValue, SPEC_VERSION};

/// Appends `event` in the JSON event format to `out`.
///
/// `Data::Json` is written as-is and must hold valid JSON text (every decoder guarantees it).
/// `Data::Text` becomes a JSON string in `data` and `Data::Binary` becomes `data_base64`.
pub fn encode_event(event: &CloudEvent, out: &mut Vec<u8>) {
    out.reserve(size_hint(event));
    out.extend_from_slice(b"{\"specversion\":");
    write_str(out, SPEC_VERSION);
    write_member(out, "id", &event.id);
    write_member(out, "source", &event.source);
    write_member(out, "type", &event.ty);
    let optional = [
        ("datacontenttype", &event.datacontenttype),
        ("dataschema", &event.dataschema),
        ("subject", &event.subject),
        ("time", &event.time),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            write_member(out, name, value);
        }
    }
    for (name, value) in &event.extensions {
        write_key(out, name);
        match value {
            ExtensionValue::String(s) => write_str(out, s),
            ExtensionValue::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
            ExtensionValue::Boolean(b) => {
                out.extend_from_slice(if *b { b"true" } else { b"false" })
            }
            // The JSON format has no type for these: their canonical strings.
            other @ ExtensionValue::Binary(_) => write_str(out, &other.to_canonical_string()),
            ExtensionValue::Uri(s) | ExtensionValue::UriRef(s) | ExtensionValue::Timestamp(s) => {
                write_str(out, s)
            }
        }
    }
    write_data(out, event.data.as_ref());
    out.push(b'}');
}

/// Appends `events` as a JSON batch (an array of events) to `out`.
pub fn encode_batch(events: &[CloudEvent], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        encode_event(event, out);
    }
    out.push(b']');
}

/// `event` in the JSON event format, in a new buffer.
pub fn to_vec(event: &CloudEvent) -> Vec<u8> {
    let mut out = Vec::new();
    encode_event(event, &mut out);
    out
}

fn write_data(out: &mut Vec<u8>, data: Option<&Data>) {
    match data {
        None => {}
        Some(Data::Json(raw)) => {
            write_key(out, "data");
            out.extend_from_slice(raw);
        }
        Some(Data::Text(text)) => write_member(out, "data", text),
        Some(Data::Binary(bytes)) => {
            write_key(out, "data_base64");
            // The base64 alphabet needs no JSON escaping.
            out.push(b'"');
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            );
            out.push(b'"');
        }
    }
}

/// Enough capacity for the common case so that encoding rarely reallocates.
fn size_hint(event: &CloudEvent) -> usize {
    let strings = [
        event.datacontenttype.as_deref(),
        event.dataschema.as_deref(),
        event.subject.as_deref(),
        event.time.as_deref(),
    ];
    let attributes: usize = strings.iter().flatten().map(|s| s.len() + 24).sum();
    let extensions: usize = event.extensions.keys().map(|k| k.len() + 32).sum();
    let data = match &event.data {
        None => 0,
        Some(Data::Json(raw) | Data::Binary(raw)) => raw.len() * 4 / 3 + 20,
        Some(Data::Text(text)) => text.len() + 20,
    };
    64 + event.id.len() + event.source.len() + event.ty.len() + attributes + extensions + data
}

/// Writes `,"name":"value"` (the event object always has a member before this one).
fn write_member(out: &mut Vec<u8>, name: &str, value: &str) {
    write_key(out, name);
    write_str(out, value);
}

/// Writes `,"name":`. Names are attribute names: `[a-z0-9_]`, nothing to escape when valid,
/// but an unvalidated event could hold anything, so they are escaped like any string.
fn write_key(out: &mut Vec<u8>, name: &str) {
    out.push(b',');
    write_str(out, name);
    out.push(b':');
}

/// Writes `s` as a JSON string, escaping what RFC 8259 requires: `"`, `\` and U+0000-001F.
fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[plain_from..i]);
        plain_from = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                let hex = [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]];
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&hex);
            }
        }
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}
