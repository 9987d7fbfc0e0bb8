//! Reading a publish body, with every failure answered in JSON like the rest of the API:
//! a declared `Content-Length` over the limit is refused at once (413, before `100 Continue`
//! and before a byte of the body is read), a body that grows past it while streaming is 413,
//! one that goes silent is 408 (see `body_timeout`), and broken framing is 400.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;

use crate::body_timeout::BodyReadTimeout;
use crate::error::ApiError;

/// The whole body, at most `limit` bytes.
pub(crate) async fn read(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    // hyper turned a valid `Content-Length` into the body's exact size hint (and refused a
    // malformed or conflicting one); a chunked body hints nothing and is cut while it streams.
    if http_body::Body::size_hint(&body).lower() > limit as u64 {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|err| classify(&err, limit))
}

fn classify(err: &axum::Error, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return too_large(limit);
        }
        if let Some(timeout) = e.downcast_ref::<BodyReadTimeout>() {
            let mut api = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                timeout.to_string(),
            );
            api.close_connection = true;
            return api;
        }
        source = e.source();
    }
    let mut api = ApiError::bad_request(
        "invalid_body",
        format!("cannot read the request body: {err}"),
    );
    // Framing is broken: what follows on this connection cannot be trusted as a next request.
    api.close_connection = true;
    api
}

fn too_large(limit: usize) -> ApiError {
    let mut api = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is over http.body_limit ({limit} bytes)"),
    );
    // The rest of the body is not read; the connection cannot carry another request.
    api.close_connection = true;
    api
}
