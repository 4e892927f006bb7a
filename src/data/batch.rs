//! A batch: rows read from one file or request, normalised to the plan
//! (`Float64` numeric and `Utf8` categorical Arrow arrays in plan order), with
//! its rejections. Batches are sliced zero-copy, re-laid out when the plan
//! changes ([`remap`]), and converted to and from Arrow record batches for the
//! journal and the window snapshot.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::{ColumnPlan, Kind, Rejects};

/// One normalised column of a batch.
#[derive(Debug, Clone, PartialEq)]
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

    /// The rows whose `keep` entry is true, in order (a copy).
    pub fn filter(&self, keep: &[bool]) -> ColumnArray {
        match self {
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

    /// The values as a type-erased Arrow array (shared, not copied).
    pub fn to_array_ref(&self) -> ArrayRef {
        match self {
            ColumnArray::Numeric(a) => Arc::new(a.clone()),
            ColumnArray::Categorical(a) => Arc::new(a.clone()),
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

impl Batch {
    /// `len` rows from `offset`, zero-copy (rejections stay with the whole batch
    /// and are not carried over).
    pub fn slice(&self, offset: usize, len: usize) -> Batch {
        Batch {
            rows: len,
            columns: self
                .columns
                .iter()
                .map(|c| c.as_ref().map(|c| c.slice(offset, len)))
                .collect(),
            rejects: Rejects::default(),
        }
    }

    /// The batches' rows one after another, as one batch (a copy), with their
    /// rejections merged in order. A column some batches lack is null in their
    /// rows; a column none has stays absent. `kinds` gives each column's kind.
    pub fn concat(batches: Vec<Batch>, kinds: &[Kind]) -> Result<Batch, arrow::error::ArrowError> {
        let mut rejects = Rejects::default();
        for b in &batches {
            rejects.merge(&b.rejects);
        }
        let rows = batches.iter().map(|b| b.rows).sum();
        let mut columns = Vec::with_capacity(kinds.len());
        for (i, &kind) in kinds.iter().enumerate() {
            if batches
                .iter()
                .all(|b| b.columns.get(i).is_none_or(Option::is_none))
            {
                columns.push(None);
                continue;
            }
            columns.push(Some(concat_column(&batches, i, kind)?));
        }
        Ok(Batch {
            rows,
            columns,
            rejects,
        })
    }

    /// The rows whose `keep` entry is true (`keep` has one entry a row), in
    /// order; rejections are not carried over.
    pub fn filter(&self, keep: &[bool]) -> Batch {
        Batch {
            rows: keep.iter().take(self.rows).filter(|&&k| k).count(),
            columns: self
                .columns
                .iter()
                .map(|c| c.as_ref().map(|c| c.filter(keep)))
                .collect(),
            rejects: Rejects::default(),
        }
    }

    /// The batch's present columns as a record batch (`Float64` or `Utf8` fields
    /// named as in `plan`), the inverse of [`Batch::from_record_batch`].
    pub fn to_record_batch(
        &self,
        plan: &ColumnPlan,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (i, (name, _)) in plan.iter().enumerate() {
            if let Some(column) = self.columns.get(i).and_then(Option::as_ref) {
                fields.push(Field::new(name, column.kind().arrow_type(), true));
                arrays.push(column.to_array_ref());
            }
        }
        RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(self.rows)),
        )
    }

    /// The plan's columns of a record batch written by [`Batch::to_record_batch`]
    /// (or a window snapshot), matched by name and kind (`Float64` numeric, `Utf8`
    /// categorical); a column that is absent or of another type is missing.
    pub fn from_record_batch(record: &RecordBatch, plan: &ColumnPlan) -> Batch {
        Batch {
            rows: record.num_rows(),
            columns: plan
                .iter()
                .map(|(name, kind)| column_of(record, name, kind))
                .collect(),
            rejects: Rejects::default(),
        }
    }
}

/// Column `name` of `record` if it has the Arrow type of `kind`.
fn column_of(record: &RecordBatch, name: &str, kind: Kind) -> Option<ColumnArray> {
    let array = record.column_by_name(name)?;
    match (kind, array.data_type()) {
        (Kind::Numeric, DataType::Float64) => Some(ColumnArray::Numeric(
            array.as_primitive::<Float64Type>().clone(),
        )),
        (Kind::Categorical, DataType::Utf8) => {
            Some(ColumnArray::Categorical(array.as_string::<i32>().clone()))
        }
        _ => None,
    }
}

/// What a delivery (one file, body or chunk) holds: rows kept, and what was
/// rejected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Rows kept (rows dropped whole are only in `rejects`).
    pub rows: u64,
    /// Rejections over all batches.
    pub rejects: Rejects,
}

impl Summary {
    /// The summary of `batches`.
    pub fn of(batches: &[Batch]) -> Summary {
        let mut summary = Summary::default();
        for b in batches {
            summary.rows += b.rows as u64;
            summary.rejects.merge(&b.rejects);
        }
        summary
    }

    /// Rows used with every value (kept rows less those with a rejected value).
    pub fn accepted(&self) -> u64 {
        self.rows - self.rejects.partial_rows
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

/// A column of `rows` nulls of `kind`'s Arrow type (a column a batch lacks).
/// Column `i` of `batches` as one array (a copy; null in the rows of a batch
/// that lacks it; empty when there are no batches).
pub fn concat_column(
    batches: &[Batch],
    i: usize,
    kind: Kind,
) -> Result<ColumnArray, arrow::error::ArrowError> {
    let arrays: Vec<ArrayRef> = batches
        .iter()
        .map(|b| match b.columns.get(i).and_then(Option::as_ref) {
            Some(c) => c.to_array_ref(),
            None => null_array(kind, b.rows),
        })
        .collect();
    let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
    let joined = if refs.is_empty() {
        arrow::array::new_empty_array(&kind.arrow_type())
    } else {
        arrow::compute::concat(&refs)?
    };
    Ok(match kind {
        Kind::Numeric => ColumnArray::Numeric(joined.as_primitive::<Float64Type>().clone()),
        Kind::Categorical => ColumnArray::Categorical(joined.as_string::<i32>().clone()),
    })
}

pub(crate) fn null_array(kind: Kind, rows: usize) -> ArrayRef {
    match kind {
        Kind::Numeric => Arc::new(Float64Array::new_null(rows)),
        Kind::Categorical => Arc::new(StringArray::new_null(rows)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(rows: usize) -> Batch {
        let x: Float64Array = (0..rows).map(|i| Some(i as f64)).collect();
        let c: StringArray = (0..rows).map(|i| Some(format!("c{i}"))).collect();
        Batch {
            rows,
            columns: vec![
                Some(ColumnArray::Numeric(x)),
                Some(ColumnArray::Categorical(c)),
            ],
            rejects: Rejects::default(),
        }
    }

    #[test]
    fn remap_matches_by_name_and_kind() {
        let from = crate::data::test_plan();
        let to = ColumnPlan::new([
            ("c".to_string(), Kind::Categorical),
            ("x".to_string(), Kind::Categorical),
            ("new".to_string(), Kind::Numeric),
        ]);
        let b = batch(2);
        let out = remap(&b.columns, &from, &to);
        assert!(matches!(out[0], Some(ColumnArray::Categorical(_))));
        assert!(out[1].is_none(), "kind changed");
        assert!(out[2].is_none(), "absent");
    }

    #[test]
    fn record_batches_round_trip_and_absent_columns_stay_absent(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let plan = crate::data::test_plan();
        let mut b = batch(3).slice(1, 2);
        b.columns[1] = None;
        let record = b.to_record_batch(&plan)?;
        assert_eq!(record.num_columns(), 1);
        let back = Batch::from_record_batch(&record, &plan);
        assert_eq!(back.rows, 2);
        match &back.columns[0] {
            Some(ColumnArray::Numeric(a)) => assert_eq!(a.values().to_vec(), vec![1.0, 2.0]),
            other => return Err(format!("expected x, got {other:?}").into()),
        }
        assert!(back.columns[1].is_none());
        Ok(())
    }

    #[test]
    fn a_summary_counts_rows_and_rejections_of_every_batch() {
        let rejects = Rejects {
            partial_rows: 2,
            dropped_rows: 1,
            ..Rejects::default()
        };
        let batch = |rows, rejects: &Rejects| Batch {
            rows,
            columns: Vec::new(),
            rejects: rejects.clone(),
        };
        let summary = Summary::of(&[batch(5, &rejects), batch(3, &Rejects::default())]);
        assert_eq!(summary.rows, 8);
        assert_eq!(summary.rejects.total_rows(), 3);
        assert_eq!(summary.accepted(), 6);
    }
}
