//! Whether a message's content header fits in one frame.
//!
//! AMQP 0-9-1 splits a body over as many frames as it needs, but the content header (the
//! basic properties, including the `headers` table that carries binary-mode attributes) must
//! fit in a single frame of at most the connection's negotiated `frame_max`. RabbitMQ answers
//! a larger one by closing the whole connection (`FRAME_ERROR`, frame_too_large), which would
//! fail every publish in flight on it and, repeated, keep the link down for every publisher.
//! So such an event is refused before it is sent.

use lapin::BasicProperties;
use lapin::protocol::basic::gen_properties;
use lapin::types::AMQPValue;

use crate::error::EncodeError;

/// Bytes a content header frame holds besides the encoded properties: the frame header
/// (type 1, channel 2, payload size 4), the header payload's class id (2), weight (2) and
/// body size (8), and the frame-end octet (1). RabbitMQ counts all of them against
/// `frame_max` (it refuses a payload over `frame_max` minus the 8 bytes of framing).
const FRAME_OVERHEAD: usize = 7 + 2 + 2 + 8 + 1;

/// The size of the content header frame `properties` make, on the wire.
pub(super) fn frame_size(properties: &BasicProperties) -> Result<usize, EncodeError> {
    // lapin's own serialisation (the bytes it will write), so the size is exact rather than
    // an estimate of the field table's encoding.
    let encoded = gen_properties::<Vec<u8>>(properties)(Vec::new().into())
        .map_err(|e| EncodeError::Properties(e.to_string()))?;
    Ok(FRAME_OVERHEAD + encoded.write.len())
}

/// Everything but the headers table: the flags and at most ten short strings of 256 bytes, two
/// octets, a timestamp.
const OTHER_PROPERTIES_BOUND: usize = 2 + 10 * 256 + 2 + 8;

/// An upper bound of [`frame_size`] from lengths alone, or `None` for header values whose size
/// is not a plain length (nested tables, arrays, byte arrays).
fn size_bound(properties: &BasicProperties) -> Option<usize> {
    let mut bound = FRAME_OVERHEAD + OTHER_PROPERTIES_BOUND + 4;
    for (name, value) in properties.headers().iter().flat_map(|t| t.inner()) {
        // Name length octet, name, type octet, then the value.
        bound += 1 + name.as_str().len() + 1;
        bound += match value {
            AMQPValue::LongString(s) => 4 + s.as_bytes().len(),
            AMQPValue::ShortString(s) => 1 + s.as_str().len(),
            AMQPValue::FieldTable(_) | AMQPValue::FieldArray(_) | AMQPValue::ByteArray(_) => {
                return None;
            }
            // Every other value is a fixed-size scalar of at most 9 bytes (a decimal).
            _ => 9,
        };
    }
    Some(bound)
}

/// Refuses `properties` whose content header frame is larger than `frame_max` (0: no limit,
/// as AMQP defines it).
pub(super) fn check_fits(properties: &BasicProperties, frame_max: u32) -> Result<(), EncodeError> {
    // u32 → usize cannot lose anything on the 32- and 64-bit targets we build for.
    let limit = usize::try_from(frame_max).unwrap_or(usize::MAX);
    // The hot path: almost every event is far below the limit, which a sum of lengths shows
    // without encoding the properties a second time (lapin encodes them again to send).
    if frame_max == 0 || size_bound(properties).is_some_and(|bound| bound <= limit) {
        return Ok(());
    }
    let size = frame_size(properties)?;
    if size > limit {
        return Err(EncodeError::HeaderTooLarge { size, frame_max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use lapin::types::{AMQPValue, FieldTable, LongString};

    use super::*;

    fn with_header(value: &str) -> BasicProperties {
        let mut table = FieldTable::default();
        table.insert("k".into(), AMQPValue::LongString(LongString::from(value)));
        BasicProperties::default()
            .with_content_type("a".into())
            .with_headers(table)
    }

    #[test]
    fn the_size_is_that_of_the_frame_on_the_wire() {
        // Counted by hand from AMQP 0-9-1 section 4.2.6: flags (2), content type (1 + 1),
        // headers table (4 for its length + key 1 + 1 + type 1 + value length 4 + 1).
        let properties = with_header("v");
        assert_eq!(frame_size(&properties).expect("encodes"), 20 + 2 + 2 + 12);
        assert_eq!(
            frame_size(&BasicProperties::default()).expect("encodes"),
            22,
            "no properties: just the flags"
        );
    }

    #[test]
    fn the_bound_is_never_below_the_size() {
        for value in ["", "v", &"x".repeat(70_000)] {
            let properties = with_header(value);
            let bound = size_bound(&properties).expect("plain lengths");
            assert!(
                bound >= frame_size(&properties).expect("encodes"),
                "{value:.5}"
            );
        }
    }

    #[test]
    fn a_header_frame_over_frame_max_is_refused() {
        let properties = with_header(&"x".repeat(200_000));
        let size = frame_size(&properties).expect("encodes");
        assert_eq!(size, 36 - 1 + 200_000);
        let frame_max = u32::try_from(size).expect("small");
        assert!(check_fits(&properties, frame_max).is_ok(), "exactly fits");
        assert!(check_fits(&properties, 0).is_ok(), "0 means no limit");
        let err = check_fits(&properties, frame_max - 1).expect_err("one byte over");
        assert!(
            matches!(err, EncodeError::HeaderTooLarge { size: s, frame_max: m } if s == size && m == frame_max - 1),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("frame_max"), "{message}");
        assert!(message.contains(&size.to_string()), "{message}");
    }
}
