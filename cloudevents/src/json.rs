//! The JSON event format (`application/cloudevents+json`) and the JSON batch format
//! (`application/cloudevents-batch+json`).
//!
//! This codec sits on every structured-mode hop, so it is written for speed: decoding walks the
//! JSON object once with a hand-written serde visitor, borrows strings from the input where it
//! can, and keeps a JSON `data` value as a zero-copy slice of the input instead of building a
//! tree. Encoding writes bytes directly and cannot fail.

mod decode;
mod encode;
#[cfg(test)]
mod tests;
mod value;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::DecodeError;

pub use decode::{decode_batch, decode_event};
pub use encode::{encode_batch, encode_event, to_vec};

/// The deepest nesting we accept inside a JSON `data` value. serde_json refuses documents nested
/// 128 levels deep; a batch wraps `data` in an array and an object, so capping `data` at 125
/// keeps every event parseable by serde_json consumers in any format or binding.
const MAX_DATA_NESTING: usize = 125;

/// Whether `content_type` says the data is JSON, following the JSON format's rule: the media
/// type (parameters stripped, compared case-insensitively) is `application/json`, `*/json` or
/// `*/*+json`, and an absent `datacontenttype` means `application/json`.
pub fn is_json_media_type(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return true;
    };
    let essence = content_type
        .split_once(';')
        .map_or(content_type, |(essence, _)| essence)
        .trim();
    let Some((ty, subtype)) = essence.split_once('/') else {
        return false;
    };
    !ty.is_empty() && (subtype.eq_ignore_ascii_case("json") || has_suffix(subtype, "+json"))
}

/// Case-insensitive ASCII suffix test that cannot split a UTF-8 character.
pub(super) fn has_suffix(value: &str, suffix: &str) -> bool {
    let (value, suffix) = (value.as_bytes(), suffix.as_bytes());
    value.len() >= suffix.len() && value[value.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// Validates a standalone JSON document used as event data (an HTTP binary-mode body) and
/// returns its text without surrounding whitespace, as a zero-copy slice of `body`.
pub(super) fn decode_json_data(body: &Bytes) -> Result<Bytes, DecodeError> {
    let raw: &RawValue = serde_json::from_slice(body)
        .map_err(|e| DecodeError::new(format!("data is not valid JSON: {e}")))?;
    check_data_nesting(raw.get())?;
    Ok(share(body, raw.get().as_bytes()))
}

/// Rejects `data` nested deeper than [`MAX_DATA_NESTING`]. serde_json checks its recursion
/// limit only when building values, not when skipping over a raw value, so we count ourselves.
fn check_data_nesting(raw: &str) -> Result<(), DecodeError> {
    // Each level needs an opening and a closing bracket: short values cannot be too deep.
    if raw.len() <= 2 * MAX_DATA_NESTING {
        return Ok(());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in raw.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DATA_NESTING {
                    return Err(DecodeError::new(format!(
                        "data is nested more than {MAX_DATA_NESTING} levels deep"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// `part` as a slice of `input` without copying when `part` lies inside `input`, as text that
/// serde_json borrowed from it does; otherwise (never expected) a copy.
fn share(input: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if start <= input.len() && end <= input.len() => input.slice(start..end),
        _ => Bytes::copy_from_slice(part),
    }
}
