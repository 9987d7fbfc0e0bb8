//! The compiled route table and the router service at the end of the pipeline.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, join_all};
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

use switchyard_core::error::{BoxError, DeliveryError};
use switchyard_core::event::Event;
use switchyard_core::pipeline::{Delivered, Sink};
use switchyard_core::topic::TopicFilter;

use crate::config::RouteConfig;
use crate::filter::Filter;
use switchyard_core::template::TopicTemplate;

/// Deliveries of routes with `confirm: false` that may run in the background at once; beyond
/// it, the source waits (backpressure) rather than the gateway queueing without bound.
const UNCONFIRMED_IN_FLIGHT: usize = 1024;

/// One compiled route.
#[derive(Debug)]
pub struct Route {
    pub name: String,
    from: Vec<String>,
    topics: Vec<TopicFilter>,
    filter: Option<Filter>,
    sinks: Vec<(String, Sink)>,
    template: Option<TopicTemplate>,
    confirm: bool,
}

impl Route {
    fn matches(&self, event: &Event) -> bool {
        (self.from.is_empty() || self.from.iter().any(|f| **f == *event.origin.inbound))
            && (self.topics.is_empty()
                || self.topics.iter().any(|t| t.matches(&event.origin.topic)))
            && self.filter.as_ref().is_none_or(|f| f.matches(&event.cloud))
    }
}

/// All routes, in configuration order.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Compiles the configured routes against the sinks that exist. Every problem is reported,
    /// each naming its key (`routes[2].to`).
    pub fn compile(
        configs: &[RouteConfig],
        sinks: &HashMap<String, Sink>,
        inbounds: &[String],
    ) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut routes = Vec::with_capacity(configs.len());
        let mut names = std::collections::HashSet::new();
        for (i, cfg) in configs.iter().enumerate() {
            let path = format!("routes[{i}]");
            if cfg.name.is_empty() {
                errors.push(format!("{path}.name: must not be empty"));
            } else if !names.insert(cfg.name.clone()) {
                errors.push(format!(
                    "{path}.name: `{}` is used by another route",
                    cfg.name
                ));
            }
            routes.push(compile_route(cfg, &path, sinks, inbounds, &mut errors));
        }
        if errors.is_empty() {
            Ok(Self { routes })
        } else {
            Err(errors)
        }
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn compile_route(
    cfg: &RouteConfig,
    path: &str,
    sinks: &HashMap<String, Sink>,
    inbounds: &[String],
    errors: &mut Vec<String>,
) -> Route {
    for from in &cfg.from.0 {
        if !inbounds.contains(from) {
            errors.push(format!(
                "{path}.from: no inbound named `{from}` (known: {})",
                inbounds.join(", ")
            ));
        }
    }
    let topics = cfg
        .topics
        .0
        .iter()
        .filter_map(|t| {
            TopicFilter::parse(t)
                .map_err(|e| errors.push(format!("{path}.topics: {e}")))
                .ok()
        })
        .collect();
    let filter = cfg
        .filter
        .as_ref()
        .map(|f| Filter::compile(f, &format!("{path}.filter"), errors));
    if cfg.to.0.is_empty() {
        errors.push(format!("{path}.to: must name at least one sink"));
    }
    let mut route_sinks = Vec::new();
    for name in &cfg.to.0 {
        match sinks.get(name) {
            Some(sink) => route_sinks.push((name.clone(), sink.clone())),
            None => errors.push(format!(
                "{path}.to: no outbound named `{name}` (`hub` is the built-in hub)"
            )),
        }
    }
    let template = cfg.topic.as_deref().and_then(|t| {
        TopicTemplate::parse(t)
            .map_err(|e| errors.push(format!("{path}.topic: {e}")))
            .ok()
    });
    Route {
        name: cfg.name.clone(),
        from: cfg.from.0.clone(),
        topics,
        filter,
        sinks: route_sinks,
        template,
        confirm: cfg.confirm,
    }
}

/// The last service of the pipeline: hands each event to the sinks of every matching route.
#[derive(Debug, Clone)]
pub struct Router {
    table: Arc<RouteTable>,
    background: Arc<Semaphore>,
}

impl Router {
    pub fn new(table: RouteTable) -> Self {
        Self {
            table: Arc::new(table),
            background: Arc::new(Semaphore::new(UNCONFIRMED_IN_FLIGHT)),
        }
    }
}

impl Service<Event> for Router {
    type Response = Delivered;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Delivered, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: Event) -> Self::Future {
        let table = self.table.clone();
        let background = self.background.clone();
        Box::pin(async move { route(&table, &background, event).await })
    }
}

async fn route(
    table: &RouteTable,
    background: &Arc<Semaphore>,
    event: Event,
) -> Result<Delivered, BoxError> {
    let mut confirmed = Vec::new();
    let mut matched = false;
    for route in table.routes.iter().filter(|r| r.matches(&event)) {
        matched = true;
        metrics::counter!("switchyard_route_matched_total", "route" => route.name.clone())
            .increment(1);
        let mut copy = event.clone();
        if let Some(template) = &route.template {
            match template.render(&event) {
                Ok(topic) => copy.topic = topic.into(),
                Err(e) => {
                    return Err(Box::new(DeliveryError::Rejected {
                        sink: route.name.clone(),
                        reason: e.to_string(),
                    }));
                }
            }
        }
        for (name, sink) in &route.sinks {
            let call = sink.clone().oneshot(copy.clone());
            if route.confirm {
                confirmed.push(call);
            } else {
                // Waiting for a permit is the backpressure that keeps background work bounded.
                let permit = background.clone().acquire_owned().await?;
                let (route, sink) = (route.name.clone(), name.clone());
                tokio::spawn(async move {
                    if let Err(err) = call.await {
                        tracing::warn!(%route, %sink, error = %err, "unconfirmed delivery failed");
                    }
                    drop(permit);
                });
            }
        }
    }
    if !matched {
        tracing::debug!(inbound = %event.origin.inbound, topic = %event.origin.topic, "no route");
        return Err(Box::new(DeliveryError::NoRoute {
            inbound: event.origin.inbound.to_string(),
            topic: event.origin.topic.to_string(),
        }));
    }
    let sinks = confirmed.len();
    for result in join_all(confirmed).await {
        result?;
    }
    Ok(Delivered { sinks })
}

#[cfg(test)]
mod tests;
