//! The read plan: which columns a reader decodes, in which order, and the
//! [`Kind`] each is normalised to. Built once from the reference profile; every
//! reader, the window and the journal follow it.

use std::collections::HashMap;
use std::fmt;

use arrow::datatypes::DataType;

/// How a column is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Real-valued: quantile bins, PSI, KL, KS, out-of-range share.
    Numeric,
    /// Labels: one bin per reference category, PSI, KL, chi-square, unseen share.
    Categorical,
}

impl Kind {
    /// The kind an Arrow type has by default, or `None` if it is not scored
    /// (timestamps, binary, nested types) unless the config forces it categorical.
    pub fn of_arrow_type(data_type: &DataType) -> Option<Kind> {
        match data_type {
            t if t.is_numeric() => Some(Kind::Numeric),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => {
                Some(Kind::Categorical)
            }
            DataType::Dictionary(_, value) => match value.as_ref() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    Some(Kind::Categorical)
                }
                v if v.is_numeric() => Some(Kind::Numeric),
                _ => None,
            },
            _ => None,
        }
    }

    /// The Arrow type a column of this kind is normalised to (`Float64`, `Utf8`).
    pub fn arrow_type(self) -> DataType {
        match self {
            Kind::Numeric => DataType::Float64,
            Kind::Categorical => DataType::Utf8,
        }
    }

    /// `"numeric"` or `"categorical"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Categorical => "categorical",
        }
    }
}

/// The columns to read, in order, with the kind each is normalised to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnPlan {
    columns: Vec<(String, Kind)>,
    by_name: HashMap<String, usize>,
    booleans: Vec<bool>,
    time: Option<usize>,
}

impl ColumnPlan {
    /// A plan over `(name, kind)` pairs; later duplicates of a name are ignored.
    pub fn new(columns: impl IntoIterator<Item = (String, Kind)>) -> Self {
        let mut plan = ColumnPlan::default();
        for (name, kind) in columns {
            if plan.by_name.contains_key(&name) {
                continue;
            }
            plan.by_name.insert(name.clone(), plan.columns.len());
            plan.columns.push((name, kind));
            plan.booleans.push(false);
        }
        plan
    }

    /// Marks categorical columns whose reference type is boolean: their text values
    /// `True`/`FALSE`/... (as pandas writes CSV) are read as the categories
    /// `true`/`false`, like Arrow booleans and JSON `true`/`false`.
    pub fn with_booleans<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        for name in names {
            if let Some(i) = self.index_of(name) {
                self.booleans[i] = self.columns[i].1 == Kind::Categorical;
            }
        }
        self
    }

    /// Appends the event-time column `name` (`[columns] timestamp`), read as Unix
    /// seconds into a numeric column after the scored ones: an Arrow timestamp or
    /// date, a number of seconds, or RFC 3339 text (see `convert::parse_event_time`). It is
    /// never scored; the window uses it to age rows. A name already planned is
    /// left as it is.
    pub fn with_time_column(mut self, name: &str) -> Self {
        if self.index_of(name).is_none() {
            self.by_name.insert(name.to_string(), self.columns.len());
            self.time = Some(self.columns.len());
            self.columns.push((name.to_string(), Kind::Numeric));
            self.booleans.push(false);
        }
        self
    }

    /// Appends a column that is read but not scored (a label, a latency, an
    /// error flag), normalised to `kind`. A name already planned is left as it is.
    pub fn with_extra_column(mut self, name: &str, kind: Kind) -> Self {
        if self.index_of(name).is_none() {
            self.by_name.insert(name.to_string(), self.columns.len());
            self.columns.push((name.to_string(), kind));
            self.booleans.push(false);
        }
        self
    }

    /// The position of the event-time column, if one is planned.
    pub fn time_column(&self) -> Option<usize> {
        self.time
    }

    /// True when column `i` is the event-time column.
    pub fn is_time(&self, i: usize) -> bool {
        self.time == Some(i)
    }

    /// True when column `i` holds booleans (see [`ColumnPlan::with_booleans`]).
    pub fn is_boolean(&self, i: usize) -> bool {
        self.booleans.get(i).copied().unwrap_or(false)
    }

    /// Number of planned columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True when nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The position of a column by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The name of column `i` (empty if out of range).
    pub fn name(&self, i: usize) -> &str {
        self.columns.get(i).map_or("", |(n, _)| n.as_str())
    }

    /// `(name, kind)` pairs in plan order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Kind)> {
        self.columns.iter().map(|(n, k)| (n.as_str(), *k))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
