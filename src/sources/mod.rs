//! Where batches come from: a watched directory ([`directory`]), a tailed
//! JSON-lines file ([`tail`]) and `POST /ingest` (in [`crate::server`]).
//!
//! Every source parses its input with [`crate::data`] using the current
//! [`ColumnPlan`] and sends [`SourceEvent`]s to the daemon over one channel. A
//! batch carries the checkpoint it completes; the daemon applies the batch to the
//! window first, then records the checkpoint, then acknowledges. A source never
//! advances its own position before that acknowledgement, so a stop at any moment
//! neither loses nor repeats a batch (at-least-once at worst, when the process is
//! killed between the window update and the state write).

pub mod directory;
pub mod tail;
mod wakeup;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::data::{Batch, ColumnPlan};
use crate::state::CheckpointUpdate;

/// Rows parsed by a source, ready for the window.
#[derive(Debug)]
pub struct SourceBatch {
    /// The `source` label (`directory:<path>`, `tail:<path>`, `http`).
    pub source: Arc<str>,
    /// The plan the batches were parsed with (the daemon remaps if it changed).
    pub plan: Arc<ColumnPlan>,
    /// Parsed rows, with their rejections.
    pub batches: Vec<Batch>,
    /// Seconds spent reading and parsing (for `drift_batch_processing_seconds`).
    pub parse_seconds: f64,
    /// The checkpoint these rows complete.
    pub checkpoint: Option<CheckpointUpdate>,
    /// Answered once the rows are in the window and the checkpoint is saved.
    pub ack: Option<oneshot::Sender<()>>,
}

/// What sources tell the daemon.
#[derive(Debug)]
pub enum SourceEvent {
    /// Rows to add.
    Batch(SourceBatch),
    /// A whole file or body could not be read (counted in
    /// `drift_source_errors_total{source, reason}`). A checkpoint, if given, marks
    /// the input as dealt with so it is not retried forever.
    Error {
        /// The `source` label.
        source: Arc<str>,
        /// Short reason label (`unreadable`, `io`).
        reason: &'static str,
        /// The message, naming the file.
        message: String,
        /// The checkpoint the failed input completes.
        checkpoint: Option<CheckpointUpdate>,
        /// Answered once recorded.
        ack: Option<oneshot::Sender<()>>,
    },
}

/// What every source task gets.
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
}

impl SourceContext {
    /// Sends a batch and waits until the daemon has applied it and saved the
    /// checkpoint. Returns false if the daemon is gone (shutting down).
    pub async fn deliver(
        &self,
        batches: Vec<Batch>,
        parse_seconds: f64,
        plan: Arc<ColumnPlan>,
        checkpoint: Option<CheckpointUpdate>,
    ) -> bool {
        let (ack, done) = oneshot::channel();
        let event = SourceEvent::Batch(SourceBatch {
            source: self.label.clone(),
            plan,
            batches,
            parse_seconds,
            checkpoint,
            ack: Some(ack),
        });
        if self.events.send(event).await.is_err() {
            return false;
        }
        done.await.is_ok()
    }

    /// Reports an unreadable input and waits for it to be recorded.
    pub async fn report_error(
        &self,
        reason: &'static str,
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
}

/// What the source tests share: a real [`SourceContext`] over a one-column plan,
/// and a bounded stop.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::{mpsc, watch};
    use tokio_util::sync::CancellationToken;

    use super::{SourceContext, SourceEvent};
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
