//! Tests of the scores' mathematics through the library: `check` against the
//! numpy/scipy oracle fixtures, property tests of the score invariants, and the
//! KS p-value against SciPy's grid. One test binary: `cargo test --test math`, or
//! one module of it, e.g. `cargo test --test math oracle::`.

mod util;

mod false_alarms;
mod ks_pvalue_grid;
mod labels;
mod multivariate;
mod oracle;
mod profiles;
mod properties;
