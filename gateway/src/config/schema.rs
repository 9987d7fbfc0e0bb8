//! The configuration file's JSON Schema (`switchyard schema`, committed as
//! `deploy/switchyard.schema.json`), for editors and CI. It is derived from the config types
//! themselves, so it cannot drift from what [`super::load`] accepts: schemars follows their
//! serde attributes (`deny_unknown_fields` becomes `additionalProperties: false`, `tag`,
//! `untagged`, `from`, `try_from`, `rename`), and their doc comments become the
//! descriptions. What schemars cannot see is put right by the transforms here: the keys every
//! inbound shares, and the `type` keys' aliases and descriptions.
//!
//! The schema checks shapes only: whether a named outbound exists, or a number is at least
//! 1, stays with `switchyard check`.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::{RecursiveTransform, Transform};
use serde_json::{Value, json};

use super::Config;

/// The schema's `$id`: a name rather than a place, since the file travels with the binary
/// and the repository (a URN needs no host to exist).
pub const SCHEMA_ID: &str = "urn:switchyard:configuration";
/// The schema's `title`.
pub const SCHEMA_TITLE: &str = "Switchyard configuration";

/// The JSON Schema (draft 2020-12) of the configuration file.
pub fn schema() -> Schema {
    let mut schema = SchemaSettings::draft2020_12()
        .with_transform(RecursiveTransform(unwrap_lines))
        .into_generator()
        .into_root_schema_for::<Config>();
    schema.insert("$id".into(), SCHEMA_ID.into());
    schema.insert("title".into(), SCHEMA_TITLE.into());
    // An empty file (YAML null) is the embedded default, as `load` reads it.
    schema.insert("type".into(), json!(["object", "null"]));
    schema
}

/// Doc comments are wrapped at 100 columns; a description is prose that the editor wraps
/// itself, so a single line break becomes a space (a paragraph break stays).
fn unwrap_lines(schema: &mut Schema) {
    if let Some(Value::String(text)) = schema.get_mut("description") {
        let paragraphs: Vec<String> = text
            .split("\n\n")
            .map(|p| p.lines().map(str::trim).collect::<Vec<_>>().join(" "))
            .collect();
        *text = paragraphs.join("\n\n");
    }
}

/// `inbounds.NAME`: `load::parse_inbound` takes the keys every inbound shares
/// (`dead_letter`) out of the mapping, then the type reads the rest and refuses what it does
/// not know. Flattening [`super::InboundConfig`] into [`super::InboundEntry`] put the shared
/// keys beside a `oneOf` of the types and dropped each type's `additionalProperties: false`;
/// this moves the shared keys into every type and closes each again (every inbound type
/// denies unknown fields; the schema tests try a misspelt key on each).
pub(super) fn shared_keys_in_every_type(schema: &mut Schema) {
    let Some(Value::Object(shared)) = schema.remove("properties") else {
        return;
    };
    let Some(types) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
        return;
    };
    for ty in types.iter_mut().filter_map(Value::as_object_mut) {
        if let Some(Value::Object(keys)) = ty.get_mut("properties") {
            keys.extend(shared.clone());
        }
        ty.insert("additionalProperties".into(), false.into());
    }
}

/// A section chosen by `type` (an inbound, an outbound, the backplane): schemars writes the
/// `type` key of each alternative without a description; this names the kind it selects.
pub(super) fn describe_type(schema: &mut Schema) {
    let Some(kinds) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
        return;
    };
    for tag in kinds
        .iter_mut()
        .filter_map(|k| k.pointer_mut("/properties/type"))
    {
        let names: Vec<String> = match (tag.get("const"), tag.get("enum")) {
            (Some(name), _) => vec![format!("`{}`", name.as_str().unwrap_or_default())],
            (None, Some(Value::Array(names))) => names
                .iter()
                .map(|n| format!("`{}`", n.as_str().unwrap_or_default()))
                .collect(),
            _ => continue,
        };
        tag["description"] = format!("Selects this kind: {}.", names.join(" or ")).into();
    }
}

/// For a variant with `#[serde(alias = ...)]`, which schemars does not see: its `type` also
/// takes `alias`.
pub(super) fn type_also_named(alias: &'static str) -> impl Transform {
    move |schema: &mut Schema| {
        let Some(tag) = schema
            .pointer_mut("/properties/type")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        if let Some(name) = tag.remove("const") {
            tag.insert("enum".into(), json!([name, alias]));
        }
    }
}

#[cfg(test)]
mod tests;
