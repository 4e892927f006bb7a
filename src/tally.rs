//! Running summaries of the window's rows, one per profile column, updated as
//! rows enter and leave so that an evaluation reads counts instead of
//! re-reading (and re-sorting) every row.
//!
//! Per numeric column: the values' counts per place among the reference's
//! distinct values ([`crate::stats::places`], which gives the exact KS
//! statistic), per PSI bin, outside the reference's range and outside its IQR
//! fences. Per categorical column: counts per profile bin and of unseen values.
//! Per column: rows, missing and rejected values. Each is O(1) per value (a
//! place lookup is one interpolation-index probe and a short search), and
//! [`WindowTally::samples`] costs the occupied places, not the rows.
//!
//! The result is bit-identical to [`crate::sample::samples_from_batches`]
//! over the same rows (a property test pushes, evicts, replans and restores
//! windows and compares them). [`crate::window::Window`] owns a tally and
//! keeps it in step; a tally belongs to one profile and one outlier `k`, and
//! is rebuilt when either changes.

use std::sync::Arc;

use arrow::array::Array;
use rayon::prelude::*;

use crate::data::ColumnArray;
use crate::reference::{ProfileDetail, ReferenceProfile};
use crate::sample::{ColumnSample, NumericSummary, SampleValues};
use crate::stats::places::{PlaceCounts, Places};
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

/// Rows entering (+1) or leaving (-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    Add,
    Remove,
}

/// Running summaries of every profile column.
#[derive(Debug, Clone)]
pub struct WindowTally {
    profile: Arc<ReferenceProfile>,
    outlier_k: f64,
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
    counts: PlaceCounts,
    edges: Vec<f64>,
    bins: Vec<u64>,
    fences: Option<(f64, f64)>,
    outside_fences: u64,
}

impl NumericTally {
    #[inline]
    fn update(&mut self, v: f64, sign: Sign) {
        let place = self.places.place(v);
        let bin = bins::bin_index(&self.edges, v);
        let outside = self.fences.is_some_and(|(low, high)| v < low || v > high);
        match sign {
            Sign::Add => {
                self.counts.add(place);
                self.bins[bin] += 1;
                self.outside_fences += u64::from(outside);
            }
            Sign::Remove => {
                self.counts.remove(place);
                self.bins[bin] = self.bins[bin].saturating_sub(1);
                self.outside_fences = self.outside_fences.saturating_sub(u64::from(outside));
            }
        }
    }
}

/// Below this many values an update runs on one core (rayon's hand-off
/// costs more than it saves).
const PARALLEL_VALUES: usize = 16_384;

impl WindowTally {
    /// An empty tally for `profile`'s columns, with Tukey fences at
    /// `outlier_k` IQRs (`drift.outlier_iqr_k`).
    pub fn new(profile: Arc<ReferenceProfile>, outlier_k: f64) -> Self {
        let columns = profile
            .columns
            .par_iter()
            .map(|column| {
                let detail = match &column.detail {
                    ProfileDetail::Numeric(p) => {
                        let places = Places::new(&p.sorted);
                        let counts = PlaceCounts::new(places.len());
                        TallyDetail::Numeric(Box::new(NumericTally {
                            places,
                            counts,
                            edges: p.edges.clone(),
                            bins: vec![0; p.edges.len() + 1],
                            fences: outliers::iqr_fences(&p.sorted, outlier_k),
                            outside_fences: 0,
                        }))
                    }
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
            columns,
        }
    }

    /// True when this tally summarises for `profile` with fences at `k`.
    pub fn is_for(&self, profile: &Arc<ReferenceProfile>, outlier_k: f64) -> bool {
        Arc::ptr_eq(&self.profile, profile) && self.outlier_k.to_bits() == outlier_k.to_bits()
    }

    /// Counts `rows` of `columns` (laid out like the profile's columns) in.
    pub fn add(&mut self, columns: &[Option<ColumnArray>], rows: Rows<'_>) {
        self.update(columns, rows, Sign::Add);
    }

    /// Counts `rows` of `columns` out (rows that were added).
    pub fn remove(&mut self, columns: &[Option<ColumnArray>], rows: Rows<'_>) {
        self.update(columns, rows, Sign::Remove);
    }

    fn update(&mut self, columns: &[Option<ColumnArray>], rows: Rows<'_>, sign: Sign) {
        let n = rows.count();
        if n == 0 {
            return;
        }
        let profile = &self.profile;
        let one = |(i, tally): (usize, &mut ColumnTally)| {
            let array = columns.get(i).and_then(Option::as_ref);
            tally.update(&profile.columns[i].detail, array, rows, n, sign);
        };
        if n * self.columns.len() >= PARALLEL_VALUES && self.columns.len() > 1 {
            self.columns.par_iter_mut().enumerate().for_each(one);
        } else {
            self.columns.iter_mut().enumerate().for_each(one);
        }
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
                        values: t.counts.total(),
                        bin_counts: t.bins.clone(),
                        ks_statistic: t.places.ks_statistic(&t.counts),
                        out_of_range: (!t.places.is_empty())
                            .then(|| t.places.out_of_range(&t.counts)),
                        outside_fences: t.fences.map(|_| t.outside_fences),
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

/// Adds or subtracts `n` to a counter.
#[inline]
fn bump(counter: &mut u64, n: u64, sign: Sign) {
    match sign {
        Sign::Add => *counter += n,
        Sign::Remove => *counter = counter.saturating_sub(n),
    }
}

impl ColumnTally {
    fn update(
        &mut self,
        profile: &ProfileDetail,
        array: Option<&ColumnArray>,
        rows: Rows<'_>,
        n: usize,
        sign: Sign,
    ) {
        bump(&mut self.rows, n as u64, sign);
        match (&mut self.detail, array, profile) {
            (TallyDetail::Numeric(t), Some(ColumnArray::Numeric(a)), _) => {
                let (mut missing, mut rejected) = (0u64, 0u64);
                let mut each = |value: Option<f64>| match value {
                    None => missing += 1,
                    Some(v) if v.is_finite() => t.update(v, sign),
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
                        let a = a.slice(start, flags.len());
                        a.iter()
                            .zip(flags)
                            .filter(|(_, &f)| f)
                            .for_each(|(v, _)| each(v));
                    }
                }
                bump(&mut self.missing, missing, sign);
                bump(&mut self.rejected, rejected, sign);
            }
            (
                TallyDetail::Categorical { counts, unseen },
                Some(ColumnArray::Categorical(a)),
                ProfileDetail::Categorical(p),
            ) => {
                let mut missing = 0u64;
                let mut each = |value: Option<&str>| {
                    let Some(v) = value else {
                        missing += 1;
                        return;
                    };
                    let (bin, known) = p.lookup(v);
                    bump(&mut counts[bin], 1, sign);
                    if !known {
                        bump(unseen, 1, sign);
                    }
                };
                match rows {
                    Rows::Range { start, len } => a.slice(start, len).iter().for_each(each),
                    Rows::Selected { start, flags } => a
                        .slice(start, flags.len())
                        .iter()
                        .zip(flags)
                        .filter(|(_, &f)| f)
                        .for_each(|(v, _)| each(v)),
                }
                bump(&mut self.missing, missing, sign);
            }
            // Absent, or of the wrong kind: every row is missing.
            _ => bump(&mut self.missing, n as u64, sign),
        }
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
                sample.values = SampleValues::Summary(NumericSummary::of_sorted(p, sorted, K));
            }
        }
        samples
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push {
            rows: Vec<Row>,
            x_absent: bool,
            seconds: u64,
        },
        Expire {
            seconds: u64,
        },
        Limit {
            size: usize,
        },
        Replan,
        Restore,
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
            6 => (prop::collection::vec(row(), 0..40), prop::bool::weighted(0.1), 0u64..200)
                .prop_map(|(rows, x_absent, seconds)| Op::Push { rows, x_absent, seconds }),
            2 => (0u64..300).prop_map(|seconds| Op::Expire { seconds }),
            1 => (1usize..80).prop_map(|size| Op::Limit { size }),
            1 => Just(Op::Replan),
            1 => Just(Op::Restore),
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
                0..120,
            ),
            prop::collection::vec(0u8..5, 0..60),
        )
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
            uniform in any::<bool>(),
        ) {
            let mut settings = ProfileSettings::default();
            if uniform {
                settings.binning = crate::config::Binning::Uniform;
            }
            let profile = profile(&x, &c, &settings);
            let plan = plan(timed);
            let t0 = UNIX_EPOCH + Duration::from_secs(1_100);
            let at = |s: u64| t0 + Duration::from_secs(s);
            let duration = Some(Duration::from_secs(60));
            let mut size = 50;
            let mut window = Window::new(size, duration, plan.clone());
            window.track(WindowTally::new(profile.clone(), K));
            for op in ops {
                match op {
                    Op::Push { rows, x_absent, seconds } => {
                        window.push(&batch(&rows, x_absent, timed), &plan, at(seconds));
                    }
                    Op::Expire { seconds } => {
                        window.evict_expired(at(seconds));
                    }
                    Op::Limit { size: s } => {
                        size = s;
                        window.set_limits(size, duration);
                    }
                    Op::Replan => {
                        window.replan(plan.clone());
                        prop_assert!(window.tally().is_none());
                        window.track(WindowTally::new(profile.clone(), K));
                    }
                    Op::Restore => {
                        let mut back = Window::new(size, duration, plan.clone());
                        back.track(WindowTally::new(profile.clone(), K));
                        let parts: Vec<(SystemTime, Batch)> = window.parts().collect();
                        for (arrived, part) in &parts {
                            back.push(part, &plan, *arrived);
                        }
                        prop_assert_eq!(back.rows(), window.rows());
                        window = back;
                    }
                }
                let tally = window.tally().map(WindowTally::samples);
                prop_assert_eq!(tally, Some(recomputed(&window, &profile)));
            }
        }
    }

    #[test]
    fn a_tally_is_for_one_profile_and_one_k() {
        let settings = ProfileSettings::default();
        let p = profile(&[1.0, 2.0], &[0], &settings);
        let tally = WindowTally::new(p.clone(), K);
        assert!(tally.is_for(&p, K));
        assert!(!tally.is_for(&p, 3.0));
        assert!(!tally.is_for(&profile(&[1.0, 2.0], &[0], &settings), K));
    }
}
