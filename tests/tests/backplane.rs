//! Many gateways as one: three gateway processes on loopback share one hub backplane on the
//! real nats-server (JetStream). An event published on one gateway reaches SSE and WebSocket
//! subscribers on the others once, in order, with the stream sequence as the cursor; a client
//! whose gateway is killed resumes on another with its `Last-Event-ID` and gets exactly what it
//! missed; `since=0` replays the stream; a stream whose settings differ is refused.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio_tungstenite::tungstenite::Message;

use switchyard_e2e::Gateway;
use switchyard_e2e::client::{get, post};
use switchyard_e2e::eventually;
use switchyard_e2e::python::{self, unique};
use switchyard_e2e::sse::SseStream;

const T: Duration = Duration::from_secs(30);
const NATS: &str = "nats://127.0.0.1:4222";

fn config(stream: &str, max_age: &str) -> String {
    format!(
        "hub:\n  backplane: {{ type: nats, url: \"{NATS}\", stream: \"{stream}\", max_age: \"{max_age}\" }}\n"
    )
}

async fn ready(gw: &Gateway) {
    eventually(T, "gateway ready (backplane connected)", || async {
        (get(&gw.url("/readyz"), &[]).await.status == 200).then_some(())
    })
    .await;
}

async fn publish(gw: &Gateway, topic: &str, ids: std::ops::Range<usize>) {
    for n in ids {
        let event = serde_json::json!({"specversion": "1.0", "id": format!("e-{n}"), "source": "/bp", "type": "t"});
        let res = post(
            &gw.url(&format!("/topics/{topic}")),
            &[("content-type", "application/cloudevents+json")],
            event.to_string(),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
}

/// The next `n` events of an SSE stream: (cursor, id).
async fn sse_events(sse: &mut SseStream, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let event = sse.next_event(T).await.expect("an event");
        let id = event.json()["id"].as_str().unwrap_or_default().to_owned();
        out.push((event.id.clone().unwrap_or_default(), id));
    }
    out
}

fn only_ids(events: &[(String, String)]) -> Vec<String> {
    events.iter().map(|(_, id)| id.clone()).collect()
}

/// The ids of the next `n` events of a WebSocket, keep-alives skipped.
async fn ws_ids<S>(ws: &mut S, n: usize) -> Vec<String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut out = Vec::new();
    while out.len() < n {
        let frame = tokio::time::timeout(T, ws.next())
            .await
            .expect("a frame")
            .expect("open")
            .expect("ok");
        match frame {
            Message::Text(text) => {
                let event: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                out.push(event["id"].as_str().unwrap_or_default().to_owned());
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("a text frame: {other:?}"),
        }
    }
    out
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("e-{n}")).collect()
}

#[tokio::test]
async fn three_gateways_fan_out_and_resume_as_one() {
    let stream = unique("it-bp");
    let yaml = config(&stream, "1h");
    let (a, mut b, c) = (
        Gateway::start_with(Some(&yaml)),
        Gateway::start_with(Some(&yaml)),
        Gateway::start_with(Some(&yaml)),
    );
    for gw in [&a, &b, &c] {
        ready(gw).await;
    }
    let mut on_b = SseStream::connect(&b.url("/topics/news/%23"), &[]).await;
    let mut on_c = SseStream::connect(&c.url("/topics/news/%23"), &[]).await;
    on_b.next_any(T).await.expect("preamble");
    on_c.next_any(T).await.expect("preamble");
    let (mut ws, _) =
        tokio_tungstenite::connect_async(c.url("/topics/news/%23").replace("http", "ws"))
            .await
            .expect("websocket");

    publish(&a, "news/eu", 0..500).await;
    let got_b = sse_events(&mut on_b, 500).await;
    let got_c = sse_events(&mut on_c, 500).await;
    assert_eq!(
        only_ids(&got_b),
        ids(0..500),
        "B: every event once, in order"
    );
    assert_eq!(
        got_b, got_c,
        "B and C: the same events under the same cursors"
    );
    assert_eq!(
        ws_ids(&mut ws, 500).await,
        ids(0..500),
        "WebSocket on C, in order"
    );

    // B dies; its client comes back on C with the last cursor it saw and gets exactly the rest.
    let last_seen = got_b
        .last()
        .map(|(cursor, _)| cursor.clone())
        .expect("a cursor");
    b.kill();
    publish(&a, "news/eu", 500..1000).await;
    let headers = [("last-event-id", last_seen.as_str())];
    let mut resumed = SseStream::connect(&c.url("/topics/news/%23"), &headers).await;
    let missed = sse_events(&mut resumed, 500).await;
    assert_eq!(only_ids(&missed), ids(500..1000), "exactly what it missed");

    // A newcomer replays what the stream holds.
    let mut replay = SseStream::connect(&a.url("/topics/news/%23?since=0"), &[]).await;
    let all = sse_events(&mut replay, 1000).await;
    assert_eq!(only_ids(&all), ids(0..1000));
    drop((a, c));
    python::nats(&["js-delete", &stream]);
}

#[test]
fn a_stream_whose_settings_differ_is_refused_at_startup() {
    let stream = unique("it-bp-conflict");
    python::nats(&["js-setup", &stream, &format!("{stream}.>")]);
    // js-setup made the stream with a 10 minute max_age; the config asks for 2 hours.
    let path = std::env::temp_dir().join(format!("{}.yaml", unique("sy-bp")));
    std::fs::write(&path, config(&stream, "2h")).expect("write the config");
    let out = std::process::Command::new(switchyard_e2e::gateway::binary())
        .arg("--config")
        .arg(&path)
        .env("SWITCHYARD_HTTP_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run the gateway");
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("hub.backplane.max_age"), "{stderr}");
    python::nats(&["js-delete", &stream]);
}

#[tokio::test]
async fn a_group_with_members_on_three_gateways_splits_the_events_without_loss_or_duplicate() {
    let stream = unique("it-bp-group");
    let yaml = config(&stream, "1h");
    let gateways: Vec<Gateway> = (0..3).map(|_| Gateway::start_with(Some(&yaml))).collect();
    for gw in &gateways {
        ready(gw).await;
    }
    let mut members = Vec::new();
    for gw in &gateways {
        let mut sse = SseStream::connect(&gw.url("/topics/jobs/%23?group=workers"), &[]).await;
        sse.next_any(T).await.expect("preamble");
        members.push(sse);
    }
    // The group's shared consumer exists once a gateway noticed its members; what is published
    // from then on is the group's.
    eventually(T, "the group's shared consumer", || {
        let stream = stream.clone();
        async move {
            let consumers = python::nats(&["js-consumers", &stream]);
            (!consumers.is_empty()).then_some(())
        }
    })
    .await;
    let publisher = &gateways[0];
    publish(publisher, "jobs/x", 0..1000).await;
    let total = std::sync::atomic::AtomicUsize::new(0);
    let deadline = tokio::time::Instant::now() + T;
    let got: Vec<Vec<String>> = join_all(members.iter_mut().map(|member| {
        let total = &total;
        async move {
            let mut ids = Vec::new();
            // Until the members together have every event (each has its share, unknown).
            while total.load(std::sync::atomic::Ordering::SeqCst) < 1000 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out: {} events",
                    total.load(std::sync::atomic::Ordering::SeqCst)
                );
                let quiet = Duration::from_millis(200);
                if let Ok(Some(event)) = tokio::time::timeout(quiet, member.next_event(T)).await {
                    ids.push(event.json()["id"].as_str().unwrap_or_default().to_owned());
                    total.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            ids
        }
    }))
    .await;
    // Anything more would be a duplicate: give it the chance to show.
    for member in &mut members {
        let late = tokio::time::timeout(Duration::from_millis(300), member.next_event(T)).await;
        assert!(
            !matches!(late, Ok(Some(_))),
            "an event beyond the 1 000: a duplicate"
        );
    }
    let counts: Vec<usize> = got.iter().map(Vec::len).collect();
    eprintln!("group split over three gateways: {counts:?}");
    let mut all: Vec<String> = got.into_iter().flatten().collect();
    assert_eq!(all.len(), 1000, "each event to one member: {counts:?}");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 1000, "no duplicate");
    drop(gateways);
    python::nats(&["js-delete", &stream]);
}
