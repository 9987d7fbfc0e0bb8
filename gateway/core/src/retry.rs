//! `retry:` and `reconnect:` everywhere (routes, webhooks, broker inbounds, every reconnect
//! loop): one config type, so the same keys mean the same thing in every section. Each place
//! that uses it has its own defaults ([`RetryPolicy`]); what the config leaves out, they fill
//! in.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::backoff::Backoff;

/// The keys as written. Every key is optional; `initial_ms` and `max_ms` are accepted as the
/// shorter spellings of `initial_backoff_ms` and `max_backoff_ms`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[schemars(transform = with_short_spellings)]
pub struct RetryConfig {
    /// Attempts in all, the first included. Only where attempts are bounded (routes,
    /// webhooks); broker inbounds retry until the message settles, reconnects go on forever.
    pub attempts: Option<u32>,
    /// Wait before the second attempt, doubling after each, in milliseconds.
    #[serde(alias = "initial_ms")]
    pub initial_backoff_ms: Option<u64>,
    /// Cap on the wait, in milliseconds.
    #[serde(alias = "max_ms")]
    pub max_backoff_ms: Option<u64>,
    /// Randomise the upper half of each wait, so that clients failing together do not retry
    /// in lockstep.
    pub jitter: Option<bool>,
}

/// serde's aliases, as (alias, key); they must match the `#[serde(alias)]`s above.
const SHORT_SPELLINGS: [(&str, &str); 2] = [
    ("initial_ms", "initial_backoff_ms"),
    ("max_ms", "max_backoff_ms"),
];

/// schemars knows nothing of `#[serde(alias)]`, and the keys are closed
/// (`additionalProperties: false`), so each short spelling becomes a key of its own, with the
/// schema of the long one; giving both is refused, as serde refuses a duplicate field.
fn with_short_spellings(schema: &mut schemars::Schema) {
    let mut exclusive = serde_json::Map::new();
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (alias, key) in SHORT_SPELLINGS {
            let Some(mut spelled) = properties.get(key).cloned() else {
                continue;
            };
            spelled["description"] = json!(format!("The shorter spelling of `{key}`."));
            properties.insert(alias.into(), spelled);
            exclusive.insert(alias.into(), json!({ "not": { "required": [key] } }));
        }
    }
    schema.insert("dependentSchemas".into(), Value::Object(exclusive));
}

/// A resolved retry policy: the runtime value of a [`RetryConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `None`: until it succeeds (or shutdown).
    pub attempts: Option<u32>,
    pub initial: Duration,
    pub max: Duration,
    pub jitter: bool,
}

impl RetryPolicy {
    /// Defaults with `attempts` (`None`: unbounded), from `initial_ms` up to `max_ms`,
    /// jittered.
    pub const fn new(attempts: Option<u32>, initial_ms: u64, max_ms: u64) -> Self {
        Self {
            attempts,
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
            jitter: true,
        }
    }

    /// The series of waits this policy describes.
    pub fn backoff(&self) -> Backoff {
        let backoff = Backoff::new(self.initial, self.max);
        if self.jitter {
            backoff
        } else {
            backoff.without_jitter()
        }
    }

    /// Attempts in all; `u32::MAX` when unbounded.
    pub fn max_attempts(&self) -> u32 {
        self.attempts.unwrap_or(u32::MAX)
    }
}

impl RetryConfig {
    /// The policy: `defaults` with what the config sets. Validate first.
    pub fn resolve(&self, defaults: RetryPolicy) -> RetryPolicy {
        RetryPolicy {
            attempts: self.attempts.or(defaults.attempts),
            initial: self
                .initial_backoff_ms
                .map_or(defaults.initial, Duration::from_millis),
            max: self
                .max_backoff_ms
                .map_or(defaults.max, Duration::from_millis),
            jitter: self.jitter.unwrap_or(defaults.jitter),
        }
    }

    /// Every error, each naming its key under `path`. Where `defaults` has no attempt bound,
    /// `attempts` is refused (it would be ignored).
    pub fn validate(&self, path: &str, defaults: RetryPolicy) -> Vec<String> {
        let mut errors = Vec::new();
        match (self.attempts, defaults.attempts) {
            (Some(_), None) => errors.push(format!(
                "{path}.attempts: not used here: this retries until it succeeds"
            )),
            (Some(0), Some(_)) => errors.push(format!("{path}.attempts: must be at least 1")),
            _ => {}
        }
        let policy = self.resolve(defaults);
        if policy.initial.is_zero() {
            errors.push(format!("{path}.initial_backoff_ms: must be at least 1"));
        } else if policy.max < policy.initial {
            errors.push(format!(
                "{path}.max_backoff_ms: must be at least initial_backoff_ms ({} ms)",
                policy.initial.as_millis()
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: RetryPolicy = RetryPolicy::new(Some(1), 100, 5_000);
    const FOREVER: RetryPolicy = RetryPolicy::new(None, 100, 30_000);

    fn parse(yaml: &str) -> RetryConfig {
        serde_yaml_ng::from_str(yaml).expect("valid yaml")
    }

    #[test]
    fn what_is_left_out_comes_from_the_defaults() {
        let policy = parse("{ attempts: 4, max_ms: 200 }").resolve(ROUTE);
        assert_eq!(policy.attempts, Some(4));
        assert_eq!(policy.initial, Duration::from_millis(100));
        assert_eq!(policy.max, Duration::from_millis(200));
        assert!(policy.jitter);
        assert_eq!(RetryConfig::default().resolve(FOREVER), FOREVER);
    }

    #[test]
    fn both_spellings_are_one_key() {
        assert_eq!(
            parse("{ initial_ms: 5, max_ms: 50 }"),
            parse("{ initial_backoff_ms: 5, max_backoff_ms: 50 }")
        );
        assert!(serde_yaml_ng::from_str::<RetryConfig>("{ initial: 5 }").is_err());
    }

    #[test]
    fn the_schema_has_both_spellings_but_not_both_at_once() {
        let schema = schemars::schema_for!(RetryConfig);
        let keys = schema
            .get("properties")
            .and_then(Value::as_object)
            .expect("keys");
        for key in [
            "attempts",
            "initial_ms",
            "initial_backoff_ms",
            "max_ms",
            "max_backoff_ms",
        ] {
            assert!(keys.contains_key(key), "{key}");
        }
        assert_eq!(
            schema.get("dependentSchemas").and_then(|d| d.get("max_ms")),
            Some(&json!({ "not": { "required": ["max_backoff_ms"] } }))
        );
        let both = serde_yaml_ng::from_str::<RetryConfig>("{ max_ms: 5, max_backoff_ms: 5 }");
        assert!(both.is_err(), "serde refuses both too");
    }

    #[test]
    fn bad_settings_are_named() {
        let errors = parse("{ attempts: 0, initial_ms: 0 }").validate("r.retry", ROUTE);
        assert_eq!(
            errors,
            [
                "r.retry.attempts: must be at least 1",
                "r.retry.initial_backoff_ms: must be at least 1"
            ]
        );
        let errors = parse("{ attempts: 3, initial_ms: 500, max_ms: 100 }").validate("m", FOREVER);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("m.attempts: not used here"));
        assert!(errors[1].starts_with("m.max_backoff_ms: must be at least"));
    }
}
