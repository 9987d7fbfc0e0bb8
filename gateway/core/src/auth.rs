//! The authentication contract between listeners and the auth crate: a listener pulls the
//! credentials out of its protocol (HTTP headers, a query parameter, a cookie, gRPC
//! metadata), an [`Authenticate`] turns them into a [`Principal`] or a [`Denial`]. A listener
//! without one is open: its events carry no principal and nothing is checked.

use std::fmt;
use std::sync::Arc;

use crate::principal::Principal;

/// What a request presented; each may be absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// A bearer token (`Authorization: Bearer`, or the configured query parameter or cookie).
    pub bearer: Option<&'a str>,
    /// An API key (`X-Api-Key`, or `Authorization: ApiKey`).
    pub api_key: Option<&'a str>,
    /// The client certificate the TLS handshake verified (DER), on a listener that asks for
    /// one (`tls.client_ca_file`).
    pub client_certificate: Option<&'a [u8]>,
}

/// Where browsers may put a token, since EventSource and WebSocket cannot set headers.
#[derive(Debug, Clone, Default)]
pub struct TokenSources {
    /// `?NAME=` on the request URL.
    pub query_param: Option<String>,
    /// A cookie of this name.
    pub cookie: Option<String>,
}

/// Turns credentials into a principal.
pub trait Authenticate: Send + Sync + fmt::Debug {
    /// The principal, or why not; counts the denial.
    fn authenticate(&self, credentials: Credentials<'_>) -> Result<Arc<Principal>, Denial>;

    fn token_sources(&self) -> &TokenSources;
}

/// The authenticator of a listener; `None`: open.
pub type Authenticator = Option<Arc<dyn Authenticate>>;

/// Why a request was refused: a short reason code (a metrics label, and what the client is
/// told) and a description that never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// `missing_credentials`, `invalid_token`, `expired`, `not_yet_valid`, `wrong_issuer`,
    /// `wrong_audience`, `unknown_key`, `algorithm_mismatch`, `token_too_large`,
    /// `invalid_api_key`, `publish_denied`, `subscribe_denied`, `origin_denied`.
    pub reason: &'static str,
    pub detail: String,
}

impl Denial {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }

    /// Whether it is about who the client is (401) rather than what it may do (403).
    pub fn is_unauthenticated(&self) -> bool {
        !self.is_limit()
            && !matches!(
                self.reason,
                "publish_denied" | "subscribe_denied" | "origin_denied"
            )
    }

    /// A limit the caller is over (`too_many_streams`), not a refusal of who it is or what it
    /// may do: try again later (429, WebSocket close 1013, gRPC RESOURCE_EXHAUSTED).
    pub fn is_limit(&self) -> bool {
        self.reason == crate::principal::TOO_MANY_STREAMS
    }

    /// Counts it in `switchyard_auth_denied_total{reason}`.
    pub fn counted(self) -> Self {
        metrics::counter!("switchyard_auth_denied_total", "reason" => self.reason).increment(1);
        self
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// A subscription check: `Ok` on an open listener (no principal) or when the principal may
/// subscribe with `filter`.
pub fn check_subscribe(
    principal: Option<&Principal>,
    filter: &crate::topic::TopicFilter,
) -> Result<(), Denial> {
    principal.map_or(Ok(()), |p| p.check_subscribe(filter))
}

/// The credentials in an `Authorization` value (`Bearer TOKEN` or `ApiKey KEY`) and an
/// `X-Api-Key` value, as HTTP headers and gRPC metadata carry them alike.
pub fn credentials<'a>(
    authorization: Option<&'a str>,
    x_api_key: Option<&'a str>,
) -> Result<Credentials<'a>, Denial> {
    let mut found = Credentials {
        bearer: None,
        api_key: x_api_key,
        client_certificate: None,
    };
    if let Some(value) = authorization {
        match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
                found.bearer = Some(rest.trim());
            }
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("apikey") => {
                found.api_key = Some(rest.trim());
            }
            _ => {
                let detail = "authorization takes `Bearer TOKEN` or `ApiKey KEY`";
                return Err(Denial::new("invalid_token", detail).counted());
            }
        }
    }
    Ok(found)
}
