//! The sliding window: the last `size` rows (and, optionally, only rows younger
//! than `duration`), held as zero-copy slices of the batches they arrived in.
//!
//! Pushing a batch appends it and evicts the oldest rows beyond `size` (in arrival
//! order). Evicting by age keeps rows younger than `duration`, measured one of two
//! ways:
//! - **arrival time** (the default): rows carry their batch's arrival time, and a
//!   row leaves `duration` after it arrived;
//! - **event time**, when the plan has an event-time column (`[columns]
//!   timestamp`): a row leaves once it is more than `duration` older than the
//!   newest event time seen, capped at the current time so that one row stamped in
//!   the future cannot empty the window. Rows may arrive out of order; a row older
//!   than the cut-off on arrival is never in the window. A row whose timestamp is
//!   missing or unreadable is aged by its arrival time instead. Replaying old data
//!   therefore fills the window as it would have been filled live, and when input
//!   stops the window keeps its rows (the stale-input alert says so).
//!
//! [`Window::samples`] summarises the live rows per column for the
//! evaluator: categorical counts by one pass, numeric values by one pass and one
//! sort per column (about a millisecond for 10,000 rows), so a score is always
//! computed over exactly the rows the window holds. The window can be saved to and
//! restored from an Arrow IPC file, so a restart resumes with the same rows.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use crate::data::{Batch, ColumnArray, ColumnPlan, Kind, Rejects};
use crate::reference::ReferenceProfile;
use crate::sample::ColumnSample;

/// Name of the arrival-time column in a saved window.
const ARRIVAL_COLUMN: &str = "__drift_exporter_arrival_ms";

/// Errors saving or restoring a window.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The window file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Arrow encoding or decoding failed.
    #[error("{path}: {source}")]
    Arrow {
        /// The window file.
        path: String,
        /// The Arrow error.
        source: arrow::error::ArrowError,
    },
}

#[derive(Debug, Clone)]
struct Chunk {
    arrived: SystemTime,
    /// First live row.
    start: usize,
    rows: usize,
    columns: Vec<Option<ColumnArray>>,
    /// Each row's event time in Unix seconds (its arrival time when it has none),
    /// when the plan has an event-time column.
    times: Option<Vec<f64>>,
    /// A lower bound of the live rows' `times` (exact when computed).
    min_time: f64,
}

impl Chunk {
    fn live(&self) -> usize {
        self.rows - self.start
    }

    /// Keeps the live rows whose event time is at least `cutoff`; returns how many
    /// rows left.
    fn retain_since(&mut self, cutoff: f64) -> usize {
        let live = self.live();
        if self.min_time >= cutoff {
            return 0;
        }
        let Some(times) = &self.times else {
            // Rows without event times age by their arrival time, all together.
            self.start = self.rows;
            return live;
        };
        let keep: Vec<bool> = times[self.start..].iter().map(|&t| t >= cutoff).collect();
        let kept = keep.iter().filter(|&&k| k).count();
        if kept < live {
            let (start, rows) = (self.start, self.rows);
            self.columns = self
                .columns
                .iter()
                .map(|c| {
                    c.as_ref()
                        .map(|c| filter_rows(&c.slice(start, rows - start), &keep))
                })
                .collect();
            let times: Vec<f64> = times[start..]
                .iter()
                .zip(&keep)
                .filter_map(|(&t, &k)| k.then_some(t))
                .collect();
            self.min_time = times.iter().copied().fold(f64::INFINITY, f64::min);
            self.times = Some(times);
            self.start = 0;
            self.rows = kept;
        } else {
            self.min_time = times[self.start..]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
        }
        live - kept
    }
}

/// The rows of `column` where `keep` is true. (Written out rather than with
/// `arrow::compute::filter` because that returns a `Result` and a type-erased
/// array, and this cannot fail.)
fn filter_rows(column: &ColumnArray, keep: &[bool]) -> ColumnArray {
    match column {
        ColumnArray::Numeric(a) => ColumnArray::Numeric(
            a.iter()
                .zip(keep)
                .filter_map(|(v, &k)| k.then_some(v))
                .collect(),
        ),
        ColumnArray::Categorical(a) => ColumnArray::Categorical(
            a.iter()
                .zip(keep)
                .filter_map(|(v, &k)| k.then_some(v))
                .collect(),
        ),
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The rows currently compared with the reference.
#[derive(Debug, Clone)]
pub struct Window {
    size: usize,
    duration: Option<Duration>,
    plan: Arc<ColumnPlan>,
    chunks: VecDeque<Chunk>,
    rows: usize,
    /// The newest event time seen (Unix seconds), or -inf.
    newest: f64,
}

impl Window {
    /// An empty window over `plan`'s columns.
    pub fn new(size: usize, duration: Option<Duration>, plan: Arc<ColumnPlan>) -> Self {
        Window {
            size: size.max(1),
            duration,
            plan,
            chunks: VecDeque::new(),
            rows: 0,
            newest: f64::NEG_INFINITY,
        }
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The configured maximum.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The plan the window's columns follow.
    pub fn plan(&self) -> &Arc<ColumnPlan> {
        &self.plan
    }

    /// Changes the limits (config reload); evicts what no longer fits.
    pub fn set_limits(&mut self, size: usize, duration: Option<Duration>) {
        self.size = size.max(1);
        self.duration = duration;
        self.evict_to_size();
    }

    /// Adds a batch parsed with `batch_plan` (columns are matched by name and kind
    /// when it differs from the window's plan).
    pub fn push(&mut self, batch: &Batch, batch_plan: &ColumnPlan, arrived: SystemTime) {
        if batch.rows == 0 {
            return;
        }
        let mut columns = remap(&batch.columns, batch_plan, &self.plan);
        // Only the last `size` rows of an oversized batch can ever be live.
        let start = batch.rows.saturating_sub(self.size);
        let rows = batch.rows - start;
        if start > 0 {
            columns = columns
                .iter()
                .map(|c| c.as_ref().map(|c| c.slice(start, rows)))
                .collect();
        }
        let arrival = unix_seconds(arrived);
        let times = self.plan.time_column().map(|t| match columns.get(t) {
            Some(Some(ColumnArray::Numeric(a))) => {
                // Only real timestamps move the newest event time: a row aged by
                // its arrival time must not push replayed rows out.
                let stamped = a.iter().flatten().filter(|v| v.is_finite());
                self.newest = stamped.fold(self.newest, f64::max);
                a.iter()
                    .map(|v| v.filter(|v| v.is_finite()).unwrap_or(arrival))
                    .collect::<Vec<f64>>()
            }
            _ => vec![arrival; rows],
        });
        let min_time = times
            .as_ref()
            .map_or(arrival, |t| t.iter().copied().fold(f64::INFINITY, f64::min));
        self.chunks.push_back(Chunk {
            arrived,
            start: 0,
            rows,
            columns,
            times,
            min_time,
        });
        self.rows += rows;
        self.evict_to_size();
        if self.by_event_time() {
            self.evict_expired(arrived);
        }
    }

    /// True when rows age by their event time (see the module docs).
    pub fn by_event_time(&self) -> bool {
        self.duration.is_some() && self.plan.time_column().is_some()
    }

    fn evict_to_size(&mut self) {
        while self.rows > self.size {
            let excess = self.rows - self.size;
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.live() <= excess {
                self.rows -= front.live();
                self.chunks.pop_front();
            } else {
                front.start += excess;
                self.rows -= excess;
            }
        }
    }

    /// Drops rows older than `duration`: by arrival (rows that arrived before
    /// `now - duration`) or by event time (see the module docs). Returns true if
    /// any left.
    pub fn evict_expired(&mut self, now: SystemTime) -> bool {
        let Some(duration) = self.duration else {
            return false;
        };
        if self.by_event_time() {
            // With no timestamp seen yet, every row is aged by its arrival time.
            let now = unix_seconds(now);
            let newest = if self.newest.is_finite() {
                self.newest.min(now)
            } else {
                now
            };
            let cutoff = newest - duration.as_secs_f64();
            let mut left = 0;
            for chunk in &mut self.chunks {
                left += chunk.retain_since(cutoff);
            }
            self.chunks.retain(|c| c.live() > 0);
            self.rows -= left;
            return left > 0;
        }
        let Some(cutoff) = now.checked_sub(duration) else {
            return false;
        };
        let before = self.rows;
        while let Some(front) = self.chunks.front() {
            if front.arrived >= cutoff {
                break;
            }
            self.rows -= front.live();
            self.chunks.pop_front();
        }
        self.rows != before
    }

    /// Summaries of the live rows for every profile column (the profile must be
    /// the one the window's plan came from).
    pub fn samples(&self, profile: &ReferenceProfile) -> Vec<ColumnSample> {
        let mut samples: Vec<ColumnSample> =
            profile.columns.iter().map(ColumnSample::empty).collect();
        for chunk in &self.chunks {
            let live = chunk.live();
            for (i, (sample, column)) in samples.iter_mut().zip(&profile.columns).enumerate() {
                let array = chunk
                    .columns
                    .get(i)
                    .and_then(Option::as_ref)
                    .map(|a| a.slice(chunk.start, live));
                sample.absorb(column, array.as_ref(), live);
            }
        }
        samples.par_iter_mut().for_each(ColumnSample::finish);
        samples
    }

    /// Replaces the plan (reference reloaded): keeps columns whose name and kind
    /// are unchanged, the others become missing.
    pub fn replan(&mut self, plan: Arc<ColumnPlan>) {
        for chunk in &mut self.chunks {
            chunk.columns = remap(&chunk.columns, &self.plan, &plan);
        }
        self.plan = plan;
    }

    /// The live rows as one record batch (plan columns as Float64/Utf8, plus the
    /// arrival time in milliseconds).
    pub fn to_record_batch(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut fields = Vec::with_capacity(self.plan.len() + 1);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.plan.len() + 1);
        for (i, (name, kind)) in self.plan.iter().enumerate() {
            let parts: Vec<ArrayRef> = self
                .chunks
                .iter()
                .map(|c| match c.columns.get(i).and_then(Option::as_ref) {
                    Some(ColumnArray::Numeric(a)) => {
                        Arc::new(a.slice(c.start, c.live())) as ArrayRef
                    }
                    Some(ColumnArray::Categorical(a)) => {
                        Arc::new(a.slice(c.start, c.live())) as ArrayRef
                    }
                    None => match kind {
                        Kind::Numeric => Arc::new(Float64Array::new_null(c.live())) as ArrayRef,
                        Kind::Categorical => Arc::new(StringArray::new_null(c.live())) as ArrayRef,
                    },
                })
                .collect();
            let data_type = match kind {
                Kind::Numeric => DataType::Float64,
                Kind::Categorical => DataType::Utf8,
            };
            let array = if parts.is_empty() {
                arrow::array::new_empty_array(&data_type)
            } else {
                let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                arrow::compute::concat(&refs)?
            };
            fields.push(Field::new(name, data_type, true));
            arrays.push(array);
        }
        let arrivals: Int64Array = self
            .chunks
            .iter()
            .flat_map(|c| {
                let ms = c
                    .arrived
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                std::iter::repeat_n(ms, c.live())
            })
            .collect();
        fields.push(Field::new(ARRIVAL_COLUMN, DataType::Int64, false));
        arrays.push(Arc::new(arrivals));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }

    /// Saves the live rows to an Arrow IPC file (atomically), with `metadata` in
    /// its schema (the daemon keeps its checkpoints there, so that the rows and
    /// the input positions they came from are written in one rename).
    pub fn save(&self, path: &Path, metadata: HashMap<String, String>) -> Result<(), WindowError> {
        let name = path.display().to_string();
        let batch = self
            .to_record_batch()
            .map_err(|source| WindowError::Arrow {
                path: name.clone(),
                source,
            })?;
        let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
        let batch = batch
            .with_schema(schema)
            .map_err(|source| WindowError::Arrow {
                path: name.clone(),
                source,
            })?;
        let mut bytes = Vec::new();
        {
            let mut writer = arrow::ipc::writer::FileWriter::try_new(&mut bytes, &batch.schema())
                .map_err(|source| WindowError::Arrow {
                path: name.clone(),
                source,
            })?;
            writer.write(&batch).map_err(|source| WindowError::Arrow {
                path: name.clone(),
                source,
            })?;
            writer.finish().map_err(|source| WindowError::Arrow {
                path: name.clone(),
                source,
            })?;
        }
        crate::state::write_atomically(path, &bytes)
            .map_err(|source| WindowError::Io { path: name, source })
    }

    /// Restores rows saved by [`Window::save`]. Columns are matched by name and
    /// kind; a missing file restores nothing. Returns the rows restored and the
    /// saved metadata (`None` when there is no file).
    pub fn restore(
        &mut self,
        path: &Path,
    ) -> Result<(usize, Option<HashMap<String, String>>), WindowError> {
        let name = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, None)),
            Err(source) => return Err(WindowError::Io { path: name, source }),
        };
        let arrow_err = |source| WindowError::Arrow {
            path: name.clone(),
            source,
        };
        let reader = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(arrow_err)?;
        let metadata: HashMap<String, String> = reader.schema().as_ref().metadata().clone().into();
        let mut restored = 0;
        for batch in reader {
            let batch = batch.map_err(arrow_err)?;
            let Some(arrivals) = batch
                .column_by_name(ARRIVAL_COLUMN)
                .and_then(|a| a.as_primitive_opt::<Int64Type>())
                .cloned()
            else {
                continue;
            };
            let columns = columns_of(&batch, &self.plan);
            // Rows of one arrival time become one chunk again.
            let mut start = 0;
            while start < batch.num_rows() {
                let ms = arrivals.value(start);
                let mut end = start + 1;
                while end < batch.num_rows() && arrivals.value(end) == ms {
                    end += 1;
                }
                let part = Batch {
                    rows: end - start,
                    columns: columns
                        .iter()
                        .map(|c| c.as_ref().map(|c| c.slice(start, end - start)))
                        .collect(),
                    rejects: Rejects::default(),
                };
                let arrived = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
                let plan = self.plan.clone();
                self.push(&part, &plan, arrived);
                restored += end - start;
                start = end;
            }
        }
        Ok((restored, Some(metadata)))
    }
}

/// The plan's columns of a record batch written by [`record_batch_of`] (or a saved
/// window), matched by name and kind (`Float64` numeric, `Utf8` categorical).
pub(crate) fn columns_of(batch: &RecordBatch, plan: &ColumnPlan) -> Vec<Option<ColumnArray>> {
    plan.iter()
        .map(|(name, kind)| {
            let array = batch.column_by_name(name)?;
            match (kind, array.data_type()) {
                (Kind::Numeric, DataType::Float64) => Some(ColumnArray::Numeric(
                    array.as_primitive::<Float64Type>().clone(),
                )),
                (Kind::Categorical, DataType::Utf8) => {
                    Some(ColumnArray::Categorical(array.as_string::<i32>().clone()))
                }
                _ => None,
            }
        })
        .collect()
}

/// A batch's present columns as a record batch (`Float64` or `Utf8` fields named
/// as in `plan`), the inverse of [`columns_of`].
pub(crate) fn record_batch_of(
    batch: &Batch,
    plan: &ColumnPlan,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, (name, _)) in plan.iter().enumerate() {
        match batch.columns.get(i).and_then(Option::as_ref) {
            Some(ColumnArray::Numeric(a)) => {
                fields.push(Field::new(name, DataType::Float64, true));
                arrays.push(Arc::new(a.clone()));
            }
            Some(ColumnArray::Categorical(a)) => {
                fields.push(Field::new(name, DataType::Utf8, true));
                arrays.push(Arc::new(a.clone()));
            }
            None => {}
        }
    }
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.rows)),
    )
}

/// Re-orders `columns` (laid out by `from`) into `to`'s layout, by name; a column
/// whose kind changed, or that `from` lacks, becomes `None` (missing).
pub fn remap(
    columns: &[Option<ColumnArray>],
    from: &ColumnPlan,
    to: &ColumnPlan,
) -> Vec<Option<ColumnArray>> {
    if std::ptr::eq(from, to) {
        return columns.to_vec();
    }
    to.iter()
        .map(|(name, kind)| {
            let i = from.index_of(name)?;
            columns
                .get(i)
                .and_then(Option::as_ref)
                .filter(|c| c.kind() == kind)
                .cloned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn plan() -> Arc<ColumnPlan> {
        Arc::new(crate::data::test_plan())
    }

    fn batch(values: std::ops::Range<i32>) -> Batch {
        let x: Float64Array = values.clone().map(|v| Some(v as f64)).collect();
        let c: StringArray = values.map(|v| Some(format!("c{}", v % 3))).collect();
        Batch {
            rows: x.len(),
            columns: vec![
                Some(ColumnArray::Numeric(x)),
                Some(ColumnArray::Categorical(c)),
            ],
            rejects: Rejects::default(),
        }
    }

    fn live_x(w: &Window) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
        let rb = w.to_record_batch()?;
        Ok(rb.column(0).as_primitive::<Float64Type>().values().to_vec())
    }

    #[test]
    fn keeps_the_last_size_rows() -> TestResult {
        let p = plan();
        let mut w = Window::new(5, None, p.clone());
        w.push(&batch(0..3), &p, SystemTime::now());
        w.push(&batch(3..7), &p, SystemTime::now());
        assert_eq!(w.rows(), 5);
        assert_eq!(live_x(&w)?, vec![2.0, 3.0, 4.0, 5.0, 6.0]);
        w.push(&batch(7..20), &p, SystemTime::now());
        assert_eq!(live_x(&w)?, vec![15.0, 16.0, 17.0, 18.0, 19.0]);
        Ok(())
    }

    #[test]
    fn evicts_by_age() -> TestResult {
        let p = plan();
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        let now = SystemTime::now();
        w.push(&batch(0..3), &p, now - Duration::from_secs(120));
        w.push(&batch(3..5), &p, now);
        assert!(w.evict_expired(now));
        assert_eq!(live_x(&w)?, vec![3.0, 4.0]);
        assert!(!w.evict_expired(now));
        Ok(())
    }

    fn timed_plan() -> Arc<ColumnPlan> {
        Arc::new(
            ColumnPlan::new([
                ("x".to_string(), Kind::Numeric),
                ("c".to_string(), Kind::Categorical),
            ])
            .with_time_column("ts"),
        )
    }

    /// Rows `x` = value with event times `ts` (None: no timestamp).
    fn timed_batch(rows: &[(f64, Option<f64>)]) -> Batch {
        let x: Float64Array = rows.iter().map(|r| Some(r.0)).collect();
        let c: StringArray = rows.iter().map(|r| Some(format!("c{}", r.0))).collect();
        let ts: Float64Array = rows.iter().map(|r| r.1).collect();
        Batch {
            rows: rows.len(),
            columns: vec![
                Some(ColumnArray::Numeric(x)),
                Some(ColumnArray::Categorical(c)),
                Some(ColumnArray::Numeric(ts)),
            ],
            rejects: Rejects::default(),
        }
    }

    fn sorted_x(w: &Window) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
        let mut x = live_x(w)?;
        x.sort_by(f64::total_cmp);
        Ok(x)
    }

    #[test]
    fn event_time_keeps_rows_within_duration_of_the_newest() -> TestResult {
        let p = timed_plan();
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        assert!(w.by_event_time());
        // Out of order within and across batches.
        w.push(
            &timed_batch(&[(1.0, Some(1000.0)), (2.0, Some(900.0))]),
            &p,
            now,
        );
        w.push(
            &timed_batch(&[(3.0, Some(1050.0)), (4.0, Some(950.0))]),
            &p,
            now,
        );
        // newest = 1050, cut-off 990: rows at 900 and 950 left.
        assert_eq!(sorted_x(&w)?, vec![1.0, 3.0]);
        assert_eq!(w.rows(), 2);
        // A late row is never in the window; a newer one pushes 1000 out.
        w.push(
            &timed_batch(&[(5.0, Some(10.0)), (6.0, Some(1070.0))]),
            &p,
            now,
        );
        assert_eq!(sorted_x(&w)?, vec![3.0, 6.0]);
        // Time passing does not age rows: only newer timestamps do.
        assert!(!w.evict_expired(now + Duration::from_secs(3600)));
        assert_eq!(w.rows(), 2);
        // The saved window restores the same rows and the same newest time.
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("w.arrow");
        w.save(&path, HashMap::new())?;
        let mut back = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        assert_eq!(back.restore(&path)?.0, 2);
        back.push(&timed_batch(&[(7.0, Some(1120.0))]), &p, now);
        assert_eq!(sorted_x(&back)?, vec![6.0, 7.0]);
        Ok(())
    }

    #[test]
    fn event_time_from_the_future_is_capped_at_now() -> TestResult {
        let p = timed_plan();
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        w.push(&timed_batch(&[(1.0, Some(9_990.0))]), &p, now);
        w.push(&timed_batch(&[(2.0, Some(1e12))]), &p, now);
        assert_eq!(sorted_x(&w)?, vec![1.0, 2.0], "cut-off is now - 60 s");
        assert!(w.evict_expired(now + Duration::from_secs(100)));
        assert_eq!(sorted_x(&w)?, vec![2.0]);
        Ok(())
    }

    #[test]
    fn rows_without_timestamps_age_by_arrival() -> TestResult {
        let p = timed_plan();
        let t0 = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        // No timestamp seen yet: the cut-off follows the clock.
        w.push(&timed_batch(&[(1.0, None)]), &p, t0);
        assert!(w.evict_expired(t0 + Duration::from_secs(61)));
        assert_eq!(w.rows(), 0);
        // A row without a timestamp does not move the newest event time.
        w.push(&timed_batch(&[(2.0, Some(5_000.0))]), &p, t0);
        w.push(&timed_batch(&[(3.0, None), (4.0, Some(5_030.0))]), &p, t0);
        assert_eq!(sorted_x(&w)?, vec![2.0, 3.0, 4.0]);
        // A batch without the column at all is aged by arrival too.
        let mut plain = batch(10..12);
        plain.columns.push(None);
        w.push(&plain, &p, t0 - Duration::from_secs(6_000));
        assert!(w.evict_expired(t0));
        assert_eq!(
            sorted_x(&w)?,
            vec![2.0, 3.0, 4.0],
            "arrived before the cut-off"
        );
        w.push(
            &timed_batch(&[(5.0, Some(10_040.0))]),
            &p,
            t0 + Duration::from_secs(50),
        );
        assert_eq!(sorted_x(&w)?, vec![3.0, 5.0], "cut-off 9,980 passes 5,030");
        Ok(())
    }

    #[test]
    fn size_and_event_time_limits_work_together() -> TestResult {
        let p = timed_plan();
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut w = Window::new(3, Some(Duration::from_secs(60)), p.clone());
        let rows: Vec<(f64, Option<f64>)> = (0..10)
            .map(|i| (i as f64, Some(1000.0 + i as f64)))
            .collect();
        w.push(&timed_batch(&rows), &p, now);
        assert_eq!(sorted_x(&w)?, vec![7.0, 8.0, 9.0]);
        w.push(&timed_batch(&[(10.0, Some(1068.0))]), &p, now);
        assert_eq!(sorted_x(&w)?, vec![8.0, 9.0, 10.0]);
        w.push(&timed_batch(&[(11.0, Some(1070.0))]), &p, now);
        assert_eq!(
            sorted_x(&w)?,
            vec![10.0, 11.0],
            "1009 is older than 1070 - 60"
        );
        Ok(())
    }

    #[test]
    fn save_and_restore_give_the_same_rows() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("window.arrow");
        let p = plan();
        let mut w = Window::new(6, None, p.clone());
        w.push(&batch(0..4), &p, UNIX_EPOCH + Duration::from_secs(10));
        w.push(&batch(4..8), &p, UNIX_EPOCH + Duration::from_secs(20));
        let metadata = HashMap::from([("k".to_string(), "v".to_string())]);
        w.save(&path, metadata.clone())?;
        let mut back = Window::new(6, None, p.clone());
        assert_eq!(back.restore(&path)?, (6, Some(metadata)));
        assert_eq!(live_x(&back)?, live_x(&w)?);
        assert_eq!(back.to_record_batch()?, w.to_record_batch()?);
        let mut none = Window::new(6, None, p);
        assert_eq!(none.restore(&dir.path().join("missing.arrow"))?, (0, None));
        Ok(())
    }

    #[test]
    fn remap_matches_by_name_and_kind() {
        let from = plan();
        let to = ColumnPlan::new([
            ("c".to_string(), Kind::Categorical),
            ("x".to_string(), Kind::Categorical),
            ("new".to_string(), Kind::Numeric),
        ]);
        let b = batch(0..2);
        let out = remap(&b.columns, &from, &to);
        assert!(matches!(out[0], Some(ColumnArray::Categorical(_))));
        assert!(out[1].is_none(), "kind changed");
        assert!(out[2].is_none(), "absent");
    }
}
