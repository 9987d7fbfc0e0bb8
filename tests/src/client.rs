//! A small HTTP/1.1 client for tests (hyper), answering status, headers and the whole body.

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request on a fresh connection.
pub async fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut builder = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder.body(Full::new(body.into())).expect("valid request");
    let res = client
        .request(req)
        .await
        .unwrap_or_else(|e| panic!("request to {url} failed: {e:?}"));
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    Response {
        status,
        headers,
        body,
    }
}

pub async fn post(url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response {
    request(Method::POST, url, headers, body).await
}

pub async fn get(url: &str, headers: &[(&str, &str)]) -> Response {
    request(Method::GET, url, headers, Bytes::new()).await
}

/// Publishes a structured event with the given id to `topic`; panics unless 200.
pub async fn publish_event(base: &str, topic: &str, id: &str) -> Response {
    let event = serde_json::json!({
        "specversion": "1.0", "id": id, "source": "/test", "type": "test.event",
        "data": { "n": id },
    });
    let res = post(
        &format!("{base}/topics/{topic}"),
        &[("content-type", "application/cloudevents+json")],
        event.to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "publish {id}: {}", res.text());
    res
}
