//! Parquet and Arrow IPC readers: decode only the planned columns (by name), then
//! normalise each to its kind.

use std::io::Cursor;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::{FileReader, StreamReader};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::file::reader::ChunkReader;

use super::convert::{normalise, to_event_seconds};
use super::guard::guarded;
use rayon::prelude::*;

use super::{Batch, ColumnArray, ColumnPlan, DataError, Rejects, RowFlags, Summary};

/// Rows per decoded Parquet batch.
const PARQUET_BATCH_ROWS: usize = 64 * 1024;

/// The Arrow schema of a Parquet file, read from its footer only.
pub fn parquet_schema(path: &std::path::Path) -> Result<SchemaRef, DataError> {
    parquet_schema_and_rows(path).map(|(schema, _)| schema)
}

/// The Arrow schema and the row count of a Parquet file (from its footer).
pub fn parquet_schema_and_rows(path: &std::path::Path) -> Result<(SchemaRef, u64), DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = super::origin_of(path);
    guarded(&origin, "Parquet", || {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| {
            DataError::Parquet {
                origin: origin.clone(),
                source,
            }
        })?;
        let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        Ok((builder.schema().clone(), rows))
    })
}

/// Reads the planned columns of a Parquet file or buffer.
pub fn read_parquet<R: ChunkReader + 'static>(
    reader: R,
    plan: &ColumnPlan,
    origin: &str,
) -> Result<Vec<Batch>, DataError> {
    let mut out = Vec::new();
    for_each_parquet_batch(reader, plan, origin, |batch| out.push(batch))?;
    Ok(out)
}

/// Reads the planned columns of a Parquet file or buffer (and no other:
/// the projection skips the rest), handing each batch to `each` as it is
/// decoded, so a caller that keeps only a summary holds one batch at a time.
pub fn for_each_parquet_batch<R: ChunkReader + 'static>(
    reader: R,
    plan: &ColumnPlan,
    origin: &str,
    each: impl FnMut(Batch),
) -> Result<(), DataError> {
    guarded(origin, "Parquet", || {
        parquet_batches(reader, plan, origin, each)
    })
}

fn parquet_batches<R: ChunkReader + 'static>(
    reader: R,
    plan: &ColumnPlan,
    origin: &str,
    mut each: impl FnMut(Batch),
) -> Result<(), DataError> {
    let parquet_err = |source| DataError::Parquet {
        origin: origin.to_string(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(reader).map_err(parquet_err)?;
    let schema = builder.schema().clone();
    let roots: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| plan.index_of(f.name()).is_some())
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(PARQUET_BATCH_ROWS)
        .build()
        .map_err(parquet_err)?;
    let mut offset = 0usize;
    for batch in reader {
        let batch = batch.map_err(|source| DataError::Arrow {
            origin: origin.to_string(),
            source,
        })?;
        let rows = batch.num_rows();
        each(normalise_batch(&batch, plan, origin, offset));
        offset += rows;
    }
    Ok(())
}

/// Reads each planned column of a Parquet file on its own, all columns in
/// parallel (on rayon's threads), and hands `each(i, arrays)` column `i`'s
/// arrays, in row order, as they are decoded: for a caller that reduces a
/// column to a summary (`check`, an exact profile), the file is never held
/// whole, not even a column, and the columns are decoded on every core (the
/// row-wise reader decodes them one after another on one). The iterator ends
/// early at an error, which is returned. `None` stands for a planned column
/// the file lacks.
/// The summary's rejections are those of [`read_parquet`] (a row with
/// rejected values in two columns counts once); their first messages come
/// column by column.
pub fn parquet_by_column<T: Send>(
    path: &std::path::Path,
    plan: &ColumnPlan,
    each: impl Fn(usize, &mut dyn Iterator<Item = ColumnArray>) -> T + Sync,
) -> Result<(Vec<Option<T>>, Summary), DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let origin = super::origin_of(path);
    let parquet_err = |source| DataError::Parquet {
        origin: origin.clone(),
        source,
    };
    let metadata = guarded(&origin, "Parquet", || {
        ArrowReaderMetadata::load(&file, Default::default()).map_err(parquet_err)
    })?;
    let rows = usize::try_from(metadata.metadata().file_metadata().num_rows()).map_err(|_| {
        DataError::Invalid {
            origin: origin.clone(),
            message: "the footer gives a negative row count".into(),
        }
    })?;
    let fields = metadata.schema().fields();
    let read = |i: usize,
                (name, kind): (&str, super::Kind)|
     -> Result<Option<ColumnOutcome<T>>, DataError> {
        // Arrow's top-level fields are the Parquet schema's roots, in order.
        let Some(root) = fields.iter().position(|f| f.name() == name) else {
            return Ok(None);
        };
        // A file of its own: `try_clone` would share one read position
        // between the columns' threads.
        let file = std::fs::File::open(path).map_err(io_err)?;
        let mask = ProjectionMask::roots(metadata.parquet_schema(), [root]);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata.clone())
            .with_projection(mask)
            .with_batch_size(PARQUET_BATCH_ROWS)
            .build()
            .map_err(parquet_err)?;
        let mut arrays = ColumnArrays {
            reader,
            plan,
            column: (i, (name, kind)),
            origin: &origin,
            rows,
            offset: 0,
            flags: None,
            rejects: Rejects::default(),
            error: None,
        };
        let value = each(i, &mut arrays);
        // What `each` left unread still counts (its rows and rejections).
        arrays.by_ref().for_each(drop);
        if let Some(e) = arrays.error {
            return Err(e);
        }
        if arrays.offset != rows {
            return Err(DataError::Invalid {
                origin: origin.clone(),
                message: format!(
                    "column `{name}` holds {} rows where the footer has {rows}",
                    arrays.offset
                ),
            });
        }
        Ok(Some((value, arrays.flags, arrays.rejects)))
    };
    let planned: Vec<(&str, super::Kind)> = plan.iter().collect();
    let columns: Vec<Option<ColumnOutcome<T>>> = guarded(&origin, "Parquet", || {
        planned
            .par_iter()
            .enumerate()
            .map(|(i, &column)| read(i, column))
            .collect::<Result<_, _>>()
    })?;
    let mut flags = RowFlags::new(rows);
    let mut rejects = Rejects::default();
    let mut out = Vec::with_capacity(columns.len());
    for column in columns {
        out.push(column.map(|(value, column_flags, column_rejects)| {
            if let Some(column_flags) = column_flags {
                flags.or_from(&column_flags);
            }
            rejects.merge(&column_rejects);
            value
        }));
    }
    flags.fold_into(&mut rejects);
    let rows = rows as u64;
    Ok((out, Summary { rows, rejects }))
}

/// What [`parquet_by_column`] keeps of one column: `each`'s value, the rows'
/// flags (none when no value was rejected) and the rejections.
type ColumnOutcome<T> = (T, Option<Vec<u8>>, Rejects);

/// One column's arrays as [`parquet_by_column`] decodes them, with the rows'
/// rejections gathered on the way.
struct ColumnArrays<'a> {
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    plan: &'a ColumnPlan,
    column: (usize, (&'a str, super::Kind)),
    origin: &'a str,
    /// Rows the footer gives the file.
    rows: usize,
    /// Rows decoded so far.
    offset: usize,
    /// Per-row flags, made at the first rejected value (most columns have
    /// none, and a byte per row per column would weigh on a wide reference).
    flags: Option<Vec<u8>>,
    rejects: Rejects,
    /// The first error; the iterator ends there.
    error: Option<DataError>,
}

impl Iterator for ColumnArrays<'_> {
    type Item = ColumnArray;

    fn next(&mut self) -> Option<ColumnArray> {
        if self.error.is_some() {
            return None;
        }
        let batch = match self.reader.next()? {
            Ok(batch) => batch,
            Err(source) => {
                self.error = Some(DataError::Arrow {
                    origin: self.origin.to_string(),
                    source,
                });
                return None;
            }
        };
        let n = batch.num_rows();
        let end = self.offset.saturating_add(n);
        let (Some(array), true) = (batch.columns().first(), end <= self.rows) else {
            self.error = Some(DataError::Invalid {
                origin: self.origin.to_string(),
                message: format!(
                    "column `{}` holds more rows than the footer's {}",
                    self.column.1 .0, self.rows
                ),
            });
            return None;
        };
        let mut flags = RowFlags::new(n);
        let out = normalise_column(
            array,
            self.plan,
            self.column,
            self.origin,
            self.offset,
            &mut flags,
            &mut self.rejects,
        );
        if flags.any() {
            let rows = self.rows;
            let all = self.flags.get_or_insert_with(|| vec![0u8; rows]);
            flags.or_into(&mut all[self.offset..end]);
        }
        self.offset = end;
        Some(out)
    }
}

/// Reads Arrow IPC data, file format (`ARROW1` magic) or stream format.
pub fn read_ipc(bytes: &[u8], plan: &ColumnPlan, origin: &str) -> Result<Vec<Batch>, DataError> {
    guarded(origin, "Arrow IPC", || ipc_batches(bytes, plan, origin))
}

fn ipc_batches(bytes: &[u8], plan: &ColumnPlan, origin: &str) -> Result<Vec<Batch>, DataError> {
    let arrow_err = |source| DataError::Arrow {
        origin: origin.to_string(),
        source,
    };
    let batches: Vec<RecordBatch> = if bytes.starts_with(b"ARROW1") {
        check_file_blocks(bytes).map_err(|message| DataError::Invalid {
            origin: origin.to_string(),
            message: format!("malformed Arrow IPC file: {message}"),
        })?;
        FileReader::try_new(Cursor::new(bytes), None)
            .map_err(arrow_err)?
            .collect::<Result<_, _>>()
            .map_err(arrow_err)?
    } else {
        StreamReader::try_new(Cursor::new(bytes), None)
            .map_err(arrow_err)?
            .collect::<Result<_, _>>()
            .map_err(arrow_err)?
    };
    // A record batch's row count is only backed by its columns' buffers: one
    // without a column that holds data (none at all, or only the Null type)
    // can claim any count, and every row would then be counted and held as
    // missing values (the cargo-fuzz target found a 1 KB file claiming 4.3
    // billion rows).
    if let Some(b) = batches
        .iter()
        .find(|b| b.num_rows() > 0 && b.columns().iter().all(|c| c.data_type().is_null()))
    {
        return Err(DataError::Invalid {
            origin: origin.to_string(),
            message: format!(
                "malformed Arrow IPC data: a record batch of {} rows has no column holding data",
                b.num_rows()
            ),
        });
    }
    let mut offset = 0usize;
    Ok(batches
        .iter()
        .map(|b| {
            let out = normalise_batch(b, plan, origin, offset);
            offset += b.num_rows();
            out
        })
        .collect())
}

/// Checks that every block the footer of an Arrow IPC file lists lies within
/// the file. The arrow crate allocates (zeroed) what a block declares before it
/// reads it: a corrupted footer declaring a terabyte made it ask for one (the
/// cargo-fuzz target `arrow_stream` found it). A footer it cannot parse is left
/// to the arrow crate, which refuses it.
fn check_file_blocks(bytes: &[u8]) -> Result<(), String> {
    use arrow::ipc::reader::read_footer_length;
    let len = bytes.len();
    let Some(trailer) = len
        .checked_sub(10)
        .and_then(|start| <[u8; 10]>::try_from(&bytes[start..]).ok())
    else {
        return Ok(());
    };
    let Ok(footer_len) = read_footer_length(trailer) else {
        return Ok(());
    };
    let Some(footer) = (len - 10)
        .checked_sub(footer_len)
        .map(|start| &bytes[start..len - 10])
    else {
        return Err(format!(
            "the footer ({footer_len} bytes) is longer than the file ({len} bytes)"
        ));
    };
    let Ok(footer) = arrow::ipc::root_as_footer(footer) else {
        return Ok(());
    };
    let blocks = footer
        .dictionaries()
        .into_iter()
        .flatten()
        .chain(footer.recordBatches().into_iter().flatten());
    for block in blocks {
        let end = [
            block.offset(),
            i64::from(block.metaDataLength()),
            block.bodyLength(),
        ]
        .iter()
        .try_fold(0i64, |sum, &part| {
            (part >= 0).then(|| sum.checked_add(part)).flatten()
        });
        if end.is_none_or(|end| end as u64 > len as u64) {
            return Err(format!(
                "a block (offset {}, {} + {} bytes) lies outside the file's {len} bytes",
                block.offset(),
                block.metaDataLength(),
                block.bodyLength()
            ));
        }
    }
    Ok(())
}

/// Normalises `array`, the values of plan column `i`.
fn normalise_column(
    array: &arrow::array::ArrayRef,
    plan: &ColumnPlan,
    (i, column): (usize, (&str, super::Kind)),
    origin: &str,
    row_offset: usize,
    flags: &mut RowFlags,
    rejects: &mut Rejects,
) -> ColumnArray {
    let (name, kind) = column;
    if plan.is_time(i) {
        return ColumnArray::Numeric(to_event_seconds(
            array, name, origin, row_offset, flags, rejects,
        ));
    }
    normalise(
        array,
        kind,
        plan.is_boolean(i),
        name,
        origin,
        row_offset,
        flags,
        rejects,
    )
}

/// Normalises the planned columns of a record batch; absent columns stay `None`.
pub(crate) fn normalise_batch(
    batch: &RecordBatch,
    plan: &ColumnPlan,
    origin: &str,
    row_offset: usize,
) -> Batch {
    let rows = batch.num_rows();
    let mut flags = RowFlags::new(rows);
    let mut rejects = Rejects::default();
    let columns = plan
        .iter()
        .enumerate()
        .map(|(i, column)| {
            batch.column_by_name(column.0).map(|array| {
                normalise_column(
                    array,
                    plan,
                    (i, column),
                    origin,
                    row_offset,
                    &mut flags,
                    &mut rejects,
                )
            })
        })
        .collect();
    flags.fold_into(&mut rejects);
    Batch {
        rows,
        columns,
        rejects,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;
    use crate::data::Kind;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A file of `rows` rows in row groups of 7, with NaN, infinite, null and
    /// wrongly typed values, two of them on one row.
    fn write_file(path: &std::path::Path, rows: usize) -> TestResult {
        let x: Float64Array = (0..rows)
            .map(|i| match i % 11 {
                3 => Some(f64::NAN),
                5 => None,
                8 => Some(f64::INFINITY),
                _ => Some(i as f64 * 0.5 - 3.0),
            })
            .collect();
        let c: StringArray = (0..rows)
            .map(|i| (i % 13 != 4).then(|| ["a", "b", "zz"][i % 3]))
            .collect();
        // Text in a column the plan reads as numeric: type rejections, one of
        // them on a row whose `x` is NaN too (row 3 of every 33).
        let t: StringArray = (0..rows)
            .map(|i| {
                Some(if i % 33 == 3 {
                    "oops".to_string()
                } else {
                    i.to_string()
                })
            })
            .collect();
        let n: Int64Array = (0..rows as i64).collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("x", Arc::new(x)),
            ("c", Arc::new(c)),
            ("t", Arc::new(t)),
            ("n", Arc::new(n)),
        ];
        let batch = arrow::record_batch::RecordBatch::try_from_iter(columns)?;
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(7))
            .build();
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(path)?, batch.schema(), Some(props))?;
        writer.write(&batch)?;
        writer.close()?;
        Ok(())
    }

    #[test]
    fn read_by_column_gives_the_row_wise_readers_columns_and_rejections() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("current.parquet");
        write_file(&path, 100)?;
        let plan = ColumnPlan::new([
            ("x".to_string(), Kind::Numeric),
            ("c".to_string(), Kind::Categorical),
            ("absent".to_string(), Kind::Numeric),
            ("t".to_string(), Kind::Numeric),
            ("n".to_string(), Kind::Numeric),
        ]);
        let batches = crate::data::read_path(&path, &plan)?;
        let want = Summary::of(&batches);
        let (columns, got) =
            parquet_by_column(&path, &plan, |_, arrays| arrays.collect::<Vec<_>>())?;
        assert_eq!(got.rows, 100);
        assert_eq!(got.rows, want.rows);
        assert_eq!(got.rejects.rows_by_reason, want.rejects.rows_by_reason);
        assert_eq!(got.rejects.partial_rows, want.rejects.partial_rows);
        // Rows with a NaN/Inf `x` and rows with text in `t`, the shared one once.
        assert!(got.rejects.rows(crate::data::RejectReason::NonFinite) > 0);
        assert!(got.rejects.rows(crate::data::RejectReason::Type) > 0);
        assert!(
            got.rejects.partial_rows
                < got.rejects.rows(crate::data::RejectReason::NonFinite)
                    + got.rejects.rows(crate::data::RejectReason::Type)
        );
        let mut got_errors = got.rejects.errors.clone();
        let mut want_errors = want.rejects.errors.clone();
        assert_eq!(got_errors.len(), want_errors.len());
        got_errors.sort();
        want_errors.sort();
        // The first messages come column by column rather than row by row:
        // the same count, each naming a row and a field.
        assert!(
            got_errors.iter().all(|e| e.contains("row")),
            "{got_errors:?}"
        );
        assert_eq!(columns.len(), 5);
        assert!(columns[2].is_none(), "the absent column");
        for (i, column) in columns.iter().enumerate() {
            let Some(arrays) = column else { continue };
            let got: Vec<ColumnArray> = arrays.clone();
            let want: Vec<ColumnArray> = batches
                .iter()
                .filter_map(|b| b.columns[i].clone())
                .collect();
            let flatten = |arrays: &[ColumnArray]| -> Vec<String> {
                arrays
                    .iter()
                    .flat_map(|a| (0..a.len()).map(move |r| format!("{:?}", a.slice(r, 1))))
                    .collect()
            };
            assert_eq!(flatten(&got), flatten(&want), "column {i}");
        }
        Ok(())
    }

    #[test]
    fn read_by_column_names_the_file_it_cannot_read() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("broken.parquet");
        std::fs::write(&path, b"PAR1 this is not a parquet file PAR1")?;
        let plan = crate::data::test_plan();
        let e = parquet_by_column(&path, &plan, |_, a| a.count())
            .err()
            .ok_or("no error")?;
        assert!(e.to_string().contains("broken.parquet"), "{e}");
        Ok(())
    }
}
