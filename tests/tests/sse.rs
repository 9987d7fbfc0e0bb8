//! Server-Sent Events against the real binary: delivery, resume with exactly the missed events,
//! keep-alives, the reset notice, and the end of streams on drain.

use std::time::Duration;

use switchyard_e2e::Gateway;
use switchyard_e2e::client::publish_event;
use switchyard_e2e::sse::SseStream;

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn delivers_structured_events_with_cursor_ids() {
    let gw = Gateway::start();
    let mut sse = SseStream::connect(&gw.url("/topics/room/%2B"), &[]).await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.headers["content-type"], "text/event-stream");
    let preamble = sse.next_any(T).await.expect("preamble");
    assert_eq!(preamble.retry.as_deref(), Some("2000"));
    publish_event(&gw.url(""), "room/1", "a").await;
    publish_event(&gw.url(""), "other/1", "skip").await;
    publish_event(&gw.url(""), "room/2", "b").await;
    let a = sse.next_event(T).await.expect("a");
    let b = sse.next_event(T).await.expect("b");
    assert_eq!(a.json()["id"], "a");
    assert_eq!(b.json()["id"], "b");
    let (ia, ib): (u64, u64) = (
        a.id.expect("id").parse().expect("n"),
        b.id.expect("id").parse().expect("n"),
    );
    assert!(ib > ia);
}

#[tokio::test]
async fn resume_after_disconnect_gets_exactly_the_missed_events() {
    let gw = Gateway::start();
    let base = gw.url("");
    let mut sse = SseStream::connect(&gw.url("/topics/feed"), &[]).await;
    publish_event(&base, "feed", "1").await;
    let first = sse.next_event(T).await.expect("first");
    let last_id = first.id.expect("id");
    drop(sse);
    for id in ["2", "3", "4"] {
        publish_event(&base, "feed", id).await;
    }
    let mut resumed =
        SseStream::connect(&gw.url("/topics/feed"), &[("last-event-id", &last_id)]).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(
            resumed.next_event(T).await.expect("missed event").json()["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    assert_eq!(got, ["2", "3", "4"]);
    publish_event(&base, "feed", "5").await;
    assert_eq!(
        resumed.next_event(T).await.expect("live").json()["id"],
        "5",
        "no duplicate, then live"
    );
}

#[tokio::test]
async fn keep_alive_comments_flow_while_idle() {
    let gw = Gateway::start_with(Some("http: { sse_keepalive_ms: 100 }\n"));
    let mut sse = SseStream::connect(&gw.url("/topics/quiet"), &[]).await;
    sse.next_any(T).await.expect("preamble");
    let ka = sse.next_any(T).await.expect("keep-alive");
    assert_eq!(ka.comment.as_deref(), Some("keep-alive"));
}

#[tokio::test]
async fn cursor_out_of_window_gets_a_reset_event() {
    let gw = Gateway::start_with(Some("hub: { replay_events: 2 }\n"));
    let base = gw.url("");
    let mut sse = SseStream::connect(&gw.url("/topics/w"), &[]).await;
    publish_event(&base, "w", "1").await;
    let last_id = sse.next_event(T).await.expect("1").id.expect("id");
    drop(sse);
    for id in ["2", "3", "4", "5"] {
        publish_event(&base, "w", id).await;
    }
    let mut resumed =
        SseStream::connect(&gw.url("/topics/w"), &[("last-event-id", &last_id)]).await;
    let reset = resumed.next_event(T).await.expect("reset");
    assert_eq!(reset.event.as_deref(), Some("reset"));
    assert_eq!(reset.json()["type"], "dev.switchyard.hub.reset");
    assert_eq!(resumed.next_event(T).await.expect("4").json()["id"], "4");
    assert_eq!(resumed.next_event(T).await.expect("5").json()["id"], "5");
}

#[tokio::test]
async fn payload_newlines_cannot_inject_sse_fields() {
    let gw = Gateway::start();
    let mut sse = SseStream::connect(&gw.url("/topics/inj"), &[]).await;
    let body = "{\n\"a\": \"x\",\n\"b\": 1}\r\n";
    let res = switchyard_e2e::client::post(
        &gw.url("/topics/inj"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let event = sse.next_event(T).await.expect("event");
    assert_eq!(
        event.json()["data"],
        serde_json::json!({ "a": "x", "b": 1 })
    );
}

#[tokio::test]
async fn bad_last_event_id_is_400() {
    let gw = Gateway::start();
    let sse = SseStream::connect(&gw.url("/topics/x"), &[("last-event-id", "nope")]).await;
    assert_eq!(sse.status, 400);
}
