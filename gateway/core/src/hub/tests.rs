use std::time::Duration;

use super::*;
use crate::cloudevent::CloudEvent;

fn ev(id: &str) -> CloudEvent {
    CloudEvent::new(id, "/test", "test.event")
}

fn filter(f: &str) -> TopicFilter {
    TopicFilter::parse(f).expect("valid filter")
}

fn small_hub(replay: usize, queue: usize) -> Hub {
    Hub::new(HubConfig {
        replay_events: replay,
        subscriber_queue: queue,
        ..HubConfig::default()
    })
}

async fn next(sub: &mut Subscription) -> Arc<HubMessage> {
    tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("message within 5 s")
        .expect("subscription open")
}

#[tokio::test]
async fn live_subscriber_gets_matching_events_only() {
    let hub = small_hub(10, 10);
    let mut sub = hub.subscribe(filter("a/+"), SubscribeOptions::default());
    hub.publish("b/x", &ev("1")).expect("publish");
    hub.publish("a/x", &ev("2")).expect("publish");
    let msg = next(&mut sub).await;
    assert_eq!(&*msg.topic, "a/x");
    assert!(
        std::str::from_utf8(&msg.json)
            .expect("utf8")
            .contains(r#""id":"2""#)
    );
    assert!(sub.try_recv().is_none());
}

#[tokio::test]
async fn resume_replays_exactly_the_missed_events_across_topics() {
    let hub = small_hub(10, 10);
    let first = hub.publish("a/1", &ev("1")).expect("publish");
    hub.publish("a/2", &ev("2")).expect("publish");
    hub.publish("b/1", &ev("x")).expect("publish");
    hub.publish("a/1", &ev("3")).expect("publish");
    let mut sub = hub.subscribe(
        filter("a/#"),
        SubscribeOptions {
            since: Some(first),
            group: None,
        },
    );
    let replayed: Vec<u64> = [next(&mut sub).await, next(&mut sub).await]
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(replayed, vec![first + 1, first + 3]);
    assert!(sub.try_recv().is_none());
}

#[tokio::test]
async fn cursor_outside_window_gets_reset_first() {
    let hub = small_hub(2, 10);
    let first = hub.publish("t", &ev("1")).expect("publish");
    for i in 2..=4 {
        hub.publish("t", &ev(&i.to_string())).expect("publish");
    }
    let mut sub = hub.subscribe(
        filter("t"),
        SubscribeOptions {
            since: Some(first),
            group: None,
        },
    );
    let reset = next(&mut sub).await;
    assert_eq!(reset.kind, MessageKind::Reset);
    assert_eq!(next(&mut sub).await.seq, first + 2);
    assert_eq!(next(&mut sub).await.seq, first + 3);
}

#[tokio::test]
async fn cursor_from_another_run_gets_reset() {
    let hub = small_hub(10, 10);
    hub.publish("t", &ev("1")).expect("publish");
    let batch = hub.poll(&filter("t"), 5, 100);
    assert_eq!(batch.messages[0].kind, MessageKind::Reset);
    assert_eq!(batch.messages.len(), 2);
}

#[tokio::test]
async fn slow_consumer_is_disconnected_with_reason() {
    let hub = small_hub(10, 2);
    let mut sub = hub.subscribe(filter("t"), SubscribeOptions::default());
    for i in 0..3 {
        hub.publish("t", &ev(&i.to_string())).expect("publish");
    }
    next(&mut sub).await;
    next(&mut sub).await;
    let end = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("ends");
    assert_eq!(
        end.expect_err("closed"),
        CloseReason::SlowConsumer { queue: 2 }
    );
    assert_eq!(hub.stats().1, 0);
}

#[tokio::test]
async fn group_members_split_the_stream_without_loss_or_duplication() {
    let hub = small_hub(10, 1000);
    let group = || SubscribeOptions {
        since: None,
        group: Some("g".into()),
    };
    let mut a = hub.subscribe(filter("jobs/#"), group());
    let mut b = hub.subscribe(filter("jobs/#"), group());
    for i in 0..100 {
        hub.publish("jobs/x", &ev(&i.to_string())).expect("publish");
    }
    let mut seen = Vec::new();
    while let Some(m) = a.try_recv() {
        seen.push(m.seq);
    }
    let from_a = seen.len();
    while let Some(m) = b.try_recv() {
        seen.push(m.seq);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 100);
    assert_eq!(from_a, 50, "round robin splits evenly");
}

#[tokio::test]
async fn dropped_subscription_unregisters() {
    let hub = small_hub(10, 10);
    let sub = hub.subscribe(filter("#"), SubscribeOptions::default());
    assert_eq!(hub.stats().1, 1);
    drop(sub);
    assert_eq!(hub.stats().1, 0);
}

#[test]
fn poll_group_hands_each_event_to_one_poll() {
    let hub = small_hub(100, 10);
    let f = filter("q");
    assert!(hub.poll_group(&f, "g", 10).messages.is_empty());
    for i in 0..15 {
        hub.publish("q", &ev(&i.to_string())).expect("publish");
    }
    let first = hub.poll_group(&f, "g", 10);
    let second = hub.poll_group(&f, "g", 10);
    assert_eq!(first.messages.len(), 10);
    assert_eq!(second.messages.len(), 5);
    assert!(first.messages.last().expect("some").seq < second.messages[0].seq);
    assert!(hub.poll_group(&f, "g", 10).messages.is_empty());
}

#[test]
fn replay_window_is_bounded_by_bytes_too() {
    let hub = Hub::new(HubConfig {
        replay_events: 1000,
        replay_bytes: 1000,
        ..HubConfig::default()
    });
    for i in 0..100 {
        hub.publish("t", &ev(&i.to_string())).expect("publish");
    }
    let batch = hub.poll(&filter("t"), 0, 1000);
    let bytes: usize = batch.messages.iter().map(|m| m.json.len()).sum();
    assert!(bytes <= 1000, "window holds {bytes} bytes");
    assert!(!batch.messages.is_empty());
}

#[test]
fn sse_frames_cannot_be_split_by_payload_newlines() {
    let frame = sse_frame(Some(7), None, b"{\"a\":\n1}\r\nid: 9\r");
    assert_eq!(
        &frame[..],
        b"id: 7\ndata: {\"a\":\ndata: 1}\ndata: id: 9\ndata: \n\n"
    );
}

#[tokio::test]
async fn stream_replay_over_many_topics_keeps_the_newest_after_a_reset() {
    let hub = Hub::new(HubConfig {
        replay_events: 3,
        subscriber_queue: 3,
        ..HubConfig::default()
    });
    let first = hub.publish("a/0", &ev("0")).expect("publish");
    for i in 1..10 {
        hub.publish(&format!("a/{i}"), &ev(&i.to_string()))
            .expect("publish");
    }
    let mut sub = hub.subscribe(
        filter("a/+"),
        SubscribeOptions {
            since: Some(first),
            group: None,
        },
    );
    let reset = next(&mut sub).await;
    assert_eq!(reset.kind, MessageKind::Reset);
    let kept: Vec<u64> = [
        next(&mut sub).await,
        next(&mut sub).await,
        next(&mut sub).await,
    ]
    .iter()
    .map(|m| m.seq)
    .collect();
    assert_eq!(kept, vec![first + 7, first + 8, first + 9]);
}

#[test]
fn at_the_topic_limit_old_topics_are_forgotten_and_resumes_from_before_get_a_reset() {
    let hub = Hub::new(HubConfig {
        max_topics: 10,
        ..HubConfig::default()
    });
    let first = hub.publish("t/0", &ev("0")).expect("publish");
    for i in 1..30 {
        hub.publish(&format!("t/{i}"), &ev(&i.to_string()))
            .expect("never refused");
    }
    assert!(hub.stats().0 <= 10);
    let batch = hub.poll(&filter("t/+"), first, 100);
    assert_eq!(
        batch.messages[0].kind,
        MessageKind::Reset,
        "t/0 was forgotten: not a silent gap"
    );
}

#[test]
fn polling_groups_are_bounded_and_the_idlest_are_forgotten() {
    let hub = Hub::new(HubConfig {
        max_poll_groups: 10,
        ..HubConfig::default()
    });
    let f = filter("q");
    hub.poll_group(&f, "kept", 10);
    for i in 0..30 {
        hub.poll_group(&f, &format!("g{i}"), 10);
        hub.poll_group(&f, "kept", 10);
    }
    assert!(hub.state_poll_groups() <= 10);
    hub.publish("q", &ev("1")).expect("publish");
    assert_eq!(
        hub.poll_group(&f, "kept", 10).messages.len(),
        1,
        "an active group keeps its cursor"
    );
}

#[test]
fn a_forgotten_polling_group_gets_a_reset_not_a_silent_gap() {
    let hub = Hub::new(HubConfig {
        max_poll_groups: 10,
        ..HubConfig::default()
    });
    let f = filter("q");
    hub.poll_group(&f, "victim", 10);
    for i in 0..3 {
        hub.publish("q", &ev(&i.to_string())).expect("publish");
    }
    // Others crowd the victim out of the table before it polls for its three events.
    for i in 0..20 {
        hub.poll_group(&f, &format!("g{i}"), 10);
    }
    let batch = hub.poll_group(&f, "victim", 10);
    assert_eq!(batch.messages.len(), 1, "{:?}", batch.messages);
    assert_eq!(batch.messages[0].kind, MessageKind::Reset);
    assert_eq!(batch.cursor, hub.cursor(), "continues from the present");
}

fn since(hub: &Hub, cursor: u64) -> Subscription {
    let options = SubscribeOptions {
        since: Some(cursor),
        group: None,
    };
    hub.subscribe(filter("a/#"), options)
}

#[tokio::test]
async fn external_cursors_are_the_backplanes_and_a_repeat_is_stored_once() {
    let hub = Hub::new(HubConfig {
        external_cursors: true,
        ..HubConfig::default()
    });
    assert_eq!(hub.publish_at(1, "a/1", &ev("1")).expect("publish"), 1);
    assert_eq!(hub.publish_at(2, "a/1", &ev("2")).expect("publish"), 2);
    // Seen already (a redelivery of the stream): not stored again.
    hub.publish_at(2, "a/1", &ev("2")).expect("publish");
    let mut sub = since(&hub, 1);
    assert_eq!(
        next(&mut sub).await.seq,
        2,
        "the same cursor as on every other gateway"
    );
    assert!(sub.try_recv().is_none(), "stored once");
}

#[tokio::test]
async fn a_gap_in_the_backplanes_sequence_resets_a_resume_from_before_it() {
    let hub = Hub::new(HubConfig {
        external_cursors: true,
        ..HubConfig::default()
    });
    hub.publish_at(5, "a/1", &ev("5")).expect("publish");
    hub.publish_at(6, "a/1", &ev("6")).expect("publish");
    hub.publish_at(9, "a/1", &ev("9")).expect("publish");
    let mut from_before = since(&hub, 2);
    assert_eq!(
        next(&mut from_before).await.kind,
        MessageKind::Reset,
        "3 and 4 are gone"
    );
    let mut across_the_gap = since(&hub, 6);
    assert_eq!(
        next(&mut across_the_gap).await.kind,
        MessageKind::Reset,
        "7 and 8 are gone"
    );
    let mut after = since(&hub, 8);
    assert_eq!(
        next(&mut after).await.seq,
        9,
        "nothing lost after 8: no reset"
    );
}

#[tokio::test]
async fn restored_history_is_replayed_but_not_sent_live() {
    let hub = Hub::new(HubConfig {
        external_cursors: true,
        ..HubConfig::default()
    });
    let mut live = hub.subscribe(filter("a/#"), SubscribeOptions::default());
    hub.restore_at(1, "a/1", &ev("old")).expect("restore");
    hub.publish_at(2, "a/1", &ev("new")).expect("publish");
    assert_eq!(
        next(&mut live).await.seq,
        2,
        "only what was published after it subscribed"
    );
    let mut resume = since(&hub, 0);
    assert_eq!(
        next(&mut resume).await.seq,
        1,
        "history is there for a replay"
    );
}
