//! Broker faults for the fault tests: restart or kill RabbitMQ, Mosquitto and nats-server on
//! this machine.
//! Only the fault tests use these, and they run alone (see scripts/test.sh), since every other
//! broker test would see the fault too.
//!
//! Every command runs on tokio's blocking pool, never on the test's runtime thread: a
//! `#[tokio::test]` runtime has one thread, and blocking it for the seconds a broker restart
//! takes froze the test's own publishers between their TCP connect and their request, so the
//! gateway's header-read timeout closed those silent connections (issue 6).

use std::process::Command;
use std::time::Duration;

async fn sh(cmd: &'static str) -> bool {
    tokio::task::spawn_blocking(move || {
        Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

async fn port_open(port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    matches!(
        tokio::time::timeout(Duration::from_millis(200), connect).await,
        Ok(Ok(_))
    )
}

async fn wait_port(port: u16, open: bool, what: &str) {
    crate::eventually(Duration::from_secs(90), what, || async move {
        (port_open(port).await == open).then_some(())
    })
    .await;
}

/// Restarts the RabbitMQ application (connections drop, durable queues and persistent messages
/// survive), or, with `kill`, SIGKILLs the broker and starts it again.
pub async fn restart_rabbitmq(kill: bool) {
    if kill {
        assert!(sh("pkill -9 -x beam.smp").await, "kill -9 rabbitmq");
        wait_port(5672, false, "rabbitmq down").await;
        assert!(sh("rabbitmq-server -detached").await, "start rabbitmq");
    } else {
        assert!(sh("rabbitmqctl -q stop_app").await, "rabbitmqctl stop_app");
        assert!(
            sh("rabbitmqctl -q start_app").await,
            "rabbitmqctl start_app"
        );
    }
    wait_port(5672, true, "rabbitmq up").await;
    assert!(
        sh("rabbitmqctl -q await_startup --timeout 90").await,
        "rabbitmq startup"
    );
}

/// Stops Mosquitto with SIGTERM (it writes its persistence file) and starts it again.
pub async fn restart_mosquitto() {
    assert!(
        sh("kill -TERM $(cat /run/mosquitto/mosquitto.pid)").await,
        "stop mosquitto"
    );
    wait_port(1883, false, "mosquitto down").await;
    assert!(
        sh(
            "mkdir -p /run/mosquitto && chown mosquitto /run/mosquitto; mosquitto -d -c /etc/mosquitto/mosquitto.conf"
        )
        .await,
        "start mosquitto"
    );
    wait_port(1883, true, "mosquitto up").await;
}

/// Stops nats-server (SIGTERM; JetStream's file store survives) and starts it again the way
/// the machine starts it.
pub async fn restart_nats() {
    assert!(
        sh("start-stop-daemon --stop --oknodo --retry 10 --exec /usr/sbin/nats-server").await,
        "stop nats-server"
    );
    wait_port(4222, false, "nats-server down").await;
    assert!(
        sh(
            "mkdir -p /var/lib/nats-server; start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server"
        )
        .await,
        "start nats-server"
    );
    wait_port(4222, true, "nats-server up").await;
}
