//! One route's delivery: its topic template, its sinks under the route's policy, the dead
//! letter for what will not heal, and the de-duplication window.

use std::borrow::Cow;

use futures_util::future::join_all;

use switchyard_core::error::{BoxError, DeliveryError};
use switchyard_core::event::Event;

use super::Route;
use crate::policy::is_permanent;

/// Delivers to every sink of one route; a failure that will not heal goes to the route's
/// dead-letter sink when it has one. Returns the number of sinks that confirmed.
pub(super) async fn route(route: &Route, event: &Event) -> Result<usize, BoxError> {
    let policy = &route.policy;
    if let Some(window) = &policy.dedupe
        && window.contains(&event.cloud.source, &event.cloud.id)
    {
        route.duplicates.increment(1);
        return Ok(0);
    }
    let result = match render_topic(route, event) {
        Ok(copy) => {
            let calls = route
                .sinks
                .iter()
                .map(|target| policy.deliver(&route.name, target, &copy));
            join_all(calls)
                .await
                .into_iter()
                .collect::<Result<Vec<()>, BoxError>>()
                .map(|v| v.len())
        }
        Err(err) => Err(err),
    };
    let result = match (result, &policy.dead_letter) {
        (Err(err), Some(target)) if is_permanent(&err) => {
            let copy = switchyard_core::settle::dead_letter_copy(event, &err.to_string());
            tracing::info!(route = %route.name, dead_letter = %target.name, reason = %err, "dead-lettering");
            policy.deliver(&route.name, target, &copy).await?;
            route.dead_lettered.increment(1);
            Ok(0)
        }
        (other, _) => other,
    };
    if let (Ok(_), Some(window)) = (&result, &policy.dedupe) {
        window.insert(&event.cloud.source, &event.cloud.id);
    }
    result
}

/// The event this route's sinks see: with its topic template applied, or the event itself
/// (each sink attempt takes its own copy anyway, so none is made here without a template).
fn render_topic<'e>(route: &Route, event: &'e Event) -> Result<Cow<'e, Event>, BoxError> {
    let Some(template) = &route.template else {
        return Ok(Cow::Borrowed(event));
    };
    let topic = template
        .render(event)
        .map_err(|e| DeliveryError::Rejected {
            sink: route.name.clone(),
            reason: format!("topic template: {e}"),
        })?;
    let mut copy = event.clone();
    copy.topic = topic.into();
    Ok(Cow::Owned(copy))
}
