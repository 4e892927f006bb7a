//! Where batches come from, one module a source: a watched directory
//! ([`directory`]), a tailed JSON-lines file ([`tail`]) and `POST /ingest`
//! ([`http`]; the server only moves bytes to it). [`spawn`] starts the one a
//! `[[sources]]` entry describes.
//!
//! Every source parses its input with [`crate::data`] using the current
//! [`ColumnPlan`] and sends [`SourceEvent`]s to the daemon over one channel. A
//! [`Delivery`] carries the checkpoint it completes; the daemon applies the rows
//! to the window, appends them to the journal with the checkpoint, and only then
//! acknowledges. A source never advances its own position before that
//! acknowledgement, so a stop at any moment neither loses nor repeats a batch.
//!
//! One logging rule for what sources see: a source reports an input it cannot
//! use as a [`SourceEvent::Error`] and does not log it itself; the daemon logs
//! every reported event and counts it in a metric. Everything a source logs,
//! and everything the daemon logs about sources, goes through one
//! [`SourceLog`] throttle.

pub mod directory;
pub mod http;
pub mod tail;
mod wakeup;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::SourceConfig;
pub use crate::data::Summary;
use crate::data::{Batch, ColumnPlan};
use crate::store::{CheckpointUpdate, Checkpoints};

/// How long identical source messages are held back after one is logged.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a whole input could not be used: the `reason` label of
/// `drift_source_errors_total` (rows are rejected by [`crate::data::RejectReason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceErrorReason {
    /// The content is not readable in its format (a file is marked done).
    Unreadable,
    /// The file could not be opened or read (retried).
    Io,
    /// A request body over `server.max_body_bytes`.
    TooLarge,
}

impl SourceErrorReason {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceErrorReason::Unreadable => "unreadable",
            SourceErrorReason::Io => "io",
            SourceErrorReason::TooLarge => "too_large",
        }
    }
}

/// Rows parsed by a source, ready for the window.
#[derive(Debug)]
pub struct Delivery {
    /// The `source` label (`directory:<path>`, `tail:<path>`, `http`).
    pub source: Arc<str>,
    /// The plan the batches were parsed with (the window remaps if it changed).
    pub plan: Arc<ColumnPlan>,
    /// Parsed rows, with their rejections.
    pub batches: Vec<Batch>,
    /// Their summary, computed once.
    pub summary: Summary,
    /// Seconds spent reading and parsing (for `drift_batch_processing_seconds`).
    pub parse_seconds: f64,
    /// The checkpoint these rows complete.
    pub checkpoint: Option<CheckpointUpdate>,
    /// Answered once the rows are in the window and the journal.
    pub ack: Option<oneshot::Sender<()>>,
}

/// What sources tell the daemon.
#[derive(Debug)]
pub enum SourceEvent {
    /// Rows to add.
    Delivery(Delivery),
    /// A whole file or body could not be used (counted in
    /// `drift_source_errors_total{source, reason}`). A checkpoint, if given, marks
    /// the input as dealt with so it is not retried forever.
    Error {
        /// The `source` label.
        source: Arc<str>,
        /// Why.
        reason: SourceErrorReason,
        /// The message, naming the file.
        message: String,
        /// The checkpoint the failed input completes.
        checkpoint: Option<CheckpointUpdate>,
        /// Answered once recorded.
        ack: Option<oneshot::Sender<()>>,
    },
}

/// How loud a source message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Expected states (a file not there yet).
    Info,
    /// Inputs that could not be used.
    Warn,
    /// The source itself cannot work (its folder is unreadable).
    Error,
}

/// The one throttle for source messages: the first message with a key is
/// logged, the same key for the same source again only once [`LOG_EVERY`] has
/// passed, with the count held back. Shared by every source and the daemon.
#[derive(Debug, Clone)]
pub struct SourceLog {
    throttle: Arc<Mutex<LogThrottle>>,
}

impl Default for SourceLog {
    fn default() -> Self {
        SourceLog {
            throttle: Arc::new(Mutex::new(LogThrottle::new(LOG_EVERY))),
        }
    }
}

impl SourceLog {
    /// Logs `message` for `source` at `level` unless `key` was logged for it
    /// within [`LOG_EVERY`].
    pub fn log(&self, level: Level, source: &str, key: &str, message: &str) {
        let key = format!("{source}\u{0}{key}");
        let admitted = match self.throttle.lock() {
            Ok(mut throttle) => throttle.admit(&key),
            Err(poisoned) => poisoned.into_inner().admit(&key),
        };
        let Some(held_back) = admitted else {
            return;
        };
        match level {
            Level::Info => tracing::info!(source, held_back, "{message}"),
            Level::Warn => tracing::warn!(source, held_back, "{message}"),
            Level::Error => tracing::error!(source, held_back, "{message}"),
        }
    }
}

/// Rate limit for repeated identical log messages: the first is logged, the
/// same text again only once `every` has passed, with the count held back.
#[derive(Debug)]
struct LogThrottle {
    every: Duration,
    seen: HashMap<String, (Instant, u64)>,
}

impl LogThrottle {
    /// Distinct messages remembered before the memory is reset.
    const MAX_MESSAGES: usize = 256;

    /// A throttle that repeats a message at most once per `every`.
    fn new(every: Duration) -> LogThrottle {
        LogThrottle {
            every,
            seen: HashMap::new(),
        }
    }

    /// `Some(held_back)` when `message` should be logged now (with how many
    /// identical messages were suppressed since it last was), `None` otherwise.
    fn admit(&mut self, message: &str) -> Option<u64> {
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

/// What every source gets.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// Its `source` label.
    pub label: Arc<str>,
    /// The current read plan (changes on config reload).
    pub plan: watch::Receiver<Arc<ColumnPlan>>,
    /// Where to send events.
    pub events: mpsc::Sender<SourceEvent>,
    /// Cancelled at shutdown: finish the input in hand, then return.
    pub shutdown: CancellationToken,
    /// The shared throttle for source messages.
    pub log: SourceLog,
}

impl SourceContext {
    /// Sends rows and waits until the daemon has applied them and recorded the
    /// checkpoint. Returns their summary, or `None` if the daemon is gone
    /// (shutting down).
    pub async fn deliver(
        &self,
        batches: Vec<Batch>,
        parse_seconds: f64,
        plan: Arc<ColumnPlan>,
        checkpoint: Option<CheckpointUpdate>,
    ) -> Option<Summary> {
        let summary = Summary::of(&batches);
        let (ack, done) = oneshot::channel();
        let event = SourceEvent::Delivery(Delivery {
            source: self.label.clone(),
            plan,
            batches,
            summary: summary.clone(),
            parse_seconds,
            checkpoint,
            ack: Some(ack),
        });
        if self.events.send(event).await.is_err() {
            return None;
        }
        done.await.ok().map(|()| summary)
    }

    /// Reports an input that cannot be used (the daemon logs and counts it) and
    /// waits for it to be recorded. Returns false if the daemon is gone.
    pub async fn report_error(
        &self,
        reason: SourceErrorReason,
        message: String,
        checkpoint: Option<CheckpointUpdate>,
    ) -> bool {
        let (ack, done) = oneshot::channel();
        let event = SourceEvent::Error {
            source: self.label.clone(),
            reason,
            message,
            checkpoint,
            ack: Some(ack),
        };
        if self.events.send(event).await.is_err() {
            return false;
        }
        done.await.is_ok()
    }

    /// Logs a message about this source (not about an input it reports: the
    /// daemon logs those), keyed by its text, through the shared throttle.
    pub fn say(&self, level: Level, message: &str) {
        self.log.log(level, &self.label, message, message);
    }
}

/// Where [`spawn`] puts what it starts.
pub struct Started<'a> {
    /// Tasks of the sources that run on their own (the file sources).
    pub tasks: &'a mut JoinSet<()>,
    /// The `POST /ingest` handler the server answers with (at most one).
    pub ingest: &'a OnceLock<http::HttpSource>,
}

/// Starts the source `config` describes, resuming from `checkpoints`.
pub fn spawn(
    config: &SourceConfig,
    ctx: SourceContext,
    checkpoints: &Checkpoints,
    started: &mut Started<'_>,
) {
    match config {
        SourceConfig::Directory(c) => {
            let processed = checkpoints.processed_files(&ctx.label);
            started
                .tasks
                .spawn(directory::run(c.clone(), ctx, processed));
        }
        SourceConfig::Tail(c) => {
            let start = checkpoints.tail_position(&ctx.label);
            started.tasks.spawn(tail::run(c.clone(), ctx, start));
        }
        SourceConfig::Http(_) => {
            // The config allows one http source (validated).
            let _ = started.ingest.set(http::HttpSource::new(ctx));
        }
    }
}

/// What the source tests share: a real [`SourceContext`] over a one-column plan,
/// and a bounded stop.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::{mpsc, watch};
    use tokio_util::sync::CancellationToken;

    use super::{SourceContext, SourceEvent, SourceLog};
    use crate::data::{ColumnPlan, Kind};

    /// How long a test waits for a source to do something.
    pub(crate) const WITHIN: Duration = Duration::from_secs(5);
    /// How long a test waits to be sure nothing more comes.
    pub(crate) const QUIET: Duration = Duration::from_millis(400);

    /// A context labelled `label` whose plan has one numeric column `x`, the
    /// receiving end of its events and its shutdown token.
    pub(crate) fn context(
        label: String,
    ) -> (
        SourceContext,
        mpsc::Receiver<SourceEvent>,
        CancellationToken,
    ) {
        let (tx, rx) = mpsc::channel(16);
        let plan = Arc::new(ColumnPlan::new([("x".into(), Kind::Numeric)]));
        let (_plan_tx, plan_rx) = watch::channel(plan);
        let shutdown = CancellationToken::new();
        let ctx = SourceContext {
            label: label.into(),
            plan: plan_rx,
            events: tx,
            shutdown: shutdown.clone(),
            log: SourceLog::default(),
        };
        (ctx, rx, shutdown)
    }

    /// Cancels `shutdown` and asserts the source task returns within [`WITHIN`].
    pub(crate) async fn stop(
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        shutdown.cancel();
        tokio::time::timeout(WITHIN, task)
            .await
            .map_err(|e| format!("run stops on shutdown: {e}"))?
            .map_err(|e| format!("the source task does not panic: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_holds_back_repeats() {
        let mut throttle = LogThrottle::new(Duration::from_secs(60));
        assert_eq!(throttle.admit("a"), Some(0));
        assert_eq!(throttle.admit("a"), None);
        assert_eq!(throttle.admit("b"), Some(0));
        let mut fast = LogThrottle::new(Duration::ZERO);
        assert_eq!(fast.admit("a"), Some(0));
        assert_eq!(fast.admit("a"), Some(0));
    }
}
