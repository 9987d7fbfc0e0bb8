//! JWT verification over a set of keys, each pinned to one algorithm. A token's header only
//! chooses among the keys by `kid`; its `alg` must then equal the key's, so a token cannot
//! make an RSA public key serve as an HMAC secret, and `alg: none` has no key at all.

use std::str::FromStr as _;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use std::sync::Arc;

use switchyard_core::auth::Denial;

use crate::config::{JwtConfig, JwtKeyConfig, KeyAlgorithm};
use crate::jwks::Remote;

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The shortest HMAC secret accepted (RFC 7518 §3.2: at least the hash's size).
const MIN_SECRET_BYTES: usize = 32;

/// A verification key.
pub(crate) struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The keys and the checks every token must pass.
pub struct Verifier {
    keys: Vec<Key>,
    /// Keys from `jwks_url`, refreshed in the background.
    remote: Option<Arc<Remote>>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_s: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| (&k.kid, k.algorithm)).collect();
        f.debug_struct("Verifier")
            .field("keys", &kids)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Loads every key; errors name the key under `path` (`auth.jwt.keys[1].pem_file: ...`).
    pub fn load(config: &JwtConfig, path: &str) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut keys = Vec::new();
        for (i, cfg) in config.keys.iter().enumerate() {
            match load_key(cfg) {
                Ok(key) => keys.push(key),
                Err(e) => errors.push(format!("{path}.keys[{i}]: {e}")),
            }
        }
        if let Some(file) = &config.jwks_file {
            match load_jwks(file) {
                Ok(more) => keys.extend(more),
                Err(e) => errors.push(format!("{path}.jwks_file: {}: {e}", file.display())),
            }
        }
        let remote = config.jwks_url.as_ref().and_then(|url| {
            let every = std::time::Duration::from_secs(config.jwks_refresh_s.max(1));
            Remote::new(url, every)
                .map_err(|e| errors.push(format!("{path}.jwks_url: {e}")))
                .ok()
                .map(Arc::new)
        });
        if keys.is_empty() && remote.is_none() && errors.is_empty() {
            errors.push(format!(
                "{path}: no keys (set `keys`, `jwks_file` or `jwks_url`)"
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            keys,
            remote,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway_s: config.leeway_s,
        })
    }

    /// The JWKS URL's keys, for the task that refreshes them ([`crate::jwks::refresh`]).
    pub(crate) fn remote(&self) -> Option<std::sync::Weak<Remote>> {
        self.remote.as_ref().map(Arc::downgrade)
    }

    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub fn leeway_s(&self) -> u64 {
        self.leeway_s
    }

    /// The token's claims, once its signature and registered claims check out. The claims
    /// must hold a `sub`.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, Denial> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Denial::new(
                "token_too_large",
                format!("tokens are limited to {MAX_TOKEN_BYTES} bytes"),
            ));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Denial::new("invalid_token", format!("header: {e}")))?;
        let fetched = self.remote.as_ref().map(|r| r.keys()).unwrap_or_default();
        let key = self.key_for(&fetched, header.kid.as_deref(), header.alg)?;
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = self.leeway_s;
        validation.validate_nbf = true;
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| denial(e.kind()))
    }

    /// The key the token names (by `kid`) among the configured and the `fetched` ones, which
    /// must be pinned to the token's `alg`. An unknown `kid` asks the JWKS URL again.
    fn key_for<'k>(
        &'k self,
        fetched: &'k [Key],
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&'k Key, Denial> {
        let named: Vec<&Key> = self
            .keys
            .iter()
            .chain(fetched)
            .filter(|k| k.kid.as_deref() == kid)
            .collect();
        if named.is_empty() {
            if let Some(remote) = &self.remote {
                remote.want_refresh();
            }
            // The kid is the client's text: say that it is unknown, not what it was.
            return Err(Denial::new("unknown_key", "no key has the token's kid"));
        }
        named
            .into_iter()
            .find(|k| k.algorithm == alg)
            .ok_or_else(|| {
                Denial::new(
                    "algorithm_mismatch",
                    format!("the token's key is not for {alg:?}"),
                )
            })
    }
}

fn denial(kind: &ErrorKind) -> Denial {
    let (reason, detail) = match kind {
        ErrorKind::ExpiredSignature => ("expired", "the token has expired"),
        ErrorKind::ImmatureSignature => ("not_yet_valid", "the token is not valid yet (nbf)"),
        ErrorKind::InvalidIssuer => ("wrong_issuer", "the token's issuer is not accepted"),
        ErrorKind::InvalidAudience => ("wrong_audience", "the token is not for this audience"),
        ErrorKind::InvalidAlgorithm => ("algorithm_mismatch", "the token's alg is not its key's"),
        ErrorKind::InvalidSignature => ("invalid_token", "the signature does not verify"),
        ErrorKind::MissingRequiredClaim(claim) => {
            return Denial::new("invalid_token", format!("the token has no `{claim}`"));
        }
        _ => ("invalid_token", "the token is malformed"),
    };
    Denial::new(reason, detail)
}

fn algorithm(alg: KeyAlgorithm) -> Algorithm {
    match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
    }
}

fn load_key(cfg: &JwtKeyConfig) -> Result<Key, String> {
    let alg = algorithm(cfg.algorithm);
    let key = match (alg, &cfg.secret, &cfg.pem_file) {
        (Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512, Some(secret), None) => {
            if secret.expose().len() < MIN_SECRET_BYTES {
                return Err(format!("secret: at least {MIN_SECRET_BYTES} bytes"));
            }
            DecodingKey::from_secret(secret.expose().as_bytes())
        }
        (Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512, _, _) => {
            return Err(format!("{alg:?} takes `secret` (and no `pem_file`)"));
        }
        (_, None, Some(file)) => {
            let pem =
                std::fs::read(file).map_err(|e| format!("pem_file: {}: {e}", file.display()))?;
            pem_key(alg, &pem).map_err(|e| format!("pem_file: {}: {e}", file.display()))?
        }
        (_, _, _) => return Err(format!("{alg:?} takes `pem_file` (and no `secret`)")),
    };
    Ok(Key {
        kid: cfg.kid.clone(),
        algorithm: alg,
        key,
    })
}

fn pem_key(alg: Algorithm, pem: &[u8]) -> jsonwebtoken::errors::Result<DecodingKey> {
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        _ => DecodingKey::from_rsa_pem(pem),
    }
}

fn load_jwks(file: &std::path::Path) -> Result<Vec<Key>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    keys_from_jwks(&text)
}

/// The keys of a JWKS document; each needs `kid` and `alg`.
pub(crate) fn keys_from_jwks(text: &str) -> Result<Vec<Key>, String> {
    let set: JwkSet = serde_json::from_str(text).map_err(|e| e.to_string())?;
    set.keys
        .iter()
        .enumerate()
        .map(|(i, jwk)| {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or(format!("keys[{i}]: no `kid`"))?;
            let alg = jwk
                .common
                .key_algorithm
                .ok_or(format!("keys[{i}]: no `alg`"))?;
            let algorithm = Algorithm::from_str(&alg.to_string())
                .map_err(|_| format!("keys[{i}]: `alg` {alg} cannot verify signatures"))?;
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("keys[{i}]: {e}"))?;
            Ok(Key {
                kid: Some(kid),
                algorithm,
                key,
            })
        })
        .collect()
}
