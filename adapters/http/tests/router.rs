//! The HTTP family's handlers called as a `tower::Service` (`oneshot` on the router), with no
//! socket: the contract's status codes and bodies, with a recording pipeline behind publishes
//! and a real hub behind polls.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use switchyard_core::cloudevent::CloudEvent;
use switchyard_core::hub::{Hub, HubConfig};
use switchyard_core::{DeliveryError, pipeline::Pipeline};
use switchyard_http::{HttpConfig, HttpState, router};
use switchyard_testing::{Answer, Recorder};

fn state(pipeline: Pipeline, hub: &Hub) -> HttpState {
    HttpState {
        pipeline,
        hub: hub.clone(),
        config: Arc::new(HttpConfig::default()),
        inbound: "http".into(),
        shutdown: CancellationToken::new(),
        websockets: TaskTracker::new(),
        access: Default::default(),
        rpc: switchyard_http::rpc::Rpc::new(Default::default()),
        queues: Default::default(),
        pairs: Default::default(),
    }
}

async fn call(state: HttpState, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = router(state).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

fn structured(topic: &str, event: serde_json::Value) -> Request<Body> {
    Request::post(format!("/topics/{topic}"))
        .header(header::CONTENT_TYPE, "application/cloudevents+json")
        .body(Body::from(event.to_string()))
        .expect("a request")
}

#[tokio::test]
async fn a_structured_publish_reaches_the_pipeline_and_is_answered_with_its_id() {
    let (recorder, hub) = (Recorder::new(), Hub::new(HubConfig::default()));
    let event = serde_json::json!({"specversion": "1.0", "id": "e-1", "source": "/s", "type": "t"});
    let (status, body) = call(state(recorder.accepting(), &hub), structured("a/b", event)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], serde_json::json!(["e-1"]));
    let delivered = recorder.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        (&*delivered[0].topic, &*delivered[0].origin.inbound),
        ("a/b", "http")
    );
}

#[tokio::test]
async fn an_invalid_event_is_400_and_reaches_nothing() {
    let (recorder, hub) = (Recorder::new(), Hub::new(HubConfig::default()));
    let missing_type = serde_json::json!({"specversion": "1.0", "id": "e-1", "source": "/s"});
    let (status, body) = call(
        state(recorder.accepting(), &hub),
        structured("a", missing_type),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn a_wildcard_topic_cannot_be_published_to() {
    let (recorder, hub) = (Recorder::new(), Hub::new(HubConfig::default()));
    let event = serde_json::json!({"specversion": "1.0", "id": "e-1", "source": "/s", "type": "t"});
    let (status, _) = call(state(recorder.accepting(), &hub), structured("a/+", event)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn a_sink_that_is_down_is_503_and_no_route_is_404() {
    let hub = Hub::new(HubConfig::default());
    let event = serde_json::json!({"specversion": "1.0", "id": "e-1", "source": "/s", "type": "t"});
    let down = Recorder::new().pipeline(|_, _| {
        Answer::Fail(DeliveryError::Unavailable {
            sink: "s".into(),
            reason: "down".into(),
            retry_after: None,
        })
    });
    let (status, body) = call(state(down, &hub), structured("a", event.clone())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let nowhere = Recorder::new().pipeline(|_, event| {
        Answer::Fail(DeliveryError::NoRoute {
            inbound: "http".into(),
            topic: event.topic.to_string(),
        })
    });
    let (status, body) = call(state(nowhere, &hub), structured("a", event)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::NOT_FOUND, &serde_json::json!("no_route"))
    );
}

#[tokio::test]
async fn a_short_poll_answers_the_hubs_events_as_a_batch_with_the_cursor() {
    let hub = Hub::new(HubConfig::default());
    hub.publish("news/eu", &CloudEvent::new("n-1", "/s", "t"))
        .expect("published");
    let request = Request::get("/topics/news/%23?since=0")
        .body(Body::empty())
        .expect("a request");
    let response = router(state(Recorder::new().accepting(), &hub))
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("switchyard-cursor"));
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let batch: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON batch");
    assert_eq!(batch[0]["id"], "n-1", "{batch}");
}
