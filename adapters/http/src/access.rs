//! Who is calling, and from where: credentials from the request (the `Authorization` header,
//! `X-Api-Key`, and, when configured, a query parameter or a cookie, since browsers'
//! EventSource and WebSocket cannot set headers) through the listener's authenticator, the
//! WebSocket `Origin` allow-list, and CORS.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, header, request::Parts};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use switchyard_core::auth::{Authenticator, Credentials, Denial, TokenSources, credentials};
use switchyard_core::principal::Principal;

use crate::state::HttpState;

/// The HTTP family's access rules.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `None`: open (no principal, nothing checked).
    pub auth: Authenticator,
    /// Origins a WebSocket upgrade may come from; `None`: any.
    pub websocket_origins: Option<Vec<String>>,
    /// Origins CORS allows (`*` for any); `None`: no CORS.
    pub cors_origins: Option<Vec<String>>,
}

/// The caller of a request: its principal (`None` on an open listener), or why it has none.
pub(crate) struct Caller(pub Result<Option<Arc<Principal>>, Denial>);

impl FromRequestParts<HttpState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let Some(auth) = &state.access.auth else {
            return Ok(Self(Ok(None)));
        };
        let certificate = parts
            .extensions
            .get::<crate::server::PeerCertificate>()
            .map(|c| c.0.clone());
        let found = presented(&parts.headers, parts.uri.query(), auth.token_sources()).and_then(
            |(found, browser_token)| {
                auth.authenticate(Credentials {
                    bearer: found.bearer.or(browser_token.as_deref()),
                    client_certificate: certificate.as_deref(),
                    ..found
                })
            },
        );
        Ok(Self(found.map(Some)))
    }
}

/// The credentials in the headers, and a browser's token (query parameter or cookie) when
/// the headers carry none. Borrowed from the request where they can be: only a
/// percent-encoded query value is decoded into a new string.
fn presented<'r>(
    headers: &'r HeaderMap,
    query: Option<&'r str>,
    sources: &TokenSources,
) -> Result<(Credentials<'r>, Option<Cow<'r, str>>), Denial> {
    let found = credentials(
        header_text(headers, header::AUTHORIZATION.as_str())?,
        header_text(headers, "x-api-key")?,
    )?;
    if found.bearer.is_some() || found.api_key.is_some() {
        return Ok((found, None));
    }
    let from_query = sources
        .query_param
        .as_ref()
        .zip(query)
        .and_then(|(name, query)| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name.as_str())
                .map(|(_, v)| v)
        });
    let token = from_query.or_else(|| {
        let name = sources.cookie.as_ref()?;
        cookie(headers, name).map(Cow::Borrowed)
    });
    Ok((found, token))
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Denial> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            Denial::new("invalid_token", format!("{name} is not visible ASCII")).counted()
        }),
    }
}

/// The value of cookie `name`. By hand: a `Cookie` header is `a=1; b=2` (RFC 6265 §5.4), and
/// reading one value needs no cookie jar.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The request's query without the token parameter, for the subscription's own parser.
pub(crate) fn query_without_token(query: Option<&str>, state: &HttpState) -> String {
    let name = state
        .access
        .auth
        .as_ref()
        .and_then(|a| a.token_sources().query_param.clone());
    let query = query.unwrap_or_default();
    match name {
        None => query.to_owned(),
        Some(name) => form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| *k != name.as_str()),
            )
            .finish(),
    }
}

/// Whether a WebSocket upgrade may come from its `Origin` (one without an `Origin` is not a
/// browser's, and is let through).
pub(crate) fn origin_allowed(access: &Access, headers: &HeaderMap) -> Result<(), Denial> {
    let (Some(allowed), Some(origin)) = (&access.websocket_origins, headers.get(header::ORIGIN))
    else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    if allowed.iter().any(|a| a == "*" || a == origin) {
        Ok(())
    } else {
        Err(Denial::new(
            "origin_denied",
            format!("WebSocket upgrades from `{origin}` are not allowed"),
        )
        .counted())
    }
}

/// The CORS layer for `origins`: simple and preflight requests from these origins get the
/// `Access-Control-Allow-*` headers; others get none, and the browser refuses them.
pub(crate) fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers(Any)
        .expose_headers(Any)
        .max_age(std::time::Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(Any);
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    layer.allow_origin(AllowOrigin::list(list))
}
