//! Authentication and topic permissions against the real binary, with tokens made by an
//! independent library (pyjwt and cryptography, in `tests/interop/jwt_tool.py`): a token from
//! every key type publishes while forged, stale, misaddressed, oversized and truncated ones are
//! refused with their reason; API keys in both header forms; anonymous topics; subscriptions
//! that must lie inside a grant (SSE, polls, WebSocket); publish grants over HTTP and
//! WebSocket frames; `{sub}` grants; browsers' query and cookie tokens; the WebSocket Origin
//! allow-list and CORS; every refusal counted; and no `auth:` section meaning open.
//! gRPC is not covered: `grpc_client.py` cannot send metadata.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use http::Method;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use switchyard_e2e::client::{Response, get, post, request};
use switchyard_e2e::document::DocumentServer;
use switchyard_e2e::python::unique;
use switchyard_e2e::sse::SseStream;
use switchyard_e2e::{Gateway, eventually, within};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;
const T: Duration = Duration::from_secs(20);
const APP: &str = "https://app.test";
const EVIL: &str = "https://evil.test";
/// The topic the valid tokens may publish to, and filters they may subscribe with.
const TOPIC: &str = "sensors/dev-1/temp";
const DEV1: &str = "/topics/sensors/dev-1/%23";
const ALLOW_ORIGIN: &str = "access-control-allow-origin";
const INSIDE: [&str; 3] = [TOPIC, "sensors/dev-1/%2B", "sensors/dev-1/%23"];
/// Filters wider than `sensors/dev-1/#`, percent-encoded for a path.
const WIDER: [&str; 4] = ["%23", "%2B/%23", "sensors/%2B", "sensors/%23"];

/// The keys and tokens of one `jwt_tool.py` run; its directory is removed when dropped.
#[derive(Debug)]
struct Keys {
    dir: PathBuf,
    out: serde_json::Value,
}

impl Keys {
    fn generate() -> Self {
        let dir = std::env::temp_dir().join(unique("auth-keys"));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/jwt_tool.py");
        let out = Command::new("python3").arg(script).arg(&dir).output();
        let out = out.expect("python3 runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "jwt_tool.py (needs pyjwt[crypto]): {stderr}"
        );
        let out = serde_json::from_slice(&out.stdout).expect("one JSON object");
        Self { dir, out }
    }

    fn token(&self, name: &str) -> &str {
        let token = self.out["tokens"][name].as_str();
        token.unwrap_or_else(|| panic!("no token {name}"))
    }

    /// A caller presenting the token `name` as a bearer token.
    fn bearer<'g>(&self, gw: &'g Gateway, name: &str) -> As<'g> {
        As::bearer(gw, self.token(name))
    }

    fn field(&self, name: &str) -> &str {
        self.out[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name}"))
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The whole `auth:` section, naming the key files in `keys.dir`.
fn config(keys: &Keys) -> String {
    let dir = keys.dir.display();
    let (secret, sha) = (keys.field("hs_secret"), keys.field("api_key_sha256"));
    format!(
        r#"auth:
  anonymous: {{ publish: ["public/#"], subscribe: ["public/#"] }}
  jwt:
    keys:
      - {{ kid: rs, algorithm: RS256, pem_file: "{dir}/rs_public.pem" }}
      - {{ kid: es, algorithm: ES256, pem_file: "{dir}/es_public.pem" }}
      - {{ kid: ed, algorithm: EdDSA, pem_file: "{dir}/ed_public.pem" }}
      - {{ kid: hs, algorithm: HS256, secret: "{secret}" }}
    jwks_file: "{dir}/jwks.json"
    issuer: "https://issuer.test"
    audience: switchyard
    leeway_s: 5
    query_param: access_token
    cookie: sy_token
  api_keys:
    - {{ name: ingest, sha256: "{sha}", publish: ["sensors/#"], subscribe: ["sensors/#"] }}
  principals:
    alice: {{ publish: ["chat/{{sub}}/#"], subscribe: ["chat/#"] }}
  cors: {{ origins: ["{APP}"] }}
  websocket_origins: ["{APP}"]
"#
    )
}

/// A gateway with the whole `auth:` section, and the keys its tokens are made with.
fn gateway() -> (Gateway, Keys) {
    let keys = Keys::generate();
    let gw = Gateway::start_args(&config(&keys), &[]);
    (gw, keys)
}

/// Who a request comes from: the headers it carries (one credential, or none).
#[derive(Debug)]
struct As<'g> {
    gw: &'g Gateway,
    headers: Vec<(&'static str, String)>,
}

impl<'g> As<'g> {
    fn anonymous(gw: &'g Gateway) -> Self {
        let headers = Vec::new();
        Self { gw, headers }
    }

    fn bearer(gw: &'g Gateway, token: &str) -> Self {
        Self::header(gw, "authorization", &format!("Bearer {token}"))
    }

    fn header(gw: &'g Gateway, name: &'static str, value: &str) -> Self {
        let headers = vec![(name, value.to_owned())];
        Self { gw, headers }
    }

    /// Its headers and `extra`.
    fn with<'a>(&'a self, extra: &[(&'static str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let own = self.headers.iter().map(|(k, v)| (*k, v.as_str()));
        own.chain(extra.iter().copied()).collect()
    }

    /// Publishes a structured event `id` to `topic`; the answer, unchecked.
    async fn publish(&self, topic: &str, id: &str) -> Response {
        let event =
            serde_json::json!({ "specversion": "1.0", "id": id, "source": "/t", "type": "t" });
        let headers = self.with(&[("content-type", "application/cloudevents+json")]);
        let url = self.gw.url(&format!("/topics/{topic}"));
        post(&url, &headers, event.to_string()).await
    }

    /// An open SSE stream on `path`; asserts it was accepted.
    async fn sse(&self, path: &str) -> SseStream {
        let stream = SseStream::connect(&self.gw.url(path), &self.with(&[])).await;
        assert_eq!(stream.status, 200, "SSE {path}");
        stream
    }

    /// `GET path` asking for an event stream, read whole (for refusals, which end at once).
    async fn sse_get(&self, path: &str) -> Response {
        let headers = self.with(&[("accept", "text/event-stream")]);
        get(&self.gw.url(path), &headers).await
    }

    /// The status an SSE request gets (the stream, if opened, closed at once).
    async fn sse_get_status(&self, path: &str) -> u16 {
        SseStream::connect(&self.gw.url(path), &self.with(&[]))
            .await
            .status
    }

    /// `GET path` without `Accept: text/event-stream`: a poll.
    async fn poll(&self, path: &str) -> Response {
        get(&self.gw.url(path), &self.with(&[])).await
    }
}

#[track_caller]
fn assert_ok(res: &Response) {
    assert_eq!(res.status, 200, "{}", res.text());
}

/// Asserts a refusal: status, `error`, `reason`, and on 401 the Bearer challenge.
#[track_caller]
fn assert_denied(res: &Response, status: u16, reason: &str) {
    assert_eq!(res.status, status, "{}", res.text());
    let body = res.json();
    let error = match status {
        401 => "unauthenticated",
        429 => reason,
        _ => "forbidden",
    };
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    if status == 401 {
        let challenge = res.header("www-authenticate").unwrap_or_default();
        let realm = r#"Bearer realm="switchyard""#;
        assert!(
            challenge.starts_with(realm),
            "WWW-Authenticate: {challenge}"
        );
    }
}

/// The ids in a poll's answer (a JSON array of events).
fn ids(res: &Response) -> Vec<String> {
    assert_ok(res);
    let events = res.json();
    let events = events.as_array().expect("an array of events");
    events
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect()
}

async fn next_id(sse: &mut SseStream) -> String {
    let event = sse.next_event(T).await.expect("an event").json();
    event["id"].as_str().expect("id").to_owned()
}

/// Waits until `/metrics` has the line `line`.
async fn metric(gw: &Gateway, line: String) {
    eventually(T, &line, || async {
        let metrics = get(&gw.url("/metrics"), &[]).await.text();
        metrics.lines().any(|l| l == line).then_some(())
    })
    .await;
}

async fn denied_total(gw: &Gateway, reason: &str, n: u64) {
    let line = format!("switchyard_auth_denied_total{{reason=\"{reason}\"}} {n}");
    metric(gw, line).await;
}

/// Waits until the hub has `n` subscribers (a WebSocket's handler runs after its upgrade).
async fn subscribers(gw: &Gateway, n: usize) {
    metric(gw, format!("switchyard_hub_subscribers {n}")).await;
}

/// Opens a WebSocket on `path` from `origin`: the upgrade's outcome.
async fn ws_from(gw: &Gateway, path: &str, origin: &str) -> tungstenite::Result<Ws> {
    let mut req = format!("ws://{}{path}", gw.addr).into_client_request()?;
    req.headers_mut()
        .insert("origin", origin.parse().expect("header"));
    let upgraded = within(T, "websocket upgrade", connect_async(req)).await;
    upgraded.map(|(ws, _)| ws)
}

/// Opens a WebSocket on `path` from the allowed origin; the upgrade must succeed.
async fn ws(gw: &Gateway, path: &str) -> Ws {
    ws_from(gw, path, APP).await.expect("upgraded")
}

async fn send_event(ws: &mut Ws, id: &str) {
    let event = serde_json::json!({ "specversion": "1.0", "id": id, "source": "/ws", "type": "t" });
    let sent = within(T, "send", ws.send(Message::Text(event.to_string().into()))).await;
    sent.expect("frame sent");
}

async fn next_ws_id(ws: &mut Ws) -> String {
    loop {
        match within(T, "websocket message", ws.next()).await {
            Some(Ok(Message::Text(t))) => {
                let event: serde_json::Value = serde_json::from_str(&t).expect("json");
                return event["id"].as_str().expect("id").to_owned();
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// The code of the close frame the socket gets next.
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match within(T, "close frame", ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Runs `grpc_client.py COMMAND ADDR ARGS…` with the bearer `token`; its JSON lines.
async fn grpc_as(gw: &Gateway, token: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut argv: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    argv.insert(1, gw.grpc_addr().to_string());
    let auth = format!("Bearer {token}");
    tokio::task::spawn_blocking(move || {
        let env = [("SWITCHYARD_GRPC_AUTH", auth.as_str())];
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        switchyard_e2e::python::grpc_with(&env, &argv)
    })
    .await
    .expect("grpc client")
}

/// Asserts that the socket is closed with 1008 and a reason naming `reason`.
async fn assert_closed(ws: &mut Ws, reason: &str) {
    let frame = loop {
        match within(T, "close frame", ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => break frame,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a close frame naming {reason}, got {other:?}"),
        }
    };
    assert_eq!(u16::from(frame.code), 1008, "{frame:?}");
    assert!(
        frame.reason.as_str().contains(reason),
        "{frame:?} should name {reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_from_every_configured_key_publish_and_forged_tokens_are_refused() {
    let (gw, keys) = gateway();
    let mut sse = keys.bearer(&gw, "rs").sse(DEV1).await;
    for name in ["rs", "es", "ed", "hs", "jwks"] {
        assert_ok(&keys.bearer(&gw, name).publish(TOPIC, name).await);
        assert_eq!(next_id(&mut sse).await, name);
    }

    let res = keys.bearer(&gw, "alg_none").publish(TOPIC, "none").await;
    assert_eq!(res.status, 401, "alg none: {}", res.text());
    let reason = res.json()["reason"].as_str().map(str::to_owned);
    let either = [Some("invalid_token"), Some("algorithm_mismatch")];
    assert!(either.contains(&reason.as_deref()), "{reason:?}");
    // HS256 keyed with the RSA public key's PEM, naming the RS256 key: never taken as HMAC.
    let forged = keys.bearer(&gw, "hs_with_rs_pem");
    let res = forged.publish(TOPIC, "hs").await;
    assert_denied(&res, 401, "algorithm_mismatch");
    let counted = 1 + u64::from(reason.as_deref() == Some("algorithm_mismatch"));
    denied_total(&gw, "algorithm_mismatch", counted).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_premature_and_misaddressed_tokens_are_refused_with_their_reason_and_counted() {
    let (gw, keys) = gateway();
    assert_ok(&keys.bearer(&gw, "rs").publish(TOPIC, "valid").await);
    let reasons = ["expired", "not_yet_valid", "wrong_audience", "wrong_issuer"];
    for reason in reasons {
        // The token of that name is refused for that reason, publishing and subscribing.
        let caller = keys.bearer(&gw, reason);
        assert_denied(&caller.publish(TOPIC, reason).await, 401, reason);
        let res = caller.sse_get(DEV1).await;
        assert_denied(&res, 401, reason);
    }
    for reason in reasons {
        denied_total(&gw, reason, 2).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_key_ids_and_oversized_or_truncated_tokens_are_refused_and_the_gateway_stays_up() {
    let (gw, keys) = gateway();
    for name in ["kid_path", "kid_sql"] {
        let res = keys.bearer(&gw, name).publish(TOPIC, name).await;
        assert_denied(&res, 401, "unknown_key");
    }
    let over = keys.token("over_8k");
    assert!(over.len() > 8192, "{} bytes", over.len());
    let res = As::bearer(&gw, over).publish(TOPIC, "over").await;
    assert_denied(&res, 401, "token_too_large");
    let res = keys.bearer(&gw, "huge").publish(TOPIC, "huge").await;
    match res.status {
        401 => assert_denied(&res, 401, "token_too_large"),
        status => assert_eq!(status, 431, "100 KB token: {}", res.text()),
    }
    let rs = keys.token("rs");
    let truncated = &rs[..rs.len() - 4];
    let res = As::bearer(&gw, truncated).publish(TOPIC, "truncated").await;
    assert_denied(&res, 401, "invalid_token");

    assert_ok(&get(&gw.url("/healthz"), &[]).await);
    assert_ok(&As::bearer(&gw, rs).publish(TOPIC, "valid").await);
    denied_total(&gw, "unknown_key", 2).await;
    let log = gw.log.lock().expect("log").clone();
    let leaked = log.contains(rs) || log.contains(truncated);
    assert!(!leaked, "a token reached the log");
}

/// An API key presented in each of its two headers.
fn key_forms<'g>(gw: &'g Gateway, key: &str) -> [As<'g>; 2] {
    let authorization = format!("ApiKey {key}");
    [
        As::header(gw, "x-api-key", key),
        As::header(gw, "authorization", &authorization),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_work_in_both_header_forms_and_a_key_one_byte_off_is_refused() {
    let (gw, keys) = gateway();
    let (key, near) = (keys.field("api_key"), keys.field("api_key_near_miss"));
    for (i, caller) in key_forms(&gw, key).iter().enumerate() {
        let id = format!("key-{i}");
        assert_ok(&caller.publish("sensors/ingest/1", &id).await);
    }
    for caller in key_forms(&gw, near) {
        let res = caller.publish("sensors/ingest/1", "near").await;
        assert_denied(&res, 401, "invalid_api_key");
    }
    let ingest = As::header(&gw, "x-api-key", key);
    let polled = ingest.poll("/topics/sensors/%23?since=0").await;
    assert_eq!(ids(&polled), ["key-0", "key-1"]);
    let res = ingest.publish("chat/x", "outside").await;
    assert_denied(&res, 403, "publish_denied");
    denied_total(&gw, "invalid_api_key", 2).await;
    let log = gw.log.lock().expect("log").clone();
    let leaked = log.contains(key) || log.contains(near);
    assert!(!leaked, "an API key reached the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_credentials_only_anonymous_topics_are_open_and_others_ask_for_credentials() {
    let (gw, _keys) = gateway();
    let anonymous = As::anonymous(&gw);
    let mut sse = anonymous.sse("/topics/public/x").await;
    assert_ok(&anonymous.publish("public/x", "anon").await);
    assert_eq!(next_id(&mut sse).await, "anon");
    let polled = anonymous.poll("/topics/public/x?since=0").await;
    assert_eq!(ids(&polled), ["anon"]);

    let refused = "missing_credentials";
    let res = anonymous.publish("sensors/dev-1/x", "anon").await;
    assert_denied(&res, 401, refused);
    let res = anonymous.sse_get("/topics/sensors/dev-1/x").await;
    assert_denied(&res, 401, refused);
    let res = anonymous.poll("/topics/sensors/dev-1/x").await;
    assert_denied(&res, 401, refused);
    denied_total(&gw, refused, 3).await;
    // The admin endpoints are not behind authentication.
    assert_ok(&get(&gw.url("/healthz"), &[]).await);
    assert_ok(&get(&gw.url("/metrics"), &[]).await);
    eventually(T, "/readyz 200 without credentials", || async {
        (get(&gw.url("/readyz"), &[]).await.status == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_must_lie_inside_an_allowed_pattern_over_sse_and_polls() {
    let (gw, keys) = gateway();
    let dev = keys.bearer(&gw, "rs");
    let mut sse = dev.sse(DEV1).await;
    assert_ok(&dev.publish(TOPIC, "inside").await);
    assert_eq!(next_id(&mut sse).await, "inside");
    for filter in INSIDE {
        let polled = dev.poll(&format!("/topics/{filter}?since=0")).await;
        assert_eq!(ids(&polled), ["inside"], "{filter}");
    }
    for filter in WIDER {
        let path = format!("/topics/{filter}");
        assert_denied(&dev.sse_get(&path).await, 403, "subscribe_denied");
        assert_denied(&dev.poll(&path).await, 403, "subscribe_denied");
        let long = dev.poll(&format!("{path}?wait=5")).await;
        assert_denied(&long, 403, "subscribe_denied");
    }
    denied_total(&gw, "subscribe_denied", 12).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_outside_the_allowed_patterns_is_refused_over_http_and_websocket_frames() {
    let (gw, keys) = gateway();
    // `reader` may subscribe to sensors/# but publish only to sensors/dev-1/#.
    let token = keys.token("reader");
    let reader = As::bearer(&gw, token);
    assert_ok(&reader.publish("sensors/dev-1/a", "http-ok").await);
    let res = reader.publish("sensors/dev-2/a", "http-refused").await;
    assert_denied(&res, 403, "publish_denied");

    let mut watch = reader.sse("/topics/sensors/%23").await;
    let on = |device: &str| format!("/topics/sensors/{device}/ws?access_token={token}");
    let mut allowed = ws(&gw, &on("dev-1")).await;
    let mut refused = ws(&gw, &on("dev-2")).await;
    subscribers(&gw, 3).await;
    send_event(&mut allowed, "from-ws").await;
    assert_eq!(next_ws_id(&mut allowed).await, "from-ws");
    send_event(&mut refused, "refused-frame").await;
    assert_closed(&mut refused, "publish_denied").await;
    // The refused frame went nowhere: the watcher gets the allowed frame, then the event
    // published after the refusal.
    assert_ok(&reader.publish("sensors/dev-1/b", "after").await);
    assert_eq!(next_id(&mut watch).await, "from-ws");
    assert_eq!(next_id(&mut watch).await, "after");
    denied_total(&gw, "publish_denied", 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn principal_grants_apply_to_their_subject_with_sub_substituted() {
    let (gw, keys) = gateway();
    let alice = keys.bearer(&gw, "alice");
    let mut sse = alice.sse("/topics/chat/%23").await;
    assert_ok(&alice.publish("chat/alice/x", "by-alice").await);
    assert_eq!(next_id(&mut sse).await, "by-alice");
    let res = alice.publish("chat/bob/x", "as-bob").await;
    assert_denied(&res, 403, "publish_denied");
    // The grant is alice's: dev-1 gets nothing under chat/, not even chat/dev-1/.
    let dev = keys.bearer(&gw, "rs");
    let res = dev.publish("chat/dev-1/x", "dev").await;
    assert_denied(&res, 403, "publish_denied");
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_may_present_the_token_as_a_query_parameter_or_a_cookie() {
    let (gw, keys) = gateway();
    let (rs, expired) = (keys.token("rs"), keys.token("expired"));
    let anonymous = As::anonymous(&gw);
    let mut by_query = anonymous.sse(&format!("{DEV1}?access_token={rs}")).await;
    let by_cookie = As::header(&gw, "cookie", &format!("theme=dark; sy_token={rs}"));
    let mut cookie_sse = by_cookie.sse(DEV1).await;
    assert_ok(&by_cookie.publish(TOPIC, "browser").await);
    assert_eq!(next_id(&mut by_query).await, "browser");
    assert_eq!(next_id(&mut cookie_sse).await, "browser");
    // The token parameter is not taken for a poll option.
    let path = format!("/topics/{TOPIC}?since=0&access_token={rs}");
    let polled = anonymous.poll(&path).await;
    assert_eq!(ids(&polled), ["browser"]);

    let stale_query = format!("{DEV1}?access_token={expired}");
    assert_denied(&anonymous.sse_get(&stale_query).await, 401, "expired");
    let stale_cookie = As::header(&gw, "cookie", &format!("sy_token={expired}"));
    let res = stale_cookie.sse_get(DEV1).await;
    assert_denied(&res, 401, "expired");
    let other_cookie = As::header(&gw, "cookie", &format!("session={rs}"));
    let res = other_cookie.sse_get(DEV1).await;
    assert_denied(&res, 401, "missing_credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn websockets_close_1008_on_bad_credentials_or_filters_and_other_origins_get_403() {
    let (gw, keys) = gateway();
    let (rs, expired) = (keys.token("rs"), keys.token("expired"));
    let mut open = ws(&gw, &format!("{DEV1}?access_token={rs}")).await;
    subscribers(&gw, 1).await;
    assert_ok(&As::bearer(&gw, rs).publish(TOPIC, "to-ws").await);
    assert_eq!(next_ws_id(&mut open).await, "to-ws");
    let mut wide = ws(&gw, &format!("/topics/%23?access_token={rs}")).await;
    assert_closed(&mut wide, "subscribe_denied").await;
    let mut stale = ws(&gw, &format!("{DEV1}?access_token={expired}")).await;
    assert_closed(&mut stale, "expired").await;
    let mut nobody = ws(&gw, DEV1).await;
    assert_closed(&mut nobody, "missing_credentials").await;

    // From the allowed origin an anonymous socket on a public topic stays open; from another
    // origin the upgrade itself is refused.
    let mut public = ws(&gw, "/topics/public/x").await;
    subscribers(&gw, 2).await;
    assert_ok(&As::anonymous(&gw).publish("public/x", "public").await);
    assert_eq!(next_ws_id(&mut public).await, "public");
    match ws_from(&gw, "/topics/public/x", EVIL).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("an upgrade from {EVIL} was not refused: {other:?}"),
    }
    let upgrade = [
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("origin", EVIL),
    ];
    let res = get(&gw.url("/topics/public/x"), &upgrade).await;
    assert_denied(&res, 403, "origin_denied");
    denied_total(&gw, "origin_denied", 2).await;
}

/// A CORS preflight for a POST with a token, from `origin`.
async fn preflight(gw: &Gateway, origin: &str) -> Response {
    let headers = [
        ("origin", origin),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "authorization"),
    ];
    let url = gw.url("/topics/sensors/dev-1/x");
    request(Method::OPTIONS, &url, &headers, "").await
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_headers_are_given_to_the_configured_origin_only() {
    let (gw, keys) = gateway();
    let res = preflight(&gw, APP).await;
    let status = res.status;
    assert!(
        (200..300).contains(&status),
        "preflight {status}: {}",
        res.text()
    );
    assert_eq!(res.header(ALLOW_ORIGIN), Some(APP));
    let res = preflight(&gw, EVIL).await;
    assert_eq!(res.header(ALLOW_ORIGIN), None, "{:?}", res.headers);

    let dev = keys.bearer(&gw, "rs");
    for (origin, allowed) in [(APP, Some(APP)), (EVIL, None)] {
        let headers = dev.with(&[("origin", origin), ("content-type", "text/plain")]);
        let res = post(&gw.url("/topics/sensors/dev-1/x"), &headers, "hi").await;
        // CORS is the browser's check; the token is the gateway's.
        assert_ok(&res);
        assert_eq!(res.header(ALLOW_ORIGIN), allowed, "{origin}");
    }
}

#[tokio::test]
async fn without_an_auth_section_everything_is_open() {
    let gw = Gateway::start_args("log: { level: info }\n", &[]);
    let anyone = As::anonymous(&gw);
    let mut sse = anyone.sse("/topics/%23").await;
    assert_ok(&anyone.publish(TOPIC, "open").await);
    assert_eq!(next_id(&mut sse).await, "open");
    assert_eq!(ids(&anyone.poll("/topics/%23?since=0").await), ["open"]);
    let res = preflight(&gw, APP).await;
    assert_eq!(res.header(ALLOW_ORIGIN), None, "no CORS without auth.cors");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_principal_over_its_publish_rate_gets_429_and_others_are_not_slowed() {
    let keys = Keys::generate();
    // One publish per 100 s after a burst of 2: the third publish is over, however slow the
    // machine.
    let yaml = config(&keys) + "  rate_limit: { publish_per_s: 0.01, burst: 2 }\n";
    let gw = Gateway::start_args(&yaml, &[]);
    let ingest = As::header(&gw, "x-api-key", keys.field("api_key"));
    assert_ok(&ingest.publish("sensors/r/1", "r-0").await);
    assert_ok(&ingest.publish("sensors/r/1", "r-1").await);
    let res = ingest.publish("sensors/r/1", "r-2").await;
    assert_eq!(res.status, 429, "{}", res.text());
    assert_eq!(res.json()["reason"], "rate_limited");
    let after: u64 = res
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(after >= 1, "{after}");
    // Another principal has a bucket of its own.
    let anonymous = As::anonymous(&gw);
    assert_ok(&anonymous.publish("public/r", "a-0").await);
    assert_ok(&anonymous.publish("public/r", "a-1").await);
    denied_total(&gw, "rate_limited", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_rate_bucket_serves_a_principal_on_every_listener() {
    let keys = Keys::generate();
    let yaml = format!(
        "listen: {{ grpc: \"127.0.0.1:0\" }}\n{}  rate_limit: {{ publish_per_s: 0.01, burst: 2 }}\n",
        config(&keys)
    );
    let gw = Gateway::start_args(&yaml, &[]);
    let key = keys.field("api_key");
    let ingest = As::header(&gw, "x-api-key", key);
    assert_ok(&ingest.publish("sensors/r/1", "http-0").await);
    let (addr, auth) = (gw.grpc_addr().to_string(), format!("ApiKey {key}"));
    let over_grpc = tokio::task::spawn_blocking(move || {
        let env = [("SWITCHYARD_GRPC_AUTH", auth.as_str())];
        switchyard_e2e::python::grpc_with(&env, &["publish", &addr, "sensors/r/1", "1", "grpc-"])
    })
    .await
    .expect("grpc client");
    assert_eq!(over_grpc[0]["accepted"][0], "grpc-0", "{over_grpc:?}");
    // The burst of 2 is spent across both listeners.
    let res = ingest.publish("sensors/r/1", "http-1").await;
    assert_eq!(res.status, 429, "{}", res.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn over_its_rate_a_principal_is_closed_1013_on_websocket_and_resource_exhausted_on_grpc() {
    let keys = Keys::generate();
    let yaml = format!(
        "listen: {{ grpc: \"127.0.0.1:0\" }}\n{}  rate_limit: {{ publish_per_s: 0.01, burst: 2 }}\n",
        config(&keys)
    );
    let gw = Gateway::start_args(&yaml, &[]);
    let token = keys.token("reader");
    let mut socket = ws(
        &gw,
        &format!("/topics/sensors/dev-1/ws?access_token={token}"),
    )
    .await;
    subscribers(&gw, 1).await;
    // The allowed twin: within the burst, a frame is published (and comes back).
    send_event(&mut socket, "ws-0").await;
    assert_eq!(next_ws_id(&mut socket).await, "ws-0");
    assert_ok(
        &As::bearer(&gw, token)
            .publish("sensors/dev-1/a", "http-1")
            .await,
    );
    // The burst is spent: the next frame closes the socket with 1013 (try again later).
    send_event(&mut socket, "ws-2").await;
    assert_eq!(close_code(&mut socket).await, 1013);
    let over_grpc = grpc_as(&gw, token, &["publish", "sensors/dev-1/g", "1", "g-"]).await;
    assert_eq!(over_grpc[0]["code"], "RESOURCE_EXHAUSTED", "{over_grpc:?}");
    assert!(
        over_grpc[0]["metadata"]["retry-after"].as_str().is_some(),
        "{over_grpc:?}"
    );
}

/// `jwt.jwks_url` with an issuer that rotates keys: a token whose key is not published yet is
/// refused, and passes once the JWKS has it (fetched again because of the unknown kid).
#[tokio::test(flavor = "multi_thread")]
async fn keys_come_from_a_jwks_url_and_a_rotation_is_picked_up() {
    let keys = Keys::generate();
    let jwks = DocumentServer::start(r#"{"keys":[]}"#).await;
    let yaml = jwks_config(&keys, &jwks.url("/jwks.json"));
    let gw = Gateway::start_args(&yaml, &[]);
    // The allowed twin: a configured key works whatever the URL serves.
    assert_ok(
        &keys
            .bearer(&gw, "rs")
            .publish("sensors/dev-1/a", "pinned")
            .await,
    );
    let rotated = keys.bearer(&gw, "jwks");
    assert_denied(
        &rotated.publish("sensors/dev-1/a", "early").await,
        401,
        "unknown_key",
    );
    jwks.set(std::fs::read(keys.dir.join("jwks.json")).expect("jwks.json"));
    eventually(
        Duration::from_secs(20),
        "the rotated key fetched",
        || async {
            (rotated.publish("sensors/dev-1/a", "rotated").await.status == 200).then_some(())
        },
    )
    .await;
    let fetched = jwks.requests();
    assert!(
        fetched >= 2,
        "fetched at start and again for the unknown kid: {fetched}"
    );
}

/// A JWKS URL that hangs, or answers garbage: auth fails closed for its keys, the process
/// neither hangs nor refuses the configured ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_jwks_url_that_hangs_or_answers_garbage_fails_closed() {
    let keys = Keys::generate();
    let hanging = DocumentServer::hanging().await;
    let garbage = DocumentServer::start("<html>not a key set</html>").await;
    for url in [
        format!("http://{hanging}/jwks.json"),
        garbage.url("/jwks.json"),
    ] {
        let gw = Gateway::start_args(&jwks_config(&keys, &url), &[]);
        assert_ok(
            &keys
                .bearer(&gw, "rs")
                .publish("sensors/dev-1/a", "pinned")
                .await,
        );
        let res = keys
            .bearer(&gw, "jwks")
            .publish("sensors/dev-1/a", "no-key")
            .await;
        assert_denied(&res, 401, "unknown_key");
        assert_eq!(get(&gw.url("/healthz"), &[]).await.status, 200, "{url}");
    }
}

fn jwks_config(keys: &Keys, url: &str) -> String {
    let dir = keys.dir.display();
    format!(
        "auth:\n  jwt:\n    keys: [{{ kid: rs, algorithm: RS256, pem_file: \"{dir}/rs_public.pem\" }}]\n    jwks_url: \"{url}\"\n    issuer: \"https://issuer.test\"\n    audience: switchyard\n"
    )
}

/// A real browser's EventSource, which cannot set headers, presents its token as the query
/// parameter; the same EventSource without it is refused (401 closes it for good).
#[tokio::test(flavor = "multi_thread")]
async fn a_browser_eventsource_authenticates_with_the_query_parameter() {
    let (gw, keys) = gateway();
    let mut browser = switchyard_e2e::browser::Browser::open(&gw.url("/")).await;
    let token = keys.token("rs");
    let script = format!(
        "(() => {{
           window.got = []; window.refused = false; window.opened = false;
           const ok = new EventSource('/topics/sensors/dev-1/%23?access_token={token}');
           ok.onopen = () => {{ window.opened = true; }};
           ok.onmessage = (e) => window.got.push(JSON.parse(e.data).id);
           const anon = new EventSource('/topics/sensors/dev-1/%23');
           anon.onerror = () => {{ if (anon.readyState === EventSource.CLOSED) window.refused = true; }};
           return true;
         }})()"
    );
    // Evaluating before the page has loaded would run in a context the load replaces.
    let loaded = "location.href.startsWith('http') && document.readyState === 'complete'";
    browser.wait_for(T, loaded).await;
    assert_eq!(browser.eval(&script).await, serde_json::json!(true));
    browser.wait_for(T, "window.opened === true").await;
    assert_ok(
        &keys
            .bearer(&gw, "rs")
            .publish("sensors/dev-1/b", "to-browser")
            .await,
    );
    browser
        .wait_for(T, "window.got.includes('to-browser')")
        .await;
    browser.wait_for(T, "window.refused === true").await;
}

/// `auth.max_streams_per_principal`: a principal's streams across SSE, WebSocket and gRPC
/// are counted together; beyond the limit 429, close 1013, RESOURCE_EXHAUSTED; a closed stream
/// frees its place, and polls and other principals are not limited.
#[tokio::test(flavor = "multi_thread")]
async fn a_principal_holds_at_most_its_streams_across_listeners() {
    let keys = Keys::generate();
    let yaml = format!(
        "listen: {{ grpc: \"127.0.0.1:0\" }}\nhttp: {{ sse_keepalive_ms: 200 }}\n{}  max_streams_per_principal: 2\n",
        config(&keys)
    );
    let gw = Gateway::start_args(&yaml, &[]);
    let token = keys.token("reader");
    let reader = As::bearer(&gw, token);
    let first = reader.sse("/topics/sensors/%23").await;
    let _second = reader.sse("/topics/sensors/%23").await;
    let third = reader.sse_get("/topics/sensors/%23").await;
    assert_denied(&third, 429, "too_many_streams");
    assert_ok(&reader.poll("/topics/sensors/%23").await);
    assert_eq!(
        As::anonymous(&gw).sse("/topics/public/%23").await.status,
        200
    );
    let mut socket = ws(&gw, &format!("/topics/sensors/ws?access_token={token}")).await;
    assert_eq!(close_code(&mut socket).await, 1013);
    let over_grpc = grpc_as(&gw, token, &["subscribe", "sensors/#", "1", "5"]).await;
    assert_eq!(over_grpc[0]["code"], "RESOURCE_EXHAUSTED", "{over_grpc:?}");
    drop(first);
    eventually(T, "the closed stream's place freed", || async {
        let res = reader.sse_get_status("/topics/sensors/%23").await;
        (res == 200).then_some(())
    })
    .await;
}
