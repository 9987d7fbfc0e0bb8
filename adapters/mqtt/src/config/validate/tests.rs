//! Every key's validation, and the defaults users rely on.

use super::*;

fn inbound(yaml_like_json: serde_json::Value) -> MqttInboundConfig {
    serde_json::from_value(yaml_like_json).expect("deserializes")
}

fn outbound(json: serde_json::Value) -> MqttOutboundConfig {
    serde_json::from_value(json).expect("deserializes")
}

#[test]
fn broker_urls() {
    let ok = [
        ("mqtt://localhost", "localhost", 1883),
        ("mqtt://127.0.0.1:1884/", "127.0.0.1", 1884),
        ("tcp://broker.example:8883", "broker.example", 8883),
        ("mqtt://[::1]:1883", "[::1]", 1883),
        ("mqtt://[::1]", "[::1]", 1883),
    ];
    for (url, host, port) in ok {
        let parsed = BrokerAddress::parse(url).expect(url);
        assert_eq!((parsed.host.as_str(), parsed.port), (host, port), "{url}");
    }
    for bad in [
        "localhost:1883",
        "mqtt://",
        "mqtt://h:0",
        "mqtt://h:x",
        "mqtt://u:p@h",
        "mqtt://h/topic",
        "http://h",
    ] {
        assert!(BrokerAddress::parse(bad).is_err(), "{bad}");
    }
    let tls = BrokerAddress::parse("mqtts://h").expect("tls");
    assert_eq!((tls.port, tls.tls), (8883, true));
    assert!(!BrokerAddress::parse("mqtt://h").expect("plain").tls);
}

#[test]
fn inbound_defaults() {
    let config = inbound(serde_json::json!({"url": "mqtt://h", "subscribe": ["a/#"]}));
    assert_eq!(config.version, MqttVersion::V5);
    assert_eq!(
        (config.qos, config.session_expiry_s, config.clean_start),
        (1, 3_600, false)
    );
    assert_eq!(
        (config.keep_alive_s, config.max_packet_size, config.inflight),
        (30, 1 << 20, 100)
    );
    assert_eq!(config.wrap.source, "mqtt://{broker}/{topic}");
    assert_eq!(config.wrap.ty, "dev.switchyard.mqtt.message");
    assert_eq!(config.client_id_for("devices"), "switchyard-devices");
    assert!(config.validate("inbounds.devices").is_empty());
}

#[test]
fn inbound_errors_name_their_keys_all_at_once() {
    let config = inbound(serde_json::json!({
        "url": "mqtt://h/x",
        "client_id": "",
        "subscribe": ["a/#/b", "$share//x", "$share/g/ok/+"],
        "qos": 3,
        "keep_alive_s": 1,
        "max_packet_size": 1000,
        "inflight": 0,
        "password": "secret",
        "retry": {"initial_ms": 0},
        "wrap": {"subject": "{device}"},
    }));
    let errors = config.validate("inbounds.devices");
    let keys: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "inbounds.devices.url",
            "inbounds.devices.client_id",
            "inbounds.devices.subscribe[0]",
            "inbounds.devices.subscribe[1]",
            "inbounds.devices.qos",
            "inbounds.devices.keep_alive_s",
            "inbounds.devices.max_packet_size",
            "inbounds.devices.inflight",
            "inbounds.devices.password",
            "inbounds.devices.retry.initial_backoff_ms",
            "inbounds.devices.wrap.subject",
        ],
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("inbounds.devices.qos: must be 0 or 1"))
    );
}

#[test]
fn inbound_qos_2_is_refused() {
    let config = inbound(serde_json::json!({"url": "mqtt://h", "subscribe": ["a"], "qos": 2}));
    let errors = config.validate("inbounds.i");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("rumqtt#664"), "{errors:?}");
}

#[test]
fn unknown_keys_are_refused() {
    let result: Result<MqttInboundConfig, _> = serde_json::from_value(
        serde_json::json!({"url": "mqtt://h", "subscribe": ["a"], "qso": 1}),
    );
    assert!(result.is_err());
    let result: Result<MqttOutboundConfig, _> =
        serde_json::from_value(serde_json::json!({"url": "mqtt://h", "wrap": {}}));
    assert!(result.is_err());
}

#[test]
fn outbound_defaults_and_modes() {
    let config = outbound(serde_json::json!({"url": "mqtt://h"}));
    assert_eq!(
        (config.topic.as_str(), config.qos, config.retain),
        ("{topic}", 1, false)
    );
    assert_eq!(
        (config.confirm_timeout_ms, config.max_packet_size),
        (10_000, 1 << 20)
    );
    assert_eq!(config.effective_mode(), MqttMode::Binary);
    assert!(config.validate("outbounds.o").is_empty());
    let first = config.client_id_for("o");
    assert!(first.starts_with("switchyard-o-") && first != config.client_id_for("o"));

    let v311 = outbound(serde_json::json!({"url": "mqtt://h", "version": "3.1.1"}));
    assert_eq!(v311.effective_mode(), MqttMode::Structured);
    let binary_v311 =
        outbound(serde_json::json!({"url": "mqtt://h", "version": "v311", "mode": "binary"}));
    assert_eq!(binary_v311.validate("outbounds.o").len(), 1);
    let structured = outbound(serde_json::json!({"url": "mqtt://h", "mode": "structured"}));
    assert_eq!(structured.effective_mode(), MqttMode::Structured);
}

#[test]
fn outbound_errors_name_their_keys() {
    let config = outbound(serde_json::json!({
        "url": "mqtt://h",
        "topic": "out/{topic}/#",
        "qos": 9,
        "confirm_timeout_ms": 0,
        "max_packet_size": 268_435_456u32,
    }));
    let errors = config.validate("outbounds.o");
    for key in ["topic", "qos", "max_packet_size", "confirm_timeout_ms"] {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("outbounds.o.{key}: "))),
            "{key}: {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 4);
}
