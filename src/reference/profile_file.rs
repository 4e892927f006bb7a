//! The profile file (SPEC.md section 7, docs/profile-format.md): a reference's
//! raw material ([`ReferenceData`]) in one self-describing, versioned file, so
//! a sidecar ships a small file instead of the training set, and any settings
//! (bins, binning, categories kept) apply when it is used, with scores
//! bit-identical to the Parquet's.
//!
//! Layout: the magic bytes [`MAGIC`], the format version (u32, little endian),
//! the header's length (u32 LE) and the header ([`Header`], JSON), then the
//! sections the header lists, each an Arrow IPC stream (numeric columns
//! LZ4-compressed: on the 1e6-row benchmark data 20% larger than ZSTD and
//! decoded in 0.16 s instead of 0.28 s; the rest ZSTD) whose length and
//! SHA-256 the header holds:
//! - `column:<i>`, one per column in header order (so they are written, checked
//!   and decoded one per core): one row per run of equal values of a numeric
//!   column (`value`, `count`), per value a sketch holds (`value`, its weight),
//!   or per category (`category`, `count`); values ascending, categories in
//!   byte order;
//! - `labelled` (when the profile was built with `columns.label`): the label
//!   and the prediction columns, row by row, for the reference's quality.
//!
//! Reading checks the magic, the version, every length and checksum and the
//! order of the values, so a truncated, damaged or foreign file is an error
//! naming the file and what is wrong, never a panic.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, StringArray, StringBuilder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt64Type};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::CompressionType;
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    resolve_columns, DriftType, ProfileMode, RawColumn, RawValues, ReferenceData, ReferenceError,
    ReferenceFormat,
};
use crate::config::{ColumnsConfig, ModelConfig};
use crate::data::{batch::null_array, Batch, ColumnArray, Kind};
use crate::quality::QualitySpec;
use crate::stats::frequent::FrequentItems;
use crate::stats::sketch::QuantileSketch;

/// The first bytes of every profile file.
pub const MAGIC: &[u8; 8] = b"DRIFTPRF";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Rows per record batch of the `values` section.
const BATCH_ROWS: usize = 1 << 20;

/// A profile file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProfileFileError {
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The profile file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a profile this build can read: what is wrong.
    #[error("{path}: not a usable profile: {message}")]
    Invalid {
        /// The profile file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One column as the header describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnHeader {
    /// Column name.
    pub name: String,
    /// `numeric` or `categorical`.
    pub kind: Kind,
    /// Arrow type boolean in the source (categories `true`/`false`).
    pub boolean: bool,
    /// `data` or `prediction`, as resolved when the profile was built (the
    /// config that uses it decides again).
    pub drift_type: DriftType,
    /// Null values.
    pub missing: u64,
    /// NaN and infinite values (never scored).
    pub rejected: u64,
    /// Scored values (finite numbers, or category occurrences).
    pub values: u64,
    /// Distinct values (or categories).
    pub distinct: u64,
    /// Smallest value (numeric, when it has values).
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Sketch mode: the sketch's parameter and its error bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch: Option<SketchHeader>,
    /// Sketch mode, categorical: the frequent-items summary's capacity and bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequent: Option<FrequentHeader>,
}

/// A categorical column of a sketch profile (see [`crate::stats::frequent`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrequentHeader {
    /// Categories kept past the cap (exact up to twice as many).
    pub capacity: usize,
    /// The most a held count is below the true count (0 while exact).
    pub error_rows: u64,
    /// Occurrences no held category accounts for (scored in `__other__`).
    pub rest: u64,
}

/// A sketched column's bound (see [`crate::stats::sketch`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SketchHeader {
    /// Values per level before a compaction.
    pub k: usize,
    /// The guaranteed bound on the absolute rank error of any query, in rows.
    pub error_rows: u64,
    /// `error_rows / values`: the bound on the error of the column's CDF.
    pub rank_error: f64,
}

/// A source file a profile was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Its path when profiled.
    pub path: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its rows.
    pub rows: u64,
}

/// The label and prediction columns kept for the reference's quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelHeader {
    /// `columns.label` when the profile was built.
    pub name: String,
    /// How it was read: `categorical` (classification) or `numeric` (regression).
    pub kind: Kind,
    /// The prediction columns kept beside it, with their kinds.
    pub predictions: Vec<(String, Kind)>,
}

/// One section of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionHeader {
    /// `values` or `labelled`.
    pub name: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// The header: everything but the values, readable without decoding them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The format version (also in the fixed prefix).
    pub version: u32,
    /// `exact` (every value is kept) or `sketch` (numeric columns in quantile
    /// sketches).
    pub mode: String,
    /// The drift-exporter version that wrote it.
    pub tool_version: String,
    /// Rows of the reference.
    pub rows: u64,
    /// The identity of the reference: the source's SHA-256, or for a merged
    /// profile the SHA-256 of its sources' SHA-256s (one per line, in order).
    pub sha256: String,
    /// The Parquet files it was built from (several after `profile merge`).
    pub sources: Vec<SourceFile>,
    /// The profiled columns, in order.
    pub columns: Vec<ColumnHeader>,
    /// The label kept, when the profile was built with `columns.label`.
    pub label: Option<LabelHeader>,
    /// The sections after the header, in order.
    pub sections: Vec<SectionHeader>,
}

/// The rows that carry the label: the label column and the prediction
/// columns, named, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledRows {
    /// Rows.
    pub rows: usize,
    /// `(name, values)`, the label first.
    pub columns: Vec<(String, ColumnArray)>,
}

/// A profile in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileFile {
    /// The header (its `sections` are filled in when written).
    pub header: Header,
    /// The columns' raw material, in header order.
    pub raw: Vec<RawColumn>,
    /// The labelled rows, when kept.
    pub labelled: Option<LabelledRows>,
}

/// True when `path` starts with the profile magic (an unreadable file is
/// not a profile: the Parquet reader then names the problem).
pub fn is_profile(path: &Path) -> bool {
    let mut prefix = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut prefix))
        .is_ok_and(|()| &prefix == MAGIC)
}

/// SHA-256 of `bytes`, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ProfileFile {
    /// The profile of `data` read from the Parquet at `source` (the label and
    /// the prediction columns of `rules` are kept when `data` has a label).
    pub fn from_data(data: ReferenceData, source: &Path, rules: &ColumnsConfig) -> ProfileFile {
        let plan = data.plan();
        let labelled = data.label.as_ref().map(|(label, _)| {
            let mut names = vec![label.clone()];
            names.extend(
                rules
                    .prediction
                    .iter()
                    .filter(|p| data.resolved.iter().any(|c| &c.name == *p))
                    .cloned(),
            );
            let rows = data.labelled.iter().map(|b| b.rows).sum();
            let columns = names
                .into_iter()
                .filter_map(|name| {
                    let i = plan.index_of(&name)?;
                    let kind = plan.iter().nth(i)?.1;
                    Some((name, concat_column(&data.labelled, i, kind)))
                })
                .collect();
            LabelledRows { rows, columns }
        });
        let label = data.label.as_ref().map(|(name, kind)| LabelHeader {
            name: name.clone(),
            kind: *kind,
            predictions: labelled
                .iter()
                .flat_map(|l| l.columns.iter().skip(1))
                .map(|(n, c)| (n.clone(), c.kind()))
                .collect(),
        });
        let header = Header {
            version: FORMAT_VERSION,
            mode: data.mode.as_str().into(),
            tool_version: crate::metrics::VERSION.into(),
            rows: data.rows,
            sha256: data.sha256.clone(),
            sources: vec![SourceFile {
                path: source.display().to_string(),
                sha256: data.sha256,
                rows: data.rows,
            }],
            columns: data.raw.iter().map(column_header).collect(),
            label,
            sections: Vec::new(),
        };
        ProfileFile {
            header,
            raw: data.raw,
            labelled,
        }
    }

    /// The reference data for a config's `[columns]` and `[model]`: the
    /// columns it scores, with the kinds and roles it gives them; a setting
    /// the profile cannot honour is an error naming it.
    pub fn for_columns(
        self,
        path: &Path,
        rules: &ColumnsConfig,
        model: &ModelConfig,
    ) -> Result<ReferenceData, ReferenceError> {
        let fields: Vec<Field> = self
            .raw
            .iter()
            .map(|c| {
                let t = match (c.kind(), c.boolean) {
                    (Kind::Numeric, _) => DataType::Float64,
                    (Kind::Categorical, true) => DataType::Boolean,
                    (Kind::Categorical, false) => DataType::Utf8,
                };
                Field::new(&c.name, t, true)
            })
            .collect();
        let resolved = resolve_columns(&Schema::new(fields), rules, path)?;
        let columns_err = |key: &str, message: String| ReferenceError::Columns {
            path: path.to_path_buf(),
            key: key.into(),
            message,
        };
        let mut by_name: HashMap<String, RawColumn> =
            self.raw.into_iter().map(|c| (c.name.clone(), c)).collect();
        let mut raw = Vec::with_capacity(resolved.len());
        for column in &resolved {
            let mut r = by_name.remove(&column.name).ok_or_else(|| {
                columns_err("columns", format!("`{}` is not profiled", column.name))
            })?;
            if r.kind() != column.kind {
                return Err(columns_err(
                    "columns.categorical",
                    format!(
                        "column `{}` is numeric in the profile, so its categories were not kept; profile the reference again with it in columns.categorical",
                        column.name
                    ),
                ));
            }
            r.drift_type = column.drift_type;
            raw.push(r);
        }
        let mode = if self.header.mode == "sketch" {
            let columns = &self.header.columns;
            ProfileMode::Sketch {
                k: columns
                    .iter()
                    .find_map(|c| c.sketch.as_ref().map(|s| s.k))
                    .unwrap_or(crate::stats::sketch::DEFAULT_K),
                categories: columns
                    .iter()
                    .find_map(|c| c.frequent.as_ref().map(|f| f.capacity))
                    .unwrap_or(crate::stats::frequent::DEFAULT_CAPACITY),
            }
        } else {
            ProfileMode::Exact
        };
        let mut data = ReferenceData {
            sha256: self.header.sha256.clone(),
            format: ReferenceFormat::Profile,
            mode,
            rows: self.header.rows,
            resolved,
            raw,
            label: None,
            labelled: Vec::new(),
        };
        let (Some(label), Some(task)) = (&rules.label, model.task) else {
            return Ok(data);
        };
        let kind = QualitySpec::label_kind(task);
        let kept = match (&self.header.label, &self.labelled) {
            (Some(header), Some(rows)) if &header.name == label => rows,
            (Some(header), _) => {
                return Err(columns_err(
                    "columns.label",
                    format!(
                        "the profile kept the label `{}`, not `{label}`; profile the reference again with columns.label = \"{label}\"",
                        header.name
                    ),
                ))
            }
            (None, _) if mode != ProfileMode::Exact => {
                return Err(columns_err(
                    "columns.label",
                    format!("a sketch profile keeps no labelled rows; leave columns.label out, or profile the reference without --sketch to measure quality with the label `{label}`"),
                ))
            }
            (None, _) => {
                return Err(columns_err(
                    "columns.label",
                    format!("the profile was built without a label; profile the reference again with columns.label = \"{label}\" and model.task"),
                ))
            }
        };
        if self.header.label.as_ref().map(|l| l.kind) != Some(kind) {
            return Err(columns_err(
                "model.task",
                format!(
                    "the profile read the label `{label}` as {} values, and this task reads it as {}; profile the reference again with this model.task",
                    self.header.label.as_ref().map_or("no", |l| l.kind.as_str()),
                    kind.as_str()
                ),
            ));
        }
        data.label = Some((label.clone(), kind));
        let plan = data.plan();
        let columns = plan
            .iter()
            .map(|(name, kind)| {
                kept.columns
                    .iter()
                    .find(|(n, c)| n == name && c.kind() == kind)
                    .map(|(_, c)| c.clone())
            })
            .collect();
        data.labelled = vec![Batch {
            rows: kept.rows,
            columns,
            rejects: Default::default(),
        }];
        Ok(data)
    }

    /// Encodes the sections in file order, a core's worth of columns at a
    /// time, and hands each to `each` with its header entry: a writer holds a
    /// few encoded sections at once, never the whole file.
    fn for_each_section(
        &self,
        mut each: impl FnMut(SectionHeader, Vec<u8>) -> Result<(), String>,
    ) -> Result<(), String> {
        let per_round = rayon::current_num_threads().max(1);
        let mut index = 0;
        for round in self.raw.chunks(per_round) {
            let encoded: Vec<Vec<u8>> = round
                .par_iter()
                .map(|column| {
                    encode_column(column).map_err(|e| format!("cannot encode a column: {e}"))
                })
                .collect::<Result<_, _>>()?;
            let entries: Vec<SectionHeader> = encoded
                .par_iter()
                .enumerate()
                .map(|(j, bytes)| SectionHeader {
                    name: column_section(index + j),
                    bytes: bytes.len() as u64,
                    sha256: sha256_hex(bytes),
                })
                .collect();
            index += encoded.len();
            for (entry, bytes) in entries.into_iter().zip(encoded) {
                each(entry, bytes)?;
            }
        }
        if let Some(labelled) = &self.labelled {
            let bytes = encode_labelled(labelled)
                .map_err(|e| format!("cannot encode the labelled rows: {e}"))?;
            let entry = SectionHeader {
                name: "labelled".into(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            };
            each(entry, bytes)?;
        }
        Ok(())
    }

    /// The fixed prefix and the header of a file with `sections`.
    fn prefix(&self, sections: Vec<SectionHeader>) -> Result<Vec<u8>, String> {
        let mut header = self.header.clone();
        header.sections = sections;
        let json =
            serde_json::to_vec(&header).map_err(|e| format!("cannot encode the header: {e}"))?;
        let length =
            u32::try_from(json.len()).map_err(|_| "the header is over 4 GiB".to_string())?;
        let mut out = Vec::with_capacity(16 + json.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&json);
        Ok(out)
    }

    /// The file's bytes, in memory.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let (mut sections, mut body) = (Vec::new(), Vec::new());
        self.for_each_section(|entry, bytes| {
            sections.push(entry);
            body.extend_from_slice(&bytes);
            Ok(())
        })?;
        let mut out = self.prefix(sections)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Writes the file atomically without holding it in memory: the sections
    /// go to `<path>.body.tmp` as they are encoded, then the header and the
    /// sections to `<path>.tmp`, renamed to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ProfileFileError> {
        use std::io::Write;
        let with_suffix = |suffix: &str| {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            PathBuf::from(p)
        };
        let (body_path, tmp_path) = (with_suffix(".body.tmp"), with_suffix(".tmp"));
        let io = |source| ProfileFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let result = (|| {
            let mut body = std::io::BufWriter::new(std::fs::File::create(&body_path).map_err(io)?);
            let mut sections = Vec::new();
            let mut failed = None;
            self.for_each_section(|entry, bytes| {
                sections.push(entry);
                body.write_all(&bytes).map_err(|e| {
                    let message = e.to_string();
                    failed = Some(e);
                    message
                })
            })
            .map_err(|message| match failed.take() {
                Some(e) => io(e),
                None => ProfileFileError::Invalid {
                    path: path.to_path_buf(),
                    message,
                },
            })?;
            body.into_inner()
                .map_err(|e| io(e.into_error()))?
                .sync_all()
                .map_err(io)?;
            let prefix = self
                .prefix(sections)
                .map_err(|message| ProfileFileError::Invalid {
                    path: path.to_path_buf(),
                    message,
                })?;
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp_path).map_err(io)?);
            out.write_all(&prefix).map_err(io)?;
            std::io::copy(&mut std::fs::File::open(&body_path).map_err(io)?, &mut out)
                .map_err(io)?;
            out.into_inner()
                .map_err(|e| io(e.into_error()))?
                .sync_all()
                .map_err(io)?;
            std::fs::rename(&tmp_path, path).map_err(io)
        })();
        let _ = std::fs::remove_file(&body_path);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp_path);
        }
        result
    }
}

/// The header of a column's raw material.
pub(crate) fn column_header(c: &RawColumn) -> ColumnHeader {
    let (values, distinct, min, max) = match &c.values {
        RawValues::Numeric(v) => {
            let distinct = 1 + v
                .windows(2)
                .filter(|w| w[0].to_bits() != w[1].to_bits())
                .count();
            let distinct = if v.is_empty() { 0 } else { distinct };
            (
                v.len() as u64,
                distinct as u64,
                v.first().copied(),
                v.last().copied(),
            )
        }
        RawValues::Sketch(sketch) => (
            sketch.n(),
            sketch.levels().iter().map(|l| l.len() as u64).sum(),
            sketch.min(),
            sketch.max(),
        ),
        RawValues::Categorical(counts) => (
            counts.iter().map(|(_, n)| n).sum(),
            counts.len() as u64,
            None,
            None,
        ),
        RawValues::Frequent(summary) => (summary.n(), summary.counts().len() as u64, None, None),
    };
    let frequent = match &c.values {
        RawValues::Frequent(summary) => Some(FrequentHeader {
            capacity: summary.capacity(),
            error_rows: summary.error(),
            rest: summary.rest(),
        }),
        _ => None,
    };
    let sketch = match &c.values {
        RawValues::Sketch(sketch) => Some(SketchHeader {
            k: sketch.k(),
            error_rows: sketch.error_rows(),
            rank_error: sketch.rank_error(),
        }),
        _ => None,
    };
    ColumnHeader {
        name: c.name.clone(),
        kind: c.kind(),
        boolean: c.boolean,
        drift_type: c.drift_type,
        missing: c.missing,
        rejected: c.rejected,
        values,
        distinct,
        min,
        max,
        sketch,
        frequent,
    }
}

/// Column `i` of `batches` as one array (null where a batch lacks it).
fn concat_column(batches: &[Batch], i: usize, kind: Kind) -> ColumnArray {
    let pieces: Vec<ArrayRef> = batches
        .iter()
        .map(|b| match b.columns.get(i).and_then(Option::as_ref) {
            Some(c) => c.to_array_ref(),
            None => null_array(kind, b.rows),
        })
        .collect();
    let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
    let array = if refs.is_empty() {
        arrow::array::new_empty_array(&kind.arrow_type())
    } else {
        arrow::compute::concat(&refs)
            .unwrap_or_else(|_| arrow::array::new_empty_array(&kind.arrow_type()))
    };
    match kind {
        Kind::Numeric => ColumnArray::Numeric(array.as_primitive::<Float64Type>().clone()),
        Kind::Categorical => ColumnArray::Categorical(array.as_string::<i32>().clone()),
    }
}

/// The name of column `i`'s section.
fn column_section(i: usize) -> String {
    format!("column:{i}")
}

/// The schema of a numeric column's section: runs (value, count), or a
/// sketch's held values (value, weight).
fn numeric_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("value", DataType::Float64, false),
        Field::new("count", DataType::UInt64, false),
    ]))
}

/// The schema of a numeric column's section without ties: every count is 1.
fn distinct_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new(
        "value",
        DataType::Float64,
        false,
    )]))
}

/// The schema of a categorical column's section: (category, count).
fn categorical_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("category", DataType::Utf8, false),
        Field::new("count", DataType::UInt64, false),
    ]))
}

/// LZ4 for numeric columns (the bulk of a profile, decoded at every start),
/// ZSTD for the rest (smaller; little to decode).
fn stream_options(fast: bool) -> Result<IpcWriteOptions, arrow::error::ArrowError> {
    let compression = if fast {
        CompressionType::LZ4_FRAME
    } else {
        CompressionType::ZSTD
    };
    IpcWriteOptions::default().try_with_compression(Some(compression))
}

/// One column's section: runs of equal values (equal bits) with their
/// counts, a sketch's held values level by level with their weights, or the
/// categories with their counts.
fn encode_column(column: &RawColumn) -> Result<Vec<u8>, arrow::error::ArrowError> {
    // A numeric column without ties (most continuous ones) stores no counts.
    let distinct = match &column.values {
        RawValues::Numeric(sorted) => sorted.windows(2).all(|w| w[0].to_bits() != w[1].to_bits()),
        _ => false,
    };
    let schema = match column.values {
        RawValues::Categorical(_) | RawValues::Frequent(_) => categorical_schema(),
        _ if distinct => distinct_schema(),
        _ => numeric_schema(),
    };
    let mut out = Vec::new();
    let numeric = !matches!(
        column.values,
        RawValues::Categorical(_) | RawValues::Frequent(_)
    );
    let mut writer =
        StreamWriter::try_new_with_options(&mut out, &schema, stream_options(numeric)?)?;
    let mut values = Float64Builder::new();
    let mut categories = StringBuilder::new();
    let mut counts = UInt64Builder::new();
    let mut rows = 0usize;
    let flush = |values: &mut Float64Builder,
                 categories: &mut StringBuilder,
                 counts: &mut UInt64Builder,
                 writer: &mut StreamWriter<&mut Vec<u8>>|
     -> Result<(), arrow::error::ArrowError> {
        let first: ArrayRef = match column.values {
            RawValues::Categorical(_) | RawValues::Frequent(_) => Arc::new(categories.finish()),
            _ => Arc::new(values.finish()),
        };
        let counts = counts.finish();
        let arrays: Vec<ArrayRef> = if distinct {
            vec![first]
        } else {
            vec![first, Arc::new(counts)]
        };
        writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)
    };
    match &column.values {
        RawValues::Numeric(sorted) => {
            let mut start = 0;
            while start < sorted.len() {
                let bits = sorted[start].to_bits();
                let mut end = start + 1;
                while end < sorted.len() && sorted[end].to_bits() == bits {
                    end += 1;
                }
                values.append_value(sorted[start]);
                counts.append_value((end - start) as u64);
                start = end;
                rows += 1;
                if rows % BATCH_ROWS == 0 {
                    flush(&mut values, &mut categories, &mut counts, &mut writer)?;
                }
            }
        }
        RawValues::Sketch(sketch) => {
            for (h, level) in sketch.levels().iter().enumerate() {
                let mut level = level.clone();
                level.sort_unstable_by(f64::total_cmp);
                for v in level {
                    values.append_value(v);
                    counts.append_value(1 << h);
                    rows += 1;
                    if rows % BATCH_ROWS == 0 {
                        flush(&mut values, &mut categories, &mut counts, &mut writer)?;
                    }
                }
            }
        }
        RawValues::Categorical(_) | RawValues::Frequent(_) => {
            let held;
            let pairs = match &column.values {
                RawValues::Frequent(summary) => {
                    held = summary.counts();
                    &held
                }
                RawValues::Categorical(pairs) => pairs,
                _ => unreachable!("matched above"),
            };
            for (category, count) in pairs {
                categories.append_value(category);
                counts.append_value(*count);
                rows += 1;
                if rows % BATCH_ROWS == 0 {
                    flush(&mut values, &mut categories, &mut counts, &mut writer)?;
                }
            }
        }
    }
    if rows % BATCH_ROWS != 0 || rows == 0 {
        flush(&mut values, &mut categories, &mut counts, &mut writer)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// The `labelled` section: the label and prediction columns as they are.
fn encode_labelled(labelled: &LabelledRows) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let fields: Vec<Field> = labelled
        .columns
        .iter()
        .map(|(name, c)| Field::new(name, c.kind().arrow_type(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = labelled
        .columns
        .iter()
        .map(|(_, c)| c.to_array_ref())
        .collect();
    let batch = RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(labelled.rows)),
    )?;
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new_with_options(&mut out, &schema, stream_options(false)?)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// Reads a profile file.
pub fn read(path: &Path) -> Result<ProfileFile, ProfileFileError> {
    let bytes = std::fs::read(path).map_err(|source| ProfileFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes).map_err(|message| ProfileFileError::Invalid {
        path: path.to_path_buf(),
        message,
    })
}

/// Decodes a profile's bytes; the error says what is wrong.
pub fn decode(bytes: &[u8]) -> Result<ProfileFile, String> {
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err("it does not start with the profile magic bytes DRIFTPRF (is it a Parquet file with a wrong name, or another file?)".into());
    }
    let word = |at: usize| -> Result<u32, String> {
        bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| {
                format!(
                    "truncated: the file ends at byte {} inside its fixed header",
                    bytes.len()
                )
            })
    };
    let version = word(8)?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}; this drift-exporter ({}) reads version {FORMAT_VERSION}",
            crate::metrics::VERSION
        ));
    }
    let header_len = word(12)? as usize;
    let header_bytes = bytes.get(16..16 + header_len).ok_or_else(|| {
        format!(
            "truncated: the header needs {header_len} bytes after byte 16, the file has {}",
            bytes.len().saturating_sub(16)
        )
    })?;
    let header: Header = serde_json::from_slice(header_bytes)
        .map_err(|e| format!("the header is not valid JSON: {e}"))?;
    if header.version != version {
        return Err(format!(
            "the header says version {}, the prefix {version}",
            header.version
        ));
    }
    if header.mode != "exact" && header.mode != "sketch" {
        return Err(format!(
            "mode `{}`; this drift-exporter reads exact and sketch profiles",
            header.mode
        ));
    }
    let mut at = 16 + header_len;
    let mut spans = Vec::with_capacity(header.sections.len());
    for section in &header.sections {
        let end = at
            .checked_add(section.bytes as usize)
            .filter(|&e| e <= bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "truncated: section `{}` needs {} bytes from byte {at}, the file has {}",
                section.name,
                section.bytes,
                bytes.len()
            ));
        };
        spans.push((section, at, end));
        at = end;
    }
    // The checksums, one section per core.
    spans.par_iter().try_for_each(|(section, at, end)| {
        if sha256_hex(&bytes[*at..*end]) != section.sha256 {
            return Err(format!(
                "damaged: section `{}` (bytes {at}..{end}) fails its SHA-256 check",
                section.name
            ));
        }
        Ok(())
    })?;
    let sections: HashMap<&str, &[u8]> = spans
        .iter()
        .map(|(section, at, end)| (section.name.as_str(), &bytes[*at..*end]))
        .collect();
    if at != bytes.len() {
        return Err(format!(
            "{} bytes after the last section (damaged, or not written by drift-exporter)",
            bytes.len() - at
        ));
    }
    let raw = header
        .columns
        .par_iter()
        .enumerate()
        .map(|(i, column)| {
            let name = column_section(i);
            let body = sections.get(name.as_str()).ok_or_else(|| {
                format!(
                    "the section `{name}` of column `{}` is missing",
                    column.name
                )
            })?;
            decode_column(body, column)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let labelled = match (&header.label, sections.get("labelled")) {
        (Some(label), Some(body)) => Some(decode_labelled(body, label)?),
        (Some(_), None) => {
            return Err("the header names a label but the `labelled` section is missing".into())
        }
        (None, _) => None,
    };
    Ok(ProfileFile {
        header,
        raw,
        labelled,
    })
}

/// Decodes and checks one column's section.
fn decode_column(body: &[u8], header: &ColumnHeader) -> Result<RawColumn, String> {
    let name = &header.name;
    let reader = StreamReader::try_new(std::io::Cursor::new(body), None)
        .map_err(|e| format!("column `{name}`: its section is not an Arrow IPC stream: {e}"))?;
    let schema = reader.schema();
    let distinct = header.kind == Kind::Numeric
        && header.sketch.is_none()
        && schema.fields() == distinct_schema().fields();
    let expected = match header.kind {
        Kind::Numeric if distinct => distinct_schema(),
        Kind::Numeric => numeric_schema(),
        Kind::Categorical => categorical_schema(),
    };
    if schema.fields() != expected.fields() {
        return Err(format!(
            "column `{name}`: its section has an unexpected schema"
        ));
    }
    let mut numbers: Vec<f64> = Vec::new();
    if header.kind == Kind::Numeric && header.sketch.is_none() {
        // The header's count, bounded so a damaged header cannot ask for much.
        numbers.reserve_exact((header.values as usize).min(body.len().saturating_mul(64)));
    }
    let mut levels: Vec<Vec<f64>> = Vec::new();
    let mut categories: Vec<(String, u64)> = Vec::new();
    for batch in reader {
        let batch =
            batch.map_err(|e| format!("column `{name}`: cannot decode its section: {e}"))?;
        // Without a count column every count is 1.
        let counts: &[u64] = if distinct {
            &[]
        } else {
            batch.column(1).as_primitive::<UInt64Type>().values()
        };
        match (header.kind, &header.sketch) {
            (Kind::Categorical, _) => {
                let text = batch.column(0).as_string::<i32>();
                for (category, &n) in text.iter().zip(counts.iter()) {
                    categories.push((category.unwrap_or_default().to_string(), n));
                }
            }
            (Kind::Numeric, Some(_)) => {
                let values = batch.column(0).as_primitive::<Float64Type>().values();
                for (&v, &n) in values.iter().zip(counts.iter()) {
                    if !v.is_finite() || !n.is_power_of_two() {
                        return Err(format!(
                            "column `{name}`: a sketch value {v} of weight {n} (weights are powers of two)"
                        ));
                    }
                    let h = n.trailing_zeros() as usize;
                    if levels.len() <= h {
                        levels.resize(h + 1, Vec::new());
                    }
                    levels[h].push(v);
                }
            }
            (Kind::Numeric, None) => {
                let values = batch.column(0).as_primitive::<Float64Type>().values();
                let ordered = values.iter().all(|v| v.is_finite())
                    && values.windows(2).all(|w| w[0].total_cmp(&w[1]).is_lt())
                    && match (numbers.last(), values.first()) {
                        (Some(last), Some(first)) => last.total_cmp(first).is_lt(),
                        _ => true,
                    };
                if !ordered || counts.contains(&0) {
                    return Err(format!(
                        "column `{name}`: values out of order, repeated, not finite or counted 0"
                    ));
                }
                if distinct || counts.iter().all(|&n| n == 1) {
                    numbers.extend_from_slice(values);
                } else {
                    for (&v, &n) in values.iter().zip(counts.iter()) {
                        let n = usize::try_from(n)
                            .map_err(|_| format!("column `{name}`: count {n} too large"))?;
                        numbers.extend(std::iter::repeat_n(v, n));
                    }
                }
            }
        }
    }
    let values = match (header.kind, &header.sketch) {
        (Kind::Numeric, Some(sketch)) => RawValues::Sketch(QuantileSketch::from_parts(
            sketch.k,
            levels,
            sketch.error_rows,
            header.min.unwrap_or(f64::INFINITY),
            header.max.unwrap_or(f64::NEG_INFINITY),
        )),
        (Kind::Numeric, None) => RawValues::Numeric(numbers),
        (Kind::Categorical, _) => match &header.frequent {
            Some(f) => RawValues::Frequent(FrequentItems::from_parts(
                f.capacity,
                categories,
                f.rest,
                f.error_rows,
            )),
            None => RawValues::Categorical(categories),
        },
    };
    let column = RawColumn {
        name: name.clone(),
        drift_type: header.drift_type,
        boolean: header.boolean,
        missing: header.missing,
        rejected: header.rejected,
        values,
    };
    let found = column_header(&column);
    if (found.values, found.distinct) != (header.values, header.distinct) {
        return Err(format!(
            "column `{name}`: the header counts {} values ({} distinct), the section holds {} ({})",
            header.values, header.distinct, found.values, found.distinct
        ));
    }
    Ok(column)
}

fn decode_labelled(body: &[u8], label: &LabelHeader) -> Result<LabelledRows, String> {
    let reader = StreamReader::try_new(std::io::Cursor::new(body), None)
        .map_err(|e| format!("the `labelled` section is not an Arrow IPC stream: {e}"))?;
    let mut names = vec![(label.name.clone(), label.kind)];
    names.extend(label.predictions.iter().cloned());
    let mut pieces: Vec<Vec<ArrayRef>> = vec![Vec::new(); names.len()];
    let mut rows = 0;
    for batch in reader {
        let batch = batch.map_err(|e| format!("the `labelled` section cannot be decoded: {e}"))?;
        rows += batch.num_rows();
        for (i, (name, kind)) in names.iter().enumerate() {
            let array = batch
                .column_by_name(name)
                .filter(|a| *a.data_type() == kind.arrow_type())
                .ok_or_else(|| {
                    format!(
                        "the `labelled` section lacks the {} column `{name}`",
                        kind.as_str()
                    )
                })?;
            pieces[i].push(array.clone());
        }
    }
    let mut columns = Vec::with_capacity(names.len());
    for ((name, kind), pieces) in names.into_iter().zip(pieces) {
        let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
        let array = if refs.is_empty() {
            arrow::array::new_empty_array(&kind.arrow_type())
        } else {
            arrow::compute::concat(&refs).map_err(|e| format!("the `labelled` section: {e}"))?
        };
        let column = match kind {
            Kind::Numeric => ColumnArray::Numeric(
                array
                    .as_primitive_opt::<Float64Type>()
                    .cloned()
                    .unwrap_or_else(|| Float64Array::new_null(0)),
            ),
            Kind::Categorical => ColumnArray::Categorical(
                array
                    .as_string_opt::<i32>()
                    .cloned()
                    .unwrap_or_else(|| StringArray::new_null(0)),
            ),
        };
        columns.push((name, column));
    }
    Ok(LabelledRows { rows, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn sample() -> ProfileFile {
        let raw = vec![
            RawColumn {
                name: "x".into(),
                drift_type: DriftType::Data,
                boolean: false,
                missing: 2,
                rejected: 1,
                values: RawValues::Numeric(vec![-1.5, -0.0, 0.0, 0.0, 0.0, 3.25, 1e300]),
            },
            RawColumn {
                name: "d".into(),
                drift_type: DriftType::Data,
                boolean: false,
                missing: 0,
                rejected: 0,
                values: RawValues::Numeric(vec![-2.0, 0.5, 7.0]),
            },
            RawColumn {
                name: "c".into(),
                drift_type: DriftType::Prediction,
                boolean: false,
                missing: 0,
                rejected: 0,
                values: RawValues::Categorical(vec![("a".into(), 3), ("b".into(), 1)]),
            },
        ];
        let labelled = LabelledRows {
            rows: 3,
            columns: vec![
                (
                    "y".into(),
                    ColumnArray::Categorical(StringArray::from(vec![Some("1"), None, Some("0")])),
                ),
                (
                    "c".into(),
                    ColumnArray::Categorical(StringArray::from(vec![Some("a"), Some("b"), None])),
                ),
            ],
        };
        ProfileFile {
            header: Header {
                version: FORMAT_VERSION,
                mode: "exact".into(),
                tool_version: "test".into(),
                rows: 9,
                sha256: "abc".into(),
                sources: vec![SourceFile {
                    path: "r.parquet".into(),
                    sha256: "abc".into(),
                    rows: 9,
                }],
                columns: raw.iter().map(column_header).collect(),
                label: Some(LabelHeader {
                    name: "y".into(),
                    kind: Kind::Categorical,
                    predictions: vec![("c".into(), Kind::Categorical)],
                }),
                sections: Vec::new(),
            },
            raw,
            labelled: Some(labelled),
        }
    }

    #[test]
    fn a_profile_round_trips_bit_for_bit_with_its_ties_stored_once() -> TestResult {
        let profile = sample();
        let bytes = profile.encode()?;
        let back = decode(&bytes)?;
        assert_eq!(back.raw, profile.raw);
        assert_eq!(back.labelled, profile.labelled);
        // -0.0 and 0.0 are distinct runs; the three 0.0 are one.
        assert_eq!(back.header.columns[0].distinct, 5);
        let RawValues::Numeric(v) = &back.raw[0].values else {
            return Err("numeric".into());
        };
        assert!(v[1].is_sign_negative() && v[2].is_sign_positive());
        assert_eq!(back.header.sections.len(), 4);
        // A column without ties stores no count column.
        let with_ties = decode_column(&encode_column(&profile.raw[0])?, &back.header.columns[0])?;
        assert_eq!(with_ties, profile.raw[0]);
        let bytes_distinct = encode_column(&profile.raw[1])?;
        let reader = StreamReader::try_new(std::io::Cursor::new(&bytes_distinct), None)?;
        assert_eq!(reader.schema().fields().len(), 1);
        assert_eq!(&bytes[..8], MAGIC);
        Ok(())
    }

    #[test]
    fn truncated_damaged_foreign_and_newer_files_are_named_errors() -> TestResult {
        let bytes = sample().encode()?;
        let error = |b: &[u8]| decode(b).err().unwrap_or_default();
        for cut in [0, 5, 10, 14, 20, bytes.len() / 2, bytes.len() - 1] {
            let e = error(&bytes[..cut]);
            assert!(
                e.contains("truncated") || e.contains("magic") || e.contains("header"),
                "cut at {cut}: {e}"
            );
        }
        let mut damaged = bytes.clone();
        let last = damaged.len() - 10;
        damaged[last] ^= 0x40;
        assert!(error(&damaged).contains("SHA-256"), "{}", error(&damaged));
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(
            error(&newer).contains("format version 2"),
            "{}",
            error(&newer)
        );
        assert!(error(b"PAR1 not a profile at all").contains("magic"));
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"junk");
        assert!(error(&longer).contains("after the last section"));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("broken.profile");
        std::fs::write(&path, &bytes[..bytes.len() - 3])?;
        assert!(is_profile(&path));
        let message = read(&path).err().ok_or("an error")?.to_string();
        assert!(
            message.contains("broken.profile") && message.contains("truncated"),
            "{message}"
        );
        assert!(!is_profile(&dir.path().join("missing")));
        Ok(())
    }
}
