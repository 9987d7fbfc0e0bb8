//! Long and short polling, and consumer groups, against the real binary.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use switchyard_e2e::Gateway;
use switchyard_e2e::client::{get, publish_event};
use switchyard_e2e::sse::SseStream;

const T: Duration = Duration::from_secs(10);

fn ids(res: &switchyard_e2e::client::Response) -> Vec<String> {
    res.json()
        .as_array()
        .expect("batch")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn short_poll_returns_at_once_with_a_cursor() {
    let gw = Gateway::start();
    let empty = get(&gw.url("/topics/sp"), &[]).await;
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.header("content-type"),
        Some("application/cloudevents-batch+json")
    );
    assert_eq!(empty.body.as_ref(), b"[]");
    let cursor = empty
        .header("switchyard-cursor")
        .expect("cursor")
        .to_owned();
    publish_event(&gw.url(""), "sp", "1").await;
    publish_event(&gw.url(""), "sp", "2").await;
    let res = get(&gw.url(&format!("/topics/sp?since={cursor}")), &[]).await;
    assert_eq!(ids(&res), ["1", "2"]);
    let next = res.header("switchyard-cursor").expect("cursor");
    let again = get(&gw.url(&format!("/topics/sp?since={next}")), &[]).await;
    assert!(ids(&again).is_empty());
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_an_event_is_published() {
    let gw = Gateway::start();
    let cursor = get(&gw.url("/topics/lp"), &[])
        .await
        .header("switchyard-cursor")
        .expect("cursor")
        .to_owned();
    let url = gw.url(&format!("/topics/lp?since={cursor}&wait=30"));
    let waiting = tokio::spawn(async move {
        let res = get(&url, &[]).await;
        (res, Instant::now())
    });
    // The poll is parked once the hub counts its subscription.
    switchyard_e2e::eventually(T, "parked long poll", || async {
        let m = get(&gw.url("/metrics"), &[]).await.text();
        m.lines()
            .any(|l| l == "switchyard_hub_subscribers 1")
            .then_some(())
    })
    .await;
    let published = Instant::now();
    publish_event(&gw.url(""), "lp", "now").await;
    let (res, answered) = tokio::time::timeout(T, waiting)
        .await
        .expect("answered well before wait=30")
        .expect("task");
    assert_eq!(ids(&res), ["now"]);
    eprintln!(
        "long poll answered {:?} after the publish started",
        answered.duration_since(published)
    );
}

#[tokio::test]
async fn long_poll_times_out_with_an_empty_batch() {
    let gw = Gateway::start();
    let res = get(&gw.url("/topics/none?wait=1"), &[]).await;
    assert_eq!(res.status, 200);
    assert!(ids(&res).is_empty());
    assert!(res.header("switchyard-cursor").is_some());
}

#[tokio::test]
async fn limit_pages_through_the_window() {
    let gw = Gateway::start();
    for i in 0..5 {
        publish_event(&gw.url(""), "page", &i.to_string()).await;
    }
    let first = get(&gw.url("/topics/page?since=0&limit=3"), &[]).await;
    assert_eq!(ids(&first), ["0", "1", "2"]);
    let cursor = first.header("switchyard-cursor").expect("cursor");
    let second = get(
        &gw.url(&format!("/topics/page?since={cursor}&limit=3")),
        &[],
    )
    .await;
    assert_eq!(ids(&second), ["3", "4"]);
}

#[tokio::test]
async fn bad_query_is_400() {
    let gw = Gateway::start();
    for q in ["since=abc", "wait=-1", "bogus=1"] {
        let res = get(&gw.url(&format!("/topics/x?{q}")), &[]).await;
        assert_eq!(res.status, 400, "{q}: {}", res.text());
    }
    let res = get(&gw.url("/topics/a/%23/b"), &[]).await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn sse_group_members_split_the_stream_without_loss_or_duplication() {
    let gw = Gateway::start();
    let mut a = SseStream::connect(&gw.url("/topics/jobs/%23?group=workers"), &[]).await;
    let mut b = SseStream::connect(&gw.url("/topics/jobs/%23?group=workers"), &[]).await;
    a.next_any(T).await.expect("preamble");
    b.next_any(T).await.expect("preamble");
    let n = 200;
    for i in 0..n {
        publish_event(&gw.url(""), &format!("jobs/{}", i % 3), &i.to_string()).await;
    }
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    while seen_a.len() + seen_b.len() < n {
        tokio::select! {
            e = a.next_event(T) => seen_a.push(e.expect("a open").json()["id"].as_str().expect("id").to_owned()),
            e = b.next_event(T) => seen_b.push(e.expect("b open").json()["id"].as_str().expect("id").to_owned()),
        }
    }
    let all: HashSet<_> = seen_a.iter().chain(&seen_b).cloned().collect();
    assert_eq!(all.len(), n, "every event exactly once");
    assert!(
        !seen_a.is_empty() && !seen_b.is_empty(),
        "both members got work: {} / {}",
        seen_a.len(),
        seen_b.len()
    );
}

#[tokio::test]
async fn polling_group_hands_each_event_to_one_poll() {
    let gw = Gateway::start();
    let url = gw.url("/topics/q?group=g&limit=4");
    assert!(
        ids(&get(&url, &[]).await).is_empty(),
        "a new group starts at the present"
    );
    for i in 0..10 {
        publish_event(&gw.url(""), "q", &i.to_string()).await;
    }
    let mut all = Vec::new();
    for _ in 0..4 {
        all.extend(ids(&get(&url, &[]).await));
    }
    assert_eq!(all, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
}
