use std::time::Duration;

use super::*;

fn limits() -> QueueLimits {
    QueueLimits {
        capacity: 3,
        default_lease: Duration::from_secs(30),
        max_lease: Duration::from_secs(60),
        max_batch: 10,
    }
}

fn event(id: &str) -> CloudEvent {
    CloudEvent::new(id, "/test", "t")
}

#[tokio::test]
async fn a_lease_is_acked_once() {
    let queue = WorkQueue::new("q", limits());
    queue.push(event("a")).expect("room");
    let leased = queue.lease(1, None, Duration::ZERO).await.expect("valid");
    assert_eq!(leased.len(), 1);
    assert!(!leased[0].redelivered);
    let receipt = &leased[0].receipt;
    assert_eq!(queue.settle(receipt, Settle::Ack).await, Ok(()));
    assert_eq!(
        queue.settle(receipt, Settle::Ack).await,
        Err(SettleError::AlreadySettled)
    );
    assert_eq!(
        queue.settle("nope", Settle::Ack).await,
        Err(SettleError::Unknown)
    );
    assert_eq!(queue.depth(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_is_redelivered_and_its_receipt_is_refused() {
    let queue = WorkQueue::new("q", limits());
    queue.push(event("a")).expect("room");
    queue.push(event("b")).expect("room");
    let first = queue
        .lease(1, Some(Duration::from_millis(100)), Duration::ZERO)
        .await
        .expect("valid");
    assert_eq!(first[0].event.id, "a");
    let again = queue
        .lease(1, None, Duration::from_secs(1))
        .await
        .expect("valid");
    assert_eq!(again[0].event.id, "b");
    // The queue is empty until `a`'s 100 ms lease runs out; the waiting lease gets it then.
    let back = queue
        .lease(1, None, Duration::from_secs(1))
        .await
        .expect("valid");
    assert_eq!(back[0].event.id, "a");
    assert!(back[0].redelivered);
    assert_eq!(back[0].deliveries, 2);
    assert_eq!(
        queue.settle(&first[0].receipt, Settle::Ack).await,
        Err(SettleError::Expired)
    );
}

#[tokio::test]
async fn a_full_queue_refuses_and_a_requeued_message_comes_back() {
    let queue = WorkQueue::new("q", limits());
    for id in ["a", "b", "c"] {
        queue.push(event(id)).expect("room");
    }
    assert!(queue.push(event("d")).is_err(), "capacity 3");
    let leased = queue.lease(1, None, Duration::ZERO).await.expect("valid");
    assert!(queue.push(event("d")).is_err(), "leased messages count too");
    queue
        .settle(&leased[0].receipt, Settle::Requeue)
        .await
        .expect("settled");
    let again = queue.lease(3, None, Duration::ZERO).await.expect("valid");
    let ids: Vec<_> = again.iter().map(|l| l.event.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert!(again[0].redelivered);
}

#[tokio::test]
async fn a_waiting_consumer_wakes_on_a_push_and_bounds_are_checked() {
    let queue = WorkQueue::new("q", limits());
    let waiting = tokio::spawn({
        let queue = queue.clone();
        async move { queue.lease(1, None, Duration::from_secs(10)).await }
    });
    tokio::task::yield_now().await;
    queue.push(event("a")).expect("room");
    let got = waiting.await.expect("join").expect("valid");
    assert_eq!(got[0].event.id, "a");
    let err = queue
        .lease(11, None, Duration::ZERO)
        .await
        .expect_err("too many");
    assert_eq!(err, LeaseError::TooMany { max: 10 });
    let err = queue
        .lease(1, Some(Duration::from_secs(61)), Duration::ZERO)
        .await
        .expect_err("too long");
    assert!(matches!(err, LeaseError::LeaseOutOfRange { .. }));
    assert!(
        queue
            .lease(1, None, Duration::ZERO)
            .await
            .expect("valid")
            .is_empty()
    );
}
