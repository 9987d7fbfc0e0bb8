//! How a `/topics/...` path names a topic or filter (publishing and subscribing share it), and
//! the way back: a topic as a URI-reference for a wrapped event's `source`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::ApiError;

/// The topic or filter a `/topics/...` (or `/rpc/...`) path names. Each level is percent-decoded, since MQTT
/// allows any UTF-8 in a level (`a%20b` is the topic `a b`); an encoded `/` is refused, since
/// no level can hold one and decoding it would quietly make `a%2Fb` the topic `a/b`.
#[derive(Debug)]
pub(crate) struct TopicPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TopicPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        // The raw path, not axum's `Path`: only it still shows which `/` were sent encoded,
        // and bad UTF-8 gets our JSON error rather than axum's text one.
        let encoded = parts.uri.path();
        // `/topics/{topic}` and `/rpc/{topic}`.
        let encoded = encoded
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .map_or(encoded, |(_, topic)| topic);
        let mut topic = String::with_capacity(encoded.len());
        for (i, level) in encoded.split('/').enumerate() {
            if level
                .as_bytes()
                .windows(3)
                .any(|w| matches!(w, [b'%', b'2', b'f' | b'F']))
            {
                return Err(ApiError::bad_request(
                    "invalid_topic",
                    "a topic level cannot contain `/`, so a path cannot hold `%2F`",
                ));
            }
            let level = percent_decode_str(level).decode_utf8().map_err(|_| {
                ApiError::bad_request("invalid_topic", "the topic is not UTF-8 once decoded")
            })?;
            if i > 0 {
                topic.push('/');
            }
            topic.push_str(&level);
        }
        Ok(Self(topic))
    }
}

/// What a level may hold unescaped in a URI path: RFC 3986 `pchar` (unreserved, sub-delims,
/// `:` and `@`), less `%`, which must be escaped when it is part of the topic.
const LEVEL_CHARS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'/');

/// `/topics/{topic}` with each level percent-encoded: a valid URI-reference (an event `source`
/// must be one) that [`TopicPath`] reads back as the same topic.
pub(crate) fn topic_uri(topic: &str) -> String {
    format!("/topics/{}", utf8_percent_encode(topic, LEVEL_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn topic(path: &str) -> Result<String, &'static str> {
        let request = http::Request::get(path).body(()).expect("request");
        let (mut parts, ()) = request.into_parts();
        match TopicPath::from_request_parts(&mut parts, &()).await {
            Ok(TopicPath(topic)) => Ok(topic),
            Err(err) => Err(err.error),
        }
    }

    #[tokio::test]
    async fn levels_are_decoded_but_an_encoded_slash_is_refused() {
        assert_eq!(topic("/topics/a%20b/c").await, Ok("a b/c".into()));
        assert_eq!(topic("/topics/room/%2B").await, Ok("room/+".into()));
        assert_eq!(topic("/topics/a%2fb").await, Err("invalid_topic"));
        assert_eq!(topic("/topics/a%2Fb").await, Err("invalid_topic"));
        assert_eq!(topic("/topics/%FF").await, Err("invalid_topic"));
    }

    #[tokio::test]
    async fn the_source_uri_reads_back_as_the_same_topic() {
        for name in [
            "a b/café",
            "100%/x",
            "q\"{}|^`[]\\",
            "raw/json",
            "a:b@c;d=e",
        ] {
            let uri = topic_uri(name);
            assert!(uri.bytes().all(|b| b.is_ascii_graphic()), "{uri}");
            assert_eq!(topic(&uri).await, Ok(name.to_owned()), "{uri}");
        }
        assert_eq!(topic_uri("a b"), "/topics/a%20b");
    }
}
