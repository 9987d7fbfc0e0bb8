//! What a reload changes: the new config compared part by part with the running one. Whatever
//! compares equal keeps running as it is (its connections, sessions and subscribers).

use std::collections::BTreeMap;

use crate::config::Config;

/// The parts of the running gateway a reload replaces.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub outbounds: Diff,
    pub inbounds: Diff,
    /// The HTTP family's listener (its address, its settings, or whether it serves the admin
    /// routes changed).
    pub http: bool,
    /// The separate admin listener.
    pub admin: bool,
    pub grpc: bool,
    /// `auth:`: a new authenticator, for listeners that are all replaced.
    pub auth: bool,
    pub log_level: bool,
}

/// Named parts (inbounds, outbounds) to stop and to start; a changed one is in both.
#[derive(Debug, Default)]
pub(super) struct Diff {
    pub stop: Vec<String>,
    pub start: Vec<String>,
}

impl Diff {
    fn between<V>(
        old: &BTreeMap<String, V>,
        new: &BTreeMap<String, V>,
        same: impl Fn(&str) -> bool,
    ) -> Self {
        let changed = |name: &String| !same(name);
        Self {
            stop: old
                .keys()
                .filter(|n| !new.contains_key(*n) || changed(n))
                .cloned()
                .collect(),
            start: new
                .keys()
                .filter(|n| !old.contains_key(*n) || changed(n))
                .cloned()
                .collect(),
        }
    }

    pub fn starts(&self, name: &str) -> bool {
        self.start.iter().any(|n| n == name)
    }

    /// Stopped and not started again.
    pub fn removed(&self) -> impl Iterator<Item = &String> {
        self.stop.iter().filter(|n| !self.starts(n))
    }
}

impl Plan {
    pub fn between(old: &Config, new: &Config) -> Self {
        let (o, n) = (&old.fingerprints, &new.fingerprints);
        let outbounds = Diff::between(&old.outbounds, &new.outbounds, |name| {
            o.same(n, &format!("outbounds.{name}"))
        });
        // An inbound whose dead-letter sink restarts restarts with it: it holds the sink.
        let inbounds = Diff::between(&old.inbounds, &new.inbounds, |name| {
            o.same(n, &format!("inbounds.{name}"))
                && new.inbounds[name]
                    .dead_letter
                    .as_ref()
                    .is_none_or(|d| !outbounds.starts(d))
        });
        let (was, is) = (&old.listen, &new.listen);
        // Keys and permissions live in the listeners: a changed `auth:` replaces them.
        let auth = !o.same(n, "auth");
        let http_settings = !o.same(n, "http");
        Self {
            http: was.http != is.http
                || was.admin.is_some() != is.admin.is_some()
                || http_settings
                || auth,
            // The admin listener takes the HTTP timeouts, and no credentials.
            admin: was.admin != is.admin || (is.admin.is_some() && http_settings),
            grpc: was.grpc != is.grpc || (is.grpc.is_some() && (!o.same(n, "grpc") || auth)),
            log_level: old.log.level != new.log.level,
            auth,
            outbounds,
            inbounds,
        }
    }

    /// One line per change, for the log.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (what, diff) in [("outbound", &self.outbounds), ("inbound", &self.inbounds)] {
            for name in &diff.start {
                let verb = if diff.stop.contains(name) {
                    "restarted"
                } else {
                    "started"
                };
                lines.push(format!("{what} {name} {verb}"));
            }
            lines.extend(diff.removed().map(|name| format!("{what} {name} stopped")));
        }
        for (listener, changed) in [
            ("http", self.http),
            ("admin", self.admin),
            ("grpc", self.grpc),
        ] {
            if changed {
                lines.push(format!("{listener} listener replaced"));
            }
        }
        if self.log_level {
            lines.push("log.level changed".into());
        }
        lines
    }
}

/// Sections a running gateway cannot change (the hub holds every subscriber and its replay;
/// `rpc` bounds the asynchronous replies held across listeners;
/// the pipeline's limits and the log format are built in at start): their new values are
/// ignored, with a warning, until a restart. Returns the sections so kept.
pub(super) fn keep_restart_only(old: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut kept = Vec::new();
    if !old.fingerprints.same(&new.fingerprints, "hub") {
        new.hub = old.hub.clone();
        new.fingerprints.keep(&old.fingerprints, "hub");
        kept.push("hub");
    }
    if !old.fingerprints.same(&new.fingerprints, "limits") {
        new.limits = old.limits.clone();
        new.fingerprints.keep(&old.fingerprints, "limits");
        kept.push("limits");
    }
    if !old.fingerprints.same(&new.fingerprints, "queues") {
        new.queues = old.queues.clone();
        new.fingerprints.keep(&old.fingerprints, "queues");
        kept.push("queues");
    }
    if !old.fingerprints.same(&new.fingerprints, "pairs") {
        new.pairs = old.pairs.clone();
        new.fingerprints.keep(&old.fingerprints, "pairs");
        kept.push("pairs");
    }
    if !old.fingerprints.same(&new.fingerprints, "rpc") {
        new.rpc = old.rpc.clone();
        new.fingerprints.keep(&old.fingerprints, "rpc");
        kept.push("rpc");
    }
    if old.log.format != new.log.format {
        new.log.format = old.log.format;
        kept.push("log.format");
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;

    fn plan(before: &str, after: &str) -> Plan {
        let (old, errors) = load(before);
        assert!(errors.is_empty(), "{errors:?}");
        let (mut new, errors) = load(after);
        assert!(errors.is_empty(), "{errors:?}");
        keep_restart_only(&old, &mut new);
        Plan::between(&old, &new)
    }

    const BASE: &str = r#"
outbounds:
  keep: { type: webhook, url: "http://127.0.0.1:9/keep" }
  change: { type: webhook, url: "http://127.0.0.1:9/a" }
  drop: { type: webhook, url: "http://127.0.0.1:9/drop" }
inbounds:
  same: { type: mqtt, url: "mqtt://127.0.0.1:1883", subscribe: ["a/#"] }
  dl: { type: mqtt, url: "mqtt://127.0.0.1:1883", subscribe: ["b/#"], dead_letter: change }
routes: [{ name: r, to: keep }]
"#;

    #[test]
    fn only_what_changed_restarts() {
        let after = BASE.replace("9/a", "9/b").replace(
            "  drop: { type: webhook, url: \"http://127.0.0.1:9/drop\" }\n",
            "  new: { type: webhook, url: \"http://127.0.0.1:9/new\" }\n",
        );
        let plan = plan(BASE, &after);
        assert_eq!(plan.outbounds.stop, ["change", "drop"]);
        assert_eq!(plan.outbounds.start, ["change", "new"]);
        assert_eq!(plan.outbounds.removed().collect::<Vec<_>>(), ["drop"]);
        // `dl` is unchanged, but its dead-letter sink restarts.
        assert_eq!(plan.inbounds.start, ["dl"]);
        assert!(!plan.http && !plan.admin && !plan.grpc && !plan.log_level);
    }

    #[test]
    fn listener_settings_and_addresses_replace_only_their_listener() {
        let after =
            format!("{BASE}http: {{ body_limit: 5000 }}\nlisten: {{ grpc: \"127.0.0.1:0\" }}\n");
        let plan = plan(BASE, &after);
        assert!(plan.http && plan.grpc && !plan.admin);
        assert!(plan.outbounds.start.is_empty() && plan.inbounds.start.is_empty());
    }

    #[test]
    fn restart_only_sections_keep_their_running_values() {
        let (old, _) = load(BASE);
        let (mut new, _) = load(&format!(
            "{BASE}hub: {{ replay_events: 7 }}\nlog: {{ level: debug }}\n"
        ));
        assert_eq!(keep_restart_only(&old, &mut new), ["hub"]);
        assert_eq!(new.hub.replay_events, old.hub.replay_events);
        assert!(Plan::between(&old, &new).log_level, "log.level is reloaded");
    }
}
