//! A webhook's response as the reply to a request: a CloudEvent in structured or binary mode,
//! or any other body passed through with its content type.

use bytes::Bytes;
use http::{HeaderMap, header};

use switchyard_core::cloudevent::{content, http as binding, json, protobuf};
use switchyard_core::rpc::Reply;

/// Decodes the response; the error says why it cannot be a reply.
pub(super) fn decode(headers: &HeaderMap, body: Bytes) -> Result<Reply, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| {
            v.to_str()
                .map_err(|_| "Content-Type is not visible ASCII".to_owned())
        })
        .transpose()?;
    let event = match binding::detect_mode(content_type) {
        binding::Mode::Batch => return Err("a reply is one event, not a batch".into()),
        binding::Mode::Structured => {
            let format = content_type.unwrap_or_default();
            if content::is_protobuf_format(format) {
                protobuf::decode_event(&body)
            } else {
                json::decode_event(&body)
            }
        }
        // Any `ce-` header means binary mode: a missing attribute is then reported.
        binding::Mode::Binary if headers.keys().any(|k| k.as_str().starts_with("ce-")) => {
            binding::decode_binary(headers, body)
        }
        binding::Mode::Binary => {
            return Ok(Reply::Body {
                content_type: content_type.map(str::to_owned),
                body,
            });
        }
    };
    event
        .map(Reply::Event)
        .map_err(|e| format!("the reply is not a valid CloudEvent: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn binary_structured_and_plain_replies() {
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("ce-id", "r1"),
            ("ce-source", "/svc"),
            ("ce-type", "t"),
            ("ce-specversion", "1.0"),
        ] {
            headers.insert(k, HeaderValue::from_static(v));
        }
        let Ok(Reply::Event(event)) = decode(&headers, Bytes::new()) else {
            panic!("binary mode is an event")
        };
        assert_eq!(event.id, "r1");

        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/cloudevents+json"),
        );
        let body =
            Bytes::from_static(br#"{"specversion":"1.0","id":"r2","source":"/s","type":"t"}"#);
        assert!(matches!(decode(&headers, body), Ok(Reply::Event(e)) if e.id == "r2"));
        assert!(
            decode(&headers, Bytes::from_static(b"{}")).is_err(),
            "an invalid event is refused"
        );

        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let plain = decode(&headers, Bytes::from_static(b"hi")).expect("plain body");
        assert_eq!(
            plain,
            Reply::Body {
                content_type: Some("text/plain".into()),
                body: Bytes::from_static(b"hi")
            }
        );
    }
}
