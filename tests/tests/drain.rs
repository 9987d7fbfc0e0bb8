//! The drain on SIGTERM, with a ledger: publishers keep posting while the signal arrives, an
//! SSE and a WebSocket subscriber and a webhook take every event, and each id answered 200
//! must have reached all three (issue 7.1: a 200 means the event was handed to every
//! subscriber connected at that moment).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use switchyard_e2e::client::get;
use switchyard_e2e::receiver::Receiver;
use switchyard_e2e::sse::SseStream;
use switchyard_e2e::{Gateway, eventually, within};

const T: Duration = Duration::from_secs(10);

/// Posts events (`batch` at a time; 1 = structured mode) on one keep-alive connection until
/// the gateway stops answering; returns the ids answered 200 and the requests refused (503).
async fn publisher(base: String, p: usize, batch: usize) -> (Vec<String>, usize) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for i in 0..100_000 {
        let ids: Vec<String> = (0..batch).map(|j| format!("p{p}-{i}-{j}")).collect();
        let events: Vec<_> = ids
            .iter()
            .map(|id| serde_json::json!({"specversion":"1.0","id":id,"source":"/drain","type":"t"}))
            .collect();
        let (content_type, body) = match batch {
            1 => ("application/cloudevents+json", events[0].to_string()),
            _ => (
                "application/cloudevents-batch+json",
                serde_json::Value::from(events).to_string(),
            ),
        };
        let req = http::Request::post(format!("{base}/topics/d"))
            .header("content-type", content_type)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .expect("request");
        let Ok(res) = client.request(req).await else {
            // Connection refused or closed once the listener is gone: nothing was accepted.
            break;
        };
        let status = res.status().as_u16();
        let body = http_body_util::BodyExt::collect(res.into_body()).await;
        let answer: serde_json::Value = body
            .ok()
            .and_then(|b| serde_json::from_slice(&b.to_bytes()).ok())
            .unwrap_or_default();
        // A 200 or a batch refused part-way: `accepted` lists what was delivered.
        if let Some(ids) = answer["accepted"].as_array() {
            accepted.extend(ids.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        }
        match status {
            200 => {}
            503 => refused += 1,
            _ => break,
        }
    }
    (accepted, refused)
}

/// Reads the SSE stream to its end, counting in `seen`; the ids it carried.
async fn sse_ids(mut sse: SseStream, seen: Arc<AtomicUsize>) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(event) = sse.next_event(Duration::from_secs(30)).await {
        if event.event.is_none() {
            ids.push(event.json()["id"].as_str().expect("id").to_owned());
            seen.fetch_add(1, Ordering::Relaxed);
        }
    }
    ids
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads the WebSocket to its close frame; the ids and the close code.
async fn ws_ids(mut ws: Ws) -> (Vec<String>, Option<u16>) {
    let mut ids = Vec::new();
    loop {
        match within(Duration::from_secs(30), "ws frame", ws.next()).await {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(&t).expect("json");
                ids.push(v["id"].as_str().expect("id").to_owned());
            }
            Some(Ok(Message::Close(frame))) => return (ids, frame.map(|f| f.code.into())),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (ids, None),
        }
    }
}

fn missing(accepted: &[String], got: &[String]) -> Vec<String> {
    let got: HashSet<&String> = got.iter().collect();
    accepted
        .iter()
        .filter(|id| !got.contains(id))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_streams_and_loses_no_accepted_publish() {
    drain_with_publishers(true).await;
}

/// The hub alone: publishes are answered fastest, so the most are in flight at the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_loses_no_event_published_to_the_hub_alone() {
    drain_with_publishers(false).await;
}

async fn drain_with_publishers(with_webhook: bool) {
    let hook = Receiver::start().await;
    let yaml = if with_webhook {
        format!(
            "outbounds:\n  hook: {{ type: webhook, url: \"{}\" }}\nroutes:\n  - {{ name: all, to: [hub, hook] }}\nshutdown: {{ grace_ms: 5000 }}\n",
            hook.url()
        )
    } else {
        "shutdown: { grace_ms: 5000 }\n".to_owned()
    };
    let mut gw = Gateway::start_with(Some(&yaml));
    let mut sse = SseStream::connect(&gw.url("/topics/d"), &[]).await;
    sse.next_any(T).await.expect("preamble");
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/topics/d", gw.addr))
        .await
        .expect("ws");
    eventually(T, "both subscribers registered", || async {
        let metrics = get(&gw.url("/metrics"), &[]).await.text();
        metrics
            .lines()
            .any(|l| l == "switchyard_hub_subscribers 2")
            .then_some(())
    })
    .await;
    let streamed = Arc::new(AtomicUsize::new(0));
    let sse = tokio::spawn(sse_ids(sse, streamed.clone()));
    let ws = tokio::spawn(ws_ids(ws));
    let base = gw.url("");
    // Two single-event and two batch publishers; the signal comes once thousands are through.
    let publishers: Vec<_> = [1, 1, 20, 20]
        .into_iter()
        .enumerate()
        .map(|(p, batch)| tokio::spawn(publisher(base.clone(), p, batch)))
        .collect();
    eventually(Duration::from_secs(60), "some deliveries", || async {
        (streamed.load(Ordering::Relaxed) > 3000).then_some(())
    })
    .await;
    let code = tokio::task::spawn_blocking(move || (gw.terminate(), gw))
        .await
        .expect("terminate")
        .0;
    assert_eq!(code, Some(0), "clean exit after drain");

    let (mut accepted, mut refused) = (Vec::new(), 0);
    for p in publishers {
        let (ids, r) = p.await.expect("publisher");
        accepted.extend(ids);
        refused += r;
    }
    let sse = sse.await.expect("sse reader");
    let (ws, close) = ws.await.expect("ws reader");
    let mut ledgers = vec![("SSE", sse), ("WebSocket", ws)];
    if with_webhook {
        let hooked = hook.accepted();
        let ids = hooked
            .iter()
            .map(|r| r.headers["ce-id"].to_str().expect("id").to_owned());
        ledgers.push(("webhook", ids.collect()));
    }
    let received: Vec<String> = ledgers
        .iter()
        .map(|(who, got)| format!("{who} {}", got.len()))
        .collect();
    eprintln!(
        "drain: {} answered 200, {refused} answered 503; received: {}",
        accepted.len(),
        received.join(", ")
    );
    assert!(!accepted.is_empty());
    for (who, got) in &ledgers {
        let lost = missing(&accepted, got);
        assert!(
            lost.is_empty(),
            "{} publishes answered 200 never reached the {who} subscriber: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
    }
    assert_eq!(close, Some(1001), "the WebSocket closes with 1001 on drain");
}

/// `confirm: false` deliveries run after the publisher's 200; the drain waits for them too,
/// instead of the process dropping them mid-flight.
#[tokio::test]
async fn sigterm_waits_for_unconfirmed_deliveries() {
    let hook = Receiver::start_slow(Duration::from_millis(300)).await;
    let yaml = format!(
        "outbounds:\n  hook: {{ type: webhook, url: \"{}\" }}\nroutes:\n  - {{ name: later, to: hook, confirm: false }}\nshutdown: {{ grace_ms: 10000 }}\n",
        hook.url()
    );
    let mut gw = Gateway::start_with(Some(&yaml));
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = format!("u-{i}");
        let body = serde_json::json!({"specversion":"1.0","id":id,"source":"/drain","type":"t"});
        let res = switchyard_e2e::client::post(
            &gw.url("/topics/u"),
            &[("content-type", "application/cloudevents+json")],
            body.to_string(),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.text());
        ids.push(id);
    }
    let code = tokio::task::spawn_blocking(move || (gw.terminate(), gw))
        .await
        .expect("terminate")
        .0;
    assert_eq!(code, Some(0));
    let delivered: Vec<String> = hook
        .accepted()
        .iter()
        .map(|r| r.headers["ce-id"].to_str().expect("id").to_owned())
        .collect();
    let lost = missing(&ids, &delivered);
    assert!(
        lost.is_empty(),
        "unconfirmed deliveries dropped at exit: {lost:?}"
    );
}
