//! Alerts that stay quiet on healthy data (issue "more distances and alerts
//! that do not cry wolf"): windows of 2,000 rows drawn from the reference's
//! own distributions (no drift), 20 columns against a 100,000-row reference,
//! 100 seeded draws. Tested at 5% per column, most draws flag some column;
//! with `correction = "fdr_bh"` and `psi = "auto"`, at least 85 of the 100
//! flag none.

use std::collections::HashMap;

use drift_exporter::config::{Correction, ProfileSettings, PsiThreshold, ScoringSettings};
use drift_exporter::drift::{self, ColumnReport};
use drift_exporter::reference::{
    CategoricalProfile, ColumnProfile, DriftType, NumericProfile, ProfileDetail,
};
use drift_exporter::sample::{ColumnSample, SampleValues};

const REFERENCE_ROWS: usize = 100_000;
const WINDOW_ROWS: usize = 2_000;
const DRAWS: usize = 100;
const NUMERIC: usize = 16;
const CATEGORICAL: usize = 4;

/// splitmix64: a small, fixed generator so that the draws never change.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Column `i`'s distribution: normal, exponential, uniform or a rounded
    /// (tied) normal, so that ties and skew are in the family.
    fn value(&mut self, i: usize) -> f64 {
        match i % 4 {
            0 => self.normal() * 3.0 + 10.0,
            1 => -self.uniform().ln() * 50.0,
            2 => self.uniform() * 100.0,
            _ => (self.normal() * 4.0).round(),
        }
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// One of five categories with fixed, unequal probabilities.
    fn category(&mut self) -> &'static str {
        let u = self.uniform();
        match u {
            u if u < 0.4 => "a",
            u if u < 0.65 => "b",
            u if u < 0.85 => "c",
            u if u < 0.95 => "d",
            _ => "e",
        }
    }
}

fn column(name: String, detail: ProfileDetail) -> ColumnProfile {
    ColumnProfile {
        name,
        drift_type: DriftType::Data,
        missing: 0,
        rejected: 0,
        detail,
    }
}

fn profiles(rng: &mut Rng) -> Vec<ColumnProfile> {
    let mut columns = Vec::new();
    for i in 0..NUMERIC {
        let values: Vec<f64> = (0..REFERENCE_ROWS).map(|_| rng.value(i)).collect();
        let p = NumericProfile::new(values, &ProfileSettings::default());
        columns.push(column(format!("x{i}"), ProfileDetail::Numeric(p)));
    }
    for i in 0..CATEGORICAL {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for _ in 0..REFERENCE_ROWS {
            *counts.entry(rng.category().to_string()).or_default() += 1;
        }
        let p = CategoricalProfile::new(counts, 50);
        columns.push(column(format!("c{i}"), ProfileDetail::Categorical(p)));
    }
    columns
}

fn window(rng: &mut Rng, profile: &ColumnProfile, i: usize) -> ColumnSample {
    let values = match &profile.detail {
        ProfileDetail::Numeric(_) => {
            let mut v: Vec<f64> = (0..WINDOW_ROWS).map(|_| rng.value(i)).collect();
            v.sort_by(f64::total_cmp);
            SampleValues::Numeric(v)
        }
        ProfileDetail::Categorical(p) => {
            let mut counts = vec![0u64; p.labels.len()];
            let mut unseen = 0;
            for _ in 0..WINDOW_ROWS {
                let (bin, known) = p.lookup(rng.category());
                counts[bin] += 1;
                unseen += u64::from(!known);
            }
            SampleValues::Categorical { counts, unseen }
        }
    };
    ColumnSample {
        rows: WINDOW_ROWS as u64,
        missing: 0,
        rejected: 0,
        values,
    }
}

/// Draws in which no column was flagged, per settings.
fn quiet_draws(all: &[ScoringSettings]) -> Vec<usize> {
    let mut rng = Rng(20_261_207);
    let columns = profiles(&mut rng);
    let mut quiet = vec![0; all.len()];
    for _ in 0..DRAWS {
        let samples: Vec<ColumnSample> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| window(&mut rng, c, i))
            .collect();
        for (settings, quiet) in all.iter().zip(&mut quiet) {
            let mut reports: Vec<ColumnReport> = columns
                .iter()
                .zip(&samples)
                .map(|(c, s)| drift::score_column(c, s, settings))
                .collect();
            drift::correct(&mut reports, settings);
            assert!(reports.iter().all(ColumnReport::is_scored));
            if !reports.iter().any(|r| r.drift_detected) {
                *quiet += 1;
            }
        }
    }
    quiet
}

#[test]
fn no_drift_draws_stay_quiet_with_fdr_bh_and_auto_psi() {
    let plain = ScoringSettings::default();
    let mut corrected = ScoringSettings {
        correction: Correction::FdrBh,
        ..ScoringSettings::default()
    };
    corrected.thresholds.psi = PsiThreshold::Auto;
    let mut bonferroni = corrected.clone();
    bonferroni.correction = Correction::Bonferroni;
    let quiet = quiet_draws(&[plain, corrected, bonferroni]);
    eprintln!(
        "quiet draws of {DRAWS}: per-test 5% {}, fdr_bh + auto {}, bonferroni + auto {}",
        quiet[0], quiet[1], quiet[2]
    );
    // Per test at 5%: 20 KS/chi-square tests flag some column in most draws
    // (0.95^20 = 36% quiet in expectation).
    assert!(quiet[0] < 60, "uncorrected: {} quiet draws", quiet[0]);
    assert!(quiet[1] >= 85, "fdr_bh + auto: {} quiet draws", quiet[1]);
    assert!(
        quiet[2] >= 85,
        "bonferroni + auto: {} quiet draws",
        quiet[2]
    );
}
