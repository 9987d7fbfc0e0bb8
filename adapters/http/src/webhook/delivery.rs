//! The webhook as a `tower::Service<Event>`.

use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;
use tower::Service;
use tower::util::BoxCloneSyncService;

use switchyard_core::cloudevent::{http as binding, json};
use switchyard_core::event::Event;
use switchyard_core::outbound::{Outbound, OutboundContext};
use switchyard_core::pipeline::Sink;
use switchyard_core::retry::RetryPolicy;
use switchyard_core::rpc::{MAX_REPLY_BYTES, Reply, ReplyTo};
use switchyard_core::{BoxError, DeliveryError};

use super::config::{WEBHOOK_RETRY, WebhookConfig, WebhookMode};
use super::reply;

/// Longest `Retry-After` we honour before giving up on an attempt budget.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A webhook outbound; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Webhook {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    uri: Uri,
    mode: WebhookMode,
    timeout: Duration,
    retry: RetryPolicy,
    headers: HeaderMap,
    permits: Semaphore,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// What one attempt came to.
enum Attempt {
    /// With the response as a reply, when the event was a request.
    Confirmed(Option<Result<Reply, String>>),
    /// May heal: try again (after at least the given delay, if the server said).
    Retry {
        reason: String,
        after: Option<Duration>,
        timed_out: bool,
    },
    /// Will not heal.
    Permanent(String),
}

impl Webhook {
    /// Builds the outbound `name` from its config; errors name what is wrong.
    pub fn new(name: &str, config: &WebhookConfig) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let uri = Uri::from_str(&config.url)
            .map_err(|e| errors.push(format!("url: {e}")))
            .ok();
        if let Some(uri) = &uri
            && (!matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none())
        {
            errors.push(format!(
                "url: `{}` must be an absolute http:// or https:// URL",
                config.url
            ));
        }
        let connector = super::tls::connector(config.tls_ca_file.as_deref())
            .map_err(|e| errors.push(e))
            .ok();
        let mut headers = HeaderMap::new();
        for (k, v) in &config.headers {
            match (HeaderName::from_str(k), HeaderValue::from_str(v.expose())) {
                (Ok(k), Ok(mut v)) => {
                    // hyper's Debug and HPACK then treat it as a credential too.
                    v.set_sensitive(true);
                    headers.insert(k, v);
                }
                _ => errors.push(format!("headers.{k}: not a valid header name and value")),
            }
        }
        errors.extend(config.retry.validate("retry", WEBHOOK_RETRY));
        if config.max_in_flight == 0 {
            errors.push("max_in_flight: must be at least 1".into());
        }
        let (Some(uri), Some(connector), true) = (uri, connector, errors.is_empty()) else {
            return Err(errors);
        };
        let client = Client::builder(TokioExecutor::new())
            // Below common server idle timeouts (nginx 75 s, Node 5 s is the odd one out), so
            // we rarely reuse a connection the server is closing (hyperium/hyper#2136).
            .pool_idle_timeout(Duration::from_secs(4))
            .build(connector);
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                uri,
                mode: config.mode,
                timeout: Duration::from_millis(config.timeout_ms.max(1)),
                retry: config.retry.resolve(WEBHOOK_RETRY),
                headers,
                permits: Semaphore::new(config.max_in_flight),
                client,
            }),
        })
    }
}

impl Webhook {
    /// [`Webhook::new`] with errors named under `outbounds.NAME`; done once, at `check` time.
    pub fn build(name: &str, config: &WebhookConfig) -> Result<Self, Vec<String>> {
        Self::new(name, config).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| format!("outbounds.{name}.{e}"))
                .collect()
        })
    }
}

/// A webhook has no connection to keep: it is its own sink, and is always ready (each
/// request finds out whether the server is up).
impl Outbound for Webhook {
    fn start(self: Box<Self>, ctx: OutboundContext) -> Sink {
        ctx.ready.set(true);
        BoxCloneSyncService::new(*self)
    }
}

impl Service<Event> for Webhook {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<(), BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: Event) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .deliver(event)
                .await
                .map_err(|e| Box::new(e) as BoxError)
        })
    }
}

impl Inner {
    async fn deliver(&self, event: Event) -> Result<(), DeliveryError> {
        let (headers, body) = self.encode(&event);
        let reply_to = event.reply.as_ref();
        let mut last = String::new();
        let mut timed_out = false;
        let mut backoff = self.retry.backoff();
        let attempts = self.retry.max_attempts();
        for attempt in 1..=attempts {
            let outcome = self
                .attempt(&headers, body.clone(), reply_to.is_some())
                .await;
            let label = match &outcome {
                Attempt::Confirmed(_) => "confirmed",
                Attempt::Retry { .. } => "retry",
                Attempt::Permanent(_) => "rejected",
            };
            metrics::counter!("switchyard_outbound_attempts_total", "outbound" => self.name.clone(), "result" => label).increment(1);
            match outcome {
                Attempt::Confirmed(reply) => return self.answer(reply_to, reply),
                Attempt::Permanent(reason) => {
                    return Err(DeliveryError::Rejected {
                        sink: self.name.clone(),
                        reason,
                    });
                }
                Attempt::Retry {
                    reason,
                    after,
                    timed_out: t,
                } => {
                    tracing::debug!(outbound = %self.name, attempt, %reason, "webhook attempt failed");
                    (last, timed_out) = (reason, t);
                    if attempt < attempts {
                        // A server's Retry-After beyond our cap still wins: it asked for it.
                        let wait = backoff.next_delay(Duration::ZERO);
                        tokio::time::sleep(wait.max(after.unwrap_or_default())).await;
                    }
                }
            }
        }
        if timed_out {
            return Err(DeliveryError::Timeout {
                sink: self.name.clone(),
                timeout: self.timeout,
            });
        }
        Err(DeliveryError::Unavailable {
            sink: self.name.clone(),
            reason: format!("{last} (after {attempts} attempts)"),
            retry_after: Some(self.retry.max.max(Duration::from_secs(1))),
        })
    }

    /// Hands a request's reply on (a response that cannot be one fails the request).
    fn answer(
        &self,
        reply_to: Option<&ReplyTo>,
        reply: Option<Result<Reply, String>>,
    ) -> Result<(), DeliveryError> {
        match (reply_to, reply) {
            (Some(reply_to), Some(Ok(reply))) => {
                reply_to.send(reply);
                Ok(())
            }
            (_, Some(Err(reason))) => Err(DeliveryError::BadReply {
                sink: self.name.clone(),
                reason,
            }),
            _ => Ok(()),
        }
    }

    fn encode(&self, event: &Event) -> (HeaderMap, Bytes) {
        let mut headers = self.headers.clone();
        let body = match self.mode {
            WebhookMode::Binary => binding::encode_binary(&event.cloud, &mut headers),
            WebhookMode::Structured => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(binding::STRUCTURED_CONTENT_TYPE),
                );
                Bytes::from(json::to_vec(&event.cloud))
            }
        };
        (headers, body)
    }

    async fn attempt(&self, headers: &HeaderMap, body: Bytes, wants_reply: bool) -> Attempt {
        let Ok(_permit) = self.permits.acquire().await else {
            return Attempt::Permanent("outbound closed".into());
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = headers.clone();
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            if !(wants_reply && status.is_success()) {
                // Read the body so the connection can be reused; its content does not matter.
                response.into_body().collect().await?;
                return Ok::<_, BoxError>((status, retry_after, None));
            }
            let (parts, body) = response.into_parts();
            let reply = match Limited::new(body, MAX_REPLY_BYTES).collect().await {
                Ok(body) => reply::decode(&parts.headers, body.to_bytes()),
                Err(_) => Err(format!(
                    "the reply is over {MAX_REPLY_BYTES} bytes, or broke off"
                )),
            };
            Ok((status, retry_after, Some(reply)))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Attempt::Retry {
                reason: format!("no answer within {:?}", self.timeout),
                after: None,
                timed_out: true,
            },
            Ok(Err(err)) => Attempt::Retry {
                reason: error_chain(err.as_ref()),
                after: None,
                timed_out: false,
            },
            Ok(Ok((status, after, reply))) => match classify(status, after) {
                Attempt::Confirmed(_) => Attempt::Confirmed(reply),
                other => other,
            },
        }
    }
}

fn classify(status: StatusCode, retry_after: Option<Duration>) -> Attempt {
    match status.as_u16() {
        200..=299 => Attempt::Confirmed(None),
        408 | 425 | 429 | 500..=599 => Attempt::Retry {
            reason: format!("webhook answered {status}"),
            after: retry_after.map(|d| d.min(MAX_RETRY_AFTER)),
            timed_out: false,
        },
        300..=399 => Attempt::Permanent(format!(
            "webhook answered {status}; redirects are not followed"
        )),
        410 => Attempt::Permanent("webhook answered 410 Gone: it wants no more events".into()),
        _ => Attempt::Permanent(format!("webhook answered {status}")),
    }
}

/// `Retry-After` in its delay-seconds form (the HTTP-date form is rare for webhooks).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
