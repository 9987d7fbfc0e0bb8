//! The binding's encoding of attribute values in `ce-` header values: percent-encoding on the
//! way out, and on the way in RFC 7230 quoted-string unescaping followed by one round of
//! percent-decoding.

use std::borrow::Cow;

use super::super::DecodeError;

/// Percent-encodes `value` for a `ce-` header: space, `"`, `%` and every byte outside
/// U+0021-U+007E (so every byte of a non-ASCII character, and all control characters) become
/// `%XY` with upper-case hex. The result is visible ASCII, always a valid header value.
pub fn encode_header_value(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'"' && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Decodes a received `ce-` header value: a value wrapped in double quotes is first unescaped
/// as an RFC 7230 quoted-string, then `%XY` sequences (either case of hex) are decoded exactly
/// once. A `%` not followed by two hex digits, a malformed quoted-string, or bytes that are not
/// UTF-8 (such as the overlong `%C0%A0`) are errors.
///
/// Unencoded non-ASCII bytes are accepted as they are, because several SDKs send UTF-8 raw.
pub fn decode_header_value(raw: &[u8]) -> Result<String, DecodeError> {
    decode_header_value_with(raw, PercentDecoding::Strict)
}

/// How a `%` that does not start a `%XY` escape is treated on receipt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PercentDecoding {
    /// An error, as the binding requires of senders (the default).
    #[default]
    Strict,
    /// Kept as a literal `%`: for senders that do not encode at all (sdk-go, sdk-java and the
    /// Python SDK send `100%` as it is; cloudevents/spec#1397). Logged at debug.
    Lenient,
}

/// [`decode_header_value`] with a choice of how stray `%` are treated.
pub fn decode_header_value_with(raw: &[u8], mode: PercentDecoding) -> Result<String, DecodeError> {
    let unquoted = unquote(raw)?;
    let bytes = percent_decode(&unquoted, mode)?;
    String::from_utf8(bytes).map_err(|_| DecodeError::new("header value is not valid UTF-8"))
}

/// Undoes RFC 7230 quoting if the whole value is one quoted-string; otherwise the value is
/// taken literally (a stray `"` from a sender that does not encode stays a character).
fn unquote(raw: &[u8]) -> Result<Cow<'_, [u8]>, DecodeError> {
    let inner = match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => return Ok(Cow::Borrowed(raw)),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'\\' => match rest.split_first() {
                Some((&escaped, tail)) => {
                    out.push(escaped);
                    rest = tail;
                }
                None => return Err(malformed_quoted_string()),
            },
            b'"' => return Err(malformed_quoted_string()),
            _ => out.push(b),
        }
    }
    Ok(Cow::Owned(out))
}

fn malformed_quoted_string() -> DecodeError {
    DecodeError::new("header value is a malformed quoted-string")
}

fn percent_decode(input: &[u8], mode: PercentDecoding) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'%' {
            out.push(b);
            continue;
        }
        let escape = match rest {
            [high, low, tail @ ..] => hex_digit(*high)
                .zip(hex_digit(*low))
                .map(|(h, l)| (h << 4 | l, tail)),
            _ => None,
        };
        match (escape, mode) {
            (Some((byte, tail)), _) => {
                out.push(byte);
                rest = tail;
            }
            (None, PercentDecoding::Lenient) => {
                tracing::debug!("header value has a stray `%`; kept literally (lenient decoding)");
                out.push(b'%');
            }
            (None, PercentDecoding::Strict) => return Err(bad_percent()),
        }
    }
    Ok(out)
}

fn bad_percent() -> DecodeError {
    DecodeError::new("header value has a `%` not followed by two hex digits")
}

fn hex_digit(b: u8) -> Option<u8> {
    // `to_digit(16)` is at most 15, so the conversion cannot fail.
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}
