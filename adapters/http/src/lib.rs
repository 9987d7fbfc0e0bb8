//! The HTTP family on one listener: `POST /topics/{topic}` publishes (CloudEvents binary,
//! structured and batch modes, or any body, wrapped); `GET /topics/{filter}` subscribes as
//! Server-Sent Events, WebSocket, long poll or short poll; the live console is served at `/`.
//! Also the HTTP webhook outbound, and the accept loop with the timeouts axum leaves out.

mod access;
mod body_timeout;
mod config;
mod console;
mod error;
pub mod inbound;
mod pair;
mod poll;
mod publish;
mod query;
pub mod queues;
mod request_body;
mod request_guard;
pub mod rpc;
pub mod server;
mod sse;
mod state;
mod subscribe;
pub mod tls;
mod topic_path;
pub mod webhook;
mod ws;
mod ws_denied;

pub use access::Access;
pub use body_timeout::BodyReadTimeout;
pub use config::HttpConfig;
pub use error::ApiError;
pub use pair::Pairs;
pub use state::HttpState;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

/// The routes of the HTTP family (admin routes are added by the binary).
pub fn router(state: HttpState) -> Router {
    let body_limit = state.config.body_limit;
    let cors = state.access.cors_origins.as_deref().map(access::cors);
    let topics = Router::new()
        .route(
            "/topics/{*topic}",
            get(subscribe::subscribe).post(publish::publish),
        )
        .route("/rpc/{*topic}", post(rpc::call))
        .route("/replies/{id}", get(rpc::get_reply))
        .route("/queues/{name}", get(queues::lease))
        .route("/queues/{name}/ack", post(queues::ack))
        .route("/queues/{name}/nack", post(queues::nack))
        .route("/pair/{name}", get(pair::join));
    let topics = match cors {
        Some(cors) => topics.layer(cors),
        None => topics,
    };
    Router::new()
        .route("/", get(console::page))
        .merge(topics)
        // Enforced while the body streams in, so an oversized body is refused with 413 without
        // being buffered whole; a lying Content-Length is caught by hyper's framing.
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
