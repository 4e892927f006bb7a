//! The window snapshot: the window's live rows in one Arrow IPC file, with the
//! arrival time of each row and, in the schema's metadata, the checkpoints the
//! rows came with, so rows and input positions change in one atomic rename.
//!
//! Columns are the plan's (`Float64` numeric, `Utf8` categorical; a column a
//! batch lacked is null), plus [`ARRIVAL_COLUMN`] (milliseconds since the Unix
//! epoch). Reading gives the rows back as one batch per arrival time, laid out by
//! the plan read with (columns matched by name and kind), for the
//! [`Store`](super::Store) to push into an empty window.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::data::{batch::null_array, Batch, ColumnPlan};
use crate::window::Window;

/// Name of the arrival-time column in a saved window.
pub const ARRIVAL_COLUMN: &str = "__drift_exporter_arrival_ms";

/// Errors saving or reading a window snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The window file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Arrow encoding or decoding failed.
    #[error("{path}: {source}")]
    Arrow {
        /// The window file.
        path: PathBuf,
        /// The Arrow error.
        source: ArrowError,
    },
}

/// A snapshot read back.
#[derive(Debug, Default)]
pub struct SavedWindow {
    /// The rows, oldest first, one batch per arrival time.
    pub parts: Vec<(SystemTime, Batch)>,
    /// The schema metadata it was saved with.
    pub metadata: HashMap<String, String>,
}

impl SavedWindow {
    /// Rows in all parts.
    pub fn rows(&self) -> usize {
        self.parts.iter().map(|(_, b)| b.rows).sum()
    }
}

/// The window's live rows as one record batch: the plan's columns as
/// `Float64`/`Utf8`, plus the arrival time in milliseconds.
pub fn to_record_batch(window: &Window) -> Result<RecordBatch, ArrowError> {
    let plan = window.plan();
    let parts: Vec<(SystemTime, Batch)> = window.parts().collect();
    let mut fields = Vec::with_capacity(plan.len() + 1);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(plan.len() + 1);
    for (i, (name, kind)) in plan.iter().enumerate() {
        let pieces: Vec<ArrayRef> = parts
            .iter()
            .map(|(_, b)| match b.columns.get(i).and_then(Option::as_ref) {
                Some(column) => column.to_array_ref(),
                None => null_array(kind, b.rows),
            })
            .collect();
        let array = if pieces.is_empty() {
            arrow::array::new_empty_array(&kind.arrow_type())
        } else {
            let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
            arrow::compute::concat(&refs)?
        };
        fields.push(Field::new(name, kind.arrow_type(), true));
        arrays.push(array);
    }
    let arrivals: Int64Array = parts
        .iter()
        .flat_map(|(arrived, b)| {
            let ms = arrived
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            std::iter::repeat_n(ms, b.rows)
        })
        .collect();
    fields.push(Field::new(ARRIVAL_COLUMN, DataType::Int64, false));
    arrays.push(Arc::new(arrivals));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Saves the window's live rows to `path` (atomically), with `metadata` in the
/// schema. Blocking: the store runs it on the blocking pool.
pub fn write(
    path: &Path,
    window: &Window,
    metadata: HashMap<String, String>,
) -> Result<(), SnapshotError> {
    let arrow = |source| SnapshotError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let batch = to_record_batch(window).map_err(arrow)?;
    let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
    let batch = batch.with_schema(schema).map_err(arrow)?;
    let mut bytes = Vec::new();
    {
        let mut writer =
            arrow::ipc::writer::FileWriter::try_new(&mut bytes, &batch.schema()).map_err(arrow)?;
        writer.write(&batch).map_err(arrow)?;
        writer.finish().map_err(arrow)?;
    }
    super::write_atomically(path, &bytes).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a snapshot written by [`write`], its rows laid out by `plan`; `None`
/// when there is no file.
pub fn read(path: &Path, plan: &ColumnPlan) -> Result<Option<SavedWindow>, SnapshotError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let arrow = |source| SnapshotError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let reader = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(arrow)?;
    let mut saved = SavedWindow {
        parts: Vec::new(),
        metadata: reader.schema().as_ref().metadata().clone().into(),
    };
    for record in reader {
        let record = record.map_err(arrow)?;
        let Some(arrivals) = record
            .column_by_name(ARRIVAL_COLUMN)
            .and_then(|a| a.as_primitive_opt::<Int64Type>())
            .cloned()
        else {
            continue;
        };
        let batch = Batch::from_record_batch(&record, plan);
        // Rows of one arrival time become one part (one window chunk) again.
        let mut start = 0;
        while start < batch.rows {
            let ms = arrivals.value(start);
            let mut end = start + 1;
            while end < batch.rows && arrivals.value(end) == ms {
                end += 1;
            }
            let arrived = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
            saved.parts.push((arrived, batch.slice(start, end - start)));
            start = end;
        }
    }
    Ok(Some(saved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::test_support::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// What `Store::open` does with a snapshot: push its parts into an empty window.
    fn restore(window: &mut Window, saved: &SavedWindow) {
        let plan = window.plan().clone();
        for (arrived, part) in &saved.parts {
            window.push(part, &plan, *arrived);
        }
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
        write(&path, &w, metadata.clone())?;
        let saved = read(&path, &p)?.ok_or("the snapshot exists")?;
        assert_eq!((saved.rows(), &saved.metadata), (6, &metadata));
        let mut back = Window::new(6, None, p.clone());
        restore(&mut back, &saved);
        assert_eq!(live_x(&back)?, live_x(&w)?);
        assert_eq!(to_record_batch(&back)?, to_record_batch(&w)?);
        assert!(read(&dir.path().join("missing.arrow"), &p)?.is_none());
        Ok(())
    }

    #[test]
    fn an_event_time_window_restores_its_rows_and_its_newest_time() -> TestResult {
        let p = timed_plan();
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
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
        w.push(
            &timed_batch(&[(5.0, Some(10.0)), (6.0, Some(1070.0))]),
            &p,
            now,
        );
        assert_eq!(sorted_x(&w)?, vec![3.0, 6.0]);
        // The saved window restores the same rows and the same newest time.
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("w.arrow");
        write(&path, &w, HashMap::new())?;
        let mut back = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        let saved = read(&path, &p)?.ok_or("the snapshot exists")?;
        assert_eq!(saved.rows(), 2);
        restore(&mut back, &saved);
        back.push(&timed_batch(&[(7.0, Some(1120.0))]), &p, now);
        assert_eq!(sorted_x(&back)?, vec![6.0, 7.0]);
        Ok(())
    }
}
