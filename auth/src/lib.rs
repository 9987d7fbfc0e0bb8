//! Authentication for Switchyard's listeners: JWTs (keys pinned to one algorithm each, from
//! PEM files, a JWKS file or a JWKS URL) and API keys (stored as SHA-256 hashes) become a
//! [`Principal`] with publish and subscribe permissions on topic patterns, from the token's
//! claims, the key's entry and `auth.principals`. The listeners call it through core's
//! [`Authenticate`] contract, so no adapter depends on this crate.

pub mod api_key;
mod cache;
pub mod config;
pub mod grant;
mod jwks;
pub mod jwt;
pub mod mtls;

use std::sync::Arc;

use switchyard_core::auth::{Authenticate, Credentials, Denial, TokenSources};
use switchyard_core::principal::Principal;
use switchyard_core::rate::RateLimits;
use switchyard_core::streams::StreamLimits;

pub use config::AuthConfig;

use api_key::ApiKeys;
use jwt::Verifier;

/// The configured authentication, ready to check requests.
#[derive(Debug)]
pub struct Auth {
    config: AuthConfig,
    jwt: Option<Verifier>,
    api_keys: ApiKeys,
    sources: TokenSources,
    anonymous: Option<Arc<Principal>>,
    tokens: cache::TokenCache,
    rates: Option<RateLimits>,
    streams: Option<StreamLimits>,
}

impl Auth {
    /// The task that keeps the JWKS URL's keys fresh, when there is one; it ends soon after
    /// this authenticator is dropped. Run it inside the runtime the listeners serve on.
    pub fn jwks_refresh(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        self.jwt.as_ref()?.remote().map(jwks::refresh)
    }

    /// Loads keys and checks the section; every error names its key under `auth`.
    pub fn load(config: &AuthConfig) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let jwt = config.jwt.as_ref().and_then(|c| {
            Verifier::load(c, "auth.jwt")
                .map_err(|e| errors.extend(e))
                .ok()
        });
        let api_keys = ApiKeys::load(&config.api_keys, "auth.api_keys")
            .map_err(|e| errors.extend(e))
            .unwrap_or_default();
        errors.extend(check_patterns(config));
        if let Some(r) = &config.rate_limit
            && !(r.publish_per_s.is_finite() && r.publish_per_s > 0.0)
        {
            errors.push("auth.rate_limit.publish_per_s: must be a number above 0".into());
        }
        if config.max_streams_per_principal == Some(0) {
            errors.push("auth.max_streams_per_principal: must be at least 1".into());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let rates = config.rate_limit.as_ref().map(|r| {
            let burst = r.burst.unwrap_or(r.publish_per_s.ceil() as u32);
            RateLimits::new(r.publish_per_s, burst)
        });
        let streams = config.max_streams_per_principal.map(StreamLimits::new);
        let anon = &config.anonymous;
        let anonymous = (!anon.publish.is_empty() || !anon.subscribe.is_empty()).then(|| {
            Arc::new(Principal {
                id: "anonymous".into(),
                method: "anonymous",
                publish: grant::patterns("anonymous", anon.publish.iter().map(String::as_str)),
                subscribe: grant::patterns("anonymous", anon.subscribe.iter().map(String::as_str)),
                rate: rates.as_ref().map(|r| r.bucket("anonymous")),
                streams: streams.as_ref().map(|s| s.slots("anonymous")),
            })
        });
        let sources = TokenSources {
            query_param: config.jwt.as_ref().and_then(|j| j.query_param.clone()),
            cookie: config.jwt.as_ref().and_then(|j| j.cookie.clone()),
        };
        Ok(Self {
            config: config.clone(),
            jwt,
            api_keys,
            sources,
            anonymous,
            tokens: cache::TokenCache::default(),
            rates,
            streams,
        })
    }

    fn by_token(&self, token: &str) -> Result<Arc<Principal>, Denial> {
        let Some(verifier) = &self.jwt else {
            return Err(Denial::new("invalid_token", "tokens are not accepted here"));
        };
        if let Some(known) = self.tokens.get(token) {
            return Ok(known);
        }
        let claims = verifier.verify(token)?;
        let id = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .unwrap_or_default();
        let names = self
            .config
            .jwt
            .as_ref()
            .map(|j| j.claims.clone())
            .unwrap_or_default();
        let publish = grant::claim(claims.get(&names.publish));
        let subscribe = grant::claim(claims.get(&names.subscribe));
        let principal = Arc::new(self.principal(id, "jwt", publish, subscribe));
        // `exp` is required, so verified claims have it.
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        self.tokens
            .insert(token, principal.clone(), exp + verifier.leeway_s());
        Ok(principal)
    }

    fn by_api_key(&self, presented: &str) -> Result<Principal, Denial> {
        let key = self.api_keys.find(presented)?;
        let publish = key.publish.iter().map(String::as_str).collect();
        let subscribe = key.subscribe.iter().map(String::as_str).collect();
        Ok(self.principal(&key.name, "api_key", publish, subscribe))
    }

    /// The principal `id` with `publish` and `subscribe`, plus what `auth.principals` gives it.
    /// A client certificate's principal: the id it names, the permissions `auth.principals`
    /// gives that id.
    fn by_certificate(&self, der: &[u8], mtls: &mtls::MtlsConfig) -> Result<Principal, Denial> {
        let id = mtls::identity(der, mtls.identity)?;
        Ok(self.principal(&id, "mtls", Vec::new(), Vec::new()))
    }

    fn principal<'a>(
        &'a self,
        id: &str,
        method: &'static str,
        mut publish: Vec<&'a str>,
        mut subscribe: Vec<&'a str>,
    ) -> Principal {
        if let Some(extra) = self.config.principals.get(id) {
            publish.extend(extra.publish.iter().map(String::as_str));
            subscribe.extend(extra.subscribe.iter().map(String::as_str));
        }
        Principal {
            id: id.into(),
            method,
            publish: grant::patterns(id, publish),
            subscribe: grant::patterns(id, subscribe),
            rate: self.rates.as_ref().map(|r| r.bucket(id)),
            streams: self.streams.as_ref().map(|s| s.slots(id)),
        }
    }
}

impl Authenticate for Auth {
    fn authenticate(&self, credentials: Credentials<'_>) -> Result<Arc<Principal>, Denial> {
        let certificate = credentials
            .client_certificate
            .zip(self.config.mtls.as_ref());
        let found = match (credentials.bearer, credentials.api_key, certificate) {
            (Some(token), _, _) => self.by_token(token),
            (None, Some(key), _) => self.by_api_key(key).map(Arc::new),
            (None, None, Some((der, mtls))) => self.by_certificate(der, mtls).map(Arc::new),
            (None, None, None) => self.anonymous.clone().ok_or_else(|| {
                Denial::new("missing_credentials", "a token or an API key is required")
            }),
        };
        found.map_err(Denial::counted)
    }

    fn token_sources(&self) -> &TokenSources {
        &self.sources
    }
}

/// Patterns in the config must parse (`{sub}` aside, which is checked per principal).
fn check_patterns(config: &AuthConfig) -> Vec<String> {
    let mut errors = Vec::new();
    let mut check = |path: String, patterns: &[String]| {
        for (i, p) in patterns.iter().enumerate() {
            if let Err(e) = switchyard_core::topic::TopicFilter::parse(&p.replace("{sub}", "x")) {
                errors.push(format!("{path}[{i}]: {e}"));
            }
        }
    };
    check("auth.anonymous.publish".into(), &config.anonymous.publish);
    check(
        "auth.anonymous.subscribe".into(),
        &config.anonymous.subscribe,
    );
    for (name, p) in &config.principals {
        check(format!("auth.principals.{name}.publish"), &p.publish);
        check(format!("auth.principals.{name}.subscribe"), &p.subscribe);
    }
    for (i, k) in config.api_keys.iter().enumerate() {
        check(format!("auth.api_keys[{i}].publish"), &k.publish);
        check(format!("auth.api_keys[{i}].subscribe"), &k.subscribe);
    }
    errors
}
