//! Pure-math benchmarks of the drift scores: numpy-style quantile edges, bin
//! counting, the two-sample KS statistic and its p-value, chi-square, building a
//! numeric reference profile, scoring a 10,000-row sample against a 1,000,000-row
//! profile, and the daemon's sliding window (push, samples, evaluate).
//!
//! Everything runs on seeded generated data (no files), so two runs measure the
//! same work. Run all of it (about 30 s of measuring on 2 cores) with
//! `cargo bench --bench scores`, or a subset with a name filter, e.g.
//! `cargo bench --bench scores -- ks_`. divan prints fastest, slowest, median and
//! mean per benchmark; BENCHMARKS.md quotes medians. End-to-end numbers (files,
//! parsing, peak memory) come from `benches/throughput.rs` instead.

use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use arrow::array::{Float64Array, StringArray};
use divan::counter::ItemsCount;
use divan::{black_box, Bencher};

use drift_exporter::config::{LabelsConfig, ProfileSettings, ScoringSettings};
use drift_exporter::data::{Batch, ColumnArray, ColumnPlan, Kind, Rejects};
use drift_exporter::drift;
use drift_exporter::labels::{self, LabelJoin};
use drift_exporter::reference::{
    ColumnProfile, DriftType, NumericProfile, ProfileDetail, ReferenceProfile, ResolvedColumn,
};
use drift_exporter::sample::{ColumnSample, SampleValues};
use drift_exporter::stats::{bins, chi2, divergence, kolmogorov, ks};
use drift_exporter::store::Journal;
use drift_exporter::window::Window;

fn main() {
    divan::main();
}

/// Reference values per numeric column.
const REFERENCE_ROWS: usize = 1_000_000;
/// Current values per column (the default window size).
const CURRENT_ROWS: usize = 10_000;
/// Rows per batch pushed into the window.
const PUSH_ROWS: usize = 1_000;

mod support;
use support::rng::Rng;

/// `n` values from N(`mean`, 1), seeded.
fn normals(n: usize, mean: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng(seed);
    (0..n).map(|_| mean + rng.normal()).collect()
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_unstable_by(f64::total_cmp);
    values
}

/// The 1e6-value reference (unsorted, as read from a file).
static REFERENCE_VALUES: LazyLock<Vec<f64>> =
    LazyLock::new(|| normals(REFERENCE_ROWS, 0.0, 0x5EED_0001));
/// The same values, sorted.
static REFERENCE_SORTED: LazyLock<Vec<f64>> = LazyLock::new(|| sorted(REFERENCE_VALUES.clone()));
/// A 1e4-value current sample, slightly shifted, sorted.
static CURRENT_SORTED: LazyLock<Vec<f64>> =
    LazyLock::new(|| sorted(normals(CURRENT_ROWS, 0.05, 0x5EED_0002)));

#[divan::bench(sample_count = 200)]
fn quantile_edges_1e6(bencher: Bencher) {
    let values = &*REFERENCE_SORTED;
    bencher.bench(|| bins::quantile_edges(black_box(values), black_box(10)));
}

#[divan::bench(sample_count = 200)]
fn bin_counts_sorted_1e4(bencher: Bencher) {
    let edges = bins::quantile_edges(&REFERENCE_SORTED, 10);
    let current = &*CURRENT_SORTED;
    bencher
        .counter(ItemsCount::new(current.len()))
        .bench(|| bins::bin_counts_sorted(black_box(&edges), black_box(current)));
}

#[divan::bench(sample_count = 50)]
fn ks_statistic_sorted_1e6_vs_1e4(bencher: Bencher) {
    let (reference, current) = (&*REFERENCE_SORTED, &*CURRENT_SORTED);
    bencher
        .counter(ItemsCount::new(reference.len() + current.len()))
        .bench(|| ks::ks_statistic_sorted(black_box(reference), black_box(current)));
}

/// The KS statistic by each exact method against the 1e6-value reference, for
/// current samples of 1e4, 1e5 and 1e6 values: where `ks_statistic_sorted`'s
/// choice between a merge and a galloping walk should cross over.
#[divan::bench(args = [10_000, 100_000, 1_000_000], sample_count = 30)]
fn ks_merge_1e6_vs(bencher: Bencher, current: usize) {
    let reference = &*REFERENCE_SORTED;
    let current = sorted(normals(current, 0.05, 0x5EED_0003));
    bencher.bench(|| ks::ks_statistic_merge(black_box(reference), black_box(&current)));
}

/// The KS statistic and the Wasserstein distance from one (branch-free)
/// merge, what `check` computes per numeric column; against
/// [`ks_merge_1e6_vs`], the KS statistic alone by the branching merge.
#[divan::bench(args = [10_000, 200_000, 1_000_000], sample_count = 30)]
fn ks_and_wasserstein_merge_1e6_vs(bencher: Bencher, current: usize) {
    let reference = &*REFERENCE_SORTED;
    let current = sorted(normals(current, 0.05, 0x5EED_0003));
    bencher.bench(|| {
        drift_exporter::stats::wasserstein::ks_and_wasserstein_by_merge(
            black_box(reference),
            black_box(&current),
        )
    });
}

/// See [`ks_merge_1e6_vs`].
#[divan::bench(args = [10_000, 100_000, 1_000_000], sample_count = 30)]
fn ks_search_1e6_vs(bencher: Bencher, current: usize) {
    let reference = &*REFERENCE_SORTED;
    let current = sorted(normals(current, 0.05, 0x5EED_0003));
    bencher.bench(|| ks::ks_statistic_search(black_box(reference), black_box(&current)));
}

/// Sorting 1e6 values: the sort every path uses
/// (`drift_exporter::stats::sort_values`, integer keys) against the comparison
/// sort it replaced.
#[divan::bench(sample_count = 30)]
fn sort_1e6_keys(bencher: Bencher) {
    bencher
        .with_inputs(|| REFERENCE_VALUES.clone())
        .bench_local_refs(|v| drift_exporter::stats::sort_values(black_box(v)));
}

/// The standard deviation of 1e6 values (compensated sums, two passes): what
/// loading a reference from Parquet computes per numeric column.
#[divan::bench(sample_count = 30)]
fn std_dev_1e6(bencher: Bencher) {
    let values = &*REFERENCE_VALUES;
    bencher.bench(|| drift_exporter::stats::wasserstein::std_dev(black_box(values)));
}

/// See [`sort_1e6_keys`].
#[divan::bench(sample_count = 30)]
fn sort_1e6_comparison(bencher: Bencher) {
    bencher
        .with_inputs(|| REFERENCE_VALUES.clone())
        .bench_local_refs(|v| black_box(v).sort_unstable_by(f64::total_cmp));
}

/// A KS p-value case: effective sample size `en = n1 n2 / (n1 + n2)` (here
/// `n1 = n2 = 2 en`) and `D = scale / sqrt(en)`: 0.5 (p near 1, the CDF branch),
/// 1.36 (p near 0.05) and 3.0 (p tiny, the Smirnov tail).
#[derive(Debug, Clone, Copy)]
struct KsCase {
    en: u64,
    scale: f64,
}

impl std::fmt::Display for KsCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "en={:e} D={}/sqrt(en)", self.en as f64, self.scale)
    }
}

const KS_CASES: [KsCase; 9] = [
    KsCase {
        en: 100,
        scale: 0.5,
    },
    KsCase {
        en: 100,
        scale: 1.36,
    },
    KsCase {
        en: 100,
        scale: 3.0,
    },
    KsCase {
        en: 10_000,
        scale: 0.5,
    },
    KsCase {
        en: 10_000,
        scale: 1.36,
    },
    KsCase {
        en: 10_000,
        scale: 3.0,
    },
    KsCase {
        en: 1_000_000,
        scale: 0.5,
    },
    KsCase {
        en: 1_000_000,
        scale: 1.36,
    },
    KsCase {
        en: 1_000_000,
        scale: 3.0,
    },
];

#[divan::bench(args = KS_CASES, sample_count = 100)]
fn ks_2samp_asymp_pvalue(bencher: Bencher, case: KsCase) {
    let n = 2 * case.en;
    let d = case.scale / (case.en as f64).sqrt();
    bencher.bench(|| kolmogorov::ks_2samp_asymp_pvalue(black_box(d), black_box(n), black_box(n)));
}

#[divan::bench(sample_count = 200)]
fn chi2_pvalue_50_bins(bencher: Bencher) {
    let mut rng = Rng(0x5EED_0003);
    // Geometric-ish category weights, like a long-tailed categorical column.
    let weights: Vec<f64> = (0..50).map(|k| 0.93f64.powi(k)).collect();
    let total: f64 = weights.iter().sum();
    let draw = |rng: &mut Rng, n: u64| -> Vec<u64> {
        let mut counts = vec![0u64; weights.len()];
        for _ in 0..n {
            let mut u = rng.uniform() * total;
            let bin = weights
                .iter()
                .position(|w| {
                    u -= w;
                    u <= 0.0
                })
                .unwrap_or(weights.len() - 1);
            counts[bin] += 1;
        }
        counts
    };
    let reference = draw(&mut rng, 1_000_000);
    let current = draw(&mut rng, 10_000);
    bencher.bench(|| chi2::chi2_pvalue(black_box(&reference), black_box(&current)));
}

#[divan::bench(sample_count = 200)]
fn psi_and_kl_10_bins(bencher: Bencher) {
    let edges = bins::quantile_edges(&REFERENCE_SORTED, 10);
    let reference = bins::bin_counts_sorted(&edges, &REFERENCE_SORTED);
    let current = bins::bin_counts_sorted(&edges, &CURRENT_SORTED);
    bencher.bench(|| {
        let r = divergence::smoothed_proportions(black_box(&reference), 1e-4);
        let c = divergence::smoothed_proportions(black_box(&current), 1e-4);
        (divergence::psi(&r, &c), divergence::kl_divergence(&r, &c))
    });
}

/// Sort + quantile edges + reference bin counts of one 1e6-value column: the
/// per-column cost of loading a reference (reading the file aside).
#[divan::bench(sample_count = 15)]
fn numeric_profile_build_1e6(bencher: Bencher) {
    let settings = ProfileSettings::default();
    bencher
        .counter(ItemsCount::new(REFERENCE_ROWS))
        .with_inputs(|| REFERENCE_VALUES.clone())
        .bench_values(|values| NumericProfile::new(values, &settings));
}

fn numeric_column(name: &str, profile: NumericProfile) -> ColumnProfile {
    ColumnProfile {
        name: name.to_string(),
        drift_type: DriftType::Data,
        missing: 0,
        rejected: 0,
        detail: ProfileDetail::Numeric(profile),
    }
}

/// Every score of one numeric column (bins, PSI, KL, KS statistic and p-value,
/// out of range) for a sorted 1e4-row sample against a 1e6-row profile.
#[divan::bench(sample_count = 50)]
fn score_column_numeric_1e4_vs_1e6(bencher: Bencher) {
    let settings = ProfileSettings::default();
    let column = numeric_column(
        "x",
        NumericProfile::new(REFERENCE_VALUES.clone(), &settings),
    );
    let sample = ColumnSample {
        rows: CURRENT_ROWS as u64,
        missing: 0,
        rejected: 0,
        values: SampleValues::Numeric(CURRENT_SORTED.clone()),
    };
    let settings = ScoringSettings::default();
    bencher.bench(|| drift::score_column(black_box(&column), black_box(&sample), &settings));
}

/// The window benches' columns: 6 numeric then 2 categorical.
const WINDOW_NUMERIC: usize = 6;
const WINDOW_CATEGORICAL: usize = 2;

fn window_plan() -> ColumnPlan {
    plan_of(WINDOW_NUMERIC, WINDOW_CATEGORICAL)
}

/// `numeric` numeric columns `num_*`, then `categorical` categorical `cat_*`.
fn plan_of(numeric: usize, categorical: usize) -> ColumnPlan {
    ColumnPlan::new(
        (0..numeric)
            .map(|i| (format!("num_{i}"), Kind::Numeric))
            .chain((0..categorical).map(|i| (format!("cat_{i}"), Kind::Categorical))),
    )
}

/// A batch of `rows` rows over [`window_plan`]: normal numerics, categories
/// `c0`..`c19` (plus ~1% unseen `new_*`).
fn window_batch(rows: usize, seed: u64) -> Batch {
    batch_of(WINDOW_NUMERIC, WINDOW_CATEGORICAL, rows, seed)
}

/// A batch of `rows` rows over [`plan_of`]`(numeric, categorical)`.
fn batch_of(numeric: usize, categorical: usize, rows: usize, seed: u64) -> Batch {
    let mut rng = Rng(seed);
    let mut columns = Vec::with_capacity(numeric + categorical);
    for i in 0..numeric {
        let values: Float64Array = (0..rows).map(|_| Some(i as f64 + rng.normal())).collect();
        columns.push(Some(ColumnArray::Numeric(values)));
    }
    for _ in 0..categorical {
        let values: StringArray = (0..rows)
            .map(|_| {
                let u = rng.uniform();
                Some(if u < 0.01 {
                    format!("new_{}", rng.next_u64() % 7)
                } else {
                    format!("c{}", (u * u * 20.0) as u32)
                })
            })
            .collect();
        columns.push(Some(ColumnArray::Categorical(values)));
    }
    Batch {
        rows,
        columns,
        rejects: Rejects::default(),
    }
}

/// A profile of `plan`'s columns over `batches`.
fn profile_of(plan: ColumnPlan, batches: &[Batch]) -> Arc<ReferenceProfile> {
    let resolved: Vec<ResolvedColumn> = plan
        .iter()
        .map(|(name, kind)| ResolvedColumn {
            name: name.to_string(),
            kind,
            drift_type: DriftType::Data,
            boolean: false,
        })
        .collect();
    Arc::new(ReferenceProfile::from_batches(
        Path::new("generated.parquet"),
        String::new(),
        &resolved,
        plan,
        batches,
        &ProfileSettings::default(),
    ))
}

/// A profile of [`window_plan`]'s columns over `REFERENCE_ROWS` generated rows.
static WINDOW_PROFILE: LazyLock<Arc<ReferenceProfile>> = LazyLock::new(|| {
    let batches: Vec<Batch> = (0..REFERENCE_ROWS / 100_000)
        .map(|i| window_batch(100_000, 0x5EED_1000 + i as u64))
        .collect();
    profile_of(window_plan(), &batches)
});

/// The wide window bench's columns (100: 80 numeric, 20 categorical) and its
/// reference rows.
const WIDE_NUMERIC: usize = 80;
const WIDE_CATEGORICAL: usize = 20;
const WIDE_REFERENCE_ROWS: usize = 100_000;

/// A profile of the 100 wide columns over `WIDE_REFERENCE_ROWS` rows.
static WIDE_PROFILE: LazyLock<Arc<ReferenceProfile>> = LazyLock::new(|| {
    let batch = batch_of(
        WIDE_NUMERIC,
        WIDE_CATEGORICAL,
        WIDE_REFERENCE_ROWS,
        0x5EED_4000,
    );
    profile_of(plan_of(WIDE_NUMERIC, WIDE_CATEGORICAL), &[batch])
});

/// The outlier `k` the benches score with.
fn outlier_k() -> f64 {
    ScoringSettings::default().outlier_iqr_k
}

/// A full 10,000-row window (10 pushes of 1,000 rows) keeping a tally.
fn full_window() -> (Window, ColumnPlan) {
    let (mut window, plan) = full_untallied_window();
    window.track(WINDOW_PROFILE.clone(), outlier_k());
    (window, plan)
}

/// A full 10,000-row window without a tally (its samples are gathered and
/// sorted from the rows).
fn full_untallied_window() -> (Window, ColumnPlan) {
    let plan = window_plan();
    let mut window = Window::new(CURRENT_ROWS, None, Arc::new(plan.clone()));
    let now = SystemTime::now();
    for i in 0..(CURRENT_ROWS / PUSH_ROWS) {
        window.push(&window_batch(PUSH_ROWS, 0x5EED_2000 + i as u64), &plan, now);
    }
    (window, plan)
}

/// Pushing a 1,000-row batch into a full 10,000-row window (evicts as much),
/// keeping the tally.
#[divan::bench(sample_count = 200)]
fn window_push_1e3_rows_x8(bencher: Bencher) {
    let (mut window, plan) = full_window();
    let batch = window_batch(PUSH_ROWS, 0x5EED_3000);
    let now = SystemTime::now();
    bencher
        .counter(ItemsCount::new(PUSH_ROWS))
        .bench_local(|| window.push(black_box(&batch), &plan, now));
}

/// The same push into a window without a tally (the baseline of the tally's
/// cost).
#[divan::bench(sample_count = 200)]
fn window_push_1e3_rows_x8_untallied(bencher: Bencher) {
    let (mut window, plan) = full_untallied_window();
    let batch = window_batch(PUSH_ROWS, 0x5EED_3000);
    let now = SystemTime::now();
    bencher
        .counter(ItemsCount::new(PUSH_ROWS))
        .bench_local(|| window.push(black_box(&batch), &plan, now));
}

/// The late-label join, per round: 1,000 prediction rows with an id go through
/// the join into a full window and wait, then their 1,000 label rows join them
/// (the joined window full too). Compare with `window_push_1e3_rows_x8`.
#[divan::bench(sample_count = 100)]
fn label_join_1e3_predictions_then_labels(bencher: Bencher) {
    let base = window_plan();
    let plan = Arc::new(
        base.clone()
            .with_extra_column("label", Kind::Categorical)
            .with_extra_column("id", Kind::Categorical),
    );
    let prediction = base
        .iter()
        .find(|(_, kind)| *kind == Kind::Numeric)
        .map(|(name, _)| name.to_string())
        .expect("a numeric column");
    let config = LabelsConfig {
        id: "id".into(),
        ttl: Duration::from_secs(3600),
        max_pending: 1_000_000,
    };
    let mut window = Window::new(CURRENT_ROWS, None, plan.clone());
    let mut join = LabelJoin::new(
        Some(&config),
        Some("label"),
        Some(&prediction),
        plan.clone(),
        CURRENT_ROWS,
        None,
    );
    let now = SystemTime::now();
    let mut round = 0u64;
    let mut rounds = move || {
        round += 1;
        let ids: StringArray = (0..PUSH_ROWS)
            .map(|i| Some(format!("r{round}-{i}")))
            .collect();
        let mut predictions = window_batch(PUSH_ROWS, 0x5EED_3000 + round);
        predictions.columns.push(None);
        predictions
            .columns
            .push(Some(ColumnArray::Categorical(ids.clone())));
        let labels_column: StringArray = (0..PUSH_ROWS)
            .map(|i| Some(if i % 7 == 0 { "1" } else { "0" }))
            .collect();
        let mut columns = vec![None; base.len()];
        columns.push(Some(ColumnArray::Categorical(labels_column)));
        columns.push(Some(ColumnArray::Categorical(ids)));
        let labels = Batch {
            rows: PUSH_ROWS,
            columns,
            rejects: Rejects::default(),
        };
        (predictions, labels)
    };
    // Fill the window and the joined rows first.
    for _ in 0..(CURRENT_ROWS / PUSH_ROWS) {
        let (p, l) = rounds();
        labels::absorb(&mut window, &mut join, &p, &plan, now);
        labels::absorb(&mut window, &mut join, &l, &plan, now);
    }
    bencher
        .counter(ItemsCount::new(2 * PUSH_ROWS))
        .with_inputs(&mut rounds)
        .bench_local_values(|(p, l)| {
            labels::absorb(&mut window, &mut join, black_box(&p), &plan, now);
            labels::absorb(&mut window, &mut join, black_box(&l), &plan, now)
        });
}

/// Appending a 1,000-row batch (8 columns) to the journal, as the daemon does for
/// every batch before counting it: Arrow IPC encoding, SHA-256, one write. The
/// journal is emptied every 1,000 appends, as a snapshot would.
#[divan::bench(sample_count = 200)]
fn journal_append_1e3_rows_x8(bencher: Bencher) {
    let plan = window_plan();
    let batch = [window_batch(PUSH_ROWS, 0x5EED_3000)];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut journal = Journal::open(&dir.path().join("journal"), 0, 0).expect("journal");
    let now = SystemTime::now();
    let mut appended = 0u32;
    bencher.counter(ItemsCount::new(PUSH_ROWS)).bench_local(|| {
        appended += 1;
        if appended % 1000 == 0 {
            journal.reset().expect("reset");
        }
        journal
            .append("bench", now, &plan, black_box(&batch), None)
            .expect("append")
    });
}

/// Summarising a full window for the evaluator from its tally: 10,000 rows x
/// 8 columns (6 numeric: the KS statistic over the occupied places).
#[divan::bench(sample_count = 50)]
fn window_samples_1e4_rows_x8(bencher: Bencher) {
    let profile = &*WINDOW_PROFILE;
    let (mut window, _) = full_window();
    bencher
        .counter(ItemsCount::new(CURRENT_ROWS))
        .bench_local(|| window.samples(black_box(profile), outlier_k()));
}

/// The same summaries gathered from the rows (6 numeric: collect + sort; 2
/// categorical: category lookup): what each evaluation did before the tally.
#[divan::bench(sample_count = 50)]
fn window_samples_1e4_rows_x8_from_rows(bencher: Bencher) {
    let profile = &*WINDOW_PROFILE;
    let (mut window, _) = full_untallied_window();
    bencher
        .counter(ItemsCount::new(CURRENT_ROWS))
        .bench_local(|| window.samples(black_box(profile), outlier_k()));
}

/// The daemon's per-batch cycle: push 1,000 rows into a full 10,000-row window,
/// summarise it and score all 8 columns against 1e6-row reference profiles.
#[divan::bench(sample_count = 50)]
fn window_push_samples_evaluate_1e4_x8(bencher: Bencher) {
    let profile = &*WINDOW_PROFILE;
    let (mut window, plan) = full_window();
    let batch = window_batch(PUSH_ROWS, 0x5EED_3000);
    bencher.bench_local(|| push_samples_evaluate(&mut window, &plan, &batch, profile));
}

/// The daemon's cycle once: push `batch`, summarise the window, score it.
fn push_samples_evaluate(
    window: &mut Window,
    plan: &ColumnPlan,
    batch: &Batch,
    profile: &Arc<ReferenceProfile>,
) -> drift::DriftReport {
    window.push(black_box(batch), plan, SystemTime::now());
    let samples = window.samples(profile, outlier_k());
    drift::evaluate(
        profile,
        &samples,
        window.rows() as u64,
        &ScoringSettings::default(),
    )
}

/// One evaluation of a full 10,000-row window over 100 columns (80 numeric, 20
/// categorical) against 100,000-row reference profiles, after 1,000 new rows:
/// push, summarise from the tally, score every column. The cost the distances
/// and corrections added (JS, Hellinger, Wasserstein, PSI p-value) is held to
/// 1.3x of this bench before them (BENCHMARKS.md).
#[divan::bench(sample_count = 30)]
fn window_push_samples_evaluate_1e4_x100(bencher: Bencher) {
    let profile = &*WIDE_PROFILE;
    let plan = plan_of(WIDE_NUMERIC, WIDE_CATEGORICAL);
    let mut window = Window::new(CURRENT_ROWS, None, Arc::new(plan.clone()));
    let now = SystemTime::now();
    for i in 0..(CURRENT_ROWS / PUSH_ROWS) {
        let batch = batch_of(
            WIDE_NUMERIC,
            WIDE_CATEGORICAL,
            PUSH_ROWS,
            0x5EED_5000 + i as u64,
        );
        window.push(&batch, &plan, now);
    }
    window.track(profile.clone(), outlier_k());
    let _ = window.samples(profile, outlier_k());
    let batch = batch_of(WIDE_NUMERIC, WIDE_CATEGORICAL, PUSH_ROWS, 0x5EED_6000);
    bencher.bench_local(|| push_samples_evaluate(&mut window, &plan, &batch, profile));
}

/// Counting, per row of a 1,000-row batch, the numeric features outside the
/// reference's range (`drift_row_out_of_range_features`, done for every batch the
/// daemon takes in), against the 1e6-row profiles.
#[divan::bench(sample_count = 200)]
fn row_out_of_range_1e3_rows_x8(bencher: Bencher) {
    let profile = &*WINDOW_PROFILE;
    let batch = window_batch(PUSH_ROWS, 0x5EED_3000);
    bencher.counter(ItemsCount::new(PUSH_ROWS)).bench_local(|| {
        drift_exporter::sample::out_of_range_per_row(profile, black_box(&batch.columns), batch.rows)
    });
}

/// Replaying a full window's error stream (10,000 labelled rows, 0/1 errors at
/// about 10%) through DDM and ADWIN, as each evaluation with labels does.
#[divan::bench(sample_count = 50)]
fn concept_ddm_adwin_replay_1e4(bencher: Bencher) {
    use drift_exporter::stats::change::{Adwin, Ddm};
    let mut rng = Rng(0x5EED_4000);
    let errors: Vec<f64> = (0..CURRENT_ROWS)
        .map(|_| f64::from(u8::from(rng.uniform() < 0.1)))
        .collect();
    bencher.counter(ItemsCount::new(CURRENT_ROWS)).bench(|| {
        let (mut ddm, mut adwin) = (Ddm::default(), Adwin::default());
        let mut detections = 0u32;
        for &e in black_box(&errors) {
            detections += u32::from(ddm.update(e)) + u32::from(adwin.update(e));
        }
        detections
    });
}

/// `features` correlated columns of `rows` rows (each the previous one mixed
/// with fresh noise), as the multivariate signals see them.
fn correlated_columns(rows: usize, features: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut columns: Vec<Vec<f64>> = Vec::with_capacity(features);
    for f in 0..features {
        let noise = normals(rows, 0.0, seed + f as u64);
        let column = match columns.last() {
            Some(previous) => previous
                .iter()
                .zip(&noise)
                .map(|(p, n)| 0.6 * p + 0.8 * n)
                .collect(),
            None => noise,
        };
        columns.push(column);
    }
    columns
}

/// One multivariate evaluation of a 10,000-row window (issue 12): the
/// reconstruction error and every pair's correlation change, against a
/// reference of 100,000 rows fitted once; by number of numeric features.
#[divan::bench(args = [10, 25, 50, 100], sample_count = 20)]
fn multivariate_score_1e4_rows(bencher: Bencher, features: usize) {
    use drift_exporter::stats::multivariate::{MultivariateReference, MultivariateSettings};
    let names: Vec<String> = (0..features).map(|i| format!("f{i}")).collect();
    let reference = MultivariateReference::fit(
        names,
        &correlated_columns(100_000, features, 1),
        &MultivariateSettings::default(),
    )
    .expect("fitted");
    let window = correlated_columns(10_000, features, 7);
    bencher
        .counter(ItemsCount::new(10_000usize))
        .bench(|| reference.score(black_box(&window)).expect("scored"));
}
