//! HTTPS on the HTTP family's listener, against the real binary and curl: a publish over TLS
//! with a certificate made by openssl here, a plaintext request to the TLS port refused, a
//! client that opens the connection and sends nothing closed at the handshake timeout.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use switchyard_e2e::python::unique;
use switchyard_e2e::{Gateway, within};

const T: Duration = Duration::from_secs(20);

/// A self-signed certificate for 127.0.0.1 (and its key) in `dir`.
fn certificate(dir: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=switchyard-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// `curl ARGS -w %{http_code}`: the status (`000` when no HTTP answer came) and the body.
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_owned(), body.to_owned())
}

fn tls_gateway(dir: &Path) -> Gateway {
    certificate(dir);
    let yaml = format!(
        "http:\n  tls: {{ cert_file: \"{}\", key_file: \"{}\", handshake_timeout_ms: 300 }}\n",
        dir.join("cert.pem").display(),
        dir.join("key.pem").display()
    );
    Gateway::start_args(&yaml, &[])
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_over_https_and_refuses_plaintext_and_silent_clients() {
    let dir = std::env::temp_dir().join(unique("switchyard-tls"));
    std::fs::create_dir_all(&dir).expect("dir");
    let gw = tls_gateway(&dir);
    let ca = dir.join("cert.pem").display().to_string();
    let https = format!("https://{}", gw.addr);

    let (code, body) = curl(&[
        "--cacert",
        &ca,
        "-X",
        "POST",
        &format!("{https}/topics/t"),
        "-d",
        "hi",
    ]);
    assert_eq!(code, "200", "{body}");
    assert_eq!(
        curl(&["--cacert", &ca, &format!("{https}/healthz")]).0,
        "200"
    );
    // Without the CA, curl refuses the certificate: it is really TLS, with our certificate.
    assert_eq!(curl(&[&format!("{https}/healthz")]).0, "000");

    // Plaintext to the TLS port: no HTTP answer, the connection is closed.
    assert_eq!(curl(&[&format!("http://{}/healthz", gw.addr)]).0, "000");

    // Opens TCP, sends nothing: closed once the handshake timeout passes.
    let mut silent = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let read = within(T, "the silent connection closed", silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let (_, metrics) = curl(&["--cacert", &ca, &format!("{https}/metrics")]);
    assert!(
        metrics.contains("switchyard_tls_handshake_failures_total{reason=\"timeout\"}"),
        "{metrics}"
    );
    drop(gw);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
