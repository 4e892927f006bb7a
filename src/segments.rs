//! Per-segment drift (`[columns] segment`, issue 12): every column scored
//! within each segment value as well as overall, so that a drift confined to
//! one country, device or tier shows where the whole looks calm.
//!
//! A row's segment is the text of its segment columns joined by `/` (a missing
//! value reads `__missing__`). The reference is read once more at load: first
//! the segment columns alone, to find the `max_segments` most frequent
//! segments (ties in text order), then every row into the profile of its
//! segment, the rest into `__other__`. Each segment's profile is built as the
//! whole reference's is ([`ReferenceProfile::from_raw`]), so its scores are
//! the scores `check` gives for that segment's rows alone.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::Array;
use rayon::prelude::*;

use crate::config::{MultivariateConfig, ProfileSettings, ScoringSettings};
use crate::data::{self, Batch, ColumnArray, ColumnPlan, Kind};
use crate::drift::{self, DriftReport};
use crate::multivariate::ReferenceRows;
use crate::reference::{ProfileMode, RawBuilder, RawColumn, ReferenceProfile, ResolvedColumn};

/// The segment of rows outside the most frequent ones.
pub const OTHER: &str = "__other__";
/// A missing segment value.
pub const MISSING: &str = "__missing__";

/// The reference's profile per segment.
#[derive(Debug)]
pub struct SegmentProfiles {
    /// The segment columns.
    pub columns: Vec<String>,
    /// Each segment and its profile: the most frequent first, `__other__`
    /// last (when the reference has rows outside them).
    pub segments: Vec<(String, Arc<ReferenceProfile>)>,
}

/// One segment's report: the window's rows of that segment against the
/// reference's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentReport {
    /// The segment (`__other__` for the rest).
    pub segment: String,
    /// Its scores, as the whole report's.
    #[serde(flatten)]
    pub report: DriftReport,
}

/// Calls `each` with the segment key of every row of `batch` (laid out by
/// `plan`) in order: its segment columns' values joined by `/`, a missing one
/// `__missing__`. The key is built in one reused buffer, so that a lookup
/// costs no allocation per row.
fn for_each_key(batch: &Batch, plan: &ColumnPlan, columns: &[String], mut each: impl FnMut(&str)) {
    use std::fmt::Write as _;
    let arrays: Vec<Option<&ColumnArray>> = columns
        .iter()
        .map(|name| {
            plan.index_of(name)
                .and_then(|i| batch.columns.get(i))
                .and_then(Option::as_ref)
        })
        .collect();
    let mut key = String::new();
    for row in 0..batch.rows {
        key.clear();
        for (i, array) in arrays.iter().enumerate() {
            if i > 0 {
                key.push('/');
            }
            match array {
                Some(ColumnArray::Categorical(a)) if !a.is_null(row) => key.push_str(a.value(row)),
                Some(ColumnArray::Numeric(a)) if !a.is_null(row) => {
                    let _ = write!(key, "{}", a.value(row));
                }
                _ => key.push_str(MISSING),
            }
        }
        each(&key);
    }
}

/// The segment of each row of `batch` (laid out by `plan`).
pub(crate) fn row_keys(batch: &Batch, plan: &ColumnPlan, columns: &[String]) -> Vec<String> {
    let mut keys = Vec::with_capacity(batch.rows);
    for_each_key(batch, plan, columns, |key| keys.push(key.to_string()));
    keys
}

/// The rows of `batch` (laid out by `plan`) of each of `segments` segments,
/// `segment_of` telling a row's segment from its key; `None` where a segment
/// has no row.
fn split(
    batch: &Batch,
    plan: &ColumnPlan,
    columns: &[String],
    segments: usize,
    segment_of: impl Fn(&str) -> Option<usize>,
) -> Vec<Option<Batch>> {
    let mut which: Vec<Option<usize>> = Vec::with_capacity(batch.rows);
    for_each_key(batch, plan, columns, |key| which.push(segment_of(key)));
    (0..segments)
        .map(|s| {
            let keep: Vec<bool> = which.iter().map(|w| *w == Some(s)).collect();
            keep.contains(&true).then(|| batch.filter(&keep))
        })
        .collect()
}

/// The segment each key falls in: its own when among `kept`, else `__other__`.
fn segment_of(key: &str, kept: &HashMap<String, usize>, other: Option<usize>) -> Option<usize> {
    kept.get(key).copied().or(other)
}

/// One segment's raw material, as a profile file keeps it: its name, its
/// reference rows and its scored columns' raw material.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRaw {
    /// The segment (`__other__` for the rest).
    pub name: String,
    /// Its reference rows.
    pub rows: u64,
    /// Its columns' raw material, in the order of the whole reference's.
    pub raw: Vec<RawColumn>,
}

/// Segments as a profile file keeps them: the settings they were made with
/// and each segment's raw material.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSegments {
    /// `columns.segment` when they were made.
    pub columns: Vec<String>,
    /// `columns.max_segments` when they were made.
    pub max_segments: usize,
    /// The segments, the most frequent first, `__other__` last.
    pub parts: Vec<SegmentRaw>,
}

/// The raw material of the reference (the Parquet file at `path`) per segment
/// of `columns`, `plan` a plan with the `resolved` columns first and the
/// segment columns among the rest; segments without a row are left out.
pub fn raw_by_segment(
    path: &Path,
    resolved: &[ResolvedColumn],
    plan: &ColumnPlan,
    columns: &[String],
    max_segments: usize,
    mode: ProfileMode,
) -> Result<Vec<SegmentRaw>, String> {
    let (schema, _) = data::parquet_schema_and_rows(path).map_err(|e| e.to_string())?;
    if let Some(missing) = columns.iter().find(|c| schema.field_with_name(c).is_err()) {
        return Err(format!("the reference has no column {missing:?}"));
    }
    // Pass 1: how often each segment occurs.
    let key_plan = ColumnPlan::new(columns.iter().map(|c| (c.clone(), Kind::Categorical)));
    let mut counts: HashMap<String, u64> = HashMap::new();
    data::for_each_parquet_batch(path, &key_plan, |batch| {
        // A key is copied only the first time it is seen.
        for_each_key(&batch, &key_plan, columns, |key| {
            match counts.get_mut(key) {
                Some(count) => *count += 1,
                None => {
                    counts.insert(key.to_string(), 1);
                }
            }
        });
    })
    .map_err(|e| e.to_string())?;
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let has_other = ranked.len() > max_segments;
    ranked.truncate(max_segments);
    let mut names: Vec<String> = ranked.into_iter().map(|(k, _)| k).collect();
    if has_other {
        names.push(OTHER.to_string());
    }
    let kept: HashMap<String, usize> = names
        .iter()
        .take(names.len() - usize::from(has_other))
        .enumerate()
        .map(|(i, k)| (k.clone(), i))
        .collect();
    let other = has_other.then_some(names.len() - 1);
    // Pass 2: every row into its segment's raw columns.
    let mut builders: Vec<RawBuilder> = names
        .iter()
        .map(|_| RawBuilder::new(resolved, mode))
        .collect();
    let mut rows = vec![0u64; names.len()];
    data::for_each_parquet_batch(path, plan, |batch| {
        let parts = split(&batch, plan, columns, builders.len(), |key| {
            segment_of(key, &kept, other)
        });
        for ((part, builder), rows) in parts.into_iter().zip(&mut builders).zip(&mut rows) {
            if let Some(part) = part {
                builder.add(&part);
                *rows += part.rows as u64;
            }
        }
    })
    .map_err(|e| e.to_string())?;
    Ok(names
        .into_iter()
        .zip(builders)
        .zip(rows)
        .filter(|(_, rows)| *rows > 0)
        .map(|((name, builder), rows)| SegmentRaw {
            name,
            rows,
            raw: builder.finish(),
        })
        .collect())
}

/// The profiles per segment of `columns` from each segment's raw material
/// (read from the Parquet at `path` by [`raw_by_segment`], or kept in a
/// profile file), scored with `plan` and `settings` as the whole reference.
pub fn from_raw(
    path: &Path,
    sha256: &str,
    plan: &ColumnPlan,
    settings: &ProfileSettings,
    columns: &[String],
    parts: Vec<SegmentRaw>,
) -> SegmentProfiles {
    let segments = parts
        .into_iter()
        .map(|part| {
            let profile = ReferenceProfile::from_raw(
                path,
                sha256.to_string(),
                part.rows,
                part.raw,
                plan.clone(),
                settings,
            );
            (part.name, Arc::new(profile))
        })
        .collect();
    SegmentProfiles {
        columns: columns.to_vec(),
        segments,
    }
}

/// Profiles of the reference (the Parquet file at `path`) per segment of
/// `columns`, `plan` the profile's plan (its first columns `resolved`, the
/// segment columns among the rest).
#[allow(clippy::too_many_arguments)]
pub fn profile(
    path: &Path,
    sha256: &str,
    resolved: &[ResolvedColumn],
    plan: &ColumnPlan,
    settings: &ProfileSettings,
    columns: &[String],
    max_segments: usize,
) -> Result<SegmentProfiles, String> {
    let parts = raw_by_segment(
        path,
        resolved,
        plan,
        columns,
        max_segments,
        ProfileMode::Exact,
    )?;
    Ok(from_raw(path, sha256, plan, settings, columns, parts))
}

/// Fits each segment's multivariate reference on its rows among the
/// reference `rows` (their keys: a segment's own, or any other for
/// `__other__`); a segment too small for a fit has none (logged). Rows without
/// keys (a profile built without segments) fit none.
pub fn fit_multivariate(
    profiles: &mut SegmentProfiles,
    path: &Path,
    rows: &ReferenceRows,
    config: &MultivariateConfig,
) {
    if rows.keys.is_none() {
        tracing::warn!(reference = %path.display(), "the multivariate rows carry no segment keys: no multivariate drift per segment");
        return;
    }
    let named: Vec<String> = profiles
        .segments
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| name != OTHER)
        .collect();
    for (name, profile) in &mut profiles.segments {
        let columns = if name == OTHER {
            rows.columns_where(|key| !named.iter().any(|n| n == key))
        } else {
            rows.columns_where(|key| key == name)
        };
        let fitted = crate::multivariate::fit_logged(path, rows, &columns, config, Some(name));
        // Each segment's profile is still its own here (made at load).
        match Arc::get_mut(profile) {
            Some(profile) => profile.multivariate = fitted.map(Arc::new),
            None => {
                tracing::warn!(segment = %name, "a segment's profile is shared: no multivariate drift for it")
            }
        }
    }
}

/// Scores `batches` (laid out by the profiles' plan) per segment.
pub fn evaluate(
    profiles: &SegmentProfiles,
    plan: &ColumnPlan,
    batches: &[Batch],
    scoring: &ScoringSettings,
) -> Vec<SegmentReport> {
    let index: HashMap<&str, usize> = profiles
        .segments
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.as_str(), i))
        .collect();
    let other = index.get(OTHER).copied();
    let mut parts: Vec<Vec<Batch>> = vec![Vec::new(); profiles.segments.len()];
    for batch in batches {
        let split = split(batch, plan, &profiles.columns, parts.len(), |key| {
            index.get(key).copied().or(other)
        });
        for (part, rows) in parts.iter_mut().zip(split) {
            part.extend(rows);
        }
    }
    // One segment per core: each is scored on its own rows alone (its
    // multivariate signals, with a domain classifier each, cost the most).
    profiles
        .segments
        .par_iter()
        .zip(parts.into_par_iter())
        .map(|((name, profile), part)| {
            let (samples, rows) = crate::sample::samples_from_batches(profile, &part);
            let mut report = drift::evaluate(profile, &samples, rows, scoring);
            report.multivariate = crate::multivariate::report_for(profile, &part);
            SegmentReport {
                segment: name.clone(),
                report,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, StringArray};

    #[test]
    fn keys_join_columns_and_name_missing_values() {
        let plan = ColumnPlan::new([
            ("country".to_string(), Kind::Categorical),
            ("tier".to_string(), Kind::Numeric),
        ]);
        let batch = Batch {
            rows: 2,
            columns: vec![
                Some(ColumnArray::Categorical(StringArray::from(vec![
                    Some("DE"),
                    None,
                ]))),
                Some(ColumnArray::Numeric(Float64Array::from(vec![1.0, 2.0]))),
            ],
            rejects: Default::default(),
        };
        let columns = vec!["country".to_string(), "tier".to_string()];
        assert_eq!(
            row_keys(&batch, &plan, &columns),
            vec!["DE/1", "__missing__/2"]
        );
        let kept: HashMap<String, usize> = [("DE/1".to_string(), 0)].into();
        assert_eq!(segment_of("DE/1", &kept, Some(1)), Some(0));
        assert_eq!(segment_of("FR/1", &kept, Some(1)), Some(1));
        assert_eq!(segment_of("FR/1", &kept, None), None);
    }
}
