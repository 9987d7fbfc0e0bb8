//! The HTTP webhook outbound: POSTs each event to a URL in binary or structured mode and
//! confirms on 2xx. Follows the CloudEvents webhook spec: no redirects followed, 410 means stop,
//! 429's `Retry-After` is honoured; 5xx, 408, 429, timeouts and connection failures are retried
//! with exponential backoff and jitter; other 4xx are permanent.

mod config;
mod delivery;
mod reply;
mod tls;

pub use config::{WEBHOOK_RETRY, WebhookConfig, WebhookMode};
pub use delivery::Webhook;
