//! Property tests of the score invariants: PSI and KL are non-negative and zero
//! for identical samples, the KS statistic lies in [0, 1], is symmetric and equals
//! its brute-force definition, p-values lie in [0, 1] and fall as D grows, and a
//! whole report does not depend on the order of the current rows; an event-time
//! window holds exactly the rows within `duration` of the newest timestamp.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use arrow::array::Float64Array;
use drift_exporter::config::{ProfileSettings, ScoringSettings};
use drift_exporter::data::{Batch, ColumnArray, ColumnPlan, Kind, Rejects};
use drift_exporter::reference::{ColumnProfile, DriftType, NumericProfile, ProfileDetail};
use drift_exporter::sample::{ColumnSample, SampleValues};
use drift_exporter::stats::{bins, chi2, divergence, kolmogorov, ks};
use drift_exporter::window::Window;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            (-1000i32..1000).prop_map(|v| v as f64),
            (-1e6f64..1e6),
            (0u8..5).prop_map(|v| v as f64),
        ],
        1..200,
    )
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// sup |F_a(x) - F_b(x)| evaluated at every observed x, by counting.
fn brute_force_ks(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .chain(b)
        .map(|&x| {
            let fa = a.iter().filter(|&&v| v <= x).count() as f64 / a.len() as f64;
            let fb = b.iter().filter(|&&v| v <= x).count() as f64 / b.len() as f64;
            (fa - fb).abs()
        })
        .fold(0.0, f64::max)
}

fn numeric_column(reference: Vec<f64>) -> ColumnProfile {
    ColumnProfile {
        name: "x".into(),
        drift_type: DriftType::Data,
        missing: 0,
        rejected: 0,
        detail: ProfileDetail::Numeric(NumericProfile::new(reference, &ProfileSettings::default())),
    }
}

fn sample_of(values: &[f64]) -> ColumnSample {
    ColumnSample {
        rows: values.len() as u64,
        missing: 0,
        rejected: 0,
        values: SampleValues::Numeric(sorted(values.to_vec())),
    }
}

// Saved failure seeds live beside this file, in properties.proptest-regressions.
// proptest's default (`SourceParallel`) would look in tests/proptest-regressions/
// instead, because this folder has a main.rs; `WithSource` names the file here.
proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn psi_and_kl_are_non_negative(r in prop::collection::vec(0u64..50, 1..20), c_seed in prop::collection::vec(0u64..50, 20)) {
        let c: Vec<u64> = c_seed[..r.len()].to_vec();
        prop_assume!(r.iter().sum::<u64>() > 0 && c.iter().sum::<u64>() > 0);
        let rp = divergence::smoothed_proportions(&r, 1e-4);
        let cp = divergence::smoothed_proportions(&c, 1e-4);
        prop_assert!(divergence::psi(&rp, &cp) >= 0.0);
        // KL without renormalisation can dip below zero by at most the smoothing mass.
        prop_assert!(divergence::kl_divergence(&rp, &cp) >= -1e-3 * r.len() as f64);
    }

    #[test]
    fn identical_samples_score_zero(v in values()) {
        let column = numeric_column(v.clone());
        let report = drift_exporter::drift::score_column(&column, &sample_of(&v), &ScoringSettings::default());
        prop_assert_eq!(report.psi, Some(0.0));
        prop_assert_eq!(report.kl_divergence, Some(0.0));
        prop_assert_eq!(report.ks_statistic, Some(0.0));
        if v.len() > 1 {
            prop_assert_eq!(report.ks_pvalue, Some(1.0));
        } else {
            // scipy: n*m/(n+m) = 0.5 rounds to 0 and kstwo(n=0) is NaN.
            prop_assert!(report.ks_pvalue.is_some_and(f64::is_nan));
        }
        prop_assert!(!report.drift_detected);
    }

    #[test]
    fn ks_statistic_is_bounded_symmetric_and_exact(a in values(), b in values()) {
        let (a, b) = (sorted(a), sorted(b));
        let d = ks::ks_statistic_sorted(&a, &b);
        prop_assert!((0.0..=1.0).contains(&d));
        prop_assert_eq!(d, ks::ks_statistic_sorted(&b, &a));
        prop_assert!((d - brute_force_ks(&a, &b)).abs() < 1e-15);
        // Both exact methods give the same bits.
        prop_assert_eq!(ks::ks_statistic_merge(&a, &b).to_bits(), ks::ks_statistic_search(&a, &b).to_bits());
        prop_assert_eq!(ks::ks_statistic_merge(&b, &a).to_bits(), ks::ks_statistic_search(&b, &a).to_bits());
    }

    #[test]
    fn ks_pvalue_is_a_probability_falling_in_d(n1 in 1u64..5000, n2 in 1u64..5000, d1 in 0.0f64..=1.0, d2 in 0.0f64..=1.0) {
        // n1 = n2 = 1 gives NaN in scipy (n*m/(n+m) rounds to 0): see identical_samples_score_zero.
        prop_assume!(n1 + n2 > 2);
        let (lo, hi) = if d1 <= d2 { (d1, d2) } else { (d2, d1) };
        let p_lo = kolmogorov::ks_2samp_asymp_pvalue(lo, n1, n2);
        let p_hi = kolmogorov::ks_2samp_asymp_pvalue(hi, n1, n2);
        prop_assert!((0.0..=1.0).contains(&p_lo), "p({lo}) = {p_lo}");
        prop_assert!((0.0..=1.0).contains(&p_hi), "p({hi}) = {p_hi}");
        prop_assert!(p_hi <= p_lo + 1e-12, "p({hi}) = {p_hi} > p({lo}) = {p_lo}");
        prop_assert_eq!(p_lo, kolmogorov::ks_2samp_asymp_pvalue(lo, n2, n1));
    }

    #[test]
    fn chi2_pvalue_is_a_probability(r in prop::collection::vec(0u64..100, 1..15), c_seed in prop::collection::vec(0u64..100, 15)) {
        let c = c_seed[..r.len()].to_vec();
        if let Some(p) = chi2::chi2_pvalue(&r, &c) {
            prop_assert!((0.0..=1.0).contains(&p));
        }
    }

    #[test]
    fn bins_partition_the_sample(v in values(), n in 1usize..30) {
        let s = sorted(v.clone());
        let edges = bins::quantile_edges(&s, n);
        prop_assert!(edges.windows(2).all(|w| w[0] < w[1]), "edges sorted and unique");
        prop_assert!(edges.len() < n.max(1));
        let counts = bins::bin_counts_sorted(&edges, &s);
        prop_assert_eq!(counts.iter().sum::<u64>(), v.len() as u64);
        for &x in &v {
            let i = bins::bin_index(&edges, x);
            prop_assert!(i == 0 || edges[i - 1] <= x);
            prop_assert!(i == edges.len() || x < edges[i]);
        }
    }

    #[test]
    fn event_time_window_equals_a_filter_on_the_newest_timestamp(
        rows in prop::collection::vec((0u32..1000, prop::option::of(0u32..3000)), 1..300),
        cuts in prop::collection::vec(1usize..50, 1..10),
        duration in 1u64..1500,
    ) {
        // Rows stamped around `now` (some in the future), pushed in batches.
        let now_s = 100_000.0;
        let now = UNIX_EPOCH + Duration::from_secs(100_000);
        let stamp = |offset: u32| now_s - 2000.0 + offset as f64;
        let plan = Arc::new(ColumnPlan::new([("x".to_string(), Kind::Numeric)]).with_time_column("ts"));
        let mut window = Window::new(100_000, Some(Duration::from_secs(duration)), plan.clone());
        let mut at = 0;
        for &n in cuts.iter().cycle() {
            if at >= rows.len() {
                break;
            }
            let part = &rows[at..(at + n).min(rows.len())];
            at += part.len();
            let x: Float64Array = part.iter().map(|r| Some(r.0 as f64)).collect();
            let ts: Float64Array = part.iter().map(|r| r.1.map(stamp)).collect();
            let batch = Batch {
                rows: part.len(),
                columns: vec![Some(ColumnArray::Numeric(x)), Some(ColumnArray::Numeric(ts))],
                rejects: Rejects::default(),
            };
            window.push(&batch, &plan, now);
        }
        let newest = rows.iter().filter_map(|r| r.1.map(stamp)).fold(f64::NEG_INFINITY, f64::max);
        let base = if newest.is_finite() { newest.min(now_s) } else { now_s };
        let cutoff = base - duration as f64;
        let mut want: Vec<f64> = rows
            .iter()
            .filter(|r| r.1.map_or(now_s, stamp) >= cutoff)
            .map(|r| r.0 as f64)
            .collect();
        want.sort_by(f64::total_cmp);
        let mut got: Vec<f64> = window
            .parts()
            .flat_map(|(_, part)| match &part.columns[0] {
                Some(ColumnArray::Numeric(x)) => x.values().to_vec(),
                _ => Vec::new(),
            })
            .collect();
        got.sort_by(f64::total_cmp);
        prop_assert_eq!(window.rows(), want.len());
        prop_assert_eq!(got, want);
        // Time passing alone changes nothing once the newest stamp is in the past.
        if newest.is_finite() && newest <= now_s {
            prop_assert!(!window.evict_expired(now + Duration::from_secs(86_400)));
        }
    }

    #[test]
    fn reports_do_not_depend_on_row_order(reference in values(), current in values(), seed in any::<u64>()) {
        let column = numeric_column(reference);
        let mut shuffled = current.clone();
        // A deterministic Fisher-Yates shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let settings = ScoringSettings::default();
        let a = drift_exporter::drift::score_column(&column, &sample_of(&current), &settings);
        let b = drift_exporter::drift::score_column(&column, &sample_of(&shuffled), &settings);
        // NaN != NaN (n1 = n2 = 1 gives a NaN p-value, as in scipy), so compare the Debug
        // text: f64's Debug prints the shortest string that round-trips, so equal text is
        // equal bits for every finite value and NaN matches NaN.
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}

/// `drift.wasserstein = false` drops the Wasserstein distance and nothing else.
#[test]
fn the_wasserstein_distance_can_be_turned_off() {
    let column = numeric_column(vec![1.0, 2.0, 3.0, 5.0]);
    let sample = sample_of(&[0.5, 2.0, 4.0]);
    let on = drift_exporter::drift::score_column(&column, &sample, &ScoringSettings::default());
    assert!(on.wasserstein_distance.is_some() && on.wasserstein_distance_normed.is_some());
    let off = ScoringSettings {
        wasserstein: false,
        ..ScoringSettings::default()
    };
    let r = drift_exporter::drift::score_column(&column, &sample, &off);
    assert_eq!(
        (r.wasserstein_distance, r.wasserstein_distance_normed),
        (None, None)
    );
    assert_eq!((r.psi, r.ks_pvalue), (on.psi, on.ks_pvalue));
}
