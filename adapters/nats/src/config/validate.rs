//! Checks of inbound and outbound settings that serde cannot express, every error at once,
//! each naming its key.

use std::str::FromStr;

use switchyard_core::validation::Errors;

use super::{INBOUND_RETRY, NatsInboundConfig, NatsOutboundConfig};
use crate::convert::Wrapper;
use crate::outbound::SubjectTemplate;

impl NatsInboundConfig {
    /// Every problem with these settings; `path` is where they sit (`inbounds.orders`).
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = Errors::new(path);
        errors.check("url", check_url(self.url.expose()));
        match (&self.jetstream, self.subjects.is_empty()) {
            (None, true) => errors.push(
                "subjects",
                "at least one subject (or `jetstream`) is needed",
            ),
            (Some(_), false) => errors.push(
                "jetstream",
                "use either `subjects` or `jetstream`, not both",
            ),
            _ => {}
        }
        for (i, subject) in self.subjects.iter().enumerate() {
            errors.check(&format!("subjects[{i}]"), check_subject(subject, true));
        }
        if let Some(group) = &self.queue_group {
            if self.jetstream.is_some() {
                errors.push(
                    "queue_group",
                    "only for `subjects` (a durable consumer is shared already)",
                );
            }
            errors.check("queue_group", check_name(group));
        }
        if let Some(js) = &self.jetstream {
            errors.check("jetstream.stream", check_name(&js.stream));
            errors.check("jetstream.durable", check_name(&js.durable));
        }
        if self.inflight == 0 {
            errors.push("inflight", "must be at least 1");
        }
        errors.extend(self.retry.validate(&errors.key("retry"), INBOUND_RETRY));
        if let Err(wrap_errors) = Wrapper::new("", &self.wrap) {
            for (key, reason) in wrap_errors {
                errors.push(&format!("wrap.{key}"), reason);
            }
        }
        errors.into_vec()
    }
}

impl NatsOutboundConfig {
    /// Every problem with these settings; `path` is where they sit (`outbounds.audit`).
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = Errors::new(path);
        errors.check("url", check_url(self.url.expose()));
        errors.check("subject", SubjectTemplate::parse(&self.subject).map(drop));
        if self.confirm_timeout_ms == 0 {
            errors.push("confirm_timeout_ms", "must be at least 1");
        }
        errors.into_vec()
    }
}

fn check_url(url: &str) -> Result<(), String> {
    if !["nats://", "tls://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        return Err("must start with nats:// (or tls://), e.g. nats://127.0.0.1:4222".into());
    }
    async_nats::ServerAddr::from_str(url)
        .map(drop)
        .map_err(|e| format!("not a NATS server address: {e}"))
}

/// A subject to subscribe to (`wildcards`) or publish on: non-empty tokens separated by `.`,
/// no whitespace; `*` a whole token, `>` only the last.
pub(crate) fn check_subject(subject: &str, wildcards: bool) -> Result<(), String> {
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(format!("`{subject}` has an empty token"));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{subject}` holds whitespace"));
        }
        let wildcard = *token == "*" || (*token == ">" && i == tokens.len() - 1);
        if token.contains(['*', '>']) && !(wildcards && wildcard) {
            return Err(match wildcards {
                true => format!("`{subject}`: `*` must be a whole token, `>` the last one"),
                false => format!("`{subject}`: wildcards cannot be published to"),
            });
        }
    }
    Ok(())
}

/// A stream, consumer or queue group name: non-empty, no whitespace, `.`, `*` or `>`.
fn check_name(name: &str) -> Result<(), &'static str> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>');
    if name.is_empty() || name.chars().any(bad) {
        return Err("must be a non-empty name without whitespace, `.`, `*` or `>`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(json: serde_json::Value) -> NatsInboundConfig {
        serde_json::from_value(json).expect("the shape is valid")
    }

    #[test]
    fn subjects_follow_nats_rules() {
        assert!(check_subject("a.*.c", true).is_ok());
        assert!(check_subject("a.>", true).is_ok());
        assert!(check_subject("a.>.c", true).is_err());
        assert!(check_subject("a..c", true).is_err());
        assert!(check_subject("a.b*", true).is_err());
        assert!(check_subject("a.*", false).is_err());
        assert!(check_subject("a b", false).is_err());
    }

    #[test]
    fn errors_name_their_keys_all_at_once() {
        let config = inbound(serde_json::json!({
            "url": "http://x", "subjects": ["a..b"], "queue_group": "g.1", "inflight": 0,
            "wrap": {"source": "{nope}"},
        }));
        let errors = config.validate("inbounds.n");
        let keys: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                "inbounds.n.url",
                "inbounds.n.subjects[0]",
                "inbounds.n.queue_group",
                "inbounds.n.inflight",
                "inbounds.n.wrap.source",
            ],
            "{errors:#?}"
        );
        let neither = inbound(serde_json::json!({"url": "nats://127.0.0.1:4222"}));
        assert!(neither.validate("i")[0].starts_with("i.subjects: at least one"));
        let both = inbound(serde_json::json!({
            "url": "nats://127.0.0.1:4222", "subjects": ["a"],
            "jetstream": {"stream": "S", "durable": "d"},
        }));
        assert!(both.validate("i")[0].starts_with("i.jetstream: use either"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let config = serde_json::from_value::<NatsInboundConfig>(
            serde_json::json!({"url": "nats://h", "subject": ["a"]}),
        );
        assert!(config.is_err());
    }
}
