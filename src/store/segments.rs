//! The window snapshot as segment files and a manifest: each row is written
//! once, so a snapshot costs what arrived since the last one, not the window.
//!
//! The folder `<state>.window/` holds:
//! - `segment-<n>.arrow`: Arrow IPC files laid out as [`snapshot::to_record_batch`]
//!   lays them out (the plan's columns, the arrival time and the [`Role`] of
//!   each row), each written once by the snapshot numbered `n` with the rows
//!   that were not saved before;
//! - `manifest.json`: the runs of rows that make up the state, in order (a
//!   segment, the first row, how many rows, whose rows), and the metadata
//!   (checkpoints, newest event time), replaced atomically.
//!
//! The manifest's rename is the commit: a snapshot writes its segment first,
//! then the manifest, then deletes the segments no run names any more (so a
//! crash between the two leaves a segment no manifest names, deleted by the
//! next snapshot). A chunk of the window ([`ChunkView`]) keeps pointing at the
//! rows written for it while rows leave its front; a chunk whose content
//! changes takes a new id and is written again. The label join's pending
//! predictions (bounded by `labels.max_pending`) are written again at every
//! snapshot; its joined rows are chunks like the window's.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{AsArray, Int64Array};
use arrow::datatypes::Int64Type;
use serde::{Deserialize, Serialize};

use super::snapshot::{self, Role, SnapshotError, ARRIVAL_COLUMN};
use crate::data::{Batch, ColumnPlan};
use crate::labels::LabelJoin;
use crate::window::{ChunkView, Pushed, Window};

/// The manifest's file name in the folder.
pub const MANIFEST: &str = "manifest.json";
/// The manifest format this build writes and reads.
const FORMAT_VERSION: u32 = 1;

/// The manifest: what the state is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Manifest {
    /// [`FORMAT_VERSION`].
    version: u32,
    /// Runs of rows, in the order they are put back.
    runs: Vec<Run>,
    /// The checkpoints and the newest event time ([`super::Store::snapshot`]).
    metadata: HashMap<String, String>,
}

/// Consecutive rows of one segment with one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Run {
    role: Role,
    segment: u64,
    offset: usize,
    rows: usize,
}

/// Where the rows of a chunk are written: row `r` of the chunk (counting the
/// rows that left its front) is row `offset + r - base` of `segment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    segment: u64,
    offset: usize,
    base: usize,
}

/// A part of the saved state read back.
#[derive(Debug)]
pub struct SavedPart {
    /// Whose rows.
    pub role: Role,
    /// When they arrived.
    pub arrived: SystemTime,
    /// The rows, laid out by the plan they were read with.
    pub batch: Batch,
    /// The segment and its first row, when read from segments (not from an
    /// older single-file snapshot).
    pub at: Option<(u64, usize)>,
}

/// The saved state read back: its parts in order and its metadata.
#[derive(Debug, Default)]
pub struct Saved {
    /// Window rows, pending predictions and joined rows, in the order saved.
    pub parts: Vec<SavedPart>,
    /// The metadata saved with them.
    pub metadata: HashMap<String, String>,
}

impl Saved {
    /// Rows of the window's parts.
    pub fn window_rows(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| p.role == Role::Window)
            .map(|p| p.batch.rows)
            .sum()
    }
}

impl From<snapshot::SavedWindow> for Saved {
    fn from(old: snapshot::SavedWindow) -> Saved {
        let with = |role: Role, parts: Vec<(SystemTime, Batch)>| {
            parts.into_iter().map(move |(arrived, batch)| SavedPart {
                role,
                arrived,
                batch,
                at: None,
            })
        };
        let parts = with(Role::Window, old.parts)
            .chain(with(Role::Pending, old.pending))
            .chain(with(Role::Joined, old.joined))
            .collect();
        Saved {
            parts,
            metadata: old.metadata,
        }
    }
}

/// The segments written so far and which chunk's rows are where.
#[derive(Debug)]
pub struct Segments {
    dir: PathBuf,
    held: HashMap<(Role, u64), Held>,
    next_segment: u64,
}

/// One snapshot's writes, made on the loop by [`Segments::prepare`] and run
/// on the blocking pool ([`SegmentWrite::run`]).
#[derive(Debug)]
pub struct SegmentWrite {
    dir: PathBuf,
    plan: Arc<ColumnPlan>,
    segment: u64,
    /// The rows not saved before, in the segment's order.
    new_parts: Vec<(Role, SystemTime, Batch)>,
    manifest: Manifest,
    /// The older single-file snapshot, deleted once the manifest is written.
    legacy: PathBuf,
}

/// What a snapshot will have saved once its write succeeds
/// ([`Segments::commit`]).
#[derive(Debug)]
pub struct Written {
    held: HashMap<(Role, u64), Held>,
    segment: u64,
    /// Rows the snapshot writes.
    pub new_rows: usize,
}

fn segment_name(n: u64) -> String {
    format!("segment-{n:08}.arrow")
}

fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("segment-")?
        .strip_suffix(".arrow")?
        .parse()
        .ok()
}

impl Segments {
    /// The segments of `dir` (which need not exist): the next snapshot
    /// takes a number above every segment there.
    pub fn open(dir: &Path) -> Segments {
        let newest = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| segment_number(&e.file_name().to_string_lossy()))
            .max();
        Segments {
            dir: dir.to_path_buf(),
            held: HashMap::new(),
            next_segment: newest.map_or(1, |n| n + 1),
        }
    }

    /// Records that the chunk `pushed` (of `role`) holds the rows of a part
    /// read from `at` (a segment and its first row), so the next snapshot
    /// does not write them again.
    pub fn hold(&mut self, role: Role, pushed: Option<Pushed>, at: Option<(u64, usize)>) {
        if let (Some(pushed), Some((segment, offset))) = (pushed, at) {
            let held = Held {
                segment,
                offset: offset + pushed.skipped,
                base: 0,
            };
            self.held.insert((role, pushed.id), held);
        }
    }

    /// The writes of a snapshot of `window` and `join` with `metadata`: the
    /// chunks not written before go to a new segment, the others are named
    /// where they are. `legacy` (a single-file snapshot of an earlier
    /// version) is deleted once the manifest is written.
    pub fn prepare(
        &self,
        window: &Window,
        join: &LabelJoin,
        metadata: HashMap<String, String>,
        legacy: PathBuf,
    ) -> (SegmentWrite, Written) {
        let segment = self.next_segment;
        let mut plan = Planner {
            old: &self.held,
            segment,
            runs: Vec::new(),
            new_parts: Vec::new(),
            new_rows: 0,
            held: HashMap::new(),
        };
        for chunk in window.chunks() {
            plan.chunk(Role::Window, chunk);
        }
        for (arrived, batch) in join.pending_parts() {
            plan.new_rows(Role::Pending, arrived, batch);
        }
        for chunk in join.joined_chunks() {
            plan.chunk(Role::Joined, chunk);
        }
        let write = SegmentWrite {
            dir: self.dir.clone(),
            plan: window.plan().clone(),
            segment,
            new_parts: plan.new_parts,
            manifest: Manifest {
                version: FORMAT_VERSION,
                runs: plan.runs,
                metadata,
            },
            legacy,
        };
        let written = Written {
            held: plan.held,
            segment,
            new_rows: plan.new_rows,
        };
        (write, written)
    }

    /// Takes what a snapshot saved, once its [`SegmentWrite::run`] succeeded.
    pub fn commit(&mut self, written: Written) {
        self.held = written.held;
        self.next_segment = self.next_segment.max(written.segment + 1);
    }
}

/// Lays out one snapshot ([`Segments::prepare`]).
struct Planner<'a> {
    old: &'a HashMap<(Role, u64), Held>,
    segment: u64,
    runs: Vec<Run>,
    new_parts: Vec<(Role, SystemTime, Batch)>,
    new_rows: usize,
    held: HashMap<(Role, u64), Held>,
}

impl Planner<'_> {
    fn chunk(&mut self, role: Role, chunk: ChunkView<'_>) {
        let key = (role, chunk.id());
        let start = chunk.start();
        let (segment, offset) = match self.old.get(&key) {
            Some(h) if start >= h.base => {
                let offset = h.offset + (start - h.base);
                self.run(role, h.segment, offset, chunk.live());
                (h.segment, offset)
            }
            _ => (
                self.segment,
                self.new_rows(role, chunk.arrived(), chunk.part()),
            ),
        };
        let held = Held {
            segment,
            offset,
            base: start,
        };
        self.held.insert(key, held);
    }

    /// Adds rows to the new segment; returns their first row there.
    fn new_rows(&mut self, role: Role, arrived: SystemTime, batch: Batch) -> usize {
        let offset = self.new_rows;
        self.new_rows += batch.rows;
        self.run(role, self.segment, offset, batch.rows);
        self.new_parts.push((role, arrived, batch));
        offset
    }

    fn run(&mut self, role: Role, segment: u64, offset: usize, rows: usize) {
        if rows == 0 {
            return;
        }
        if let Some(last) = self.runs.last_mut() {
            if last.role == role && last.segment == segment && last.offset + last.rows == offset {
                last.rows += rows;
                return;
            }
        }
        self.runs.push(Run {
            role,
            segment,
            offset,
            rows,
        });
    }
}

impl SegmentWrite {
    /// Writes the new segment (if any rows are new), then the manifest, then
    /// deletes the segments no run names and the older single-file
    /// snapshot. Blocking.
    pub fn run(self) -> Result<(), SnapshotError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SnapshotError::Io { path, source }
        };
        if !self.new_parts.is_empty() {
            let path = self.dir.join(segment_name(self.segment));
            snapshot::write_parts(&path, &self.plan, &self.new_parts, HashMap::new())?;
        }
        let manifest_path = self.dir.join(MANIFEST);
        let json = serde_json::to_vec(&self.manifest).map_err(|e| SnapshotError::Io {
            path: manifest_path.clone(),
            source: std::io::Error::other(e),
        })?;
        super::write_atomically(&manifest_path, &json).map_err(io(&manifest_path))?;
        let named: HashSet<u64> = self.manifest.runs.iter().map(|r| r.segment).collect();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let unnamed =
                segment_number(&name.to_string_lossy()).is_some_and(|n| !named.contains(&n));
            if unnamed {
                if let Err(e) = std::fs::remove_file(entry.path()) {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot delete a window segment no longer used");
                }
            }
        }
        match std::fs::remove_file(&self.legacy) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %self.legacy.display(), error = %e, "cannot delete the older window snapshot")
            }
        }
        Ok(())
    }
}

/// Reads the state saved in `dir` (its manifest and the segments it names),
/// laid out by `plan`; `None` when there is no manifest. Everything is read
/// before anything is returned, so an error leaves nothing half restored.
pub fn read(dir: &Path, plan: &ColumnPlan) -> Result<Option<Saved>, SnapshotError> {
    let manifest_path = dir.join(MANIFEST);
    let json = match std::fs::read(&manifest_path) {
        Ok(json) => json,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Io {
                path: manifest_path,
                source,
            })
        }
    };
    let invalid = |message: String| SnapshotError::Io {
        path: manifest_path.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    };
    let manifest: Manifest = serde_json::from_slice(&json).map_err(|e| invalid(e.to_string()))?;
    if manifest.version != FORMAT_VERSION {
        return Err(invalid(format!(
            "manifest format version {} (this build reads {FORMAT_VERSION})",
            manifest.version
        )));
    }
    let mut segments: HashMap<u64, (Batch, Int64Array)> = HashMap::new();
    let mut saved = Saved {
        parts: Vec::new(),
        metadata: manifest.metadata,
    };
    for run in manifest.runs {
        let (batch, arrivals) = match segments.entry(run.segment) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(read_segment(&dir.join(segment_name(run.segment)), plan)?)
            }
        };
        if run.offset.saturating_add(run.rows) > batch.rows {
            return Err(invalid(format!(
                "rows {}..{} of {} which has {} rows",
                run.offset,
                run.offset.saturating_add(run.rows),
                segment_name(run.segment),
                batch.rows
            )));
        }
        // One part per arrival time, as the window's chunks were.
        let mut start = run.offset;
        let end = run.offset + run.rows;
        while start < end {
            let ms = arrivals.value(start);
            let mut stop = start + 1;
            while stop < end && arrivals.value(stop) == ms {
                stop += 1;
            }
            saved.parts.push(SavedPart {
                role: run.role,
                arrived: UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
                batch: batch.slice(start, stop - start),
                at: Some((run.segment, start)),
            });
            start = stop;
        }
    }
    Ok(Some(saved))
}

/// A segment's rows (laid out by `plan`) and their arrival times.
fn read_segment(path: &Path, plan: &ColumnPlan) -> Result<(Batch, Int64Array), SnapshotError> {
    let arrow = |source| SnapshotError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(arrow)?;
    let schema = reader.schema();
    let records = reader.collect::<Result<Vec<_>, _>>().map_err(arrow)?;
    let record = arrow::compute::concat_batches(&schema, &records).map_err(arrow)?;
    let arrivals = record
        .column_by_name(ARRIVAL_COLUMN)
        .and_then(|a| a.as_primitive_opt::<Int64Type>())
        .cloned()
        .ok_or_else(|| {
            arrow(arrow::error::ArrowError::SchemaError(format!(
                "no {ARRIVAL_COLUMN} column"
            )))
        })?;
    Ok((Batch::from_record_batch(&record, plan), arrivals))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::data::ColumnArray;
    use crate::window::test_support::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    /// What `Store::open` does: the saved rows pushed into an empty window.
    fn restore(
        dir: &Path,
        size: usize,
        duration: Option<Duration>,
        plan: &Arc<ColumnPlan>,
    ) -> Result<(Window, Segments), SnapshotError> {
        let mut segments = Segments::open(dir);
        let mut window = Window::new(size, duration, plan.clone());
        if let Some(saved) = read(dir, plan)? {
            if let Some(t) = saved.metadata.get("newest").and_then(|t| t.parse().ok()) {
                window.restore_newest_event_time(t);
            }
            for part in saved.parts {
                let pushed = window.push(&part.batch, plan, part.arrived);
                segments.hold(part.role, pushed, part.at);
            }
        }
        Ok((window, segments))
    }

    /// What `Store::snapshot` does; returns the rows written.
    fn snapshot(
        dir: &Path,
        segments: &mut Segments,
        window: &Window,
    ) -> Result<usize, SnapshotError> {
        let join = LabelJoin::disabled(window.plan().clone());
        let mut metadata = HashMap::new();
        if let Some(t) = window.newest_event_time() {
            metadata.insert("newest".to_string(), t.to_string());
        }
        let (write, written) = segments.prepare(window, &join, metadata, dir.join("old.arrow"));
        let rows = written.new_rows;
        write.run()?;
        segments.commit(written);
        Ok(rows)
    }

    /// Each segment file's number and rows.
    fn files(dir: &Path) -> Result<Vec<(u64, usize)>, Box<dyn std::error::Error>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().to_string();
            if let Some(n) = segment_number(&name) {
                let plan = plan();
                out.push((n, read_segment(&dir.join(&name), &plan)?.0.rows));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every live row: arrival (ms), x, and the event time when planned.
    fn rows(w: &Window) -> Vec<(u128, f64, Option<f64>)> {
        let mut out = Vec::new();
        for (arrived, part) in w.parts() {
            let ms = arrived
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let column = |i: usize| match part.columns.get(i) {
                Some(Some(ColumnArray::Numeric(a))) => Some(a.clone()),
                _ => None,
            };
            let (x, ts) = (column(0), column(2));
            for row in 0..part.rows {
                let x = x.as_ref().map_or(f64::NAN, |a| a.value(row));
                let ts = ts
                    .as_ref()
                    .and_then(|a| arrow::array::Array::is_valid(a, row).then(|| a.value(row)));
                out.push((ms, x, ts));
            }
        }
        out
    }

    #[test]
    fn each_row_is_written_once_and_segments_go_with_their_rows() -> TestResult {
        let dir = tempfile::tempdir()?;
        let p = plan();
        let (mut w, mut segments) = restore(dir.path(), 5, None, &p)?;
        w.push(&batch(0..4), &p, at(1));
        assert_eq!(snapshot(dir.path(), &mut segments, &w)?, 4);
        // Two rows leave the first chunk's front: only the new rows are written.
        w.push(&batch(4..7), &p, at(2));
        assert_eq!(snapshot(dir.path(), &mut segments, &w)?, 3);
        assert_eq!(files(dir.path())?, vec![(1, 4), (2, 3)]);
        // Nothing new: nothing written, and the manifest names the same rows.
        assert_eq!(snapshot(dir.path(), &mut segments, &w)?, 0);
        let (back, mut back_segments) = restore(dir.path(), 5, None, &p)?;
        assert_eq!(live_x(&back)?, vec![2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(rows(&back), rows(&w));
        // A restored window is known to be saved: its next snapshot writes nothing.
        assert_eq!(snapshot(dir.path(), &mut back_segments, &back)?, 0);
        // Once every row of a segment has left, the segment is deleted.
        w.push(&batch(7..12), &p, at(3));
        assert_eq!(snapshot(dir.path(), &mut segments, &w)?, 5);
        assert_eq!(files(dir.path())?, vec![(4, 5)]);
        let (back, _) = restore(dir.path(), 5, None, &p)?;
        assert_eq!(live_x(&back)?, vec![7.0, 8.0, 9.0, 10.0, 11.0]);
        Ok(())
    }

    #[test]
    fn a_segment_no_manifest_names_is_deleted_and_not_reused() -> TestResult {
        let dir = tempfile::tempdir()?;
        let p = plan();
        let (mut w, mut segments) = restore(dir.path(), 10, None, &p)?;
        w.push(&batch(0..3), &p, at(1));
        snapshot(dir.path(), &mut segments, &w)?;
        // A crash after a segment was written but before its manifest.
        std::fs::write(dir.path().join(segment_name(7)), b"half written")?;
        let (mut back, mut segments) = restore(dir.path(), 10, None, &p)?;
        assert_eq!(live_x(&back)?, vec![0.0, 1.0, 2.0]);
        back.push(&batch(3..5), &p, at(2));
        assert_eq!(snapshot(dir.path(), &mut segments, &back)?, 2);
        assert_eq!(files(dir.path())?, vec![(1, 3), (8, 2)]);
        Ok(())
    }

    #[test]
    fn an_older_single_file_snapshot_is_replaced_by_the_first_snapshot() -> TestResult {
        let dir = tempfile::tempdir()?;
        let p = plan();
        let mut old = Window::new(10, None, p.clone());
        old.push(&batch(0..3), &p, at(1));
        let legacy = dir.path().join("old.arrow");
        snapshot::write(
            &legacy,
            &old,
            &LabelJoin::disabled(p.clone()),
            HashMap::new(),
        )?;
        let saved = Saved::from(snapshot::read(&legacy, &p)?.ok_or("the file exists")?);
        assert_eq!((saved.window_rows(), saved.parts[0].at), (3, None));
        let mut w = Window::new(10, None, p.clone());
        let mut segments = Segments::open(dir.path());
        for part in &saved.parts {
            let pushed = w.push(&part.batch, &p, part.arrived);
            segments.hold(part.role, pushed, part.at);
        }
        // Not held in any segment: the first snapshot writes every row.
        assert_eq!(snapshot(dir.path(), &mut segments, &w)?, 3);
        assert!(!legacy.exists());
        let (back, _) = restore(dir.path(), 10, None, &p)?;
        assert_eq!(rows(&back), rows(&old));
        Ok(())
    }

    #[test]
    fn a_bad_manifest_is_an_error_naming_it() -> TestResult {
        let dir = tempfile::tempdir()?;
        let p = plan();
        let (mut w, mut segments) = restore(dir.path(), 10, None, &p)?;
        w.push(&batch(0..3), &p, at(1));
        snapshot(dir.path(), &mut segments, &w)?;
        let manifest = dir.path().join(MANIFEST);
        let json = std::fs::read_to_string(&manifest)?;
        std::fs::write(&manifest, json.replace("\"version\":1", "\"version\":99"))?;
        let err = read(dir.path(), &p)
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(
            err.contains("manifest.json") && err.contains("version 99"),
            "{err}"
        );
        std::fs::write(&manifest, json.replace("\"rows\":3", "\"rows\":30"))?;
        let err = read(dir.path(), &p)
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(
            err.contains("segment-00000001.arrow which has 3 rows"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join(segment_name(1)))?;
        let err = read(dir.path(), &p)
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(err.contains("segment-00000001.arrow"), "{err}");
        Ok(())
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Rows with these event-time offsets (None: no timestamp), one
        /// second after the previous push.
        Push(Vec<Option<u8>>),
        Snapshot,
        Restart,
        Expire,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => prop::collection::vec(prop::option::weighted(0.9, any::<u8>()), 1..12).prop_map(Op::Push),
            2 => Just(Op::Snapshot),
            1 => Just(Op::Restart),
            1 => Just(Op::Expire),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// After any pushes, evictions (by size, by arrival or by event
        /// time, rows in or out of order), snapshots and restarts, a
        /// restart restores exactly the window's rows, each snapshot writes
        /// at most the rows that arrived since the last one (when nothing
        /// can reorder a chunk), and the folder holds only the segments the
        /// manifest names.
        #[test]
        fn a_restart_restores_the_rows_and_snapshots_write_only_what_is_new(
            ops in prop::collection::vec(op(), 1..40),
            size in 1usize..30,
            timed in any::<bool>(),
            ordered in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let dir = dir.path();
            let p = if timed { timed_plan() } else { plan() };
            let duration = Some(Duration::from_secs(40));
            let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
            let (mut w, mut segments) = restore(dir, size, duration, &p).map_err(|e| fail(&e))?;
            let (mut clock, mut newest_ts, mut since) = (1_000u64, 1_000.0, 0usize);
            for op in ops {
                match op {
                    Op::Push(offsets) => {
                        clock += 1;
                        let rows: Vec<(f64, Option<f64>)> = offsets
                            .iter()
                            .enumerate()
                            .map(|(i, o)| {
                                // In order: every row stamped, each newer than the last.
                                let ts = if ordered {
                                    Some(newest_ts + i as f64)
                                } else {
                                    o.map(|o| 900.0 + o as f64)
                                };
                                (clock as f64 * 100.0 + i as f64, ts)
                            })
                            .collect();
                        newest_ts += offsets.len() as f64;
                        let b = if timed { timed_batch(&rows) } else {
                            let start = (clock * 100) as i32;
                            batch(start..start + rows.len() as i32)
                        };
                        since += b.rows;
                        w.push(&b, &p, at(clock));
                    }
                    Op::Snapshot => {
                        let written = snapshot(dir, &mut segments, &w).map_err(|e| fail(&e))?;
                        if !timed || ordered {
                            prop_assert!(written <= since, "wrote {written} rows, {since} arrived");
                        }
                        since = 0;
                        let manifest: Manifest = serde_json::from_slice(
                            &std::fs::read(dir.join(MANIFEST)).map_err(|e| fail(&e))?,
                        ).map_err(|e| fail(&e))?;
                        let named: std::collections::BTreeSet<u64> =
                            manifest.runs.iter().map(|r| r.segment).collect();
                        let present: std::collections::BTreeSet<u64> = files(dir)
                            .map_err(|e| fail(&*e))?
                            .into_iter()
                            .map(|(n, _)| n)
                            .collect();
                        prop_assert_eq!(named, present);
                    }
                    Op::Restart => {
                        snapshot(dir, &mut segments, &w).map_err(|e| fail(&e))?;
                        since = 0;
                        let (back, back_segments) = restore(dir, size, duration, &p).map_err(|e| fail(&e))?;
                        prop_assert_eq!(rows(&back), rows(&w));
                        w = back;
                        segments = back_segments;
                    }
                    Op::Expire => {
                        clock += 30;
                        w.evict_expired(at(clock));
                    }
                }
            }
        }
    }
}
