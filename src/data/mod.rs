//! Bytes to Arrow arrays: Parquet, Arrow IPC (file and stream), CSV and NDJSON/JSON,
//! and the vocabulary every part of the daemon speaks about rows.
//!
//! Every reader takes a [`ColumnPlan`] (the columns the reference profile scores,
//! each with its [`Kind`]) and yields [`Batch`]es whose columns are normalised to
//! `Float64` (numeric) or `Utf8` (categorical) Arrow arrays in plan order. Only the
//! planned columns are decoded (Parquet projection). A value that cannot be used is
//! never fatal: it is rejected, flagged on its row with a [`RejectReason`] and
//! counted in [`Rejects`]; a whole file that cannot be read is a [`DataError`]
//! naming the file. The reference profile, `check` and every daemon source read
//! through this module.
//!
//! - [`plan`]: the [`ColumnPlan`] and [`Kind`];
//! - [`batch`]: [`Batch`] and [`ColumnArray`] (slice, remap, to and from Arrow
//!   record batches);
//! - [`rejects`]: [`RejectReason`] and [`Rejects`];
//! - the readers: `arrow_files` (Parquet, IPC), `text` (CSV, NDJSON, JSON),
//!   `json_row` and `convert` (cells to normalised arrays).

mod arrow_files;
pub mod batch;
mod convert;
mod guard;
mod json_row;
pub mod plan;
pub mod rejects;
mod text;

use std::path::{Path, PathBuf};

pub use arrow_files::{
    parquet_by_column, parquet_schema, parquet_schema_and_rows, read_ipc, read_parquet,
};
pub use batch::{remap, Batch, ColumnArray, Summary};
pub use plan::{ColumnPlan, Kind};
pub(crate) use rejects::RowFlags;
pub use rejects::{RejectReason, Rejects, MAX_ERROR_MESSAGES};
pub use text::{read_csv, read_json_document, read_ndjson};

/// Input formats, chosen by file extension or HTTP content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC, file or stream format (told apart by the magic bytes).
    ArrowIpc,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Ndjson,
    /// A JSON array of objects, or an object of column arrays.
    Json,
}

impl Format {
    /// The format of a file, by extension (case-insensitive).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Some(Format::Parquet),
            "arrow" | "ipc" | "feather" | "arrows" => Some(Format::ArrowIpc),
            "csv" => Some(Format::Csv),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format of an HTTP body by its `Content-Type` (parameters ignored).
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => {
                Some(Format::Ndjson)
            }
            "application/json" => Some(Format::Json),
            "text/csv" => Some(Format::Csv),
            "application/vnd.apache.arrow.stream" | "application/vnd.apache.arrow.file" => {
                Some(Format::ArrowIpc)
            }
            "application/vnd.apache.parquet" | "application/x-parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// A file or body that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The extension names no supported format.
    #[error("{path}: unsupported file type; expected .parquet, .arrow/.ipc, .csv, .ndjson/.jsonl or .json")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// Parquet decoding failed (truncated file, bad footer, unsupported encoding).
    #[error("{origin}: not a readable Parquet file: {source}")]
    Parquet {
        /// The file or body.
        origin: String,
        /// The decoder's error.
        source: parquet::errors::ParquetError,
    },
    /// Arrow IPC (or Arrow casting) failed.
    #[error("{origin}: not readable Arrow data: {source}")]
    Arrow {
        /// The file or body.
        origin: String,
        /// The decoder's error.
        source: arrow::error::ArrowError,
    },
    /// Anything else wrong with the content as a whole.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file or body.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// The two-column plan the unit tests share: `x` numeric, `c` categorical.
#[cfg(test)]
pub(crate) fn test_plan() -> ColumnPlan {
    ColumnPlan::new([
        ("x".to_string(), Kind::Numeric),
        ("c".to_string(), Kind::Categorical),
    ])
}

/// Origin text of a path, for messages.
pub(crate) fn origin_of(path: &Path) -> String {
    path.display().to_string()
}

/// Reads a whole file in the format its extension names.
pub fn read_path(path: &Path, plan: &ColumnPlan) -> Result<Vec<Batch>, DataError> {
    let format = Format::from_path(path).ok_or_else(|| DataError::UnsupportedFormat {
        path: path.to_path_buf(),
    })?;
    let origin = origin_of(path);
    match format {
        Format::Parquet => {
            let file = std::fs::File::open(path).map_err(|source| DataError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            read_parquet(file, plan, &origin)
        }
        _ => {
            let bytes = std::fs::read(path).map_err(|source| DataError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            read_bytes(bytes::Bytes::from(bytes), format, plan, &origin)
        }
    }
}

/// Reads the planned columns of a Parquet file batch by batch (see
/// `for_each_parquet_batch` of the Parquet reader): one batch held at a time.
pub fn for_each_parquet_batch(
    path: &Path,
    plan: &ColumnPlan,
    each: impl FnMut(Batch),
) -> Result<(), DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    arrow_files::for_each_parquet_batch(file, plan, &origin_of(path), each)
}

/// Reads an in-memory body (an HTTP request, a chunk of a tailed file).
pub fn read_bytes(
    bytes: bytes::Bytes,
    format: Format,
    plan: &ColumnPlan,
    origin: &str,
) -> Result<Vec<Batch>, DataError> {
    match format {
        Format::Parquet => read_parquet(bytes, plan, origin),
        Format::ArrowIpc => read_ipc(&bytes, plan, origin),
        Format::Csv => read_csv(&bytes, plan, origin).map(|b| vec![b]),
        Format::Ndjson => read_ndjson(&bytes, plan, origin, 1).map(|b| vec![b]),
        Format::Json => read_json_document(&bytes, plan, origin).map(|b| vec![b]),
    }
}
