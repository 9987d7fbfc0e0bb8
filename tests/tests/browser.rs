//! A real headless Chromium opens the console page, receives events over EventSource and over
//! WebSocket, and after a network blip (every connection cut) its reconnect resumes without a
//! gap or a duplicate. The page reaches the gateway through a proxy that can cut connections;
//! the test publishes directly.

use std::time::Duration;

use switchyard_e2e::Gateway;
use switchyard_e2e::browser::Browser;
use switchyard_e2e::client::publish_event;
use switchyard_e2e::proxy::Proxy;

const T: Duration = Duration::from_secs(30);

async fn received_ids(browser: &mut Browser) -> Vec<String> {
    let ids = browser
        .eval("JSON.stringify((window.switchyardEvents || []).map(e => e.id))")
        .await;
    serde_json::from_str(ids.as_str().expect("string")).expect("ids")
}

async fn resumes_without_a_gap(transport: &str, connected: &str) {
    let gw = Gateway::start();
    let proxy = Proxy::start(gw.addr).await;
    let topic = format!("browser/{transport}");
    let page = format!(
        "http://{}/?filter=browser/%23&transport={transport}",
        proxy.addr
    );
    let mut browser = Browser::open(&page).await;
    browser
        .wait_for(
            T,
            &format!("document.getElementById('status').textContent === '{connected}'"),
        )
        .await;
    let base = gw.url("");
    let expected: Vec<String> = (1..=10).map(|i| format!("{transport}-{i}")).collect();
    for id in &expected[..5] {
        publish_event(&base, &topic, id).await;
    }
    browser
        .wait_for(T, "(window.switchyardEvents || []).length === 5")
        .await;

    proxy.cut();
    // Published while the page is cut off; the page must get them on its reconnect.
    for id in &expected[5..] {
        publish_event(&base, &topic, id).await;
    }
    browser
        .wait_for(T, "(window.switchyardEvents || []).length >= 10")
        .await;
    assert_eq!(
        received_ids(&mut browser).await,
        expected,
        "in order, no gap, no duplicate"
    );
}

#[tokio::test]
async fn console_over_eventsource_resumes_without_a_gap() {
    resumes_without_a_gap("sse", "connected (SSE)").await;
}

#[tokio::test]
async fn console_over_websocket_resumes_without_a_gap() {
    resumes_without_a_gap("ws", "connected (WebSocket)").await;
}
