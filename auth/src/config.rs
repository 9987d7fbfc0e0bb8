//! The `auth:` section. Present, it closes every listener to whoever presents no valid
//! credentials, except for what `anonymous` allows; omitted, the gateway is open.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use switchyard_core::secret::Secret;

/// `auth:` who may connect, and what they may publish and subscribe to.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// What a client without credentials may do. Omitted: nothing.
    pub anonymous: Permissions,
    /// JSON Web Tokens (`Authorization: Bearer`).
    pub jwt: Option<JwtConfig>,
    /// API keys (`X-Api-Key: KEY` or `Authorization: ApiKey KEY`), stored as hashes.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Permissions by principal id (a token's `sub`, an API key's `name`), added to what its
    /// token or key grants.
    pub principals: BTreeMap<String, Permissions>,
    /// CORS for the HTTP family: origins allowed to call it from a browser (preflights are
    /// answered). Omitted: no CORS headers.
    pub cors: Option<CorsConfig>,
    /// Origins a WebSocket upgrade may come from; another `Origin` gets 403. Omitted: any.
    pub websocket_origins: Option<Vec<String>>,
    /// Publishes each principal may make (all anonymous callers share one bucket): beyond
    /// it, 429 with Retry-After, WebSocket close 1013, gRPC RESOURCE_EXHAUSTED. Omitted: none.
    pub rate_limit: Option<RateLimitConfig>,
    /// Streaming subscriptions (SSE, WebSocket, gRPC `Subscribe`) each principal may hold open
    /// at once, across listeners (all anonymous callers share one count). Beyond it: 429
    /// `too_many_streams`, WebSocket close 1013, gRPC RESOURCE_EXHAUSTED. Omitted: no limit.
    pub max_streams_per_principal: Option<usize>,
    /// Client certificates as principals, on listeners whose `tls.client_ca_file` asks for
    /// them; `auth.principals.ID` gives each its permissions. Omitted: certificates are not
    /// used for authentication.
    pub mtls: Option<crate::mtls::MtlsConfig>,
}

/// `auth.rate_limit:` a token bucket per principal.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Publishes a second, on average.
    pub publish_per_s: f64,
    /// Publishes at once after a pause. Default: one second's worth (at least 1).
    pub burst: Option<u32>,
}

/// Topic patterns (MQTT wildcards; `{sub}` is the principal's own id).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Permissions {
    /// Topics it may publish to: one of these must match the topic.
    pub publish: Vec<String>,
    /// Filters it may subscribe with: the filter must lie inside one of these (`#` is
    /// refused when only `sensors/dev-1/#` is allowed).
    pub subscribe: Vec<String>,
}

/// `auth.jwt:` how tokens are verified.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Verification keys, each pinned to one algorithm: a token's `alg` must be its key's.
    #[serde(default)]
    pub keys: Vec<JwtKeyConfig>,
    /// A JWKS file with more keys; each needs `kid` and `alg`.
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL (http or https, the system's CA bundle) with more keys; each needs `kid` and
    /// `alg`. Fetched at start, every `jwks_refresh_s`, and when a token names an unknown
    /// `kid` (at most once per 5 s; that token is refused, its retry after the fetch passes).
    /// A URL that hangs or answers garbage keeps the last good keys (fail closed).
    pub jwks_url: Option<String>,
    /// Seconds between two fetches of `jwks_url`. Default 300.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_s: u64,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required in `aud`, when set (a token with an `aud` is refused when this is unset).
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds. Default 30.
    #[serde(default = "default_leeway")]
    pub leeway_s: u64,
    /// Also take the token from this query parameter (browsers' EventSource and WebSocket
    /// cannot set headers). Off when omitted; it ends up in access logs, so prefer `cookie`.
    pub query_param: Option<String>,
    /// Also take the token from this cookie. Off when omitted.
    pub cookie: Option<String>,
    /// The claims holding topic patterns.
    #[serde(default)]
    pub claims: ClaimNames,
}

fn default_leeway() -> u64 {
    30
}

fn default_jwks_refresh() -> u64 {
    300
}

/// `auth.jwt.claims:` the token claims that hold topic patterns (a list, or one string of
/// space-separated patterns).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimNames {
    /// Default `switchyard.pub`.
    pub publish: String,
    /// Default `switchyard.sub`.
    pub subscribe: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            publish: "switchyard.pub".into(),
            subscribe: "switchyard.sub".into(),
        }
    }
}

/// One verification key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// Matched against the token's `kid`; a key without one serves tokens without one.
    pub kid: Option<String>,
    /// The one algorithm this key verifies.
    pub algorithm: KeyAlgorithm,
    /// A public key in PEM (RSA, EC or Ed25519), for the asymmetric algorithms.
    pub pem_file: Option<PathBuf>,
    /// The shared secret, for HS256/384/512 (at least 32 bytes; use `${VAR}`).
    #[schemars(with = "Option<String>")]
    pub secret: Option<Secret>,
}

/// The algorithms a key can be pinned to (`none` is not one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum KeyAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
    HS256,
    HS384,
    HS512,
}

/// `auth.api_keys[]:` one key, by its hash.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The principal id of whoever presents it.
    pub name: String,
    /// Lowercase hex SHA-256 of the key (`printf %s KEY | sha256sum`); the key itself is
    /// never stored. Use a high-entropy key (32 random bytes).
    pub sha256: String,
    /// Topics it may publish to (patterns, as in `anonymous`).
    #[serde(default)]
    pub publish: Vec<String>,
    /// Filters it may subscribe with (patterns, as in `anonymous`).
    #[serde(default)]
    pub subscribe: Vec<String>,
}

/// `auth.cors:`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example`), or `*` for any.
    pub origins: Vec<String>,
}
