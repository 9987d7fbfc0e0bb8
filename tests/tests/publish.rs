//! `POST /topics/{topic}` against the real binary: every CloudEvents mode, wrapping, and every
//! bad input of the contract answered with the right status and a JSON body naming the problem.

use std::time::Duration;

use switchyard_e2e::client::{get, post, publish_event};
use switchyard_e2e::{Gateway, within};

const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";

/// The whole replay window of `topic`, as a JSON array.
async fn window(gw: &Gateway, topic: &str) -> Vec<serde_json::Value> {
    let res = get(&gw.url(&format!("/topics/{topic}?since=0&limit=1000")), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json().as_array().expect("batch").clone()
}

#[tokio::test]
async fn structured_event_is_stored_intact() {
    let gw = Gateway::start();
    let event = serde_json::json!({
        "specversion": "1.0", "id": "e-1", "source": "https://example.com/src", "type": "com.example.created",
        "subject": "orders/17", "time": "2026-11-23T10:00:00.123456+01:00", "datacontenttype": "application/json",
        "dataschema": "https://example.com/schema", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "count": 42, "flag": true, "data": { "amount": 12.5, "tags": ["a", "b"] }
    });
    let res = post(
        &gw.url("/topics/orders/created"),
        &[("content-type", STRUCTURED)],
        event.to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["accepted"], serde_json::json!(["e-1"]));
    assert_eq!(window(&gw, "orders/created").await, vec![event]);
}

#[tokio::test]
async fn binary_event_with_percent_encoded_header_round_trips_to_structured() {
    let gw = Gateway::start();
    let res = post(
        &gw.url("/topics/t"),
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "b-1"),
            ("ce-source", "/s"),
            ("ce-type", "t.binary"),
            ("ce-subject", "Euro%20%E2%82%AC%20%F0%9F%98%80"),
            ("ce-myext", "\"quoted\""),
            ("content-type", "text/plain; charset=utf-8"),
        ],
        "hello text",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let stored = &window(&gw, "t").await[0];
    assert_eq!(stored["subject"], "Euro € 😀");
    assert_eq!(stored["myext"], "quoted");
    assert_eq!(stored["data"], "hello text");
    assert_eq!(stored["datacontenttype"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn binary_data_travels_as_base64() {
    let gw = Gateway::start();
    let bytes: Vec<u8> = (0..=255u8).collect();
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "bin"),
        ("ce-source", "/s"),
        ("ce-type", "t"),
        ("content-type", "application/octet-stream"),
    ];
    assert_eq!(
        post(&gw.url("/topics/bin"), &headers, bytes.clone())
            .await
            .status,
        200
    );
    let stored = &window(&gw, "bin").await[0];
    assert!(stored.get("data").is_none());
    assert!(
        stored["data_base64"]
            .as_str()
            .expect("base64")
            .starts_with("AAECAwQF")
    );
}

#[tokio::test]
async fn raw_body_is_wrapped_in_a_new_event() {
    let gw = Gateway::start();
    let res = post(
        &gw.url("/topics/raw/json"),
        &[("content-type", "application/json")],
        r#"{"temp": 21.5}"#,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let id = res.json()["accepted"][0].as_str().expect("id").to_owned();
    let stored = &window(&gw, "raw/json").await[0];
    assert_eq!(stored["id"], id.as_str());
    assert_eq!(stored["source"], "/topics/raw/json");
    assert_eq!(stored["type"], "dev.switchyard.http.message");
    assert_eq!(stored["data"], serde_json::json!({ "temp": 21.5 }));
    assert!(stored["time"].as_str().expect("time").ends_with('Z'));
}

#[tokio::test]
async fn batch_is_all_or_nothing() {
    let gw = Gateway::start();
    let good = |id: &str| serde_json::json!({ "specversion": "1.0", "id": id, "source": "/b", "type": "t" });
    let bad = serde_json::json!([good("1"), good("2"), { "specversion": "1.0", "id": "", "source": "/b", "type": "t" }]);
    let res = post(
        &gw.url("/topics/batch"),
        &[("content-type", BATCH)],
        bad.to_string(),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(
        res.json()["message"]
            .as_str()
            .expect("message")
            .contains("event 2"),
        "{}",
        res.text()
    );
    assert!(
        window(&gw, "batch").await.is_empty(),
        "a rejected batch delivered events"
    );

    let ok = serde_json::json!([good("1"), good("2"), good("3")]);
    let res = post(
        &gw.url("/topics/batch"),
        &[("content-type", BATCH)],
        ok.to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["accepted"], serde_json::json!(["1", "2", "3"]));
    assert_eq!(window(&gw, "batch").await.len(), 3);

    let res = post(&gw.url("/topics/batch"), &[("content-type", BATCH)], "[]").await;
    assert_eq!(res.status, 200, "an empty batch is valid: {}", res.text());
}

/// One bad input: what it is, content type, extra headers, body, expected status, and a word
/// the error must name.
type BadInput<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    String,
    u16,
    &'a str,
);

#[tokio::test]
async fn bad_inputs_get_clear_errors() {
    let gw = Gateway::start();
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let cases: Vec<BadInput> = vec![
        ("missing id", STRUCTURED, vec![], r#"{"specversion":"1.0","source":"/s","type":"t"}"#.into(), 400, "id"),
        ("empty source", STRUCTURED, vec![], r#"{"specversion":"1.0","id":"1","source":"","type":"t"}"#.into(), 400, "source"),
        ("wrong specversion", STRUCTURED, vec![], r#"{"specversion":"0.3","id":"1","source":"/s","type":"t"}"#.into(), 400, "specversion"),
        ("bad extension name", STRUCTURED, vec![], r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","Bad_Name":"x"}"#.into(), 400, "Bad_Name"),
        ("data and data_base64", STRUCTURED, vec![], r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":1,"data_base64":"AA=="}"#.into(), 400, "data_base64"),
        ("malformed JSON", STRUCTURED, vec![], r#"{"specversion":"1.0","#.into(), 400, "JSON"),
        ("deep nesting", STRUCTURED, vec![], format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{deep}}}"#), 400, "nested"),
        ("bad percent-encoding", "text/plain", vec![("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "/s"), ("ce-type", "t"), ("ce-subject", "bad%zz")], "x".into(), 400, "subject"),
        ("overlong UTF-8 in header", "text/plain", vec![("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "/s"), ("ce-type", "t"), ("ce-subject", "%C0%A0")], "x".into(), 400, "subject"),
        ("binary missing type", "text/plain", vec![("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "/s")], "x".into(), 400, "type"),
        ("invalid JSON data in binary mode", "application/json", vec![("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "/s"), ("ce-type", "t")], "{nope".into(), 400, "JSON"),
        ("avro batch", "application/cloudevents-batch+avro", vec![], "[]".into(), 415, "avro"),
        ("avro structured", "application/cloudevents+avro", vec![], "{}".into(), 415, "avro"),
    ];
    for (what, ct, extra, body, status, needle) in cases {
        let mut headers = vec![("content-type", ct)];
        headers.extend(extra);
        let res = post(&gw.url("/topics/bad"), &headers, body).await;
        assert_eq!(res.status, status, "{what}: {}", res.text());
        let json = res.json();
        let text = json.to_string();
        assert!(
            json["error"].is_string() && json["message"].is_string(),
            "{what}: {text}"
        );
        assert!(
            text.contains(needle),
            "{what}: error should name `{needle}`: {text}"
        );
    }
    assert!(
        window(&gw, "bad").await.is_empty(),
        "a bad input was delivered"
    );
}

#[tokio::test]
async fn bad_topics_are_refused() {
    let gw = Gateway::start();
    for topic in ["a/%2B/b", "a/%23", "a//b", "%24SYS/x"] {
        let res = post(
            &gw.url(&format!("/topics/{topic}")),
            &[("content-type", "text/plain")],
            "x",
        )
        .await;
        assert_eq!(res.status, 400, "{topic}: {}", res.text());
        assert_eq!(res.json()["error"], "invalid_topic", "{topic}");
    }
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let gw = Gateway::start_with(Some("http: { body_limit: 1024 }\n"));
    let res = post(
        &gw.url("/topics/big"),
        &[("content-type", "text/plain")],
        vec![b'x'; 4096],
    )
    .await;
    assert_eq!(res.status, 413);
    let ok = post(
        &gw.url("/topics/big"),
        &[("content-type", "text/plain")],
        vec![b'x'; 512],
    )
    .await;
    assert_eq!(ok.status, 200);
}

/// A 1 GiB body announced by Content-Length is refused after at most the limit is read: the
/// answer comes while most of the body was never sent.
#[tokio::test]
async fn oversized_body_is_refused_without_buffering_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::start();
    let mut tcp = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let head = "POST /topics/big HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 1073741824\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.expect("write head");
    tcp.write_all(&vec![b'x'; 2 << 20]).await.ok();
    let mut answer = vec![0; 64];
    let n = within(Duration::from_secs(10), "413 answer", tcp.read(&mut answer))
        .await
        .expect("read");
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
}

#[tokio::test]
async fn unrouted_publish_is_a_counted_no_route() {
    let gw = Gateway::start_with(Some(
        "routes:\n  - { name: only-orders, topics: 'orders/#', to: hub }\n",
    ));
    let res = post(
        &gw.url("/topics/other"),
        &[("content-type", "text/plain")],
        "x",
    )
    .await;
    assert_eq!(res.status, 404, "{}", res.text());
    assert_eq!(res.json()["error"], "no_route");
    let metrics = get(&gw.url("/metrics"), &[]).await.text();
    assert!(
        metrics.lines().any(|l| l.starts_with("switchyard_events_total") && l.contains("outcome=\"no_route\"")),
        "{metrics}"
    );
}

/// Senders that do not percent-encode (most SDKs) send `100%` as it is: refused by default,
/// kept literally with `http.header_decoding: lenient`.
#[tokio::test]
async fn lenient_header_decoding_keeps_a_stray_percent() {
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "p-1"),
        ("ce-source", "/s"),
        ("ce-type", "t"),
        ("ce-subject", "100% sure"),
        ("content-type", "text/plain"),
    ];
    let strict = Gateway::start();
    assert_eq!(
        post(&strict.url("/topics/pct"), &headers, "x").await.status,
        400
    );
    let lenient = Gateway::start_with(Some("http: { header_decoding: lenient }\n"));
    let res = post(&lenient.url("/topics/pct"), &headers, "x").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(window(&lenient, "pct").await[0]["subject"], "100% sure");
}

/// `routes[].rate_limit`: one bucket for the route, whoever publishes; another route is not
/// slowed.
#[tokio::test]
async fn a_route_over_its_rate_refuses_with_429_and_other_routes_are_not_slowed() {
    let yaml = "routes:\n  - { name: slow, topics: \"slow/#\", to: hub, rate_limit: { per_s: 0.01, burst: 2 } }\n  - { name: free, topics: \"free/#\", to: hub }\n";
    let gw = Gateway::start_with(Some(yaml));
    let base = gw.url("");
    for id in ["s-0", "s-1"] {
        assert_eq!(publish_event(&base, "slow/a", id).await.status, 200);
    }
    let res = post(
        &gw.url("/topics/slow/a"),
        &[("content-type", "text/plain")],
        "over",
    )
    .await;
    assert_eq!(res.status, 429, "{}", res.text());
    assert!(res.header("retry-after").is_some());
    for id in ["f-0", "f-1", "f-2"] {
        assert_eq!(publish_event(&base, "free/a", id).await.status, 200);
    }
}
