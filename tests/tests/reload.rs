//! Config reload without a restart, against the real binary: a new route reaches clients
//! that stay connected, a changed webhook lets in-flight deliveries finish on the old URL, a
//! bad config is refused while the old one serves, a Kubernetes-style ConfigMap symlink swap
//! triggers a reload, and 1 000 events published across 10 reloads all arrive exactly once.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use switchyard_e2e::client::{get, post, publish_event};
use switchyard_e2e::python::{self, unique};
use switchyard_e2e::receiver::{Received, Receiver};
use switchyard_e2e::sse::SseStream;
use switchyard_e2e::{Gateway, eventually, within};

const T: Duration = Duration::from_secs(20);

/// Waits until `switchyard_config_reloads_total{result}` reads `n`.
async fn reloads(gw: &Gateway, result: &str, n: u64) {
    let line = format!("switchyard_config_reloads_total{{result=\"{result}\"}} {n}");
    eventually(T, &line, || async {
        let metrics = get(&gw.url("/metrics"), &[]).await.text();
        metrics.lines().any(|l| l == line).then_some(())
    })
    .await;
}

async fn subscribers(gw: &Gateway, n: usize) {
    let line = format!("switchyard_hub_subscribers {n}");
    eventually(T, &line, || async {
        let metrics = get(&gw.url("/metrics"), &[]).await.text();
        metrics.lines().any(|l| l == line).then_some(())
    })
    .await;
}

/// A structured event's publish status (no assertion: some are meant to fail).
async fn publish_status(gw: &Gateway, topic: &str, id: &str) -> u16 {
    let event =
        serde_json::json!({ "specversion": "1.0", "id": id, "source": "/test", "type": "t" });
    let url = gw.url(&format!("/topics/{topic}"));
    let headers = [("content-type", "application/cloudevents+json")];
    post(&url, &headers, event.to_string()).await.status
}

fn webhook_id(received: &Received) -> String {
    match received.headers.get("ce-id") {
        Some(id) => id.to_str().expect("ascii").to_owned(),
        None => serde_json::from_slice::<serde_json::Value>(&received.body).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned(),
    }
}

fn log_count(gw: &Gateway, needle: &str) -> usize {
    gw.log.lock().expect("log").matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_route_reaches_clients_that_stay_connected_and_an_unchanged_inbound_keeps_its_session()
 {
    let devices = unique("reload-dev");
    let config = |extra_route: &str| {
        format!(
            r#"
inbounds:
  devices: {{ type: mqtt, url: "mqtt://127.0.0.1:1883", subscribe: ["{devices}/#"], qos: 1 }}
routes:
  - {{ name: a, from: http, topics: "a/#", to: hub }}
  - {{ name: devices, from: devices, to: hub }}
{extra_route}"#
        )
    };
    let gw = Gateway::start_args(&config(""), &[]);
    eventually(T, "MQTT inbound ready", || async {
        (get(&gw.url("/readyz"), &[]).await.status == 200).then_some(())
    })
    .await;
    let mut sse = SseStream::connect(&gw.url("/topics/b/1"), &[]).await;
    let mut device_feed = SseStream::connect(&gw.url(&format!("/topics/{devices}/%2B")), &[]).await;
    let request = format!("ws://{}/topics/b/1", gw.addr).into_client_request();
    let (mut ws, _) = connect_async(request.expect("request"))
        .await
        .expect("websocket");
    subscribers(&gw, 3).await;
    assert_eq!(
        publish_status(&gw, "b/1", "before").await,
        404,
        "no route yet"
    );

    gw.rewrite_config(&config(
        "  - { name: b, from: http, topics: \"b/#\", to: hub }\n",
    ));
    reloads(&gw, "applied", 1).await;
    publish_event(&gw.url(""), "b/1", "after-reload").await;
    let event = sse
        .next_event(T)
        .await
        .expect("SSE event on the same stream");
    assert_eq!(event.json()["id"], "after-reload");
    let frame = loop {
        match within(T, "websocket event", ws.next()).await {
            Some(Ok(Message::Text(text))) => break text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("the WebSocket was not kept: {other:?}"),
        }
    };
    let frame: serde_json::Value = serde_json::from_str(&frame).expect("json");
    assert_eq!(frame["id"], "after-reload");

    // The MQTT inbound did not change: the same session still delivers, never reconnected.
    tokio::task::spawn_blocking(move || {
        python::run(&["mqtt-pub", &format!("{devices}/x"), "1", "v5-binary"])
    })
    .await
    .expect("paho publishes");
    device_feed
        .next_event(T)
        .await
        .expect("MQTT event after the reload");
    assert_eq!(
        log_count(&gw, "MQTT connected"),
        1,
        "{}",
        gw.log.lock().expect("log")
    );
    assert_eq!(log_count(&gw, "MQTT inbound stopped"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_webhook_url_lets_in_flight_deliveries_finish_on_the_old_one() {
    let old = Receiver::start_held().await;
    let new = Receiver::start().await;
    let config = |url: &str| {
        format!(
            "outbounds:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes: [{{ name: r, from: http, to: hook }}]\n"
        )
    };
    let gw = Gateway::start_args(&config(&old.url()), &[]);
    let base = gw.url("");
    let in_flight = tokio::spawn(async move { publish_event(&base, "orders", "in-flight").await });
    eventually(T, "old webhook holding the delivery", || async {
        (old.in_flight.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;

    gw.rewrite_config(&config(&new.url()));
    reloads(&gw, "applied", 1).await;
    publish_event(&gw.url(""), "orders", "after").await;
    assert!(
        !in_flight.is_finished(),
        "the old webhook still holds the first event"
    );
    old.release(1);
    within(T, "in-flight publish", in_flight)
        .await
        .expect("answered 200");

    let ids = |r: &Receiver| r.accepted().iter().map(webhook_id).collect::<Vec<_>>();
    assert_eq!(ids(&old), ["in-flight"]);
    assert_eq!(ids(&new), ["after"]);
}

#[tokio::test]
async fn a_bad_config_is_refused_with_every_error_and_the_old_one_keeps_serving() {
    let good = "routes: [{ name: a, from: http, to: hub }]\n";
    let gw = Gateway::start_args(good, &["--no-watch"]);
    let mut sse = SseStream::connect(&gw.url("/topics/kept"), &[]).await;
    subscribers(&gw, 1).await;

    gw.rewrite_config("routes: [{ name: a, from: http, to: nowhere }]\nhttp: { body_limt: 5 }\n");
    gw.hangup();
    reloads(&gw, "refused", 1).await;
    reloads(&gw, "applied", 0).await;
    let log = gw.log.lock().expect("log").clone();
    assert!(
        log.contains("routes[0].to: no outbound named `nowhere`"),
        "{log}"
    );
    assert!(log.contains("body_limt"), "{log}");
    assert_eq!(get(&gw.url("/readyz"), &[]).await.status, 200);
    publish_event(&gw.url(""), "kept", "still-served").await;
    assert_eq!(
        sse.next_event(T).await.expect("event").json()["id"],
        "still-served"
    );

    // Fixed and signalled again, it applies.
    gw.rewrite_config("routes: [{ name: b, from: http, to: hub }]\n");
    gw.hangup();
    reloads(&gw, "applied", 1).await;
}

#[tokio::test]
async fn a_new_listener_address_binds_that_listener_only() {
    let routes = "routes: [{ name: a, from: [http, grpc], to: hub }]\n";
    let gw = Gateway::start_args(routes, &["--no-watch"]);
    let mut sse = SseStream::connect(&gw.url("/topics/kept"), &[]).await;
    subscribers(&gw, 1).await;

    gw.rewrite_config(&format!("listen: {{ grpc: \"127.0.0.1:0\" }}\n{routes}"));
    gw.hangup();
    reloads(&gw, "applied", 1).await;
    let grpc = gw.grpc_addr();
    within(
        T,
        "gRPC port accepting",
        tokio::net::TcpStream::connect(grpc),
    )
    .await
    .expect("the new gRPC listener accepts");
    assert_eq!(
        log_count(&gw, "http listening"),
        1,
        "the HTTP listener was left alone"
    );
    publish_event(&gw.url(""), "kept", "same-stream").await;
    assert_eq!(
        sse.next_event(T).await.expect("event").json()["id"],
        "same-stream"
    );

    // Removed again: the gRPC listener stops accepting, and /readyz forgets it.
    gw.rewrite_config(routes);
    gw.hangup();
    reloads(&gw, "applied", 2).await;
    eventually(T, "gRPC port closed", || async {
        tokio::net::TcpStream::connect(grpc)
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert_eq!(get(&gw.url("/readyz"), &[]).await.status, 200);
}

/// `dir/config.yaml` → `..data/config.yaml`, `..data` → `..VERSION`: a mounted ConfigMap.
fn configmap_version(dir: &Path, version: &str, yaml: &str) {
    let versioned = dir.join(version);
    std::fs::create_dir_all(&versioned).expect("version dir");
    std::fs::write(versioned.join("config.yaml"), yaml).expect("write");
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(version, &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap ..data");
}

#[tokio::test]
async fn a_configmap_style_symlink_swap_triggers_a_reload() {
    let dir = std::env::temp_dir().join(unique("switchyard-configmap"));
    std::fs::create_dir_all(&dir).expect("dir");
    configmap_version(
        &dir,
        "..v1",
        "routes: [{ name: a, from: http, topics: \"a/#\", to: hub }]\n",
    );
    std::os::unix::fs::symlink("..data/config.yaml", dir.join("config.yaml")).expect("link");
    let gw = Gateway::start_file(&dir.join("config.yaml"), &[]);
    assert_eq!(publish_status(&gw, "b/1", "before").await, 404);

    configmap_version(
        &dir,
        "..v2",
        "routes: [{ name: b, from: http, topics: \"b/#\", to: hub }]\n",
    );
    std::fs::remove_dir_all(dir.join("..v1")).expect("old version removed");
    reloads(&gw, "applied", 1).await;
    assert_eq!(publish_status(&gw, "b/1", "after").await, 200);
    assert_eq!(publish_status(&gw, "a/1", "old-route").await, 404);
    drop(gw);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Each reload replaces the HTTP listener (a new body limit), swaps the route table (a route
/// of its own) and restarts an outbound (a new URL).
fn busy_config(n: usize, spare: &str) -> String {
    format!(
        r#"
http: {{ body_limit: {limit} }}
outbounds:
  spare: {{ type: webhook, url: "{spare}/{n}" }}
routes:
  - {{ name: load, from: http, topics: load, to: hub }}
  - {{ name: extra-{n}, from: http, topics: "never/{n}", to: spare }}
"#,
        limit = 1_000_000 + n
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_published_across_ten_reloads_arrive_exactly_once() {
    const EVENTS: usize = 1000;
    let spare_hook = Receiver::start().await;
    let spare = format!("http://{}", spare_hook.addr);
    let gw = Gateway::start_args(&busy_config(0, &spare), &["--no-watch"]);
    let mut sse = SseStream::connect(&gw.url("/topics/load"), &[]).await;
    subscribers(&gw, 1).await;
    let published = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let publisher = {
        let (base, published) = (gw.url(""), published.clone());
        tokio::spawn(async move {
            for i in 0..EVENTS {
                publish_event(&base, "load", &i.to_string()).await;
                published.store(i + 1, Ordering::SeqCst);
            }
        })
    };
    for n in 1..=10 {
        eventually(T, "publishes under way", || async {
            (published.load(Ordering::SeqCst) >= n * 90).then_some(())
        })
        .await;
        gw.rewrite_config(&busy_config(n, &spare));
        gw.hangup();
        reloads(&gw, "applied", n as u64).await;
    }
    within(T, "publisher", publisher)
        .await
        .expect("every publish answered 200");

    let mut seen = Vec::with_capacity(EVENTS);
    while seen.len() < EVENTS {
        let event = sse.next_event(T).await.expect("all events arrive");
        seen.push(
            event.json()["id"]
                .as_str()
                .expect("id")
                .parse::<usize>()
                .expect("n"),
        );
    }
    assert_eq!(
        seen,
        (0..EVENTS).collect::<Vec<_>>(),
        "in order, none lost, none twice"
    );
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), EVENTS);
    publish_event(&gw.url(""), "load", "end").await;
    let next = sse.next_event(T).await.expect("the end marker");
    assert_eq!(
        next.json()["id"],
        "end",
        "nothing came twice after the last event"
    );
    assert_eq!(
        log_count(&gw, "http listening"),
        11,
        "the HTTP listener was replaced each time"
    );
}
