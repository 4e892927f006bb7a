//! Fuzz targets on the stable toolchain: proptest drives arbitrary and mutated
//! inputs through every parser of outside input: the NDJSON, CSV and JSON
//! bodies, Arrow IPC and Parquet bodies, the TOML config and the web config.
//! Each must answer (rows, rejections, or an error naming the input) and never
//! panic; the text readers must also account for every line.
//!
//! CI runs the default 256 cases per target. A longer run (README "Development"):
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --test fuzz
//! ```
//!
//! A failing input is saved by proptest in `tests/proptest-regressions/main.txt`
//! (commit it) and replayed first on every later run: it is the regression test.
//! The Arrow seed there is the corruption that made the arrow crate panic.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use drift_exporter::config::{CliOverrides, Config};
use drift_exporter::data::{self, ColumnPlan, Format, Kind};
use proptest::prelude::*;

fn plan() -> ColumnPlan {
    ColumnPlan::new([
        ("x".to_string(), Kind::Numeric),
        ("c".to_string(), Kind::Categorical),
    ])
}

/// JSON-ish lines: valid rows, the tokens writers emit that strict JSON refuses,
/// broken quoting, stray bytes.
fn ndjson_line() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        any::<f64>().prop_map(|v| format!("{v}")),
        Just("NaN".to_string()),
        Just("-Infinity".to_string()),
        Just("1e400".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        "\"[a-z\\\\\"]{0,6}\"".prop_map(|s| s),
        Just("[1, {\"x\": 2}]".to_string()),
        Just("\"unterminated".to_string()),
    ];
    let line = (value.clone(), value, "[a-z]{0,2}").prop_map(|(x, c, extra)| {
        format!("{{\"x\": {x}, \"c\": {c}, \"{extra}\": 0}}").into_bytes()
    });
    prop_oneof![
        4 => line,
        1 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => (proptest::collection::vec(any::<u8>(), 1..4), "[ -~]{0,30}").prop_map(|(bad, text)| {
            let mut bytes = text.into_bytes();
            let at = bytes.len() / 2;
            bytes.splice(at..at, bad);
            bytes
        }),
    ]
}

fn arrow_stream() -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("c", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(f64::NAN)])),
            Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])),
        ],
    )
    .expect("a batch");
    let mut out = Vec::new();
    {
        let mut writer =
            arrow::ipc::writer::StreamWriter::try_new(&mut out, &schema).expect("a writer");
        writer.write(&batch).expect("written");
        writer.finish().expect("finished");
    }
    out
}

fn parquet_file() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reference-data/samples/batch-0001-clean.parquet");
    std::fs::read(path).expect("the sample Parquet file")
}

/// `base` with up to 8 bytes overwritten and possibly truncated.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        proptest::collection::vec((0..len, any::<u8>()), 0..8),
        prop_oneof![Just(len), 0..len],
    )
        .prop_map(move |(edits, keep)| {
            let mut bytes = base.clone();
            for (at, b) in edits {
                bytes[at] = b;
            }
            bytes.truncate(keep);
            bytes
        })
}

proptest! {
    #[test]
    fn ndjson_bodies_account_for_every_line(lines in proptest::collection::vec(ndjson_line(), 0..30)) {
        let mut body = Vec::new();
        for line in &lines {
            body.extend_from_slice(line);
            body.push(b'\n');
        }
        let batch = data::read_ndjson(&body, &plan(), "fuzz", 1).expect("NDJSON never fails whole");
        let counted = body
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
            .count() as u64;
        prop_assert_eq!(batch.rows as u64 + batch.rejects.dropped_rows, counted);
    }

    #[test]
    fn csv_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), header in "x,c|c,x|x|,,") {
        let mut bytes = header.into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(&body);
        let _ = data::read_bytes(Bytes::from(bytes), Format::Csv, &plan(), "fuzz");
    }

    #[test]
    fn json_documents_never_panic(lines in proptest::collection::vec(ndjson_line(), 0..10), columns in any::<bool>()) {
        let rows: Vec<String> = lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        let body = if columns {
            format!("{{\"x\": [{}], \"c\": [\"a\"]}}", rows.len())
        } else {
            format!("[{}]", rows.join(","))
        };
        let _ = data::read_bytes(Bytes::from(body), Format::Json, &plan(), "fuzz");
    }

    #[test]
    fn arrow_stream_bodies_never_panic(bytes in mutated(arrow_stream())) {
        let _ = data::read_bytes(Bytes::from(bytes), Format::ArrowIpc, &plan(), "fuzz");
    }

    #[test]
    fn parquet_bodies_never_panic(bytes in mutated(parquet_file())) {
        let _ = data::read_bytes(Bytes::from(bytes), Format::Parquet, &plan(), "fuzz");
    }

    #[test]
    fn configs_never_panic(text in "(\\[[a-z.]{1,12}\\]\n|[a-z_]{1,14} = (\"[a-z0-9:./]{0,12}\"|[0-9.e-]{1,6}|true|\\[\\]|\\{\\})\n){0,12}") {
        let _ = Config::from_toml(&text, Path::new("/fuzz/c.toml"), Vec::new(), &CliOverrides::default());
    }

    #[test]
    fn web_configs_never_panic(text in "((tls_server_config|basic_auth_users|  cert_file|  key_file|  client_auth_type|  min_version|  [a-z]{1,5}|-|  - ):( [a-zA-Z0-9$./]{0,12}| \\[| \\{)?\n){0,10}") {
        let _ = drift_exporter::web_config::parse(&text, Path::new("/fuzz/web.yml"));
    }
}

/// The corruption the fuzz target found (a buffer length past the body made
/// arrow slice out of bounds and panic), replayed exhaustively: every single
/// byte of a small stream set to 0xFF or 0x7F is answered without a panic.
#[test]
fn every_single_byte_corruption_of_an_arrow_stream_is_answered() {
    let stream = arrow_stream();
    let mut refused = 0;
    for at in 0..stream.len() {
        for value in [0xFF, 0x7F] {
            let mut bytes = stream.clone();
            bytes[at] = value;
            let answered = std::panic::catch_unwind(|| {
                data::read_bytes(Bytes::from(bytes), Format::ArrowIpc, &plan(), "fuzz").is_err()
            });
            match answered {
                Ok(is_err) => refused += usize::from(is_err),
                Err(_) => panic!("byte {at} = {value:#x}: the reader panicked"),
            }
        }
    }
    assert!(refused > 0, "no corruption was refused");
}

/// Found by the cargo-fuzz target `arrow_stream`: an Arrow IPC file whose footer
/// declares a record-batch block of 776 GB in a 1 KB file. The arrow crate
/// allocated what the block declared before reading it; the block is now
/// checked against the file's length first and the input refused by name.
#[test]
fn an_arrow_file_block_past_the_end_is_refused_before_any_allocation() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/crashes/arrow-file-block-past-the-end.arrow");
    let bytes = std::fs::read(&path).expect("the crash input");
    let err = data::read_bytes(Bytes::from(bytes), Format::ArrowIpc, &plan(), "crash.arrow")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("crash.arrow") && err.contains("lies outside the file"),
        "{err}"
    );
}

/// Found by the cargo-fuzz target `arrow_stream`: a 1 KB Arrow IPC file with an
/// empty schema and one record batch claiming 4,294,967,299 rows. Nothing backs
/// that count; each row was to be counted (and flagged) as missing values, a
/// 4 GB allocation. Such a batch is now refused by name.
#[test]
fn an_arrow_batch_claiming_rows_without_columns_is_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/crashes/arrow-file-rows-without-columns.arrow");
    let bytes = std::fs::read(&path).expect("the crash input");
    let err = data::read_bytes(Bytes::from(bytes), Format::ArrowIpc, &plan(), "rows.arrow")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("rows.arrow") && err.contains("4294967299 rows has no column holding data"),
        "{err}"
    );
}
