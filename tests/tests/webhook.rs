//! The webhook outbound against a real HTTP receiver: both modes, confirmation before the
//! publisher's 2xx, retries with backoff, permanent refusals, and exhaustion.

use std::time::Duration;

use switchyard_e2e::Gateway;
use switchyard_e2e::client::post;
use switchyard_e2e::receiver::Receiver;

fn config(url: &str, mode: &str, extra: &str) -> String {
    format!(
        "outbounds:\n  hook: {{ type: webhook, url: \"{url}\", mode: {mode}, timeout_ms: 2000, retry: {{ attempts: 4, initial_backoff_ms: 20, max_backoff_ms: 100 }} {extra} }}\nroutes:\n  - {{ name: to-hook, to: hook }}\n"
    )
}

const EVENT: &str = r#"{"specversion":"1.0","id":"w-1","source":"/src","type":"t.hook","subject":"Euro € 😀","count":3,"data":{"k":"v"}}"#;

async fn publish(gw: &Gateway) -> switchyard_e2e::client::Response {
    post(
        &gw.url("/topics/hooked"),
        &[("content-type", "application/cloudevents+json")],
        EVENT,
    )
    .await
}

#[tokio::test]
async fn binary_mode_delivers_before_the_publisher_hears_200() {
    let hook = Receiver::start().await;
    let gw = Gateway::start_with(Some(&config(&hook.url(), "binary", "")));
    let res = publish(&gw).await;
    assert_eq!(res.status, 200, "{}", res.text());
    // The 200 means the webhook confirmed: it must already be there, no waiting.
    let got = hook.accepted();
    assert_eq!(got.len(), 1);
    let h = &got[0].headers;
    assert_eq!(h["ce-id"], "w-1");
    assert_eq!(h["ce-specversion"], "1.0");
    assert_eq!(h["ce-subject"], "Euro%20%E2%82%AC%20%F0%9F%98%80");
    assert_eq!(h["ce-count"], "3");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&got[0].body).expect("json"),
        serde_json::json!({"k":"v"})
    );
}

#[tokio::test]
async fn structured_mode_sends_the_whole_event() {
    let hook = Receiver::start().await;
    let gw = Gateway::start_with(Some(&config(&hook.url(), "structured", "")));
    assert_eq!(publish(&gw).await.status, 200);
    let got = hook.accepted();
    assert!(
        got[0].headers["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/cloudevents+json")
    );
    let sent: serde_json::Value = serde_json::from_str(EVENT).expect("json");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(body, sent);
}

#[tokio::test]
async fn failures_that_heal_are_retried() {
    let hook = Receiver::start_with(|n, _, _| if n < 2 { 503 } else { 200 }).await;
    let gw = Gateway::start_with(Some(&config(&hook.url(), "binary", "")));
    let res = publish(&gw).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(hook.count(), 3, "two failures, then success");
}

#[tokio::test]
async fn permanent_refusal_is_422_and_not_retried() {
    let hook = Receiver::start_with(|_, _, _| 400).await;
    let gw = Gateway::start_with(Some(&config(&hook.url(), "binary", "")));
    let res = publish(&gw).await;
    assert_eq!(res.status, 422, "{}", res.text());
    assert_eq!(res.json()["error"], "rejected");
    assert_eq!(hook.count(), 1);
}

#[tokio::test]
async fn exhausted_retries_answer_503_with_retry_after() {
    let hook = Receiver::start_with(|_, _, _| 500).await;
    let gw = Gateway::start_with(Some(&config(&hook.url(), "binary", "")));
    let res = publish(&gw).await;
    assert_eq!(res.status, 503, "{}", res.text());
    assert!(res.header("retry-after").is_some());
    assert_eq!(hook.count(), 4, "every attempt was made");
}

#[tokio::test]
async fn unreachable_webhook_is_503() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let gw = Gateway::start_with(Some(&config(
        &format!("http://127.0.0.1:{port}/x"),
        "binary",
        "",
    )));
    let res = tokio::time::timeout(Duration::from_secs(20), publish(&gw))
        .await
        .expect("answers");
    assert_eq!(res.status, 503, "{}", res.text());
}

#[tokio::test]
async fn slow_webhook_times_out_504() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Accepts and never answers.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let yaml = format!(
        "outbounds:\n  hook: {{ type: webhook, url: \"http://{addr}/\", timeout_ms: 200, retry: {{ attempts: 2, initial_backoff_ms: 10 }} }}\nroutes:\n  - {{ name: r, to: hook }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    let res = publish(&gw).await;
    assert_eq!(res.status, 504, "{}", res.text());
}

/// The header-read timeout guards only the wait for a request's headers: a publish whose sink
/// takes far longer than it still gets its answer on the same connection, never a close
/// (issue 6: a publisher cannot tell a dropped connection from a lost publish).
#[tokio::test]
async fn a_publish_slower_than_the_header_timeout_is_still_answered() {
    let hook = Receiver::start_slow(Duration::from_millis(1500)).await;
    let yaml = format!(
        "http: {{ header_read_timeout_ms: 200 }}\n{}",
        config(&hook.url(), "binary", "")
    );
    let gw = Gateway::start_with(Some(&yaml));
    let res = publish(&gw).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["accepted"][0], "w-1");
    assert_eq!(hook.accepted().len(), 1);
}

/// CR LF in an attribute (a CloudEvents string may hold no control character) is refused at
/// the door with the attribute named, so it can never reach a webhook's `ce-` header; the
/// allowed twin, a value the header binding must percent-encode, arrives encoded.
#[tokio::test]
async fn a_line_break_in_an_attribute_cannot_inject_a_header() {
    let hook = Receiver::start().await;
    let gw = Gateway::start_with(Some(&config(&hook.url(), "binary", "")));
    let ce = [("content-type", "application/cloudevents+json")];
    let event = r#"{"specversion":"1.0","id":"crlf-1","source":"/src","type":"t","subject":"a\r\nx-injected: 1","data":{}}"#;
    let res = post(&gw.url("/topics/hooked"), &ce, event).await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert_eq!(res.json()["attribute"], "subject");
    let binary = post(
        &gw.url("/topics/hooked"),
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "crlf-2"),
            ("ce-source", "/src"),
            ("ce-type", "t"),
            ("ce-note", "b%0D%0Ax-injected: 2"),
        ],
        "",
    )
    .await;
    assert_eq!(binary.status, 400, "a decoded CR LF: {}", binary.text());
    assert_eq!(hook.count(), 0, "nothing reached the webhook");
    let spaced = r#"{"specversion":"1.0","id":"crlf-3","source":"/src","type":"t","subject":"a: b %","data":{}}"#;
    assert_eq!(
        post(&gw.url("/topics/hooked"), &ce, spaced).await.status,
        200
    );
    let got = &hook.accepted()[0];
    assert_eq!(got.headers["ce-subject"], "a:%20b%20%25");
}
