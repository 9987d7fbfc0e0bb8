//! Who is calling over gRPC: `authorization: Bearer TOKEN`, `authorization: ApiKey KEY` or
//! `x-api-key: KEY` metadata, through the listener's authenticator; refusals as
//! UNAUTHENTICATED or PERMISSION_DENIED, with the reason code in the message.

use std::sync::Arc;

use tonic::{Request, Status};

use switchyard_core::auth::{Credentials, Denial, credentials};
use switchyard_core::principal::Principal;

use crate::shared::Shared;

/// The caller's principal (`None` on an open listener): its metadata's credentials, or the
/// client certificate its TLS handshake verified.
pub(crate) fn principal<T>(
    shared: &Shared,
    request: &Request<T>,
) -> Result<Option<Arc<Principal>>, Status> {
    let Some(auth) = &shared.auth else {
        return Ok(None);
    };
    let metadata = request.metadata();
    let text = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok());
    let certificates = request.peer_certs();
    let leaf = certificates.as_deref().and_then(|chain| chain.first());
    credentials(text("authorization"), text("x-api-key"))
        .and_then(|found| {
            auth.authenticate(Credentials {
                client_certificate: leaf.map(|c| c.as_ref()),
                ..found
            })
        })
        .map(Some)
        .map_err(|d| denied(&d))
}

/// A refusal as its gRPC status.
pub(crate) fn denied(denial: &Denial) -> Status {
    let message = format!("{}: {}", denial.reason, denial.detail);
    if denial.is_limit() {
        return Status::resource_exhausted(message);
    }
    if denial.is_unauthenticated() {
        Status::unauthenticated(message)
    } else {
        Status::permission_denied(message)
    }
}
