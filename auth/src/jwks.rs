//! Keys from a JWKS URL (`auth.jwt.jwks_url`): fetched in the background at start, every
//! `jwks_refresh_s`, and again when a token names a `kid` no key has (at most once per
//! [`MIN_REFRESH`], so a flood of forged kids cannot turn into a flood of fetches). Verifying
//! never waits for the network: a token whose key has not arrived yet is refused
//! (`unknown_key`), and its retry after the refresh passes. A URL that hangs, fails or
//! answers garbage changes nothing (auth fails closed, the last good keys stay) and is
//! logged and counted in `switchyard_auth_jwks_fetches_total{result}`.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::jwt::{Key, keys_from_jwks};

/// The shortest time between two fetches that an unknown `kid` can cause.
pub(crate) const MIN_REFRESH: Duration = Duration::from_secs(5);
/// Longest a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document read.
const MAX_BYTES: usize = 1 << 20;

/// The keys fetched last, and what asks for the next fetch.
pub(crate) struct Remote {
    url: Uri,
    every: Duration,
    keys: RwLock<Arc<Vec<Key>>>,
    wanted: Arc<Notify>,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// A JWKS source at `url` (checked: http or https), refreshed every `every`.
    pub(crate) fn new(url: &str, every: Duration) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!(
                "`{url}` must be an absolute http:// or https:// URL"
            ));
        }
        let tls = switchyard_core::tls::ClientTls::default().config()?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            url: uri,
            every,
            keys: RwLock::new(Arc::default()),
            wanted: Arc::new(Notify::new()),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The keys fetched last.
    pub(crate) fn keys(&self) -> Arc<Vec<Key>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A token named a `kid` no key has: fetch again (no sooner than [`MIN_REFRESH`]).
    pub(crate) fn want_refresh(&self) {
        self.wanted.notify_one();
    }

    async fn fetch(&self) -> Result<Vec<Key>, String> {
        let request = Request::get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("answered {}", response.status()));
            }
            let body = Limited::new(response.into_body(), MAX_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?;
            let text = String::from_utf8(body.to_bytes().to_vec()).map_err(|e| e.to_string())?;
            keys_from_jwks(&text)
        };
        tokio::time::timeout(FETCH_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {FETCH_TIMEOUT:?}"))?
    }
}

/// Keeps `remote`'s keys fresh until it is dropped (with the authenticator it belongs to).
pub(crate) async fn refresh(remote: Weak<Remote>) {
    let mut last: Option<Instant> = None;
    loop {
        // Only the Weak is held while waiting, so the task ends soon after its source.
        let Some((every, wanted)) = remote.upgrade().map(|r| (r.every, r.wanted.clone())) else {
            return;
        };
        if let Some(at) = last {
            // Wait for the period, or for a wish (an unknown kid) once MIN_REFRESH passed.
            let wished = async {
                wanted.notified().await;
                tokio::time::sleep_until(at + MIN_REFRESH).await;
            };
            tokio::select! {
                () = tokio::time::sleep_until(at + every) => {}
                () = wished => {}
            }
        }
        let Some(source) = remote.upgrade() else {
            return;
        };
        last = Some(Instant::now());
        match source.fetch().await {
            Ok(keys) => {
                tracing::debug!(url = %source.url, keys = keys.len(), "JWKS fetched");
                *source.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
                metrics::counter!("switchyard_auth_jwks_fetches_total", "result" => "ok")
                    .increment(1);
            }
            Err(error) => {
                tracing::warn!(url = %source.url, %error, "JWKS fetch failed; keeping the last keys");
                metrics::counter!("switchyard_auth_jwks_fetches_total", "result" => "failed")
                    .increment(1);
            }
        }
    }
}
