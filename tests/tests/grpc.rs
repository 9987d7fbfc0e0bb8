//! gRPC through the real binary with Python's grpcio on the far side (stubs compiled from the
//! repository's proto/ by grpcio-tools, as the README tells Python users): publish unary and
//! batch, subscribe with resume, every error's status code, health (NOT_SERVING on drain),
//! reflection, the de-facto CloudEventService, and identical events across gRPC and SSE/HTTP.

use std::time::Duration;

use switchyard_e2e::Gateway;
use switchyard_e2e::client::post;
use switchyard_e2e::python::{self, GrpcProcess, unique};
use switchyard_e2e::receiver::Receiver;
use switchyard_e2e::sse::SseStream;

const T: Duration = Duration::from_secs(30);

fn gateway(extra: &str) -> (Gateway, String) {
    let yaml = format!("listen: {{ grpc: \"127.0.0.1:0\" }}\n{extra}");
    let gw = Gateway::start_with(Some(&yaml));
    let addr = gw.grpc_addr().to_string();
    (gw, addr)
}

fn one(lines: Vec<serde_json::Value>) -> serde_json::Value {
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.into_iter().next().expect("one line")
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_publish_reaches_sse_with_every_attribute_and_byte() {
    let (gw, addr) = gateway("");
    let mut sse = SseStream::connect(&gw.url("/topics/rich/%23"), &[]).await;
    let reply = one(python::grpc(&["publish-rich", &addr, "rich/one"]));
    assert_eq!(reply["accepted"], serde_json::json!(["rich-1"]));
    let got = sse.next_event(T).await.expect("event over SSE").json();
    let expected = serde_json::json!({
        "specversion": "1.0", "id": "rich-1", "source": "/interop/grpcio", "type": "com.example.rich",
        "subject": "s-1", "time": "2023-11-14T22:13:20.005Z", "dataschema": "https://schema.example/r",
        "datacontenttype": "application/octet-stream",
        "flag": true, "count": -42, "label": "é ü", "blob": "AAH+", "link": "/rel/x",
    });
    for (name, value) in expected.as_object().expect("object") {
        assert_eq!(&got[name], value, "attribute {name} in {got}");
    }
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .decode(got["data_base64"].as_str().expect("data_base64"))
        .expect("base64");
    assert_eq!(data, (0..=255u8).collect::<Vec<u8>>(), "data byte for byte");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_publish_reaches_a_grpc_subscriber_identically() {
    let (gw, addr) = gateway("");
    let sub = GrpcProcess::start(&["subscribe", &addr, "feed/#", "2", "30"]).await;
    let structured = r#"{"specversion":"1.0","id":"h-1","source":"/http","type":"com.example.a","subject":"s","time":"2024-05-01T10:00:00.123+02:00","datacontenttype":"application/json","flag":false,"n":7,"tag":"x","data":{"a":[1,2]}}"#;
    let res = post(
        &gw.url("/topics/feed/a"),
        &[("content-type", "application/cloudevents+json")],
        structured,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "h-2"),
        ("ce-source", "/http"),
        ("ce-type", "com.example.b"),
        ("content-type", "text/plain; charset=utf-8"),
    ];
    let res = post(&gw.url("/topics/feed/b"), &headers, "héllo\nworld").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let lines = sub.lines().await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first = &lines[0]["event"];
    assert_eq!(first["id"], "h-1");
    assert_eq!(first["spec_version"], "1.0");
    let attrs = &first["attributes"];
    assert_eq!(
        attrs["time"],
        serde_json::json!(["ce_timestamp", "2024-05-01T08:00:00.123Z"])
    );
    assert_eq!(attrs["flag"], serde_json::json!(["ce_boolean", false]));
    assert_eq!(attrs["n"], serde_json::json!(["ce_integer", 7]));
    assert_eq!(attrs["tag"], serde_json::json!(["ce_string", "x"]));
    assert_eq!(attrs["subject"], serde_json::json!(["ce_string", "s"]));
    assert_eq!(
        attrs["datacontenttype"],
        serde_json::json!(["ce_string", "application/json"])
    );
    assert_eq!(
        first["data"],
        serde_json::json!({"text_data": "{\"a\":[1,2]}"})
    );
    let second = &lines[1]["event"];
    assert_eq!(second["id"], "h-2");
    assert_eq!(
        second["data"],
        serde_json::json!({"text_data": "héllo\nworld"})
    );
    assert!(lines[1]["cursor"].as_u64() > lines[0]["cursor"].as_u64());
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_resumes_from_a_cursor_with_exactly_the_missed_events() {
    let (_gw, addr) = gateway("");
    let topic = format!("resume/{}", unique("t"));
    let published = python::grpc(&["publish", &addr, &topic, "6", "r-", "--batch", "3"]);
    assert_eq!(published.len(), 2, "{published:?}");
    let all = GrpcProcess::start(&["subscribe", &addr, &topic, "6", "30", "--since", "0"])
        .await
        .lines()
        .await;
    let ids: Vec<&str> = all
        .iter()
        .map(|l| l["event"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["r-0", "r-1", "r-2", "r-3", "r-4", "r-5"]);
    let cursor = all[2]["cursor"].to_string();
    // Live events published after the resume point follow the replayed ones, once each.
    let resumed =
        GrpcProcess::start(&["subscribe", &addr, &topic, "4", "30", "--since", &cursor]).await;
    python::grpc(&["publish", &addr, &topic, "1", "late-"]);
    let lines = resumed.lines().await;
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["event"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["r-3", "r-4", "r-5", "late-0"]);
    assert!(lines.iter().all(|l| l["reset"] == false));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_group_splits_events_between_its_members() {
    let (_gw, addr) = gateway("");
    let topic = format!("work/{}", unique("g"));
    let a = GrpcProcess::start(&["subscribe", &addr, &topic, "100", "5", "--group", "g"]).await;
    let b = GrpcProcess::start(&["subscribe", &addr, &topic, "100", "5", "--group", "g"]).await;
    python::grpc(&["publish", &addr, &topic, "20", "w-", "--batch", "5"]);
    let (a, b) = (a.lines().await, b.lines().await);
    let mut ids: Vec<String> = a
        .iter()
        .chain(&b)
        .filter_map(|l| l["event"]["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("w-{i}")).collect();
    expected.sort();
    assert_eq!(ids, expected, "each event to exactly one member");
    let got =
        |lines: &[serde_json::Value]| lines.iter().filter(|l| l.get("event").is_some()).count();
    assert!(
        got(&a) > 0 && got(&b) > 0,
        "both members got some: {} / {}",
        got(&a),
        got(&b)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_map_to_grpc_status_codes() {
    let refusing = Receiver::start_with(|_, _, _| 400).await;
    let slow = Receiver::start_slow(Duration::from_secs(5)).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let config = format!(
        r#"outbounds:
  refusing: {{ type: webhook, url: "http://{}/", retry: {{ attempts: 1 }} }}
  down: {{ type: webhook, url: "http://{closed}/", retry: {{ attempts: 1 }} }}
  slow: {{ type: webhook, url: "http://{}/", timeout_ms: 300, retry: {{ attempts: 1 }} }}
  patient: {{ type: webhook, url: "http://{}/", timeout_ms: 20000, retry: {{ attempts: 1 }} }}
routes:
  - {{ name: ok, from: grpc, topics: "ok/#", to: hub }}
  - {{ name: refused, from: grpc, topics: "refused/#", to: refusing }}
  - {{ name: down, from: grpc, topics: "down/#", to: down }}
  - {{ name: slow, from: grpc, topics: "slow/#", to: slow }}
  - {{ name: patient, from: grpc, topics: "patient/#", to: patient }}
"#,
        refusing.addr, slow.addr, slow.addr
    );
    let (_gw, addr) = gateway(&config);
    let call = |topic: &str, case: &str, timeout: &str| {
        one(python::grpc(&[
            "call",
            &addr,
            topic,
            case,
            "--timeout",
            timeout,
        ]))
    };
    assert_eq!(call("ok/a", "ok", "30")["code"], "OK");
    let invalid = call("ok/a", "invalid", "30");
    assert_eq!(invalid["code"], "INVALID_ARGUMENT");
    assert_eq!(invalid["metadata"]["attribute"], "id", "{invalid}");
    assert_eq!(call("ok/a", "no-event", "30")["code"], "INVALID_ARGUMENT");
    assert_eq!(call("ok/+", "ok", "30")["code"], "INVALID_ARGUMENT");
    assert_eq!(call("ok/a", "big", "30")["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(call("nowhere/a", "ok", "30")["code"], "NOT_FOUND");
    assert_eq!(call("refused/a", "ok", "30")["code"], "FAILED_PRECONDITION");
    let down = call("down/a", "ok", "30");
    assert_eq!(down["code"], "UNAVAILABLE", "{down}");
    let after: u64 = down["metadata"]["retry-after"]
        .as_str()
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!(after >= 1);
    assert_eq!(call("slow/a", "ok", "30")["code"], "DEADLINE_EXCEEDED");
    // The client's own deadline bounds the delivery.
    assert_eq!(call("patient/a", "ok", "0.5")["code"], "DEADLINE_EXCEEDED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_is_validated_whole_before_any_event_is_delivered() {
    let (gw, addr) = gateway("");
    let mut sse = SseStream::connect(&gw.url("/topics/batch/%23"), &[]).await;
    let bad = one(python::grpc(&["call", &addr, "batch/a", "bad-batch"]));
    assert_eq!(bad["code"], "INVALID_ARGUMENT", "{bad}");
    assert!(
        bad["details"]
            .as_str()
            .expect("details")
            .contains("event 1"),
        "{bad}"
    );
    python::grpc(&["publish", &addr, "batch/a", "1", "after-"]);
    let first = sse.next_event(T).await.expect("event").json();
    assert_eq!(
        first["id"], "after-0",
        "nothing of the bad batch was delivered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_serves_then_goes_not_serving_on_drain_and_reflection_lists_services() {
    let (mut gw, addr) = gateway("");
    assert_eq!(one(python::grpc(&["health", &addr]))["status"], "SERVING");
    assert_eq!(
        one(python::grpc(&["health", &addr, "switchyard.v1.Gateway"]))["status"],
        "SERVING"
    );
    assert_eq!(
        one(python::grpc(&["health", &addr, "http"]))["status"],
        "SERVING"
    );
    let services = one(python::grpc(&["reflect", &addr]));
    for name in [
        "switchyard.v1.Gateway",
        "io.cloudevents.v1.CloudEventService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services["services"]
                .as_array()
                .expect("list")
                .iter()
                .any(|s| s == name),
            "{name} in {services}"
        );
    }
    let watch = GrpcProcess::start(&["watch", &addr, "2", "30"]).await;
    assert_eq!(gw.terminate(), Some(0));
    let statuses: Vec<String> = watch
        .lines()
        .await
        .iter()
        .map(|l| l["status"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(statuses, ["SERVING", "NOT_SERVING"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_streams_end_with_unavailable_on_drain() {
    let (mut gw, addr) = gateway("");
    let sub = GrpcProcess::start(&["subscribe", &addr, "drain/#", "100", "30"]).await;
    python::grpc(&["publish", &addr, "drain/a", "2", "d-"]);
    assert_eq!(gw.terminate(), Some(0));
    let lines = sub.lines().await;
    let ids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["event"]["id"].as_str())
        .collect();
    assert_eq!(ids, ["d-0", "d-1"]);
    assert_eq!(
        lines.last().expect("end")["code"],
        "UNAVAILABLE",
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cloudevent_service_publishes_and_subscribes_by_source() {
    let (_gw, addr) = gateway("");
    let source = format!("/fleet/{}", unique("a"));
    let sub =
        GrpcProcess::start(&["ce-subscribe", &addr, &source, "2", "30", "--cluster", "c1"]).await;
    let done = one(python::grpc(&["ce-publish", &addr, &source, "4", "ce-"]));
    assert_eq!(done["published"], 4);
    let ids: Vec<String> = sub
        .lines()
        .await
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, ["ce-0", "ce-2"], "cluster c1 only");
}

/// The protobuf event format outside gRPC: `POST /topics/{topic}` takes
/// `application/cloudevents+protobuf` and its batch form, bytes made by Python's protobuf.
#[tokio::test(flavor = "multi_thread")]
async fn http_publish_takes_the_protobuf_format_and_its_batch() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let gw = Gateway::start();
    let mut sse = SseStream::connect(&gw.url("/topics/pb/%23"), &[]).await;
    let rich = one(python::grpc(&["encode", "rich"]));
    let body = b64
        .decode(rich["base64"].as_str().expect("b64"))
        .expect("base64");
    let ct = [("content-type", "application/cloudevents+protobuf")];
    let res = post(&gw.url("/topics/pb/one"), &ct, body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let got = sse.next_event(T).await.expect("event").json();
    assert_eq!(got["id"], "rich-1");
    assert_eq!(got["count"], -42);
    assert_eq!(got["time"], "2023-11-14T22:13:20.005Z");
    let batch = one(python::grpc(&["encode", "batch"]));
    let body = b64
        .decode(batch["base64"].as_str().expect("b64"))
        .expect("base64");
    let ct = [("content-type", "application/cloudevents-batch+protobuf")];
    let res = post(&gw.url("/topics/pb/many"), &ct, body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["accepted"],
        serde_json::json!(["pb-0", "pb-1", "pb-2"])
    );
    let res = post(
        &gw.url("/topics/pb/bad"),
        &[("content-type", "application/cloudevents+protobuf")],
        "not protobuf",
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
}

/// The WebSocket subprotocol `cloudevents.proto`: binary frames in the protobuf format, both
/// ways; Python's protobuf writes what is sent and reads what comes back.
#[tokio::test(flavor = "multi_thread")]
async fn websocket_speaks_cloudevents_proto_in_binary_frames() {
    use base64::Engine as _;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let b64 = base64::engine::general_purpose::STANDARD;
    let gw = Gateway::start();
    let mut req = format!("ws://{}/topics/wspb/a", gw.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "cloudevents.proto, cloudevents.json"
            .parse()
            .expect("header"),
    );
    let (mut ws, res) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connects");
    assert_eq!(res.headers()["sec-websocket-protocol"], "cloudevents.proto");
    let rich = one(python::grpc(&["encode", "rich"]));
    let frame = b64
        .decode(rich["base64"].as_str().expect("b64"))
        .expect("base64");
    ws.send(Message::Binary(frame.into())).await.expect("send");
    let received = loop {
        match switchyard_e2e::within(T, "binary frame", ws.next())
            .await
            .expect("open")
            .expect("ok")
        {
            Message::Binary(bytes) => break bytes,
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    let view = one(python::grpc(&["decode", &b64.encode(&received)]));
    // Every attribute and byte comes back; extensions of the types the model keeps as strings
    // (bytes, URI-reference) come back as `ce_string` in their canonical form (README).
    let mut expected = rich["view"].clone();
    expected["attributes"]["blob"] = serde_json::json!(["ce_string", "AAH+"]);
    expected["attributes"]["link"] = serde_json::json!(["ce_string", "/rel/x"]);
    assert_eq!(
        view, expected,
        "the event came back attribute for attribute"
    );
    ws.send(Message::Text("{}".into())).await.expect("send");
    match switchyard_e2e::within(T, "close", ws.next())
        .await
        .expect("open")
        .expect("ok")
    {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1003),
        other => panic!("expected close 1003, got {other:?}"),
    }
}

/// A subscriber that stops reading is ended by the hub once its queue is full: after what it
/// had, the stream ends RESOURCE_EXHAUSTED, and a resume from its last cursor gets exactly the
/// rest.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_subscriber_ends_resource_exhausted_and_resumes_from_its_cursor() {
    const EVENTS: usize = 600;
    let (gw, addr) = gateway(
        "hub: { subscriber_queue: 8, replay_bytes: 67108864 }\nhttp: { body_limit: 8388608 }\n",
    );
    let topic = format!("stall/{}", unique("s"));
    let mut stalled =
        GrpcProcess::start(&["subscribe", &addr, &topic, "100000", "60", "--hold"]).await;
    // 32 KiB each, far more than HTTP/2 flow control and the queue hold together.
    let data = "x".repeat(32 * 1024);
    for chunk in 0..EVENTS / 100 {
        let batch: Vec<serde_json::Value> = (chunk * 100..(chunk + 1) * 100)
            .map(|i| serde_json::json!({"specversion": "1.0", "id": format!("s-{i}"), "source": "/t", "type": "t", "data": data}))
            .collect();
        let url = gw.url(&format!("/topics/{topic}"));
        let ct = [("content-type", "application/cloudevents-batch+json")];
        let res = post(&url, &ct, serde_json::Value::from(batch).to_string()).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    stalled.release();
    let lines = stalled.lines().await;
    let end = lines.last().expect("lines");
    assert_eq!(end["code"], "RESOURCE_EXHAUSTED", "{end}");
    assert!(
        end["details"]
            .as_str()
            .expect("details")
            .contains("slow consumer"),
        "{end}"
    );
    let got: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("event").is_some()).collect();
    assert!(
        got.len() < EVENTS,
        "the stream ended early: {} of {EVENTS}",
        got.len()
    );
    let last = got.last().expect("some events")["cursor"].to_string();
    let first_missing = got.len();
    let rest = EVENTS - first_missing;
    let resumed = GrpcProcess::start(&[
        "subscribe",
        &addr,
        &topic,
        &rest.to_string(),
        "30",
        "--since",
        &last,
    ])
    .await
    .lines()
    .await;
    let ids: Vec<&str> = got
        .iter()
        .copied()
        .chain(&resumed)
        .map(|l| l["event"]["id"].as_str().expect("an event, no reset"))
        .collect();
    let expected: Vec<String> = (0..EVENTS).map(|i| format!("s-{i}")).collect();
    assert_eq!(
        ids, expected,
        "every event once, in order, across the resume"
    );
}

/// The drain lets a unary call under way finish (its sink is slow), inside the grace.
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_under_way_when_the_drain_starts_still_succeeds() {
    let slow = Receiver::start_slow(Duration::from_millis(1500)).await;
    let config = format!(
        "outbounds:\n  slow: {{ type: webhook, url: \"http://{}/\", retry: {{ attempts: 1 }} }}\nroutes:\n  - {{ name: r, from: grpc, to: slow }}\n",
        slow.addr
    );
    let (mut gw, addr) = gateway(&config);
    let call = tokio::task::spawn_blocking(move || python::grpc(&["call", &addr, "slow/a", "ok"]));
    switchyard_e2e::eventually(T, "the call reached the sink", || {
        let slow = slow.clone();
        async move { (slow.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0).then_some(()) }
    })
    .await;
    let exited = tokio::task::spawn_blocking(move || gw.terminate());
    let reply = one(call.await.expect("join"));
    assert_eq!(reply["code"], "OK", "{reply}");
    assert_eq!(exited.await.expect("join"), Some(0));
}
