//! The hub's backplane on NATS JetStream: many gateways as one. A publish into the hub is a
//! JetStream publish to the stream, confirmed by its PubAck (`sink.rs`); every gateway feeds
//! its own hub from the stream with one ordered consumer (`ingest.rs`), so an event is
//! published once and fanned out locally on each gateway, and its cursor is the stream
//! sequence: the same on every gateway, so a client resumes anywhere with its `Last-Event-ID`.
//!
//! Consumer groups (`?group=`) span gateways: each group is fed from one durable consumer the
//! gateways with members share (`groups.rs`), so each event goes to one member wherever it is.
//!
//! Subjects are `{stream}.{topic}` (topic levels as tokens). The gateway creates the stream
//! when it is missing and refuses to start, naming the setting, when an existing one differs.

mod groups;
mod ingest;
mod sink;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use schemars::JsonSchema;
use serde::Deserialize;

use switchyard_core::health::ReadinessCheck;
use switchyard_core::hub::Hub;
use switchyard_core::secret::Secret;
use switchyard_core::validation::Errors;

use crate::connection::{self, Link};
pub use sink::BackplaneSink;

/// `hub.backplane: { type: nats, ... }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsBackplaneConfig {
    /// As for a NATS inbound.
    pub url: Secret,
    /// The JetStream stream (created if missing; it captures `{stream}.>`).
    pub stream: String,
    /// Stream replicas (1 on a single server). Default 1.
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// How long the stream keeps events (`24h`, `30m`, `90s`); resumes reach this far back.
    /// Default `24h`.
    #[serde(default = "default_max_age")]
    pub max_age: String,
    /// Events kept per subject (topic); omitted: no per-subject limit.
    #[serde(default)]
    pub max_msgs_per_subject: Option<i64>,
    /// How long a publish may wait for its PubAck, in milliseconds. Default 5 000.
    #[serde(default = "default_confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    /// As for a NATS inbound.
    #[serde(default)]
    pub token: Option<Secret>,
    /// As for a NATS inbound.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
}

fn default_replicas() -> usize {
    1
}

fn default_max_age() -> String {
    "24h".into()
}

fn default_confirm_timeout_ms() -> u64 {
    5_000
}

impl NatsBackplaneConfig {
    /// Every problem with these settings, each naming its key under `path` (`hub.backplane`).
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = Errors::new(path);
        let bad_name = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/');
        if self.stream.is_empty() || self.stream.chars().any(bad_name) {
            errors.push(
                "stream",
                "must be a non-empty name without whitespace, `.`, `*`, `>` or `/`",
            );
        }
        if self.replicas == 0 || self.replicas > 5 {
            errors.push("replicas", "must be between 1 and 5");
        }
        errors.check("max_age", parse_duration(&self.max_age).map(drop));
        if self.max_msgs_per_subject.is_some_and(|n| n < 1) {
            errors.push("max_msgs_per_subject", "must be at least 1");
        }
        if self.confirm_timeout_ms == 0 {
            errors.push("confirm_timeout_ms", "must be at least 1");
        }
        errors.into_vec()
    }

    fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.stream)],
            num_replicas: self.replicas,
            max_age: parse_duration(&self.max_age).unwrap_or_default(),
            max_messages_per_subject: self.max_msgs_per_subject.unwrap_or(-1),
            ..stream::Config::default()
        }
    }
}

/// `24h`, `30m`, `90s`, `500ms`, `7d`. Written here: one suffix table is all the config needs,
/// not a dependency.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 24h, 30m, 90s or 500ms"))?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{text}`: the unit must be ms, s, m, h or d")),
    };
    match n.checked_mul(unit_ms) {
        Some(0) | None => Err(format!(
            "`{text}` must be more than zero and less than forever"
        )),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

/// Connects, makes sure the stream is there with these settings, starts feeding `hub` from it,
/// and returns the sink that publishes into it. Errors name the setting at fault.
pub async fn start(
    config: &NatsBackplaneConfig,
    hub: Hub,
    ready: ReadinessCheck,
) -> Result<BackplaneSink, Vec<String>> {
    let link = Link {
        url: config.url.clone(),
        token: config.token.clone(),
        tls_ca_file: config.tls_ca_file.clone(),
    };
    let Some(probe) = connection::probe(&link).await else {
        return Err(vec![
            "hub.backplane.url: the NATS server cannot be reached".into(),
        ]);
    };
    ensure_stream(&jetstream::new(probe), config).await?;
    let client = connection::open(&link, "hub backplane", ready)
        .await
        .map_err(|e| vec![format!("hub.backplane.url: {e}")])?;
    let context = jetstream::new(client);
    tokio::spawn(ingest::run(
        context.clone(),
        config.stream.clone(),
        hub.clone(),
    ));
    tokio::spawn(groups::run(context.clone(), config.stream.clone(), hub));
    let timeout = Duration::from_millis(config.confirm_timeout_ms);
    Ok(BackplaneSink::new(context, config.stream.clone(), timeout))
}

/// Creates the stream if it is missing; refuses one whose settings differ from the config's.
async fn ensure_stream(
    context: &jetstream::Context,
    config: &NatsBackplaneConfig,
) -> Result<(), Vec<String>> {
    let wanted = config.stream_config();
    let mut stream = match context.get_stream(&config.stream).await {
        Ok(stream) => stream,
        Err(_) => {
            return context.create_stream(wanted).await.map(drop).map_err(|e| {
                vec![format!(
                    "hub.backplane.stream: cannot create `{}`: {e}",
                    config.stream
                )]
            });
        }
    };
    let have = &stream
        .info()
        .await
        .map_err(|e| vec![format!("hub.backplane.stream: {e}")])?
        .config;
    let mut errors = Vec::new();
    let mut differs = |key: &str, have: String, want: String| {
        if have != want {
            errors.push(format!(
                "hub.backplane.{key}: the existing stream `{}` has {have}, the config says {want}",
                config.stream
            ));
        }
    };
    differs(
        "stream",
        format!("subjects {:?}", have.subjects),
        format!("subjects {:?}", wanted.subjects),
    );
    differs(
        "replicas",
        have.num_replicas.to_string(),
        wanted.num_replicas.to_string(),
    );
    differs(
        "max_age",
        format!("{:?}", have.max_age),
        format!("{:?}", wanted.max_age),
    );
    differs(
        "max_msgs_per_subject",
        have.max_messages_per_subject.to_string(),
        wanted.max_messages_per_subject.to_string(),
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("24").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("h").is_err());
    }
}
