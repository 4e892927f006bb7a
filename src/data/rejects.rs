//! Rejections: why a row, or a value on it, was not used ([`RejectReason`]),
//! counted per batch in [`Rejects`] with the first few messages, which name the
//! row and the field. Readers flag rows with [`RowFlags`] and fold them in once.

/// How many row errors a [`Rejects`] keeps verbatim (the rest are only counted).
pub const MAX_ERROR_MESSAGES: usize = 10;

/// Why a row (or a value on it) was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The row could not be parsed at all (malformed JSON line, wrong CSV field count).
    Parse,
    /// A value of the wrong type for its column (text in a numeric column, an object...).
    Type,
    /// NaN or +-Inf in a numeric column.
    NonFinite,
    /// Text that is not valid UTF-8.
    Encoding,
}

impl RejectReason {
    /// All reasons, in a fixed order.
    pub const ALL: [RejectReason; 4] = [
        RejectReason::Parse,
        RejectReason::Type,
        RejectReason::NonFinite,
        RejectReason::Encoding,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Parse => "parse",
            RejectReason::Type => "type",
            RejectReason::NonFinite => "non_finite",
            RejectReason::Encoding => "encoding",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Rejections of one batch: rows per reason, and the first few messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rejects {
    /// Rows dropped whole because they could not be parsed.
    pub dropped_rows: u64,
    /// Rows per reason (a row with two bad values of one reason counts once).
    pub rows_by_reason: [u64; 4],
    /// Rows kept with at least one rejected value (their other values are used).
    pub partial_rows: u64,
    /// The first [`MAX_ERROR_MESSAGES`] messages, each naming the row and field.
    pub errors: Vec<String>,
}

impl Rejects {
    /// Rows counted for `reason`.
    pub fn rows(&self, reason: RejectReason) -> u64 {
        self.rows_by_reason[reason as usize]
    }

    /// Rows with any rejection: dropped whole, or kept with a rejected value.
    pub fn total_rows(&self) -> u64 {
        self.dropped_rows + self.partial_rows
    }

    /// Adds another batch's rejections.
    pub fn merge(&mut self, other: &Rejects) {
        self.dropped_rows += other.dropped_rows;
        self.partial_rows += other.partial_rows;
        for (a, b) in self.rows_by_reason.iter_mut().zip(other.rows_by_reason) {
            *a += b;
        }
        for e in &other.errors {
            if self.errors.len() >= MAX_ERROR_MESSAGES {
                break;
            }
            self.errors.push(e.clone());
        }
    }

    pub(crate) fn message(&mut self, message: impl FnOnce() -> String) {
        if self.errors.len() < MAX_ERROR_MESSAGES {
            self.errors.push(message());
        }
    }

    /// Counts a row dropped whole.
    pub(crate) fn drop_row(&mut self, message: impl FnOnce() -> String) {
        self.dropped_rows += 1;
        self.rows_by_reason[RejectReason::Parse as usize] += 1;
        self.message(message);
    }
}

/// Per-row reason flags, folded into [`Rejects`] when a batch is finished.
#[derive(Debug, Default)]
pub(crate) struct RowFlags {
    flags: Vec<u8>,
}

impl RowFlags {
    pub(crate) fn new(rows: usize) -> Self {
        RowFlags {
            flags: vec![0; rows],
        }
    }

    pub(crate) fn push_row(&mut self) {
        self.flags.push(0);
    }

    pub(crate) fn flag(&mut self, row: usize, reason: RejectReason) {
        if let Some(f) = self.flags.get_mut(row) {
            *f |= reason.bit();
        }
    }

    /// Whether any row is flagged.
    pub(crate) fn any(&self) -> bool {
        self.flags.iter().any(|&f| f != 0)
    }

    /// Adds these rows' flags into `into` (the same rows, of a wider span).
    pub(crate) fn or_into(&self, into: &mut [u8]) {
        for (a, &b) in into.iter_mut().zip(&self.flags) {
            *a |= b;
        }
    }

    /// Adds the flags of `other` (flags of the same rows) into these.
    pub(crate) fn or_from(&mut self, other: &[u8]) {
        for (a, &b) in self.flags.iter_mut().zip(other) {
            *a |= b;
        }
    }

    pub(crate) fn fold_into(&self, rejects: &mut Rejects) {
        for &f in &self.flags {
            if f == 0 {
                continue;
            }
            rejects.partial_rows += 1;
            for reason in RejectReason::ALL {
                if f & reason.bit() != 0 {
                    rejects.rows_by_reason[reason as usize] += 1;
                }
            }
        }
    }
}
