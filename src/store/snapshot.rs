//! The window snapshot: the window's live rows in one Arrow IPC file, with the
//! arrival time of each row and, in the schema's metadata, the checkpoints the
//! rows came with, so rows and input positions change in one atomic rename.
//!
//! Columns are the plan's (`Float64` numeric, `Utf8` categorical; a column a
//! batch lacked is null), plus [`ARRIVAL_COLUMN`] (milliseconds since the Unix
//! epoch) and [`ROLE_COLUMN`]: the same file holds the late-label join's
//! pending predictions and joined rows ([`crate::labels`]), so they change in
//! the same rename. Reading gives the rows back as one batch per arrival time, laid out by
//! the plan read with (columns matched by name and kind), for the
//! [`Store`](super::Store) to push into an empty window.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, Int8Array};
use arrow::datatypes::{DataType, Field, Int64Type, Int8Type, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::data::{batch::null_array, Batch, ColumnPlan};
use crate::labels::LabelJoin;
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

/// Name of the column that says what a saved row is ([`Role`]); a file
/// without it holds window rows only.
pub const ROLE_COLUMN: &str = "__drift_exporter_role";

/// What a saved row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A row of the window.
    Window = 0,
    /// A prediction waiting for its label ([`crate::labels`]).
    Pending = 1,
    /// A prediction joined to its late label.
    Joined = 2,
}

impl Role {
    fn of(code: i8) -> Option<Role> {
        match code {
            0 => Some(Role::Window),
            1 => Some(Role::Pending),
            2 => Some(Role::Joined),
            _ => None,
        }
    }
}

/// A snapshot read back.
#[derive(Debug, Default)]
pub struct SavedWindow {
    /// The window's rows, oldest first, one batch per arrival time.
    pub parts: Vec<(SystemTime, Batch)>,
    /// The pending predictions of the label join, oldest first.
    pub pending: Vec<(SystemTime, Batch)>,
    /// The rows joined to their late labels, oldest first.
    pub joined: Vec<(SystemTime, Batch)>,
    /// The schema metadata it was saved with.
    pub metadata: HashMap<String, String>,
}

impl SavedWindow {
    /// Rows in the window's parts.
    pub fn rows(&self) -> usize {
        self.parts.iter().map(|(_, b)| b.rows).sum()
    }
}

/// Everything a snapshot saves, in order: the window's rows, then the join's
/// pending predictions and joined rows (the window's and the joined rows'
/// arrays are shared, not copied).
pub fn saved_parts(window: &Window, join: &LabelJoin) -> Vec<(Role, SystemTime, Batch)> {
    let window_parts = window.parts().map(|(t, b)| (Role::Window, t, b));
    let pending = join
        .pending_parts()
        .into_iter()
        .map(|(t, b)| (Role::Pending, t, b));
    let joined = join.joined_parts().map(|(t, b)| (Role::Joined, t, b));
    window_parts.chain(pending).chain(joined).collect()
}

/// `parts` as one record batch: the plan's columns as `Float64`/`Utf8`, plus
/// the arrival time in milliseconds and the [`Role`] of each row.
pub fn to_record_batch(
    plan: &ColumnPlan,
    parts: &[(Role, SystemTime, Batch)],
) -> Result<RecordBatch, ArrowError> {
    let mut fields = Vec::with_capacity(plan.len() + 2);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(plan.len() + 2);
    for (i, (name, kind)) in plan.iter().enumerate() {
        let pieces: Vec<ArrayRef> = parts
            .iter()
            .map(
                |(_, _, b)| match b.columns.get(i).and_then(Option::as_ref) {
                    Some(column) => column.to_array_ref(),
                    None => null_array(kind, b.rows),
                },
            )
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
        .flat_map(|(_, arrived, b)| {
            let ms = arrived
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            std::iter::repeat_n(ms, b.rows)
        })
        .collect();
    let roles: Int8Array = parts
        .iter()
        .flat_map(|(role, _, b)| std::iter::repeat_n(*role as i8, b.rows))
        .collect();
    fields.push(Field::new(ARRIVAL_COLUMN, DataType::Int64, false));
    arrays.push(Arc::new(arrivals));
    fields.push(Field::new(ROLE_COLUMN, DataType::Int8, false));
    arrays.push(Arc::new(roles));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Saves the window's live rows and the label join's state to `path`
/// (atomically, one file), with `metadata` in the schema. Blocking: the store
/// runs it on the blocking pool.
pub fn write(
    path: &Path,
    window: &Window,
    join: &LabelJoin,
    metadata: HashMap<String, String>,
) -> Result<(), SnapshotError> {
    write_parts(path, window.plan(), &saved_parts(window, join), metadata)
}

/// Saves `parts` (from [`saved_parts`], laid out by `plan`) to `path`
/// (atomically), with `metadata` in the schema. Blocking.
pub fn write_parts(
    path: &Path,
    plan: &ColumnPlan,
    parts: &[(Role, SystemTime, Batch)],
    metadata: HashMap<String, String>,
) -> Result<(), SnapshotError> {
    let arrow = |source| SnapshotError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let batch = to_record_batch(plan, parts).map_err(arrow)?;
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
        metadata: reader.schema().as_ref().metadata().clone().into(),
        ..SavedWindow::default()
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
        let roles = record
            .column_by_name(ROLE_COLUMN)
            .and_then(|a| a.as_primitive_opt::<Int8Type>())
            .cloned();
        let role = |row: usize| {
            roles
                .as_ref()
                .map_or(Some(Role::Window), |r| Role::of(r.value(row)))
        };
        let batch = Batch::from_record_batch(&record, plan);
        // Rows of one role and arrival time become one part (one window chunk)
        // again.
        let mut start = 0;
        while start < batch.rows {
            let (ms, kind) = (arrivals.value(start), role(start));
            let mut end = start + 1;
            while end < batch.rows && arrivals.value(end) == ms && role(end) == kind {
                end += 1;
            }
            let arrived = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
            let part = (arrived, batch.slice(start, end - start));
            match kind {
                Some(Role::Window) => saved.parts.push(part),
                Some(Role::Pending) => saved.pending.push(part),
                Some(Role::Joined) => saved.joined.push(part),
                // A role from a newer version: not ours to restore.
                None => {}
            }
            start = end;
        }
    }
    Ok(Some(saved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::test_support::*;

    /// The window's own rows as a record batch.
    fn record(window: &Window) -> Result<RecordBatch, ArrowError> {
        let parts: Vec<_> = window.parts().map(|(t, b)| (Role::Window, t, b)).collect();
        to_record_batch(window.plan(), &parts)
    }

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
        write(&path, &w, &LabelJoin::disabled(p.clone()), metadata.clone())?;
        let saved = read(&path, &p)?.ok_or("the snapshot exists")?;
        assert_eq!((saved.rows(), &saved.metadata), (6, &metadata));
        let mut back = Window::new(6, None, p.clone());
        restore(&mut back, &saved);
        assert_eq!(live_x(&back)?, live_x(&w)?);
        assert_eq!(record(&back)?, record(&w)?);
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
        write(&path, &w, &LabelJoin::disabled(p.clone()), HashMap::new())?;
        let mut back = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        let saved = read(&path, &p)?.ok_or("the snapshot exists")?;
        assert_eq!(saved.rows(), 2);
        restore(&mut back, &saved);
        back.push(&timed_batch(&[(7.0, Some(1120.0))]), &p, now);
        assert_eq!(sorted_x(&back)?, vec![6.0, 7.0]);
        Ok(())
    }
}
