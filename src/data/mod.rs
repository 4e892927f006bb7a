//! Bytes to Arrow arrays: Parquet, Arrow IPC (file and stream), CSV and NDJSON/JSON.
//!
//! Every reader takes a [`ColumnPlan`] (the columns the reference profile scores,
//! each with its [`Kind`]) and yields [`Batch`]es whose columns are normalised to
//! `Float64` (numeric) or `Utf8` (categorical) Arrow arrays in plan order. Only the
//! planned columns are decoded (Parquet projection). A value that cannot be used is
//! never fatal: it is rejected, flagged on its row with a [`RejectReason`] and
//! counted in [`Rejects`]; a whole file that cannot be read is a [`DataError`]
//! naming the file. The reference profile, `check` and every daemon source read
//! through this module.

mod arrow_files;
mod convert;
mod json_row;
mod text;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use arrow::array::{Array, Float64Array, StringArray};
use arrow::datatypes::DataType;

pub use arrow_files::{parquet_schema, read_ipc, read_parquet};
pub use text::{read_csv, read_json_document, read_ndjson};

/// How many row errors a [`Rejects`] keeps verbatim (the rest are only counted).
pub const MAX_ERROR_MESSAGES: usize = 10;

/// How a column is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Real-valued: quantile bins, PSI, KL, KS, out-of-range share.
    Numeric,
    /// Labels: one bin per reference category, PSI, KL, chi-square, unseen share.
    Categorical,
}

impl Kind {
    /// The kind an Arrow type has by default, or `None` if it is not scored
    /// (timestamps, binary, nested types) unless the config forces it categorical.
    pub fn of_arrow_type(data_type: &DataType) -> Option<Kind> {
        match data_type {
            t if t.is_numeric() => Some(Kind::Numeric),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => {
                Some(Kind::Categorical)
            }
            DataType::Dictionary(_, value) => match value.as_ref() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    Some(Kind::Categorical)
                }
                v if v.is_numeric() => Some(Kind::Numeric),
                _ => None,
            },
            _ => None,
        }
    }

    /// `"numeric"` or `"categorical"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Categorical => "categorical",
        }
    }
}

/// The columns to read, in order, with the kind each is normalised to.
#[derive(Debug, Clone, Default)]
pub struct ColumnPlan {
    columns: Vec<(String, Kind)>,
    by_name: HashMap<String, usize>,
    booleans: Vec<bool>,
    time: Option<usize>,
}

impl ColumnPlan {
    /// A plan over `(name, kind)` pairs; later duplicates of a name are ignored.
    pub fn new(columns: impl IntoIterator<Item = (String, Kind)>) -> Self {
        let mut plan = ColumnPlan::default();
        for (name, kind) in columns {
            if plan.by_name.contains_key(&name) {
                continue;
            }
            plan.by_name.insert(name.clone(), plan.columns.len());
            plan.columns.push((name, kind));
            plan.booleans.push(false);
        }
        plan
    }

    /// Marks categorical columns whose reference type is boolean: their text values
    /// `True`/`FALSE`/... (as pandas writes CSV) are read as the categories
    /// `true`/`false`, like Arrow booleans and JSON `true`/`false`.
    pub fn with_booleans<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        for name in names {
            if let Some(i) = self.index_of(name) {
                self.booleans[i] = self.columns[i].1 == Kind::Categorical;
            }
        }
        self
    }

    /// Appends the event-time column `name` (`[columns] timestamp`), read as Unix
    /// seconds into a numeric column after the scored ones: an Arrow timestamp or
    /// date, a number of seconds, or RFC 3339 text (see `convert::parse_event_time`). It is
    /// never scored; the window uses it to age rows. A name already planned is
    /// left as it is.
    pub fn with_time_column(mut self, name: &str) -> Self {
        if self.index_of(name).is_none() {
            self.by_name.insert(name.to_string(), self.columns.len());
            self.time = Some(self.columns.len());
            self.columns.push((name.to_string(), Kind::Numeric));
            self.booleans.push(false);
        }
        self
    }

    /// The position of the event-time column, if one is planned.
    pub fn time_column(&self) -> Option<usize> {
        self.time
    }

    /// True when column `i` is the event-time column.
    pub fn is_time(&self, i: usize) -> bool {
        self.time == Some(i)
    }

    /// True when column `i` holds booleans (see [`ColumnPlan::with_booleans`]).
    pub fn is_boolean(&self, i: usize) -> bool {
        self.booleans.get(i).copied().unwrap_or(false)
    }

    /// Number of planned columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True when nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The position of a column by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The name of column `i` (empty if out of range).
    pub fn name(&self, i: usize) -> &str {
        self.columns.get(i).map_or("", |(n, _)| n.as_str())
    }

    /// `(name, kind)` pairs in plan order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Kind)> {
        self.columns.iter().map(|(n, k)| (n.as_str(), *k))
    }
}

/// One normalised column of a batch.
#[derive(Debug, Clone)]
pub enum ColumnArray {
    /// Numbers as f64; nulls are missing values, non-finite values are rejected ones.
    Numeric(Float64Array),
    /// Labels as UTF-8 text; nulls are missing (or rejected, see [`RejectReason`]).
    Categorical(StringArray),
}

impl ColumnArray {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ColumnArray::Numeric(a) => a.len(),
            ColumnArray::Categorical(a) => a.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A zero-copy slice of `len` rows from `offset`.
    pub fn slice(&self, offset: usize, len: usize) -> ColumnArray {
        match self {
            ColumnArray::Numeric(a) => ColumnArray::Numeric(a.slice(offset, len)),
            ColumnArray::Categorical(a) => ColumnArray::Categorical(a.slice(offset, len)),
        }
    }

    /// The kind of the values.
    pub fn kind(&self) -> Kind {
        match self {
            ColumnArray::Numeric(_) => Kind::Numeric,
            ColumnArray::Categorical(_) => Kind::Categorical,
        }
    }
}

/// Why a row (or a value on it) was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The row could not be parsed at all (malformed JSON line, wrong CSV field count).
    Parse,
    /// A value of the wrong type for its column (text in a numeric column, an object...).
    Type,
    /// NaN or +-Inf in a numeric column.
    NonFinite,
    /// Text that is not valid UTF-8.
    Encoding,
}

impl RejectReason {
    /// All reasons, in a fixed order.
    pub const ALL: [RejectReason; 4] = [
        RejectReason::Parse,
        RejectReason::Type,
        RejectReason::NonFinite,
        RejectReason::Encoding,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Parse => "parse",
            RejectReason::Type => "type",
            RejectReason::NonFinite => "non_finite",
            RejectReason::Encoding => "encoding",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Rejections of one batch: rows per reason, and the first few messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rejects {
    /// Rows dropped whole because they could not be parsed.
    pub dropped_rows: u64,
    /// Rows per reason (a row with two bad values of one reason counts once).
    pub rows_by_reason: [u64; 4],
    /// Rows kept with at least one rejected value (their other values are used).
    pub partial_rows: u64,
    /// The first [`MAX_ERROR_MESSAGES`] messages, each naming the row and field.
    pub errors: Vec<String>,
}

impl Rejects {
    /// Rows counted for `reason`.
    pub fn rows(&self, reason: RejectReason) -> u64 {
        self.rows_by_reason[reason as usize]
    }

    /// Rows with any rejection: dropped whole, or kept with a rejected value.
    pub fn total_rows(&self) -> u64 {
        self.dropped_rows + self.partial_rows
    }

    /// Adds another batch's rejections.
    pub fn merge(&mut self, other: &Rejects) {
        self.dropped_rows += other.dropped_rows;
        self.partial_rows += other.partial_rows;
        for (a, b) in self.rows_by_reason.iter_mut().zip(other.rows_by_reason) {
            *a += b;
        }
        for e in &other.errors {
            if self.errors.len() >= MAX_ERROR_MESSAGES {
                break;
            }
            self.errors.push(e.clone());
        }
    }

    fn message(&mut self, message: impl FnOnce() -> String) {
        if self.errors.len() < MAX_ERROR_MESSAGES {
            self.errors.push(message());
        }
    }

    /// Counts a row dropped whole.
    pub(crate) fn drop_row(&mut self, message: impl FnOnce() -> String) {
        self.dropped_rows += 1;
        self.rows_by_reason[RejectReason::Parse as usize] += 1;
        self.message(message);
    }
}

/// Per-row reason flags, folded into [`Rejects`] when a batch is finished.
#[derive(Debug, Default)]
pub(crate) struct RowFlags {
    flags: Vec<u8>,
}

impl RowFlags {
    pub(crate) fn new(rows: usize) -> Self {
        RowFlags {
            flags: vec![0; rows],
        }
    }

    pub(crate) fn push_row(&mut self) {
        self.flags.push(0);
    }

    pub(crate) fn flag(&mut self, row: usize, reason: RejectReason) {
        if let Some(f) = self.flags.get_mut(row) {
            *f |= reason.bit();
        }
    }

    pub(crate) fn fold_into(&self, rejects: &mut Rejects) {
        for &f in &self.flags {
            if f == 0 {
                continue;
            }
            rejects.partial_rows += 1;
            for reason in RejectReason::ALL {
                if f & reason.bit() != 0 {
                    rejects.rows_by_reason[reason as usize] += 1;
                }
            }
        }
    }
}

/// Rows read from one file or request, normalised to the plan.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Rows kept (rows dropped whole are only in `rejects`).
    pub rows: usize,
    /// One entry per plan column; `None` when the source has no such column.
    pub columns: Vec<Option<ColumnArray>>,
    /// What was rejected and why.
    pub rejects: Rejects,
}

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

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
