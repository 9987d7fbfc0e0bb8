//! A headless Chromium (Debian's `chromium` package) driven over the DevTools protocol: start it
//! on a URL, evaluate JavaScript in the page. No WebDriver: the DevTools WebSocket is enough.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A running headless Chromium with one page; killed when dropped.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    profile: PathBuf,
    page: Ws,
    next_id: u64,
}

impl Browser {
    /// Starts Chromium on `url`. Fails (never skips) when Chromium is missing:
    /// `scripts/test.sh` installs it.
    pub async fn open(url: &str) -> Self {
        let profile = std::env::temp_dir().join(format!(
            "switchyard-chromium-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium is installed (scripts/test.sh installs Debian's chromium package)");
        let port = crate::eventually(Duration::from_secs(30), "DevToolsActivePort", || async {
            let text = std::fs::read_to_string(profile.join("DevToolsActivePort")).ok()?;
            text.lines().next()?.trim().parse::<u16>().ok()
        })
        .await;
        let ws_url = crate::eventually(Duration::from_secs(30), "the page target", || async {
            let res = crate::client::get(&format!("http://127.0.0.1:{port}/json/list"), &[]).await;
            let targets = serde_json::from_slice::<serde_json::Value>(&res.body).ok()?;
            targets
                .as_array()?
                .iter()
                .find(|t| t["type"] == "page")
                .map(|t| {
                    t["webSocketDebuggerUrl"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
        })
        .await;
        let (page, _) = connect_async(ws_url).await.expect("DevTools websocket");
        Self {
            child,
            profile,
            page,
            next_id: 1,
        }
    }

    /// Evaluates `expression` in the page and returns its value (JSON).
    pub async fn eval(&mut self, expression: &str) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        let call = serde_json::json!({
            "id": id, "method": "Runtime.evaluate",
            "params": { "expression": expression, "returnByValue": true },
        });
        self.page
            .send(Message::Text(call.to_string().into()))
            .await
            .expect("send to DevTools");
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.page.next())
                .await
                .expect("DevTools answers")
                .expect("DevTools open")
                .expect("DevTools message");
            let Message::Text(text) = msg else { continue };
            let reply: serde_json::Value = serde_json::from_str(&text).expect("DevTools JSON");
            if reply["id"] == id {
                return reply["result"]["result"]["value"].clone();
            }
        }
    }

    /// Waits until `expression` evaluates to `true`.
    pub async fn wait_for(&mut self, within: Duration, expression: &str) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.eval(expression).await == serde_json::Value::Bool(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {within:?} waiting for `{expression}`"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
