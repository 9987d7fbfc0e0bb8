//! WebSocket against the real binary: subprotocol, both directions, close codes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use switchyard_e2e::client::{get, publish_event};
use switchyard_e2e::{Gateway, within};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;
const T: Duration = Duration::from_secs(10);

async fn connect(gw: &Gateway, path: &str) -> Ws {
    let mut req = format!("ws://{}{}", gw.addr, path)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "cloudevents.json".parse().expect("header"),
    );
    let (ws, res) = connect_async(req).await.expect("websocket connects");
    assert_eq!(res.headers()["sec-websocket-protocol"], "cloudevents.json");
    ws
}

async fn next_text(ws: &mut Ws) -> serde_json::Value {
    loop {
        match within(T, "websocket message", ws.next())
            .await
            .expect("open")
            .expect("ok")
        {
            Message::Text(t) => return serde_json::from_str(&t).expect("json"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match within(T, "close frame", ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Waits until the hub has `n` subscribers (the upgrade completes before the handler runs).
async fn subscribers(gw: &Gateway, n: usize) {
    switchyard_e2e::eventually(T, "subscribers", || async {
        let m = get(&gw.url("/metrics"), &[]).await.text();
        m.lines()
            .any(|l| l == format!("switchyard_hub_subscribers {n}"))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn receives_events_and_publishes_frames() {
    let gw = Gateway::start();
    let mut ws = connect(&gw, "/topics/chat").await;
    subscribers(&gw, 1).await;
    publish_event(&gw.url(""), "chat", "from-http").await;
    assert_eq!(next_text(&mut ws).await["id"], "from-http");

    let frame = serde_json::json!({ "specversion": "1.0", "id": "from-ws", "source": "/ws", "type": "chat.msg", "data": "hi" });
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .expect("send");
    // The gateway publishes it to `chat`; this same socket is subscribed, so it comes back.
    assert_eq!(next_text(&mut ws).await["id"], "from-ws");
}

#[tokio::test]
async fn without_the_subprotocol_no_protocol_header_is_chosen() {
    let gw = Gateway::start();
    let (_ws, res) = connect_async(format!("ws://{}/topics/x", gw.addr))
        .await
        .expect("connects");
    assert!(res.headers().get("sec-websocket-protocol").is_none());
}

#[tokio::test]
async fn message_over_the_limit_closes_1009() {
    let gw = Gateway::start_with(Some("http: { ws_max_message: 1024 }\n"));
    let mut ws = connect(&gw, "/topics/big").await;
    ws.send(Message::Text("x".repeat(4096).into()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, 1009);
}

#[tokio::test]
async fn invalid_utf8_closes_1007() {
    let gw = Gateway::start();
    let mut ws = connect(&gw, "/topics/utf").await;
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    let frame = Frame::from_payload(header, vec![0xC0, 0xA0, 0xFF].into());
    ws.send(Message::Frame(frame))
        .await
        .expect("send raw frame");
    assert_eq!(close_code(&mut ws).await, 1007);
}

#[tokio::test]
async fn invalid_event_closes_1008_and_binary_closes_1003() {
    let gw = Gateway::start();
    let mut ws = connect(&gw, "/topics/v").await;
    ws.send(Message::Text(r#"{"specversion":"1.0"}"#.into()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, 1008);
    let mut ws = connect(&gw, "/topics/v").await;
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, 1003);
}

#[tokio::test]
async fn resume_with_cursor_extension() {
    let gw = Gateway::start();
    let base = gw.url("");
    let mut ws = connect(&gw, "/topics/r?with_cursor=true").await;
    subscribers(&gw, 1).await;
    publish_event(&base, "r", "1").await;
    let first = next_text(&mut ws).await;
    let cursor = first["hubcursor"].as_str().expect("cursor").to_owned();
    drop(ws);
    publish_event(&base, "r", "2").await;
    let mut again = connect(&gw, &format!("/topics/r?since={cursor}")).await;
    assert_eq!(next_text(&mut again).await["id"], "2");
}

#[tokio::test]
async fn slow_consumer_is_closed_4008() {
    let gw = Gateway::start_with(Some("hub: { subscriber_queue: 4 }\n"));
    let mut ws = connect(&gw, "/topics/flood").await;
    subscribers(&gw, 1).await;
    // Publish without reading: the queue of 4 fills as soon as the socket buffers are full.
    let big = "y".repeat(60_000);
    let mut code = None;
    for i in 0..2000 {
        let res = switchyard_e2e::client::post(
            &gw.url("/topics/flood"),
            &[("content-type", "text/plain")],
            big.clone(),
        )
        .await;
        assert_eq!(res.status, 200, "publish {i}");
        let m = get(&gw.url("/metrics"), &[]).await.text();
        if m.lines().any(|l| {
            l.starts_with("switchyard_hub_disconnects_total") && l.contains("slow_consumer")
        }) {
            code = Some(i);
            break;
        }
    }
    assert!(code.is_some(), "never disconnected as slow");
    assert_eq!(close_code(&mut ws).await, 4008);
}

#[tokio::test]
async fn websockets_count_against_the_connection_limit() {
    let gw = Gateway::start_with(Some("http: { max_connections: 2 }\n"));
    let first = connect(&gw, "/topics/limit").await;
    let _second = connect(&gw, "/topics/limit").await;
    let third = connect_async(format!("ws://{}/topics/limit", gw.addr)).await;
    assert!(
        third.is_err(),
        "a third connection got through a limit of 2"
    );
    drop(first);
    switchyard_e2e::eventually(T, "a slot freed by the closed WebSocket", || async {
        connect_async(format!("ws://{}/topics/limit", gw.addr))
            .await
            .ok()
            .map(drop)
    })
    .await;
}
