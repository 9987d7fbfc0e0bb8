//! gRPC across protocols with 1 000 messages each, against a ledger of ids: Python's grpcio
//! publishing into the gateway and pika reading RabbitMQ (gRPC → AMQP), and paho-mqtt
//! publishing to Mosquitto with a Python grpcio service behind the gateway (MQTT → gRPC
//! backend). None lost; duplicates only within what was in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use switchyard_e2e::client::get;
use switchyard_e2e::python::{self, GrpcProcess, unique};
use switchyard_e2e::{Gateway, eventually};

const T: Duration = Duration::from_secs(30);
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const MQTT: &str = "mqtt://127.0.0.1:1883";
const COUNT: usize = 1_000;

async fn ready(gw: &Gateway) {
    eventually(T, "gateway ready", || async {
        (get(&gw.url("/readyz"), &[]).await.status == 200).then_some(())
    })
    .await;
}

/// Fails on a missing id, or on more duplicates than `window`.
fn ledger(
    ids: impl IntoIterator<Item = String>,
    expected: impl IntoIterator<Item = String>,
    window: usize,
) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for id in ids {
        *seen.entry(id).or_default() += 1;
    }
    let expected: BTreeSet<String> = expected.into_iter().collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "lost {} of {}: {missing:?}",
        missing.len(),
        expected.len()
    );
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= window,
        "{duplicates} duplicates, more than the window {window}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_to_amqp_carries_a_thousand_events_confirmed() {
    let (exchange, queue) = (unique("grpc-x"), unique("grpc-q"));
    python::run(&["amqp-setup", &exchange, &queue, "grpc.#"]);
    let yaml = format!(
        "listen: {{ grpc: \"127.0.0.1:0\" }}\noutbounds:\n  rabbit: {{ type: amqp, url: \"{AMQP}\", exchange: \"{exchange}\", routing_key: \"grpc.readings\", mode: structured }}\nroutes:\n  - {{ name: r, from: grpc, to: rabbit }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    let addr = gw.grpc_addr().to_string();
    let prefix = unique("ga");
    let prefix = format!("{prefix}-");
    let replies = python::grpc(&[
        "publish",
        &addr,
        "readings/a",
        &COUNT.to_string(),
        &prefix,
        "--batch",
        "50",
    ]);
    let accepted: Vec<String> = replies
        .iter()
        .flat_map(|r| {
            r["accepted"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| panic!("refused: {r}"))
        })
        .map(|id| id.as_str().expect("id").to_owned())
        .collect();
    assert_eq!(accepted.len(), COUNT);
    // Every accepted event was confirmed by RabbitMQ, so pika reads them all.
    let got = python::run(&["amqp-get", &queue, &COUNT.to_string(), "30"]);
    let ids = got.iter().map(|m| {
        let body: serde_json::Value =
            serde_json::from_slice(&python::payload(m, "body")).expect("structured");
        body["id"].as_str().expect("id").to_owned()
    });
    ledger(ids, (0..COUNT).map(|i| format!("{prefix}{i}")), 0);
    python::run(&["amqp-delete", &exchange, &queue]);
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_to_a_grpc_backend_carries_a_thousand_events() {
    // The user's service: Python grpcio implementing switchyard.v1.Gateway, answering
    // UNAVAILABLE to its first calls as a backend that is still starting.
    let backend =
        GrpcProcess::start(&["backend", &COUNT.to_string(), "90", "--fail-first", "3"]).await;
    let port = backend.ready_contents();
    let topic = unique("to-grpc");
    let yaml = format!(
        "inbounds:\n  devices: {{ type: mqtt, url: \"{MQTT}\", subscribe: [\"{topic}/#\"], client_id: \"{id}\" }}\noutbounds:\n  service: {{ type: grpc, url: \"http://127.0.0.1:{port}\" }}\nroutes:\n  - {{ name: r, from: devices, to: service }}\n",
        id = unique("sy")
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    python::run(&[
        "mqtt-pub",
        &format!("{topic}/room1"),
        &COUNT.to_string(),
        "v5-binary",
    ]);
    let lines = backend.lines().await;
    for line in &lines {
        assert_eq!(
            line["topic"].as_str(),
            Some(format!("{topic}/room1").as_str()),
            "{line}"
        );
    }
    let first = &lines
        .iter()
        .find(|l| l["event"]["id"] == "py-0")
        .expect("py-0 arrived")["event"];
    assert_eq!(first["source"], "/interop/python");
    assert_eq!(
        first["attributes"]["subject"],
        serde_json::json!(["ce_string", "sensor-0"])
    );
    let ids = lines
        .iter()
        .map(|l| l["event"]["id"].as_str().expect("id").to_owned());
    // The backend records a call only when it accepts it: duplicates would be redeliveries.
    ledger(ids, (0..COUNT).map(|i| format!("py-{i}")), 0);
}
