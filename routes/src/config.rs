//! The routes section of the configuration file, as users write it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// One route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Unique name, used in logs and metric labels.
    pub name: String,
    /// Inbound name(s) whose events this route takes; omitted means every inbound.
    #[serde(default)]
    pub from: OneOrMany,
    /// Topic filters (MQTT wildcards `+` and `#`) the event's origin topic must match one of;
    /// omitted means every topic.
    #[serde(default)]
    pub topics: OneOrMany,
    /// Attribute filter (`exact`, `prefix`, `suffix`, `all`, `any`, `not`); omitted means all.
    #[serde(default)]
    pub filter: Option<FilterConfig>,
    /// Sink name(s): an outbound's name, or `hub`.
    pub to: OneOrMany,
    /// Template for the topic the sinks see, e.g. `live/{topic}`; placeholders are `{topic}`
    /// (the origin topic) and any attribute name (`{type}`, `{subject}`, an extension).
    /// Omitted means the origin topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// Whether the source waits for this route's sinks to confirm before it acks (HTTP 2xx,
    /// MQTT PUBACK, AMQP ack). Without it, delivery is at-most-once. Default true.
    #[serde(default = "default_confirm")]
    pub confirm: bool,
    /// Retries per sink for failures that may heal. Default: one attempt.
    #[serde(default)]
    pub retry: switchyard_core::retry::RetryConfig,
    /// Time one attempt at one sink may take, in milliseconds. Default: the sink's own limit.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Sink that receives events this route could not deliver for good (a sink refused them,
    /// the topic template failed), with the reason in extension `deadletterreason`. Once it
    /// confirmed, the source is acked. Omitted: the failure goes back to the source.
    #[serde(default)]
    pub dead_letter: Option<String>,
    /// De-duplication of redelivered events by (`source`, `id`). Omitted: none.
    #[serde(default)]
    pub dedupe: Option<crate::policy::DedupeConfig>,
    /// Events this route takes, whatever their publisher: one token bucket for the route.
    /// Beyond it the publish is refused (429 + Retry-After, WebSocket close 1013, gRPC
    /// RESOURCE_EXHAUSTED; a broker message is retried later). Omitted: none.
    #[serde(default)]
    pub rate_limit: Option<RouteRateLimit>,
}

/// `routes[].rate_limit:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRateLimit {
    /// Events a second, on average.
    pub per_s: f64,
    /// Events at once after a pause. Default: one second's worth (at least 1).
    pub burst: Option<u32>,
}

const fn default_confirm() -> bool {
    true
}

/// A value that may be written as one string or as a list of strings.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(from = "OneOrManyRepr")]
pub struct OneOrMany(pub Vec<String>);

/// The written form of [`OneOrMany`]; its schema is the one schemars gives `OneOrMany` (serde's
/// `from`), `anyOf` a string or a list of strings.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum OneOrManyRepr {
    /// One name.
    One(String),
    /// Several names.
    Many(Vec<String>),
}

impl From<OneOrManyRepr> for OneOrMany {
    fn from(repr: OneOrManyRepr) -> Self {
        match repr {
            OneOrManyRepr::One(s) => Self(vec![s]),
            OneOrManyRepr::Many(v) => Self(v),
        }
    }
}

/// An attribute filter, in the CloudEvents Subscriptions API dialects: a mapping with exactly
/// one key naming the dialect, as in the Subscriptions API's JSON (`{ prefix: { type: a. } }`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(try_from = "FilterRepr")]
#[schemars(transform = exactly_one_dialect)]
pub enum FilterConfig {
    /// Every named attribute equals its value (case-sensitive).
    Exact(BTreeMap<String, String>),
    /// Every named attribute starts with its value.
    Prefix(BTreeMap<String, String>),
    /// Every named attribute ends with its value.
    Suffix(BTreeMap<String, String>),
    /// Every nested filter matches (non-empty).
    All(Vec<FilterConfig>),
    /// At least one nested filter matches (non-empty).
    Any(Vec<FilterConfig>),
    /// The nested filter does not match.
    Not(Box<FilterConfig>),
}

/// The written form of a filter; [`FilterConfig`] is made from it when exactly one dialect is
/// given. (YAML libraries read externally tagged enums as `!tags`, not as one-key mappings.)
/// Its field docs are the user reference (the schema of [`FilterConfig`] is this one's).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FilterRepr {
    /// Every named attribute equals its value (case-sensitive): `{ type: com.acme.order }`.
    exact: Option<BTreeMap<String, String>>,
    /// Every named attribute starts with its value.
    prefix: Option<BTreeMap<String, String>>,
    /// Every named attribute ends with its value.
    suffix: Option<BTreeMap<String, String>>,
    /// Every nested filter matches (a list of at least one).
    all: Option<Vec<FilterConfig>>,
    /// At least one nested filter matches (a list of at least one).
    any: Option<Vec<FilterConfig>>,
    /// The nested filter does not match.
    not: Option<Box<FilterConfig>>,
}

/// serde takes a filter with exactly one dialect that is not null (`TryFrom` below); the
/// schema says so with one alternative per dialect, of which exactly one must hold.
fn exactly_one_dialect(schema: &mut schemars::Schema) {
    let dialects: Vec<Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|properties| properties.keys())
        .map(|dialect| json!({ "required": [dialect], "properties": { dialect: { "not": { "type": "null" } } } }))
        .collect();
    schema.insert("oneOf".into(), Value::Array(dialects));
}

impl TryFrom<FilterRepr> for FilterConfig {
    type Error = String;

    fn try_from(r: FilterRepr) -> Result<Self, String> {
        let mut found = Vec::new();
        if let Some(m) = r.exact {
            found.push(Self::Exact(m));
        }
        if let Some(m) = r.prefix {
            found.push(Self::Prefix(m));
        }
        if let Some(m) = r.suffix {
            found.push(Self::Suffix(m));
        }
        if let Some(l) = r.all {
            found.push(Self::All(l));
        }
        if let Some(l) = r.any {
            found.push(Self::Any(l));
        }
        if let Some(f) = r.not {
            found.push(Self::Not(f));
        }
        match (found.pop(), found.is_empty()) {
            (Some(filter), true) => Ok(filter),
            _ => Err(
                "a filter names exactly one dialect: exact, prefix, suffix, all, any or not".into(),
            ),
        }
    }
}
