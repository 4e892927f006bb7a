//! Running summaries of the window's rows, one per profile column, kept up
//! to date from what entered and left the window, so that an evaluation reads
//! counts instead of re-reading (and re-sorting) every row.
//!
//! Per numeric column: the values' counts per place among the reference's
//! distinct values ([`crate::stats::places`], which gives the exact KS
//! statistic), per PSI bin, outside the reference's range and outside its IQR
//! fences. Per categorical column: counts per profile bin and of unseen values.
//! Per column: rows, missing and rejected values.
//!
//! Two halves, so that the daemon's loop does the least:
//! - on the loop, the window records every row entering or leaving in a
//!   [`TallyLog`]: a copy of each finite value (a category's bin), nothing
//!   more;
//! - off the loop, a [`TallyJob`] applies the log to the [`WindowTally`]
//!   (values sorted first, so that placing them walks memory forwards) and
//!   reads the summaries. When the log has grown past what rebuilding costs
//!   (as many values as the window holds), it stops recording and the job
//!   rebuilds the tally from the live rows instead: an evaluation never costs
//!   more than gathering and sorting the window, and costs what changed when
//!   little did.
//!
//! The summaries are bit-identical to [`crate::sample::samples_from_batches`]
//! over the same rows (a property test pushes, evicts, replans and restores
//! windows and compares them). [`crate::window::Window`] owns the log and
//! lends the tally out; a tally belongs to one profile and one outlier `k`.

use std::sync::{Arc, OnceLock};

use arrow::array::Array;
use rayon::prelude::*;

use crate::data::{Batch, ColumnArray};
use crate::reference::{ProfileDetail, ReferenceProfile};
use crate::sample::{ColumnSample, NumericSummary, SampleValues};
use crate::stats::places::{PlaceCounts, Places};
use crate::stats::wasserstein::ReferenceCdf;
use crate::stats::{bins, outliers};

/// Which rows of a chunk an update covers.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// `len` rows from `start`.
    Range {
        /// First row.
        start: usize,
        /// Rows.
        len: usize,
    },
    /// The rows from `start` whose flag is true (one flag per row).
    Selected {
        /// First row the flags describe.
        start: usize,
        /// True for each row the update covers.
        flags: &'a [bool],
    },
}

impl Rows<'_> {
    fn count(&self) -> usize {
        match self {
            Rows::Range { len, .. } => *len,
            Rows::Selected { flags, .. } => flags.iter().filter(|&&f| f).count(),
        }
    }
}

/// Below this many values a log update runs on one core (rayon's hand-off
/// costs more than it saves).
const PARALLEL_VALUES: usize = 16_384;

/// A category's code in a log: its bin, with this bit set when the
/// reference never had it.
const UNSEEN: u32 = 1 << 31;

/// What entered and left the window since its tally last saw it.
#[derive(Debug, Clone)]
pub struct TallyLog {
    profile: Arc<ReferenceProfile>,
    outlier_k: f64,
    columns: Vec<ColumnLog>,
    /// Values held, both ways, all columns.
    values: usize,
    /// Past this many values the log stops recording (see the module docs).
    limit: usize,
    /// Rows the window holds at most (a new tally's counts are sized by it).
    window_rows: usize,
    /// The tally is to be rebuilt from the live rows.
    rebuild: bool,
    /// Emptied column logs back from a job, whose buffers the next take
    /// reuses (growing fresh ones costs page faults at every evaluation).
    spare: Option<Vec<ColumnLog>>,
    /// The tally keeps the window's numeric values sorted (for the
    /// Wasserstein distance).
    sorted_values: bool,
}

/// One column's changes.
#[derive(Debug, Clone, Default)]
pub(crate) struct ColumnLog {
    rows: i64,
    missing: i64,
    rejected: i64,
    /// Finite values (numeric) or codes (categorical) that entered.
    added: LogValues,
    /// ... and that left.
    removed: LogValues,
}

#[derive(Debug, Clone)]
enum LogValues {
    /// Finite values as their sort keys ([`crate::stats::sort_key`]): the
    /// job sorts them as integers in place.
    Numeric(Vec<u64>),
    Categorical(Vec<u32>),
}

impl Default for LogValues {
    fn default() -> Self {
        LogValues::Numeric(Vec::new())
    }
}

impl LogValues {
    fn empty_for(detail: &ProfileDetail) -> Self {
        match detail {
            ProfileDetail::Numeric(_) => LogValues::Numeric(Vec::new()),
            ProfileDetail::Categorical(_) => LogValues::Categorical(Vec::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            LogValues::Numeric(v) => v.len(),
            LogValues::Categorical(v) => v.len(),
        }
    }
}

impl TallyLog {
    /// A log for `profile`'s columns (fences at `outlier_k` IQRs) of a
    /// window of at most `window_rows` rows; it stops recording past `limit`
    /// values, and starts by asking for a rebuild (the window may hold rows
    /// already).
    pub fn new(
        profile: Arc<ReferenceProfile>,
        outlier_k: f64,
        window_rows: usize,
        limit: usize,
    ) -> Self {
        let columns = Self::empty_columns(&profile);
        TallyLog {
            profile,
            outlier_k,
            columns,
            values: 0,
            limit,
            window_rows,
            rebuild: true,
            spare: None,
            sorted_values: true,
        }
    }

    /// Whether the tally keeps the window's numeric values sorted, for the
    /// Wasserstein distance (on by default; off keeps counts per place instead of
    /// 40 bytes a value).
    pub fn with_sorted_values(mut self, on: bool) -> Self {
        self.sorted_values = on;
        self
    }

    fn empty_columns(profile: &ReferenceProfile) -> Vec<ColumnLog> {
        profile
            .columns
            .iter()
            .map(|c| ColumnLog::empty_for(&c.detail))
            .collect()
    }

    /// The profile the log is for.
    pub fn profile(&self) -> &Arc<ReferenceProfile> {
        &self.profile
    }

    /// The outlier `k` the log is for.
    pub fn outlier_k(&self) -> f64 {
        self.outlier_k
    }

    /// True when the log is for `profile` with fences at `outlier_k`.
    pub fn is_for(&self, profile: &Arc<ReferenceProfile>, outlier_k: f64) -> bool {
        Arc::ptr_eq(&self.profile, profile) && self.outlier_k.to_bits() == outlier_k.to_bits()
    }

    /// Changes the window's size and the number of values past which the
    /// log stops recording.
    pub fn set_limits(&mut self, window_rows: usize, limit: usize) {
        self.window_rows = window_rows;
        self.limit = limit;
        self.check_limit();
    }

    /// Records `rows` of `columns` (laid out like the profile's) entering.
    pub fn add(&mut self, columns: &[Option<ColumnArray>], rows: Rows<'_>) {
        self.record(columns, rows, 1);
    }

    /// Records `rows` of `columns` leaving.
    pub fn remove(&mut self, columns: &[Option<ColumnArray>], rows: Rows<'_>) {
        self.record(columns, rows, -1);
    }

    fn record(&mut self, columns: &[Option<ColumnArray>], rows: Rows<'_>, sign: i64) {
        if self.rebuild {
            return;
        }
        let n = rows.count();
        if n == 0 {
            return;
        }
        let profile = &self.profile;
        let one = |(i, log): (usize, &mut ColumnLog)| {
            let array = columns.get(i).and_then(Option::as_ref);
            log.record(&profile.columns[i].detail, array, rows, n, sign)
        };
        let values: usize = if n * self.columns.len() >= PARALLEL_VALUES && self.columns.len() > 1 {
            self.columns.par_iter_mut().enumerate().map(one).sum()
        } else {
            self.columns.iter_mut().enumerate().map(one).sum()
        };
        self.values += values;
        self.check_limit();
    }

    /// Keeps the emptied logs a job gave back, for their buffers, unless
    /// they hold room for more than a quarter of the values past which the
    /// log stops (at most 2 bytes per value the window holds: buffers that
    /// large are dropped, and grown again when needed).
    pub(crate) fn recycle(&mut self, spare: Vec<ColumnLog>) {
        let fits = spare.len() == self.columns.len()
            && spare
                .iter()
                .zip(&self.columns)
                .all(|(s, c)| s.is_empty_like(c));
        let room: usize = spare.iter().map(ColumnLog::capacity).sum();
        if fits && room <= self.limit / 4 {
            self.spare = Some(spare);
        }
    }

    fn check_limit(&mut self) {
        if self.values > self.limit {
            self.ask_rebuild();
        }
    }

    /// Drops what the log holds and asks for a rebuild.
    fn ask_rebuild(&mut self) {
        self.rebuild = true;
        self.columns = Self::empty_columns(&self.profile);
        self.values = 0;
    }

    /// Takes what the log holds, leaving it empty (with the spare buffers,
    /// if any).
    fn take(&mut self) -> (Vec<ColumnLog>, bool) {
        let empty = match self.spare.take() {
            Some(spare) => spare,
            None => Self::empty_columns(&self.profile),
        };
        let columns = std::mem::replace(&mut self.columns, empty);
        let rebuild = std::mem::replace(&mut self.rebuild, false);
        self.values = 0;
        (columns, rebuild)
    }
}

/// The items whose flag is true.
fn flagged<'a, T: 'a>(
    items: impl Iterator<Item = T> + 'a,
    flags: &'a [bool],
) -> impl Iterator<Item = T> + 'a {
    items.zip(flags).filter(|(_, &f)| f).map(|(item, _)| item)
}

impl ColumnLog {
    /// Values the log's buffers have room for.
    fn capacity(&self) -> usize {
        [&self.added, &self.removed]
            .iter()
            .map(|v| match v {
                LogValues::Numeric(v) => v.capacity(),
                LogValues::Categorical(v) => v.capacity(),
            })
            .sum()
    }

    /// True when this log is empty and holds the same kind of values as
    /// `other`.
    fn is_empty_like(&self, other: &ColumnLog) -> bool {
        let kind = |v: &LogValues| matches!(v, LogValues::Numeric(_));
        (self.rows, self.missing, self.rejected) == (0, 0, 0)
            && self.added.len() + self.removed.len() == 0
            && kind(&self.added) == kind(&other.added)
            && kind(&self.removed) == kind(&other.removed)
    }

    fn empty_for(detail: &ProfileDetail) -> Self {
        ColumnLog {
            added: LogValues::empty_for(detail),
            removed: LogValues::empty_for(detail),
            ..ColumnLog::default()
        }
    }

    /// Records the rows; returns the values held.
    fn record(
        &mut self,
        profile: &ProfileDetail,
        array: Option<&ColumnArray>,
        rows: Rows<'_>,
        n: usize,
        sign: i64,
    ) -> usize {
        self.rows += sign * n as i64;
        let held = if sign > 0 {
            &mut self.added
        } else {
            &mut self.removed
        };
        let before = held.len();
        match (held, array, profile) {
            (LogValues::Numeric(values), Some(ColumnArray::Numeric(a)), _) => {
                values.reserve(n);
                let (mut missing, mut rejected) = (0i64, 0i64);
                let mut each = |value: Option<f64>| match value {
                    None => missing += 1,
                    Some(v) if v.is_finite() => values.push(crate::stats::sort_key(v)),
                    Some(_) => rejected += 1,
                };
                match rows {
                    Rows::Range { start, len } => {
                        let a = a.slice(start, len);
                        if a.null_count() == 0 {
                            a.values().iter().for_each(|&v| each(Some(v)));
                        } else {
                            a.iter().for_each(each);
                        }
                    }
                    Rows::Selected { start, flags } => {
                        flagged(a.slice(start, flags.len()).iter(), flags).for_each(each)
                    }
                }
                self.missing += sign * missing;
                self.rejected += sign * rejected;
                values.len() - before
            }
            (
                LogValues::Categorical(codes),
                Some(ColumnArray::Categorical(a)),
                ProfileDetail::Categorical(p),
            ) => {
                let mut missing = 0i64;
                let each = |value: Option<&str>| {
                    let Some(v) = value else {
                        missing += 1;
                        return;
                    };
                    let (bin, known) = p.lookup(v);
                    // Bins are far fewer than 2^31 (drift.max_categories).
                    codes.push(bin as u32 | if known { 0 } else { UNSEEN });
                };
                match rows {
                    Rows::Range { start, len } => a.slice(start, len).iter().for_each(each),
                    Rows::Selected { start, flags } => {
                        flagged(a.slice(start, flags.len()).iter(), flags).for_each(each)
                    }
                }
                self.missing += sign * missing;
                codes.len() - before
            }
            // Absent, or of the wrong kind: every row is missing.
            _ => {
                self.missing += sign * n as i64;
                0
            }
        }
    }
}

/// Running summaries of every profile column.
#[derive(Debug, Clone)]
pub struct WindowTally {
    profile: Arc<ReferenceProfile>,
    outlier_k: f64,
    /// Rows the window holds at most (sizes the counts per place).
    window_rows: usize,
    columns: Vec<ColumnTally>,
}

#[derive(Debug, Clone)]
struct ColumnTally {
    rows: u64,
    missing: u64,
    rejected: u64,
    detail: TallyDetail,
}

#[derive(Debug, Clone)]
enum TallyDetail {
    Numeric(Box<NumericTally>),
    Categorical { counts: Vec<u64>, unseen: u64 },
}

#[derive(Debug, Clone)]
struct NumericTally {
    places: Places,
    /// The values' counts per place, when `sorted` is not kept (with it, the
    /// places of `located` in order say the same, and the KS statistic and
    /// out-of-range count read them there).
    counts: Option<PlaceCounts>,
    edges: Vec<f64>,
    bins: Vec<u64>,
    fences: Option<(f64, f64)>,
    outside_fences: u64,
    /// The reference's CDF for the Wasserstein distance (the profile's).
    cdf: Arc<ReferenceCdf>,
    /// The window's finite values, ascending (the Wasserstein distance needs
    /// where each lies, not only its place): merged with what enters and
    /// leaves, in one pass.
    sorted: SortedValues,
    /// The buffers the next merge writes into.
    spare: SortedValues,
    /// The entering values' places, as they are placed.
    entering: Vec<u32>,
    /// False when the Wasserstein distance is off: `sorted` stays empty.
    keep_sorted: bool,
    /// The distance for the values held, once asked (reset when they change).
    wasserstein: OnceLock<f64>,
    /// The KS statistic for the values held, once asked (the same).
    ks_statistic: OnceLock<f64>,
}

/// A window's values, ascending, each with its place among the reference's
/// distinct values and the reference CDF's integral up to it
/// ([`ReferenceCdf::wasserstein_placed`]), found when it entered. Three arrays,
/// not one of structs: the KS statistic reads only the places, and a merge
/// copies 20 bytes a value, not 24.
#[derive(Debug, Clone, Default)]
struct SortedValues {
    values: Vec<f64>,
    places: Vec<u32>,
    integrals: Vec<f64>,
}

impl SortedValues {
    fn len(&self) -> usize {
        self.values.len()
    }

    fn clear(&mut self) {
        self.values.clear();
        self.places.clear();
        self.integrals.clear();
    }

    fn reserve(&mut self, n: usize) {
        self.values.reserve(n);
        self.places.reserve(n);
        self.integrals.reserve(n);
    }

    fn push(&mut self, value: f64, place: u32, integral: f64) {
        self.values.push(value);
        self.places.push(place);
        self.integrals.push(integral);
    }

    /// Appends `from`'s values in `range`.
    fn extend_from(&mut self, from: &SortedValues, range: std::ops::Range<usize>) {
        self.values.extend_from_slice(&from.values[range.clone()]);
        self.places.extend_from_slice(&from.places[range.clone()]);
        self.integrals.extend_from_slice(&from.integrals[range]);
    }
}

/// The first index at or after `from` whose value's sort key is at least
/// `event` (`values` ascending), found by galloping forwards from `from`: the
/// next event is usually a few values on, and a binary search over all that
/// remain (a million values: twenty probes, most of them cache misses) cost
/// the merge of a 1%-new million-row window most of its time.
fn first_at_or_above(values: &[f64], from: usize, event: u64) -> usize {
    use crate::stats::sort_key;
    let (mut lo, mut step) = (from, 1usize);
    while lo + step <= values.len() && sort_key(values[lo + step - 1]) < event {
        lo += step;
        step *= 2;
    }
    // Below `event` up to `lo`; at or above it at `lo + step - 1` (or past the end).
    let hi = (lo + step).min(values.len());
    lo + values[lo..hi].partition_point(|&v| sort_key(v) < event)
}

/// `counter + sign * n`, never below zero.
#[inline]
fn shift(counter: &mut u64, n: u64, add: bool) {
    *counter = if add {
        counter.saturating_add(n)
    } else {
        counter.saturating_sub(n)
    };
}

impl NumericTally {
    /// Counts the values in (`add`) or out, `values` sorted, so that placing
    /// them walks the reference's values and the counts forwards. (With a
    /// million distinct reference values those are megabytes: in arrival
    /// order each value missed the cache, measured at about 170 ns a value.)
    fn apply(&mut self, values: &[f64], add: bool) {
        if values.is_empty() {
            return;
        }
        match (&mut self.counts, add) {
            (Some(counts), true) => self.places.place_sorted(values, |place| counts.add(place)),
            (Some(counts), false) => self
                .places
                .place_sorted(values, |place| counts.remove(place)),
            (None, true) => {
                let entering = &mut self.entering;
                entering.clear();
                self.places
                    .place_sorted(values, |place| entering.push(place as u32));
            }
            // What leaves `sorted` is found by value (`settle`).
            (None, false) => {}
        }
        for (bin, n) in self
            .bins
            .iter_mut()
            .zip(bins::bin_counts_sorted(&self.edges, values))
        {
            shift(bin, n, add);
        }
        if let Some((low, high)) = self.fences {
            let below = values.partition_point(|&v| v < low);
            let above = values.len() - values.partition_point(|&v| v <= high);
            shift(&mut self.outside_fences, (below + above) as u64, add);
        }
    }

    /// Brings the sorted values up to date with what entered (`added`, just
    /// [`NumericTally::apply`]'d, so `entering` holds its places) and left
    /// (`removed`, a sub-multiset of the values held and `added`), in one
    /// pass over the values held.
    fn settle(&mut self, added: &[f64], removed: &[f64]) {
        use crate::stats::sort_key;
        if !self.keep_sorted || (added.is_empty() && removed.is_empty()) {
            return;
        }
        self.wasserstein = OnceLock::new();
        self.ks_statistic = OnceLock::new();
        let cdf = &self.cdf;
        let out = &mut self.spare;
        out.clear();
        out.reserve(self.sorted.len() + added.len());
        let held = &self.sorted;
        // The merge of the values held and added, less the ones removed: what
        // enters and leaves is a small share of what is held, so the held
        // values between two of those events are copied as one block (found
        // by a binary search), not compared one by one.
        let (mut i, mut j, mut r) = (0, 0, 0);
        loop {
            let next_added = added.get(j).map(|&a| sort_key(a));
            let next_removed = removed.get(r).map(|&g| sort_key(g));
            let event = match (next_added, next_removed) {
                (Some(a), Some(g)) => a.min(g),
                (Some(a), None) => a,
                (None, Some(g)) => g,
                (None, None) => {
                    out.extend_from(held, i..held.len());
                    break;
                }
            };
            let block = first_at_or_above(&held.values, i, event);
            out.extend_from(held, i..block);
            i = block;
            if next_removed == Some(event) {
                // A value leaves: one held equal to it, else one entering now.
                r += 1;
                if held.values.get(i).is_some_and(|&h| sort_key(h) == event) {
                    i += 1;
                } else if next_added == Some(event) {
                    j += 1;
                } else {
                    debug_assert!(false, "removing a value the window did not hold");
                }
            } else {
                let (v, place) = (added[j], self.entering[j]);
                out.push(v, place, cdf.integral_at(v, place));
                j += 1;
            }
        }
        std::mem::swap(&mut self.sorted, out);
    }

    /// Values held: in `sorted` when it is kept, else counted per place.
    fn values(&self) -> u64 {
        match &self.counts {
            Some(counts) => counts.total(),
            None => self.sorted.len() as u64,
        }
    }

    /// `(place, count)` of the occupied places, ascending, read from the
    /// sorted values' places.
    fn occupied(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        let places = &self.sorted.places;
        let mut i = 0;
        std::iter::from_fn(move || {
            let place = *places.get(i)?;
            let start = i;
            while places.get(i).is_some_and(|&p| p == place) {
                i += 1;
            }
            Some((place as usize, (i - start) as u32))
        })
    }

    /// `scipy.stats.ks_2samp(reference, window).statistic`.
    fn ks_statistic(&self) -> f64 {
        match &self.counts {
            Some(counts) => self.places.ks_statistic(counts),
            None => *self
                .ks_statistic
                .get_or_init(|| self.places.ks_statistic_of(self.occupied(), self.values())),
        }
    }

    /// Values below the reference's minimum or above its maximum.
    fn out_of_range(&self) -> u64 {
        match &self.counts {
            Some(counts) => self.places.out_of_range(counts),
            None => {
                // The first place is below the minimum, the last above the
                // maximum.
                let last = (self.places.len() - 1) as u32;
                let places = &self.sorted.places;
                let below = places.partition_point(|&p| p == 0);
                let above = places.len() - places.partition_point(|&p| p < last);
                (below + above) as u64
            }
        }
    }

    /// The Wasserstein distance of the window's values to the reference.
    fn wasserstein(&self) -> f64 {
        if !self.keep_sorted {
            return f64::NAN;
        }
        *self.wasserstein.get_or_init(|| {
            let sorted = &self.sorted;
            self.cdf
                .wasserstein_placed(&sorted.values, |i| (sorted.places[i], sorted.integrals[i]))
        })
    }
}

impl ColumnTally {
    /// Applies a column's log: what entered, then what left (a value may
    /// leave in the same log it entered in). Gives the log back emptied, its
    /// buffers kept.
    fn apply(&mut self, log: ColumnLog) -> ColumnLog {
        let signed = |counter: &mut u64, delta: i64| {
            *counter = counter.saturating_add_signed(delta);
        };
        signed(&mut self.rows, log.rows);
        signed(&mut self.missing, log.missing);
        signed(&mut self.rejected, log.rejected);
        let mut emptied = [log.added, log.removed];
        if let (TallyDetail::Numeric(t), [LogValues::Numeric(added), LogValues::Numeric(removed)]) =
            (&mut self.detail, &mut emptied)
        {
            let added_values = crate::stats::sorted_from_keys(std::mem::take(added));
            let removed_values = crate::stats::sorted_from_keys(std::mem::take(removed));
            t.apply(&added_values, true);
            t.apply(&removed_values, false);
            t.settle(&added_values, &removed_values);
            *added = crate::stats::emptied_keys(added_values);
            *removed = crate::stats::emptied_keys(removed_values);
        }
        if let TallyDetail::Categorical { counts, unseen } = &mut self.detail {
            for (values, add) in emptied.iter_mut().zip([true, false]) {
                // A log is made for the tally's profile: kinds always match.
                if let LogValues::Categorical(codes) = values {
                    for &code in codes.iter() {
                        if let Some(c) = counts.get_mut((code & !UNSEEN) as usize) {
                            shift(c, 1, add);
                        }
                        if code & UNSEEN != 0 {
                            shift(unseen, 1, add);
                        }
                    }
                    codes.clear();
                }
            }
        }
        let [added, removed] = emptied;
        ColumnLog {
            added,
            removed,
            ..ColumnLog::default()
        }
    }

    fn reset(&mut self) {
        self.rows = 0;
        self.missing = 0;
        self.rejected = 0;
        match &mut self.detail {
            TallyDetail::Numeric(t) => {
                if let Some(counts) = &mut t.counts {
                    counts.clear();
                }
                t.wasserstein = OnceLock::new();
                t.ks_statistic = OnceLock::new();
                t.bins.iter_mut().for_each(|b| *b = 0);
                t.outside_fences = 0;
                t.sorted.clear();
            }
            TallyDetail::Categorical { counts, unseen } => {
                counts.iter_mut().for_each(|c| *c = 0);
                *unseen = 0;
            }
        }
    }
}

impl WindowTally {
    /// An empty tally for `profile`'s columns, with Tukey fences at
    /// `outlier_k` IQRs (`drift.outlier_iqr_k`), for a window of at most
    /// `window_rows` rows (numeric counts are sparse when that is far fewer
    /// than the places).
    pub fn new(profile: Arc<ReferenceProfile>, outlier_k: f64, window_rows: usize) -> Self {
        let columns = profile
            .columns
            .par_iter()
            .map(|column| {
                let detail = match &column.detail {
                    ProfileDetail::Numeric(p) => TallyDetail::Numeric(Box::new(NumericTally {
                        places: Places::new(&p.sorted),
                        counts: None,
                        edges: p.edges.clone(),
                        bins: vec![0; p.edges.len() + 1],
                        fences: outliers::iqr_fences(&p.sorted, outlier_k),
                        outside_fences: 0,
                        cdf: p.cdf().clone(),
                        sorted: SortedValues::default(),
                        spare: SortedValues::default(),
                        entering: Vec::new(),
                        keep_sorted: true,
                        wasserstein: OnceLock::new(),
                        ks_statistic: OnceLock::new(),
                    })),
                    ProfileDetail::Categorical(p) => TallyDetail::Categorical {
                        counts: vec![0; p.labels.len()],
                        unseen: 0,
                    },
                };
                ColumnTally {
                    rows: 0,
                    missing: 0,
                    rejected: 0,
                    detail,
                }
            })
            .collect();
        WindowTally {
            profile,
            outlier_k,
            window_rows,
            columns,
        }
    }

    /// Keeps (or not) the window's numeric values sorted for the Wasserstein
    /// distance; set before any value is counted.
    pub fn with_sorted_values(mut self, on: bool) -> Self {
        let window_rows = self.window_rows;
        for column in &mut self.columns {
            if let TallyDetail::Numeric(t) = &mut column.detail {
                t.keep_sorted = on;
                // Without the sorted values, counts per place keep the KS
                // statistic and the out-of-range count.
                t.counts = (!on).then(|| PlaceCounts::for_values(t.places.len(), window_rows));
            }
        }
        self
    }

    /// True when this tally summarises for `profile` with fences at `k`.
    pub fn is_for(&self, profile: &Arc<ReferenceProfile>, outlier_k: f64) -> bool {
        Arc::ptr_eq(&self.profile, profile) && self.outlier_k.to_bits() == outlier_k.to_bits()
    }

    /// Applies the logs; gives them back emptied.
    fn apply(&mut self, logs: Vec<ColumnLog>) -> Vec<ColumnLog> {
        self.columns
            .par_iter_mut()
            .zip(logs)
            .map(|(tally, log)| tally.apply(log))
            .collect()
    }

    /// The summaries an evaluation scores, as
    /// [`crate::sample::samples_from_batches`] would give over the same rows
    /// (numeric columns as [`SampleValues::Summary`]). Costs the occupied
    /// places of each numeric column; columns share the cores.
    pub fn samples(&self) -> Vec<ColumnSample> {
        self.columns
            .par_iter()
            .map(|tally| {
                let values = match &tally.detail {
                    TallyDetail::Numeric(t) => SampleValues::Summary(NumericSummary {
                        values: t.values(),
                        bin_counts: t.bins.clone(),
                        ks_statistic: t.ks_statistic(),
                        out_of_range: (!t.places.is_empty()).then(|| t.out_of_range()),
                        outside_fences: t.fences.map(|_| t.outside_fences),
                        wasserstein: t.wasserstein(),
                    }),
                    TallyDetail::Categorical { counts, unseen } => SampleValues::Categorical {
                        counts: counts.clone(),
                        unseen: *unseen,
                    },
                };
                ColumnSample {
                    rows: tally.rows,
                    missing: tally.missing,
                    rejected: tally.rejected,
                    values,
                }
            })
            .collect()
    }
}

/// A tally lent out of the window with what it has not seen: brought up to
/// date and read with [`TallyJob::run`], anywhere (the daemon: off its loop),
/// then handed back with [`crate::window::Window::return_tally`].
#[derive(Debug)]
pub struct TallyJob {
    /// The tally, or none yet (made by the job).
    tally: Option<WindowTally>,
    profile: Arc<ReferenceProfile>,
    outlier_k: f64,
    window_rows: usize,
    sorted_values: bool,
    logs: Vec<ColumnLog>,
    /// The live rows, when the tally is to be rebuilt from them.
    rebuild_from: Option<Vec<Batch>>,
    loan: u64,
}

/// A tally back from its job.
#[derive(Debug)]
pub struct LentTally {
    /// The tally, up to date as of the loan.
    pub tally: WindowTally,
    /// Which loan it was.
    pub loan: u64,
    /// The job's logs, emptied, for the window's log to reuse.
    pub(crate) spare: Option<Vec<ColumnLog>>,
}

impl TallyJob {
    /// Takes what `log` holds and the tally (if any) for a job; `parts` are
    /// the live rows (used if the tally must be rebuilt).
    pub(crate) fn new(
        log: &mut TallyLog,
        tally: Option<WindowTally>,
        parts: impl FnOnce() -> Vec<Batch>,
        loan: u64,
    ) -> Self {
        let (logs, rebuild) = log.take();
        let rebuild = rebuild || tally.is_none();
        TallyJob {
            tally,
            profile: log.profile.clone(),
            outlier_k: log.outlier_k,
            window_rows: log.window_rows,
            sorted_values: log.sorted_values,
            logs,
            rebuild_from: rebuild.then(parts),
            loan,
        }
    }

    /// Brings the tally up to date and reads its summaries.
    pub fn run(self) -> (LentTally, Vec<ColumnSample>) {
        let TallyJob {
            tally,
            profile,
            outlier_k,
            window_rows,
            sorted_values,
            logs,
            rebuild_from,
            loan,
        } = self;
        let mut tally = tally.unwrap_or_else(|| {
            WindowTally::new(profile.clone(), outlier_k, window_rows)
                .with_sorted_values(sorted_values)
        });
        let spare = match rebuild_from {
            Some(parts) => {
                // Column by column: only the columns being rebuilt hold a copy
                // of their values at a time, not the whole window.
                tally
                    .columns
                    .par_iter_mut()
                    .zip(profile.columns.par_iter())
                    .enumerate()
                    .for_each(|(i, (column, reference))| {
                        column.reset();
                        let mut log = ColumnLog::empty_for(&reference.detail);
                        for part in &parts {
                            let array = part.columns.get(i).and_then(Option::as_ref);
                            let rows = Rows::Range {
                                start: 0,
                                len: part.rows,
                            };
                            log.record(&reference.detail, array, rows, part.rows, 1);
                        }
                        column.apply(log);
                    });
                None
            }
            None => Some(tally.apply(logs)),
        };
        let samples = tally.samples();
        (LentTally { tally, loan, spare }, samples)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use arrow::array::{Float64Array, StringArray};
    use proptest::prelude::*;

    use super::*;
    use crate::config::ProfileSettings;
    use crate::data::{Batch, ColumnPlan, Kind, Rejects};
    use crate::reference::{DriftType, ResolvedColumn};
    use crate::sample::samples_from_batches;
    use crate::window::Window;

    proptest! {
        /// The gallop finds what a binary search over the rest finds.
        #[test]
        fn gallop_equals_a_binary_search(
            mut values in prop::collection::vec(-50i32..50, 0..300),
            from_share in 0.0f64..=1.0,
            event in -60i32..60,
        ) {
            values.sort_unstable();
            let values: Vec<f64> = values.into_iter().map(f64::from).collect();
            let from = ((values.len() as f64) * from_share) as usize;
            let key = crate::stats::sort_key(f64::from(event));
            let want = from + values[from..]
                .partition_point(|&v| crate::stats::sort_key(v) < key);
            prop_assert_eq!(first_at_or_above(&values, from, key), want);
        }
    }

    const K: f64 = 1.5;

    fn plan(timed: bool) -> Arc<ColumnPlan> {
        let plan = ColumnPlan::new([
            ("x".to_string(), Kind::Numeric),
            ("c".to_string(), Kind::Categorical),
        ]);
        Arc::new(if timed {
            plan.with_time_column("ts")
        } else {
            plan
        })
    }

    /// One row: x (None: null), c (None: null), event time.
    type Row = (Option<f64>, Option<u8>, Option<f64>);

    fn batch(rows: &[Row], x_absent: bool, timed: bool) -> Batch {
        let x: Float64Array = rows.iter().map(|r| r.0).collect();
        let c: StringArray = rows.iter().map(|r| r.1.map(|c| format!("c{c}"))).collect();
        let mut columns = vec![
            (!x_absent).then_some(ColumnArray::Numeric(x)),
            Some(ColumnArray::Categorical(c)),
        ];
        if timed {
            let ts: Float64Array = rows.iter().map(|r| r.2).collect();
            columns.push(Some(ColumnArray::Numeric(ts)));
        }
        Batch {
            rows: rows.len(),
            columns,
            rejects: Rejects::default(),
        }
    }

    fn profile(x: &[f64], c: &[u8], settings: &ProfileSettings) -> Arc<ReferenceProfile> {
        let rows: Vec<Row> = (0..x.len().max(c.len()))
            .map(|i| (x.get(i).copied(), c.get(i).copied(), None))
            .collect();
        let resolved =
            [("x", Kind::Numeric), ("c", Kind::Categorical)].map(|(name, kind)| ResolvedColumn {
                name: name.to_string(),
                kind,
                drift_type: DriftType::Data,
                boolean: false,
            });
        Arc::new(ReferenceProfile::from_batches(
            Path::new("reference.parquet"),
            String::new(),
            &resolved,
            (*plan(false)).clone(),
            &[batch(&rows, false, false)],
            settings,
        ))
    }

    /// The samples gathered and sorted from the window's rows, numeric ones as
    /// summaries: what the tally must equal.
    fn recomputed(window: &Window, profile: &ReferenceProfile) -> Vec<ColumnSample> {
        let parts: Vec<Batch> = window.parts().map(|(_, b)| b).collect();
        let (mut samples, _) = samples_from_batches(profile, &parts);
        for (sample, column) in samples.iter_mut().zip(&profile.columns) {
            if let (SampleValues::Numeric(sorted), ProfileDetail::Numeric(p)) =
                (&sample.values, &column.detail)
            {
                sample.values =
                    SampleValues::Summary(NumericSummary::of_sorted_by(p, sorted, K, false));
            }
        }
        samples
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Rows arriving `seconds` after the last op.
        Push {
            rows: Vec<Row>,
            x_absent: bool,
            seconds: u64,
        },
        /// The clock moving `seconds` on.
        Expire {
            seconds: u64,
        },
        Limit {
            size: usize,
        },
        Replan,
        Restore,
        /// Lend the tally out (as the daemon does when an evaluation starts).
        Lend,
        /// Run the lent job and hand the tally back.
        Finish,
    }

    fn x_value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            4 => (-4i32..5).prop_map(|v| Some(f64::from(v))),
            4 => (-6.0f64..6.0).prop_map(Some),
            1 => Just(Some(-0.0)),
            1 => Just(None),
            1 => Just(Some(f64::NAN)),
            1 => Just(Some(f64::INFINITY)),
            1 => prop::num::f64::NORMAL.prop_map(Some),
        ]
    }

    fn row() -> impl Strategy<Value = Row> {
        (
            x_value(),
            prop::option::weighted(0.9, 0u8..7),
            prop::option::weighted(0.8, 1_000.0f64..1_200.0),
        )
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (prop::collection::vec(row(), 0..40), prop::bool::weighted(0.1), 0u64..30)
                .prop_map(|(rows, x_absent, seconds)| Op::Push { rows, x_absent, seconds }),
            2 => (0u64..90).prop_map(|seconds| Op::Expire { seconds }),
            1 => (1usize..80).prop_map(|size| Op::Limit { size }),
            1 => Just(Op::Replan),
            1 => Just(Op::Restore),
            2 => Just(Op::Lend),
            2 => Just(Op::Finish),
        ]
    }

    fn reference() -> impl Strategy<Value = (Vec<f64>, Vec<u8>)> {
        (
            prop::collection::vec(
                prop_oneof![
                    (-4i32..5).prop_map(f64::from),
                    -6.0f64..6.0,
                    Just(0.0),
                    Just(-0.0),
                ],
                0..240,
            ),
            prop::collection::vec(0u8..5, 0..60),
        )
    }

    #[test]
    fn a_log_reuses_its_buffers_up_to_a_quarter_of_its_limit() {
        let p = profile(&[1.0, 2.0, 3.0], &[1, 2], &ProfileSettings::default());
        let rows: Vec<Row> = (0..100).map(|i| (Some(i as f64), Some(1), None)).collect();
        let b = batch(&rows, false, false);
        let all = Rows::Range { start: 0, len: 100 };
        for (limit, kept) in [(10_000, true), (400, false)] {
            let mut log = TallyLog::new(p.clone(), K, 100, limit);
            log.take(); // the first take asks for a rebuild; from here it records
            log.add(&b.columns, all);
            let (logs, rebuild) = log.take();
            assert!(!rebuild);
            let emptied: Vec<ColumnLog> = logs
                .into_iter()
                .map(|mut l| {
                    if let LogValues::Numeric(v) = &mut l.added {
                        v.clear();
                    }
                    if let LogValues::Categorical(v) = &mut l.added {
                        v.clear();
                    }
                    ColumnLog { rows: 0, ..l }
                })
                .collect();
            let room: usize = emptied.iter().map(ColumnLog::capacity).sum();
            assert!(room >= 200, "room for the 200 values logged");
            log.recycle(emptied);
            assert_eq!(log.spare.is_some(), kept, "limit {limit}, room {room}");
            // The next take hands out the spare buffers when kept.
            log.take();
            let reused: usize = log.columns.iter().map(ColumnLog::capacity).sum();
            assert_eq!(reused >= 200, kept);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// After any sequence of pushes, evictions (by size, arrival age and
        /// event time), limit changes, replans and restores, the tally gives
        /// exactly the samples a full recompute gives.
        #[test]
        fn tally_equals_a_full_recompute(
            (x, c) in reference(),
            ops in prop::collection::vec(op(), 1..25),
            timed in any::<bool>(),
            initial_size in 1usize..80,
            uniform in any::<bool>(),
            sorted in any::<bool>(),
        ) {
            let mut settings = ProfileSettings::default();
            if uniform {
                settings.binning = crate::config::Binning::Uniform;
            }
            let profile = profile(&x, &c, &settings);
            let plan = plan(timed);
            // Without the sorted values there is no Wasserstein distance.
            let expect = |window: &Window| {
                let mut samples = recomputed(window, &profile);
                if !sorted {
                    for sample in &mut samples {
                        if let SampleValues::Summary(s) = &mut sample.values {
                            s.wasserstein = f64::NAN;
                        }
                    }
                }
                samples
            };
            // The clock only moves forward (ops carry how far), as the
            // daemon's does.
            let mut clock = UNIX_EPOCH + Duration::from_secs(1_100);
            let duration = Some(Duration::from_secs(60));
            // Small windows against large references keep sparse counts.
            let mut size = initial_size;
            let mut window = Window::new(size, duration, plan.clone());
            window.track_with(profile.clone(), K, sorted);
            // A lent tally's job, and the samples it must give.
            let mut lent: Option<(TallyJob, Vec<ColumnSample>)> = None;
            for op in ops {
                match op {
                    Op::Push { rows, x_absent, seconds } => {
                        clock += Duration::from_secs(seconds);
                        window.push(&batch(&rows, x_absent, timed), &plan, clock);
                    }
                    Op::Expire { seconds } => {
                        clock += Duration::from_secs(seconds);
                        window.evict_expired(clock);
                    }
                    Op::Limit { size: s } => {
                        size = s;
                        window.set_limits(size, duration);
                    }
                    Op::Replan => {
                        window.replan(plan.clone());
                        prop_assert!(!window.is_tallied());
                        window.track_with(profile.clone(), K, sorted);
                    }
                    Op::Restore => {
                        // A restart: a tally lent out is gone with the process.
                        lent = None;
                        let mut back = Window::new(size, duration, plan.clone());
                        back.track_with(profile.clone(), K, sorted);
                        // What the store saves with the rows.
                        if let Some(newest) = window.newest_event_time() {
                            back.restore_newest_event_time(newest);
                        }
                        let parts: Vec<(SystemTime, Batch)> = window.parts().collect();
                        for (arrived, part) in &parts {
                            back.push(part, &plan, *arrived);
                        }
                        prop_assert_eq!(back.rows(), window.rows());
                        window = back;
                    }
                    Op::Lend => {
                        if lent.is_none() {
                            let expected = expect(&window);
                            let job = window.lend_tally(&profile, K);
                            prop_assert!(job.is_some());
                            lent = job.map(|job| (job, expected));
                        }
                    }
                    Op::Finish => {
                        if let Some((job, expected)) = lent.take() {
                            let (tally, samples) = job.run();
                            prop_assert_eq!(samples, expected, "as of the loan");
                            window.return_tally(tally);
                        }
                    }
                }
                if lent.is_none() {
                    let expected = expect(&window);
                    prop_assert_eq!(window.samples(&profile, K), expected);
                }
            }
        }
    }

    /// With the Wasserstein distance off (`drift.wasserstein = false`) the
    /// tally keeps no sorted values and gives no distance; every other count
    /// is the full recompute's. On, the distance is the recompute's.
    #[test]
    fn sorted_values_are_kept_only_for_the_wasserstein_distance() {
        let settings = ProfileSettings::default();
        let p = profile(&[1.0, 2.0, 3.0, 5.0], &[0, 1], &settings);
        let rows: Vec<Row> = [0.5, 2.0, 4.0, 2.5]
            .iter()
            .map(|&x| (Some(x), Some(1), None))
            .collect();
        for sorted in [true, false] {
            let mut window = Window::new(3, None, plan(false));
            window.track_with(p.clone(), K, sorted);
            let now = std::time::SystemTime::now();
            window.push(&batch(&rows, false, false), &plan(false), now);
            let samples = window.samples(&p, K);
            let expected = recomputed(&window, &p);
            match (&samples[0].values, &expected[0].values) {
                (SampleValues::Summary(got), SampleValues::Summary(want)) => {
                    assert_eq!(got.wasserstein.is_nan(), !sorted);
                    if sorted {
                        assert_eq!(got, want);
                    } else {
                        let want = NumericSummary {
                            wasserstein: f64::NAN,
                            ..want.clone()
                        };
                        assert_eq!(got, &want);
                    }
                }
                other => panic!("numeric summaries expected, got {other:?}"),
            }
            assert_eq!(samples[1], expected[1]);
        }
    }

    #[test]
    fn a_tally_is_for_one_profile_and_one_k() {
        let settings = ProfileSettings::default();
        let p = profile(&[1.0, 2.0], &[0], &settings);
        let tally = WindowTally::new(p.clone(), K, 10);
        assert!(tally.is_for(&p, K));
        assert!(!tally.is_for(&p, 3.0));
        assert!(!tally.is_for(&profile(&[1.0, 2.0], &[0], &settings), K));
    }
}
