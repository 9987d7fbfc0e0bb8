//! Admin endpoints, configuration errors and slowloris (the drain is in `drain.rs`).

use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use switchyard_e2e::Gateway;
use switchyard_e2e::client::{get, post};
use switchyard_e2e::gateway::binary;

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
