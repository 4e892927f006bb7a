//! Normalising values to the plan's kinds: Arrow arrays of any supported type are
//! cast to `Float64` or `Utf8`; text is parsed. Rejected values are flagged on their
//! row: numeric ones become NaN (never scored, not missing), categorical ones null.

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Float64Builder, StringArray};
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::DataType;

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
