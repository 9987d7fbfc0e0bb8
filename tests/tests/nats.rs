//! NATS through the real binary and the real nats-server (JetStream on), with nats-py on the
//! far side: HTTP → NATS JetStream (a 2xx only after the PubAck), NATS core → hub → SSE,
//! NATS JetStream → webhook, MQTT → NATS. Each carries 1 000 messages against a ledger of
//! ids: none lost, duplicates only within what was in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::future::join_all;

use switchyard_e2e::client::{get, post};
use switchyard_e2e::python::{self, unique};
use switchyard_e2e::receiver::Receiver;
use switchyard_e2e::sse::SseStream;
use switchyard_e2e::{Gateway, eventually};

const T: Duration = Duration::from_secs(30);
const NATS: &str = "nats://127.0.0.1:4222";
const MQTT: &str = "mqtt://127.0.0.1:1883";
const COUNT: usize = 1_000;

async fn ready(gw: &Gateway) {
    eventually(T, "gateway ready (NATS connected)", || async {
        let res = get(&gw.url("/readyz"), &[]).await;
        (res.status == 200).then_some(())
    })
    .await;
}

/// How often each id was seen; fails on a missing id or on more duplicates than `window`.
fn ledger(ids: impl IntoIterator<Item = String>, prefix: &str, window: usize) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for id in ids {
        *seen.entry(id).or_default() += 1;
    }
    let expected: BTreeSet<String> = (0..COUNT).map(|n| format!("{prefix}{n}")).collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "lost {} of {COUNT}: {missing:?}",
        missing.len()
    );
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= window,
        "{duplicates} duplicates, more than the window {window}"
    );
}

/// The ids of the messages a JetStream stream holds (read by nats-py).
fn stream_ids(stream: &str) -> Vec<String> {
    let messages = python::nats(&["js-get", stream, &COUNT.to_string(), "5"]);
    messages
        .iter()
        .map(
            |m| match m["headers"].get("ce-id").and_then(|v| v.as_str()) {
                Some(id) => id.to_owned(),
                None => {
                    let body = python::payload(m, "body_b64");
                    let event: serde_json::Value =
                        serde_json::from_slice(&body).expect("structured");
                    event["id"].as_str().unwrap_or_default().to_owned()
                }
            },
        )
        .collect()
}

#[tokio::test]
async fn http_to_jetstream_answers_after_the_puback_and_nats_py_reads_every_event() {
    let stream = unique("it-http-js");
    python::nats(&["js-setup", &stream, &format!("{stream}.>")]);
    let yaml = format!(
        "outbounds:\n  js: {{ type: nats, url: \"{NATS}\", subject: \"{{topic}}\", jetstream: true, mode: binary }}\nroutes:\n  - {{ name: r, to: js }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    let url = gw.url(&format!("/topics/{stream}/orders"));
    for batch in (0..COUNT).collect::<Vec<_>>().chunks(50) {
        let posts = batch.iter().map(|n| {
            let event = serde_json::json!({"specversion": "1.0", "id": format!("h-{n}"), "source": "/http",
                "type": "com.example.order", "datacontenttype": "application/json", "data": {"n": n}});
            post(&url, &[("content-type", "application/cloudevents+json")], event.to_string())
        });
        for res in join_all(posts).await {
            assert_eq!(res.status, 200, "{}", res.text());
        }
    }
    let messages = python::nats(&["js-get", &stream, "1", "5"]);
    let first = &messages[0];
    assert_eq!(
        first["subject"],
        format!("{stream}.orders"),
        "topic levels are subject tokens"
    );
    assert_eq!(first["headers"]["ce-datacontenttype"], "application/json");
    assert_eq!(first["headers"]["ce-type"], "com.example.order");
    // Every 200 was a PubAck, so the stream holds all of them, each once (Nats-Msg-Id).
    ledger(stream_ids(&stream), "h-", 0);
    // A topic level no subject can hold is the publisher's mistake, named.
    let event =
        serde_json::json!({"specversion": "1.0", "id": "bad", "source": "/http", "type": "t"});
    let dotted = gw.url(&format!("/topics/{stream}/eu.west"));
    let res = post(
        &dotted,
        &[("content-type", "application/cloudevents+json")],
        event.to_string(),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert_eq!(res.json()["error"], "invalid_topic");
    assert!(res.text().contains("eu.west"), "{}", res.text());
    python::nats(&["js-delete", &stream]);
}

#[tokio::test]
async fn nats_py_core_publishes_reach_sse_subscribers_through_the_hub() {
    let base = unique("it-core");
    let yaml = format!(
        "inbounds:\n  feed: {{ type: nats, url: \"{NATS}\", subjects: [\"{base}.>\"] }}\nroutes:\n  - {{ name: live, from: feed, to: hub }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    let mut sse = SseStream::connect(&gw.url(&format!("/topics/{base}/%23")), &[]).await;
    sse.next_any(T).await.expect("preamble");
    let half = (COUNT / 2).to_string();
    python::nats(&["pub", &format!("{base}.a"), &half, "binary", "core", "b-"]);
    python::nats(&[
        "pub",
        &format!("{base}.b"),
        &half,
        "structured",
        "core",
        "s-",
    ]);
    let mut ids = Vec::new();
    while ids.len() < COUNT {
        let event = sse.next_event(T).await.expect("an event").json();
        assert_eq!(event["type"], "com.example.reading");
        ids.push(event["id"].as_str().unwrap_or_default().to_owned());
    }
    // Both halves, as `py-N` under their own prefixes, each exactly once.
    let renamed = ids.into_iter().map(|id| match id.strip_prefix("s-") {
        Some(n) => format!("b-{}", n.parse::<usize>().expect("a number") + COUNT / 2),
        None => id,
    });
    ledger(renamed, "b-", 0);
}

#[tokio::test]
async fn jetstream_messages_reach_a_webhook_acked_only_after_it_confirmed() {
    let stream = unique("it-js-hook");
    python::nats(&["js-setup", &stream, &format!("{stream}.>"), "gateway"]);
    let hook = Receiver::start().await;
    let yaml = format!(
        "inbounds:\n  jobs: {{ type: nats, url: \"{NATS}\", jetstream: {{ stream: \"{stream}\", durable: gateway }} }}\noutbounds:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes:\n  - {{ name: r, from: jobs, to: hook }}\n",
        url = hook.url()
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    python::nats(&[
        "pub",
        &format!("{stream}.jobs"),
        &COUNT.to_string(),
        "structured",
        "js",
    ]);
    eventually(T, "every job at the webhook", || async {
        let ids: BTreeSet<String> = hook.accepted().iter().map(ce_id).collect();
        (ids.len() >= COUNT).then_some(())
    })
    .await;
    ledger(hook.accepted().iter().map(ce_id), "py-", 100);
    drop(gw);
    python::nats(&["js-delete", &stream]);
}

#[tokio::test]
async fn mqtt_messages_reach_jetstream() {
    let stream = unique("it-mqtt-js");
    python::nats(&["js-setup", &stream, &format!("{stream}.>")]);
    let topic = format!("{stream}/devices");
    let yaml = format!(
        "inbounds:\n  devices: {{ type: mqtt, url: \"{MQTT}\", client_id: \"{id}\", subscribe: [\"{topic}\"] }}\noutbounds:\n  js: {{ type: nats, url: \"{NATS}\", jetstream: true, mode: structured }}\nroutes:\n  - {{ name: r, from: devices, to: js }}\n",
        id = unique("sy")
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    python::run(&["mqtt-pub", &topic, &COUNT.to_string(), "v5-binary"]);
    eventually(T, "every MQTT message in the stream", || async {
        let ids: BTreeSet<String> = stream_ids(&stream).into_iter().collect();
        (ids.len() >= COUNT).then_some(())
    })
    .await;
    ledger(stream_ids(&stream), "py-", 0);
    python::nats(&["js-delete", &stream]);
}

fn ce_id(received: &switchyard_e2e::receiver::Received) -> String {
    let header = received.headers.get("ce-id");
    header
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_event_over_the_servers_max_payload_is_413_and_the_link_stays_up() {
    let stream = unique("it-big");
    python::nats(&["js-setup", &stream, &format!("{stream}.>")]);
    let yaml = format!(
        "outbounds:\n  js: {{ type: nats, url: \"{NATS}\", jetstream: true, mode: structured }}\nroutes:\n  - {{ name: r, to: js }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    // 900 kB of bytes become 1.2 MB of data_base64 in structured mode: over the default 1 MiB.
    let url = gw.url(&format!("/topics/{stream}/big"));
    let res = post(
        &url,
        &[("content-type", "application/octet-stream")],
        vec![7u8; 900_000],
    )
    .await;
    assert_eq!(res.status, 413, "{}", res.text());
    assert_eq!(res.json()["error"], "too_large_for_sink");
    let res = post(&url, &[("content-type", "text/plain")], "small").await;
    assert_eq!(res.status, 200, "the connection survived: {}", res.text());
    python::nats(&["js-delete", &stream]);
}

/// Starts the binary with `yaml` and waits for it to exit; its status and stderr.
fn start_refused(yaml: &str) -> (Option<i32>, String) {
    let path = std::env::temp_dir().join(format!("{}.yaml", unique("sy-nats")));
    std::fs::write(&path, yaml).expect("write the config");
    let out = std::process::Command::new(switchyard_e2e::gateway::binary())
        .arg("--config")
        .arg(&path)
        .env("SWITCHYARD_HTTP_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run the gateway");
    let _ = std::fs::remove_file(&path);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_jetstream_inbound_whose_stream_or_consumer_is_missing_is_refused_at_startup() {
    let stream = unique("it-missing");
    let yaml = |stream: &str| {
        format!(
            "inbounds:\n  jobs: {{ type: nats, url: \"{NATS}\", jetstream: {{ stream: \"{stream}\", durable: gateway }} }}\nroutes:\n  - {{ name: r, from: jobs, to: hub }}\n"
        )
    };
    let (code, stderr) = start_refused(&yaml(&stream));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("inbounds.jobs.jetstream.stream"),
        "{stderr}"
    );
    python::nats(&["js-setup", &stream, &format!("{stream}.>")]);
    let (code, stderr) = start_refused(&yaml(&stream));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("inbounds.jobs.jetstream.durable"),
        "{stderr}"
    );
    python::nats(&["js-delete", &stream]);
}
