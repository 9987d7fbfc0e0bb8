use std::collections::HashMap;

use switchyard_core::cloudevent::CloudEvent;
use switchyard_core::hub::{Hub, HubConfig, SubscribeOptions};
use switchyard_core::hub_sink::HubSink;
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
