//! A scripted NATS server for what a real one cannot show: a server that takes publishes and
//! never confirms them. It completes the handshake (INFO, then PONG to the client's first
//! PING) and afterwards answers nothing.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const INFO: &[u8] = b"INFO {\"server_id\":\"silent\",\"version\":\"2.10.0\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n";

/// Starts the server; returns its URL and the task serving it.
pub async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("nats://{}", listener.local_addr().expect("bound"));
    let task = tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (read, mut write) = stream.into_split();
        if write.write_all(INFO).await.is_err() {
            return;
        }
        let mut lines = BufReader::new(read).lines();
        let mut answered = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("PING") && !answered {
                answered = true;
                if write.write_all(b"PONG\r\n").await.is_err() {
                    return;
                }
            }
        }
    });
    (url, task)
}
