//! Hard edges found by attacking the running gateway (issue 7), against the real binary over
//! raw sockets: stalled bodies time out, the connection cap keeps health checks reachable, a
//! declared length over the limit is refused before the body, every such error is JSON, and a
//! stream whose client stopped reading is disconnected.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use switchyard_e2e::client::{get, post};
use switchyard_e2e::{Gateway, eventually, within};

const T: Duration = Duration::from_secs(10);

/// Sends `head` (and `body`) on a fresh connection and returns everything the server wrote
/// until it closed the connection (or `T` passed).
async fn exchange(gw: &Gateway, head: &str, body: &[u8]) -> String {
    let mut tcp = TcpStream::connect(gw.addr).await.expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("head");
    tcp.write_all(body).await.expect("body");
    read_until_close(&mut tcp).await
}

async fn read_until_close(tcp: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match within(T, "the server closes the connection", tcp.read(&mut buf)).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Status line and JSON body of the last response in `raw`.
fn last_response(raw: &str) -> (u16, serde_json::Value) {
    let at = raw.rfind("HTTP/1.1 ").expect("a response");
    let response = &raw[at..];
    let status = response[9..12].parse().expect("status");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json = serde_json::from_str(body.trim())
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {response}"));
    (status, json)
}

fn post_head(extra: &str) -> String {
    format!("POST /topics/edge HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\n{extra}\r\n")
}

#[tokio::test]
async fn bodies_that_stop_part_way_are_answered_408() {
    let gw = Gateway::start_with(Some("http: { body_read_timeout_ms: 300 }\n"));
    let partial = exchange(&gw, &post_head("content-length: 100\r\n"), b"only this").await;
    let (status, json) = last_response(&partial);
    assert_eq!(
        (status, json["error"].as_str()),
        (408, Some("body_timeout")),
        "{partial}"
    );
    let one_chunk = exchange(
        &gw,
        &post_head("transfer-encoding: chunked\r\n"),
        b"3\r\nabc\r\n",
    )
    .await;
    assert_eq!(last_response(&one_chunk).0, 408, "{one_chunk}");
    let expect = exchange(
        &gw,
        &post_head("content-length: 10\r\nexpect: 100-continue\r\n"),
        b"",
    )
    .await;
    assert!(expect.starts_with("HTTP/1.1 100 Continue"), "{expect}");
    assert_eq!(last_response(&expect).0, 408, "{expect}");
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body() {
    let gw = Gateway::start_with(Some("http: { body_limit: 1000 }\n"));
    for extra in ["expect: 100-continue\r\n", ""] {
        // Nothing of the body is sent: the answer must come without it.
        let raw = exchange(
            &gw,
            &post_head(&format!("content-length: 1000000000000\r\n{extra}")),
            b"",
        )
        .await;
        assert!(!raw.contains("100 Continue"), "{raw}");
        let (status, json) = last_response(&raw);
        assert_eq!(
            (status, json["error"].as_str()),
            (413, Some("body_too_large")),
            "{raw}"
        );
    }
}

#[tokio::test]
async fn body_errors_are_json() {
    let gw = Gateway::start_with(Some("http: { body_limit: 1000 }\n"));
    let big = post(
        &gw.url("/topics/edge"),
        &[("content-type", "text/plain")],
        vec![b'x'; 5000],
    )
    .await;
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["error"], "body_too_large");
    // Streamed past the limit without a Content-Length.
    let mut chunked = post_head("transfer-encoding: chunked\r\n").into_bytes();
    for _ in 0..3 {
        chunked.extend_from_slice(b"3e8\r\n");
        chunked.extend_from_slice(&[b'y'; 1000]);
        chunked.extend_from_slice(b"\r\n");
    }
    let raw = exchange(
        &gw,
        std::str::from_utf8(&chunked).expect("ascii"),
        b"0\r\n\r\n",
    )
    .await;
    assert_eq!(last_response(&raw).0, 413, "{raw}");
    let broken = exchange(
        &gw,
        &post_head("transfer-encoding: chunked\r\n"),
        b"zz\r\nabc\r\n",
    )
    .await;
    let (status, json) = last_response(&broken);
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_body")),
        "{broken}"
    );
}

#[tokio::test]
async fn at_the_connection_cap_health_checks_still_answer() {
    let gw = Gateway::start_with(Some("http: { max_connections: 5 }\n"));
    // Five stalled bodies take every slot (their timeout is the default 60 s).
    let mut stalled = Vec::new();
    for _ in 0..5 {
        let mut tcp = TcpStream::connect(gw.addr).await.expect("connect");
        tcp.write_all(post_head("content-length: 100\r\n").as_bytes())
            .await
            .expect("head");
        stalled.push(tcp);
    }
    eventually(T, "the cap reached", || async {
        let metrics = get(&gw.url("/metrics"), &[]).await;
        let text = metrics.text();
        text.contains("switchyard_http_connections_refused_total")
            .then_some(())
    })
    .await;
    let health = get(&gw.url("/healthz"), &[]).await;
    assert_eq!(health.status, 200, "{}", health.text());
    let publish = post(
        &gw.url("/topics/edge"),
        &[("content-type", "text/plain")],
        "x",
    )
    .await;
    assert_eq!(publish.status, 503);
    assert_eq!(publish.json()["error"], "connection_limit");
    assert_eq!(publish.header("connection"), Some("close"));
    drop(stalled);
}

#[tokio::test]
async fn an_sse_client_that_stops_reading_is_disconnected() {
    let gw = Gateway::start_with(Some("hub: { subscriber_queue: 64 }\n"));
    let mut reader = TcpStream::connect(gw.addr).await.expect("connect");
    let head = "GET /topics/flood HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n";
    reader.write_all(head.as_bytes()).await.expect("subscribe");
    let mut first = [0u8; 64];
    within(T, "the stream starts", reader.read(&mut first))
        .await
        .expect("read");
    // Never read again. Publish until the kernel buffers, the gateway's bounded write buffer
    // and then the subscriber's hub queue are full: the hub must drop the connection.
    let batch: Vec<_> = (0..100)
        .map(|i| serde_json::json!({"specversion":"1.0","id":i.to_string(),"source":"/flood","type":"t","data":"z".repeat(4000)}))
        .collect();
    let body = serde_json::Value::from(batch).to_string();
    eventually(
        Duration::from_secs(60),
        "the slow reader disconnected",
        || {
            let (url, body) = (gw.url("/topics/flood"), body.clone());
            let metrics = gw.url("/metrics");
            async move {
                post(
                    &url,
                    &[("content-type", "application/cloudevents-batch+json")],
                    body,
                )
                .await;
                let text = get(&metrics, &[]).await.text();
                text.lines()
                    .any(|l| {
                        l.starts_with("switchyard_http_disconnects_total{reason=\"slow_consumer\"}")
                    })
                    .then_some(())
            }
        },
    )
    .await;
    // What the kernel still holds can be read, then the connection is closed.
    let rest = read_until_close(&mut reader).await;
    assert!(rest.contains("data:"), "events were written before the cut");
}
