//! Admin endpoints, configuration errors, slowloris, and the drain on SIGTERM.

use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use switchyard_e2e::client::{get, post};
use switchyard_e2e::gateway::binary;
use switchyard_e2e::receiver::Receiver;
use switchyard_e2e::sse::SseStream;
use switchyard_e2e::{Gateway, within};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn health_readiness_and_metrics() {
    let gw = Gateway::start();
    assert_eq!(get(&gw.url("/healthz"), &[]).await.status, 200);
    let ready = get(&gw.url("/readyz"), &[]).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["ready"], true);
    post(&gw.url("/topics/m"), &[("content-type", "text/plain")], "x").await;
    let metrics = get(&gw.url("/metrics"), &[]).await;
    assert!(
        metrics
            .header("content-type")
            .expect("ct")
            .starts_with("text/plain")
    );
    let text = metrics.text();
    assert!(
        text.contains("switchyard_events_total{inbound=\"http\",outcome=\"delivered\"} 1"),
        "{text}"
    );
    assert!(text.contains("switchyard_hub_published_total 1"), "{text}");
}

#[tokio::test]
async fn console_page_is_served() {
    let gw = Gateway::start();
    let res = get(&gw.url("/"), &[]).await;
    assert_eq!(res.status, 200);
    assert!(res.text().contains("Switchyard console"));
}

fn check(yaml: &str) -> (i32, String) {
    let path = std::env::temp_dir().join(format!(
        "sy-check-{}-{}.yaml",
        std::process::id(),
        yaml.len()
    ));
    std::fs::write(&path, yaml).expect("write");
    let out = Command::new(binary())
        .arg("check")
        .arg(&path)
        .output()
        .expect("run check");
    let _ = std::fs::remove_file(&path);
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_reports_every_error_at_once_and_exits_64() {
    let yaml = r#"
listen: { http: "not-an-address" }
http: { body_limit: "big" }
bogus: 1
outbounds:
  hook: { type: webhook, url: "ftp://x", mode: sideways }
  other: { type: carrier-pigeon }
routes:
  - { name: r1, from: nowhere, to: missing }
  - { name: r2, to: hub, topics: "a/#/b", filter: { exact: {} } }
"#;
    let (code, stderr) = check(yaml);
    assert_eq!(code, 64, "{stderr}");
    for needle in [
        "listen.http",
        "http:",
        "bogus",
        "outbounds.hook",
        "outbounds.other",
        "routes[0].from",
        "routes[1].topics",
        "routes[1].filter.exact",
    ] {
        assert!(stderr.contains(needle), "missing `{needle}` in:\n{stderr}");
    }
    let (code, stderr) = check("routes:\n  - { name: ok, to: hub }\n");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn starting_with_a_bad_config_exits_64() {
    let path = std::env::temp_dir().join(format!("sy-bad-{}.yaml", std::process::id()));
    std::fs::write(&path, "routes: 7\n").expect("write");
    let out = Command::new(binary())
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("routes"));
}

#[tokio::test]
async fn headers_sent_one_byte_at_a_time_are_timed_out() {
    let gw = Gateway::start_with(Some("http: { header_read_timeout_ms: 300 }\n"));
    let mut tcp = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let request = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    // A trickle: one byte, then up to 100 ms listening for the server to give up on us. The
    // whole head would take ~9 s; a working timeout (300 ms) ends it after a few bytes.
    let mut sent = 0;
    let mut ended = false;
    for byte in request {
        if tcp.write_all(&[*byte]).await.is_err() {
            ended = true;
            break;
        }
        sent += 1;
        let mut buf = [0u8; 256];
        // End of stream, an error, or an error response before the head is complete: the
        // server stopped waiting.
        if tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf))
            .await
            .is_ok()
        {
            ended = true;
            break;
        }
    }
    assert!(ended, "the connection outlived the whole trickled head");
    assert!(
        sent < request.len(),
        "the server waited for the whole head ({sent} bytes)"
    );
}

#[tokio::test]
async fn sigterm_drains_streams_and_loses_no_accepted_publish() {
    let hook = Receiver::start().await;
    let yaml = format!(
        "outbounds:\n  hook: {{ type: webhook, url: \"{}\" }}\nroutes:\n  - {{ name: all, to: [hub, hook] }}\nshutdown: {{ grace_ms: 5000 }}\n",
        hook.url()
    );
    let mut gw = Gateway::start_with(Some(&yaml));
    let mut sse = SseStream::connect(&gw.url("/topics/d"), &[]).await;
    sse.next_any(T).await.expect("preamble");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/topics/d", gw.addr))
        .await
        .expect("ws");

    // Publishers keep going while the signal arrives; every 2xx must have reached the webhook.
    let base = gw.url("");
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let base = base.clone();
            tokio::spawn(async move {
                let mut accepted = Vec::new();
                for i in 0..10_000 {
                    let id = format!("p{p}-{i}");
                    let body = serde_json::json!({"specversion":"1.0","id":id,"source":"/drain","type":"t"}).to_string();
                    let url = format!("{base}/topics/d");
                    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                        .build_http::<http_body_util::Full<bytes::Bytes>>();
                    let req = http::Request::post(&url)
                        .header("content-type", "application/cloudevents+json")
                        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                        .expect("request");
                    match client.request(req).await {
                        Ok(res) if res.status() == 200 => accepted.push(id),
                        Ok(_) | Err(_) => break,
                    }
                }
                accepted
            })
        })
        .collect();
    switchyard_e2e::eventually(T, "some deliveries", || async {
        (hook.count() > 50).then_some(())
    })
    .await;
    let code = tokio::task::spawn_blocking(move || {
        let code = gw.terminate();
        (code, gw)
    })
    .await
    .expect("terminate");
    assert_eq!(code.0, Some(0), "clean exit after drain");

    let mut accepted = Vec::new();
    for p in publishers {
        accepted.extend(p.await.expect("publisher"));
    }
    let delivered: std::collections::HashSet<String> = hook
        .accepted()
        .iter()
        .map(|r| r.headers["ce-id"].to_str().expect("id").to_owned())
        .collect();
    let lost: Vec<_> = accepted
        .iter()
        .filter(|id| !delivered.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} accepted publishes never reached the webhook: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(!accepted.is_empty());

    // The SSE stream ended and the WebSocket got 1001.
    while within(T, "SSE end", sse.next_any(T)).await.is_some() {}
    loop {
        match within(T, "ws close", ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1001);
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
}
