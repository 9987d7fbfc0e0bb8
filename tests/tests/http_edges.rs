//! Edges of HTTP and WebSocket against the real binary, mostly over raw sockets so that nothing
//! between the test and the gateway tidies the request up: the Host rule, transfer codings,
//! percent-encoded topic paths, WebSocket versions and the close handshake.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use switchyard_e2e::client::{get, post};
use switchyard_e2e::{Gateway, within};

const T: Duration = Duration::from_secs(10);

/// An answer read off a raw socket.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    /// Header lines, names lowercased.
    headers: Vec<(String, String)>,
    /// Lossily decoded, so a failure message shows it as text.
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {}", self.status, self.body))
    }
}

/// Writes `request` byte for byte on a fresh connection and reads one answer: until its
/// Content-Length is complete, or the server closes the connection.
async fn raw(gw: &Gateway, request: &[u8]) -> RawResponse {
    let mut tcp = TcpStream::connect(gw.addr).await.expect("connect");
    tcp.write_all(request).await.expect("write request");
    let mut got = Vec::new();
    within(T, "a complete answer", async {
        loop {
            if let Some(response) = parse(&got) {
                return response;
            }
            let mut chunk = [0; 4096];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    return parse_to_end(&got).unwrap_or_else(|| {
                        panic!("no answer: {:?}", String::from_utf8_lossy(&got))
                    });
                }
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
}

/// The answer in `bytes` if its head and its Content-Length of body are all there.
fn parse(bytes: &[u8]) -> Option<RawResponse> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let length: usize = parse_to_end(bytes)?
        .header("content-length")?
        .parse()
        .ok()?;
    parse_to_end(bytes.get(..end + length)?)
}

/// The head in `bytes` and everything after it as the body.
fn parse_to_end(bytes: &[u8]) -> Option<RawResponse> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes[end + 4..]).into_owned(),
    })
}

fn assert_error(res: &RawResponse, status: u16, code: &str) {
    assert_eq!(res.status, status, "{res:?}");
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.json()["error"], code, "{res:?}");
}

/// The whole replay window of `topic` (as a URL path), as a JSON array.
async fn window(gw: &Gateway, topic: &str) -> Vec<serde_json::Value> {
    let res = get(&gw.url(&format!("/topics/{topic}?since=0")), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json().as_array().expect("batch").clone()
}

#[tokio::test]
async fn http11_needs_exactly_one_host() {
    let gw = Gateway::start();
    let none = raw(&gw, b"GET /topics/h HTTP/1.1\r\nconnection: close\r\n\r\n").await;
    assert_error(&none, 400, "invalid_host");
    let two = b"GET /topics/h HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n";
    assert_error(&raw(&gw, two).await, 400, "invalid_host");
    let bad = b"GET /topics/h HTTP/1.1\r\nhost: a b\r\nconnection: close\r\n\r\n";
    assert_error(&raw(&gw, bad).await, 400, "invalid_host");
    // HTTP/1.0 predates Host; one Host is what HTTP/1.1 asks for.
    let old = raw(&gw, b"GET /topics/h HTTP/1.0\r\n\r\n").await;
    assert_eq!(old.status, 200, "{old:?}");
    let one = raw(
        &gw,
        b"GET /topics/h HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(one.status, 200, "{one:?}");
}

#[tokio::test]
async fn transfer_codings_other_than_chunked_get_501() {
    let gw = Gateway::start();
    // A gzip member (the bytes do not matter: they must not be taken as the event's data).
    let body = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcbH\xcd\xc9\xc9\x07\x00\x86\xa6\x106\x05\x00\x00\x00";
    let mut request = format!(
        "POST /topics/te HTTP/1.1\r\nhost: a\r\ncontent-type: text/plain\r\ntransfer-encoding: gzip, chunked\r\nconnection: close\r\n\r\n{:x}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_error(
        &raw(&gw, &request).await,
        501,
        "unsupported_transfer_coding",
    );
    assert_eq!(window(&gw, "te").await, Vec::<serde_json::Value>::new());

    let plain = b"POST /topics/te HTTP/1.1\r\nhost: a\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let ok = raw(&gw, plain).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(window(&gw, "te").await[0]["data"], "hello");
}

/// Writes `request` on a fresh connection and reads until the server closes it (or a
/// deadline: then the connection was left open, which these tests count as a failure).
async fn raw_to_close(gw: &Gateway, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(gw.addr).await.expect("connect");
    tcp.write_all(request).await.expect("write request");
    let mut got = Vec::new();
    within(
        T,
        "the server to close the connection",
        tcp.read_to_end(&mut got),
    )
    .await
    .expect("read");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_request_is_never_read_two_ways() {
    let gw = Gateway::start();
    // Content-Length and Transfer-Encoding: the chunked body is used (RFC 9112 §6.1), and the
    // connection closes after the answer, so what follows is never read as a second request.
    let both = b"POST /topics/sm HTTP/1.1\r\nhost: a\r\ncontent-type: text/plain\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nhost: a\r\n\r\n";
    let answer = raw_to_close(&gw, both).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        answer.matches("HTTP/1.1").count(),
        1,
        "no smuggled answer: {answer}"
    );
    assert_eq!(
        window(&gw, "sm").await[0]["data"],
        "hello",
        "the chunked body, not 3 bytes"
    );
    // Two different Content-Lengths: 400, and the connection closed.
    let twice = b"POST /topics/sm2 HTTP/1.1\r\nhost: a\r\ncontent-type: text/plain\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!GET /healthz HTTP/1.1\r\nhost: a\r\n\r\n";
    let answer = raw_to_close(&gw, twice).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
    assert_eq!(window(&gw, "sm2").await, Vec::<serde_json::Value>::new());
    // The allowed twin: one Content-Length.
    let once = b"POST /topics/sm3 HTTP/1.1\r\nhost: a\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
    assert!(raw_to_close(&gw, once).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn percent_encoded_levels_are_decoded_and_the_source_stays_a_uri() {
    let gw = Gateway::start();
    let res = post(
        &gw.url("/topics/a%20b/caf%C3%A9"),
        &[("content-type", "text/plain")],
        "x",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let stored = window(&gw, "a%20b/caf%C3%A9").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["source"], "/topics/a%20b/caf%C3%A9");
    // The same topic, however it is spelled in the URL.
    assert_eq!(window(&gw, "a%20b/café").await, stored);
    // The gateway takes its own wrapped event back: its source is a valid URI-reference.
    let again = post(
        &gw.url("/topics/copy"),
        &[("content-type", "application/cloudevents+json")],
        stored[0].to_string(),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text());
}

#[tokio::test]
async fn an_encoded_slash_is_refused_not_taken_as_a_level_separator() {
    let gw = Gateway::start();
    for path in ["/topics/a%2fb", "/topics/a%2Fb", "/topics/x/%2F"] {
        let res = post(&gw.url(path), &[("content-type", "text/plain")], "x").await;
        assert_eq!(res.status, 400, "POST {path}: {}", res.text());
        assert_eq!(res.json()["error"], "invalid_topic", "POST {path}");
        let res = get(&gw.url(path), &[]).await;
        assert_eq!(res.status, 400, "GET {path}: {}", res.text());
        assert_eq!(res.json()["error"], "invalid_topic", "GET {path}");
    }
    assert_eq!(window(&gw, "a/b").await, Vec::<serde_json::Value>::new());
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_a_json_400() {
    let gw = Gateway::start();
    for method in ["GET", "POST"] {
        let request = format!(
            "{method} /topics/a/%FF%FE HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let res = raw(&gw, request.as_bytes()).await;
        assert_error(&res, 400, "invalid_topic");
    }
}

fn upgrade_request(version: &str, key: Option<&str>) -> Vec<u8> {
    let key = key
        .map(|k| format!("sec-websocket-key: {k}\r\n"))
        .unwrap_or_default();
    format!(
        "GET /topics/v HTTP/1.1\r\nhost: a\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: {version}\r\n{key}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn another_websocket_version_gets_426_naming_13() {
    let gw = Gateway::start();
    let res = raw(&gw, &upgrade_request("8", Some("dGhlIHNhbXBsZSBub25jZQ=="))).await;
    assert_error(&res, 426, "unsupported_websocket_version");
    assert_eq!(res.header("sec-websocket-version"), Some("13"));
    // Other refused upgrades are JSON errors too.
    let res = raw(&gw, &upgrade_request("13", None)).await;
    assert_error(&res, 400, "invalid_upgrade");
}

#[tokio::test]
async fn a_client_close_is_echoed_with_its_code() {
    let gw = Gateway::start();
    for code in [Some(1000), Some(3000), Some(4999), None] {
        let (mut ws, _) = connect_async(format!("ws://{}/topics/bye", gw.addr))
            .await
            .expect("websocket connects");
        let frame = code.map(|code| CloseFrame {
            code: code.into(),
            reason: "bye".into(),
        });
        ws.close(frame).await.expect("send close");
        let echo = loop {
            match within(T, "the server's close frame", ws.next()).await {
                Some(Ok(Message::Close(echo))) => break echo,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("close {code:?}: expected a close frame, got {other:?}"),
            }
        };
        assert_eq!(echo.map(|f| u16::from(f.code)), code);
        // Then the server ends the connection.
        let end = within(T, "the server to close TCP", ws.next()).await;
        assert!(end.is_none(), "close {code:?}: after the echo came {end:?}");
    }
}
