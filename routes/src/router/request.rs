//! Requests (`POST /rpc/..`): the routes a request matches must end in exactly one sink that
//! can answer it, known before anything is sent.

use std::collections::HashSet;

use switchyard_core::error::DeliveryError;

use super::RouteTable;

impl RouteTable {
    /// Marks the sinks in `names` as reply-capable (webhooks, AMQP, MQTT 5 and gRPC Gateway
    /// outbounds):
    /// a request may end in one of them.
    pub fn with_repliers(mut self, names: &HashSet<String>) -> Self {
        for route in &mut self.routes {
            route.repliers = route
                .sinks
                .iter()
                .filter(|s| names.contains(&s.name))
                .count();
        }
        self
    }

    /// One line per route that a request from `inbound` can reach without it ending in exactly
    /// one reply-capable sink, when any route has one (a config that uses request-reply).
    pub fn request_warnings(&self, inbound: &str) -> Vec<String> {
        if self.routes.iter().all(|r| r.repliers == 0) {
            return Vec::new();
        }
        self.routes
            .iter()
            .filter(|r| r.from.is_empty() || r.from.iter().any(|f| f == inbound))
            .filter(|r| r.repliers != 1)
            .map(|r| {
                format!(
                    "route `{}`: `POST /rpc` can reach it, but it has {} reply-capable sinks (a request needs exactly one)",
                    r.name, r.repliers
                )
            })
            .collect()
    }
}

/// Refuses a request whose matching routes hold no reply-capable sink, or more than one.
pub(super) fn check_replier(table: &RouteTable, matching: &[usize]) -> Result<(), DeliveryError> {
    let repliers: usize = matching.iter().map(|&i| table.routes[i].repliers).sum();
    if repliers == 1 {
        return Ok(());
    }
    let names: Vec<String> = matching
        .iter()
        .map(|&i| format!("`{}`", table.routes[i].name))
        .collect();
    let reason = format!(
        "a request needs exactly one reply-capable sink (webhook, AMQP, MQTT 5, gRPC gateway backend) on the routes it matches; route {} {} {repliers}",
        names.join(", "),
        if names.len() == 1 { "has" } else { "have" },
    );
    metrics::counter!("switchyard_rpc_refused_total", "reason" => "no_replier").increment(1);
    Err(DeliveryError::NoReplier { reason })
}
