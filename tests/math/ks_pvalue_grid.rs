//! Checks `drift_exporter::stats::kolmogorov` against the SciPy reference
//! grid in `tests/fixtures/ks_grid.json` (regenerate it with
//! `python3 tests/fixtures/make_ks_grid.py`).
//!
//! Every value must agree with SciPy to within `TOLERANCE` (absolute). The
//! largest error seen is printed (`cargo test --test math ks_pvalue_grid --
//! --nocapture`) and, on failure, the worst row is named in the message.

use drift_exporter::stats::kolmogorov::{ks_2samp_asymp_pvalue, kstwo_cdf, kstwo_sf};
use serde_json::Value;

use crate::util::fixture;

const TOLERANCE: f64 = 1e-6;

fn load_grid() -> Value {
    let path = fixture("ks_grid.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

fn rows<'a>(grid: &'a Value, key: &str) -> &'a [Value] {
    grid[key]
        .as_array()
        .unwrap_or_else(|| panic!("fixture has no array {key:?}"))
}

fn int(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected an unsigned integer, got {v}"))
}

fn float(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

/// Statistics are stored as decimal strings so that they arrive bit-exact
/// (`str::parse` is correctly rounded; serde_json's default number parser
/// need not be, and one ulp can cross an algorithm cut-off).
fn statistic(v: &Value) -> f64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected d as a decimal string, got {v}"));
    s.parse()
        .unwrap_or_else(|e| panic!("bad statistic {s:?}: {e}"))
}

/// `null` in the fixture stands for SciPy's NaN.
fn expected(v: &Value) -> f64 {
    if v.is_null() {
        f64::NAN
    } else {
        float(v)
    }
}

/// Running record of the largest disagreement.
#[derive(Default)]
struct Worst {
    checked: usize,
    max_err: f64,
    label: String,
    failures: usize,
}

impl Worst {
    fn check(&mut self, got: f64, want: f64, label: impl FnOnce() -> String) {
        self.checked += 1;
        let err = if want.is_nan() || got.is_nan() {
            if want.is_nan() && got.is_nan() {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            (got - want).abs()
        };
        if err > TOLERANCE {
            self.failures += 1;
        }
        if err > self.max_err || (self.label.is_empty() && err >= self.max_err) {
            self.max_err = err;
            self.label = format!("{}: got {got:e}, scipy {want:e}, |err| = {err:e}", label());
        }
    }
}

#[test]
fn kolmogorov_matches_scipy_grid() {
    let grid = load_grid();
    let scipy_version = grid["scipy_version"].as_str().unwrap_or("unknown");

    let mut sf = Worst::default();
    let mut cdf = Worst::default();
    for row in rows(&grid, "one_sample") {
        let (n, d) = (int(&row[0]), statistic(&row[1]));
        sf.check(kstwo_sf(d, n), expected(&row[2]), || {
            format!("kstwo_sf(d={d:e}, n={n})")
        });
        cdf.check(kstwo_cdf(d, n), expected(&row[3]), || {
            format!("kstwo_cdf(d={d:e}, n={n})")
        });
    }

    let mut two = Worst::default();
    for key in ["two_sample", "ks_2samp_calls"] {
        for row in rows(&grid, key) {
            let (n1, n2, d) = (int(&row[0]), int(&row[1]), statistic(&row[2]));
            two.check(ks_2samp_asymp_pvalue(d, n1, n2), expected(&row[3]), || {
                format!("{key}: ks_2samp_asymp_pvalue(d={d:e}, n1={n1}, n2={n2})")
            });
        }
    }

    let sections = [("kstwo_sf", &sf), ("kstwo_cdf", &cdf), ("ks_2samp", &two)];
    println!("reference: scipy {scipy_version}, tolerance {TOLERANCE:e}");
    for (name, w) in &sections {
        println!(
            "{name}: {} values, max |err| = {:e} ({})",
            w.checked, w.max_err, w.label
        );
    }
    assert!(sf.checked > 0 && two.checked > 0, "fixture is empty");

    let (name, worst) = sections
        .iter()
        .max_by(|a, b| a.1.max_err.total_cmp(&b.1.max_err))
        .map(|(n, w)| (*n, *w))
        .unwrap_or(("none", &sf));
    let failures: usize = sections.iter().map(|(_, w)| w.failures).sum();
    assert!(
        failures == 0,
        "{failures} values differ from scipy {scipy_version} by more than {TOLERANCE:e}; \
         worst ({name}) is {}",
        worst.label
    );
}
