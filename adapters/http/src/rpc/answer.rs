//! A reply as the HTTP response: a CloudEvent in binary mode (structured if the request was
//! structured), any other reply as its body and content type.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use switchyard_core::cloudevent::{http as binding, json};
use switchyard_core::rpc::Reply;

pub(super) fn reply(reply: Reply, structured: bool) -> Response {
    let mut headers = HeaderMap::new();
    let body = match reply {
        Reply::Event(event) if structured => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(binding::STRUCTURED_CONTENT_TYPE),
            );
            json::to_vec(&event).into()
        }
        Reply::Event(event) => binding::encode_binary(&event, &mut headers),
        Reply::Body { content_type, body } => {
            if let Some(value) = content_type.and_then(|ct| HeaderValue::from_str(&ct).ok()) {
                headers.insert(header::CONTENT_TYPE, value);
            }
            body
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    *response.headers_mut() = headers;
    response
}
