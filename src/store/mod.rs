//! Durability: the window and the sources' checkpoints survive a restart, and a
//! crash (`SIGKILL`, an OOM kill) loses neither rows nor input positions.
//!
//! Three things beside each other, named after the state file:
//! - the folder `<state>.window/`, the window snapshot ([`segments`]): the
//!   window's rows (and the late-label join's pending predictions and joined
//!   rows) in segment files written once each, and a manifest of the rows
//!   that make up the state with the checkpoints, replaced atomically every
//!   `state.snapshot_interval` and at shutdown (a snapshot writes the rows
//!   that arrived since the last one); an older `<state>.window.arrow` (one
//!   file, [`snapshot`]) is read when there is no manifest, and deleted by the
//!   first snapshot;
//! - `<state>.journal`, the [`journal`]: every delivery appended before it is
//!   counted (and before an HTTP request is answered), emptied after each
//!   snapshot;
//! - `<state>` itself, the [`checkpoints`] as readable JSON (the fallback when
//!   the snapshot is gone).
//!
//! [`Store::open`] restores the snapshot and replays the journal, which rebuilds
//! the window and the checkpoints of the moment the process stopped; the sources
//! then resume from those checkpoints. The daemon appends each delivery with
//! [`Store::append`] and calls [`Store::snapshot`] on its timer; the snapshot's
//! file writes run on the blocking pool, not on the event loop's thread.

pub mod checkpoints;
pub mod journal;
pub mod segments;
pub mod snapshot;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use checkpoints::{CheckpointUpdate, Checkpoints, CheckpointsError};
pub use journal::{Journal, JournalError};
pub use snapshot::SnapshotError;

use crate::data::{Batch, ColumnPlan};
use crate::labels::{self, LabelJoin};
use crate::window::Window;
use segments::{Saved, Segments};
use snapshot::Role;

/// A journal larger than this asks for a snapshot at once (between the
/// `state.snapshot_interval` ticks).
const JOURNAL_LIMIT: u64 = 64 << 20;
/// The window file's metadata key that holds the checkpoints as JSON.
const CHECKPOINTS_METADATA: &str = "drift_exporter.state";
/// Schema metadata key of the window's newest event time (Unix seconds).
const NEWEST_EVENT_TIME_METADATA: &str = "drift_exporter.newest_event_time";

/// Errors that keep the store from opening.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state file is unreadable.
    #[error(transparent)]
    Checkpoints(#[from] CheckpointsError),
    /// The journal is unreadable or cannot be opened for appending.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The files that go with a state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePaths {
    /// The state file (checkpoints as JSON).
    pub state: PathBuf,
    /// The window snapshot's folder (segments and manifest).
    pub segments: PathBuf,
    /// The single-file window snapshot of earlier versions (read when there
    /// is no manifest).
    pub window: PathBuf,
    /// The journal.
    pub journal: PathBuf,
}

impl StorePaths {
    /// `state`, `<state>.window/`, `<state>.window.arrow` (extension
    /// replaced) and `<state>.journal`.
    pub fn new(state: &Path) -> StorePaths {
        StorePaths {
            state: state.to_path_buf(),
            segments: state.with_extension("window"),
            window: state.with_extension("window.arrow"),
            journal: state.with_extension("journal"),
        }
    }
}

/// The open store: the journal being appended to and the checkpoints it has
/// recorded.
#[derive(Debug)]
pub struct Store {
    paths: StorePaths,
    journal: Journal,
    checkpoints: Checkpoints,
    /// Where the saved rows are.
    segments: Segments,
    /// The last journal append failed (logged once until one succeeds).
    journal_failing: bool,
    /// Something was appended since the last snapshot.
    unsaved: bool,
}

/// What [`Store::open`] rebuilt.
#[derive(Debug)]
pub struct Restored {
    /// The window of the last run's end.
    pub window: Window,
    /// The late-label join of the last run's end.
    pub join: LabelJoin,
    /// The store, open for appending.
    pub store: Store,
    /// Journal entries replayed on top of the snapshot (a snapshot is due when
    /// there were any, so the journal starts empty).
    pub replayed: usize,
}

impl Store {
    /// Restores `window` and `join` (empty, with the plan and limits to use)
    /// from the snapshot, replays the journal on top, and opens the journal for
    /// appending. Blocking: the daemon runs it on the blocking pool.
    pub fn open(
        paths: StorePaths,
        mut window: Window,
        mut join: LabelJoin,
    ) -> Result<Restored, StoreError> {
        let plan = window.plan().clone();
        let mut segments = Segments::open(&paths.segments);
        let saved = match segments::read(&paths.segments, &plan) {
            Ok(Some(saved)) => Some(saved),
            Ok(None) => match snapshot::read(&paths.window, &plan) {
                Ok(saved) => saved.map(Saved::from),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot restore the window; starting empty");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot restore the window; starting empty");
                None
            }
        };
        let mut from_snapshot = None;
        if let Some(saved) = saved {
            let newest = saved.metadata.get(NEWEST_EVENT_TIME_METADATA);
            if let Some(newest) = newest.and_then(|t| t.parse::<f64>().ok()) {
                window.restore_newest_event_time(newest);
            }
            let rows = saved.window_rows();
            for part in &saved.parts {
                let (batch, arrived) = (&part.batch, part.arrived);
                match part.role {
                    Role::Window => {
                        let pushed = window.push(batch, &plan, arrived);
                        segments.hold(Role::Window, pushed, part.at);
                    }
                    Role::Pending => join.restore_pending(batch, &plan, arrived),
                    Role::Joined => {
                        let pushed = join.restore_joined(batch, &plan, arrived);
                        segments.hold(Role::Joined, pushed, part.at);
                    }
                }
            }
            if rows > 0 {
                tracing::info!(rows, "window restored from the last snapshot");
            }
            from_snapshot = saved
                .metadata
                .get(CHECKPOINTS_METADATA)
                .and_then(|json| match serde_json::from_str::<Checkpoints>(json) {
                    Ok(checkpoints) => Some(checkpoints),
                    Err(e) => {
                        tracing::warn!(error = %e, "the window snapshot's checkpoints are unreadable; using the state file");
                        None
                    }
                });
        }
        let mut checkpoints = match from_snapshot {
            Some(checkpoints) => checkpoints,
            None => Checkpoints::load(&paths.state)?,
        };
        let replay = Journal::read(&paths.journal, checkpoints.journal_seq, &plan)?;
        if replay.dropped_bytes > 0 {
            tracing::warn!(
                journal = %paths.journal.display(),
                bytes = replay.dropped_bytes,
                "the journal ends with an incomplete entry (the process stopped while writing it); its rows are read again from their source"
            );
        }
        let replayed = replay.entries.len();
        for entry in replay.entries {
            for batch in &entry.batches {
                labels::absorb(&mut window, &mut join, batch, &plan, entry.arrived);
            }
            if let Some(update) = entry.checkpoint {
                checkpoints.apply(&entry.source, update);
            }
            checkpoints.journal_seq = entry.seq;
        }
        if replayed > 0 {
            tracing::info!(
                entries = replayed,
                window_rows = window.rows(),
                "journal replayed: the window and checkpoints are those of the last run's end"
            );
        }
        let last_seq = replay.last_seq.max(checkpoints.journal_seq);
        let journal = Journal::open(&paths.journal, replay.valid_len, last_seq)?;
        Ok(Restored {
            window,
            join,
            store: Store {
                paths,
                journal,
                checkpoints,
                segments,
                journal_failing: false,
                unsaved: false,
            },
            replayed,
        })
    }

    /// The checkpoints recorded so far (sources read their start from them).
    pub fn checkpoints(&self) -> &Checkpoints {
        &self.checkpoints
    }

    /// The state file.
    pub fn state_path(&self) -> &Path {
        &self.paths.state
    }

    /// True when something was appended since the last snapshot.
    pub fn has_unsaved(&self) -> bool {
        self.unsaved
    }

    /// Appends one delivery (its `batches`, read with `plan`, possibly none) to
    /// the journal and records its checkpoint. Call it before the delivery is
    /// counted or acknowledged. A failure is logged (once until an append
    /// succeeds): the rows are still in the window, and the next snapshot saves
    /// them. Returns true when the journal is large enough that a snapshot is due
    /// now.
    pub fn append(
        &mut self,
        source: &str,
        arrived: SystemTime,
        plan: &ColumnPlan,
        batches: &[Batch],
        checkpoint: Option<CheckpointUpdate>,
    ) -> bool {
        match self
            .journal
            .append(source, arrived, plan, batches, checkpoint.as_ref())
        {
            Ok(seq) => {
                self.checkpoints.journal_seq = seq;
                self.journal_failing = false;
            }
            Err(e) => {
                if !self.journal_failing {
                    tracing::error!(error = %e, "cannot append to the journal; until the next snapshot a crash loses the newest rows");
                }
                self.journal_failing = true;
            }
        }
        if let Some(update) = checkpoint {
            self.checkpoints.apply(source, update);
        }
        self.unsaved = true;
        self.journal.len() > JOURNAL_LIMIT
    }

    /// Saves the rows that arrived since the last snapshot (a new segment)
    /// and a manifest of the window with the checkpoints (one atomic rename),
    /// and the state file, on the blocking pool; then empties the journal, whose
    /// entries the snapshot now holds. Failures are logged: the journal keeps the
    /// rows until the next snapshot.
    pub async fn snapshot(&mut self, window: &Window, join: &LabelJoin) {
        let mut metadata = HashMap::new();
        match serde_json::to_string(&self.checkpoints) {
            Ok(json) => {
                metadata.insert(CHECKPOINTS_METADATA.to_string(), json);
            }
            Err(e) => tracing::error!(error = %e, "cannot encode the checkpoints"),
        }
        if let Some(newest) = window.newest_event_time() {
            // Rows without a timestamp are aged against it: a restore that
            // lost it could age them by the clock instead.
            metadata.insert(NEWEST_EVENT_TIME_METADATA.to_string(), newest.to_string());
        }
        // The chunks not saved before share the window's Arrow arrays; the
        // join's pending predictions are gathered here, once.
        let legacy = self.paths.window.clone();
        let (write, written) = self.segments.prepare(window, join, metadata, legacy);
        let (checkpoints, state_path) = (self.checkpoints.clone(), self.paths.state.clone());
        let wrote = tokio::task::spawn_blocking(move || {
            let window = write.run();
            // The state file: a readable copy, and the fallback when the window
            // snapshot is gone.
            let state = checkpoints.save(&state_path);
            (window, state)
        })
        .await;
        let (window, state) = match wrote {
            Ok(results) => results,
            Err(e) => {
                tracing::error!(error = %e, "the snapshot task failed; the journal keeps the rows until the next snapshot");
                return;
            }
        };
        if window.is_ok() {
            tracing::debug!(rows = written.new_rows, "window snapshot written");
            self.segments.commit(written);
        }
        match window {
            Ok(()) => {
                self.unsaved = false;
                if let Err(e) = self.journal.reset() {
                    tracing::error!(error = %e, "cannot empty the journal; it keeps growing until the next snapshot");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot save the window; the journal keeps the rows until the next snapshot")
            }
        }
        if let Err(e) = state {
            tracing::error!(error = %e, "cannot save the state file");
        }
    }
}

/// Writes `bytes` to `path` through a temp file and a rename, so a crash leaves
/// either the old or the new content.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::store::checkpoints::TailPosition;
    use crate::window::test_support::{batch, live_x, plan};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn position(offset: u64) -> CheckpointUpdate {
        CheckpointUpdate::Tail(TailPosition {
            dev: 1,
            ino: 2,
            offset,
            line: offset,
        })
    }

    fn open(paths: &StorePaths) -> Result<Restored, StoreError> {
        Store::open(
            paths.clone(),
            Window::new(100, None, plan()),
            LabelJoin::disabled(plan()),
        )
    }

    #[tokio::test]
    async fn appends_survive_a_crash_and_a_snapshot_empties_the_journal() -> TestResult {
        let dir = tempfile::tempdir()?;
        let paths = StorePaths::new(&dir.path().join("state.json"));
        assert_eq!(paths.window, dir.path().join("state.window.arrow"));
        assert_eq!(paths.segments, dir.path().join("state.window"));
        assert_eq!(paths.journal, dir.path().join("state.journal"));
        let Restored {
            mut window,
            mut store,
            replayed,
            ..
        } = open(&paths)?;
        assert_eq!((window.rows(), replayed), (0, 0));
        let t = UNIX_EPOCH + Duration::from_secs(1_000);
        for (i, rows) in [0..3, 3..5].into_iter().enumerate() {
            let b = batch(rows);
            window.push(&b, &plan(), t);
            let due = store.append("tail:a", t, &plan(), &[b], Some(position(i as u64 + 1)));
            assert!(!due, "a small journal asks for no snapshot");
        }
        assert!(store.has_unsaved());
        // A crash: the store is dropped without a snapshot.
        drop(store);
        let back = open(&paths)?;
        assert_eq!(back.replayed, 2);
        assert_eq!(live_x(&back.window)?, live_x(&window)?);
        assert_eq!(
            back.store.checkpoints().tail_position("tail:a"),
            Some(TailPosition {
                dev: 1,
                ino: 2,
                offset: 2,
                line: 2
            })
        );
        // A snapshot folds the journal in: the next start replays nothing.
        let mut store = back.store;
        store.snapshot(&back.window, &back.join).await;
        assert!(!store.has_unsaved());
        assert_eq!(std::fs::metadata(&paths.journal)?.len(), 0);
        assert!(paths.segments.join(segments::MANIFEST).exists());
        let state: Checkpoints = serde_json::from_slice(&std::fs::read(&paths.state)?)?;
        assert_eq!(&state, store.checkpoints());
        drop(store);
        let again = open(&paths)?;
        assert_eq!(again.replayed, 0);
        assert_eq!(live_x(&again.window)?, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(again.store.checkpoints(), &state);
        Ok(())
    }

    #[tokio::test]
    async fn a_restored_event_time_window_ages_untimed_rows_as_before() -> TestResult {
        use crate::window::test_support::{sorted_x, timed_batch, timed_plan};
        let dir = tempfile::tempdir()?;
        let paths = StorePaths::new(&dir.path().join("state.json"));
        let p = timed_plan();
        let open = || {
            let window = Window::new(4, Some(Duration::from_secs(60)), p.clone());
            Store::open(paths.clone(), window, LabelJoin::disabled(p.clone()))
        };
        let Restored {
            mut window,
            mut store,
            join,
            ..
        } = open()?;
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        // A row without a timestamp (aged as arrived at 1,140), a stamped row
        // that sets the newest event time, then one that pushes it out.
        window.push(&timed_batch(&[(1.0, None)]), &p, at(1_140));
        window.push(
            &timed_batch(&[(2.0, Some(1_000.0)), (3.0, None)]),
            &p,
            at(1_201),
        );
        window.push(&timed_batch(&[(4.0, Some(1_067.0))]), &p, at(1_100));
        assert_eq!(sorted_x(&window)?, vec![1.0, 3.0, 4.0]);
        store.snapshot(&window, &join).await;
        drop(store);
        let back = open()?;
        assert_eq!(back.window.newest_event_time(), Some(1_067.0));
        assert_eq!(
            sorted_x(&back.window)?,
            vec![1.0, 3.0, 4.0],
            "the untimed row is aged against 1,067 again, not the clock"
        );
        Ok(())
    }

    #[tokio::test]
    async fn pending_predictions_and_joined_labels_survive_a_crash_and_a_snapshot() -> TestResult {
        use crate::labels::test_support as l;
        let dir = tempfile::tempdir()?;
        let paths = StorePaths::new(&dir.path().join("state.json"));
        let labels = l::config(3600, 100);
        let open = || {
            let window = Window::new(100, None, l::plan());
            Store::open(paths.clone(), window, l::join(&labels, 100))
        };
        let Restored {
            mut window,
            mut join,
            mut store,
            ..
        } = open()?;
        let p = l::plan();
        let deliveries = [
            vec![l::prediction(1.0, 0.9, "a"), l::prediction(2.0, 0.2, "b")],
            vec![l::label("b", "0"), l::prediction(3.0, 0.7, "c")],
        ];
        for (i, rows) in deliveries.iter().enumerate() {
            let b = l::batch(rows);
            labels::absorb(&mut window, &mut join, &b, &p, l::at(i as u64));
            store.append("http", l::at(i as u64), &p, &[b], None);
        }
        let expect = |join: &LabelJoin| (join.pending(), l::joined(join));
        let before = expect(&join);
        assert_eq!(before, (2, vec![(0.2, "0".to_string())]));
        // A crash: the journal rebuilds the join.
        drop(store);
        let back = open()?;
        assert_eq!((back.replayed, expect(&back.join)), (2, before.clone()));
        assert_eq!(live_x(&back.window)?, vec![1.0, 2.0, 3.0]);
        // A snapshot holds it, with an empty journal.
        let mut store = back.store;
        store.snapshot(&back.window, &back.join).await;
        drop(store);
        let again = open()?;
        assert_eq!((again.replayed, expect(&again.join)), (0, before));
        Ok(())
    }

    #[tokio::test]
    async fn an_older_single_file_window_is_restored_then_replaced_by_segments() -> TestResult {
        let dir = tempfile::tempdir()?;
        let paths = StorePaths::new(&dir.path().join("state.json"));
        // What an earlier version left: one file with the rows and checkpoints.
        let mut old = Window::new(100, None, plan());
        old.push(&batch(0..4), &plan(), UNIX_EPOCH + Duration::from_secs(5));
        let mut checkpoints = Checkpoints::default();
        checkpoints.apply("tail:a", position(9));
        let metadata = HashMap::from([(
            CHECKPOINTS_METADATA.to_string(),
            serde_json::to_string(&checkpoints)?,
        )]);
        snapshot::write(&paths.window, &old, &LabelJoin::disabled(plan()), metadata)?;
        let back = open(&paths)?;
        assert_eq!(live_x(&back.window)?, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(back.store.checkpoints(), &checkpoints);
        let mut store = back.store;
        store.snapshot(&back.window, &back.join).await;
        assert!(!paths.window.exists(), "the single file is replaced");
        assert!(paths.segments.join(segments::MANIFEST).exists());
        drop(store);
        let again = open(&paths)?;
        assert_eq!(live_x(&again.window)?, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(again.store.checkpoints(), &checkpoints);
        Ok(())
    }

    #[test]
    fn an_unreadable_state_file_is_an_error_naming_it() -> TestResult {
        let dir = tempfile::tempdir()?;
        let paths = StorePaths::new(&dir.path().join("state.json"));
        std::fs::write(&paths.state, "{not json")?;
        let err = open(&paths).err().ok_or("expected an error")?.to_string();
        assert!(err.contains("state.json"), "{err}");
        Ok(())
    }
}
