//! The profile file (SPEC.md section 7, docs/profile-format.md): a reference's
//! raw material ([`ReferenceData`]) in one self-describing, versioned file, so
//! a sidecar ships a small file instead of the training set, and any settings
//! (bins, binning, categories kept) apply when it is used, with scores
//! bit-identical to the Parquet's.
//!
//! Layout: the magic bytes [`MAGIC`], the format version (u32, little endian),
//! the header's length (u32 LE) and the header ([`Header`], JSON, padded with
//! spaces to a multiple of 64 bytes), then the sections the header lists, each
//! starting at a multiple of 64 bytes, each an Arrow IPC stream whose length
//! and XXH3-64 checksum the header holds. A numeric column is stored
//! uncompressed unless LZ4 saves a quarter of its bytes, so that once the file
//! is read its values are used where they lie, without a decode or a copy
//! (`profile --compress` compresses every one: the smallest file, decoded at
//! every start); the rest is ZSTD:
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
    UInt64Array, UInt64Builder,
};
use arrow::buffer::{Buffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt64Type};
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::CompressionType;
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    resolve_columns, DriftType, ProfileMode, RawColumn, RawValues, ReferenceData, ReferenceError,
    ReferenceFormat, ResolvedColumn,
};
use crate::config::{ColumnsConfig, ModelConfig};
use crate::data::{batch::concat_column, Batch, ColumnArray, Kind};
use crate::multivariate::ReferenceRows;
use crate::quality::QualitySpec;
use crate::segments::{SegmentRaw, StoredSegments};
use crate::stats::frequent::FrequentItems;
use crate::stats::sketch::QuantileSketch;

/// The first bytes of every profile file.
pub const MAGIC: &[u8; 8] = b"DRIFTPRF";
/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The format versions this build reads: 1 (SHA-256 per section, sections
/// back to back) and 2 (XXH3-64 per section, sections 64-byte aligned).
pub const READS_VERSIONS: [u32; 2] = [1, 2];
/// Sections of version 2 start at multiples of this many bytes, so that the
/// values of an uncompressed Arrow IPC section are aligned where they lie.
const SECTION_ALIGN: usize = 64;
/// Rows per record batch of sketch and categorical sections (a numeric
/// column is one batch, so that it is read in place).
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
    /// Exact numeric: the population standard deviation of the values
    /// (`numpy.std`), so that loading needs no pass over them. Absent in files
    /// of earlier writers (then computed at load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
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
    /// `column:<i>` or `labelled`.
    pub name: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// Version 1: its SHA-256, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Version 2: its XXH3-64 (seed 0), 16 hex digits. A section's checksum
    /// guards against damage, not forgery (the header's `sha256` names the
    /// reference), and XXH3 checks it at memory speed, where SHA-256 was 13%
    /// of a `check` from a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xxh3: Option<String>,
}

/// XXH3-64 of `bytes`, 16 lowercase hex digits.
fn xxh3_hex(bytes: &[u8]) -> String {
    format!("{:016x}", twox_hash::XxHash3_64::oneshot(bytes))
}

/// The zero bytes that bring `at` to the next multiple of [`SECTION_ALIGN`].
fn padding(at: usize) -> usize {
    (SECTION_ALIGN - at % SECTION_ALIGN) % SECTION_ALIGN
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
    /// The segments kept, when the profile was built with `columns.segment`
    /// (added to version 2: a reader that does not know it ignores it and
    /// its sections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<SegmentsHeader>,
    /// The reference rows multivariate drift is fitted on, when the profile
    /// was built with `[multivariate] enabled` (added to version 2 as
    /// `segments` was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivariate: Option<MultivariateHeader>,
    /// The sections after the header, in order.
    pub sections: Vec<SectionHeader>,
}

/// The segments a profile keeps (`columns.segment`): each one's columns,
/// stored as the whole reference's are, in sections
/// `segment:<s>:column:<i>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentsHeader {
    /// `columns.segment` when the profile was built.
    pub columns: Vec<String>,
    /// `columns.max_segments` when the profile was built.
    pub max_segments: usize,
    /// The segments, the most frequent first, `__other__` last.
    pub segments: Vec<SegmentHeader>,
}

/// The rows multivariate drift is fitted on (section `multivariate`: one
/// `Float64` column per feature, a missing value as NaN).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultivariateHeader {
    /// The numeric input features, in the reference's order.
    pub features: Vec<String>,
    /// Rows kept.
    pub rows: u64,
    /// Every `stride`-th reference row was kept.
    pub stride: usize,
    /// `multivariate.max_reference_rows` when the profile was built.
    pub max_reference_rows: usize,
    /// Each row's segment key is kept (section `multivariate:segments`, one
    /// `Utf8` column `segment`), when the profile was built with segments.
    #[serde(default)]
    pub segment_keys: bool,
}

/// One segment of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentHeader {
    /// The segment's key (its segment columns' values joined by `/`).
    pub name: String,
    /// Its reference rows.
    pub rows: u64,
    /// Its columns, in the order of the whole profile's.
    pub columns: Vec<ColumnHeader>,
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
    /// The segments, when kept.
    pub segments: Option<StoredSegments>,
    /// The rows multivariate drift is fitted on, when kept.
    pub multivariate: Option<ReferenceRows>,
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
                    match concat_column(&data.labelled, i, kind) {
                        Ok(column) => Some((name, column)),
                        Err(e) => {
                            // Only past Arrow's 2 GiB of text in one array.
                            tracing::error!(column = %name, error = %e, "the labelled rows of this column cannot be kept in the profile");
                            None
                        }
                    }
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
            segments: data.segments.as_ref().map(segments_header),
            multivariate: data.multivariate.as_ref().map(multivariate_header),
            sections: Vec::new(),
        };
        ProfileFile {
            header,
            raw: data.raw,
            labelled,
            segments: data.segments,
            multivariate: data.multivariate,
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
        let schema = columns_schema(
            self.raw
                .iter()
                .map(|c| (c.name.as_str(), c.kind(), c.boolean)),
        );
        let resolved = resolve_columns(&schema, rules, path)?;
        let columns_err = |key: &str, message: String| ReferenceError::columns(path, key, message);
        let segments = match self.segments {
            Some(stored) => {
                let mut parts = Vec::with_capacity(stored.parts.len());
                for part in stored.parts {
                    let raw = pick_columns(part.raw, &resolved).map_err(|column| {
                        ReferenceError::Unusable {
                            path: path.to_path_buf(),
                            message: format!(
                                "segment `{}` of the profile has no column `{column}`",
                                part.name
                            ),
                        }
                    })?;
                    parts.push(SegmentRaw { raw, ..part });
                }
                Some(StoredSegments { parts, ..stored })
            }
            None => None,
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
            segments,
            multivariate: self.multivariate,
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

    /// Encodes the sections in file order (the columns, each segment's
    /// columns, the labelled rows), a core's worth of columns at a time, and
    /// hands each to `each` with its header entry: a writer holds a few
    /// encoded sections at once, never the whole file.
    fn for_each_section(
        &self,
        compress: bool,
        mut each: impl FnMut(SectionHeader, Vec<u8>) -> Result<(), String>,
    ) -> Result<(), String> {
        let per_round = rayon::current_num_threads().max(1);
        let mut columns: Vec<(String, &RawColumn)> = self
            .raw
            .iter()
            .enumerate()
            .map(|(i, column)| (column_section(i), column))
            .collect();
        for (s, part) in self.segments.iter().flat_map(|k| &k.parts).enumerate() {
            for (i, column) in part.raw.iter().enumerate() {
                columns.push((segment_column_section(s, i), column));
            }
        }
        for round in columns.chunks(per_round) {
            let encoded: Vec<Vec<u8>> = round
                .par_iter()
                .map(|(_, column)| {
                    encode_column(column, compress)
                        .map_err(|e| format!("cannot encode a column: {e}"))
                })
                .collect::<Result<_, _>>()?;
            let entries: Vec<SectionHeader> = encoded
                .par_iter()
                .zip(round)
                .map(|(bytes, (name, _))| SectionHeader {
                    name: name.clone(),
                    bytes: bytes.len() as u64,
                    sha256: None,
                    xxh3: Some(xxh3_hex(bytes)),
                })
                .collect();
            for (entry, bytes) in entries.into_iter().zip(encoded) {
                each(entry, bytes)?;
            }
        }
        if let Some(labelled) = &self.labelled {
            let (entry, bytes) = rows_section("labelled", labelled)?;
            each(entry, bytes)?;
        }
        if let Some(rows) = &self.multivariate {
            let (entry, bytes) = rows_section("multivariate", &multivariate_rows(rows))?;
            each(entry, bytes)?;
            if let Some(keys) = &rows.keys {
                let keys = LabelledRows {
                    rows: keys.len(),
                    columns: vec![(
                        "segment".into(),
                        ColumnArray::Categorical(StringArray::from(keys.clone())),
                    )],
                };
                let (entry, bytes) = rows_section("multivariate:segments", &keys)?;
                each(entry, bytes)?;
            }
        }
        Ok(())
    }

    /// The fixed prefix and the header of a file with `sections`.
    fn prefix(&self, sections: Vec<SectionHeader>) -> Result<Vec<u8>, String> {
        let mut header = self.header.clone();
        header.version = FORMAT_VERSION;
        header.sections = sections;
        let mut json =
            serde_json::to_vec(&header).map_err(|e| format!("cannot encode the header: {e}"))?;
        // JSON may end in spaces: they bring the first section to its alignment.
        json.resize(json.len() + padding(16 + json.len()), b' ');
        let length =
            u32::try_from(json.len()).map_err(|_| "the header is over 4 GiB".to_string())?;
        let mut out = Vec::with_capacity(16 + json.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&json);
        Ok(out)
    }

    /// The file's bytes, in memory (every numeric column LZ4-compressed when
    /// `compress`; see [`encode_column`]).
    pub fn encode(&self, compress: bool) -> Result<Vec<u8>, String> {
        let (mut sections, mut body) = (Vec::new(), Vec::new());
        self.for_each_section(compress, |entry, bytes| {
            sections.push(entry);
            body.resize(body.len() + padding(body.len()), 0);
            body.extend_from_slice(&bytes);
            Ok(())
        })?;
        let mut out = self.prefix(sections)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Writes the file atomically without holding it in memory: the sections
    /// go to `<path>.body.tmp` as they are encoded, then the header and the
    /// sections to `<path>.tmp`, renamed to `path`. Numeric columns are
    /// all LZ4-compressed when `compress` (see [`encode_column`]).
    pub fn write(&self, path: &Path, compress: bool) -> Result<(), ProfileFileError> {
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
            let mut written = 0usize;
            self.for_each_section(compress, |entry, bytes| {
                sections.push(entry);
                let pad = [0u8; SECTION_ALIGN];
                let pad = &pad[..padding(written)];
                written += pad.len() + bytes.len();
                body.write_all(pad)
                    .and_then(|()| body.write_all(&bytes))
                    .map_err(|e| {
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
    let std = match &c.values {
        RawValues::Numeric(v) if !v.is_empty() => {
            // Only a finite one (JSON has no NaN or infinity).
            Some(
                c.std
                    .unwrap_or_else(|| crate::stats::wasserstein::std_dev(v)),
            )
            .filter(|s| s.is_finite())
        }
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
        std,
        sketch,
        frequent,
    }
}

/// The name of column `i`'s section.
/// `raw` reduced to the `resolved` columns, in their order, with their drift
/// types; the error names a resolved column `raw` does not have.
fn pick_columns(
    raw: Vec<RawColumn>,
    resolved: &[ResolvedColumn],
) -> Result<Vec<RawColumn>, String> {
    let mut by_name: HashMap<String, RawColumn> =
        raw.into_iter().map(|c| (c.name.clone(), c)).collect();
    resolved
        .iter()
        .map(|column| {
            let mut r = by_name
                .remove(&column.name)
                .ok_or_else(|| column.name.clone())?;
            r.drift_type = column.drift_type;
            Ok(r)
        })
        .collect()
}

/// The header entry of kept segments.
pub(crate) fn segments_header(stored: &StoredSegments) -> SegmentsHeader {
    SegmentsHeader {
        columns: stored.columns.clone(),
        max_segments: stored.max_segments,
        segments: stored
            .parts
            .iter()
            .map(|part| SegmentHeader {
                name: part.name.clone(),
                rows: part.rows,
                columns: part.raw.iter().map(column_header).collect(),
            })
            .collect(),
    }
}

/// The section `name` holding `rows`, and its header entry.
fn rows_section(name: &str, rows: &LabelledRows) -> Result<(SectionHeader, Vec<u8>), String> {
    let bytes = encode_labelled(rows).map_err(|e| format!("cannot encode the {name} rows: {e}"))?;
    let entry = SectionHeader {
        name: name.into(),
        bytes: bytes.len() as u64,
        sha256: None,
        xxh3: Some(xxh3_hex(&bytes)),
    };
    Ok((entry, bytes))
}

/// The header entry of kept multivariate rows.
pub(crate) fn multivariate_header(rows: &ReferenceRows) -> MultivariateHeader {
    MultivariateHeader {
        features: rows.features.clone(),
        rows: rows.columns.first().map_or(0, |c| c.len() as u64),
        stride: rows.stride,
        max_reference_rows: rows.max_reference_rows,
        segment_keys: rows.keys.is_some(),
    }
}

/// Multivariate rows as named numeric columns (how they are stored).
fn multivariate_rows(rows: &ReferenceRows) -> LabelledRows {
    LabelledRows {
        rows: rows.columns.first().map_or(0, Vec::len),
        columns: rows
            .features
            .iter()
            .zip(&rows.columns)
            .map(|(name, values)| {
                (
                    name.clone(),
                    ColumnArray::Numeric(Float64Array::from(values.clone())),
                )
            })
            .collect(),
    }
}

/// The section of segment `s`'s column `i`.
fn segment_column_section(s: usize, i: usize) -> String {
    format!("segment:{s}:column:{i}")
}

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

/// How a section's buffers are compressed: none (read in place), LZ4 (fast
/// to decode) or ZSTD (small; for the sections with little to decode).
fn stream_options(
    compression: Option<CompressionType>,
) -> Result<IpcWriteOptions, arrow::error::ArrowError> {
    // 64-byte alignment (the default) of every buffer within the stream.
    IpcWriteOptions::default().try_with_compression(compression)
}

/// One column's section: a numeric column's values (runs of equal bits with
/// their counts when it has ties), a sketch's held values level by level with
/// their weights, or the categories with their counts. Numeric values are one
/// batch: LZ4-compressed when `compress` or when that saves a quarter of
/// their bytes, else uncompressed, so that a reader uses them in place.
fn encode_column(column: &RawColumn, compress: bool) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut out = Vec::new();
    let write = |out: &mut Vec<u8>,
                 schema: Arc<Schema>,
                 compression: Option<CompressionType>,
                 batches: Vec<Vec<ArrayRef>>|
     -> Result<(), arrow::error::ArrowError> {
        let mut writer =
            StreamWriter::try_new_with_options(out, &schema, stream_options(compression)?)?;
        for arrays in batches {
            writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
        }
        writer.finish()
    };
    match &column.values {
        RawValues::Numeric(sorted) => {
            // A numeric column without ties (most continuous ones) stores no counts.
            let (schema, arrays): (_, Vec<ArrayRef>) =
                if sorted.windows(2).all(|w| w[0].to_bits() != w[1].to_bits()) {
                    let values = Float64Array::new(sorted.clone(), None);
                    (distinct_schema(), vec![Arc::new(values)])
                } else {
                    let mut values = Vec::new();
                    let mut counts = Vec::new();
                    for run in sorted.chunk_by(|a, b| a.to_bits() == b.to_bits()) {
                        values.push(run[0]);
                        counts.push(run.len() as u64);
                    }
                    let arrays: Vec<ArrayRef> = vec![
                        Arc::new(Float64Array::from(values)),
                        Arc::new(UInt64Array::from(counts)),
                    ];
                    (numeric_schema(), arrays)
                };
            let lz4 = Some(CompressionType::LZ4_FRAME);
            write(&mut out, schema.clone(), lz4, vec![arrays.clone()])?;
            if !compress {
                // Stored to be used in place unless LZ4 saves a quarter of the
                // bytes (rounded or few-valued data; random doubles save ~10%).
                let mut plain = Vec::new();
                write(&mut plain, schema, None, vec![arrays])?;
                if 4 * out.len() > 3 * plain.len() {
                    out = plain;
                }
            }
        }
        RawValues::Sketch(sketch) => {
            let mut values = Float64Builder::new();
            let mut counts = UInt64Builder::new();
            for (h, level) in sketch.levels().iter().enumerate() {
                let mut level = level.clone();
                level.sort_unstable_by(f64::total_cmp);
                for v in level {
                    values.append_value(v);
                    counts.append_value(1 << h);
                }
            }
            let arrays: Vec<ArrayRef> = vec![Arc::new(values.finish()), Arc::new(counts.finish())];
            write(
                &mut out,
                numeric_schema(),
                Some(CompressionType::ZSTD),
                vec![arrays],
            )?;
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
            let batches = pairs
                .chunks(BATCH_ROWS)
                .map(|chunk| {
                    let mut categories = StringBuilder::new();
                    let mut counts = UInt64Builder::new();
                    for (category, count) in chunk {
                        categories.append_value(category);
                        counts.append_value(*count);
                    }
                    let arrays: Vec<ArrayRef> =
                        vec![Arc::new(categories.finish()), Arc::new(counts.finish())];
                    arrays
                })
                .collect();
            write(
                &mut out,
                categorical_schema(),
                Some(CompressionType::ZSTD),
                batches,
            )?;
        }
    }
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
    let mut writer = StreamWriter::try_new_with_options(
        &mut out,
        &schema,
        stream_options(Some(CompressionType::ZSTD))?,
    )?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// Reads a profile file into one buffer; its uncompressed numeric values are
/// then used where they lie (see [`decode`]).
///
/// The file is read, not memory-mapped: a mapping would save the copy, but a
/// daemon whose profile is overwritten in place would then read the new bytes
/// as the old (or die of SIGBUS when it shrinks).
pub fn read(path: &Path) -> Result<ProfileFile, ProfileFileError> {
    let bytes = std::fs::read(path).map_err(|source| ProfileFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(Buffer::from_vec(bytes)).map_err(|message| ProfileFileError::Invalid {
        path: path.to_path_buf(),
        message,
    })
}

/// Maps a profile file into memory instead of reading it (for a command that
/// exits when done, `check`): its pages come from the page cache as they are,
/// where [`read`] copies 80 MB in about 45 ms on the benchmark machine.
///
/// A mapping sees what another process writes to the file while it is mapped,
/// and dies of SIGBUS if the file shrinks: so the daemon never maps (it
/// [`read`]s), and a `check` reads a profile that changes during its run
/// at the same risk as any program reading a file being rewritten.
pub fn map(path: &Path) -> Result<ProfileFile, ProfileFileError> {
    let io = |source| ProfileFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the mapping is read-only and private. Its bytes are only ever
    // read through the `Buffer` that owns it; the hazard of another process
    // changing the file during a one-shot command is the one documented above.
    let mapped = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(io)?;
    decode(Buffer::from(bytes::Bytes::from_owner(mapped))).map_err(|message| {
        ProfileFileError::Invalid {
            path: path.to_path_buf(),
            message,
        }
    })
}

/// The header of a profile whose first bytes are `bytes` (at least the fixed
/// prefix and the header), and the header's length in bytes.
fn parse_header(bytes: &[u8]) -> Result<(Header, usize), String> {
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
    if !READS_VERSIONS.contains(&version) {
        return Err(format!(
            "format version {version}; this drift-exporter ({}) reads versions {}",
            crate::metrics::VERSION,
            READS_VERSIONS.map(|v| v.to_string()).join(" and ")
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
    Ok((header, header_len))
}

/// Reads only a profile's header (its columns and kinds), not its values.
pub fn read_header(path: &Path) -> Result<Header, ProfileFileError> {
    let invalid = |message| ProfileFileError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let io = |source| ProfileFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut prefix = [0u8; 16];
    file.read_exact(&mut prefix).map_err(io)?;
    let header_len = u32::from_le_bytes([prefix[12], prefix[13], prefix[14], prefix[15]]);
    let mut bytes = prefix.to_vec();
    file.take(u64::from(header_len))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    parse_header(&bytes)
        .map(|(header, _)| header)
        .map_err(invalid)
}

/// The Arrow schema the profiled columns had (`Float64` for numbers, `Utf8`
/// or `Boolean` for categories): what the columns rules are resolved against.
pub(crate) fn columns_schema<'a>(columns: impl Iterator<Item = (&'a str, Kind, bool)>) -> Schema {
    let fields: Vec<Field> = columns
        .map(|(name, kind, boolean)| {
            let t = match (kind, boolean) {
                (Kind::Numeric, _) => DataType::Float64,
                (Kind::Categorical, true) => DataType::Boolean,
                (Kind::Categorical, false) => DataType::Utf8,
            };
            Field::new(name, t, true)
        })
        .collect();
    Schema::new(fields)
}

/// Decodes a profile's bytes; the error says what is wrong. The numeric
/// columns of an uncompressed section point into
/// `bytes` when it is 8-byte aligned (the system allocator's large blocks
/// are), and are copied otherwise.
pub fn decode(bytes: Buffer) -> Result<ProfileFile, String> {
    let (header, header_len) = parse_header(&bytes)?;
    let version = header.version;
    let aligned = version >= 2;
    let mut at = 16 + header_len;
    let mut spans = Vec::with_capacity(header.sections.len());
    for section in &header.sections {
        if aligned {
            at += padding(at);
        }
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
        let body = &bytes[*at..*end];
        let (kind, expected, found) = if aligned {
            ("XXH3-64", &section.xxh3, xxh3_hex(body))
        } else {
            ("SHA-256", &section.sha256, sha256_hex(body))
        };
        match expected {
            Some(expected) if *expected == found => Ok(()),
            Some(_) => Err(format!(
                "damaged: section `{}` (bytes {at}..{end}) fails its {kind} check",
                section.name
            )),
            None => Err(format!(
                "the header gives section `{}` no {kind} checksum",
                section.name
            )),
        }
    })?;
    if at != bytes.len() {
        return Err(format!(
            "{} bytes after the last section (damaged, or not written by drift-exporter)",
            bytes.len() - at
        ));
    }
    let sections: HashMap<&str, Buffer> = spans
        .iter()
        .map(|(section, at, end)| {
            (
                section.name.as_str(),
                bytes.slice_with_length(*at, end - at),
            )
        })
        .collect();
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
            decode_column(body.clone(), column)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let labelled = match (&header.label, sections.get("labelled")) {
        (Some(label), Some(body)) => Some(decode_labelled(body.clone(), label)?),
        (Some(_), None) => {
            return Err("the header names a label but the `labelled` section is missing".into())
        }
        (None, _) => None,
    };
    let segments = match &header.segments {
        Some(kept) => {
            let wanted: Vec<(usize, usize, &ColumnHeader)> = kept
                .segments
                .iter()
                .enumerate()
                .flat_map(|(s, segment)| {
                    segment
                        .columns
                        .iter()
                        .enumerate()
                        .map(move |(i, column)| (s, i, column))
                })
                .collect();
            let mut columns = wanted
                .par_iter()
                .map(|&(s, i, column)| {
                    let name = segment_column_section(s, i);
                    let body = sections.get(name.as_str()).ok_or_else(|| {
                        format!(
                            "the section `{name}` of segment `{}` is missing",
                            kept.segments[s].name
                        )
                    })?;
                    decode_column(body.clone(), column)
                        .map_err(|e| format!("segment `{}`: {e}", kept.segments[s].name))
                })
                .collect::<Result<Vec<_>, String>>()?
                .into_iter();
            let parts = kept
                .segments
                .iter()
                .map(|segment| SegmentRaw {
                    name: segment.name.clone(),
                    rows: segment.rows,
                    raw: columns.by_ref().take(segment.columns.len()).collect(),
                })
                .collect();
            Some(StoredSegments {
                columns: kept.columns.clone(),
                max_segments: kept.max_segments,
                parts,
            })
        }
        None => None,
    };
    let multivariate = match (&header.multivariate, sections.get("multivariate")) {
        (Some(kept), Some(body)) => {
            let names: Vec<(String, Kind)> = kept
                .features
                .iter()
                .map(|f| (f.clone(), Kind::Numeric))
                .collect();
            let rows = decode_rows(body.clone(), "multivariate", &names)?;
            if rows.rows as u64 != kept.rows {
                return Err(format!(
                    "the header counts {} multivariate rows, the section holds {}",
                    kept.rows, rows.rows
                ));
            }
            let columns = rows
                .columns
                .into_iter()
                .map(|(_, column)| match column {
                    // Stored without nulls; one read as null is missing.
                    ColumnArray::Numeric(a) => a.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
                    ColumnArray::Categorical(_) => Vec::new(),
                })
                .collect();
            let keys = match (kept.segment_keys, sections.get("multivariate:segments")) {
                (false, _) => None,
                (true, None) => {
                    return Err("the header says the multivariate rows' segments are kept, but the `multivariate:segments` section is missing".into())
                }
                (true, Some(body)) => {
                    let keys = decode_rows(
                        body.clone(),
                        "multivariate:segments",
                        &[("segment".into(), Kind::Categorical)],
                    )?;
                    if keys.rows as u64 != kept.rows {
                        return Err(format!(
                            "the header counts {} multivariate rows, the `multivariate:segments` section {}",
                            kept.rows, keys.rows
                        ));
                    }
                    match keys.columns.into_iter().next() {
                        Some((_, ColumnArray::Categorical(a))) => Some(
                            a.iter()
                                .map(|k| k.unwrap_or(crate::segments::MISSING).to_string())
                                .collect(),
                        ),
                        _ => None,
                    }
                }
            };
            Some(ReferenceRows {
                max_reference_rows: kept.max_reference_rows,
                stride: kept.stride,
                features: kept.features.clone(),
                columns,
                keys,
            })
        }
        (Some(_), None) => {
            return Err(
                "the header names multivariate rows but the `multivariate` section is missing"
                    .into(),
            )
        }
        (None, _) => None,
    };
    Ok(ProfileFile {
        header,
        raw,
        labelled,
        segments,
        multivariate,
    })
}

/// The schema and record batches of one Arrow IPC stream, read in place
/// (a buffer is copied only when it is compressed or misaligned).
fn stream_batches(
    mut body: Buffer,
) -> Result<(Arc<Schema>, Vec<RecordBatch>), arrow::error::ArrowError> {
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !body.is_empty() {
        if let Some(batch) = decoder.decode(&mut body)? {
            batches.push(batch);
        }
    }
    let schema = decoder.schema().ok_or_else(|| {
        arrow::error::ArrowError::IpcError("the stream ends before its schema".into())
    })?;
    decoder.finish()?;
    Ok((schema, batches))
}

/// Finite and strictly ascending in IEEE total order (`-0.0` before `0.0`),
/// continuing after `last`. It reads every value of a profile at every
/// start, so it is written to run at the speed of memory: blocks of values
/// are checked by `a < b` on every adjacent pair, counted without early exits
/// (vectorised; false for NaN); only a block where that fails, which in
/// ascending values can only be the pair `-0.0`, `0.0`, is checked again in
/// total order (unsigned keys: negative values' bits flipped, the sign bit
/// set on the others, 4x slower without 64-bit vector compares). Strictly
/// ascending values between finite ends are finite.
fn strictly_ascending(last: Option<f64>, values: &[f64]) -> bool {
    /// Blocks this long keep the compare loop branch-free yet stop soon after
    /// a disorder.
    const BLOCK: usize = 4096;
    let key = |v: f64| {
        let bits = v.to_bits();
        let negative = ((bits as i64) >> 63) as u64;
        bits ^ (negative | (1 << 63))
    };
    let ends_finite = match (values.first(), values.last()) {
        (Some(first), Some(last)) => first.is_finite() && last.is_finite(),
        _ => true,
    };
    let after_last = match (last, values.first()) {
        (Some(last), Some(&first)) => key(last) < key(first),
        _ => true,
    };
    let (Some(_), true, true) = (values.first(), ends_finite, after_last) else {
        return ends_finite && after_last;
    };
    let (earlier, later) = (&values[..values.len() - 1], &values[1..]);
    earlier
        .chunks(BLOCK)
        .zip(later.chunks(BLOCK))
        .all(|(a, b)| {
            let below = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .fold(0u64, |below, (&a, &b)| below + u64::from(a < b))
                    == a.len() as u64
            };
            let in_total_order = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .fold(0u64, |bad, (&a, &b)| bad | u64::from(key(a) >= key(b)))
                    == 0
            };
            below(a, b) || in_total_order(a, b)
        })
}

/// Decodes and checks one column's section.
fn decode_column(body: Buffer, header: &ColumnHeader) -> Result<RawColumn, String> {
    let name = &header.name;
    let (schema, batches) = stream_batches(body).map_err(|e| {
        format!("column `{name}`: its section is not a readable Arrow IPC stream: {e}")
    })?;
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
    let column = |values| RawColumn {
        name: name.clone(),
        drift_type: header.drift_type,
        boolean: header.boolean,
        missing: header.missing,
        rejected: header.rejected,
        values,
        std: None,
    };
    if header.kind == Kind::Numeric && header.sketch.is_none() {
        let values = exact_values(name, &batches, distinct, header)?;
        let std = match header.std {
            Some(s) if !(s.is_finite() && s >= 0.0) => {
                return Err(format!(
                "column `{name}`: its standard deviation ({s}) is not a finite non-negative number"
            ))
            }
            std => std,
        };
        return Ok(RawColumn {
            std,
            ..column(RawValues::Numeric(values))
        });
    }
    let mut levels: Vec<Vec<f64>> = Vec::new();
    let mut categories: Vec<(String, u64)> = Vec::new();
    for batch in &batches {
        let counts = batch.column(1).as_primitive::<UInt64Type>().values();
        match header.kind {
            Kind::Categorical => {
                let text = batch.column(0).as_string::<i32>();
                for (category, &n) in text.iter().zip(counts.iter()) {
                    categories.push((category.unwrap_or_default().to_string(), n));
                }
            }
            Kind::Numeric => {
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
        (Kind::Categorical, _) => match &header.frequent {
            Some(f) => RawValues::Frequent(FrequentItems::from_parts(
                f.capacity,
                categories,
                f.rest,
                f.error_rows,
            )),
            None => RawValues::Categorical(categories),
        },
        (Kind::Numeric, None) => unreachable!("returned above"),
    };
    let column = column(values);
    let found = column_header(&column);
    if (found.values, found.distinct) != (header.values, header.distinct) {
        return Err(format!(
            "column `{name}`: the header counts {} values ({} distinct), the section holds {} ({})",
            header.values, header.distinct, found.values, found.distinct
        ));
    }
    Ok(column)
}

/// An exact numeric column's sorted values, checked: the stored values
/// themselves when the section is one batch without ties (uncompressed, they
/// stay where they lie in the file's buffer), else runs expanded.
fn exact_values(
    name: &str,
    batches: &[RecordBatch],
    distinct: bool,
    header: &ColumnHeader,
) -> Result<ScalarBuffer<f64>, String> {
    let mut last = None;
    let (mut runs, mut total) = (0u64, 0u64);
    for batch in batches {
        let values = batch.column(0).as_primitive::<Float64Type>().values();
        if !strictly_ascending(last, values) {
            return Err(format!(
                "column `{name}`: values out of order, repeated or not finite"
            ));
        }
        last = values.last().copied().or(last);
        runs += values.len() as u64;
        if distinct {
            total += values.len() as u64;
        } else {
            let counts = batch.column(1).as_primitive::<UInt64Type>().values();
            if counts.contains(&0) {
                return Err(format!("column `{name}`: a value counted 0 times"));
            }
            total = counts
                .iter()
                .try_fold(total, |t, &n| t.checked_add(n))
                .ok_or_else(|| format!("column `{name}`: counts overflow"))?;
        }
    }
    if (total, runs) != (header.values, header.distinct) {
        return Err(format!(
            "column `{name}`: the header counts {} values ({} distinct), the section holds {total} ({runs})",
            header.values, header.distinct
        ));
    }
    if let (true, [batch]) = (distinct, batches) {
        return Ok(batch
            .column(0)
            .as_primitive::<Float64Type>()
            .values()
            .clone());
    }
    // The header's count was checked against the section's.
    let mut out = Vec::with_capacity(total as usize);
    for batch in batches {
        let values = batch.column(0).as_primitive::<Float64Type>().values();
        if distinct {
            out.extend_from_slice(values);
            continue;
        }
        let counts = batch.column(1).as_primitive::<UInt64Type>().values();
        for (&v, &n) in values.iter().zip(counts.iter()) {
            out.extend(std::iter::repeat_n(v, n as usize));
        }
    }
    Ok(out.into())
}

fn decode_labelled(body: Buffer, label: &LabelHeader) -> Result<LabelledRows, String> {
    let mut names = vec![(label.name.clone(), label.kind)];
    names.extend(label.predictions.iter().cloned());
    decode_rows(body, "labelled", &names)
}

/// The rows of the section `section`: the columns `names` with their kinds.
fn decode_rows(
    body: Buffer,
    section: &str,
    names: &[(String, Kind)],
) -> Result<LabelledRows, String> {
    let names = names.to_vec();
    let (_, batches) = stream_batches(body)
        .map_err(|e| format!("the `{section}` section is not a readable Arrow IPC stream: {e}"))?;
    let mut pieces: Vec<Vec<ArrayRef>> = vec![Vec::new(); names.len()];
    let mut rows = 0;
    for batch in batches {
        rows += batch.num_rows();
        for (i, (name, kind)) in names.iter().enumerate() {
            let array = batch
                .column_by_name(name)
                .filter(|a| *a.data_type() == kind.arrow_type())
                .ok_or_else(|| {
                    format!(
                        "the `{section}` section lacks the {} column `{name}`",
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
            arrow::compute::concat(&refs).map_err(|e| format!("the `{section}` section: {e}"))?
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
    use arrow::buffer::MutableBuffer;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn sample() -> ProfileFile {
        let raw = vec![
            RawColumn {
                name: "x".into(),
                drift_type: DriftType::Data,
                boolean: false,
                missing: 2,
                rejected: 1,
                values: RawValues::Numeric(vec![-1.5, -0.0, 0.0, 0.0, 0.0, 3.25, 1e300].into()),
                std: None,
            },
            RawColumn {
                name: "d".into(),
                drift_type: DriftType::Data,
                boolean: false,
                missing: 0,
                rejected: 0,
                values: RawValues::Numeric(vec![-2.0, 0.5, 7.0].into()),
                std: None,
            },
            RawColumn {
                name: "c".into(),
                drift_type: DriftType::Prediction,
                boolean: false,
                missing: 0,
                rejected: 0,
                values: RawValues::Categorical(vec![("a".into(), 3), ("b".into(), 1)]),
                std: None,
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
                segments: None,
                multivariate: None,
                sections: Vec::new(),
            },
            raw,
            labelled: Some(labelled),
            segments: None,
            multivariate: None,
        }
    }

    #[test]
    fn segments_and_multivariate_rows_round_trip_and_a_missing_section_is_named() -> TestResult {
        let mut profile = sample();
        let part = |name: &str, rows: u64, raw: &[RawColumn]| SegmentRaw {
            name: name.into(),
            rows,
            raw: raw.to_vec(),
        };
        let stored = StoredSegments {
            columns: vec!["c".into()],
            max_segments: 1,
            parts: vec![
                part("a", 5, &profile.raw[1..]),
                part("__other__", 4, &profile.raw[..2]),
            ],
        };
        profile.header.segments = Some(segments_header(&stored));
        profile.segments = Some(stored.clone());
        let rows = ReferenceRows {
            max_reference_rows: 3,
            stride: 2,
            features: vec!["x".into(), "d".into()],
            columns: vec![vec![1.5, f64::NAN, -0.0], vec![2.0, 3.0, f64::INFINITY]],
            keys: Some(vec!["a".into(), "__other__".into(), "a".into()]),
        };
        profile.header.multivariate = Some(multivariate_header(&rows));
        profile.multivariate = Some(rows.clone());
        let bytes = profile.encode(false)?;
        let back = decode(Buffer::from_vec(bytes))?;
        // The multivariate rows, bit for bit (NaN as missing, -0.0 kept).
        let kept = back.multivariate.as_ref().ok_or("multivariate rows")?;
        assert_eq!((kept.stride, kept.max_reference_rows), (2, 3));
        assert_eq!(kept.features, rows.features);
        assert_eq!(kept.keys, rows.keys);
        let bits = |c: &[Vec<f64>]| -> Vec<Vec<u64>> {
            c.iter()
                .map(|v| v.iter().map(|x| x.to_bits()).collect())
                .collect()
        };
        assert_eq!(bits(&kept.columns), bits(&rows.columns));
        let kept = back.segments.ok_or("segments read back")?;
        assert_eq!((kept.columns, kept.max_segments), (stored.columns, 1));
        assert_eq!(kept.parts.len(), 2);
        for (got, want) in kept.parts.iter().zip(&stored.parts) {
            assert_eq!((&got.name, got.rows), (&want.name, want.rows));
            assert_eq!(got.raw, with_stored_std(&want.raw));
        }
        // 3 columns, the labelled rows, 2 + 2 segment columns, the
        // multivariate rows and their segment keys.
        assert_eq!(back.header.sections.len(), 10);
        // A header naming a segment column the file lacks: named.
        let mut damaged = profile.clone();
        if let Some(h) = damaged.header.segments.as_mut() {
            h.segments[1].columns.push(column_header(&profile.raw[2]));
        }
        let err = decode(Buffer::from_vec(damaged.encode(false)?))
            .err()
            .ok_or("a missing section is an error")?;
        assert!(
            err.contains("`segment:1:column:2` of segment `__other__` is missing"),
            "{err}"
        );
        Ok(())
    }

    /// `raw` as read back: exact numeric columns carry the standard deviation
    /// the header stores (none when it is not finite: JSON has no infinity).
    fn with_stored_std(raw: &[RawColumn]) -> Vec<RawColumn> {
        let mut raw = raw.to_vec();
        for c in &mut raw {
            if let RawValues::Numeric(v) = &c.values {
                c.std = Some(crate::stats::wasserstein::std_dev(v)).filter(|s| s.is_finite());
            }
        }
        raw
    }

    #[test]
    fn a_profile_round_trips_bit_for_bit_with_its_ties_stored_once() -> TestResult {
        let profile = sample();
        for compress in [false, true] {
            let bytes = profile.encode(compress)?;
            let back = decode(Buffer::from_vec(bytes.clone()))?;
            assert_eq!(back.raw, with_stored_std(&profile.raw));
            // The second column's standard deviation is stored (the first's,
            // with 1e300 among its values, overflows and is left out).
            assert_eq!(back.raw[0].std, None);
            assert_eq!(
                back.raw[1].std.map(f64::to_bits),
                Some(crate::stats::wasserstein::std_dev(&[-2.0, 0.5, 7.0]).to_bits())
            );
            assert_eq!(back.labelled, profile.labelled);
            // -0.0 and 0.0 are distinct runs; the three 0.0 are one.
            assert_eq!(back.header.columns[0].distinct, 5);
            let RawValues::Numeric(v) = &back.raw[0].values else {
                return Err("numeric".into());
            };
            assert!(v[1].is_sign_negative() && v[2].is_sign_positive());
            assert_eq!(back.header.sections.len(), 4);
            assert_eq!(&bytes[..8], MAGIC);
            assert_eq!(back.header.version, FORMAT_VERSION);
        }
        // A column without ties stores no count column.
        let ties = encode_column(&profile.raw[0], false)?;
        let header = column_header(&profile.raw[0]);
        assert_eq!(
            decode_column(Buffer::from_vec(ties), &header)?,
            profile.raw[0]
        );
        let (schema, _) = stream_batches(Buffer::from_vec(encode_column(&profile.raw[1], false)?))?;
        assert_eq!(schema.fields().len(), 1);
        Ok(())
    }

    #[test]
    fn sections_are_aligned_and_uncompressed_values_are_read_in_place() -> TestResult {
        let profile = sample();
        let plain = profile.encode(false)?;
        let mut aligned = MutableBuffer::from_len_zeroed(plain.len());
        aligned.as_slice_mut().copy_from_slice(&plain);
        let buffer: Buffer = aligned.into();
        let (start, end) = (
            buffer.as_ptr() as usize,
            buffer.as_ptr() as usize + buffer.len(),
        );
        let back = decode(buffer.clone())?;
        let inside = |v: &RawValues| match v {
            RawValues::Numeric(v) => (start..end).contains(&(v.as_ptr() as usize)),
            _ => false,
        };
        // The column without ties points into the file's bytes; the one with
        // ties is expanded; a compressed one is decoded.
        assert!(inside(&back.raw[1].values));
        assert!(!inside(&back.raw[0].values));
        // Values that LZ4 shrinks by more than a quarter are compressed by
        // default as with `compress`, and decoded into memory of their own.
        let mut compressible = sample();
        compressible.raw[1].values = RawValues::Numeric(
            (0..4096)
                .map(|k| f64::from(k) * 0.5)
                .collect::<Vec<_>>()
                .into(),
        );
        compressible.header.columns[1] = column_header(&compressible.raw[1]);
        for compress in [false, true] {
            let compressed = compressible.encode(compress)?;
            let mut copy = MutableBuffer::from_len_zeroed(compressed.len());
            copy.as_slice_mut().copy_from_slice(&compressed);
            let copy: Buffer = copy.into();
            let (cs, ce) = (copy.as_ptr() as usize, copy.as_ptr() as usize + copy.len());
            let back = decode(copy.clone())?;
            assert_eq!(back.raw, with_stored_std(&compressible.raw));
            let section = back.header.sections[1].bytes;
            assert!(4 * section < 3 * 4096 * 8, "{section} bytes");
            let RawValues::Numeric(v) = &back.raw[1].values else {
                return Err("numeric".into());
            };
            assert!(!(cs..ce).contains(&(v.as_ptr() as usize)));
        }
        // Every section starts at a multiple of 64 bytes.
        let header_len = u32::from_le_bytes(plain[12..16].try_into()?) as usize;
        assert_eq!((16 + header_len) % SECTION_ALIGN, 0);
        let mut at = 16 + header_len;
        for section in &back.header.sections {
            at += padding(at);
            assert_eq!(at % SECTION_ALIGN, 0);
            at += section.bytes as usize;
        }
        assert_eq!(at, plain.len());
        Ok(())
    }

    /// A version-1 file of `profile`: sections back to back, each with its
    /// SHA-256 (as drift-exporter 0.1.0 of session 4 wrote them).
    fn encode_version_1(profile: &ProfileFile) -> Result<Vec<u8>, String> {
        let (mut sections, mut body) = (Vec::new(), Vec::new());
        profile.for_each_section(true, |mut entry, bytes| {
            entry.xxh3 = None;
            entry.sha256 = Some(sha256_hex(&bytes));
            sections.push(entry);
            body.extend_from_slice(&bytes);
            Ok(())
        })?;
        let mut header = profile.header.clone();
        header.version = 1;
        header.sections = sections;
        let json = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&body);
        Ok(out)
    }

    #[test]
    fn strictly_ascending_is_total_order_on_finite_values() {
        assert!(strictly_ascending(None, &[]));
        assert!(strictly_ascending(None, &[-1.0, -0.0, 0.0, 2.0]));
        assert!(strictly_ascending(Some(-0.0), &[0.0, 1.0]));
        assert!(!strictly_ascending(Some(0.0), &[-0.0, 1.0]));
        assert!(!strictly_ascending(None, &[0.0, -0.0]));
        assert!(!strictly_ascending(None, &[1.0, 1.0]));
        assert!(!strictly_ascending(None, &[2.0, 1.0]));
        assert!(!strictly_ascending(None, &[1.0, f64::NAN, 3.0]));
        assert!(!strictly_ascending(None, &[f64::NEG_INFINITY, 1.0]));
        assert!(!strictly_ascending(None, &[1.0, f64::INFINITY]));
        assert!(!strictly_ascending(None, &[f64::NAN]));
        assert!(!strictly_ascending(Some(2.0), &[1.0]));
    }

    #[test]
    fn strictly_ascending_finds_a_disorder_in_any_block() {
        let values: Vec<f64> = (0..10_000).map(|i| f64::from(i) - 5_000.0).collect();
        assert!(strictly_ascending(None, &values));
        assert!(strictly_ascending(Some(-5_000.5), &values));
        assert!(!strictly_ascending(Some(-5_000.0), &values));
        for at in [1, 4095, 4096, 4097, 9_000, 9_999] {
            let mut bad = values.clone();
            bad[at] = bad[at - 1];
            assert!(!strictly_ascending(None, &bad), "a repeat at {at}");
            bad[at] = f64::NAN;
            assert!(!strictly_ascending(None, &bad), "NaN at {at}");
            bad[at] = values[at - 1] - 0.5;
            assert!(!strictly_ascending(None, &bad), "a step down at {at}");
        }
    }

    #[test]
    fn version_1_files_are_still_read_and_checked_with_sha256() -> TestResult {
        let profile = sample();
        let bytes = encode_version_1(&profile)?;
        let back = decode(Buffer::from_vec(bytes.clone()))?;
        assert_eq!(back.raw, with_stored_std(&profile.raw));
        assert_eq!(back.header.version, 1);
        let mut damaged = bytes;
        let last = damaged.len() - 10;
        damaged[last] ^= 0x40;
        let e = decode(Buffer::from_vec(damaged)).err().unwrap_or_default();
        assert!(e.contains("SHA-256"), "{e}");
        Ok(())
    }

    #[test]
    fn truncated_damaged_foreign_and_newer_files_are_named_errors() -> TestResult {
        let bytes = sample().encode(false)?;
        let error = |b: &[u8]| {
            decode(Buffer::from_vec(b.to_vec()))
                .err()
                .unwrap_or_default()
        };
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
        assert!(error(&damaged).contains("XXH3-64"), "{}", error(&damaged));
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&3u32.to_le_bytes());
        assert!(
            error(&newer).contains("format version 3")
                && error(&newer).contains("reads versions 1 and 2"),
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
