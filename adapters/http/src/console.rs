//! The live console at `/`: one page, embedded in the binary, no build step. A person types a
//! topic filter, watches events arrive over SSE or WebSocket, and publishes one.
//! `/?filter=a/%23&transport=ws` subscribes at once (links can be shared).

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("console.html");

pub(crate) async fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"),
    );
    response
}
