//! A scripted MQTT 5 broker for the one thing a real broker cannot show: when exactly the
//! outbound's deliveries complete relative to the PUBACKs. It accepts a connection, answers
//! CONNECT, reports each PUBLISH's packet id, and acknowledges only when the test says so.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::within;

const CONNACK: [u8; 5] = [0x20, 0x03, 0x00, 0x00, 0x00];
const PINGRESP: [u8; 2] = [0xd0, 0x00];

pub struct FakeBroker {
    listener: TcpListener,
}

pub struct FakeConnection {
    stream: TcpStream,
}

impl FakeBroker {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        Self { listener }
    }

    pub fn url(&self) -> String {
        let address = self.listener.local_addr().expect("bound");
        format!("mqtt://{address}")
    }

    /// Accepts the next client and completes its MQTT handshake.
    pub async fn accept(&self) -> FakeConnection {
        let (stream, _) = within("a client connection", self.listener.accept())
            .await
            .expect("accept");
        let mut connection = FakeConnection { stream };
        let (kind, _) = connection.read_packet().await;
        assert_eq!(kind >> 4, 1, "CONNECT first");
        connection
            .stream
            .write_all(&CONNACK)
            .await
            .expect("write CONNACK");
        connection
    }
}

impl FakeConnection {
    async fn read_packet(&mut self) -> (u8, Vec<u8>) {
        within("a packet from the client", async {
            let kind = self.stream.read_u8().await.expect("packet type");
            let (mut length, mut shift) = (0usize, 0);
            loop {
                let byte = self.stream.read_u8().await.expect("remaining length");
                length |= usize::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            let mut body = vec![0; length];
            self.stream
                .read_exact(&mut body)
                .await
                .expect("packet body");
            (kind, body)
        })
        .await
    }

    /// The packet id of the next PUBLISH (answering pings meanwhile).
    pub async fn next_publish(&mut self) -> u16 {
        loop {
            let (kind, body) = self.read_packet().await;
            match kind >> 4 {
                3 => {
                    assert_ne!(kind & 0x06, 0, "a QoS 1 or 2 publish");
                    let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
                    return u16::from_be_bytes([body[2 + topic_len], body[3 + topic_len]]);
                }
                12 => self
                    .stream
                    .write_all(&PINGRESP)
                    .await
                    .expect("write PINGRESP"),
                other => panic!("unexpected packet type {other}"),
            }
        }
    }

    /// Sends PUBACK for `pkid` with `reason` (0 = success).
    pub async fn puback(&mut self, pkid: u16, reason: u8) {
        let [high, low] = pkid.to_be_bytes();
        self.stream
            .write_all(&[0x40, 0x03, high, low, reason])
            .await
            .expect("write PUBACK");
    }
}
