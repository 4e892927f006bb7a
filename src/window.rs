//! The sliding window: the last `size` rows (and, optionally, only rows younger
//! than `duration`), held as zero-copy slices of the batches they arrived in.
//!
//! Pushing a batch appends it and evicts the oldest rows beyond `size`; evicting by
//! age drops whole batches older than `duration` (rows carry their batch's arrival
//! time). [`Window::samples`] summarises the live rows per column for the
//! evaluator: categorical counts by one pass, numeric values by one pass and one
//! sort per column (about a millisecond for 10,000 rows), so a score is always
//! computed over exactly the rows the window holds. The window can be saved to and
//! restored from an Arrow IPC file, so a restart resumes with the same rows.

use std::collections::VecDeque;
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
}

impl Chunk {
    fn live(&self) -> usize {
        self.rows - self.start
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
        let columns = remap(&batch.columns, batch_plan, &self.plan);
        // Only the last `size` rows of an oversized batch can ever be live.
        let start = batch.rows.saturating_sub(self.size);
        self.chunks.push_back(Chunk {
            arrived,
            start,
            rows: batch.rows,
            columns,
        });
        self.rows += batch.rows - start;
        self.evict_to_size();
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

    /// Drops rows that arrived before `now - duration`. Returns true if any left.
    pub fn evict_expired(&mut self, now: SystemTime) -> bool {
        let Some(duration) = self.duration else {
            return false;
        };
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

    /// Saves the live rows to an Arrow IPC file (atomically).
    pub fn save(&self, path: &Path) -> Result<(), WindowError> {
        let name = path.display().to_string();
        let batch = self
            .to_record_batch()
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
    /// kind; a missing file restores nothing. Returns the rows restored.
    pub fn restore(&mut self, path: &Path) -> Result<usize, WindowError> {
        let name = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(WindowError::Io { path: name, source }),
        };
        let arrow_err = |source| WindowError::Arrow {
            path: name.clone(),
            source,
        };
        let reader = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(arrow_err)?;
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
            let columns: Vec<Option<ColumnArray>> = self
                .plan
                .iter()
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
                .collect();
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
        Ok(restored)
    }
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

    fn plan() -> Arc<ColumnPlan> {
        Arc::new(ColumnPlan::new([
            ("x".to_string(), Kind::Numeric),
            ("c".to_string(), Kind::Categorical),
        ]))
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

    fn live_x(w: &Window) -> Vec<f64> {
        let rb = w.to_record_batch().unwrap();
        rb.column(0).as_primitive::<Float64Type>().values().to_vec()
    }

    #[test]
    fn keeps_the_last_size_rows() {
        let p = plan();
        let mut w = Window::new(5, None, p.clone());
        w.push(&batch(0..3), &p, SystemTime::now());
        w.push(&batch(3..7), &p, SystemTime::now());
        assert_eq!(w.rows(), 5);
        assert_eq!(live_x(&w), vec![2.0, 3.0, 4.0, 5.0, 6.0]);
        w.push(&batch(7..20), &p, SystemTime::now());
        assert_eq!(live_x(&w), vec![15.0, 16.0, 17.0, 18.0, 19.0]);
    }

    #[test]
    fn evicts_by_age() {
        let p = plan();
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        let now = SystemTime::now();
        w.push(&batch(0..3), &p, now - Duration::from_secs(120));
        w.push(&batch(3..5), &p, now);
        assert!(w.evict_expired(now));
        assert_eq!(live_x(&w), vec![3.0, 4.0]);
        assert!(!w.evict_expired(now));
    }

    #[test]
    fn save_and_restore_give_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("window.arrow");
        let p = plan();
        let mut w = Window::new(6, None, p.clone());
        w.push(&batch(0..4), &p, UNIX_EPOCH + Duration::from_secs(10));
        w.push(&batch(4..8), &p, UNIX_EPOCH + Duration::from_secs(20));
        w.save(&path).unwrap();
        let mut back = Window::new(6, None, p.clone());
        assert_eq!(back.restore(&path).unwrap(), 6);
        assert_eq!(live_x(&back), live_x(&w));
        assert_eq!(
            back.to_record_batch().unwrap(),
            w.to_record_batch().unwrap()
        );
        let mut none = Window::new(6, None, p);
        assert_eq!(none.restore(&dir.path().join("missing.arrow")).unwrap(), 0);
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
