//! Parquet and Arrow IPC readers: decode only the planned columns (by name), then
//! normalise each to its kind.

use std::io::Cursor;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::{FileReader, StreamReader};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::reader::ChunkReader;

use super::convert::{normalise, to_event_seconds};
use super::guard::guarded;
use super::{Batch, ColumnArray, ColumnPlan, DataError, Rejects, RowFlags};

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
        .map(|(i, (name, kind))| {
            batch.column_by_name(name).map(|array| {
                if plan.is_time(i) {
                    return ColumnArray::Numeric(to_event_seconds(
                        array,
                        name,
                        origin,
                        row_offset,
                        &mut flags,
                        &mut rejects,
                    ));
                }
                normalise(
                    array,
                    kind,
                    plan.is_boolean(i),
                    name,
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
