//! The webhook runs the outbound conformance suite (`switchyard_testing::conformance`) against
//! a real HTTP server (axum on loopback) that records the `ce-id` of every POST, a port where
//! nothing listens, and a server that takes requests and never answers. A webhook has no
//! connection to keep, so it is always ready, and it can carry every valid event.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use tokio::net::TcpListener;
use tower::util::BoxCloneSyncService;

use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::pipeline::Sink;
use switchyard_http::webhook::{Webhook, WebhookConfig};
use switchyard_testing::conformance::{OutboundFixture, check_outbound};

#[derive(Default)]
struct Hook {
    ids: Arc<Mutex<Vec<String>>>,
    /// Listeners kept open while the sinks under test use them.
    servers: Vec<tokio::task::JoinHandle<()>>,
}

fn webhook(url: &str, extra: serde_json::Value) -> (Sink, Readiness) {
    let mut settings = serde_json::json!({"url": url, "retry": {"attempts": 1}});
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    let config: WebhookConfig = serde_json::from_value(settings).expect("valid webhook config");
    let readiness = Readiness::default();
    readiness.register("webhook").set(true);
    let sink = Webhook::build("hook", &config).expect("builds");
    (BoxCloneSyncService::new(sink), readiness)
}

async fn record(State(ids): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap) {
    let id = headers
        .get("ce-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ids.lock().expect("not poisoned").push(id.to_owned());
}

impl OutboundFixture for Hook {
    async fn live(&mut self) -> (Sink, Readiness) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("bound"));
        let app = Router::new()
            .route("/", post(record))
            .with_state(self.ids.clone());
        self.servers.push(tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serves");
        }));
        webhook(&url, serde_json::json!({}))
    }

    async fn received(&mut self) -> Vec<String> {
        self.ids.lock().expect("not poisoned").clone()
    }

    async fn unreachable(&mut self) -> Option<(Sink, Readiness)> {
        Some(webhook("http://127.0.0.1:1/", serde_json::json!({})))
    }

    async fn silent(&mut self) -> Option<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("bound"));
        self.servers.push(tokio::spawn(async move {
            let mut held = Vec::new();
            // Accepts and reads nothing, answers nothing.
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        }));
        Some(webhook(&url, serde_json::json!({"timeout_ms": 300})).0)
    }

    fn uncarriable(&self) -> Option<Event> {
        None
    }

    fn has_connection(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn the_webhook_conforms() {
    let mut fixture = Hook::default();
    check_outbound(&mut fixture).await;
    fixture.servers.iter().for_each(|server| server.abort());
}
