//! Waking file sources up: [`DirWatch`] forwards `notify` (inotify) events about
//! one folder into a tokio channel, with a timeout as the polling fallback, and
//! [`LogThrottle`] keeps a repeating warning (a missing folder, an unwatchable
//! path) from flooding the log. Used by the `directory` and `tail` sources; the
//! sources' own scans stay the source of truth, so a lost event costs latency only.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long identical warnings are held back after one is logged.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(60);

/// File-change notifications for one folder, forwarded from `notify`'s thread
/// into a tokio channel, with a polling fallback. Shared with the tail source.
pub(crate) struct DirWatch {
    label: Arc<str>,
    watcher: Option<RecommendedWatcher>,
    /// The folder watched and its (dev, ino), to re-watch a recreated folder.
    watched: Option<(PathBuf, u64, u64)>,
    wake: mpsc::Receiver<()>,
    /// Keeps the channel open when no watcher holds the other sender.
    _keep_open: mpsc::Sender<()>,
    throttle: LogThrottle,
}

impl DirWatch {
    /// Creates the watcher; when `only` is given, only events naming that file
    /// wake the source. Without file events (watcher unavailable) this logs
    /// once and [`DirWatch::wait`] only times out.
    pub(crate) fn new(label: Arc<str>, only: Option<OsString>) -> DirWatch {
        let (tx, wake) = mpsc::channel(1);
        let events = tx.clone();
        let handler = move |event: notify::Result<Event>| {
            // An error (e.g. the kernel queue overflowed) also wakes: the
            // rescan finds whatever the lost events were about.
            if let Ok(event) = event {
                if !is_relevant(&event, only.as_deref()) {
                    return;
                }
            }
            let _ = events.try_send(());
        };
        let watcher = match notify::recommended_watcher(handler) {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::warn!(source = %label, error = %e, "file events unavailable; polling only");
                None
            }
        };
        DirWatch {
            label,
            watcher,
            watched: None,
            wake,
            _keep_open: tx,
            throttle: LogThrottle::new(LOG_EVERY),
        }
    }

    /// Watches `dir` if it exists and is not watched yet (or was recreated).
    pub(crate) fn ensure(&mut self, dir: &Path) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let Ok(metadata) = std::fs::metadata(dir) else {
            if let Some((old, ..)) = self.watched.take() {
                let _ = watcher.unwatch(&old);
            }
            return;
        };
        let id = (metadata.dev(), metadata.ino());
        if matches!(&self.watched, Some((p, dev, ino)) if p == dir && (*dev, *ino) == id) {
            return;
        }
        if let Some((old, ..)) = self.watched.take() {
            let _ = watcher.unwatch(&old);
        }
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => self.watched = Some((dir.to_path_buf(), id.0, id.1)),
            Err(e) => {
                let message = format!(
                    "{}: cannot watch for file events ({e}); polling instead",
                    dir.display()
                );
                if let Some(held_back) = self.throttle.admit(&message) {
                    tracing::warn!(source = %self.label, held_back, "{message}");
                }
            }
        }
    }

    /// Sleeps until a file event (then `coalesce` longer, to gather a burst),
    /// `timeout`, or shutdown. Returns false on shutdown.
    pub(crate) async fn wait(
        &mut self,
        timeout: Duration,
        coalesce: Duration,
        shutdown: &CancellationToken,
    ) -> bool {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(timeout) => return true,
            _ = self.wake.recv() => {}
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(coalesce) => {}
        }
        while self.wake.try_recv().is_ok() {}
        true
    }
}

/// Whether an event can matter: our own reads (open, read, close after
/// reading) never do, nor events about other files when `only` is set.
fn is_relevant(event: &Event, only: Option<&OsStr>) -> bool {
    if matches!(
        event.kind,
        EventKind::Access(
            AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read)
        )
    ) {
        return false;
    }
    match only {
        None => true,
        Some(name) => {
            event.paths.is_empty() || event.paths.iter().any(|p| p.file_name() == Some(name))
        }
    }
}

/// Rate limit for repeated identical log messages: the first is logged, the
/// same text again only once `every` has passed, with the count held back.
pub(crate) struct LogThrottle {
    every: Duration,
    seen: HashMap<String, (Instant, u64)>,
}

impl LogThrottle {
    /// Distinct messages remembered before the memory is reset.
    const MAX_MESSAGES: usize = 256;

    /// A throttle that repeats a message at most once per `every`.
    pub(crate) fn new(every: Duration) -> LogThrottle {
        LogThrottle {
            every,
            seen: HashMap::new(),
        }
    }

    /// `Some(held_back)` when `message` should be logged now (with how many
    /// identical messages were suppressed since it last was), `None` otherwise.
    pub(crate) fn admit(&mut self, message: &str) -> Option<u64> {
        let now = Instant::now();
        if let Some((last, held_back)) = self.seen.get_mut(message) {
            if now.duration_since(*last) < self.every {
                *held_back += 1;
                return None;
            }
            let count = *held_back;
            *last = now;
            *held_back = 0;
            return Some(count);
        }
        if self.seen.len() >= Self::MAX_MESSAGES {
            self.seen.clear();
        }
        self.seen.insert(message.to_owned(), (now, 0));
        Some(0)
    }
}
