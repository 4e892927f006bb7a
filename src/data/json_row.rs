//! One JSON object decoded straight into the planned columns' cells, without
//! building a `serde_json::Value` for the whole line: keys that are not planned
//! are skipped unparsed-into-memory (`IgnoredAny`), strings without escapes are
//! borrowed from the input, arrays and objects are only named. This is what the
//! NDJSON reader (the tail source's hot path) runs per line; it yields exactly
//! the cells a `Value` would (the same numbers through `serde_json::Number`, the
//! last of duplicate keys), so both paths score alike.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::ColumnPlan;

/// A JSON value as far as a column needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array,
    Object,
    /// A token strict JSON refuses but writers emit for a float that is not
    /// finite (`NaN`, `Infinity`, `-Infinity`, or a number beyond `f64` such as
    /// `1e400`), read by [`repair`]: a rejected value (`non_finite`).
    NonFinite(f64),
    /// A string that is not valid UTF-8, read by [`repair`]: a rejected value
    /// (`encoding`).
    BadText,
}

impl<'a> Cell<'a> {
    /// The cell of a parsed value (borrowing its text).
    pub(crate) fn of(value: &'a Value) -> Cell<'a> {
        match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => Cell::Number(n.clone()),
            Value::String(s) => Cell::Str(Cow::Borrowed(s)),
            Value::Array(_) => Cell::Array,
            Value::Object(_) => Cell::Object,
        }
    }

    /// How messages name the value: `number 3`, `string "abc"`, `an array`...
    pub(crate) fn describe(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Bool(b) => format!("boolean {b}"),
            Cell::Number(n) => format!("number {n}"),
            Cell::Str(s) => {
                let short: String = s.chars().take(40).collect();
                format!("string {short:?}")
            }
            Cell::Array => "an array".into(),
            Cell::Object => "an object".into(),
            Cell::NonFinite(v) => format!("non-finite number {v}"),
            Cell::BadText => "a string that is not valid UTF-8".into(),
        }
    }
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = Cell<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Cell<'de>, E> {
        Ok(Cell::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cell<'de>, E> {
        Ok(Cell::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cell<'de>, E> {
        Ok(Cell::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cell<'de>, E> {
        Number::from_f64(v)
            .map(Cell::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Cell<'de>, E> {
        Ok(Cell::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cell<'de>, E> {
        Ok(Cell::Str(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Cell<'de>, E> {
        Ok(Cell::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Object)
    }
}

impl<'de> serde::Deserialize<'de> for Cell<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CellVisitor)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// What a line held.
#[derive(Debug)]
pub(crate) enum Row<'de> {
    /// An object: its planned fields are in the slots.
    Object,
    /// Something else, to be named in the message.
    Other(Cell<'de>),
}

/// Decodes one line into `slots` (one per plan column, `None` where the object has
/// no such field), leaving other fields unread into memory.
struct RowSeed<'s, 'de> {
    plan: &'s ColumnPlan,
    slots: &'s mut [Option<Cell<'de>>],
    order: &'s mut KeyOrder,
}

/// The plan column of each key position of the objects decoded so far.
/// NDJSON lines usually list the same keys in the same order, so a key is
/// first compared with the name its position had last time, and only looked
/// up by hash when it differs (hashing every key was about 7% of parsing).
#[derive(Debug, Default)]
pub(crate) struct KeyOrder {
    columns: Vec<Option<usize>>,
}

impl KeyOrder {
    /// The plan column named `key`, the `position`-th key of its object.
    fn column(&mut self, plan: &ColumnPlan, position: usize, key: &str) -> Option<usize> {
        if let Some(&Some(i)) = self.columns.get(position) {
            if plan.name(i) == key {
                return Some(i);
            }
        }
        let column = plan.index_of(key);
        if let Some(slot) = self.columns.get_mut(position) {
            *slot = column;
        } else if position == self.columns.len() {
            self.columns.push(column);
        }
        column
    }
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, 'de> {
    type Value = Row<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Row<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, 'de> {
    type Value = Row<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row<'de>, A::Error> {
        let mut position = 0;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let column = self.order.column(self.plan, position, &key);
            position += 1;
            match column {
                Some(i) => self.slots[i] = Some(map.next_value::<Cell<'de>>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Row::Object)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Row<'de>, E> {
        CellVisitor.visit_unit().map(Row::Other)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Row<'de>, E> {
        CellVisitor.visit_bool(v).map(Row::Other)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Row<'de>, E> {
        CellVisitor.visit_i64(v).map(Row::Other)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Row<'de>, E> {
        CellVisitor.visit_u64(v).map(Row::Other)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Row<'de>, E> {
        CellVisitor.visit_f64(v).map(Row::Other)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Row<'de>, E> {
        CellVisitor.visit_borrowed_str(v).map(Row::Other)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Row<'de>, E> {
        CellVisitor.visit_str(v).map(Row::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Row<'de>, A::Error> {
        CellVisitor.visit_seq(seq).map(Row::Other)
    }
}

/// Parses one line (a whole JSON text, nothing after it) into `slots`, which must
/// have one entry per plan column and are cleared first.
pub(crate) fn parse_row<'de>(
    line: &'de [u8],
    plan: &ColumnPlan,
    slots: &mut [Option<Cell<'de>>],
    order: &mut KeyOrder,
) -> Result<Row<'de>, serde_json::Error> {
    slots.iter_mut().for_each(|s| *s = None);
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let row = RowSeed { plan, slots, order }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(row)
}

/// Marks a value [`repair`] rewrote: a JSON string that starts with a NUL and
/// this text (no writer of real data produces one).
const MARK: &str = "\u{0}drift-exporter:";

/// A line strict JSON refuses only for its values, rewritten so that its other
/// values can be kept: `NaN`, `Infinity`, `-Infinity` (Python's `json.dumps`
/// writes them by default), numbers beyond `f64` (`1e400`), and strings that are
/// not valid UTF-8 become marked strings that [`parse_repaired_row`] turns into
/// [`Cell::NonFinite`] and [`Cell::BadText`]. `None` when there is nothing to
/// rewrite (the line is malformed for another reason).
///
/// Called only after a line failed to parse, so well-formed lines pay nothing.
/// Hand-written: serde_json has no lenient mode, and the lenient JSON crates
/// (json5 and the like) accept much more than these tokens.
pub(crate) fn repair(line: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(line.len() + 32);
    let mut changed = false;
    let mut i = 0;
    let mark = |out: &mut Vec<u8>, what: &str| {
        out.extend_from_slice(b"\"\\u0000drift-exporter:");
        out.extend_from_slice(what.as_bytes());
        out.push(b'"');
    };
    while i < line.len() {
        let b = line[i];
        if b == b'"' {
            // A string: up to the closing quote, skipping escaped characters.
            let mut end = i + 1;
            while end < line.len() && line[end] != b'"' {
                end += if line[end] == b'\\' { 2 } else { 1 };
            }
            if end >= line.len() {
                // Unterminated: left for the parser to report.
                out.extend_from_slice(&line[i..]);
                break;
            }
            let body = &line[i + 1..end];
            if std::str::from_utf8(body).is_err() {
                mark(&mut out, "bad-text");
                changed = true;
            } else {
                out.extend_from_slice(&line[i..=end]);
            }
            i = end + 1;
            continue;
        }
        let rest = &line[i..];
        let token = |name: &[u8]| {
            rest.starts_with(name)
                && rest
                    .get(name.len())
                    .is_none_or(|c| !c.is_ascii_alphanumeric())
        };
        if token(b"NaN") {
            mark(&mut out, "NaN");
            i += 3;
            changed = true;
        } else if token(b"Infinity") || token(b"+Infinity") {
            let len = if rest[0] == b'+' { 9 } else { 8 };
            mark(&mut out, "inf");
            i += len;
            changed = true;
        } else if token(b"-Infinity") {
            mark(&mut out, "-inf");
            i += 9;
            changed = true;
        } else if b == b'-' || b.is_ascii_digit() {
            let len = rest
                .iter()
                .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(rest.len());
            let number = std::str::from_utf8(&rest[..len])
                .ok()
                .and_then(|t| t.parse::<f64>().ok());
            match number {
                Some(v) if v.is_infinite() => {
                    mark(&mut out, if v < 0.0 { "-inf" } else { "inf" });
                    changed = true;
                }
                _ => out.extend_from_slice(&rest[..len]),
            }
            i += len;
        } else {
            out.push(b);
            i += 1;
        }
    }
    changed.then_some(out)
}

/// [`parse_row`] on a line [`repair`] rewrote: marked strings become
/// [`Cell::NonFinite`] and [`Cell::BadText`].
pub(crate) fn parse_repaired_row<'de>(
    line: &'de [u8],
    plan: &ColumnPlan,
    slots: &mut [Option<Cell<'de>>],
    order: &mut KeyOrder,
) -> Result<Row<'de>, serde_json::Error> {
    let row = parse_row(line, plan, slots, order)?;
    for slot in slots.iter_mut() {
        let Some(Cell::Str(text)) = slot else {
            continue;
        };
        let Some(what) = text.strip_prefix(MARK) else {
            continue;
        };
        *slot = Some(match what {
            "NaN" => Cell::NonFinite(f64::NAN),
            "inf" => Cell::NonFinite(f64::INFINITY),
            "-inf" => Cell::NonFinite(f64::NEG_INFINITY),
            _ => Cell::BadText,
        });
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Kind;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn plan() -> ColumnPlan {
        ColumnPlan::new([
            ("x".to_string(), Kind::Numeric),
            ("c".to_string(), Kind::Categorical),
            ("t".to_string(), Kind::Categorical),
        ])
    }

    /// The cells a parsed `Value` gives for the same line.
    fn by_value(line: &str) -> Result<Vec<Option<Cell<'static>>>, serde_json::Error> {
        let value: Value = serde_json::from_str(line)?;
        Ok(plan()
            .iter()
            .map(|(name, _)| {
                value.get(name).map(|v| match Cell::of(v) {
                    Cell::Str(s) => Cell::Str(Cow::Owned(s.into_owned())),
                    Cell::Null => Cell::Null,
                    Cell::Bool(b) => Cell::Bool(b),
                    Cell::Number(n) => Cell::Number(n),
                    Cell::Array => Cell::Array,
                    Cell::Object => Cell::Object,
                    Cell::NonFinite(v) => Cell::NonFinite(v),
                    Cell::BadText => Cell::BadText,
                })
            })
            .collect())
    }

    #[test]
    fn cells_equal_those_of_a_parsed_value() -> TestResult {
        let lines = [
            r#"{"x": 1.5, "c": "a", "other": {"deep": [1, 2, {"x": 9}]}}"#,
            r#"{"x": -7, "c": "esc\"aped\u00e9", "t": true}"#,
            r#"{"x": 18446744073709551615, "c": 3, "t": null}"#,
            r#"{"x": 1e300, "c": 0.1, "t": [1]}"#,
            r#"{"x": "text", "c": {"a": 1}, "x": 2}"#,
            r#"{}"#,
            r#"{"\u0078": 4}"#,
            // Keys in another order, and unknown keys where known ones were
            // (the key order remembered from one line must not mislead the next).
            r#"{"x": 1, "c": "a", "t": "b"}"#,
            r#"{"c": "b", "x": 2.5}"#,
            r#"{"other": 1, "x": 3, "t": "e"}"#,
            r#"{"x": 4, "c": "d", "t": "e", "u": 1}"#,
            r#"{"x": 5, "c": "d", "t": "e", "u": 1}"#,
            r#"{"t": "f"}"#,
        ];
        let plan = plan();
        let mut slots = vec![None; plan.len()];
        let mut order = KeyOrder::default();
        for line in lines {
            let row = parse_row(line.as_bytes(), &plan, &mut slots, &mut order)?;
            assert!(matches!(row, Row::Object), "{line}");
            assert_eq!(slots, by_value(line)?, "{line}");
        }
        Ok(())
    }

    #[test]
    fn non_objects_and_bad_lines_are_told_apart() -> TestResult {
        let plan = plan();
        let mut slots = vec![None; plan.len()];
        let mut order = KeyOrder::default();
        for (line, want) in [
            ("[1, 2]", "an array"),
            ("42", "number 42"),
            ("\"s\"", "string \"s\""),
            ("null", "null"),
        ] {
            match parse_row(line.as_bytes(), &plan, &mut slots, &mut order)? {
                Row::Other(cell) => assert_eq!(cell.describe(), want),
                Row::Object => return Err(format!("{line} is not an object").into()),
            }
        }
        for bad in [
            "{\"x\": ",
            "{\"x\": 1} trailing",
            "not json",
            "{\"x\": 1e999}",
        ] {
            let err = parse_row(bad.as_bytes(), &plan, &mut slots, &mut order).err();
            let want = serde_json::from_str::<Value>(bad)
                .err()
                .map(|e| e.to_string());
            assert_eq!(err.map(|e| e.to_string()), want, "{bad}");
        }
        Ok(())
    }

    #[test]
    fn repair_rewrites_only_values_strict_json_refuses() {
        let fixed = |line: &[u8]| repair(line).map(|v| String::from_utf8_lossy(&v).into_owned());
        assert_eq!(
            fixed(br#"{"a": 1, "b": "NaN"}"#),
            None,
            "nothing to rewrite"
        );
        assert_eq!(
            fixed(br#"{"a": NaN, "s": "Infinity, \" NaN", "n": -1.5e3}"#).as_deref(),
            Some(r#"{"a": "\u0000drift-exporter:NaN", "s": "Infinity, \" NaN", "n": -1.5e3}"#)
        );
        assert_eq!(
            fixed(br#"[-Infinity,+Infinity,-1e999]"#).as_deref(),
            Some(
                r#"["\u0000drift-exporter:-inf","\u0000drift-exporter:inf","\u0000drift-exporter:-inf"]"#
            )
        );
        assert_eq!(
            fixed(b"{\"a\": \"\xff\"}").as_deref(),
            Some(r#"{"a": "\u0000drift-exporter:bad-text"}"#)
        );
        // Unterminated strings and stray bytes are left for the parser to refuse.
        assert_eq!(fixed(br#"{"a": "x"#), None);
        assert_eq!(fixed(b"\""), None);
    }
}
