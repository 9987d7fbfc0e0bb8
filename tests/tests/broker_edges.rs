//! Edges of the broker adapters, through the real binary and real brokers: an event whose
//! attributes cannot fit in one AMQP frame is refused without costing the connection, and an
//! MQTT 5 binary-mode message with a user property that is not an attribute name is
//! dead-lettered with the reason rather than losing the property.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use switchyard_e2e::client::{Response, get, post};
use switchyard_e2e::python::{self, unique};
use switchyard_e2e::receiver::{Received, Receiver};
use switchyard_e2e::{Gateway, eventually};

const T: Duration = Duration::from_secs(20);
const MQTT: &str = "mqtt://127.0.0.1:1883";
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// RabbitMQ's default `frame_max`, which the gateway's connection negotiates.
const FRAME_MAX: usize = 131_072;

/// Waits until /readyz says every broker connection is up.
async fn ready(gw: &Gateway) {
    eventually(T, "gateway ready (brokers connected)", || async {
        (get(&gw.url("/readyz"), &[]).await.status == 200).then_some(())
    })
    .await;
}

/// Polls /readyz in the background, counting the answers that were not 200.
struct ReadinessWatch {
    stop: Arc<AtomicBool>,
    checks: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Vec<u16>>,
}

impl ReadinessWatch {
    fn start(gw: &Gateway) -> Self {
        let url = gw.url("/readyz");
        let stop = Arc::new(AtomicBool::new(false));
        let checks = Arc::new(AtomicUsize::new(0));
        let (stopped, counted) = (stop.clone(), checks.clone());
        let task = tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut every = tokio::time::interval(Duration::from_millis(10));
            while !stopped.load(Ordering::SeqCst) {
                every.tick().await;
                let status = get(&url, &[]).await.status;
                if status != 200 {
                    failures.push(status);
                }
                counted.fetch_add(1, Ordering::SeqCst);
            }
            failures
        });
        Self { stop, checks, task }
    }

    /// Stops after at least one more check; the non-200 answers seen.
    async fn failures(self) -> Vec<u16> {
        let seen = self.checks.load(Ordering::SeqCst);
        let checks = self.checks.clone();
        eventually(T, "another readiness check", || {
            let checks = checks.clone();
            async move { (checks.load(Ordering::SeqCst) > seen).then_some(()) }
        })
        .await;
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("readiness watch ran")
    }
}

async fn publish(gw: &Gateway, id: &str, ext: &str) -> Response {
    let event = serde_json::json!({ "specversion": "1.0", "id": id, "source": "/edges", "type": "com.example.edge",
        "subject": "s1", "ext": ext, "data": { "n": 1 } });
    post(
        &gw.url("/topics/edges"),
        &[("content-type", "application/cloudevents+json")],
        event.to_string(),
    )
    .await
}

/// The header frame size a refusal names: "... make a N-byte AMQP content header frame ...".
fn refused_frame_size(message: &str) -> usize {
    let after = message
        .split("make a ")
        .nth(1)
        .unwrap_or_else(|| panic!("no frame size in {message}"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("a frame size")
}

#[tokio::test]
async fn amqp_attributes_too_large_for_one_frame_are_refused_and_the_link_stays_up() {
    let exchange = unique("edge-x");
    let queue = unique("edge-q");
    python::run(&["amqp-setup", &exchange, &queue, "edge.#"]);
    let yaml = format!(
        "outbounds:\n  rabbit: {{ type: amqp, url: \"{AMQP}\", exchange: \"{exchange}\", routing_key: \"edge.{{subject}}\", mode: binary }}\nroutes:\n  - {{ name: r, to: rabbit }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;
    let watch = ReadinessWatch::start(&gw);

    // A 200 KB extension becomes a 200 KB `cloudEvents_ext` header: more than one frame.
    let big = 200_000;
    let res = publish(&gw, "big-1", &"x".repeat(big)).await;
    assert_eq!(res.status, 422, "{}", res.text());
    let body = res.json();
    assert_eq!(body["error"], "rejected", "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(
        message.contains(&format!("frame_max of {FRAME_MAX} bytes")),
        "{message}"
    );
    // One byte over is refused, and a header frame of exactly frame_max is what RabbitMQ
    // still takes: the size the refusal names is the frame's size on the wire. (The ids are
    // all as long: they travel in the header too.)
    let size = refused_frame_size(message);
    let fits = big - (size - FRAME_MAX);
    let over = publish(&gw, "big-2", &"x".repeat(fits + 1)).await;
    assert_eq!(over.status, 422, "{}", over.text());
    let over_message = over.json()["message"].as_str().map(str::to_owned);
    assert_eq!(
        refused_frame_size(&over_message.unwrap_or_default()),
        FRAME_MAX + 1
    );
    let exact = publish(&gw, "big-3", &"x".repeat(fits)).await;
    assert_eq!(exact.status, 200, "{}", exact.text());
    let normal = publish(&gw, "normal", "small").await;
    assert_eq!(normal.status, 200, "{}", normal.text());

    assert_eq!(
        watch.failures().await,
        Vec::<u16>::new(),
        "/readyz stayed 200: the connection never dropped"
    );
    let got = python::run(&["amqp-drain", &queue]);
    let ids: Vec<&str> = got
        .iter()
        .map(|m| m["headers"]["cloudEvents_id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids, ["big-3", "normal"]);
    assert_eq!(got[1]["headers"]["cloudEvents_ext"], "small");
    python::run(&["amqp-delete", &exchange, &queue]);
}

/// A `ce-` header's value, percent-decoded as the HTTP binding encodes it.
fn header(received: &Received, name: &str) -> Option<String> {
    let text = received.headers.get(name)?.to_str().ok()?;
    let (mut bytes, mut rest) = (Vec::new(), text.as_bytes());
    while let Some((&first, tail)) = rest.split_first() {
        let escaped = tail
            .get(..2)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (first, escaped) {
            (b'%', Some(byte)) => {
                bytes.push(byte);
                rest = &tail[2..];
            }
            _ => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

#[tokio::test]
async fn mqtt_binary_user_property_that_is_no_attribute_name_is_dead_lettered() {
    let hook = Receiver::start().await;
    let parked = Receiver::start().await;
    let topic = unique("it/edge-props");
    let yaml = format!(
        "inbounds:\n  devices: {{ type: mqtt, url: \"{MQTT}\", subscribe: [\"{topic}/#\"], client_id: \"{id}\", dead_letter: parked }}\noutbounds:\n  hook: {{ type: webhook, url: \"{hook}\" }}\n  parked: {{ type: webhook, url: \"{parked}\" }}\nroutes:\n  - {{ name: r, from: devices, to: hook }}\n",
        id = unique("sy"),
        hook = hook.url(),
        parked = parked.url()
    );
    let gw = Gateway::start_with(Some(&yaml));
    ready(&gw).await;

    let device = format!("{topic}/dev-1");
    python::run(&["mqtt-pub-props", &device, "bad-1", r#"[["Bad-Name", "v"]]"#]);
    python::run(&[
        "mqtt-pub-props",
        &device,
        "good-1",
        r#"[["traceparent", "00-abc-01"]]"#,
    ]);
    eventually(T, "the dead letter and the good event", || async {
        (parked.count() >= 1 && hook.count() >= 1).then_some(())
    })
    .await;

    let dead_letters = parked.accepted();
    let dead = &dead_letters[0];
    let reason = header(dead, "ce-deadletterreason").expect("a dead-letter reason");
    assert!(reason.contains("Bad-Name"), "{reason}");
    assert!(
        reason.contains("not a valid CloudEvents attribute name"),
        "{reason}"
    );
    assert_eq!(
        header(dead, "ce-source").as_deref(),
        Some("/switchyard/inbounds/devices")
    );
    let accepted = hook.accepted();
    let delivered: Vec<Option<String>> = accepted.iter().map(|r| header(r, "ce-id")).collect();
    assert_eq!(
        delivered,
        [Some("good-1".to_owned())],
        "the bad message was not delivered"
    );
    assert_eq!(
        header(&accepted[0], "ce-traceparent").as_deref(),
        Some("00-abc-01")
    );
}
