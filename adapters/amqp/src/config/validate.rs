//! Checks of inbound and outbound settings that serde cannot express. Every check that the
//! broker would otherwise fail on at runtime (names over 255 bytes, reserved `amq.` names, a
//! quorum queue that is not durable) is made here, before anything connects.

use lapin::types::MAX_SHORT_STRING_LENGTH;
use lapin::uri::AMQPUri;

use super::{
    AmqpInboundConfig, AmqpOutboundConfig, ExchangeConfig, QueueConfig, QueueType, TopologyConfig,
};
use switchyard_core::validation::Errors;

use crate::convert::WrapTemplate;
use crate::outbound::RoutingKeyTemplate;

/// AMQP's own checks, on the shared error collector.
trait Checks {
    fn check_url(&mut self, url: &str);
    fn check_short(&mut self, key: &str, value: &str);
    fn check_declared_name(&mut self, key: &str, name: &str);
    fn check_exchange(&mut self, key: &str, exchange: &ExchangeConfig);
}

impl Checks for Errors<'_> {
    fn check_url(&mut self, url: &str) {
        if let Err(e) = url.parse::<AMQPUri>() {
            self.push(
                "url",
                format!("not an AMQP URI ({e}); expected amqp://user:password@host:5672/%2f"),
            );
        }
    }

    /// Exchange, queue and routing-key names are AMQP short strings.
    fn check_short(&mut self, key: &str, value: &str) {
        if value.len() > MAX_SHORT_STRING_LENGTH {
            self.push(
                key,
                format!(
                    "{} bytes; AMQP allows at most {MAX_SHORT_STRING_LENGTH}",
                    value.len()
                ),
            );
        }
    }

    /// A name we declare: the broker refuses empty names and the reserved `amq.` prefix.
    fn check_declared_name(&mut self, key: &str, name: &str) {
        if name.is_empty() {
            self.push(key, "must not be empty");
        } else if name.starts_with("amq.") {
            self.push(key, "names starting with `amq.` are reserved by the broker");
        }
        self.check_short(key, name);
    }

    fn check_exchange(&mut self, key: &str, exchange: &ExchangeConfig) {
        self.check_declared_name(&format!("{key}.name"), &exchange.name);
    }
}

impl AmqpInboundConfig {
    /// Every problem with these settings; `path` is where they sit (`inbounds.orders`), or
    /// `""` for errors relative to the inbound (`queue: ...`).
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut report = Errors::new(path);
        report.check_url(self.url.expose());
        if self.queue.is_empty() {
            report.push("queue", "must not be empty");
        }
        report.check_short("queue", &self.queue);
        if self.prefetch == 0 {
            // 0 means "unlimited" to the broker, which would flood our memory.
            report.push("prefetch", "must be at least 1");
        }
        if let Some(tag) = &self.consumer_tag {
            report.check_short("consumer_tag", tag);
        }
        for (key, text) in [
            ("wrap.source", &self.wrap.source),
            ("wrap.type", &self.wrap.ty),
        ] {
            if let Err(e) = WrapTemplate::parse(text) {
                report.push(key, e);
            }
        }
        if let Some(topology) = &self.topology {
            validate_topology(&mut report, &self.queue, topology);
        }
        report.into_vec()
    }
}

fn validate_topology(report: &mut Errors<'_>, queue_name: &str, topology: &TopologyConfig) {
    if queue_name.starts_with("amq.") {
        report.push(
            "queue",
            "names starting with `amq.` are reserved and cannot be declared",
        );
    }
    if let Some(exchange) = &topology.exchange {
        report.check_exchange("topology.exchange", exchange);
    }
    validate_queue(report, &topology.queue);
    let declared = topology.exchange.as_ref().map(|e| e.name.as_str());
    for (i, binding) in topology.bindings.iter().enumerate() {
        let key = format!("topology.bindings[{i}]");
        match binding.exchange.as_deref().or(declared) {
            None => report.push(
                &format!("{key}.exchange"),
                "missing, and topology.exchange declares none",
            ),
            Some("") => report.push(
                &format!("{key}.exchange"),
                "the default exchange cannot be bound",
            ),
            Some(name) => report.check_short(&format!("{key}.exchange"), name),
        }
        report.check_short(&format!("{key}.routing_key"), &binding.routing_key);
    }
}

fn validate_queue(report: &mut Errors<'_>, queue: &QueueConfig) {
    if let Some(dlx) = &queue.dead_letter_exchange {
        report.check_short("topology.queue.dead_letter_exchange", dlx);
    }
    if let Some(key) = &queue.dead_letter_routing_key {
        report.check_short("topology.queue.dead_letter_routing_key", key);
        if queue.dead_letter_exchange.is_none() {
            report.push(
                "topology.queue.dead_letter_routing_key",
                "needs dead_letter_exchange",
            );
        }
    }
    if queue.expires_ms == Some(0) {
        report.push("topology.queue.expires_ms", "must be at least 1");
    }
    if queue.queue_type == Some(QueueType::Quorum) && (!queue.durable || queue.auto_delete) {
        report.push(
            "topology.queue.queue_type",
            "quorum queues must be durable and not auto_delete",
        );
    }
}

impl AmqpOutboundConfig {
    /// Every problem with these settings; `path` is where they sit (`outbounds.audit`), or
    /// `""` for errors relative to the outbound (`routing_key: ...`).
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut report = Errors::new(path);
        report.check_url(self.url.expose());
        report.check_short("exchange", &self.exchange);
        if let Err(e) = RoutingKeyTemplate::parse(&self.routing_key) {
            report.push("routing_key", e);
        }
        if self.confirm_timeout_ms == 0 {
            report.push("confirm_timeout_ms", "must be at least 1");
        }
        if self.max_pending_replies == 0 {
            report.push("max_pending_replies", "must be at least 1");
        }
        if self.reply_to != crate::outbound::DIRECT_REPLY_TO {
            report.check_declared_name("reply_to", &self.reply_to);
        }
        if let Some(declare) = &self.declare {
            report.check_exchange("declare", declare);
            if declare.name != self.exchange {
                report.push(
                    "declare.name",
                    format!("must equal exchange `{}`", self.exchange),
                );
            }
        }
        report.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn inbound(json: serde_json::Value) -> AmqpInboundConfig {
        serde_json::from_value(json).expect("valid shape")
    }

    #[test]
    fn defaults_are_applied() {
        let config = inbound(serde_json::json!({"url": "amqp://localhost", "queue": "q"}));
        assert_eq!(config.prefetch, 64);
        assert_eq!(config.requeue_delay_ms, 1_000);
        assert_eq!(config.wrap.source, "/amqp/{queue}");
        assert!(config.validate("inbounds.a").is_empty());
        let out: AmqpOutboundConfig =
            serde_json::from_value(serde_json::json!({"url": "amqp://localhost", "exchange": ""}))
                .expect("valid shape");
        assert_eq!(out.routing_key, "{topic}");
        assert_eq!(
            (out.mode, out.header_prefix),
            (AmqpMode::Binary, HeaderPrefix::Underscore)
        );
        assert!(out.persistent && out.mandatory);
        assert_eq!(out.confirm_timeout_ms, 10_000);
        assert!(out.validate("outbounds.a").is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let result: Result<AmqpInboundConfig, _> = serde_json::from_value(
            serde_json::json!({"url": "amqp://localhost", "queue": "q", "prefetsh": 1}),
        );
        assert!(result.is_err());
    }

    #[test]
    fn errors_name_their_keys() {
        let config = inbound(serde_json::json!({
            "url": "http://x y", "queue": "amq.q", "prefetch": 0,
            "wrap": {"source": "/x/{nope}"},
            "topology": {"bindings": [{"routing_key": "a"}],
                         "queue": {"queue_type": "quorum", "durable": false}}
        }));
        let errors = config.validate("inbounds.in");
        for key in [
            "url",
            "queue",
            "prefetch",
            "wrap.source",
            "topology.bindings[0].exchange",
            "topology.queue.queue_type",
        ] {
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&format!("inbounds.in.{key}: "))),
                "{key} missing from {errors:#?}"
            );
        }
        let out: AmqpOutboundConfig = serde_json::from_value(serde_json::json!({
            "url": "amqp://localhost", "exchange": "x", "routing_key": "a.*.{topic}",
            "declare": {"name": "y"}, "header_prefix": "cloudEvents:"
        }))
        .expect("valid shape");
        let errors = out.validate("outbounds.audit");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("outbounds.audit.routing_key: ")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("outbounds.audit.declare.name: ")),
            "{errors:?}"
        );
    }
}
