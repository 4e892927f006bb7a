//! `drift-exporter profile`, `profile merge` and `profile show` (SPEC.md
//! section 7): profile a Parquet reference once and ship the small file
//! ([`crate::reference::profile_file`] is its format), merge the profiles of a
//! reference's shards into the profile of the whole, and print what a profile
//! holds.
//!
//! A profile keeps every value (exact mode), so every place that takes the
//! reference Parquet takes its profile instead, with bit-identical scores, and
//! the settings that shape bins (`bins`, `binning`, `max_categories`) apply
//! when it is used.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::data::Kind;
use crate::reference::profile_file::{
    self, column_header, sha256_hex, ProfileFile, ProfileFileError,
};
use crate::reference::{ProfileMode, RawColumn, RawValues, ReferenceData, ReferenceError};
use crate::segments::StoredSegments;

/// Errors of the profile commands.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The reference cannot be read.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A profile cannot be read or written.
    #[error(transparent)]
    File(#[from] ProfileFileError),
    /// `--reference` is itself a profile.
    #[error(
        "{0}: is already a profile (profile the Parquet it was built from, or use `profile merge`)"
    )]
    AlreadyProfile(PathBuf),
    /// Profiles that cannot be merged.
    #[error("cannot merge {first} and {other}: {message}")]
    Mismatch {
        /// The first profile.
        first: PathBuf,
        /// The one that differs.
        other: PathBuf,
        /// The difference.
        message: String,
    },
    /// Nothing to merge.
    #[error("profile merge needs at least one input profile")]
    NoInput,
}

/// Profiles the Parquet `reference` with `config`'s `[columns]` and `[model]`
/// (which columns, their kinds, the label kept for quality) and writes it to
/// `out`. Returns the profile written.
pub fn build(reference: &Path, config: &Config, out: &Path) -> Result<ProfileFile, ProfileError> {
    build_with(reference, config, out, ProfileMode::Exact, false)
}

/// [`build`] in `mode`: exact, or numeric columns in quantile sketches (no
/// labelled rows kept; memory that does not grow with the rows); numeric
/// columns all LZ4-compressed when `compress` (the smallest file, decoded when
/// read), else each only when that saves a quarter of its bytes (an
/// uncompressed column is used in place).
pub fn build_with(
    reference: &Path,
    config: &Config,
    out: &Path,
    mode: ProfileMode,
    compress: bool,
) -> Result<ProfileFile, ProfileError> {
    if profile_file::is_profile(reference) {
        return Err(ProfileError::AlreadyProfile(reference.to_path_buf()));
    }
    let mut data =
        ReferenceData::read_parquet_with(reference, &config.columns, &config.model, mode, true)?;
    data.segments = segments(reference, &data, config, mode)?;
    if config.multivariate.enabled {
        let features = crate::multivariate::features(&data.resolved);
        // With segments, each kept row's segment key too (the fits per
        // segment).
        let rows = crate::multivariate::reference_rows(
            reference,
            features,
            config.multivariate.max_reference_rows,
            &config.columns.segment,
        )
        .map_err(|message| ReferenceError::columns(reference, "multivariate", message))?;
        data.multivariate = Some(rows);
    }
    let profile = ProfileFile::from_data(data, reference, &config.columns);
    profile.write(out, compress)?;
    Ok(profile)
}

/// The segments of the Parquet `reference` for `config`'s `columns.segment`
/// (`None` without one), made as a `check` of the Parquet makes them, so that
/// the profile's per-segment scores are the Parquet's.
fn segments(
    reference: &Path,
    data: &ReferenceData,
    config: &Config,
    mode: ProfileMode,
) -> Result<Option<StoredSegments>, ReferenceError> {
    let rules = &config.columns;
    if rules.segment.is_empty() {
        return Ok(None);
    }
    let mut plan = data.plan();
    for name in &rules.segment {
        if plan.index_of(name).is_none() {
            plan = plan.with_extra_column(name, Kind::Categorical);
        }
    }
    let parts = crate::segments::raw_by_segment(
        reference,
        &data.resolved,
        &plan,
        &rules.segment,
        rules.max_segments,
        mode,
    )
    .map_err(|message| ReferenceError::columns(reference, "columns.segment", message))?;
    Ok(Some(StoredSegments {
        columns: rules.segment.clone(),
        max_segments: rules.max_segments,
        parts,
    }))
}

/// Merges the profiles of disjoint shards of one reference (in order) into
/// the profile of the whole, and writes it to `out`: values merged in order,
/// category counts and null counts summed, labelled rows concatenated in the
/// order of the inputs.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<ProfileFile, ProfileError> {
    merge_with(inputs, out, false)
}

/// [`merge`], with every numeric column LZ4-compressed when `compress`.
pub fn merge_with(
    inputs: &[PathBuf],
    out: &Path,
    compress: bool,
) -> Result<ProfileFile, ProfileError> {
    let (first_path, rest) = inputs.split_first().ok_or(ProfileError::NoInput)?;
    let mut merged = profile_file::read(first_path)?;
    for path in rest {
        let next = profile_file::read(path)?;
        merge_into(&mut merged, next).map_err(|message| ProfileError::Mismatch {
            first: first_path.clone(),
            other: path.clone(),
            message,
        })?;
    }
    let lines: String = merged
        .header
        .sources
        .iter()
        .map(|s| format!("{}\n", s.sha256))
        .collect();
    merged.header.sha256 = if merged.header.sources.len() == 1 {
        merged.header.sources[0].sha256.clone()
    } else {
        sha256_hex(lines.as_bytes())
    };
    merged.header.columns = merged.raw.iter().map(column_header).collect();
    merged.write(out, compress)?;
    Ok(merged)
}

/// Adds `next` to `into`; the error names the first difference.
fn merge_into(into: &mut ProfileFile, next: ProfileFile) -> Result<(), String> {
    let (a, b) = (&into.header, &next.header);
    if a.mode != b.mode {
        return Err(format!("mode {} and {}", a.mode, b.mode));
    }
    let names = |h: &profile_file::Header| -> Vec<String> {
        h.columns.iter().map(|c| c.name.clone()).collect()
    };
    if names(a) != names(b) {
        return Err(format!(
            "different columns: [{}] and [{}]",
            names(a).join(", "),
            names(b).join(", ")
        ));
    }
    for (x, y) in a.columns.iter().zip(&b.columns) {
        if (x.kind, x.boolean) != (y.kind, y.boolean) {
            return Err(format!(
                "column `{}` is {}{} in one and {}{} in the other",
                x.name,
                x.kind.as_str(),
                if x.boolean { " (boolean)" } else { "" },
                y.kind.as_str(),
                if y.boolean { " (boolean)" } else { "" },
            ));
        }
    }
    if a.multivariate.is_some() || b.multivariate.is_some() {
        return Err("a profile with multivariate rows ([multivariate] enabled) cannot be merged: the rows of each shard are not the rows the whole would keep; profile the whole reference with it, or merge profiles built without it".into());
    }
    if a.segments.is_some() || b.segments.is_some() {
        return Err("a profile with segments (columns.segment) cannot be merged: the most frequent segments of the whole are not known from each shard's; profile the whole reference with columns.segment, or merge profiles built without it".into());
    }
    if a.label != b.label {
        let describe = |l: &Option<profile_file::LabelHeader>| match l {
            Some(l) => format!("label `{}` ({})", l.name, l.kind.as_str()),
            None => "no label".to_string(),
        };
        return Err(format!("{} and {}", describe(&a.label), describe(&b.label)));
    }
    into.header.rows += b.rows;
    into.header.sources.extend(next.header.sources);
    for (x, y) in into.raw.iter_mut().zip(next.raw) {
        merge_column(x, y);
    }
    match (&mut into.labelled, next.labelled) {
        (Some(x), Some(y)) => append_labelled(x, y)?,
        (None, None) => {}
        _ => return Err("one has labelled rows and the other not".into()),
    }
    Ok(())
}

fn merge_column(into: &mut RawColumn, next: RawColumn) {
    into.missing += next.missing;
    // Computed again from the merged values.
    into.std = None;
    into.rejected += next.rejected;
    match (&mut into.values, next.values) {
        (RawValues::Numeric(a), RawValues::Numeric(b)) => {
            let mut out = Vec::with_capacity(a.len() + b.len());
            let (mut i, mut j) = (0, 0);
            while i < a.len() && j < b.len() {
                if b[j].total_cmp(&a[i]).is_lt() {
                    out.push(b[j]);
                    j += 1;
                } else {
                    out.push(a[i]);
                    i += 1;
                }
            }
            out.extend_from_slice(&a[i..]);
            out.extend_from_slice(&b[j..]);
            *a = out.into();
        }
        (RawValues::Sketch(a), RawValues::Sketch(b)) => a.merge(&b),
        (RawValues::Frequent(a), RawValues::Frequent(b)) => a.merge(&b),
        (RawValues::Categorical(a), RawValues::Categorical(b)) => {
            let mut counts: BTreeMap<Vec<u8>, (String, u64)> = BTreeMap::new();
            for (category, n) in a.drain(..).chain(b) {
                counts
                    .entry(category.as_bytes().to_vec())
                    .or_insert_with(|| (category, 0))
                    .1 += n;
            }
            *a = counts.into_values().collect();
        }
        // Kinds and modes were checked equal.
        _ => {}
    }
}

fn append_labelled(
    into: &mut profile_file::LabelledRows,
    next: profile_file::LabelledRows,
) -> Result<(), String> {
    use crate::data::ColumnArray;
    if into.columns.len() != next.columns.len() {
        return Err("different prediction columns beside the label".into());
    }
    for ((name, a), (other, b)) in into.columns.iter_mut().zip(next.columns) {
        if *name != other {
            return Err(format!("labelled column `{name}` and `{other}`"));
        }
        let joined =
            arrow::compute::concat(&[a.to_array_ref().as_ref(), b.to_array_ref().as_ref()])
                .map_err(|e| format!("labelled column `{name}`: {e}"))?;
        use arrow::array::AsArray;
        *a = match a {
            ColumnArray::Numeric(_) => ColumnArray::Numeric(
                joined
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .clone(),
            ),
            ColumnArray::Categorical(_) => {
                ColumnArray::Categorical(joined.as_string::<i32>().clone())
            }
        };
    }
    into.rows += next.rows;
    Ok(())
}

/// A person's summary of a profile: the header, and a line per column.
pub fn render(path: &Path, profile: &ProfileFile) -> String {
    let h = &profile.header;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: drift-exporter profile, format version {}, {} mode, written by drift-exporter {}",
        path.display(),
        h.version,
        h.mode,
        h.tool_version
    );
    let _ = writeln!(out, "rows: {}   sha256: {}", h.rows, h.sha256);
    let bound = h
        .columns
        .iter()
        .filter_map(|c| c.sketch.as_ref())
        .map(|s| s.rank_error)
        .fold(None, |acc: Option<f64>, e| {
            Some(acc.map_or(e, |a| a.max(e)))
        });
    if let Some(bound) = bound {
        let _ = writeln!(
            out,
            "sketch: largest rank-error bound {bound:.3e} (KS statistic and bin shares within it; p-values approximate)"
        );
    }
    for s in &h.sources {
        let _ = writeln!(
            out,
            "source: {} ({} rows, sha256 {})",
            s.path, s.rows, s.sha256
        );
    }
    match &h.label {
        Some(l) => {
            let predictions: Vec<&str> = l.predictions.iter().map(|(n, _)| n.as_str()).collect();
            let _ = writeln!(
                out,
                "label: {} ({}), kept with the predictions [{}]",
                l.name,
                l.kind.as_str(),
                predictions.join(", ")
            );
        }
        None => {
            let _ = writeln!(out, "label: none");
        }
    }
    if let Some(kept) = &h.multivariate {
        let _ = writeln!(
            out,
            "multivariate: {} rows (one reference row in {}, max_reference_rows {}) of [{}]",
            kept.rows,
            kept.stride,
            kept.max_reference_rows,
            kept.features.join(", ")
        );
    }
    if let Some(kept) = &h.segments {
        let names: Vec<String> = kept
            .segments
            .iter()
            .map(|s| format!("{} ({} rows)", s.name, s.rows))
            .collect();
        let _ = writeln!(
            out,
            "segments of [{}] (max_segments {}): {}",
            kept.columns.join(", "),
            kept.max_segments,
            names.join(", ")
        );
    }
    let sizes: Vec<String> = h
        .sections
        .iter()
        .map(|s| format!("{} {} bytes", s.name, s.bytes))
        .collect();
    let _ = writeln!(out, "sections: {}", sizes.join(", "));
    let width = h
        .columns
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:<11}  {:<10}  {:>10}  {:>10}  {:>8}  {:>14}  {:>14}",
        "name", "kind", "type", "values", "distinct", "missing", "min", "max"
    );
    for c in &h.columns {
        let number = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v}"));
        let _ = writeln!(
            out,
            "{:<width$}  {:<11}  {:<10}  {:>10}  {:>10}  {:>8}  {:>14}  {:>14}",
            c.name,
            if c.boolean {
                "boolean"
            } else {
                c.kind.as_str()
            },
            c.drift_type.as_str(),
            c.values,
            c.distinct,
            c.missing,
            number(c.min),
            number(c.max)
        );
    }
    out
}
