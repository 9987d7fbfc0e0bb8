//! Reading the file: each section, and each outbound and route, is deserialized on its own so
//! one run reports every problem, not just the first.

use std::net::SocketAddr;

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::{Config, InboundEntry, PairConfig, QueueConfig, default_routes};
use switchyard_routes::RouteConfig;

/// Every problem found in a configuration, one per line, each naming its key.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The file's sections; the schema's root has exactly these (a schema test checks).
pub(super) const SECTIONS: &[&str] = &[
    "listen",
    "log",
    "http",
    "grpc",
    "hub",
    "limits",
    "rpc",
    "auth",
    "shutdown",
    "inbounds",
    "outbounds",
    "queues",
    "pairs",
    "routes",
];

/// Parses `text` (YAML) and applies environment overrides. Sections that fail to parse keep
/// their defaults in the returned config, so that building it can report further errors in the
/// same run; the config is valid only if the error list is empty.
pub fn load(text: &str) -> (Config, Vec<String>) {
    let mut errors = Vec::new();
    let map = sections(text, &mut errors);
    let mut config = Config::default();
    fingerprint(&map, &mut config.fingerprints);
    let get = |name: &str| map.get(name).cloned();
    section(get("listen"), "listen", &mut config.listen, &mut errors);
    section(get("log"), "log", &mut config.log, &mut errors);
    section(get("http"), "http", &mut config.http, &mut errors);
    section(get("grpc"), "grpc", &mut config.grpc, &mut errors);
    section(get("hub"), "hub", &mut config.hub, &mut errors);
    section(get("limits"), "limits", &mut config.limits, &mut errors);
    section(get("rpc"), "rpc", &mut config.rpc, &mut errors);
    let mut auth = None;
    section(get("auth"), "auth", &mut auth, &mut errors);
    config.auth = auth;
    let shutdown = get("shutdown");
    section(shutdown, "shutdown", &mut config.shutdown, &mut errors);
    let inbounds = named(
        get("inbounds"),
        "inbounds",
        "inbound",
        &mut errors,
        parse_inbound,
    );
    config.inbounds.extend(inbounds);
    let outbounds = named(
        get("outbounds"),
        "outbounds",
        "outbound",
        &mut errors,
        parse,
    );
    config.outbounds.extend(outbounds);
    let queues = named(
        get("queues"),
        "queues",
        "queue",
        &mut errors,
        parse::<QueueConfig>,
    );
    for (name, queue) in &queues {
        errors.extend(queue.validate(name));
    }
    config.queues.extend(queues);
    let pairs = named(
        get("pairs"),
        "pairs",
        "pair",
        &mut errors,
        parse::<PairConfig>,
    );
    for (name, pair) in &pairs {
        errors.extend(pair.mqtt.validate(&format!("pairs.{name}.mqtt")));
    }
    config.pairs.extend(pairs);
    config.routes = routes(get("routes"), &mut errors);
    apply_env(&mut config);
    check_addresses(&config, &mut errors);
    (config, errors)
}

/// The file's top-level mapping; an unknown section is an error, not ignored.
fn sections(text: &str, errors: &mut Vec<String>) -> serde_yaml_ng::Mapping {
    let mut root: Value = serde_yaml_ng::from_str(text).unwrap_or_else(|e| {
        errors.push(format!("not valid YAML: {e}"));
        Value::Null
    });
    super::env::substitute(&mut root, "", &|name| std::env::var(name).ok(), errors);
    let map = match root {
        Value::Mapping(map) => map,
        Value::Null => Default::default(),
        _ => {
            errors.push("the file must be a mapping of sections".into());
            Default::default()
        }
    };
    for key in map.keys() {
        let name = key.as_str().unwrap_or("?");
        if !SECTIONS.contains(&name) {
            let hint = super::suggest::closest(name, SECTIONS.iter().copied())
                .map(|known| format!(" (did you mean `{known}`?)"))
                .unwrap_or_default();
            errors.push(format!(
                "{name}: unknown section (known: {}){hint}",
                SECTIONS.join(", ")
            ));
        }
    }
    map
}

/// Every section's value, and each inbound's and outbound's.
fn fingerprint(map: &serde_yaml_ng::Mapping, prints: &mut super::Fingerprints) {
    for (key, value) in map {
        let section = key.as_str().unwrap_or("?");
        prints.record(section.to_owned(), value);
        if let ("inbounds" | "outbounds", Value::Mapping(entries)) = (section, value) {
            for (name, entry) in entries {
                let name = name.as_str().unwrap_or("?");
                prints.record(format!("{section}.{name}"), entry);
            }
        }
    }
}

/// A section mapping names to entries (`inbounds`, `outbounds`), each read by `read`.
fn named<T>(
    value: Option<Value>,
    section: &str,
    what: &str,
    errors: &mut Vec<String>,
    read: impl Fn(Value) -> Result<T, KeyedError>,
) -> Vec<(String, T)> {
    let entries = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Mapping(entries)) => entries,
        Some(_) => {
            errors.push(format!("{section}: must be a mapping of name to {what}"));
            return Vec::new();
        }
    };
    let mut read_entries = Vec::new();
    for (name, value) in entries {
        let name = name.as_str().unwrap_or("?").to_owned();
        match read(value) {
            Ok(entry) => read_entries.push((name, entry)),
            Err(e) => errors.push(format!("{section}.{name}{e}")),
        }
    }
    read_entries
}

/// `routes:`; without the section, the embedded default routes.
fn routes(value: Option<Value>, errors: &mut Vec<String>) -> Vec<RouteConfig> {
    match value {
        None => default_routes(),
        Some(Value::Sequence(list)) => list
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| {
                parse(v)
                    .map_err(|e| errors.push(format!("routes[{i}]{e}")))
                    .ok()
            })
            .collect(),
        Some(Value::Null) => Vec::new(),
        Some(_) => {
            errors.push("routes: must be a list of routes".into());
            Vec::new()
        }
    }
}

/// The embedded default (no file), with environment overrides.
pub fn load_default() -> (Config, Vec<String>) {
    load("")
}

fn section<T: DeserializeOwned>(
    value: Option<Value>,
    name: &str,
    out: &mut T,
    errors: &mut Vec<String>,
) {
    match value {
        None | Some(Value::Null) => {}
        Some(v) => match parse(v) {
            Ok(parsed) => *out = parsed,
            Err(e) => errors.push(format!("{name}{e}")),
        },
    }
}

/// Deserializes one part. The error names the key inside it, to be put after the part's own
/// key: `http` + `body_limit: invalid type ...` reads `http.body_limit: invalid type ...`.
fn parse<T: DeserializeOwned>(value: Value) -> Result<T, KeyedError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = super::suggest::with_suggestion(e.into_inner().to_string());
        KeyedError(if path == "." {
            format!(": {inner}")
        } else {
            format!(".{path}: {inner}")
        })
    })
}

/// A message starting with the rest of its key path (`.body_limit: ...` or `: ...`).
struct KeyedError(String);

impl std::fmt::Display for KeyedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An inbound: `dead_letter` is common to every type, so it is taken out before the rest is
/// read as the type's own settings (which refuse keys they do not know).
fn parse_inbound(value: Value) -> Result<InboundEntry, KeyedError> {
    let mut value = value;
    let dead_letter = match value.as_mapping_mut().and_then(|m| m.remove("dead_letter")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(KeyedError(
                ".dead_letter: must be an outbound's name".into(),
            ));
        }
    };
    Ok(InboundEntry {
        kind: parse(value)?,
        dead_letter,
    })
}

fn apply_env(config: &mut Config) {
    if let Ok(addr) = std::env::var("SWITCHYARD_HTTP_LISTEN") {
        config.listen.http = addr;
    }
    if let Ok(addr) = std::env::var("SWITCHYARD_ADMIN_LISTEN") {
        config.listen.admin = Some(addr);
    }
    if let Ok(addr) = std::env::var("SWITCHYARD_GRPC_LISTEN") {
        config.listen.grpc = Some(addr);
    }
    if let Ok(level) = std::env::var("SWITCHYARD_LOG") {
        config.log.level = level;
    }
}

fn check_addresses(config: &Config, errors: &mut Vec<String>) {
    if config.listen.http.parse::<SocketAddr>().is_err() {
        errors.push(format!(
            "listen.http: `{}` is not an address like 127.0.0.1:8080",
            config.listen.http
        ));
    }
    if let Some(admin) = &config.listen.admin
        && admin.parse::<SocketAddr>().is_err()
    {
        errors.push(format!(
            "listen.admin: `{admin}` is not an address like 127.0.0.1:9464"
        ));
    }
    if let Some(grpc) = &config.listen.grpc
        && grpc.parse::<SocketAddr>().is_err()
    {
        errors.push(format!(
            "listen.grpc: `{grpc}` is not an address like 127.0.0.1:50051"
        ));
    }
    errors.extend(config.grpc.validate());
    errors.extend(config.rpc.validate());
    if tracing_subscriber::EnvFilter::try_new(&config.log.level).is_err() {
        errors.push(format!(
            "log.level: `{}` is not a valid filter (try `info` or `debug`)",
            config.log.level
        ));
    }
    let h = &config.http;
    for (key, value) in [
        ("http.body_limit", h.body_limit),
        ("http.max_connections", h.max_connections),
        ("http.poll_max_events", h.poll_max_events),
        ("http.ws_max_message", h.ws_max_message),
        ("hub.replay_events", config.hub.replay_events),
        ("hub.subscriber_queue", config.hub.subscriber_queue),
        ("hub.max_topics", config.hub.max_topics),
        ("hub.max_poll_groups", config.hub.max_poll_groups),
        ("limits.max_in_flight", config.limits.max_in_flight),
    ] {
        if value == 0 {
            errors.push(format!("{key}: must be at least 1"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let yaml = r#"
inbounds:
  devices: { type: mqtt, url: "mqtt://127.0.0.1:1883", username: u, password: "mqtt-pass-1", subscribe: ["a/#"] }
  orders: { type: amqp, url: "amqp://guest:amqp-pass-2@127.0.0.1:5672/%2f", queue: q }
outbounds:
  hook: { type: webhook, url: "http://127.0.0.1:9/x", headers: { authorization: "Bearer token-3" } }
routes:
  - { name: r, to: hook }
"#;
        let (config, errors) = load(yaml);
        assert!(errors.is_empty(), "{errors:?}");
        let shown = format!("{config:?}");
        for secret in ["mqtt-pass-1", "amqp-pass-2", "token-3"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("«redacted»"));
    }
}
