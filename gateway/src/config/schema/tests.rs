//! The schema's own promises; that it accepts and refuses what `load` does is checked end to
//! end, with Python's `jsonschema`, in `tests/tests/schema.rs`.

use serde_json::Value;

use super::*;

fn generated() -> Value {
    schema().to_value()
}

/// Every `(key, schema)` of an object schema anywhere in `value`, with the path to it. (Not
/// the `properties` of a constraint such as a filter's "this dialect is not null", which
/// declares no key.)
fn keys<'a>(value: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            let declares_keys = map.get("type").is_some_and(|t| {
                t == "object" || t.as_array().is_some_and(|ts| ts.contains(&"object".into()))
            });
            for (name, child) in map {
                if name == "properties"
                    && declares_keys
                    && let Value::Object(properties) = child
                {
                    for (key, schema) in properties {
                        out.push((format!("{path}/{key}"), schema));
                    }
                }
                keys(child, &format!("{path}/{name}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                keys(child, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn all_keys(schema: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    keys(schema, "", &mut out);
    out
}

#[test]
fn the_root_has_exactly_the_sections_load_reads_each_optional_and_nullable() {
    let schema = generated();
    assert_eq!(schema["$id"], SCHEMA_ID);
    assert_eq!(schema["title"], "Switchyard configuration");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["type"], serde_json::json!(["object", "null"]));
    let sections: Vec<&str> = schema["properties"]
        .as_object()
        .expect("sections")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = super::super::load::SECTIONS.to_vec();
    expected.sort_unstable();
    assert_eq!(sections, expected);
    assert!(
        schema
            .get("required")
            .is_none_or(|r| r == &serde_json::json!([]))
    );
    for (key, section) in schema["properties"].as_object().expect("sections") {
        let text = section.to_string();
        assert!(text.contains("\"null\""), "{key} takes null: {text}");
    }
}

#[test]
fn every_key_has_a_description() {
    let schema = generated();
    let keys = all_keys(&schema);
    assert!(keys.len() > 150, "every section's keys: {}", keys.len());
    let undocumented: Vec<String> = keys
        .into_iter()
        .filter(|(_, s)| {
            s.get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .map(|(path, _)| path)
        .collect();
    assert!(undocumented.is_empty(), "{undocumented:#?}");
}

#[test]
fn no_secret_has_a_default_and_secrets_are_strings() {
    let schema = generated();
    let secret = &schema["$defs"]["Secret"];
    assert_eq!(secret["type"], "string");
    assert_eq!(secret["writeOnly"], true);
    assert!(secret.get("default").is_none());
    let secrets: Vec<(String, &Value)> = all_keys(&schema)
        .into_iter()
        .filter(|(_, s)| s.to_string().contains("#/$defs/Secret"))
        .collect();
    assert!(
        secrets.len() >= 8,
        "url, password, token, headers: {secrets:#?}"
    );
    for (path, key) in secrets {
        assert!(key.get("default").is_none(), "{path} has a default: {key}");
    }
}

#[test]
fn every_inbound_type_takes_dead_letter_and_nothing_unknown() {
    let schema = generated();
    let entry = &schema["$defs"]["InboundEntry"];
    assert!(entry.get("properties").is_none(), "moved into the types");
    let types = entry["oneOf"].as_array().expect("one schema per type");
    let names: Vec<&Value> = types
        .iter()
        .map(|t| &t["properties"]["type"]["const"])
        .collect();
    assert_eq!(names, ["mqtt", "amqp", "nats"]);
    for ty in types {
        assert_eq!(ty["additionalProperties"], false, "{ty}");
        let dead_letter = &ty["properties"]["dead_letter"];
        assert_eq!(dead_letter["type"], serde_json::json!(["string", "null"]));
        assert!(dead_letter["description"].is_string());
    }
}

#[test]
fn a_webhook_is_also_type_http() {
    let schema = generated();
    let outbounds = schema["$defs"]["OutboundConfig"]["oneOf"]
        .as_array()
        .expect("one schema per type");
    let tag = &outbounds[0]["properties"]["type"];
    assert_eq!(tag["enum"], serde_json::json!(["webhook", "http"]));
    assert_eq!(
        tag["description"],
        "Selects this kind: `webhook` or `http`."
    );
    for outbound in outbounds {
        assert_eq!(outbound["additionalProperties"], false, "{outbound}");
    }
}
