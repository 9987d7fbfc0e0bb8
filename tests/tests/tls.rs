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

/// `openssl req` arguments for a new P-256 key, unencrypted.
const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// Runs `openssl ARGS` in `dir`, which must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA (`ca.pem`) and a certificate it signed for 127.0.0.1 (`cert.pem`, `key.pem`), in
/// `dir`, made by openssl.
fn certificate(dir: &Path) {
    let openssl = |args: &[&str]| openssl(dir, args);
    let ec = EC_KEY;
    openssl(
        &[
            &["req", "-x509"],
            &ec[..],
            &[
                "-days",
                "1",
                "-subj",
                "/CN=switchyard test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"],
            &ec[..],
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
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
    let ca = dir.join("ca.pem").display().to_string();
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

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_delivers_over_https_to_a_server_its_ca_file_trusts() {
    let dir = std::env::temp_dir().join(unique("switchyard-tls-hook"));
    std::fs::create_dir_all(&dir).expect("dir");
    let server = tls_gateway(&dir);
    let hook = |ca: &str| {
        format!(
            "outbounds:\n  hook: {{ type: webhook, url: \"https://{}/topics/in\", retry: {{ attempts: 1 }}{ca} }}\nroutes: [{{ name: r, from: http, to: hook }}]\n",
            server.addr
        )
    };
    let ca = format!(", tls_ca_file: \"{}\"", dir.join("ca.pem").display());
    let trusting = Gateway::start_with(Some(&hook(&ca)));
    switchyard_e2e::client::publish_event(&trusting.url(""), "t", "over-tls").await;

    // The system's CA bundle does not know the test certificate: the delivery fails.
    let doubting = Gateway::start_with(Some(&hook("")));
    let event = r#"{"specversion":"1.0","id":"x","source":"/t","type":"t"}"#;
    let res = switchyard_e2e::client::post(
        &doubting.url("/topics/t"),
        &[("content-type", "application/cloudevents+json")],
        event,
    )
    .await;
    assert!(res.status >= 500, "{} {}", res.status, res.text());
    drop((server, trusting, doubting));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// A Mosquitto of the test's own with a TLS listener on `port`, stopped when dropped.
struct TlsBroker(std::process::Child);

impl TlsBroker {
    fn start(dir: &Path, port: u16) -> Self {
        let conf = dir.join("mosquitto.conf");
        let d = dir.display();
        let text = format!(
            "listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/cert.pem\nkeyfile {d}/key.pem\nallow_anonymous true\n# root may read the test's 0600 key\nuser root\n"
        );
        std::fs::write(&conf, text).expect("mosquitto.conf");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto runs (scripts/test.sh installs it)");
        Self(child)
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    probe.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_in_and_out_over_tls_to_a_broker_its_ca_file_trusts() {
    let dir = std::env::temp_dir().join(unique("switchyard-mqtts"));
    std::fs::create_dir_all(&dir).expect("dir");
    certificate(&dir);
    let port = free_port();
    let _broker = TlsBroker::start(&dir, port);
    switchyard_e2e::eventually(T, "the TLS broker listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(drop)
    })
    .await;
    let ca = dir.join("ca.pem").display().to_string();
    let yaml = format!(
        r#"
inbounds:
  secure: {{ type: mqtt, url: "mqtts://127.0.0.1:{port}", subscribe: ["tls-test/#"], tls_ca_file: "{ca}" }}
outbounds:
  broker: {{ type: mqtt, url: "mqtts://127.0.0.1:{port}", topic: "{{topic}}", tls_ca_file: "{ca}" }}
routes:
  - {{ name: out, from: http, topics: "tls-test/#", to: broker }}
  - {{ name: in, from: secure, to: hub }}
"#
    );
    let gw = Gateway::start_with(Some(&yaml));
    switchyard_e2e::eventually(T, "both MQTT links up over TLS", || async {
        let res = switchyard_e2e::client::get(&gw.url("/readyz"), &[]).await;
        (res.status == 200).then_some(())
    })
    .await;
    let mut sse =
        switchyard_e2e::sse::SseStream::connect(&gw.url("/topics/tls-test/%23"), &[]).await;
    switchyard_e2e::client::publish_event(&gw.url(""), "tls-test/a", "through-mqtts").await;
    let event = sse
        .next_event(T)
        .await
        .expect("the event came back through the TLS broker");
    assert_eq!(event.json()["id"], "through-mqtts");
    drop(gw);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_over_tls_takes_api_keys_and_refuses_what_they_do_not_allow() {
    use switchyard_e2e::python::grpc_with;
    let dir = std::env::temp_dir().join(unique("switchyard-grpcs"));
    std::fs::create_dir_all(&dir).expect("dir");
    certificate(&dir);
    let key = "grpc-key-0123456789abcdef0123456789";
    let hash = {
        let out = Command::new("sh")
            .args(["-c", &format!("printf %s {key} | sha256sum")])
            .output()
            .expect("sha256sum");
        String::from_utf8_lossy(&out.stdout)[..64].to_owned()
    };
    let d = dir.display();
    let yaml = format!(
        r#"
listen: {{ grpc: "127.0.0.1:0" }}
grpc:
  tls: {{ cert_file: "{d}/cert.pem", key_file: "{d}/key.pem" }}
auth:
  api_keys: [{{ name: sensor, sha256: "{hash}", publish: ["sensors/#"], subscribe: ["sensors/#"] }}]
"#
    );
    let gw = Gateway::start_with(Some(&yaml));
    let addr = gw.grpc_addr().to_string();
    let ca = format!("{d}/ca.pem");
    let auth = format!("ApiKey {key}");
    let (tls, keyed) = (
        ("SWITCHYARD_GRPC_CA", ca.as_str()),
        ("SWITCHYARD_GRPC_AUTH", auth.as_str()),
    );
    let first = |env: &[(&str, &str)], args: &[&str]| {
        grpc_with(env, args).into_iter().next().expect("one line")
    };

    let ok = first(&[tls, keyed], &["publish", &addr, "sensors/a", "1", "ok-"]);
    assert_eq!(ok["accepted"][0], "ok-0", "{ok}");
    let anonymous = first(&[tls], &["publish", &addr, "sensors/a", "1", "anon-"]);
    assert_eq!(anonymous["code"], "UNAUTHENTICATED", "{anonymous}");
    assert!(
        anonymous["details"]
            .as_str()
            .unwrap_or_default()
            .starts_with("missing_credentials")
    );
    let outside = first(&[tls, keyed], &["publish", &addr, "other/a", "1", "out-"]);
    assert_eq!(outside["code"], "PERMISSION_DENIED", "{outside}");
    assert!(
        outside["details"]
            .as_str()
            .unwrap_or_default()
            .starts_with("publish_denied")
    );
    let wide = first(&[tls, keyed], &["subscribe", &addr, "#", "1", "5"]);
    assert_eq!(wide["code"], "PERMISSION_DENIED", "{wide}");
    assert!(
        wide["details"]
            .as_str()
            .unwrap_or_default()
            .starts_with("subscribe_denied")
    );
    // Plaintext to the TLS port: no call gets through.
    let plain = first(&[keyed], &["publish", &addr, "sensors/a", "1", "plain-"]);
    assert_eq!(plain["code"], "UNAVAILABLE", "{plain}");
    drop(gw);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// The listener's certificate follows its files: a new pair (another CA's, renamed over the
/// old files as a Secret update does) serves new connections without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let (old, new) = (unique("switchyard-tls-old"), unique("switchyard-tls-new"));
    let (old, new) = (
        std::env::temp_dir().join(old),
        std::env::temp_dir().join(new),
    );
    std::fs::create_dir_all(&old).expect("dir");
    std::fs::create_dir_all(&new).expect("dir");
    let gw = tls_gateway(&old);
    let healthz = format!("https://{}/healthz", gw.addr);
    let trusts = |dir: &Path| {
        let ca = dir.join("ca.pem").display().to_string();
        curl(&["--cacert", &ca, &healthz]).0 == "200"
    };
    assert!(trusts(&old), "the first certificate");
    certificate(&new);
    for file in ["cert.pem", "key.pem"] {
        std::fs::rename(new.join(file), old.join(file)).expect("renew");
    }
    switchyard_e2e::eventually(T, "the renewed certificate served", || {
        let (old, new) = (old.clone(), new.clone());
        async move { (trusts(&new) && !trusts(&old)).then_some(()) }
    })
    .await;
    drop(gw);
    let _ = std::fs::remove_dir_all(&old);
    let _ = std::fs::remove_dir_all(&new);
}

/// A client key and certificate with CN `name` (`NAME.pem`, `NAME.key`), signed by the test
/// CA (`ca.pem`/`ca.key` in `dir`), or with `own_ca` by a fresh CA no one trusts.
fn client_certificate(dir: &Path, name: &str, own_ca: bool) {
    let run = |args: &[&str]| openssl(dir, args);
    let ec = EC_KEY;
    let (ca, ca_key) = if own_ca {
        let (pem, key) = (format!("{name}-ca.pem"), format!("{name}-ca.key"));
        let subject = format!("/CN={name} rogue CA");
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days", "1", "-subj", &subject, "-keyout", &key, "-out", &pem,
            ],
        ]
        .concat());
        (pem, key)
    } else {
        ("ca.pem".to_owned(), "ca.key".to_owned())
    };
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    run(&[
        &["req"][..],
        &ec,
        &[
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    ]
    .concat());
    std::fs::write(
        dir.join(format!("{name}.ext")),
        "extendedKeyUsage=clientAuth\n",
    )
    .expect("ext");
    let ext = format!("{name}.ext");
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &ext,
        "-out",
        &pem,
    ]);
}

/// `http.tls.client_ca_file` and `auth.mtls`: a client certificate from the CA names the
/// principal (its CN), `auth.principals` gives it its permissions; without one the request
/// needs other credentials; one from another CA fails the handshake.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_is_the_principal() {
    let dir = std::env::temp_dir().join(unique("switchyard-mtls"));
    std::fs::create_dir_all(&dir).expect("dir");
    certificate(&dir);
    client_certificate(&dir, "device-9", false);
    client_certificate(&dir, "intruder", true);
    let d = dir.display();
    let tls = format!(
        "{{ cert_file: \"{d}/cert.pem\", key_file: \"{d}/key.pem\", client_ca_file: \"{d}/ca.pem\" }}"
    );
    let yaml = format!(
        "listen: {{ grpc: \"127.0.0.1:0\" }}\nhttp:\n  tls: {tls}\ngrpc:\n  tls: {tls}\nauth:\n  mtls: {{ identity: common_name }}\n  principals:\n    device-9: {{ publish: [\"devices/9/#\"] }}\n"
    );
    let gw = Gateway::start_args(&yaml, &[]);
    let ca = format!("{d}/ca.pem");
    let publish = |who: Option<&str>, topic: &str| {
        let url = format!("https://{}/topics/{topic}", gw.addr);
        let mut args = vec![
            "--cacert".to_owned(),
            ca.clone(),
            "-X".into(),
            "POST".into(),
            url,
            "-d".into(),
            "x".into(),
        ];
        if let Some(name) = who {
            args.extend([
                "--cert".into(),
                format!("{d}/{name}.pem"),
                "--key".into(),
                format!("{d}/{name}.key"),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&args)
    };
    let (code, body) = publish(Some("device-9"), "devices/9/temp");
    assert_eq!(code, "200", "its own topics: {body}");
    let (code, body) = publish(Some("device-9"), "devices/8/temp");
    assert_eq!(code, "403", "another device's: {body}");
    assert!(body.contains("publish_denied"), "{body}");
    let (code, body) = publish(None, "devices/9/temp");
    assert_eq!(code, "401", "no certificate, no other credentials: {body}");
    let (code, _) = publish(Some("intruder"), "devices/9/temp");
    assert_eq!(
        code, "000",
        "a certificate from another CA fails the handshake"
    );
    // The same on the gRPC listener, with grpcio.
    let grpc = |topic: &'static str| {
        let addr = gw.grpc_addr().to_string();
        let env = [
            ("SWITCHYARD_GRPC_CA", format!("{d}/ca.pem")),
            ("SWITCHYARD_GRPC_CERT", format!("{d}/device-9.pem")),
            ("SWITCHYARD_GRPC_KEY", format!("{d}/device-9.key")),
        ];
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            switchyard_e2e::python::grpc_with(&env, &["publish", &addr, topic, "1", "g-"])
        })
    };
    let own = grpc("devices/9/grpc").await.expect("grpc client");
    assert_eq!(own[0]["accepted"][0], "g-0", "{own:?}");
    let other = grpc("devices/8/grpc").await.expect("grpc client");
    assert_eq!(other[0]["code"], "PERMISSION_DENIED", "{other:?}");
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A nats-server of the test's own with TLS on `port`, stopped when dropped.
struct TlsNats(std::process::Child);

impl TlsNats {
    fn start(dir: &Path, port: u16) -> Self {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "--tls"])
            .arg("--tlscert")
            .arg(dir.join("cert.pem"))
            .arg("--tlskey")
            .arg(dir.join("key.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server runs (scripts/test.sh installs it)");
        Self(child)
    }
}

impl Drop for TlsNats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tls://` to NATS with `tls_ca_file`: nats-py publishes over TLS, the gateway's inbound
/// (over TLS too) hands it to an SSE subscriber. Without the CA the link never comes up.
#[tokio::test(flavor = "multi_thread")]
async fn nats_over_tls_to_a_server_its_ca_file_trusts() {
    let dir = std::env::temp_dir().join(unique("switchyard-nats-tls"));
    std::fs::create_dir_all(&dir).expect("dir");
    certificate(&dir);
    let port = free_port();
    let _server = TlsNats::start(&dir, port);
    switchyard_e2e::eventually(T, "the TLS nats-server listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(drop)
    })
    .await;
    let ca = dir.join("ca.pem").display().to_string();
    let inbound = |ca: &str| {
        format!(
            "inbounds:\n  secure: {{ type: nats, url: \"tls://127.0.0.1:{port}\", subjects: [\"tls-test.>\"]{ca} }}\nroutes:\n  - {{ name: in, from: secure, to: hub }}\n"
        )
    };
    let gw = Gateway::start_with(Some(&inbound(&format!(", tls_ca_file: \"{ca}\""))));
    switchyard_e2e::eventually(T, "the NATS link up over TLS", || async {
        let res = switchyard_e2e::client::get(&gw.url("/readyz"), &[]).await;
        (res.status == 200).then_some(())
    })
    .await;
    let mut sse =
        switchyard_e2e::sse::SseStream::connect(&gw.url("/topics/tls-test/%23"), &[]).await;
    let url = format!("tls://127.0.0.1:{port}");
    tokio::task::spawn_blocking(move || {
        let env = [
            ("SWITCHYARD_NATS_URL", url.as_str()),
            ("SWITCHYARD_NATS_CA", ca.as_str()),
        ];
        switchyard_e2e::python::nats_with(
            &env,
            &["pub", "tls-test.a", "1", "structured", "core", "t-"],
        )
    })
    .await
    .expect("nats-py");
    let event = sse.next_event(T).await.expect("an event over TLS").json();
    assert_eq!(event["id"], "t-0");
    // The system's CA bundle does not know the test CA: the inbound never gets ready.
    let doubting = Gateway::start_with(Some(&inbound("")));
    let res = switchyard_e2e::client::get(&doubting.url("/readyz"), &[]).await;
    assert_eq!(res.status, 503, "{}", res.text());
    drop((gw, doubting));
    let _ = std::fs::remove_dir_all(&dir);
}
