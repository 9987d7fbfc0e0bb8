//! The configuration's JSON Schema: `deploy/switchyard.schema.json` is exactly what
//! `switchyard schema` prints; and, checked with Python's `jsonschema` (an implementation
//! independent of the Rust that generated it, `tests/interop/schema_check.py`), it accepts
//! every configuration the repository ships (the compose example, the Kubernetes ConfigMaps,
//! the README's examples) and refuses misspelt and malformed ones, agreeing with
//! `switchyard check` on each.
//!
//! YAML is turned into JSON here, with serde_yaml_ng (the gateway's own parser), so the schema
//! sees what the gateway sees; PyYAML reads YAML 1.1 (`on`, `0755`) otherwise, and need not
//! be installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchyard_e2e::gateway::binary;
use switchyard_e2e::python::unique;

#[path = "schema/shipped.rs"]
mod shipped;

use shipped::Document;

const SCHEMA: &str = "deploy/switchyard.schema.json";
const REGENERATE: &str =
    "cargo build -p switchyard && target/debug/switchyard schema > deploy/switchyard.schema.json";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_committed_schema_is_what_switchyard_schema_prints() {
    let out = Command::new(binary())
        .arg("schema")
        .output()
        .expect("switchyard runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).expect("UTF-8");
    let committed = read(SCHEMA);
    if printed != committed {
        let line = printed
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "its end".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "{SCHEMA} differs from what `switchyard schema` prints (first at {line}): the config \
             types changed. Regenerate it with `{REGENERATE}` and commit it."
        );
    }
}

/// What `schema_check.py` said of one document.
#[derive(Debug, serde::Deserialize)]
struct Verdict {
    valid: bool,
    errors: Vec<String>,
    details: Vec<String>,
}

impl Verdict {
    fn says(&self) -> String {
        self.errors
            .iter()
            .chain(&self.details)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Validates `docs` against the committed schema, one verdict each, in order; `None` when
/// Python's `jsonschema` is missing outside CI (in CI that fails the test).
fn schema_verdicts(docs: &[Document]) -> Option<Vec<Verdict>> {
    let dir = std::env::temp_dir().join(unique("schema-check"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut files = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let json: serde_json::Value = serde_yaml_ng::from_str(&doc.yaml)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", doc.name));
        let file = dir.join(format!("{i}.json"));
        std::fs::write(&file, json.to_string()).expect("write");
        files.push(file);
    }
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/interop/schema_check.py"
        ))
        .arg(repo().join(SCHEMA))
        .args(&files)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let missing = match &out {
        Err(e) => Some(format!("python3 does not run: {e}")),
        Ok(out) if out.status.code() == Some(3) => {
            Some(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
        Ok(_) => None,
    };
    if let Some(missing) = missing {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{missing} (scripts/test.sh installs jsonschema)"
        );
        eprintln!("skipped: {missing} (scripts/test.sh installs jsonschema)");
        return None;
    }
    let out = out.expect("ran");
    assert!(
        out.status.success(),
        "schema_check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Verdict> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(verdicts.len(), docs.len(), "one verdict per document");
    Some(verdicts)
}

#[test]
fn every_config_the_repository_ships_matches_the_schema() {
    let mut docs = vec![shipped::compose_config()];
    docs.extend(shipped::configmap_configs());
    docs.extend(shipped::readme_examples());
    let Some(verdicts) = schema_verdicts(&docs) else {
        return;
    };
    let refused: Vec<String> = docs
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| !v.valid)
        .map(|(doc, v)| format!("{}:\n{}", doc.name, v.says()))
        .collect();
    assert!(refused.is_empty(), "{}", refused.join("\n\n"));
}

/// `switchyard check` on `yaml`, with no environment: whether it passed, and what it said.
fn check(yaml: &str) -> (bool, String) {
    let file = std::env::temp_dir().join(format!("{}.yaml", unique("schema-case")));
    std::fs::write(&file, yaml).expect("write");
    let out = Command::new(binary())
        .arg("check")
        .arg(&file)
        .env_clear()
        .output()
        .expect("switchyard runs");
    let _ = std::fs::remove_file(&file);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each a config that serde refuses, with what `switchyard check` and the schema say of it
/// (the key, or the value, at fault).
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "htpp: { body_limit: 5 }",
        "htpp: unknown section",
        "'htpp' was unexpected",
    ),
    (
        "http: { body_limt: 5 }",
        "http.body_limt",
        "'body_limt' was unexpected",
    ),
    (
        "inbounds: { d: { type: mqtt, url: \"mqtt://h:1\", subscibe: [a] } }",
        "unknown field `subscibe`",
        "'subscibe' was unexpected",
    ),
    (
        "inbounds: { d: { type: amqp, url: \"amqp://h\", queue: q, prefech: 5 } }",
        "unknown field `prefech`",
        "'prefech' was unexpected",
    ),
    (
        "inbounds: { d: { type: amqp, url: \"amqp://h\", queue: q, dead_letter: 5 } }",
        "inbounds.d.dead_letter",
        "inbounds/d/dead_letter: 5 is not of type",
    ),
    (
        "inbounds: { d: { type: mqtt, url: \"mqtt://h:1\", subscribe: [a], version: 4 } }",
        "integer `4`, expected an MQTT version",
        "inbounds/d/version: 4 is not one of",
    ),
    (
        "inbounds: { d: { type: mqtt, url: \"mqtt://h:1\", subscribe: [a], version: \"3.1\" } }",
        "string \"3.1\", expected an MQTT version",
        "inbounds/d/version: '3.1' does not match",
    ),
    (
        "outbounds: { o: { type: webhok, url: \"http://h:1/\" } }",
        "unknown variant `webhok`",
        "outbounds/o/type: 'webhok' is not one of ['webhook', 'http']",
    ),
    (
        "outbounds: { o: { type: webhook, url: \"http://h:1/\", headers: { a: 1 } } }",
        "integer `1`, expected a string",
        "outbounds/o/headers/a: 1 is not of type 'string'",
    ),
    (
        "routes: [{ name: r, to: hub, retry: { initial_ms: 1, initial_backoff_ms: 2 } }]",
        "routes[0].retry: duplicate field `initial_backoff_ms`",
        "should not be valid under {'required': ['initial_backoff_ms']}",
    ),
    (
        "routes: [{ name: r, to: hub, filter: { exact: { type: a }, prefix: { type: b } } }]",
        "routes[0].filter: a filter names exactly one dialect",
        "routes/0/filter: {'exact': {'type': 'a'}, 'prefix': {'type': 'b'}} is valid under each",
    ),
    (
        "routes: [{ name: r, to: hub, filter: {} }]",
        "routes[0].filter: a filter names exactly one dialect",
        "routes/0/filter: {} is not valid under any",
    ),
    (
        "routes: [{ name: r, to: hub, filter: { exakt: { type: a } } }]",
        "routes[0].filter.exakt: unknown field",
        "'exakt' was unexpected",
    ),
    (
        "routes: [{ name: r, to: [hub, 5] }]",
        "routes[0].to: data did not match",
        "routes/0/to/1: 5 is not of type 'string'",
    ),
    (
        "hub: { backplane: { type: nats, url: \"nats://h:4222\" } }",
        "hub.backplane: missing field `stream`",
        "hub/backplane: 'stream' is a required property",
    ),
];

#[test]
fn misspelt_and_malformed_configs_are_refused_by_the_schema_as_by_switchyard_check() {
    let docs: Vec<Document> = REFUSED
        .iter()
        .map(|(yaml, _, _)| Document {
            name: (*yaml).to_owned(),
            yaml: (*yaml).to_owned(),
        })
        .collect();
    let Some(verdicts) = schema_verdicts(&docs) else {
        return;
    };
    for ((yaml, check_says, schema_says), verdict) in REFUSED.iter().zip(verdicts) {
        let (passed, said) = check(yaml);
        assert!(!passed, "switchyard check took {yaml}");
        assert!(
            said.contains(check_says),
            "switchyard check on {yaml}: {said}"
        );
        assert!(!verdict.valid, "the schema took {yaml}");
        let reasons = verdict.says();
        assert!(
            reasons.contains(schema_says),
            "the schema on {yaml}: {reasons}"
        );
    }
}

/// What serde takes beyond the obvious: aliases, nulls, both forms of a list, any case of a
/// version, a dead letter on any inbound, a filter's null dialects, an empty file.
const TAKEN: &[&str] = &[
    "",
    "http: ~\nroutes: ~\noutbounds: ~\n",
    r#"
inbounds:
  devices: { type: mqtt, url: "mqtt://127.0.0.1:1883", subscribe: ["a/#"], version: " V3.1.1 ", dead_letter: parked, retry: { initial_ms: 50, max_ms: 500 } }
  legacy: { type: mqtt, url: "mqtt://127.0.0.1:1883", subscribe: ["b/#"], version: 5.0, dead_letter: ~ }
  numbered: { type: mqtt, url: "mqtt://127.0.0.1:1883", subscribe: ["c/#"], version: 311, password: ~ }
  orders: { type: amqp, url: "amqp://guest:guest@127.0.0.1:5672/%2f", queue: q, dead_letter: parked }
  feed: { type: nats, url: "nats://127.0.0.1:4222", subjects: ["a.>"], dead_letter: parked }
outbounds:
  parked: { type: http, url: "http://127.0.0.1:9/dead" }
  hook: { type: webhook, url: "http://127.0.0.1:9/x", headers: { authorization: "Bearer t" }, retry: { attempts: 3, initial_backoff_ms: 10, max_ms: 100 } }
routes:
  - { name: r, from: devices, filter: { exact: ~, prefix: { type: "com." } }, to: hook }
  - { name: s, from: [orders, legacy, numbered, feed], to: [hook, hub], filter: { not: { any: [{ suffix: { type: x } }] } } }
"#,
];

#[test]
fn the_odder_spellings_serde_takes_the_schema_takes_too() {
    let docs: Vec<Document> = TAKEN
        .iter()
        .enumerate()
        .map(|(i, yaml)| Document {
            name: format!("case {i}"),
            yaml: (*yaml).to_owned(),
        })
        .collect();
    let Some(verdicts) = schema_verdicts(&docs) else {
        return;
    };
    for (yaml, verdict) in TAKEN.iter().zip(verdicts) {
        let (passed, said) = check(yaml);
        assert!(passed, "switchyard check refused {yaml}: {said}");
        assert!(
            verdict.valid,
            "the schema refused {yaml}: {}",
            verdict.says()
        );
    }
}
