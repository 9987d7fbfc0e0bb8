//! The `rpc:` section: deadlines and bounds of request-reply.

use schemars::JsonSchema;
use serde::Deserialize;

/// `rpc:` request-reply (`POST /rpc/{topic}`, `GET /replies/{id}`). Times in milliseconds.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// How long a request waits for its reply unless it asks (`?timeout_ms=`). Default 30 000.
    pub timeout_ms: u64,
    /// The longest `?timeout_ms=` a request may ask for (longer is shortened). Default 300 000.
    pub max_timeout_ms: u64,
    /// How long an asynchronous reply (`Prefer: respond-async`) is kept after it arrived, for
    /// `GET /replies/{id}`. Default 60 000.
    pub reply_ttl_ms: u64,
    /// Asynchronous requests and replies held at once; at the limit, a new asynchronous request
    /// is refused with 503. Default 10 000.
    pub max_async_replies: usize,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 30_000,
            max_timeout_ms: 300_000,
            reply_ttl_ms: 60_000,
            max_async_replies: 10_000,
        }
    }
}

impl RpcConfig {
    /// Every problem, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (key, value) in [
            ("rpc.timeout_ms", self.timeout_ms),
            ("rpc.max_timeout_ms", self.max_timeout_ms),
            ("rpc.reply_ttl_ms", self.reply_ttl_ms),
        ] {
            if value == 0 {
                errors.push(format!("{key}: must be at least 1"));
            }
        }
        if self.max_async_replies == 0 {
            errors.push("rpc.max_async_replies: must be at least 1".into());
        }
        if self.timeout_ms > self.max_timeout_ms {
            errors.push("rpc.timeout_ms: must not exceed rpc.max_timeout_ms".into());
        }
        errors
    }
}
