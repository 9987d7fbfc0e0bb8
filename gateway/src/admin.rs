//! Admin endpoints: `/healthz` (the process answers), `/readyz` (every dependency is up and we
//! are not draining), `/metrics` (Prometheus text format).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;

use switchyard_core::health::Readiness;
use switchyard_core::hub::Hub;

#[derive(Debug, Clone)]
struct AdminState {
    readiness: Readiness,
    hub: Hub,
    metrics: PrometheusHandle,
}

pub fn router(readiness: Readiness, hub: Hub, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AdminState {
            readiness,
            hub,
            metrics,
        })
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let (ready, checks) = state.readiness.report();
    let checks: serde_json::Map<String, serde_json::Value> =
        checks.into_iter().map(|(k, v)| (k, v.into())).collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "ready": ready,
        "draining": state.readiness.is_draining(),
        "checks": checks,
    });
    (status, Json(body)).into_response()
}

async fn metrics_text(State(state): State<AdminState>) -> Response {
    let (topics, subscribers) = state.hub.stats();
    metrics::gauge!("switchyard_hub_topics").set(topics as f64);
    metrics::gauge!("switchyard_hub_subscribers").set(subscribers as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
