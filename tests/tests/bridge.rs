//! Cross-protocol paths through the real binary and real brokers (Mosquitto, RabbitMQ), with
//! independent clients (paho-mqtt, pika) on the far side: MQTT → webhook, MQTT → hub → SSE,
//! HTTP → AMQP, AMQP → webhook, HTTP → MQTT, MQTT → AMQP, AMQP → MQTT. Attributes and data
//! must arrive unchanged through binary ⇄ structured transcoding.

use std::time::Duration;

use switchyard_e2e::client::{get, post};
use switchyard_e2e::python::{self, MqttSubscriber, unique};
use switchyard_e2e::receiver::Receiver;
use switchyard_e2e::sse::SseStream;
use switchyard_e2e::{Gateway, eventually};

const T: Duration = Duration::from_secs(20);
const MQTT: &str = "mqtt://127.0.0.1:1883";
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The events `brokers.py` publishes: id `py-N`, subject `sensor-N`, extension `seq` = N,
/// data `{"n": N, "unit": "°C"}`.
fn assert_python_event(attrs: &serde_json::Value, data: &serde_json::Value, n: usize) {
    assert_eq!(attrs["id"], format!("py-{n}"));
    assert_eq!(attrs["source"], "/interop/python");
    assert_eq!(attrs["type"], "com.example.reading");
    assert_eq!(attrs["subject"], format!("sensor-{n}"));
    assert_eq!(attrs["seq"], n.to_string());
    assert_eq!(data, &serde_json::json!({ "n": n, "unit": "°C" }));
}

/// Waits until /readyz says every broker connection is up.
async fn ready(gw: &Gateway) {
    eventually(T, "gateway ready (brokers connected)", || async {
        let res = get(&gw.url("/readyz"), &[]).await;
        (res.status == 200).then_some(())
    })
    .await;
}

fn webhook_event(r: &switchyard_e2e::receiver::Received) -> (serde_json::Value, serde_json::Value) {
    let mut attrs = serde_json::Map::new();
    for (k, v) in &r.headers {
        if let Some(name) = k.as_str().strip_prefix("ce-") {
            attrs.insert(name.into(), v.to_str().expect("ascii").into());
        }
    }
    (
        attrs.into(),
        serde_json::from_slice(&r.body).expect("JSON body"),
    )
}

/// Webhook deliveries sorted by event id (`py-0`, `py-0`, `py-1`, ...).
fn by_id(
    mut events: Vec<(serde_json::Value, serde_json::Value)>,
) -> Vec<(serde_json::Value, serde_json::Value)> {
    events.sort_by(|a, b| a.0["id"].as_str().cmp(&b.0["id"].as_str()));
    events
}

#[tokio::test]
async fn mqtt_v5_binary_to_webhook() {
    let hook = Receiver::start().await;
    let topic = unique("it/mqtt-hook");
    let yaml = format!(
        "inbounds:\n  devices: {{ type: mqtt, url: \"{MQTT}\", subscribe: [\"{topic}/#\"], client_id: \"{id}\" }}\noutbounds:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes:\n  - {{ name: r, from: devices, to: hook }}\n",
        id = unique("sy"),
        url = hook.url()
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    python::run(&["mqtt-pub", &format!("{topic}/room1"), "3", "v5-binary"]);
    eventually(T, "3 webhook deliveries", || async {
        (hook.accepted().len() >= 3).then_some(())
    })
    .await;
    // Messages are delivered concurrently (the acks still go out in order): sort by id.
    let events = by_id(hook.accepted().iter().map(webhook_event).collect());
    for (n, (attrs, data)) in events.iter().enumerate() {
        assert_python_event(attrs, data, n);
    }
}

#[tokio::test]
async fn mqtt_plain_payload_to_hub_and_sse_with_subject_from_topic() {
    let topic = unique("it-sensors");
    let yaml = format!(
        "inbounds:\n  devices:\n    type: mqtt\n    url: \"{MQTT}\"\n    client_id: \"{id}\"\n    subscribe: [\"{topic}/+/temperature\"]\n    wrap: {{ topic_pattern: \"{topic}/{{device}}/temperature\", subject: \"{{device}}\", type: \"com.example.temperature\" }}\nroutes:\n  - {{ name: live, from: devices, to: hub, topic: \"live/{{topic}}\" }}\n",
        id = unique("sy")
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    let mut sse = SseStream::connect(&gw.url("/topics/live/%23"), &[]).await;
    sse.next_any(T).await.expect("preamble");
    python::run(&[
        "mqtt-pub",
        &format!("{topic}/dev-7/temperature"),
        "1",
        "raw",
    ]);
    let event = sse.next_event(T).await.expect("event").json();
    assert_eq!(event["subject"], "dev-7");
    assert_eq!(event["type"], "com.example.temperature");
    assert_eq!(event["data"], serde_json::json!({ "n": 0, "unit": "°C" }));
}

#[tokio::test]
async fn http_to_amqp_is_confirmed_and_readable_by_pika() {
    let exchange = unique("it-x");
    let queue = unique("it-q");
    python::run(&["amqp-setup", &exchange, &queue, "readings.#"]);
    let yaml = format!(
        "outbounds:\n  audit: {{ type: amqp, url: \"{AMQP}\", exchange: \"{exchange}\", routing_key: \"readings.{{subject}}\" }}\nroutes:\n  - {{ name: r, to: audit }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    let event = serde_json::json!({ "specversion": "1.0", "id": "h-1", "source": "/http", "type": "com.example.order",
        "subject": "s1", "time": "2026-11-23T10:00:00.123456Z", "ext": "Euro € 😀", "data": { "k": [1, 2] } });
    let res = post(
        &gw.url("/topics/orders"),
        &[("content-type", "application/cloudevents+json")],
        event.to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let got = python::run(&["amqp-get", &queue, "1", "10"]);
    let m = &got[0];
    assert_eq!(m["routing_key"], "readings.s1");
    assert_eq!(m["delivery_mode"], 2, "persistent");
    assert_eq!(m["headers"]["cloudEvents_id"], "h-1");
    assert_eq!(
        m["headers"]["cloudEvents_time"], "2026-11-23T10:00:00.123456Z",
        "time keeps its precision"
    );
    assert_eq!(m["headers"]["cloudEvents_ext"], "Euro € 😀");
    assert_eq!(m["content_type"], "application/json");
    let body: serde_json::Value =
        serde_json::from_slice(&python::payload(m, "body")).expect("json");
    assert_eq!(body, serde_json::json!({ "k": [1, 2] }));
    python::run(&["amqp-delete", &exchange, &queue]);
}

#[tokio::test]
async fn http_to_amqp_unroutable_is_refused() {
    let exchange = unique("it-x-empty");
    python::run(&[
        "amqp-setup",
        &exchange,
        &unique("it-q-unbound"),
        "nothing.matches",
    ]);
    let yaml = format!(
        "outbounds:\n  audit: {{ type: amqp, url: \"{AMQP}\", exchange: \"{exchange}\", routing_key: \"other\" }}\nroutes:\n  - {{ name: r, to: audit }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    let res = post(&gw.url("/topics/x"), &[("content-type", "text/plain")], "x").await;
    assert_eq!(
        res.status,
        422,
        "mandatory publish returned as unroutable: {}",
        res.text()
    );
}

#[tokio::test]
async fn amqp_binary_and_structured_to_webhook() {
    let hook = Receiver::start().await;
    let exchange = unique("it-x-in");
    let queue = unique("it-q-in");
    python::run(&["amqp-setup", &exchange, &queue, "#"]);
    let yaml = format!(
        "inbounds:\n  orders: {{ type: amqp, url: \"{AMQP}\", queue: \"{queue}\" }}\noutbounds:\n  hook: {{ type: webhook, url: \"{url}\", mode: binary }}\nroutes:\n  - {{ name: r, from: orders, to: hook }}\n",
        url = hook.url()
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    python::run(&["amqp-pub", &exchange, "k", "2", "binary"]);
    python::run(&["amqp-pub", &exchange, "k", "2", "structured"]);
    eventually(T, "4 webhook deliveries", || async {
        (hook.accepted().len() >= 4).then_some(())
    })
    .await;
    let events = by_id(hook.accepted().iter().map(webhook_event).collect());
    for (i, (attrs, data)) in events.iter().enumerate() {
        assert_python_event(attrs, data, i / 2);
    }
    drop(gw);
    python::run(&["amqp-delete", &exchange, &queue]);
}

#[tokio::test]
async fn http_to_mqtt_read_by_paho() {
    let topic = unique("it/out");
    let yaml = format!(
        "outbounds:\n  mq: {{ type: mqtt, url: \"{MQTT}\", client_id: \"{id}\", topic: \"{topic}/{{topic}}\", qos: 1 }}\nroutes:\n  - {{ name: r, to: mq }}\n",
        id = unique("sy")
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    let sub = MqttSubscriber::start(&format!("{topic}/#"), 1, T).await;
    let event = serde_json::json!({ "specversion": "1.0", "id": "m-1", "source": "/http", "type": "t", "ext": 5, "data": { "a": 1 } });
    let res = post(
        &gw.url("/topics/a/b"),
        &[("content-type", "application/cloudevents+json")],
        event.to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let got = sub.messages().await;
    let m = &got[0];
    assert_eq!(m["topic"], format!("{topic}/a/b"));
    assert_eq!(m["properties"]["user"]["id"], "m-1");
    assert_eq!(m["properties"]["user"]["ext"], "5");
    assert_eq!(m["properties"]["content_type"], "application/json");
    let data: serde_json::Value =
        serde_json::from_slice(&python::payload(m, "payload")).expect("json");
    assert_eq!(data, serde_json::json!({ "a": 1 }));
}

#[tokio::test]
async fn mqtt_to_amqp_and_amqp_to_mqtt() {
    let in_topic = unique("it/m2a");
    let out_topic = unique("it/a2m");
    let exchange = unique("it-x-bridge");
    let queue_out = unique("it-q-out");
    let queue_in = unique("it-q-in");
    python::run(&["amqp-setup", &exchange, &queue_out, "from-mqtt.#"]);
    python::run(&["amqp-setup", &exchange, &queue_in, "to-mqtt.#"]);
    let yaml = format!(
        r#"inbounds:
  devices: {{ type: mqtt, url: "{MQTT}", client_id: "{c1}", subscribe: ["{in_topic}/#"] }}
  backend: {{ type: amqp, url: "{AMQP}", queue: "{queue_in}" }}
outbounds:
  rabbit: {{ type: amqp, url: "{AMQP}", exchange: "{exchange}", routing_key: "from-mqtt.{{subject}}", mode: structured }}
  mosquitto: {{ type: mqtt, url: "{MQTT}", client_id: "{c2}", topic: "{out_topic}/{{subject}}" }}
routes:
  - {{ name: up, from: devices, to: rabbit }}
  - {{ name: down, from: backend, to: mosquitto }}
"#,
        c1 = unique("sy-in"),
        c2 = unique("sy-out")
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;

    // MQTT (v5 binary) → AMQP (structured): read by pika.
    python::run(&["mqtt-pub", &format!("{in_topic}/x"), "2", "v5-binary"]);
    let got = python::run(&["amqp-get", &queue_out, "2", "20"]);
    let mut events: Vec<serde_json::Value> = got
        .iter()
        .map(|m| {
            assert_eq!(m["content_type"], "application/cloudevents+json");
            serde_json::from_slice(&python::payload(m, "body")).expect("json")
        })
        .collect();
    events.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    for (n, event) in events.iter().enumerate() {
        assert_python_event(event, &event["data"], n);
    }

    // AMQP (binary headers) → MQTT (v5 binary): read by paho.
    let sub = MqttSubscriber::start(&format!("{out_topic}/#"), 2, T).await;
    python::run(&["amqp-pub", &exchange, "to-mqtt.k", "2", "binary"]);
    let mut got = sub.messages().await;
    got.sort_by(|a, b| a["topic"].as_str().cmp(&b["topic"].as_str()));
    for (n, m) in got.iter().enumerate() {
        assert_eq!(m["topic"], format!("{out_topic}/sensor-{n}"));
        let data: serde_json::Value =
            serde_json::from_slice(&python::payload(m, "payload")).expect("json");
        assert_python_event(&m["properties"]["user"], &data, n);
    }
    drop(gw);
    python::run(&["amqp-delete", &exchange, &queue_out]);
    python::run(&["amqp-delete", "", &queue_in]);
}

#[tokio::test]
async fn broker_down_means_503_with_retry_after_and_not_ready() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let yaml = format!(
        "outbounds:\n  mq: {{ type: mqtt, url: \"mqtt://127.0.0.1:{port}\" }}\nroutes:\n  - {{ name: r, to: mq }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    let ready = get(&gw.url("/readyz"), &[]).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["checks"]["outbound:mq"], false);
    let res = post(&gw.url("/topics/x"), &[("content-type", "text/plain")], "x").await;
    assert_eq!(res.status, 503, "{}", res.text());
    assert!(res.header("retry-after").is_some());
}

/// A slow sink back-pressures the source: no more than `prefetch` messages are ever in
/// delivery, the rest wait in the broker, and all arrive in the end.
#[tokio::test]
async fn slow_webhook_back_pressures_the_amqp_source() {
    let hook = Receiver::start_slow(Duration::from_millis(50)).await;
    let queue = unique("it-q-slow");
    python::run(&["amqp-setup", "", &queue, ""]);
    python::run(&["amqp-pub", "", &queue, "60", "binary"]);
    let yaml = format!(
        "inbounds:\n  orders: {{ type: amqp, url: \"{AMQP}\", queue: \"{queue}\", prefetch: 4 }}\noutbounds:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes:\n  - {{ name: r, from: orders, to: hook }}\n",
        url = hook.url()
    );
    let gw = Gateway::start_with(Some(&yaml));
    eventually(T, "all 60 delivered", || async {
        (hook.accepted().len() >= 60).then_some(())
    })
    .await;
    let max = hook.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    assert!(max <= 4, "{max} requests held at once with prefetch 4");
    assert!(
        max >= 2,
        "deliveries ran concurrently up to the prefetch ({max})"
    );
    drop(gw);
    python::run(&["amqp-delete", "", &queue]);
}
