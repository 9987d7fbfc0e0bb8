//! What starts a reload: SIGHUP, or a change of the config file. The watch is on the file's
//! directory, not the file: editors save by renaming a new file over the old one, and
//! Kubernetes updates a mounted ConfigMap by swapping the `..data` symlink beside it, and
//! neither touches the inode a file watch would follow. Changes are debounced, and a change
//! in the directory that leaves the file's text as it was reloads nothing.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

use crate::config::{Config, ConfigErrors};

/// Changes closer together than this are one reload.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// When the directory cannot be watched (no inotify left, say), the file is read this often.
const POLL: Duration = Duration::from_secs(5);

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// SIGHUP: reload even if the text is unchanged.
    Hangup,
    /// Something changed where the file lives.
    Changed,
}

/// The reload triggers of a running gateway.
pub(super) struct Triggers {
    path: Option<PathBuf>,
    hangup: Option<Signal>,
    changes: mpsc::Receiver<()>,
    _watcher: Option<Debouncer<RecommendedWatcher, RecommendedCache>>,
    poll: Option<tokio::time::Interval>,
    /// The hash of the text last read.
    last: Option<u64>,
}

impl Triggers {
    /// Listens for SIGHUP (without a handler, SIGHUP would end the process) and, if `watch`,
    /// watches `path`'s directory.
    pub fn new(path: Option<PathBuf>, watch: bool) -> Self {
        let hangup = signal(SignalKind::hangup())
            .inspect_err(|e| tracing::warn!(error = %e, "no reload on SIGHUP"))
            .ok();
        // One pending change is enough: the reload reads the file as it is then.
        let (tx, changes) = mpsc::channel(1);
        let watched = path.as_deref().filter(|_| watch);
        let watcher = watched.and_then(|p| match watcher(p, tx) {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::warn!(%error, every_s = POLL.as_secs(), "cannot watch the config file's directory; polling it");
                None
            }
        });
        let poll = (watched.is_some() && watcher.is_none()).then(|| tokio::time::interval(POLL));
        let last = path.as_deref().and_then(|p| text_hash(p).ok());
        Self {
            path,
            hangup,
            changes,
            _watcher: watcher,
            poll,
            last,
        }
    }

    /// The next trigger; never comes for a trigger that is not set up.
    pub async fn next(&mut self) -> Trigger {
        let Self {
            hangup,
            changes,
            poll,
            ..
        } = self;
        let hangup = async {
            match hangup {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        let tick = async {
            match poll {
                Some(interval) => interval.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = hangup => Trigger::Hangup,
            Some(()) = changes.recv() => Trigger::Changed,
            _ = tick => Trigger::Changed,
        }
    }

    /// The config to reload to: `None` when there is nothing to do (no file, or a change that
    /// left its text as it was), else the file read and checked, or every error in it.
    pub fn read(&mut self, trigger: Trigger) -> Option<Result<Config, ConfigErrors>> {
        let Some(path) = self.path.as_deref() else {
            tracing::info!("SIGHUP: no config file (the embedded default runs); nothing to reload");
            return None;
        };
        let hash = text_hash(path).ok();
        if trigger == Trigger::Changed && hash.is_some() && hash == self.last {
            return None;
        }
        self.last = hash;
        tracing::info!(file = %path.display(), ?trigger, "reloading the configuration");
        Some(super::read(Some(path)))
    }
}

/// Watches the file's directory, and its target's when the file is a symlink elsewhere.
fn watcher(
    path: &Path,
    tx: mpsc::Sender<()>,
) -> notify_debouncer_full::notify::Result<Debouncer<RecommendedWatcher, RecommendedCache>> {
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        if result.is_ok_and(|events| !events.is_empty()) {
            // Full: a reload is already pending, and it will read the latest text.
            let _ = tx.try_send(());
        }
    })?;
    let dir = directory(path);
    debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
    if let Ok(target) = std::fs::canonicalize(path) {
        let target_dir = directory(&target);
        if std::fs::canonicalize(&dir).ok().as_ref() != Some(&target_dir) {
            debouncer.watch(&target_dir, RecursiveMode::NonRecursive)?;
        }
    }
    Ok(debouncer)
}

fn directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn text_hash(path: &Path) -> std::io::Result<u64> {
    let text = std::fs::read(path)?;
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    Ok(hasher.finish())
}
