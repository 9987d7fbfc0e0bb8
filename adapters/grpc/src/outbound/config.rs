//! Settings of a gRPC outbound (`outbounds.NAME` with `type: grpc`): which backend to call,
//! which service it speaks, and the bounds of each call. The doc comment on each field is the
//! user reference. Validation reports every error at once, each naming its key; it runs at
//! `check` time, so a bad URL never reaches the runtime.

use schemars::JsonSchema;
use serde::Deserialize;
use switchyard_core::retry::{RetryConfig, RetryPolicy};
use switchyard_core::validation::Errors;
use tonic::transport::Endpoint;

/// `retry:` of a gRPC outbound: three attempts in all, from 100 ms doubling up to 5 s.
pub(crate) const GRPC_RETRY: RetryPolicy = RetryPolicy::new(Some(3), 100, 5_000);

/// A gRPC outbound: each event is one unary `Publish` call to a backend, confirmed when the
/// backend answers OK.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrpcOutboundConfig {
    /// The backend, `http://host:port` (plaintext HTTP/2, "h2c"). `https://` is refused for
    /// now: TLS comes later.
    pub url: String,
    /// The service the backend implements: `gateway` (default) calls
    /// `switchyard.v1.Gateway/Publish` with the event and its topic; `cloudevents` calls
    /// `io.cloudevents.v1.CloudEventService/Publish` with the event alone.
    #[serde(default)]
    pub service: GrpcService,
    /// Time one attempt may take, in milliseconds: sent as the call's deadline
    /// (`grpc-timeout`) and enforced here too. Default 5 000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Waits between attempts of a call that failed in a way that may heal (UNAVAILABLE,
    /// DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, or no answer). Default: 3 attempts in all, from
    /// 100 ms up to 5 s. A backend's `retry-after` beyond `max_backoff_ms` ends the attempts at
    /// once, and the source is told to come back then.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Largest request, encoded, in bytes; a larger event is refused for good without being
    /// sent. Match the backend's limit (4 MiB is gRPC's usual default). Default 4 194 304.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Time opening the connection may take, in milliseconds. Default 5 000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

/// The gRPC service a backend implements, which decides the method called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GrpcService {
    /// `switchyard.v1.Gateway/Publish` with `PublishRequest { topic, event }`: another
    /// Switchyard, or a backend that implements Switchyard's schema.
    #[default]
    Gateway,
    /// `io.cloudevents.v1.CloudEventService/Publish` with `PublishRequest { event }`: the
    /// de-facto CloudEvents service (open-cluster-management's sdk-go).
    CloudEvents,
}

impl GrpcOutboundConfig {
    /// Every problem with these settings; `path` is where they sit (`outbounds.audit`).
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = Errors::new(path);
        errors.check("url", check_url(&self.url));
        if self.timeout_ms == 0 {
            errors.push("timeout_ms", "must be at least 1");
        }
        if self.connect_timeout_ms == 0 {
            errors.push("connect_timeout_ms", "must be at least 1");
        }
        if self.max_message_bytes < 1024 {
            errors.push("max_message_bytes", "must be at least 1024");
        }
        errors.extend(self.retry.validate(&errors.key("retry"), GRPC_RETRY));
        errors.into_vec()
    }
}

/// `http://host:port`, nothing else: tonic would take a path and drop it, so one is refused
/// rather than silently ignored.
fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "`{url}`: https:// is not supported yet (TLS comes later); use http://host:port"
            ));
        }
        _ => return Err(format!("`{url}` must be http://host:port")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{url}` has no host; use http://host:port"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "`{url}` must have no path: gRPC calls go to /package.Service/Method"
        ));
    }
    Endpoint::from_shared(url.to_owned())
        .map(drop)
        .map_err(|e| format!("`{url}` is not a gRPC endpoint: {e}"))
}

const fn default_timeout_ms() -> u64 {
    5_000
}

const fn default_max_message_bytes() -> usize {
    4 * 1024 * 1024
}

const fn default_connect_timeout_ms() -> u64 {
    5_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::GrpcOutbound;

    fn config(json: serde_json::Value) -> GrpcOutboundConfig {
        serde_json::from_value(json).expect("the shape is valid")
    }

    fn keys(errors: &[String]) -> Vec<&str> {
        errors
            .iter()
            .map(|e| e.split(": ").next().unwrap_or_default())
            .collect()
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let config = config(serde_json::json!({"url": "http://127.0.0.1:50051"}));
        assert_eq!(config.service, GrpcService::Gateway);
        assert_eq!(config.timeout_ms, 5_000);
        assert_eq!(config.connect_timeout_ms, 5_000);
        assert_eq!(config.max_message_bytes, 4 * 1024 * 1024);
        assert_eq!(config.retry.resolve(GRPC_RETRY), GRPC_RETRY);
        assert_eq!(GRPC_RETRY.attempts, Some(3));
        assert!(config.validate("outbounds.backend").is_empty());
    }

    #[test]
    fn services_are_named_in_lowercase() {
        let config = config(serde_json::json!({"url": "http://h:1", "service": "cloudevents"}));
        assert_eq!(config.service, GrpcService::CloudEvents);
        let unknown = serde_json::from_value::<GrpcOutboundConfig>(
            serde_json::json!({"url": "http://h:1", "service": "grpc"}),
        );
        assert!(unknown.is_err());
    }

    #[test]
    fn errors_name_their_keys_all_at_once() {
        let config = config(serde_json::json!({
            "url": "ftp://backend:50051", "timeout_ms": 0, "connect_timeout_ms": 0,
            "max_message_bytes": 10, "retry": {"attempts": 0},
        }));
        let errors = config.validate("outbounds.backend");
        assert_eq!(
            keys(&errors),
            [
                "outbounds.backend.url",
                "outbounds.backend.timeout_ms",
                "outbounds.backend.connect_timeout_ms",
                "outbounds.backend.max_message_bytes",
                "outbounds.backend.retry.attempts",
            ],
            "{errors:#?}"
        );
    }

    #[test]
    fn only_plain_http_urls_without_a_path_are_taken() {
        for (url, says) in [
            ("https://backend:443", "TLS comes later"),
            ("backend:50051", "must be http://host:port"),
            ("http://backend:50051/prefix", "must have no path"),
            ("http://", "not a URL"),
            ("not a url", "not a URL"),
        ] {
            let errors = config(serde_json::json!({"url": url})).validate("outbounds.b");
            assert_eq!(errors.len(), 1, "{url}: {errors:?}");
            assert!(errors[0].starts_with("outbounds.b.url: "), "{errors:?}");
            assert!(errors[0].contains(says), "{url}: {errors:?}");
        }
        for url in [
            "http://127.0.0.1:50051",
            "http://backend:1/",
            "http://[::1]:9",
        ] {
            assert!(check_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let config = serde_json::from_value::<GrpcOutboundConfig>(
            serde_json::json!({"url": "http://h:1", "timeout": 5}),
        );
        assert!(config.is_err());
    }

    #[test]
    fn build_reports_under_the_outbound_name() {
        let bad = config(serde_json::json!({"url": "https://h:1", "timeout_ms": 0}));
        let errors = GrpcOutbound::build("audit", &bad).expect_err("invalid");
        assert_eq!(
            keys(&errors),
            ["outbounds.audit.url", "outbounds.audit.timeout_ms"]
        );
        let good = config(serde_json::json!({"url": "http://h:1"}));
        assert!(GrpcOutbound::build("audit", &good).is_ok());
    }
}
