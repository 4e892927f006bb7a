//! Waking file sources up: [`DirWatch`] forwards `notify` (inotify) events about
//! one folder into a tokio channel, with a timeout as the polling fallback. Used by the `directory` and `tail` sources; the
//! sources' own scans stay the source of truth, so a lost event costs latency only.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Level, SourceLog};

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
    log: SourceLog,
}

impl DirWatch {
    /// Creates the watcher; when `only` is given, only events naming that file
    /// wake the source. Without file events (watcher unavailable) this logs
    /// once and [`DirWatch::wait`] only times out.
    pub(crate) fn new(label: Arc<str>, log: SourceLog, only: Option<OsString>) -> DirWatch {
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
            log,
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
                self.log.log(Level::Warn, &self.label, &message, &message);
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
