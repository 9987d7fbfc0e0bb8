//! The compiled route table and the router service at the end of the pipeline.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use futures_util::future::{BoxFuture, join_all};
use tokio::sync::Semaphore;
use tower::Service;

use switchyard_core::error::{BoxError, DeliveryError};
use switchyard_core::event::Event;
use switchyard_core::pipeline::{Delivered, Sink};
use switchyard_core::rate::Bucket;
use switchyard_core::topic::TopicFilter;

use crate::config::RouteConfig;
use crate::filter::Filter;
use crate::policy::{DedupeWindow, DeliveryPolicy, ROUTE_RETRY, RouteSink};
use metrics::Counter;
use switchyard_core::template::TopicTemplate;
use tokio_util::task::TaskTracker;

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
    sinks: Vec<RouteSink>,
    /// `switchyard_route_matched_total{route}`, registered once.
    matched: Counter,
    /// `switchyard_route_duplicates_total{route}`.
    duplicates: Counter,
    /// `switchyard_route_dead_lettered_total{route}`.
    dead_lettered: Counter,
    template: Option<TopicTemplate>,
    confirm: bool,
    policy: DeliveryPolicy,
    /// How many sinks in `to` can answer a request (see [`RouteTable::with_repliers`]).
    repliers: usize,
    /// `rate_limit:`, one bucket for the route.
    rate: Option<Bucket>,
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

    /// Takes over the dedupe memory of `previous`'s routes of the same name and window, so a
    /// reload does not let through a redelivery the running table would have caught.
    pub fn carry_over(&mut self, previous: &RouteTable) {
        for route in &mut self.routes {
            let kept = previous.routes.iter().find(|p| p.name == route.name);
            if let (Some(window), Some(old)) = (
                &mut route.policy.dedupe,
                kept.and_then(|p| p.policy.dedupe.as_ref()),
            ) && window.capacity() == old.capacity()
            {
                *window = old.clone();
            }
        }
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
    let route_sinks = compile_sinks(cfg, path, sinks, errors);
    let policy = compile_policy(cfg, path, sinks, errors);
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
        matched: metrics::counter!("switchyard_route_matched_total", "route" => cfg.name.clone()),
        duplicates: metrics::counter!("switchyard_route_duplicates_total", "route" => cfg.name.clone()),
        dead_lettered: metrics::counter!("switchyard_route_dead_lettered_total", "route" => cfg.name.clone()),
        template,
        confirm: cfg.confirm,
        policy,
        repliers: 0,
        rate: compile_rate(cfg, path, errors),
    }
}

fn compile_rate(cfg: &RouteConfig, path: &str, errors: &mut Vec<String>) -> Option<Bucket> {
    let rate = cfg.rate_limit.as_ref()?;
    if !(rate.per_s.is_finite() && rate.per_s > 0.0) {
        errors.push(format!("{path}.rate_limit.per_s: must be a number above 0"));
        return None;
    }
    let burst = rate.burst.unwrap_or(rate.per_s.ceil() as u32).max(1);
    Some(Bucket::new(rate.per_s, f64::from(burst)))
}

/// The route's `to`: each a sink the config has.
fn compile_sinks(
    cfg: &RouteConfig,
    path: &str,
    sinks: &HashMap<String, Sink>,
    errors: &mut Vec<String>,
) -> Vec<RouteSink> {
    if cfg.to.0.is_empty() {
        errors.push(format!("{path}.to: must name at least one sink"));
    }
    let mut route_sinks = Vec::new();
    for name in &cfg.to.0 {
        match sinks.get(name) {
            Some(sink) => route_sinks.push(RouteSink::new(&cfg.name, name, sink.clone())),
            None => errors.push(format!(
                "{path}.to: no outbound named `{name}` (`hub` is the built-in hub)"
            )),
        }
    }
    route_sinks
}

fn compile_policy(
    cfg: &RouteConfig,
    path: &str,
    sinks: &HashMap<String, Sink>,
    errors: &mut Vec<String>,
) -> DeliveryPolicy {
    errors.extend(cfg.retry.validate(&format!("{path}.retry"), ROUTE_RETRY));
    if cfg.timeout_ms == Some(0) {
        errors.push(format!("{path}.timeout_ms: must be at least 1"));
    }
    let dead_letter = cfg
        .dead_letter
        .as_ref()
        .and_then(|name| match sinks.get(name) {
            Some(sink) if !cfg.to.0.contains(name) => {
                Some(RouteSink::new(&cfg.name, name, sink.clone()))
            }
            Some(_) => {
                errors.push(format!("{path}.dead_letter: `{name}` is also in `to`"));
                None
            }
            None => {
                errors.push(format!("{path}.dead_letter: no outbound named `{name}`"));
                None
            }
        });
    let dedupe = cfg.dedupe.as_ref().and_then(|d| {
        if d.window == 0 {
            errors.push(format!("{path}.dedupe.window: must be at least 1"));
            return None;
        }
        Some(Arc::new(DedupeWindow::new(d.window)))
    });
    DeliveryPolicy {
        retry: cfg.retry.resolve(ROUTE_RETRY),
        timeout: cfg.timeout_ms.map(std::time::Duration::from_millis),
        dead_letter,
        dedupe,
    }
}

/// The last service of the pipeline: hands each event to the sinks of every matching route.
/// Its clones share one table, which a config reload [swaps](Router::swap) whole: an event
/// takes the table once, when it enters, and finishes on it (with that table's sinks) even if
/// a reload swaps another in meanwhile.
#[derive(Debug, Clone)]
pub struct Router {
    table: Arc<ArcSwap<RouteTable>>,
    background: Background,
}

/// Deliveries of `confirm: false` routes: bounded by `permits`, and tracked, so the drain
/// waits for them instead of the process dropping them mid-flight.
#[derive(Debug, Clone)]
struct Background {
    permits: Arc<Semaphore>,
    tasks: TaskTracker,
}

impl Router {
    pub fn new(table: RouteTable) -> Self {
        Self {
            table: Arc::new(ArcSwap::from_pointee(table)),
            background: Background {
                permits: Arc::new(Semaphore::new(UNCONFIRMED_IN_FLIGHT)),
                tasks: TaskTracker::new(),
            },
        }
    }

    /// Replaces the table for every event that enters from now on.
    pub fn swap(&self, table: RouteTable) {
        self.table.store(Arc::new(table));
    }

    /// The table events entering now are routed by.
    pub fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// The deliveries of `confirm: false` routes still running; the drain closes this and
    /// waits for it.
    pub fn background_deliveries(&self) -> TaskTracker {
        self.background.tasks.clone()
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
        let table = self.table.load_full();
        let background = self.background.clone();
        Box::pin(async move { route(&table, &background, event).await })
    }
}

async fn route(
    table: &Arc<RouteTable>,
    background: &Background,
    event: Event,
) -> Result<Delivered, BoxError> {
    let matching: Vec<usize> = (0..table.routes.len())
        .filter(|&i| table.routes[i].matches(&event))
        .collect();
    if matching.is_empty() {
        metrics::counter!("switchyard_no_route_total", "inbound" => event.origin.inbound.clone())
            .increment(1);
        tracing::debug!(inbound = %event.origin.inbound, topic = %event.origin.topic, "no route");
        return Err(Box::new(DeliveryError::NoRoute {
            inbound: event.origin.inbound.to_string(),
            topic: event.origin.topic.to_string(),
        }));
    }
    if event.reply.is_some() {
        request::check_replier(table, &matching)?;
    }
    // Before anything is delivered: an event a route has no room for goes nowhere.
    for &i in &matching {
        let route = &table.routes[i];
        if let Some(Err(retry_after)) = route.rate.as_ref().map(Bucket::take) {
            metrics::counter!("switchyard_route_rate_limited_total", "route" => route.name.clone())
                .increment(1);
            return Err(Box::new(DeliveryError::RateLimited {
                principal: format!("route {}", route.name),
                retry_after,
            }));
        }
    }
    let mut confirmed = Vec::new();
    for i in matching {
        let route = &table.routes[i];
        route.matched.increment(1);
        if route.confirm {
            confirmed.push(deliver::route(route, &event));
        } else {
            // Waiting for a permit is the backpressure that keeps background work bounded.
            let permit = background.permits.clone().acquire_owned().await?;
            let (table, event) = (table.clone(), event.clone());
            background.tasks.spawn(async move {
                let route = &table.routes[i];
                if let Err(err) = deliver::route(route, &event).await {
                    tracing::warn!(route = %route.name, error = %err, "unconfirmed delivery failed");
                }
                drop(permit);
            });
        }
    }
    let mut sinks = 0;
    for result in join_all(confirmed).await {
        sinks += result?;
    }
    Ok(Delivered { sinks })
}

mod deliver;
mod request;
#[cfg(test)]
mod tests;
