//! Text formats: CSV with a header line, NDJSON (one object per line), and a JSON
//! document (an array of objects, or an object of column arrays).
//!
//! Rows are parsed one by one so that one bad row never costs the others: a row
//! that cannot be parsed is dropped and counted (`parse`); a bad value is rejected
//! on its row (`type`, `non_finite`, `encoding`) and the row's other values kept.

use arrow::array::{Float64Builder, StringBuilder};
use rayon::prelude::*;
use serde_json::{Map, Value};

use super::convert::{
    bad_event_time, canonical_bool, parse_number, push_event_time, push_number, push_type_error,
};
use super::json_row::{parse_repaired_row, parse_row, repair, Cell, KeyOrder, Row};
use super::{Batch, ColumnArray, ColumnPlan, DataError, Kind, RejectReason, Rejects, RowFlags};

enum ColumnBuilder {
    Numeric(Float64Builder),
    Categorical(StringBuilder),
    /// The event-time column, as Unix seconds.
    Time(Float64Builder),
}

/// Accumulates rows column by column for one batch.
struct RowsBuilder<'a> {
    plan: &'a ColumnPlan,
    origin: &'a str,
    builders: Vec<ColumnBuilder>,
    flags: RowFlags,
    rejects: Rejects,
    rows: usize,
}

impl<'a> RowsBuilder<'a> {
    fn new(plan: &'a ColumnPlan, origin: &'a str, capacity: usize) -> Self {
        let builders = plan
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| match kind {
                _ if plan.is_time(i) => {
                    ColumnBuilder::Time(Float64Builder::with_capacity(capacity))
                }
                Kind::Numeric => ColumnBuilder::Numeric(Float64Builder::with_capacity(capacity)),
                Kind::Categorical => {
                    ColumnBuilder::Categorical(StringBuilder::with_capacity(capacity, capacity * 8))
                }
            })
            .collect();
        RowsBuilder {
            plan,
            origin,
            builders,
            flags: RowFlags::new(0),
            rejects: Rejects::default(),
            rows: 0,
        }
    }

    /// Starts a row; returns its index within the batch.
    fn begin_row(&mut self) -> usize {
        self.flags.push_row();
        self.rows += 1;
        self.rows - 1
    }

    fn push_null(&mut self, col: usize) {
        match &mut self.builders[col] {
            ColumnBuilder::Numeric(b) | ColumnBuilder::Time(b) => b.append_null(),
            ColumnBuilder::Categorical(b) => b.append_null(),
        }
    }

    /// Appends a JSON value to column `col` of row `row` (`label` numbers the row in
    /// messages, e.g. the line number).
    fn push_json(&mut self, col: usize, row: usize, label: &Place, value: Option<&Cell>) {
        let origin = self.origin;
        let name = self.plan.name(col);
        match (&mut self.builders[col], value) {
            (builder, Some(Cell::NonFinite(v))) => {
                match builder {
                    ColumnBuilder::Numeric(b) => b.append_value(*v),
                    ColumnBuilder::Time(b) => b.append_null(),
                    ColumnBuilder::Categorical(b) => b.append_null(),
                }
                self.flags.flag(row, RejectReason::NonFinite);
                self.rejects.message(|| {
                    format!("{origin}: {label}: field `{name}`: {v} is not a finite number")
                });
            }
            (builder, Some(Cell::BadText)) => {
                match builder {
                    ColumnBuilder::Numeric(b) => b.append_value(f64::NAN),
                    ColumnBuilder::Time(b) => b.append_null(),
                    ColumnBuilder::Categorical(b) => b.append_null(),
                }
                self.flags.flag(row, RejectReason::Encoding);
                self.rejects.message(|| {
                    format!("{origin}: {label}: field `{name}`: value is not valid UTF-8")
                });
            }
            (ColumnBuilder::Time(b), None | Some(Cell::Null)) => b.append_null(),
            (ColumnBuilder::Time(b), Some(cell @ Cell::Str(text))) => {
                push_event_time(b, text, row, &mut self.flags, &mut self.rejects, || {
                    bad_event_time(origin, &label.to_string(), name, &cell.describe())
                })
            }
            (ColumnBuilder::Time(b), Some(Cell::Number(n))) if n.as_f64().is_some() => {
                b.append_option(n.as_f64())
            }
            (ColumnBuilder::Time(b), Some(other)) => {
                b.append_null();
                self.flags.flag(row, RejectReason::Type);
                self.rejects.message(|| {
                    bad_event_time(origin, &label.to_string(), name, &other.describe())
                });
            }
            (ColumnBuilder::Numeric(b), None | Some(Cell::Null)) => b.append_null(),
            (ColumnBuilder::Categorical(b), None | Some(Cell::Null)) => b.append_null(),
            (ColumnBuilder::Numeric(b), Some(Cell::Number(n))) => match n.as_f64() {
                Some(v) => push_number(b, v, row, &mut self.flags),
                None => push_type_error(b, row, &mut self.flags, &mut self.rejects, || {
                    format!("{origin}: {label}: field `{name}`: number {n} is not representable")
                }),
            },
            (ColumnBuilder::Numeric(b), Some(other)) => {
                push_type_error(b, row, &mut self.flags, &mut self.rejects, || {
                    format!(
                        "{origin}: {label}: field `{name}`: expected a number, found {}",
                        other.describe()
                    )
                })
            }
            (ColumnBuilder::Categorical(b), Some(Cell::Str(s))) => {
                if self.plan.is_boolean(col) {
                    b.append_value(canonical_bool(s).unwrap_or(s))
                } else {
                    b.append_value(s)
                }
            }
            (ColumnBuilder::Categorical(b), Some(Cell::Bool(v))) => {
                b.append_value(if *v { "true" } else { "false" })
            }
            (ColumnBuilder::Categorical(b), Some(Cell::Number(n))) => b.append_value(n.to_string()),
            (ColumnBuilder::Categorical(b), Some(other)) => {
                b.append_null();
                self.flags.flag(row, RejectReason::Type);
                self.rejects.message(|| {
                    format!(
                        "{origin}: {label}: field `{name}`: expected a category, found {}",
                        other.describe()
                    )
                });
            }
        }
    }

    /// Appends one JSON object as a row.
    fn push_object(&mut self, object: &Map<String, Value>, label: &Place) {
        let row = self.begin_row();
        for col in 0..self.builders.len() {
            let name = self.plan.name(col);
            let value = object.get(name).map(Cell::of);
            self.push_json(col, row, label, value.as_ref());
        }
    }

    /// Appends a row decoded by [`parse_row`]: one slot per plan column.
    fn push_slots(&mut self, slots: &[Option<Cell>], label: &Place) {
        let row = self.begin_row();
        for (col, value) in slots.iter().enumerate() {
            self.push_json(col, row, label, value.as_ref());
        }
    }

    /// Appends one CSV cell.
    fn push_cell(&mut self, col: usize, row: usize, line: u64, cell: &[u8]) {
        let origin = self.origin;
        let name = self.plan.name(col);
        let text = match std::str::from_utf8(cell) {
            Ok(t) => t,
            Err(_) => {
                self.flags.flag(row, RejectReason::Encoding);
                self.rejects.message(|| {
                    format!("{origin}: line {line}: column `{name}`: value is not valid UTF-8")
                });
                match &mut self.builders[col] {
                    ColumnBuilder::Numeric(b) => b.append_value(f64::NAN),
                    ColumnBuilder::Categorical(b) => b.append_null(),
                    ColumnBuilder::Time(b) => b.append_null(),
                }
                return;
            }
        };
        match &mut self.builders[col] {
            ColumnBuilder::Time(b) => {
                push_event_time(b, text, row, &mut self.flags, &mut self.rejects, || {
                    bad_event_time(origin, &format!("line {line}"), name, &format!("{text:?}"))
                })
            }
            ColumnBuilder::Numeric(b) => {
                match parse_number(text) {
                    Ok(None) => b.append_null(),
                    Ok(Some(v)) => push_number(b, v, row, &mut self.flags),
                    Err(()) => push_type_error(b, row, &mut self.flags, &mut self.rejects, || {
                        format!("{origin}: line {line}: column `{name}`: expected a number, found {text:?}")
                    }),
                }
            }
            ColumnBuilder::Categorical(b) => {
                if text.is_empty() {
                    b.append_null()
                } else if self.plan.is_boolean(col) {
                    b.append_value(canonical_bool(text).unwrap_or(text))
                } else {
                    b.append_value(text)
                }
            }
        }
    }

    fn finish(self, present: &[bool]) -> Batch {
        let mut rejects = self.rejects;
        self.flags.fold_into(&mut rejects);
        let columns = self
            .builders
            .into_iter()
            .zip(present)
            .map(|(b, &present)| {
                let col = match b {
                    ColumnBuilder::Numeric(mut b) | ColumnBuilder::Time(mut b) => {
                        ColumnArray::Numeric(b.finish())
                    }
                    ColumnBuilder::Categorical(mut b) => ColumnArray::Categorical(b.finish()),
                };
                present.then_some(col)
            })
            .collect();
        Batch {
            rows: self.rows,
            columns,
            rejects,
        }
    }
}

/// Where a row is, for messages: `line 7` (NDJSON) or `row 3` (a JSON document),
/// formatted only when a message is written.
struct Place(&'static str, u64);

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

fn describe(value: &Value) -> String {
    Cell::of(value).describe()
}

/// Inputs of at least this many bytes are split at line boundaries and their
/// pieces parsed one per core (below it, splitting costs more than it saves).
const PARALLEL_BYTES: usize = 1 << 20;

/// Splits `bytes` into about `pieces` ranges that end just after a newline
/// (the last at the end of `bytes`), each with the number of its first line
/// counted from `first_line`.
fn line_pieces(bytes: &[u8], pieces: usize, first_line: u64) -> Vec<(std::ops::Range<usize>, u64)> {
    let target = bytes.len().div_ceil(pieces.max(1)).max(1);
    let mut ends = Vec::with_capacity(pieces);
    let mut start = 0;
    while start < bytes.len() {
        let guess = (start + target).min(bytes.len());
        let end = match bytes[guess..].iter().position(|&b| b == b'\n') {
            Some(i) => guess + i + 1,
            None => bytes.len(),
        };
        ends.push(start..end);
        start = end;
    }
    let newlines: Vec<u64> = ends
        .par_iter()
        .map(|r| bytes[r.clone()].iter().filter(|&&b| b == b'\n').count() as u64)
        .collect();
    let mut line = first_line;
    ends.into_iter()
        .zip(newlines)
        .map(|(range, n)| {
            let first = line;
            line += n;
            (range, first)
        })
        .collect()
}

/// Reads newline-delimited JSON. `first_line` numbers the first line of `bytes`
/// (a tailed file passes its running line count). Blank lines are skipped; a
/// line that is not a JSON object is dropped and counted (`parse`). A large
/// input is parsed on every core, in pieces split at line boundaries, with the
/// same rows, rejections and messages as on one.
pub fn read_ndjson(
    bytes: &[u8],
    plan: &ColumnPlan,
    origin: &str,
    first_line: u64,
) -> Result<Batch, DataError> {
    read_ndjson_split(bytes, plan, origin, first_line, PARALLEL_BYTES)
}

/// [`read_ndjson`], splitting inputs of at least `parallel_bytes` bytes.
fn read_ndjson_split(
    bytes: &[u8],
    plan: &ColumnPlan,
    origin: &str,
    first_line: u64,
    parallel_bytes: usize,
) -> Result<Batch, DataError> {
    let cores = rayon::current_num_threads();
    if bytes.len() < parallel_bytes || cores < 2 {
        return read_ndjson_piece(bytes, plan, origin, first_line);
    }
    let parts = line_pieces(bytes, cores, first_line)
        .into_par_iter()
        .map(|(range, first)| read_ndjson_piece(&bytes[range], plan, origin, first))
        .collect::<Result<Vec<_>, _>>()?;
    let kinds: Vec<Kind> = plan.iter().map(|(_, kind)| kind).collect();
    Batch::concat(parts, &kinds).map_err(|e| DataError::Invalid {
        origin: origin.to_string(),
        message: format!("cannot join the parsed pieces: {e}"),
    })
}

/// [`read_ndjson`] on one core.
fn read_ndjson_piece(
    bytes: &[u8],
    plan: &ColumnPlan,
    origin: &str,
    first_line: u64,
) -> Result<Batch, DataError> {
    let estimate = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut rows = RowsBuilder::new(plan, origin, estimate);
    let mut slots: Vec<Option<Cell>> = vec![None; plan.len()];
    let mut order = KeyOrder::default();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = first_line + i as u64;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match parse_row(line, plan, &mut slots, &mut order) {
            Ok(Row::Object) => rows.push_slots(&slots, &Place("line", line_no)),
            Ok(Row::Other(other)) => rows.rejects.drop_row(|| {
                format!(
                    "{origin}: line {line_no}: expected a JSON object, found {}",
                    other.describe()
                )
            }),
            Err(e) => {
                // NaN, Infinity, 1e400 or invalid UTF-8 in a value reject that value,
                // not the row.
                let repaired = repair(line);
                let mut repaired_slots: Vec<Option<Cell>> = vec![None; plan.len()];
                match repaired
                    .as_deref()
                    .map(|fixed| parse_repaired_row(fixed, plan, &mut repaired_slots, &mut order))
                {
                    Some(Ok(Row::Object)) => {
                        rows.push_slots(&repaired_slots, &Place("line", line_no))
                    }
                    _ => rows
                        .rejects
                        .drop_row(|| format!("{origin}: line {line_no}: malformed JSON: {e}")),
                }
            }
        }
    }
    let present = vec![true; plan.len()];
    Ok(rows.finish(&present))
}

/// Reads a JSON document: an array of row objects, or an object whose members are
/// equally long column arrays.
pub fn read_json_document(
    bytes: &[u8],
    plan: &ColumnPlan,
    origin: &str,
) -> Result<Batch, DataError> {
    let invalid = |message: String| DataError::Invalid {
        origin: origin.to_string(),
        message,
    };
    let document: Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("malformed JSON: {e}")))?;
    match document {
        Value::Array(items) => {
            let mut rows = RowsBuilder::new(plan, origin, items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(object) => rows.push_object(object, &Place("row", i as u64 + 1)),
                    other => rows.rejects.drop_row(|| {
                        format!(
                            "{origin}: row {}: expected a JSON object, found {}",
                            i + 1,
                            describe(other)
                        )
                    }),
                }
            }
            Ok(rows.finish(&vec![true; plan.len()]))
        }
        Value::Object(columns) => {
            let mut length: Option<(usize, &str)> = None;
            for (name, value) in &columns {
                let Value::Array(values) = value else {
                    return Err(invalid(format!(
                        "column `{name}` must be an array of values, found {}",
                        describe(value)
                    )));
                };
                match length {
                    None => length = Some((values.len(), name)),
                    Some((n, first)) if n != values.len() => {
                        return Err(invalid(format!(
                        "columns must be equally long: `{first}` has {n} values, `{name}` has {}",
                        values.len()
                    )))
                    }
                    Some(_) => {}
                }
            }
            let n = length.map_or(0, |(n, _)| n);
            let arrays: Vec<Option<&Vec<Value>>> = plan
                .iter()
                .map(|(name, _)| match columns.get(name) {
                    Some(Value::Array(a)) => Some(a),
                    _ => None,
                })
                .collect();
            let mut rows = RowsBuilder::new(plan, origin, n);
            for i in 0..n {
                let row = rows.begin_row();
                let label = Place("row", i as u64 + 1);
                for (col, array) in arrays.iter().enumerate() {
                    let value = array.and_then(|a| a.get(i)).map(Cell::of);
                    rows.push_json(col, row, &label, value.as_ref());
                }
            }
            let present: Vec<bool> = arrays.iter().map(Option::is_some).collect();
            Ok(rows.finish(&present))
        }
        other => Err(invalid(format!(
            "expected an array of objects or an object of column arrays, found {}",
            describe(&other)
        ))),
    }
}

/// Reads CSV with a header line. Empty cells are nulls. A row with a different
/// number of fields than the header is dropped and counted (`parse`). A large
/// input without quotes (so no field holds a newline) is parsed on every core,
/// in pieces split at line boundaries, with the same rows, rejections and
/// messages as on one.
pub fn read_csv(bytes: &[u8], plan: &ColumnPlan, origin: &str) -> Result<Batch, DataError> {
    read_csv_split(bytes, plan, origin, PARALLEL_BYTES)
}

/// [`read_csv`], splitting inputs of at least `parallel_bytes` bytes.
fn read_csv_split(
    bytes: &[u8],
    plan: &ColumnPlan,
    origin: &str,
    parallel_bytes: usize,
) -> Result<Batch, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let headers = reader
        .byte_headers()
        .map_err(|e| DataError::Invalid {
            origin: origin.to_string(),
            message: format!("cannot read the CSV header: {e}"),
        })?
        .clone();
    // The records start after the header line(s).
    let body_start = usize::try_from(reader.position().byte())
        .unwrap_or(bytes.len())
        .min(bytes.len());
    let first_line = reader.position().line();
    // Map each plan column to its field position in the file.
    let mut positions: Vec<Option<usize>> = vec![None; plan.len()];
    for (field, name) in headers.iter().enumerate() {
        let name = String::from_utf8_lossy(name);
        let name = name.trim_start_matches('\u{feff}');
        if let Some(col) = plan.index_of(name) {
            positions[col].get_or_insert(field);
        }
    }
    let layout = CsvLayout {
        plan,
        origin,
        positions: &positions,
        width: headers.len(),
    };
    let body = &bytes[body_start..];
    let cores = rayon::current_num_threads();
    if body.len() < parallel_bytes || cores < 2 || body.contains(&b'"') {
        return Ok(layout.read(body, first_line));
    }
    let parts: Vec<Batch> = line_pieces(body, cores, first_line)
        .into_par_iter()
        .map(|(range, first)| layout.read(&body[range], first))
        .collect();
    let kinds: Vec<Kind> = plan.iter().map(|(_, kind)| kind).collect();
    Batch::concat(parts, &kinds).map_err(|e| DataError::Invalid {
        origin: origin.to_string(),
        message: format!("cannot join the parsed pieces: {e}"),
    })
}

/// How a CSV file's fields map to the plan's columns.
struct CsvLayout<'a> {
    plan: &'a ColumnPlan,
    origin: &'a str,
    /// Each plan column's field position in a record.
    positions: &'a [Option<usize>],
    /// Fields per record (the header's).
    width: usize,
}

impl CsvLayout<'_> {
    /// The records of `body` (no header), whose first line is `first_line`.
    fn read(&self, body: &[u8], first_line: u64) -> Batch {
        let (plan, origin, width) = (self.plan, self.origin, self.width);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(body);
        let line_of = |p: Option<&csv::Position>| p.map_or(0, |p| first_line - 1 + p.line());
        let mut rows = RowsBuilder::new(plan, origin, body.len() / 32 + 1);
        let mut record = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = line_of(record.position());
                    if record.len() != width {
                        let found = record.len();
                        rows.rejects.drop_row(|| {
                            format!("{origin}: line {line}: expected {width} fields as in the header, found {found}")
                        });
                        continue;
                    }
                    let row = rows.begin_row();
                    for (col, pos) in self.positions.iter().enumerate() {
                        match pos {
                            Some(p) => rows.push_cell(col, row, line, &record[*p]),
                            None => rows.push_null(col),
                        }
                    }
                }
                Err(e) => {
                    let line = line_of(e.position());
                    rows.rejects
                        .drop_row(|| format!("{origin}: line {line}: unreadable CSV record: {e}"));
                    if !matches!(
                        e.kind(),
                        csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                    ) {
                        break;
                    }
                }
            }
        }
        let present: Vec<bool> = self.positions.iter().map(Option::is_some).collect();
        rows.finish(&present)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn plan() -> ColumnPlan {
        crate::data::test_plan()
    }

    #[test]
    fn ndjson_split_across_cores_reads_what_one_core_reads() -> TestResult {
        // Good rows, malformed lines, non-objects, blank and CRLF lines, wrong
        // types, a last line without a newline; more messages than are kept.
        let mut body = String::new();
        for i in 0..4000 {
            match i % 13 {
                3 => body.push_str("not json\n"),
                5 => body.push_str("[1, 2]\n"),
                7 => body.push('\n'),
                9 => body.push_str(&format!("{{\"x\": \"bad{i}\", \"c\": \"b\"}}\r\n")),
                _ => body.push_str(&format!(
                    "{{\"x\": {}, \"c\": \"k{}\"}}\n",
                    i as f64 / 7.0,
                    i % 5
                )),
            }
        }
        body.push_str("{\"x\": 1e300}");
        let one = read_ndjson_piece(body.as_bytes(), &plan(), "body", 41)?;
        for threshold in [1, 1000, body.len()] {
            let split = read_ndjson_split(body.as_bytes(), &plan(), "body", 41, threshold)?;
            assert_eq!(split.rows, one.rows);
            assert_eq!(split.columns, one.columns);
            assert_eq!(split.rejects, one.rejects);
        }
        assert!(one
            .rejects
            .errors
            .iter()
            .any(|e| e.contains("line 44: malformed JSON")));
        // The pieces end at line boundaries and cover the input.
        let pieces = line_pieces(body.as_bytes(), 3, 41);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[0].0.start, 0);
        assert_eq!(pieces[2].0.end, body.len());
        for pair in pieces.windows(2) {
            assert_eq!(pair[0].0.end, pair[1].0.start);
            assert_eq!(body.as_bytes()[pair[0].0.end - 1], b'\n');
            let lines = body[pair[0].0.clone()].matches('\n').count() as u64;
            assert_eq!(pair[1].1, pair[0].1 + lines);
        }
        Ok(())
    }

    #[test]
    fn csv_split_across_cores_reads_what_one_core_reads() -> TestResult {
        let mut body = String::from("x,c,extra\n");
        for i in 0..4000 {
            match i % 11 {
                2 => body.push_str("1.0,short\n"),
                4 => body.push_str(&format!("bad{i},k,1\n")),
                6 => body.push_str(",,\n"),
                _ => body.push_str(&format!("{},k{},{i}\n", i as f64 / 3.0, i % 4)),
            }
        }
        body.push_str("2.5,last,0");
        let one = read_csv_split(body.as_bytes(), &plan(), "f.csv", usize::MAX)?;
        for threshold in [1, 5000] {
            let split = read_csv_split(body.as_bytes(), &plan(), "f.csv", threshold)?;
            assert_eq!(split.rows, one.rows);
            assert_eq!(split.columns, one.columns);
            assert_eq!(split.rejects, one.rejects);
        }
        // Line 4 is the third record: the first one with too few fields.
        assert!(
            one.rejects.errors[0].contains("f.csv: line 4: expected 3 fields"),
            "{:?}",
            one.rejects.errors
        );
        // Quotes (a field may hold a newline): one core, same result.
        let quoted = "x,c\n1,\"a\nb\"\n2,c\n";
        let batch = read_csv_split(quoted.as_bytes(), &plan(), "q.csv", 1)?;
        assert_eq!(batch.rows, 2);
        Ok(())
    }

    #[test]
    fn ndjson_counts_malformed_lines_and_wrong_types() -> TestResult {
        let body = b"{\"x\": 1.5, \"c\": \"a\"}\nnot json\n\n{\"x\": \"oops\", \"c\": 7}\n[1]\n{\"c\": true}\n";
        let batch = read_ndjson(body, &plan(), "body", 1)?;
        assert_eq!(batch.rows, 3);
        assert_eq!(batch.rejects.dropped_rows, 2);
        assert_eq!(batch.rejects.rows(RejectReason::Parse), 2);
        assert_eq!(batch.rejects.rows(RejectReason::Type), 1);
        assert!(
            batch.rejects.errors[0].contains("line 2"),
            "{:?}",
            batch.rejects.errors
        );
        let Some(ColumnArray::Categorical(c)) = &batch.columns[1] else {
            panic!()
        };
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![Some("a"), Some("7"), Some("true")]
        );
        let Some(ColumnArray::Numeric(x)) = &batch.columns[0] else {
            panic!()
        };
        assert!(x.value(1).is_nan());
        assert!(x.is_null(2));
        Ok(())
    }

    #[test]
    fn ndjson_rejects_non_finite_tokens_and_bad_text_per_value() -> TestResult {
        // What Python's json.dumps writes for floats that are not finite, a number
        // beyond f64, and a string with invalid UTF-8: each rejects its value only.
        let mut body: Vec<u8> = Vec::new();
        body.extend_from_slice(b"{\"x\": NaN, \"c\": \"a\"}\n");
        body.extend_from_slice(b"{\"x\": Infinity, \"c\": \"b\"}\n");
        body.extend_from_slice(b"{\"c\": \"c\", \"x\": -Infinity}\n");
        body.extend_from_slice(b"{\"x\": 1e400, \"c\": \"d\"}\n");
        body.extend_from_slice(b"{\"x\": 2.5, \"c\": \"\xff\xfe\", \"other\": \"NaN\"}\n");
        body.extend_from_slice(b"{\"x\": NaNa}\n");
        let batch = read_ndjson(&body, &plan(), "body", 1)?;
        assert_eq!(batch.rows, 5, "{:?}", batch.rejects.errors);
        assert_eq!(batch.rejects.dropped_rows, 1, "NaNa is not a token");
        assert_eq!(batch.rejects.rows(RejectReason::NonFinite), 4);
        assert_eq!(batch.rejects.rows(RejectReason::Encoding), 1);
        assert_eq!(batch.rejects.rows(RejectReason::Parse), 1);
        let Some(ColumnArray::Numeric(x)) = &batch.columns[0] else {
            panic!()
        };
        assert!(x.value(0).is_nan());
        assert_eq!(x.value(1), f64::INFINITY);
        assert_eq!(x.value(2), f64::NEG_INFINITY);
        assert_eq!(x.value(3), f64::INFINITY);
        assert_eq!(x.value(4), 2.5);
        let Some(ColumnArray::Categorical(c)) = &batch.columns[1] else {
            panic!()
        };
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![Some("a"), Some("b"), Some("c"), Some("d"), None]
        );
        let errors = batch.rejects.errors.join("\n");
        assert!(
            errors.contains("line 2: field `x`: inf is not a finite number"),
            "{errors}"
        );
        assert!(
            errors.contains("line 5: field `c`: value is not valid UTF-8"),
            "{errors}"
        );
        Ok(())
    }

    #[test]
    fn csv_handles_missing_columns_bad_rows_and_bad_bytes() -> TestResult {
        let body = b"x,other\n1,z\n2\nfoo,z\n\xff\xfe,z\ninf,z\n";
        let batch = read_csv(body, &plan(), "f.csv")?;
        assert_eq!(batch.rows, 4);
        assert!(batch.columns[1].is_none(), "c is not in the header");
        assert_eq!(batch.rejects.rows(RejectReason::Parse), 1);
        assert_eq!(batch.rejects.rows(RejectReason::Type), 1);
        assert_eq!(batch.rejects.rows(RejectReason::Encoding), 1);
        assert_eq!(batch.rejects.rows(RejectReason::NonFinite), 1);
        assert!(
            batch.rejects.errors.iter().any(|e| e.contains("line 3")),
            "{:?}",
            batch.rejects.errors
        );
        Ok(())
    }

    #[test]
    fn json_document_accepts_rows_and_columns() -> TestResult {
        let rows = read_json_document(br#"[{"x": 1}, {"x": 2, "c": "b"}, 3]"#, &plan(), "b")?;
        assert_eq!(rows.rows, 2);
        assert_eq!(rows.rejects.dropped_rows, 1);
        let cols = read_json_document(br#"{"x": [1, 2, 3], "c": ["a", null, "b"]}"#, &plan(), "b")?;
        assert_eq!(cols.rows, 3);
        let err = read_json_document(br#"{"x": [1, 2], "c": ["a"]}"#, &plan(), "b")
            .err()
            .ok_or("expected an error")?;
        assert!(err.to_string().contains("equally long"), "{err}");
        assert!(read_json_document(b"42", &plan(), "b").is_err());
        Ok(())
    }

    #[test]
    fn pandas_style_booleans_become_true_and_false() -> TestResult {
        let plan = plan().with_booleans(["c"]);
        let batch = read_csv(b"x,c\n1,True\n2,FALSE\n3,other\n", &plan, "f.csv")?;
        let Some(ColumnArray::Categorical(c)) = &batch.columns[1] else {
            panic!()
        };
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![Some("true"), Some("false"), Some("other")]
        );
        let batch = read_ndjson(b"{\"c\": \"True\"}\n{\"c\": false}\n", &plan, "b", 1)?;
        let Some(ColumnArray::Categorical(c)) = &batch.columns[1] else {
            panic!()
        };
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![Some("true"), Some("false")]
        );
        Ok(())
    }

    #[test]
    fn the_event_time_column_is_read_as_unix_seconds() -> TestResult {
        let plan = plan().with_time_column("ts");
        let t = 1_795_420_800.0;
        let body = b"{\"x\": 1, \"ts\": \"2026-11-23T08:00:00Z\"}\n{\"x\": 2, \"ts\": 1795420801}\n{\"x\": 3, \"ts\": \"later\"}\n{\"x\": 4, \"ts\": [1]}\n{\"x\": 5}\n";
        let batch = read_ndjson(body, &plan, "log", 7)?;
        let Some(ColumnArray::Numeric(ts)) = &batch.columns[2] else {
            panic!("numeric event times expected")
        };
        let ts: Vec<Option<f64>> = ts.iter().collect();
        assert_eq!(ts, vec![Some(t), Some(t + 1.0), None, None, None]);
        assert_eq!(batch.rows, 5, "rows with bad timestamps are kept");
        assert_eq!(batch.rejects.rows(RejectReason::Type), 2);
        assert!(
            batch.rejects.errors[0].contains("line 9"),
            "{:?}",
            batch.rejects.errors
        );
        assert!(
            batch.rejects.errors[0].contains("`ts`"),
            "{:?}",
            batch.rejects.errors
        );

        let batch = read_csv(b"x,ts\n1,2026-11-23 08:00:00\n2,\n3,noon\n", &plan, "f.csv")?;
        let Some(ColumnArray::Numeric(ts)) = &batch.columns[2] else {
            panic!("numeric event times expected")
        };
        assert_eq!(ts.iter().collect::<Vec<_>>(), vec![Some(t), None, None]);
        assert_eq!(batch.rejects.rows(RejectReason::Type), 1);
        assert!(
            batch.rejects.errors[0].contains("line 4"),
            "{:?}",
            batch.rejects.errors
        );
        Ok(())
    }

    #[test]
    fn empty_inputs_give_empty_batches() -> TestResult {
        assert_eq!(read_ndjson(b"", &plan(), "b", 1)?.rows, 0);
        assert_eq!(read_csv(b"", &plan(), "b")?.rows, 0);
        assert_eq!(read_csv(b"x,c\n", &plan(), "b")?.rows, 0);
        Ok(())
    }
}
