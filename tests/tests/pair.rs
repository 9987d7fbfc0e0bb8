//! The exclusive pair (`/pair/{name}`) with a real WebSocket client (tokio-tungstenite): two
//! peers talk both ways, frames sent while waiting arrive once the partner joins, a third
//! peer is refused with 4009, and a departure closes the other peer with 4010.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use switchyard_e2e::Gateway;

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;
const T: Duration = Duration::from_secs(10);

async fn connect(gw: &Gateway, name: &str) -> Ws {
    let url = format!("ws://{}/pair/{name}", gw.addr);
    connect_async(url).await.expect("websocket connects").0
}

async fn next(ws: &mut Ws) -> Message {
    loop {
        let frame = tokio::time::timeout(T, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("ok");
        if !matches!(frame, Message::Ping(_) | Message::Pong(_)) {
            return frame;
        }
    }
}

fn close_code(frame: &Message) -> u16 {
    match frame {
        Message::Close(Some(close)) => close.code.into(),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn two_peers_talk_a_third_is_refused_and_a_departure_is_signalled() {
    let gw = Gateway::start();
    let mut a = connect(&gw, "room-1").await;
    // Sent before anyone else is there: held, then delivered.
    a.send(Message::text("early")).await.expect("send");
    let mut b = connect(&gw, "room-1").await;
    assert_eq!(next(&mut b).await, Message::text("early"));
    a.send(Message::text("hello b")).await.expect("send");
    assert_eq!(next(&mut b).await, Message::text("hello b"));
    b.send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    assert_eq!(next(&mut a).await, Message::binary(vec![1u8, 2, 3]));

    let mut c = connect(&gw, "room-1").await;
    assert_eq!(close_code(&next(&mut c).await), 4009, "a third peer");

    // Another name is another pair.
    let mut d = connect(&gw, "room-2").await;
    let mut e = connect(&gw, "room-2").await;
    d.send(Message::text("to e")).await.expect("send");
    assert_eq!(next(&mut e).await, Message::text("to e"));

    a.close(None).await.expect("close");
    assert_eq!(close_code(&next(&mut b).await), 4010, "the other peer left");

    // The name is free again.
    let mut f = connect(&gw, "room-1").await;
    let mut g = connect(&gw, "room-1").await;
    f.send(Message::text("again")).await.expect("send");
    assert_eq!(next(&mut g).await, Message::text("again"));
}
