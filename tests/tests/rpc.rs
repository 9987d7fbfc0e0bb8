//! Request-reply across protocols (`POST /rpc/{topic}`): the reply of the service behind the
//! route is the response. The services are independent: Python's http.server with the
//! CloudEvents SDK, a pika RPC server, a paho-mqtt MQTT 5 responder.

use std::time::Duration;

use switchyard_e2e::Gateway;
use switchyard_e2e::client::{get, post};
use switchyard_e2e::python::RpcService;

const REQUEST: &str = r#"{"specversion":"1.0","id":"rq-1","source":"/caller","type":"com.example.ask","data":{"q":42}}"#;

fn webhook_config(port: &str, path: &str) -> String {
    format!(
        "outbounds:\n  svc: {{ type: webhook, url: \"http://127.0.0.1:{port}{path}\", timeout_ms: 5000 }}\nroutes:\n  - {{ name: ask, topics: \"ask/#\", to: svc }}\n  - {{ name: feed, topics: \"feed/#\", to: hub }}\n"
    )
}

#[tokio::test]
async fn http_to_an_http_backend_answers_with_its_reply_in_binary_mode() {
    let svc = RpcService::start(&["http"]).await;
    let gw = Gateway::start_with(Some(&webhook_config(&svc.ready_contents(), "/event")));
    let res = post(
        &gw.url("/rpc/ask/answer"),
        &[("content-type", "application/cloudevents+json")],
        REQUEST,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    // A structured request gets a structured reply.
    let reply = res.json();
    assert_eq!(reply["type"], "com.example.reply");
    assert_eq!(
        reply["correlationid"], "rq-1",
        "the reply names the request"
    );
    assert_eq!(reply["data"]["request_id"], "rq-1");
    assert_eq!(
        reply["data"]["correlationid"], "rq-1",
        "the request leg carried the correlation extension"
    );
    assert_eq!(reply["data"]["data"], serde_json::json!({"q": 42}));

    // A binary-mode request gets a binary-mode reply.
    let res = post(
        &gw.url("/rpc/ask/answer"),
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "rq-2"),
            ("ce-source", "/caller"),
            ("ce-type", "com.example.ask"),
            ("content-type", "application/json"),
        ],
        r#"{"q":7}"#,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("ce-type"), Some("com.example.reply"));
    assert_eq!(res.header("ce-correlationid"), Some("rq-2"));
    assert_eq!(res.json()["request_id"], "rq-2");
}

#[tokio::test]
async fn a_plain_reply_comes_back_as_its_body_and_content_type() {
    let svc = RpcService::start(&["http"]).await;
    let gw = Gateway::start_with(Some(&webhook_config(&svc.ready_contents(), "/plain")));
    let res = post(
        &gw.url("/rpc/ask/ping"),
        &[("content-type", "text/plain")],
        "hello",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(res.text(), "pong:hello");
}

#[tokio::test]
async fn a_reply_over_the_size_limit_is_a_502_not_a_buffered_body() {
    let svc = RpcService::start(&["http"]).await;
    let gw = Gateway::start_with(Some(&webhook_config(&svc.ready_contents(), "/big")));
    let res = post(
        &gw.url("/rpc/ask/big"),
        &[("content-type", "text/plain")],
        "hi",
    )
    .await;
    assert_eq!(res.status, 502, "{}", res.text());
    assert_eq!(res.json()["error"], "bad_reply");
}

#[tokio::test]
async fn requests_without_one_replier_no_route_and_batches_are_refused() {
    let svc = RpcService::start(&["http"]).await;
    let gw = Gateway::start_with(Some(&webhook_config(&svc.ready_contents(), "/event")));
    let ce = [("content-type", "application/cloudevents+json")];
    let res = post(&gw.url("/rpc/feed/x"), &ce, REQUEST).await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert_eq!(res.json()["error"], "no_replier");
    assert!(
        res.text().contains("`feed`"),
        "names the route: {}",
        res.text()
    );
    let res = post(&gw.url("/rpc/nowhere"), &ce, REQUEST).await;
    assert_eq!(res.status, 404, "{}", res.text());
    let batch = [("content-type", "application/cloudevents-batch+json")];
    let res = post(&gw.url("/rpc/ask/x"), &batch, format!("[{REQUEST}]")).await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert_eq!(res.json()["error"], "batch_not_allowed");
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_504() {
    let svc = RpcService::start(&["http"]).await;
    // The backend holds the request until released, which it never is here.
    let gw = Gateway::start_with(Some(&webhook_config(&svc.ready_contents(), "/held")));
    let ce = [("content-type", "application/cloudevents+json")];
    let res = post(&gw.url("/rpc/ask/x?timeout_ms=300"), &ce, REQUEST).await;
    assert_eq!(res.status, 504, "{}", res.text());
}

#[tokio::test]
async fn an_async_request_is_short_and_long_polled_then_expires() {
    let mut svc = RpcService::start(&["http"]).await;
    let yaml = webhook_config(&svc.ready_contents(), "/held") + "rpc: { reply_ttl_ms: 1500 }\n";
    let gw = Gateway::start_with(Some(&yaml));
    let ce = [
        ("content-type", "application/cloudevents+json"),
        ("prefer", "respond-async"),
    ];
    let res = post(&gw.url("/rpc/ask/x"), &ce, REQUEST).await;
    assert_eq!(res.status, 202, "{}", res.text());
    let location = res.header("location").expect("Location").to_owned();
    assert!(location.starts_with("/replies/"), "{location}");
    // The backend holds the request: a short poll finds it pending.
    let pending = get(&gw.url(&location), &[]).await;
    assert_eq!(pending.status, 202, "{}", pending.text());
    // Released, the reply arrives; a long poll waits for it.
    svc.release();
    let done = get(&gw.url(&format!("{location}?wait=10")), &[]).await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json()["correlationid"], "rq-1");
    // It stays for the TTL, then is gone.
    assert_eq!(get(&gw.url(&location), &[]).await.status, 200);
    switchyard_e2e::eventually(Duration::from_secs(10), "the reply expires", || {
        let url = gw.url(&location);
        async move { (get(&url, &[]).await.status == 404).then_some(()) }
    })
    .await;
    let unknown = get(&gw.url("/replies/0123456789abcdef"), &[]).await;
    assert_eq!(unknown.status, 404);
}

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

async fn ready(gw: &Gateway) {
    switchyard_e2e::eventually(Duration::from_secs(30), "gateway ready", || async {
        (get(&gw.url("/readyz"), &[]).await.status == 200).then_some(())
    })
    .await;
}

/// A gateway whose `ask/#` routes to an AMQP service listening on `queue` (default exchange).
async fn amqp_gateway(queue: &str, extra: &str) -> Gateway {
    let yaml = format!(
        "outbounds:\n  svc: {{ type: amqp, url: \"{AMQP}\", exchange: \"\", routing_key: \"{queue}\" {extra} }}\nroutes:\n  - {{ name: ask, topics: \"ask/#\", to: svc }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    gw
}

fn request(id: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/caller","type":"com.example.ask","data":{{"n":"{id}"}}}}"#
    )
}

const CE: [(&str, &str); 1] = [("content-type", "application/cloudevents+json")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_an_amqp_rpc_server_over_direct_reply_to() {
    let queue = switchyard_e2e::python::unique("rpc-q");
    let svc = RpcService::start(&["amqp", &queue]).await;
    let gw = amqp_gateway(&queue, "").await;
    let res = post(&gw.url("/rpc/ask/amqp"), &CE, request("a-1")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let reply = res.json();
    assert_eq!(reply["source"], "/rpc-services/amqp");
    assert_eq!(reply["correlationid"], "a-1");
    assert_eq!(reply["data"]["request_id"], "a-1");
    assert_eq!(reply["data"]["correlationid"], "a-1");
    drop(gw);
    let seen = svc.stop_lines().await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let reply_to = seen[0]["reply_to"].as_str().expect("reply_to");
    assert!(reply_to.starts_with("amq.rabbitmq.reply-to"), "{reply_to}");
    assert_eq!(
        seen[0]["correlation_id"].as_str().map(str::len),
        Some(32),
        "a fresh random id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_each_get_their_own_reply() {
    let queue = switchyard_e2e::python::unique("rpc-q");
    let _svc = RpcService::start(&["amqp", &queue]).await;
    let gw = amqp_gateway(&queue, "").await;
    let calls = (0..200).map(|i| {
        let url = gw.url("/rpc/ask/many");
        async move {
            let id = format!("c-{i}");
            let res = post(&url, &CE, request(&id)).await;
            (id, res)
        }
    });
    for (id, res) in futures_util::future::join_all(calls).await {
        assert_eq!(res.status, 200, "{id}: {}", res.text());
        let reply = res.json();
        assert_eq!(reply["correlationid"], id.as_str());
        assert_eq!(reply["data"]["request_id"], id.as_str(), "its own reply");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_amqp_request_gets_504_and_its_late_reply_is_dropped_and_counted() {
    let queue = switchyard_e2e::python::unique("rpc-q");
    let mut svc = RpcService::start(&["amqp", &queue, "--hold"]).await;
    let gw = amqp_gateway(&queue, ", reply_to: \"sy-replies-late\"").await;
    let res = post(
        &gw.url("/rpc/ask/late?timeout_ms=200"),
        &CE,
        request("late-1"),
    )
    .await;
    assert_eq!(res.status, 504, "{}", res.text());
    // Only now does the service answer: a reply for a request that stopped waiting.
    svc.release();
    let line = r#"switchyard_rpc_replies_dropped_total{outbound="svc",reason="unmatched"} 1"#;
    switchyard_e2e::eventually(
        Duration::from_secs(10),
        "the late reply counted",
        || async {
            let metrics = get(&gw.url("/metrics"), &[]).await.text();
            metrics.lines().any(|l| l == line).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_an_mqtt5_responder_over_response_topic_and_correlation_data() {
    let topic = switchyard_e2e::python::unique("rpc/svc");
    let svc = RpcService::start(&["mqtt", &topic]).await;
    let yaml = format!(
        "outbounds:\n  svc: {{ type: mqtt, url: \"mqtt://127.0.0.1:1883\", topic: \"{topic}\", qos: 1 }}\nroutes:\n  - {{ name: ask, topics: \"ask/#\", to: svc }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    for id in ["m-1", "m-2"] {
        let res = post(&gw.url("/rpc/ask/mqtt"), &CE, request(id)).await;
        assert_eq!(res.status, 200, "{}", res.text());
        let reply = res.json();
        assert_eq!(reply["source"], "/rpc-services/mqtt");
        assert_eq!(reply["correlationid"], id);
        assert_eq!(reply["data"]["request_id"], id);
    }
    drop(gw);
    let seen = svc.stop_lines().await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    let response_topic = seen[0]["response_topic"].as_str().expect("Response Topic");
    assert!(
        response_topic.starts_with("switchyard/replies/"),
        "{response_topic}"
    );
    assert_ne!(
        seen[0]["correlation_data"], seen[1]["correlation_data"],
        "one per request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpcio_call_reaches_an_amqp_service_and_gets_its_reply() {
    let queue = switchyard_e2e::python::unique("rpc-q");
    let _svc = RpcService::start(&["amqp", &queue]).await;
    let yaml = format!(
        "listen: {{ grpc: \"127.0.0.1:0\" }}\noutbounds:\n  svc: {{ type: amqp, url: \"{AMQP}\", exchange: \"\", routing_key: \"{queue}\" }}\nroutes:\n  - {{ name: ask, topics: \"ask/#\", to: svc }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    let addr = gw.grpc_addr().to_string();
    let lines = tokio::task::spawn_blocking(move || {
        switchyard_e2e::python::grpc(&["rpc", &addr, "ask/grpc", "g-1"])
    })
    .await
    .expect("join");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let event = &lines[0]["event"];
    assert_eq!(lines[0]["code"], "OK", "{lines:?}");
    assert_eq!(event["source"], "/rpc-services/amqp");
    assert_eq!(
        event["attributes"]["correlationid"],
        serde_json::json!(["ce_string", "g-1"])
    );
    let addr = gw.grpc_addr().to_string();
    let refused = tokio::task::spawn_blocking(move || {
        switchyard_e2e::python::grpc(&["rpc", &addr, "other", "g-2"])
    })
    .await
    .expect("join");
    assert_eq!(refused[0]["code"], "NOT_FOUND", "{refused:?}");
}

#[test]
fn check_warns_about_routes_a_request_reaches_without_one_replier() {
    let yaml = "outbounds:\n  svc: { type: webhook, url: \"http://127.0.0.1:9/a\" }\n  other: { type: webhook, url: \"http://127.0.0.1:9/b\" }\nroutes:\n  - { name: ask, topics: \"ask/#\", to: svc }\n  - { name: feed, topics: \"feed/#\", to: hub }\n  - { name: both, topics: \"both/#\", to: [svc, other] }\n";
    let path = std::env::temp_dir().join(switchyard_e2e::python::unique("sy-rpc-check"));
    std::fs::write(&path, yaml).expect("write");
    let out = std::process::Command::new(switchyard_e2e::gateway::binary())
        .arg("check")
        .arg(&path)
        .output()
        .expect("run check");
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("warning: route `feed`") && stdout.contains("0 reply-capable"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning: route `both`") && stdout.contains("2 reply-capable"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("route `ask`"),
        "ask has exactly one: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_a_grpc_backend_answers_with_its_call_response() {
    let backend = switchyard_e2e::python::GrpcProcess::start(&["backend", "1", "30"]).await;
    let port = backend.ready_contents();
    let yaml = format!(
        "outbounds:\n  svc: {{ type: grpc, url: \"http://127.0.0.1:{port}\" }}\nroutes:\n  - {{ name: ask, topics: \"ask/#\", to: svc }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    let res = post(&gw.url("/rpc/ask/grpc"), &CE, request("gr-1")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let reply = res.json();
    assert_eq!(reply["id"], "reply-gr-1");
    assert_eq!(reply["correlationid"], "gr-1");
    assert_eq!(reply["data"]["request_id"], "gr-1");
    let lines = backend.lines().await;
    assert_eq!(
        lines[0]["call"], "ask/grpc",
        "its Call, not Publish: {lines:?}"
    );
}
