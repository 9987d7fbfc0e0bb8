//! Work queues with competing consumers: producers publish through routes (`to: queue:NAME`),
//! HTTP consumers lease (`GET /queues/{name}`) and settle receipts. Checked with a ledger of
//! every settled id: no loss, no double settlement, redelivery after a vanished consumer.
//! In memory and backed by a real RabbitMQ queue.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_e2e::client::{get, post};
use switchyard_e2e::python::unique;
use switchyard_e2e::{Gateway, eventually};

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn config(queue: &str) -> String {
    format!(
        "queues:\n  jobs: {{ lease_ms: 10000 {queue} }}\nroutes:\n  - {{ name: work, topics: \"jobs/#\", to: \"queue:jobs\" }}\n"
    )
}

async fn ready(gw: &Gateway) {
    eventually(Duration::from_secs(30), "gateway ready", || async {
        (get(&gw.url("/readyz"), &[]).await.status == 200).then_some(())
    })
    .await;
}

/// Publishes events `{prefix}-0 ..` in batches of 100.
async fn produce(gw: &Gateway, prefix: &str, count: usize) {
    for start in (0..count).step_by(100) {
        let batch: Vec<_> = (start..(start + 100).min(count))
            .map(|i| serde_json::json!({"specversion":"1.0","id":format!("{prefix}-{i}"),"source":"/producer","type":"job","data":{"i":i}}))
            .collect();
        let res = post(
            &gw.url("/topics/jobs/new"),
            &[("content-type", "application/cloudevents-batch+json")],
            serde_json::to_vec(&batch).expect("json"),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
}

/// Three consumers lease batches and ack each receipt until `count` ids are settled; every
/// ack must be its first (204), and no id may be settled twice.
async fn drain_with_three_consumers(gw: &Gateway, count: usize) {
    let ledger = Arc::new(Mutex::new(HashSet::new()));
    let consumers = (0..3).map(|_| {
        let (lease, ack) = (
            gw.url("/queues/jobs?max=10&wait=1"),
            gw.url("/queues/jobs/ack"),
        );
        let ledger = ledger.clone();
        async move {
            while ledger.lock().expect("lock").len() < count {
                let res = get(&lease, &[]).await;
                assert_eq!(res.status, 200, "{}", res.text());
                for event in res.json().as_array().expect("a batch") {
                    let receipt = event["receipt"].as_str().expect("receipt");
                    let settled = post(&ack, &[("switchyard-receipt", receipt)], "").await;
                    assert_eq!(settled.status, 204, "{}", settled.text());
                    let id = event["id"].as_str().expect("id").to_owned();
                    assert!(
                        ledger.lock().expect("lock").insert(id.clone()),
                        "{id} settled twice"
                    );
                }
            }
        }
    });
    tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(consumers),
    )
    .await
    .expect("drained within a minute");
    assert_eq!(ledger.lock().expect("lock").len(), count, "no loss");
    let empty = get(&gw.url("/queues/jobs"), &[]).await;
    assert_eq!(empty.status, 204, "nothing left: {}", empty.text());
}

/// A consumer leases and vanishes; after its lease another gets the message, redelivered.
async fn vanished_consumer_is_redelivered(gw: &Gateway) {
    let lost = get(&gw.url("/queues/jobs?lease_ms=300"), &[]).await;
    assert_eq!(lost.status, 200, "{}", lost.text());
    let id = lost.header("ce-id").expect("an event").to_owned();
    let receipt = lost
        .header("switchyard-receipt")
        .expect("receipt")
        .to_owned();
    assert_eq!(lost.header("switchyard-redelivered"), None);
    let again = get(&gw.url("/queues/jobs?wait=10"), &[]).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.header("ce-id"), Some(id.as_str()), "the same message");
    assert_eq!(again.header("switchyard-redelivered"), Some("true"));
    let ack = gw.url("/queues/jobs/ack");
    let stale = post(&ack, &[("switchyard-receipt", &receipt)], "").await;
    assert_eq!(stale.status, 410, "the vanished lease: {}", stale.text());
    let fresh = again.header("switchyard-receipt").expect("receipt");
    assert_eq!(
        post(&ack, &[("switchyard-receipt", fresh)], "")
            .await
            .status,
        204
    );
    let twice = post(&ack, &[("switchyard-receipt", fresh)], "").await;
    assert_eq!(twice.status, 409, "{}", twice.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_drain_an_in_memory_queue_without_loss_or_double_settlement() {
    let gw = Gateway::start_with(Some(&config("")));
    produce(&gw, "mem", 1000).await;
    drain_with_three_consumers(&gw, 1000).await;
    produce(&gw, "gone", 1).await;
    vanished_consumer_is_redelivered(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_drain_a_rabbitmq_backed_queue_without_loss_or_double_settlement() {
    let queue = unique("sy-work");
    let amqp = format!(", amqp: {{ url: \"{AMQP}\", queue: \"{queue}\", prefetch: 50 }}");
    let gw = Gateway::start_with(Some(&config(&amqp)));
    ready(&gw).await;
    produce(&gw, "amqp", 1000).await;
    drain_with_three_consumers(&gw, 1000).await;
    produce(&gw, "gone", 1).await;
    vanished_consumer_is_redelivered(&gw).await;
}

#[tokio::test]
async fn bad_leases_and_receipts_get_defined_answers() {
    let gw = Gateway::start_with(Some(&config("")));
    let status = |path: &'static str| {
        let url = gw.url(path);
        async move { get(&url, &[]).await }
    };
    let res = status("/queues/nope").await;
    assert_eq!(
        (res.status, res.json()["error"].clone()),
        (404, "unknown_queue".into())
    );
    let res = status("/queues/jobs?lease_ms=0").await;
    assert_eq!(
        (res.status, res.json()["error"].clone()),
        (400, "invalid_lease".into())
    );
    let res = status("/queues/jobs?lease_ms=999999999").await;
    assert_eq!(res.status, 400, "{}", res.text());
    let res = status("/queues/jobs?max=1000").await;
    assert_eq!(
        (res.status, res.json()["error"].clone()),
        (400, "invalid_lease".into())
    );
    let ack = gw.url("/queues/jobs/ack");
    let res = post(&ack, &[("switchyard-receipt", "not-a-receipt")], "").await;
    assert_eq!(
        (res.status, res.json()["error"].clone()),
        (404, "unknown_receipt".into())
    );
    let res = post(&ack, &[], "").await;
    assert_eq!(
        (res.status, res.json()["error"].clone()),
        (400, "no_receipt".into())
    );
}

mod websocket {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

    type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

    async fn consumer(gw: &Gateway) -> Ws {
        let url = format!("ws://{}/queues/jobs", gw.addr);
        connect_async(url).await.expect("websocket connects").0
    }

    async fn next_json(ws: &mut Ws) -> serde_json::Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("a frame in time")
                .expect("open")
                .expect("ok");
            if let Message::Text(text) = frame {
                return serde_json::from_str(&text).expect("json");
            }
        }
    }

    async fn send(ws: &mut Ws, value: serde_json::Value) {
        ws.send(Message::text(value.to_string()))
            .await
            .expect("send");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn credit_bounds_what_a_websocket_consumer_is_pushed() {
        let gw = Gateway::start_with(Some(&config("")));
        produce(&gw, "ws", 20).await;
        let mut ws = consumer(&gw).await;
        send(&mut ws, serde_json::json!({"credit": 5})).await;
        let mut receipts = Vec::new();
        for _ in 0..5 {
            receipts.push(
                next_json(&mut ws).await["receipt"]
                    .as_str()
                    .expect("receipt")
                    .to_owned(),
            );
        }
        // Only five went to the socket: the other fifteen are there for anyone else.
        let rest = get(&gw.url("/queues/jobs?max=100"), &[]).await;
        assert_eq!(rest.json().as_array().expect("batch").len(), 15);
        for receipt in &receipts {
            send(&mut ws, serde_json::json!({"ack": receipt})).await;
        }
        send(&mut ws, serde_json::json!({"ack": receipts[0]})).await;
        let refused = next_json(&mut ws).await;
        assert_eq!(refused["error"], "already_settled", "{refused}");
        assert_eq!(refused["receipt"], receipts[0].as_str());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_websocket_consumers_drain_the_queue_and_a_closed_one_hands_back_its_messages() {
        let gw = Gateway::start_with(Some(&config("")));
        produce(&gw, "wsd", 300).await;
        let ledger = Arc::new(Mutex::new(HashSet::new()));
        let consumers = (0..3).map(|_| {
            let ledger = ledger.clone();
            let gw = &gw;
            async move {
                let mut ws = consumer(gw).await;
                send(&mut ws, serde_json::json!({"credit": 10})).await;
                while ledger.lock().expect("lock").len() < 300 {
                    let Ok(event) =
                        tokio::time::timeout(Duration::from_millis(500), next_json(&mut ws)).await
                    else {
                        continue;
                    };
                    let id = event["id"].as_str().expect("id").to_owned();
                    assert!(
                        ledger.lock().expect("lock").insert(id.clone()),
                        "{id} twice"
                    );
                    send(&mut ws, serde_json::json!({"ack": event["receipt"]})).await;
                    send(&mut ws, serde_json::json!({"credit": 1})).await;
                }
            }
        });
        tokio::time::timeout(
            Duration::from_secs(60),
            futures_util::future::join_all(consumers),
        )
        .await
        .expect("drained");
        assert_eq!(ledger.lock().expect("lock").len(), 300);

        produce(&gw, "held", 1).await;
        let mut ws = consumer(&gw).await;
        send(&mut ws, serde_json::json!({"credit": 1})).await;
        let held = next_json(&mut ws).await;
        ws.close(None).await.expect("close");
        let back = get(&gw.url("/queues/jobs?wait=10"), &[]).await;
        assert_eq!(back.status, 200, "{}", back.text());
        assert_eq!(back.header("ce-id"), held["id"].as_str());
        assert_eq!(back.header("switchyard-redelivered"), Some("true"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_consumers_lease_ack_and_nack() {
    let yaml = format!("listen: {{ grpc: \"127.0.0.1:0\" }}\n{}", config(""));
    let gw = Gateway::start_with(Some(&yaml));
    produce(&gw, "g", 3).await;
    let addr = gw.grpc_addr().to_string();
    let grpc = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut lines = switchyard_e2e::python::grpc(&args);
            assert_eq!(lines.len(), 1, "{lines:?}");
            lines.remove(0)
        })
    };
    let cmd = |parts: &[&str]| parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    let leased = grpc(cmd(&["lease", &addr, "jobs", "2", "0", "0"]))
        .await
        .expect("join");
    let events = leased["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 2, "{leased}");
    let receipt = |i: usize| events[i]["receipt"].as_str().expect("receipt").to_owned();
    let ack = grpc(cmd(&["settle", &addr, "jobs", &receipt(0), "ack"]))
        .await
        .expect("join");
    assert_eq!(ack["code"], "OK", "{ack}");
    let again = grpc(cmd(&["settle", &addr, "jobs", &receipt(0), "ack"]))
        .await
        .expect("join");
    assert_eq!(again["code"], "ALREADY_EXISTS", "{again}");
    let nack = grpc(cmd(&["settle", &addr, "jobs", &receipt(1), "nack"]))
        .await
        .expect("join");
    assert_eq!(nack["code"], "OK", "{nack}");
    let rest = grpc(cmd(&["lease", &addr, "jobs", "10", "0", "1000"]))
        .await
        .expect("join");
    let rest = rest["events"].as_array().expect("events").clone();
    assert_eq!(rest.len(), 2, "the nacked one and the third: {rest:?}");
    assert_eq!(rest[0]["id"], events[1]["id"], "the nacked one first");
    assert_eq!(rest[0]["redelivered"], true);
    let none = grpc(cmd(&["lease", &addr, "nope", "1", "0", "0"]))
        .await
        .expect("join");
    assert_eq!(none["code"], "NOT_FOUND", "{none}");
}
