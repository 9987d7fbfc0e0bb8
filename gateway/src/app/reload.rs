//! A reload without a restart. The new config arrives read and checked; it is compared part
//! by part with the running one ([`plan`]), and what it needs from outside (inbound
//! preflights, new listening sockets) is obtained before anything changes, so a config that
//! fails any of it is refused whole and the old one keeps running. Then only the changed
//! parts are replaced: new outbounds start (and get a moment to connect), the route table is
//! swapped in one step, changed inbounds settle what they hold and restart, changed listeners
//! hand over their socket. Events already inside finish on the table, and so the sinks, they
//! started with; SSE, WebSocket and gRPC streams on a listener that did not change are not
//! touched, and neither are broker sessions of inbounds that did not change.

mod plan;

use std::time::Duration;

use futures_util::future::join_all;

use super::{Running, listeners, sinks, sources};
use crate::config::{Config, ConfigErrors};
use crate::logging::LogLevel;
use plan::Plan;

/// How long new outbounds get to connect before the route table sends them events; past it
/// the table is swapped anyway (and their deliveries fail as unavailable until they connect).
const WARM_UP: Duration = Duration::from_secs(5);

/// `switchyard_config_reloads_total{result}`, shown from the start.
pub(super) fn register_metrics() {
    for result in ["applied", "refused"] {
        count(result, 0);
    }
}

fn count(result: &'static str, n: u64) {
    metrics::counter!("switchyard_config_reloads_total", "result" => result).increment(n);
}

/// Applies `read` (or logs why not), counting the outcome.
pub(super) async fn apply(
    running: &mut Running,
    read: Result<Config, ConfigErrors>,
    log_level: &LogLevel,
) {
    let outcome = match read {
        Err(errors) => Err(errors.0),
        Ok(config) => {
            for warning in &config.warnings {
                tracing::warn!("{warning}");
            }
            running.reload(config, log_level).await
        }
    };
    match outcome {
        // Logged before counted: whoever sees the count (a test, an alert) finds the lines.
        Ok(changes) => {
            tracing::info!(changes = %changes.join("; "), "configuration reloaded");
            count("applied", 1);
        }
        Err(errors) => {
            for error in &errors {
                tracing::error!(%error, "configuration refused");
            }
            tracing::warn!(
                errors = errors.len(),
                "reload refused; the running configuration stays"
            );
            count("refused", 1);
        }
    }
}

/// The sockets changed listeners move to, bound before anything changes.
#[derive(Debug, Default)]
struct Sockets {
    http: Option<std::net::TcpListener>,
    admin: Option<std::net::TcpListener>,
    grpc: Option<std::net::TcpListener>,
}

impl Running {
    async fn reload(
        &mut self,
        mut new: Config,
        log_level: &LogLevel,
    ) -> Result<Vec<String>, Vec<String>> {
        for section in plan::keep_restart_only(&self.config, &mut new) {
            tracing::warn!(
                section,
                "changed in the file, but takes effect only at a restart; keeping the running values"
            );
        }
        let plan = Plan::between(&self.config, &new);
        super::preflight(&new, |name| plan.inbounds.starts(name))
            .await
            .map_err(|e| vec![format!("{e:#}")])?;
        let sockets = self
            .bind_changed(&new, &plan)
            .map_err(|e| vec![format!("{e:#}")])?;
        let auth = match plan.auth {
            true => super::serving_authenticator(&new)?,
            false => self.auth.clone(),
        };
        if plan.log_level {
            log_level(&new.log.level).map_err(|e| vec![e])?;
        }
        // Nothing has changed so far; from here on the new config applies.
        self.swap_sinks_and_routes(&new, &plan).await?;
        self.swap_inbounds(&new, &plan).await?;
        // The listeners the plan replaces take it (a changed `auth:` replaces them all).
        self.auth = auth;
        self.swap_listeners(&new, &plan, sockets)
            .map_err(|e| vec![format!("{e:#}")])?;
        let mut changes = plan.describe();
        changes.push(format!("{} routes", new.routes.len()));
        self.config = new;
        Ok(changes)
    }

    /// The socket each changed listener's next server takes: the running one's when the
    /// address stays, so no connection is refused in between; else a new bind.
    fn bind_changed(&self, new: &Config, plan: &Plan) -> anyhow::Result<Sockets> {
        let socket = |current: &Option<listeners::Listener>, addr: &str, key: &str| match current {
            Some(listener) if listener.address == addr => listener.socket(),
            _ => listeners::bind(addr, key),
        };
        let mut sockets = Sockets::default();
        if plan.http {
            sockets.http = Some(socket(&self.http, &new.listen.http, "listen.http")?);
        }
        if let (true, Some(addr)) = (plan.admin, &new.listen.admin) {
            sockets.admin = Some(socket(&self.admin, addr, "listen.admin")?);
        }
        if let (true, Some(addr)) = (plan.grpc, &new.listen.grpc) {
            sockets.grpc = Some(socket(&self.grpc, addr, "listen.grpc")?);
        }
        Ok(sockets)
    }

    /// Starts the new and changed outbounds, lets them connect, then swaps in the new route
    /// table; the old sinks go when the last event using them has finished.
    async fn swap_sinks_and_routes(
        &mut self,
        new: &Config,
        plan: &Plan,
    ) -> Result<(), Vec<String>> {
        let mut sinks = self.sinks.clone();
        for name in &plan.outbounds.stop {
            sinks.remove(name);
        }
        for name in &plan.outbounds.start {
            let sink = sinks::start(name, &new.outbounds[name], &self.readiness)?;
            sinks.insert(name.clone(), sink);
        }
        let mut table = super::routes(new, &sinks)?;
        table.carry_over(&self.router.table());
        self.warm_up(&plan.outbounds.start).await;
        self.router.swap(table);
        for name in plan.outbounds.removed() {
            self.readiness.unregister(&sinks::readiness_name(name));
        }
        self.sinks = sinks;
        Ok(())
    }

    /// Waits, up to [`WARM_UP`], for the outbounds `names` to be ready.
    async fn warm_up(&self, names: &[String]) {
        let checks: Vec<String> = names.iter().map(|n| sinks::readiness_name(n)).collect();
        let ready = self.readiness.wait_ready(&checks, WARM_UP).await;
        if !ready {
            tracing::warn!(outbounds = ?names, "not connected yet; routing to them anyway");
        }
    }

    /// Stops the changed and removed inbounds (each settles what it holds), then starts the
    /// new and changed ones.
    async fn swap_inbounds(&mut self, new: &Config, plan: &Plan) -> Result<(), Vec<String>> {
        let grace = Duration::from_millis(new.shutdown.grace_ms);
        let stopping: Vec<_> = plan
            .inbounds
            .stop
            .iter()
            .filter_map(|name| Some((name, self.sources.remove(name)?)))
            .collect();
        let stopped = join_all(
            stopping
                .into_iter()
                .map(|(name, source)| async move { (name, source.stop(grace).await) }),
        )
        .await;
        for (name, settled) in stopped {
            if !settled {
                tracing::warn!(inbound = %name, "still settling after the grace period; starting its successor");
            }
        }
        for name in plan.inbounds.removed() {
            self.readiness.unregister(&sources::readiness_name(name));
        }
        for name in &plan.inbounds.start {
            let source = sources::start(self, name, &new.inbounds[name])
                .map_err(|e| vec![format!("{e:#}")])?;
            self.sources.insert(name.clone(), source);
        }
        Ok(())
    }

    /// Starts each changed listener's next server, then stops the old one accepting; the old
    /// one's open connections stay until they close or the drain ends them.
    fn swap_listeners(
        &mut self,
        new: &Config,
        plan: &Plan,
        sockets: Sockets,
    ) -> anyhow::Result<()> {
        if plan.admin {
            let next = sockets
                .admin
                .map(|s| listeners::start_admin(self, new, s))
                .transpose()?;
            if let Some(old) = std::mem::replace(&mut self.admin, next) {
                old.stop();
            }
        }
        if let Some(socket) = sockets.http {
            let next = listeners::start_http(self, new, socket)?;
            if let Some(old) = self.http.replace(next) {
                old.stop();
            }
        }
        if plan.grpc {
            let next = sockets
                .grpc
                .map(|s| listeners::start_grpc(self, new, s))
                .transpose()?;
            if next.is_none() {
                self.readiness.unregister(super::GRPC_INBOUND);
            }
            if let Some(old) = std::mem::replace(&mut self.grpc, next) {
                old.stop();
            }
        }
        Ok(())
    }
}
