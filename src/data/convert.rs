//! Normalising values to the plan's kinds: Arrow arrays of any supported type are
//! cast to `Float64` or `Utf8`; text is parsed. Rejected values are flagged on their
//! row: numeric ones become NaN (never scored, not missing), categorical ones null.

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Float64Builder, StringArray};
use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};

use super::{ColumnArray, Kind, RejectReason, Rejects, RowFlags};

/// Parses a numeric text cell. `Ok(None)` is a null (empty cell).
pub(crate) fn parse_number(text: &str) -> Result<Option<f64>, ()> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<f64>().map(Some).map_err(|_| ())
}

/// The category of a boolean's text, case-insensitively (`True` -> `true`), or
/// `None` when the text is not a boolean.
pub(crate) fn canonical_bool(text: &str) -> Option<&'static str> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("true") {
        Some("true")
    } else if t.eq_ignore_ascii_case("false") {
        Some("false")
    } else {
        None
    }
}

/// Appends a parsed number, flagging non-finite values.
pub(crate) fn push_number(
    builder: &mut Float64Builder,
    value: f64,
    row: usize,
    flags: &mut RowFlags,
) {
    if !value.is_finite() {
        flags.flag(row, RejectReason::NonFinite);
    }
    builder.append_value(value);
}

/// Appends a value of the wrong type: NaN, flagged, with a message.
pub(crate) fn push_type_error(
    builder: &mut Float64Builder,
    row: usize,
    flags: &mut RowFlags,
    rejects: &mut Rejects,
    message: impl FnOnce() -> String,
) {
    flags.flag(row, RejectReason::Type);
    rejects.message(message);
    builder.append_value(f64::NAN);
}

/// Converts one Arrow column to the planned kind. Flags are indexed within the
/// array; `row_offset` (the array's first row within the whole input) is only used
/// to number rows in messages.
#[allow(clippy::too_many_arguments)]
pub(crate) fn normalise(
    array: &ArrayRef,
    kind: Kind,
    boolean: bool,
    name: &str,
    origin: &str,
    row_offset: usize,
    flags: &mut RowFlags,
    rejects: &mut Rejects,
) -> ColumnArray {
    match kind {
        Kind::Numeric => {
            ColumnArray::Numeric(to_numeric(array, name, origin, row_offset, flags, rejects))
        }
        Kind::Categorical => {
            let text = to_categorical(array, name, origin, row_offset, flags, rejects);
            ColumnArray::Categorical(if boolean { canonical_bools(text) } else { text })
        }
    }
}

fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

fn to_numeric(
    array: &ArrayRef,
    name: &str,
    origin: &str,
    row_offset: usize,
    flags: &mut RowFlags,
    rejects: &mut Rejects,
) -> Float64Array {
    let data_type = array.data_type();
    let numeric_source = data_type.is_numeric()
        || matches!(data_type, DataType::Dictionary(_, v) if v.is_numeric())
        || *data_type == DataType::Null;
    if numeric_source {
        if let Ok(cast) = cast(array, &DataType::Float64) {
            let values = cast.as_primitive::<arrow::datatypes::Float64Type>().clone();
            for (i, v) in values.iter().enumerate() {
                if let Some(v) = v {
                    if !v.is_finite() {
                        flags.flag(i, RejectReason::NonFinite);
                    }
                }
            }
            return values;
        }
    }
    let mut builder = Float64Builder::with_capacity(array.len());
    if is_text(data_type) {
        if let Ok(text) = cast(array, &DataType::Utf8) {
            let text = text.as_string::<i32>();
            for (i, cell) in text.iter().enumerate() {
                match cell.map(parse_number) {
                    None | Some(Ok(None)) => builder.append_null(),
                    Some(Ok(Some(v))) => push_number(&mut builder, v, i, flags),
                    Some(Err(())) => push_type_error(&mut builder, i, flags, rejects, || {
                        format!(
                            "{origin}: row {}: column `{name}`: expected a number, found {:?}",
                            row_offset + i + 1,
                            cell.unwrap_or_default()
                        )
                    }),
                }
            }
            return builder.finish();
        }
    }
    // A type that holds no numbers (booleans, dates, binary, lists): every value is
    // rejected; nulls stay missing.
    for i in 0..array.len() {
        if array.is_null(i) {
            builder.append_null();
        } else {
            push_type_error(&mut builder, i, flags, rejects, || {
                format!(
                    "{origin}: row {}: column `{name}`: expected a number, found a value of type {data_type}",
                    row_offset + i + 1
                )
            });
        }
    }
    builder.finish()
}

/// Parses an event time: a number of Unix seconds (fractions allowed) or a date
/// and time as RFC 3339 / ISO 8601 text (`2026-11-23T08:00:00Z`, with a space for
/// the `T`, an offset, or none for UTC; a bare date is its midnight UTC).
/// `Ok(None)` is an empty cell; `Err(())` text that is neither.
pub(crate) fn parse_event_time(text: &str) -> Result<Option<f64>, ()> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Ok(seconds) = t.parse::<f64>() {
        return if seconds.is_finite() {
            Ok(Some(seconds))
        } else {
            Err(())
        };
    }
    string_to_timestamp_nanos(t)
        // Whole seconds and the fraction apart: nanoseconds since 1970 need more
        // than f64's 53 bits.
        .map(|nanos| {
            Some(
                nanos.div_euclid(1_000_000_000) as f64
                    + nanos.rem_euclid(1_000_000_000) as f64 / 1e9,
            )
        })
        .map_err(|_| ())
}

/// Appends an event time parsed from text, or a null and a `type` rejection.
pub(crate) fn push_event_time(
    builder: &mut Float64Builder,
    text: &str,
    row: usize,
    flags: &mut RowFlags,
    rejects: &mut Rejects,
    message: impl FnOnce() -> String,
) {
    match parse_event_time(text) {
        Ok(v) => builder.append_option(v),
        Err(()) => {
            flags.flag(row, RejectReason::Type);
            rejects.message(message);
            builder.append_null();
        }
    }
}

/// The message for an event time that cannot be read.
pub(crate) fn bad_event_time(origin: &str, place: &str, name: &str, found: &str) -> String {
    format!(
        "{origin}: {place}: column `{name}`: expected a timestamp (RFC 3339 text or Unix seconds), found {found}; the row keeps its arrival time"
    )
}

/// Converts an Arrow column to event times in Unix seconds: timestamps of any
/// unit and time zone and dates exactly (to the millisecond), numbers as seconds,
/// text by [`parse_event_time`]. A value that is none of these is null, flagged
/// `type` (the window then ages the row by its arrival time).
pub(crate) fn to_event_seconds(
    array: &ArrayRef,
    name: &str,
    origin: &str,
    row_offset: usize,
    flags: &mut RowFlags,
    rejects: &mut Rejects,
) -> Float64Array {
    let data_type = array.data_type();
    let millis = DataType::Timestamp(TimeUnit::Millisecond, None);
    let temporal = matches!(
        data_type,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    );
    if temporal {
        if let Ok(cast) = cast(array, &millis) {
            return cast
                .as_primitive::<TimestampMillisecondType>()
                .iter()
                .map(|v| v.map(|ms| ms as f64 / 1e3))
                .collect();
        }
    }
    let mut builder = Float64Builder::with_capacity(array.len());
    let row = |i: usize| format!("row {}", row_offset + i + 1);
    if data_type.is_numeric() {
        if let Ok(cast) = cast(array, &DataType::Float64) {
            for (i, v) in cast
                .as_primitive::<arrow::datatypes::Float64Type>()
                .iter()
                .enumerate()
            {
                match v {
                    Some(v) if !v.is_finite() => {
                        flags.flag(i, RejectReason::NonFinite);
                        rejects.message(|| bad_event_time(origin, &row(i), name, &v.to_string()));
                        builder.append_null();
                    }
                    v => builder.append_option(v),
                }
            }
            return builder.finish();
        }
    }
    if is_text(data_type) {
        if let Ok(text) = cast(array, &DataType::Utf8) {
            for (i, cell) in text.as_string::<i32>().iter().enumerate() {
                match cell {
                    None => builder.append_null(),
                    Some(cell) => push_event_time(&mut builder, cell, i, flags, rejects, || {
                        bad_event_time(origin, &row(i), name, &format!("{cell:?}"))
                    }),
                }
            }
            return builder.finish();
        }
    }
    for i in 0..array.len() {
        builder.append_null();
        if !array.is_null(i) {
            flags.flag(i, RejectReason::Type);
            rejects.message(|| {
                bad_event_time(
                    origin,
                    &row(i),
                    name,
                    &format!("a value of type {data_type}"),
                )
            });
        }
    }
    builder.finish()
}

/// Rewrites `True`/`FALSE`/... to `true`/`false` (copying only when needed).
fn canonical_bools(text: StringArray) -> StringArray {
    let needs = text
        .iter()
        .flatten()
        .any(|v| canonical_bool(v).is_some_and(|c| c != v));
    if !needs {
        return text;
    }
    text.iter()
        .map(|v| v.map(|v| canonical_bool(v).unwrap_or(v)))
        .collect()
}

fn to_categorical(
    array: &ArrayRef,
    name: &str,
    origin: &str,
    row_offset: usize,
    flags: &mut RowFlags,
    rejects: &mut Rejects,
) -> StringArray {
    let data_type = array.data_type();
    if can_cast_types(data_type, &DataType::Utf8) {
        if let Ok(text) = cast(array, &DataType::Utf8) {
            return text.as_string::<i32>().clone();
        }
    }
    for i in 0..array.len() {
        if !array.is_null(i) {
            flags.flag(i, RejectReason::Type);
            rejects.message(|| {
                format!(
                    "{origin}: row {}: column `{name}`: expected a category, found a value of type {data_type}",
                    row_offset + i + 1
                )
            });
        }
    }
    StringArray::new_null(array.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, DictionaryArray, Int64Array};
    use arrow::datatypes::Int32Type;
    use std::sync::Arc;

    fn run(array: ArrayRef, kind: Kind) -> (ColumnArray, Rejects) {
        let mut flags = RowFlags::new(array.len());
        let mut rejects = Rejects::default();
        let col = normalise(
            &array,
            kind,
            false,
            "c",
            "test",
            0,
            &mut flags,
            &mut rejects,
        );
        flags.fold_into(&mut rejects);
        (col, rejects)
    }

    fn event_seconds(array: ArrayRef) -> (Vec<Option<f64>>, Rejects) {
        let mut flags = RowFlags::new(array.len());
        let mut rejects = Rejects::default();
        let out = to_event_seconds(&array, "ts", "test", 0, &mut flags, &mut rejects);
        flags.fold_into(&mut rejects);
        (out.iter().collect(), rejects)
    }

    #[test]
    fn event_times_parse_rfc3339_and_unix_seconds() {
        // 2026-11-23T08:00:00Z
        let t = 1_795_420_800.0;
        assert_eq!(parse_event_time("2026-11-23T08:00:00Z"), Ok(Some(t)));
        assert_eq!(parse_event_time("2026-11-23 08:00:00"), Ok(Some(t)));
        assert_eq!(parse_event_time("2026-11-23T09:30:00+01:30"), Ok(Some(t)));
        assert_eq!(
            parse_event_time("2026-11-23T08:00:00.250Z"),
            Ok(Some(t + 0.25))
        );
        assert_eq!(parse_event_time("2026-11-23"), Ok(Some(t - 8.0 * 3600.0)));
        assert_eq!(parse_event_time(" 1795420800.5 "), Ok(Some(t + 0.5)));
        assert_eq!(parse_event_time(""), Ok(None));
        assert_eq!(parse_event_time("yesterday"), Err(()));
        assert_eq!(parse_event_time("inf"), Err(()));
    }

    #[test]
    fn arrow_timestamps_of_every_unit_and_zone_become_seconds() {
        use arrow::array::{
            Date32Array, TimestampMicrosecondArray, TimestampNanosecondArray, TimestampSecondArray,
        };
        let t = 1_795_420_800i64;
        let cases: Vec<ArrayRef> = vec![
            Arc::new(TimestampSecondArray::from(vec![Some(t), None])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(t * 1_000_000), None])
                    .with_timezone("+05:00"),
            ),
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(t * 1_000_000_000),
                None,
            ])),
            Arc::new(Int64Array::from(vec![Some(t), None])),
            Arc::new(StringArray::from(vec![Some("2026-11-23T08:00:00Z"), None])),
        ];
        for array in cases {
            let data_type = array.data_type().clone();
            let (values, rejects) = event_seconds(array);
            assert_eq!(values, vec![Some(t as f64), None], "{data_type}");
            assert_eq!(rejects.total_rows(), 0, "{data_type}");
        }
        let days = Date32Array::from(vec![Some(20_415)]);
        assert_eq!(
            event_seconds(Arc::new(days)).0,
            vec![Some(20_415.0 * 86_400.0)]
        );
    }

    #[test]
    fn unreadable_event_times_are_type_rejects_naming_the_row() {
        let (values, rejects) = event_seconds(Arc::new(StringArray::from(vec![
            Some("2026-11-23T08:00:00Z"),
            Some("soon"),
        ])));
        assert_eq!(values[1], None);
        assert_eq!(rejects.rows(RejectReason::Type), 1);
        assert!(rejects.errors[0].contains("row 2"), "{:?}", rejects.errors);
        assert!(rejects.errors[0].contains("`ts`"), "{:?}", rejects.errors);
        let (values, rejects) = event_seconds(Arc::new(BooleanArray::from(vec![true])));
        assert_eq!(values, vec![None]);
        assert_eq!(rejects.rows(RejectReason::Type), 1);
        let (_, rejects) = event_seconds(Arc::new(Float64Array::from(vec![f64::NAN])));
        assert_eq!(rejects.rows(RejectReason::NonFinite), 1);
    }

    #[test]
    fn integers_become_floats() {
        let (col, rejects) = run(
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
            Kind::Numeric,
        );
        let ColumnArray::Numeric(a) = col else {
            panic!("numeric expected")
        };
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![Some(1.0), None, Some(3.0)]
        );
        assert_eq!(rejects.total_rows(), 0);
    }

    #[test]
    fn text_in_numeric_column_is_a_type_reject() {
        let (col, rejects) = run(
            Arc::new(StringArray::from(vec![
                Some("1.5"),
                Some("abc"),
                None,
                Some("nan"),
            ])),
            Kind::Numeric,
        );
        let ColumnArray::Numeric(a) = col else {
            panic!("numeric expected")
        };
        assert_eq!(a.value(0), 1.5);
        assert!(a.value(1).is_nan());
        assert!(a.is_null(2));
        assert_eq!(rejects.rows(RejectReason::Type), 1);
        assert_eq!(rejects.rows(RejectReason::NonFinite), 1);
        assert!(rejects.errors[0].contains("row 2"), "{:?}", rejects.errors);
    }

    #[test]
    fn boolean_text_is_canonical() {
        let mut flags = RowFlags::new(3);
        let mut rejects = Rejects::default();
        let array: ArrayRef = Arc::new(StringArray::from(vec![
            Some("True"),
            Some("FALSE"),
            Some("maybe"),
        ]));
        let col = normalise(
            &array,
            Kind::Categorical,
            true,
            "b",
            "t",
            0,
            &mut flags,
            &mut rejects,
        );
        let ColumnArray::Categorical(a) = col else {
            panic!("categorical expected")
        };
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![Some("true"), Some("false"), Some("maybe")]
        );
    }

    #[test]
    fn booleans_in_numeric_column_are_rejected() {
        let (_, rejects) = run(
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Kind::Numeric,
        );
        assert_eq!(rejects.rows(RejectReason::Type), 1);
    }

    #[test]
    fn dictionary_and_booleans_become_text() {
        let dict: DictionaryArray<Int32Type> = vec!["a", "b", "a"].into_iter().collect();
        let (col, _) = run(Arc::new(dict), Kind::Categorical);
        let ColumnArray::Categorical(a) = col else {
            panic!("categorical expected")
        };
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![Some("a"), Some("b"), Some("a")]
        );
        let (col, _) = run(
            Arc::new(BooleanArray::from(vec![true, false])),
            Kind::Categorical,
        );
        let ColumnArray::Categorical(a) = col else {
            panic!("categorical expected")
        };
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![Some("true"), Some("false")]
        );
    }
}
