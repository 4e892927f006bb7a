//! A mergeable quantile sketch with a guaranteed rank-error bound, for
//! references too large to keep every value (`drift-exporter profile --sketch`).
//!
//! The method is the compactor hierarchy of Manku, Rajagopalan and Lindsay
//! ("Approximate medians and other quantiles in one pass and with limited
//! memory", SIGMOD 1998), the deterministic ancestor of KLL (Karnin, Lang and
//! Liberty, "Optimal quantile approximation in streams", FOCS 2016): level `h`
//! holds values of weight `2^h`; when a level reaches `k` values it is sorted
//! and every other value (starting at an offset that alternates from one
//! compaction of that level to the next) moves up one level with twice the
//! weight. Merging two sketches concatenates their levels and compacts what
//! overflows, so sketches of shards merge into a sketch of the whole.
//!
//! The bound is tracked, not estimated. One compaction of a sorted buffer of
//! weight-`w` values changes the estimated number of values `<= x` by at most
//! `w`, for every `x` at once (the kept half of a sorted prefix of length `r` is
//! `ceil(r/2)` or `floor(r/2)` values of weight `2w`). So the sum of `w` over all
//! compactions, [`QuantileSketch::error_rows`], bounds the absolute rank error of
//! every query, and `error_rows / n` ([`QuantileSketch::rank_error`]) the error
//! of the CDF: worst case about `log2(n / k) / k` (0.4% for `k = 4096` and
//! 1e8 values), usually far less. A sketch that never compacted is exact.
//!
//! No crate was used: the Rust KLL crates found wrap the C++ DataSketches
//! library or draw their compaction coin from the clock, and neither gives a
//! deterministic, guaranteed bound to store in a profile.

use std::cmp::Ordering;

/// Default values per level before a compaction.
pub const DEFAULT_K: usize = 4096;

/// A mergeable quantile sketch of finite `f64` values.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileSketch {
    k: usize,
    /// Level `h` holds values of weight `2^h`, unsorted until compacted.
    levels: Vec<Vec<f64>>,
    /// The offset of each level's next compaction (alternates).
    parity: Vec<bool>,
    n: u64,
    error: u64,
    min: f64,
    max: f64,
}

impl QuantileSketch {
    /// An empty sketch that compacts a level at `k` values (at least 2, even).
    pub fn new(k: usize) -> QuantileSketch {
        let k = (k.max(2) + 1) & !1;
        QuantileSketch {
            k,
            levels: vec![Vec::new()],
            parity: vec![false],
            n: 0,
            error: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Rebuilds a sketch from its parts (a profile file): `levels[h]` holds
    /// the values of weight `2^h`; `error` is the bound carried so far;
    /// `min` and `max` the exact extremes (the held values may have lost them).
    pub fn from_parts(
        k: usize,
        levels: Vec<Vec<f64>>,
        error: u64,
        min: f64,
        max: f64,
    ) -> QuantileSketch {
        let mut sketch = QuantileSketch::new(k);
        sketch.parity = vec![false; levels.len().max(1)];
        for (h, values) in levels.iter().enumerate() {
            for &v in values {
                sketch.n += 1 << h;
                sketch.min = sketch.min.min(v);
                sketch.max = sketch.max.max(v);
            }
        }
        sketch.min = sketch.min.min(min);
        sketch.max = sketch.max.max(max);
        sketch.levels = if levels.is_empty() {
            vec![Vec::new()]
        } else {
            levels
        };
        sketch.error = error;
        sketch
    }

    /// Values per level before a compaction.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Values added (the sum of the weights).
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The guaranteed bound on the absolute rank error of any query, in values.
    pub fn error_rows(&self) -> u64 {
        self.error
    }

    /// The guaranteed bound on the error of the CDF: `error_rows / n` (0 when
    /// empty or exact).
    pub fn rank_error(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.error as f64 / self.n as f64
        }
    }

    /// The smallest value added (exact), if any.
    pub fn min(&self) -> Option<f64> {
        (self.n > 0).then_some(self.min)
    }

    /// The largest value added (exact), if any.
    pub fn max(&self) -> Option<f64> {
        (self.n > 0).then_some(self.max)
    }

    /// The values each level holds (level `h`: weight `2^h`), as stored.
    pub fn levels(&self) -> &[Vec<f64>] {
        &self.levels
    }

    /// Adds a finite value (others are ignored).
    pub fn update(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.n += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.levels[0].push(value);
        if self.levels[0].len() >= self.k {
            self.compact_from(0);
        }
    }

    /// Adds every value of `other` (built with any `k`; this one's is kept).
    pub fn merge(&mut self, other: &QuantileSketch) {
        if other.n == 0 {
            return;
        }
        while self.levels.len() < other.levels.len() {
            self.levels.push(Vec::new());
            self.parity.push(false);
        }
        for (h, values) in other.levels.iter().enumerate() {
            self.levels[h].extend_from_slice(values);
        }
        self.n += other.n;
        self.error += other.error;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.compact_from(0);
    }

    /// Compacts every level from `h` up that holds `k` values or more.
    fn compact_from(&mut self, mut h: usize) {
        while h < self.levels.len() {
            if self.levels[h].len() >= self.k {
                self.compact(h);
            }
            h += 1;
        }
    }

    /// Sorts level `h` and moves every other value up (one value stays when
    /// the count is odd).
    fn compact(&mut self, h: usize) {
        if h + 1 == self.levels.len() {
            self.levels.push(Vec::new());
            self.parity.push(false);
        }
        let mut values = std::mem::take(&mut self.levels[h]);
        values.sort_unstable_by(f64::total_cmp);
        let kept_back = if values.len() % 2 == 1 {
            values.pop()
        } else {
            None
        };
        let offset = usize::from(self.parity[h]);
        self.parity[h] = !self.parity[h];
        let promoted: Vec<f64> = values.iter().skip(offset).step_by(2).copied().collect();
        self.levels[h + 1].extend(promoted);
        self.levels[h].extend(kept_back);
        self.error += 1 << h;
    }

    /// Every held value with its weight, ascending.
    pub fn weighted(&self) -> Vec<(f64, u64)> {
        let mut out: Vec<(f64, u64)> = self
            .levels
            .iter()
            .enumerate()
            .flat_map(|(h, values)| values.iter().map(move |&v| (v, 1u64 << h)))
            .collect();
        out.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    /// The estimated number of values `<= x` (within [`Self::error_rows`]).
    pub fn rank(&self, x: f64) -> u64 {
        self.levels
            .iter()
            .enumerate()
            .map(|(h, values)| {
                (values
                    .iter()
                    .filter(|v| v.total_cmp(&x) != Ordering::Greater)
                    .count() as u64)
                    << h
            })
            .sum()
    }

    /// A sorted sample of `m` values whose empirical CDF is within `1.5 / m` of
    /// the sketch's at every point: the values at the sketch's ranks
    /// `(i + 0.5) n / m` (within `0.5 / m`), with the exact minimum first and
    /// maximum last (one more step at most). An
    /// exact sketch (never compacted, `n <= m`) gives its values themselves.
    pub fn sample(&self, m: usize) -> Vec<f64> {
        let weighted = self.weighted();
        if self.error == 0 && self.n as usize <= m.max(1) {
            return weighted.into_iter().map(|(v, _)| v).collect();
        }
        let m = m.max(2);
        let mut out = Vec::with_capacity(m);
        let (mut i, mut cumulative) = (0usize, 0u64);
        for j in 0..m {
            let target = (j as f64 + 0.5) * self.n as f64 / m as f64;
            while i < weighted.len() && (cumulative as f64) + (weighted[i].1 as f64) < target {
                cumulative += weighted[i].1;
                i += 1;
            }
            let v = weighted.get(i).or(weighted.last()).map_or(0.0, |w| w.0);
            out.push(v);
        }
        if let (Some(first), Some(last)) = (out.first_mut(), self.min()) {
            *first = last;
        }
        if let (Some(end), Some(max)) = (out.last_mut(), self.max()) {
            *end = max;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64* values in [0, 1).
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed | 1;
        move || {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Skewed (lognormal-ish), discrete (many ties) and heavy-tailed (Cauchy) data.
    fn datasets(n: usize) -> Vec<(&'static str, Vec<f64>)> {
        let mut u = uniform(7);
        let skewed = (0..n)
            .map(|_| (3.0 * u()).exp() * u().max(1e-9).ln().abs())
            .collect();
        let discrete = (0..n).map(|_| (u() * 12.0).floor()).collect();
        let heavy = (0..n)
            .map(|_| (std::f64::consts::PI * (u() - 0.5)).tan())
            .collect();
        vec![("skewed", skewed), ("discrete", discrete), ("heavy", heavy)]
    }

    fn exact_rank(sorted: &[f64], x: f64) -> u64 {
        sorted.partition_point(|v| v.total_cmp(&x) != Ordering::Greater) as u64
    }

    #[test]
    fn every_rank_is_within_the_tracked_bound_on_skewed_discrete_and_heavy_tailed_data() {
        for (name, values) in datasets(50_000) {
            let mut sketch = QuantileSketch::new(64);
            for &v in &values {
                sketch.update(v);
            }
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            assert_eq!(sketch.n(), values.len() as u64);
            assert!(sketch.error_rows() > 0, "{name}: it compacted");
            assert!(
                sketch.rank_error() < 0.15,
                "{name}: {}",
                sketch.rank_error()
            );
            let mut worst = 0u64;
            for &x in sorted.iter().step_by(37).chain([f64::MIN, f64::MAX].iter()) {
                let diff = sketch.rank(x).abs_diff(exact_rank(&sorted, x));
                worst = worst.max(diff);
                assert!(
                    diff <= sketch.error_rows(),
                    "{name} at {x}: {diff} > {}",
                    sketch.error_rows()
                );
            }
            assert_eq!(sketch.min(), sorted.first().copied());
            assert_eq!(sketch.max(), sorted.last().copied());
            // The bound is a bound, not the typical error.
            assert!(worst < sketch.error_rows(), "{name}: worst {worst}");
        }
    }

    #[test]
    fn merged_shards_keep_the_bound_of_their_sum() {
        for (name, values) in datasets(30_000) {
            let mut whole = QuantileSketch::new(128);
            for part in values.chunks(7_001) {
                let mut shard = QuantileSketch::new(128);
                part.iter().for_each(|&v| shard.update(v));
                whole.merge(&shard);
            }
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            assert_eq!(whole.n(), values.len() as u64);
            for &x in sorted.iter().step_by(101) {
                let diff = whole.rank(x).abs_diff(exact_rank(&sorted, x));
                assert!(diff <= whole.error_rows(), "{name} at {x}");
            }
            let stored: usize = whole.levels().iter().map(Vec::len).sum();
            assert!(
                stored < 128 * whole.levels().len(),
                "{name}: {stored} values held"
            );
        }
    }

    #[test]
    fn a_sketch_that_never_compacted_is_exact_and_its_sample_is_the_values() {
        let mut sketch = QuantileSketch::new(DEFAULT_K);
        for v in [3.0, -1.0, 3.0, 2.5, f64::NAN, f64::INFINITY] {
            sketch.update(v);
        }
        assert_eq!((sketch.n(), sketch.error_rows()), (4, 0));
        assert_eq!(sketch.sample(100), vec![-1.0, 2.5, 3.0, 3.0]);
        assert_eq!(sketch.rank(3.0), 4);
        let empty = QuantileSketch::new(8);
        assert_eq!((empty.min(), empty.rank_error()), (None, 0.0));
        assert!(empty.sample(10).is_empty());
    }

    #[test]
    fn the_sample_follows_the_sketch_cdf_within_half_a_step() {
        let (_, values) = datasets(20_000).swap_remove(0);
        let mut sketch = QuantileSketch::new(64);
        values.iter().for_each(|&v| sketch.update(v));
        let m = 1000;
        let sample = sketch.sample(m);
        assert_eq!(sample.len(), m);
        assert!(sample.windows(2).all(|w| w[0] <= w[1]));
        let n = sketch.n() as f64;
        for &x in sample.iter().step_by(7) {
            let ours = exact_rank(&sample, x) as f64 / m as f64;
            let sketch_cdf = sketch.rank(x) as f64 / n;
            // Ties at x may hold several sample points: allow their step.
            let ties = sample.iter().filter(|&&v| v == x).count() as f64 / m as f64;
            assert!(
                (ours - sketch_cdf).abs() <= 1.5 / m as f64 + ties + 1e-12,
                "{x}"
            );
        }
        assert_eq!(sample[0], sketch.min().unwrap_or(f64::NAN));
        assert_eq!(sample[m - 1], sketch.max().unwrap_or(f64::NAN));
    }

    #[test]
    fn parts_round_trip() {
        let mut sketch = QuantileSketch::new(16);
        (0..1000).for_each(|i| sketch.update(f64::from(i % 97)));
        let (min, max) = (sketch.min().unwrap_or(0.0), sketch.max().unwrap_or(0.0));
        let back =
            QuantileSketch::from_parts(16, sketch.levels().to_vec(), sketch.error_rows(), min, max);
        assert_eq!(back.n(), sketch.n());
        assert_eq!(back.weighted(), sketch.weighted());
        assert_eq!((back.min(), back.max()), (sketch.min(), sketch.max()));
    }
}
