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

/// A pair bound to a device's MQTT topic pair: the device is paho-mqtt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_bound_to_an_mqtt_topic_pair_talks_to_the_device() {
    use switchyard_e2e::python::{self, MqttSubscriber};
    let base = python::unique("pair/dev");
    let yaml = format!(
        "pairs:\n  device-7:\n    mqtt: {{ url: \"mqtt://127.0.0.1:1883\", subscribe: \"{base}/out\", publish: \"{base}/in\", qos: 1 }}\n"
    );
    let gw = Gateway::start_with(Some(&yaml));
    switchyard_e2e::eventually(T, "the pair's MQTT side connected", || async {
        let res = switchyard_e2e::client::get(&gw.url("/readyz"), &[]).await;
        (res.status == 200).then_some(())
    })
    .await;
    let mut ws = connect(&gw, "device-7").await;
    let device = MqttSubscriber::start(&format!("{base}/in"), 1, T).await;
    ws.send(Message::text("to the device")).await.expect("send");
    let got = device.messages().await;
    assert_eq!(python::payload(&got[0], "payload"), b"to the device");

    let out = format!("{base}/out");
    tokio::task::spawn_blocking(move || python::run(&["mqtt-pub", &out, "2", "raw"]))
        .await
        .expect("join");
    for n in 0..2 {
        let Message::Text(text) = next(&mut ws).await else {
            panic!("a text frame")
        };
        let value: serde_json::Value = serde_json::from_str(&text).expect("the device's JSON");
        assert_eq!(value["n"], n);
    }

    let mut other = connect(&gw, "device-7").await;
    assert_eq!(
        close_code(&next(&mut other).await),
        4009,
        "the device has its peer"
    );
}
