use std::collections::HashMap;

use switchyard_core::cloudevent::CloudEvent;
use switchyard_core::hub::HubSink;
use switchyard_core::hub::{Hub, HubConfig, SubscribeOptions};
use switchyard_core::pipeline::{NullSink, Sink};
use switchyard_core::topic::TopicFilter;
use tower::util::BoxCloneSyncService;

use super::*;

fn routes(yaml_like: serde_json::Value) -> Vec<RouteConfig> {
    serde_json::from_value(yaml_like).expect("route config parses")
}

fn sinks(hub: &Hub) -> HashMap<String, Sink> {
    let mut sinks: HashMap<String, Sink> = HashMap::new();
    sinks.insert(
        "hub".into(),
        BoxCloneSyncService::new(HubSink::new(hub.clone())),
    );
    sinks.insert("null".into(), BoxCloneSyncService::new(NullSink));
    sinks
}

fn event(topic: &str, ty: &str) -> Event {
    Event::new(CloudEvent::new("1", "/src", ty), "http", topic)
}

#[tokio::test]
async fn routes_by_topic_filter_and_template() {
    let hub = Hub::new(HubConfig::default());
    let cfg = routes(serde_json::json!([
        { "name": "orders", "topics": "orders/#", "filter": { "prefix": { "type": "com.acme." } },
          "to": "hub", "topic": "live/{topic}" }
    ]));
    let table = RouteTable::compile(&cfg, &sinks(&hub), &["http".into()]).expect("compiles");
    let mut sub = hub.subscribe(
        TopicFilter::parse("live/#").expect("filter"),
        SubscribeOptions::default(),
    );
    let mut router = Router::new(table);
    let done = router
        .call(event("orders/1", "com.acme.created"))
        .await
        .expect("delivered");
    assert_eq!(done.sinks, 1);
    assert_eq!(
        &*sub.try_recv().expect("delivered to hub").topic,
        "live/orders/1"
    );

    let err = router
        .call(event("orders/1", "org.other"))
        .await
        .expect_err("no route");
    assert!(matches!(
        DeliveryError::find(err.as_ref()),
        Some(DeliveryError::NoRoute { .. })
    ));
    let err = router
        .call(event("other", "com.acme.x"))
        .await
        .expect_err("no route");
    assert!(matches!(
        DeliveryError::find(err.as_ref()),
        Some(DeliveryError::NoRoute { .. })
    ));
}

#[test]
fn compile_reports_every_error_at_once() {
    let hub = Hub::new(HubConfig::default());
    let cfg = routes(serde_json::json!([
        { "name": "a", "from": "nope", "topics": "a/#/b", "to": ["missing"], "topic": "x/{Bad}" },
        { "name": "a", "to": "hub", "filter": { "exact": {} } }
    ]));
    let errors = RouteTable::compile(&cfg, &sinks(&hub), &["http".into()]).expect_err("invalid");
    let text = errors.join("\n");
    for needle in [
        "routes[0].from",
        "routes[0].topics",
        "routes[0].to",
        "routes[0].topic",
        "routes[1].name",
        "routes[1].filter.exact",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
}

#[test]
fn filters_follow_the_subscriptions_dialects() {
    let mut errors = Vec::new();
    let cfg: crate::FilterConfig = serde_json::from_value(serde_json::json!({
        "all": [ { "exact": { "source": "/src" } },
                 { "any": [ { "suffix": { "type": ".created" } }, { "exact": { "subject": "x" } } ] },
                 { "not": { "prefix": { "type": "internal." } } } ]
    }))
    .expect("filter parses");
    let filter = Filter::compile(&cfg, "f", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(filter.matches(&CloudEvent::new("1", "/src", "order.created")));
    assert!(!filter.matches(&CloudEvent::new("1", "/src", "internal.created")));
    assert!(!filter.matches(&CloudEvent::new("1", "/other", "order.created")));
    assert!(!filter.matches(&CloudEvent::new("1", "/src", "order.deleted")));
}

#[tokio::test]
async fn template_producing_a_wildcard_is_rejected_per_event() {
    let hub = Hub::new(HubConfig::default());
    let cfg = routes(serde_json::json!([{ "name": "r", "to": "null", "topic": "by-type/{type}" }]));
    let table = RouteTable::compile(&cfg, &sinks(&hub), &["http".into()]).expect("compiles");
    let err = Router::new(table)
        .call(event("t", "a/#"))
        .await
        .expect_err("rejected");
    assert!(matches!(
        DeliveryError::find(err.as_ref()),
        Some(DeliveryError::Rejected { .. })
    ));
}

/// A sink that answers each call with the next scripted outcome (then `Ok`), counting calls.
fn scripted(
    outcomes: Vec<Option<DeliveryError>>,
) -> (Sink, std::sync::Arc<std::sync::Mutex<Vec<Event>>>) {
    let script = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
        outcomes,
    )));
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = calls.clone();
    let sink = tower::service_fn(move |event: Event| {
        let next = script.lock().expect("lock").pop_front().flatten();
        seen.lock().expect("lock").push(event);
        async move {
            match next {
                Some(err) => Err(Box::new(err) as BoxError),
                None => Ok(()),
            }
        }
    });
    (BoxCloneSyncService::new(sink), calls)
}

fn unavailable() -> Option<DeliveryError> {
    Some(DeliveryError::Unavailable {
        sink: "s".into(),
        reason: "down".into(),
        retry_after: None,
    })
}

fn rejected() -> Option<DeliveryError> {
    Some(DeliveryError::Rejected {
        sink: "s".into(),
        reason: "400".into(),
    })
}

fn table_with(route: serde_json::Value, extra: Vec<(&str, Sink)>) -> Router {
    let hub = Hub::new(HubConfig::default());
    let mut all = sinks(&hub);
    for (name, sink) in extra {
        all.insert(name.into(), sink);
    }
    let cfg = routes(serde_json::json!([route]));
    Router::new(RouteTable::compile(&cfg, &all, &["http".into()]).expect("compiles"))
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_per_route_policy() {
    let (sink, calls) = scripted(vec![unavailable(), unavailable()]);
    let mut router = table_with(
        serde_json::json!({ "name": "r", "to": "s", "retry": { "attempts": 3, "initial_backoff_ms": 10 } }),
        vec![("s", sink)],
    );
    router
        .call(event("t", "x"))
        .await
        .expect("third attempt succeeds");
    assert_eq!(calls.lock().expect("lock").len(), 3);
}

#[tokio::test(start_paused = true)]
async fn permanent_failures_are_not_retried_and_go_to_the_dead_letter_sink() {
    let (sink, calls) = scripted(vec![rejected()]);
    let (dlq, dead) = scripted(vec![]);
    let mut router = table_with(
        serde_json::json!({ "name": "r", "to": "s", "dead_letter": "dlq", "retry": { "attempts": 5 } }),
        vec![("s", sink), ("dlq", dlq)],
    );
    router
        .call(event("t", "x"))
        .await
        .expect("dead-lettered counts as handled");
    assert_eq!(
        calls.lock().expect("lock").len(),
        1,
        "no retry of a permanent failure"
    );
    let dead = dead.lock().expect("lock");
    assert_eq!(dead.len(), 1);
    assert!(dead[0].cloud.extensions.contains_key("deadletterreason"));
}

#[tokio::test(start_paused = true)]
async fn exhausted_transient_failures_go_back_to_the_source_not_the_dead_letter_sink() {
    let (sink, _) = scripted(vec![unavailable(), unavailable()]);
    let (dlq, dead) = scripted(vec![]);
    let mut router = table_with(
        serde_json::json!({ "name": "r", "to": "s", "dead_letter": "dlq", "retry": { "attempts": 2, "initial_backoff_ms": 1 } }),
        vec![("s", sink), ("dlq", dlq)],
    );
    let err = router
        .call(event("t", "x"))
        .await
        .expect_err("source hears of it");
    assert!(matches!(
        DeliveryError::find(err.as_ref()),
        Some(DeliveryError::Unavailable { .. })
    ));
    assert!(dead.lock().expect("lock").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_does_not_answer_times_out() {
    let never = tower::service_fn(|_: Event| std::future::pending::<Result<(), BoxError>>());
    let mut router = table_with(
        serde_json::json!({ "name": "r", "to": "s", "timeout_ms": 50 }),
        vec![("s", BoxCloneSyncService::new(never))],
    );
    let err = router.call(event("t", "x")).await.expect_err("times out");
    assert!(matches!(
        DeliveryError::find(err.as_ref()),
        Some(DeliveryError::Timeout { .. })
    ));
}

#[tokio::test]
async fn dedupe_window_delivers_a_redelivered_event_once() {
    let (sink, calls) = scripted(vec![unavailable()]);
    let mut router = table_with(
        serde_json::json!({ "name": "r", "to": "s", "dedupe": { "window": 100 } }),
        vec![("s", sink)],
    );
    router
        .call(event("t", "x"))
        .await
        .expect_err("first attempt fails: not remembered");
    router
        .call(event("t", "x"))
        .await
        .expect("redelivery delivered");
    router.call(event("t", "x")).await.expect("duplicate acked");
    assert_eq!(calls.lock().expect("lock").len(), 2);
}

#[tokio::test]
async fn a_swapped_table_routes_new_events_and_in_flight_ones_finish_on_the_old() {
    use tower::ServiceExt as _;
    let hub = Hub::new(HubConfig::default());
    // The old sink holds every event until the test adds a permit.
    let gate = Arc::new(Semaphore::new(0));
    let (held, calls) = (gate.clone(), Arc::new(std::sync::Mutex::new(0)));
    let counted = calls.clone();
    let old_sink = tower::service_fn(move |_: Event| {
        *counted.lock().expect("lock") += 1;
        let held = held.clone();
        async move {
            let _permit = held.acquire().await;
            Ok::<_, BoxError>(())
        }
    });
    let mut all = sinks(&hub);
    all.insert("s".into(), BoxCloneSyncService::new(old_sink));
    let cfg = routes(serde_json::json!([{ "name": "r", "to": "s" }]));
    let router = Router::new(RouteTable::compile(&cfg, &all, &["http".into()]).expect("old"));
    let in_flight = tokio::spawn(router.clone().oneshot(event("t", "x")));
    while *calls.lock().expect("lock") == 0 {
        tokio::task::yield_now().await;
    }
    let cfg = routes(serde_json::json!([{ "name": "r2", "to": "hub" }]));
    router.swap(RouteTable::compile(&cfg, &sinks(&hub), &["http".into()]).expect("new"));
    let filter = TopicFilter::parse("#").expect("filter");
    let mut sub = hub.subscribe(filter, SubscribeOptions::default());
    router
        .clone()
        .oneshot(event("t", "y"))
        .await
        .expect("new table");
    assert_eq!(&*sub.try_recv().expect("new event in the hub").topic, "t");
    assert!(
        !in_flight.is_finished(),
        "the old sink still holds the first event"
    );
    gate.add_permits(1);
    in_flight
        .await
        .expect("join")
        .expect("finished on the old sink");
    assert_eq!(
        *calls.lock().expect("lock"),
        1,
        "the new event never reached the old sink"
    );
}

#[tokio::test]
async fn a_reload_keeps_the_dedupe_memory_of_a_route_it_keeps() {
    let (sink, calls) = scripted(vec![]);
    let cfg = routes(serde_json::json!([{ "name": "r", "to": "s", "dedupe": { "window": 10 } }]));
    let mut all = sinks(&Hub::new(HubConfig::default()));
    all.insert("s".into(), sink);
    let inbounds = ["http".into()];
    let mut router = Router::new(RouteTable::compile(&cfg, &all, &inbounds).expect("compiles"));
    router.call(event("t", "x")).await.expect("delivered");
    let mut next = RouteTable::compile(&cfg, &all, &inbounds).expect("compiles");
    next.carry_over(&router.table());
    router.swap(next);
    router.call(event("t", "x")).await.expect("duplicate acked");
    assert_eq!(
        calls.lock().expect("lock").len(),
        1,
        "the redelivery was caught"
    );
}
