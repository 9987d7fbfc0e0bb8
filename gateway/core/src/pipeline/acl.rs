//! The publish check, one place for every listener (HTTP, WebSocket frames, gRPC): an event
//! whose principal may not publish to its origin topic, or is over its publish rate, is
//! refused before it is routed. Broker inbounds carry no principal and are trusted by
//! configuration.

use crate::error::{BoxError, DeliveryError};
use crate::event::Event;

/// The pipeline's filter (`tower::filter`): the event, or why it is refused.
pub fn check(event: Event) -> Result<Event, BoxError> {
    let Some(principal) = &event.origin.principal else {
        return Ok(event);
    };
    principal
        .check_publish(&event.origin.topic)
        .map_err(DeliveryError::Forbidden)?;
    if let Some(Err(retry_after)) = principal.rate.as_ref().map(|bucket| bucket.take()) {
        metrics::counter!("switchyard_auth_denied_total", "reason" => "rate_limited").increment(1);
        return Err(Box::new(DeliveryError::RateLimited {
            principal: principal.id.to_string(),
            retry_after,
        }));
    }
    Ok(event)
}
