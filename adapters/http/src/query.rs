//! A handler's query parameters as a typed value, with a JSON 400 naming what is wrong (axum's
//! own rejection is plain text).

use axum::extract::Query;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses `query` (already without an access token) into `T`.
pub(crate) fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_query", "the query does not parse"))?;
    let Query(value) = Query::<T>::try_from_uri(&uri)
        .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    Ok(value)
}
