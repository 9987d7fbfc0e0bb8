//! The answer to a request over `grpc.max_message_bytes`. tonic's decoder refuses it with
//! OUT_OF_RANGE; gRPC's own implementations, and our contract, say RESOURCE_EXHAUSTED. The
//! refusal is a trailers-only response (the status in its headers) and no handler of ours
//! answers OUT_OF_RANGE, so rewriting that header code is exact.

use http::HeaderValue;
use tower::util::MapResponseLayer;

const OUT_OF_RANGE: &[u8] = b"11";
const RESOURCE_EXHAUSTED: &str = "8";

type Response = http::Response<tonic::body::Body>;

/// The layer that maps the decoder's OUT_OF_RANGE to RESOURCE_EXHAUSTED.
pub(crate) fn layer() -> MapResponseLayer<fn(Response) -> Response> {
    MapResponseLayer::new(map as fn(Response) -> Response)
}

fn map(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if headers.get("grpc-status").map(HeaderValue::as_bytes) == Some(OUT_OF_RANGE) {
        headers.insert("grpc-status", HeaderValue::from_static(RESOURCE_EXHAUSTED));
    }
    response
}
