//! The first Wasserstein (earth mover's) distance between the reference's
//! values and the window's: `scipy.stats.wasserstein_distance(ref, cur)`, the
//! area between the two empirical CDFs, `W = integral of |F_ref - F_cur|`.
//!
//! scipy merges both sorted samples; with a million reference values that walk
//! costs a million steps per column and evaluation. Here the reference is
//! prepared once ([`ReferenceCdf`]): its distinct values, how many values lie
//! at or below each, and the running integral of its CDF up to each, so that
//! the integral of `F_ref` over any interval is two lookups. The window's
//! sorted values cut the line into stretches on which `F_cur` is flat at some
//! `b`; on each, `F_ref` (non-decreasing) is below `b` up to the first
//! reference value where it reaches `b` and above from there, so the stretch
//! contributes `b (s - a) - (G(s) - G(a)) + (G(c) - G(s)) - b (c - s)` for the
//! stretch `[a, c)`, its crossing `s` and `G` the integral of `F_ref`. The
//! cost is `O(m log(k / m))` for `m` window values and `k` distinct reference
//! values, found by forward gallops, the memory one `f64` per distinct
//! reference value. The sums are compensated (Neumaier), so the result stays
//! within a few units in the last place of scipy's (the oracle fixtures hold it
//! to 1e-9).
//!
//! Written here because no crate computes the distance against a prepared
//! reference (the `wasserstein` helpers around merge both samples every time).

use arrow::buffer::ScalarBuffer;

/// A reference's CDF, ready for [`ReferenceCdf::wasserstein`].
#[derive(Debug, Clone)]
pub struct ReferenceCdf {
    /// Distinct finite values, ascending.
    distinct: ScalarBuffer<f64>,
    /// Values `<=` each distinct value; `None` when all are distinct.
    cumulative: Option<Vec<u64>>,
    /// Values.
    rows: u64,
    /// `prefix[t]`: the integral of the reference CDF from `distinct[0]` to
    /// `distinct[t]`.
    prefix: Vec<f64>,
}

/// Neumaier's compensated sum.
#[derive(Debug, Default, Clone, Copy)]
struct Sum {
    sum: f64,
    carry: f64,
}

impl Sum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.carry += (self.sum - t) + x;
        } else {
            self.carry += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(self) -> f64 {
        self.sum + self.carry
    }
}

/// The first index in `[from, len)` where `reached(i)` holds (`reached`
/// monotone), searched by galloping forwards from `from`; `len` if none.
fn gallop(from: usize, len: usize, reached: impl Fn(usize) -> bool) -> usize {
    let mut lo = from;
    let mut step = 1usize;
    while lo + step <= len && !reached(lo + step - 1) {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step).min(len);
    // In [lo, hi): not reached before lo, reached at hi - 1 (or hi == len).
    let (mut a, mut b) = (lo, hi);
    while a < b {
        let mid = a + (b - a) / 2;
        if reached(mid) {
            b = mid;
        } else {
            a = mid + 1;
        }
    }
    a
}

impl ReferenceCdf {
    /// Prepares `sorted` (ascending finite reference values).
    pub fn new(sorted: &ScalarBuffer<f64>) -> Self {
        let rows = sorted.len() as u64;
        let (distinct, cumulative) = super::places::distinct_values(sorted);
        let mut cdf = ReferenceCdf {
            distinct,
            cumulative,
            rows,
            prefix: Vec::new(),
        };
        let mut integral = Sum::default();
        let mut prefix = Vec::with_capacity(cdf.distinct.len());
        for t in 0..cdf.distinct.len() {
            if t > 0 {
                integral.add(cdf.level(t - 1) * (cdf.distinct[t] - cdf.distinct[t - 1]));
            }
            prefix.push(integral.value());
        }
        cdf.prefix = prefix;
        cdf
    }

    /// Reference values `<=` the `t`-th distinct value.
    fn at_or_below(&self, t: usize) -> u64 {
        match &self.cumulative {
            Some(c) => c[t],
            None => t as u64 + 1,
        }
    }

    /// The reference CDF from the `t`-th distinct value to the next.
    fn level(&self, t: usize) -> f64 {
        self.at_or_below(t) as f64 / self.rows as f64
    }

    /// The integral of the reference CDF up to `x`, where `below` distinct
    /// values are `<= x`.
    fn integral(&self, x: f64, below: usize) -> f64 {
        match below {
            0 => 0.0,
            b => self.prefix[b - 1] + self.level(b - 1) * (x - self.distinct[b - 1]),
        }
    }

    /// Where each of `sorted` (ascending finite values) lies: its place among
    /// the distinct reference values (`2t` strictly between values `t - 1`
    /// and `t`, `2t + 1` on value `t`, as [`super::places::Places`] numbers
    /// them), found by forward gallops.
    pub fn place(&self, sorted: &[f64]) -> Vec<u32> {
        let k = self.distinct.len();
        let mut below = 0usize;
        sorted
            .iter()
            .map(|&v| {
                below = gallop(below, k, |t| self.distinct[t] > v);
                let exact = below > 0 && self.distinct[below - 1] == v;
                (2 * below - usize::from(exact)) as u32
            })
            .collect()
    }

    /// The integral of the reference CDF up to `v`, whose place is `place`:
    /// what [`ReferenceCdf::wasserstein_placed`] needs of each current value.
    pub fn integral_at(&self, v: f64, place: u32) -> f64 {
        self.integral(v, (place as usize).div_ceil(2))
    }

    /// `scipy.stats.wasserstein_distance(reference, current)` for `current`
    /// ascending finite values; NaN when either side is empty.
    pub fn wasserstein(&self, current: &[f64]) -> f64 {
        let places = self.place(current);
        let integrals: Vec<f64> = current
            .iter()
            .zip(&places)
            .map(|(&v, &p)| self.integral_at(v, p))
            .collect();
        self.wasserstein_placed(current, |i| (places[i], integrals[i]))
    }

    /// [`ReferenceCdf::wasserstein`] with the place ([`ReferenceCdf::place`])
    /// and integral ([`ReferenceCdf::integral_at`]) of the `i`-th current value
    /// given by `located(i)`, as the window's tally keeps them with its values:
    /// then the walk reads them forwards, and looks into the reference only
    /// where the two CDFs cross between two current values.
    pub fn wasserstein_placed(
        &self,
        current: &[f64],
        located: impl Fn(usize) -> (u32, f64),
    ) -> f64 {
        let (n, m) = (self.rows, current.len() as u64);
        let k = self.distinct.len();
        if n == 0 || m == 0 {
            return f64::NAN;
        }
        let below = |place: u32| (place as usize).div_ceil(2);
        let mut total = Sum::default();
        let mut i = 0usize;
        // The stretch before the first current value: F_cur = 0. `below_a`:
        // distinct reference values <= the stretch's start.
        let mut a = current[0];
        let (place_a, mut g_a) = located(0);
        let mut below_a = below(place_a);
        total.add(g_a);
        while i < current.len() {
            // Current values equal to `a`: the CDF jumps there.
            let mut j = i;
            while j < current.len() && current[j] == a {
                j += 1;
            }
            let count = j as u64;
            i = j;
            if count == m {
                // The last stretch: F_cur = 1 from `a` on.
                let end = a.max(self.distinct[k - 1]);
                let below_end = if end > a { k } else { below_a };
                total.add((end - a) - (self.integral(end, below_end) - g_a));
                break;
            }
            let c = current[i];
            let b = count as f64 / m as f64;
            let (place_c, g_c) = located(i);
            let below_c = below(place_c);
            // F_ref reaches b (count / m, compared in integers) at the first
            // distinct value where at_or_below * m >= count * n. It is constant
            // on [a, first distinct value > a): when it has reached b there,
            // the crossing is `a`; when it has not reached b at the last
            // distinct value below c, the crossing is `c`; else it lies among
            // the distinct values strictly between a and c.
            let level = u128::from(count) * u128::from(n);
            let reached = |t: usize| u128::from(self.at_or_below(t)) * u128::from(m) >= level;
            // Distinct values < c: those <= c, less c itself when it is one.
            let below_strictly = below_c - (place_c % 2) as usize;
            let (s, g_s) = if below_a > 0 && reached(below_a - 1) {
                (a, g_a)
            } else if below_strictly > below_a && reached(below_strictly - 1) {
                let t = gallop(below_a, below_strictly - 1, reached);
                let s = self.distinct[t];
                (s, self.integral(s, t + 1))
            } else {
                (c, g_c)
            };
            // One compensated add per stretch: its two parts are summed on
            // their own, off the running total's dependency chain.
            total.add((b * (s - a) - (g_s - g_a)) + ((g_c - g_s) - b * (c - s)));
            a = c;
            below_a = below_c;
            g_a = g_c;
        }
        total.value().max(0.0)
    }
}

/// The two-sample KS statistic and the Wasserstein distance of two ascending
/// finite samples in one merge of both (scipy's algorithm for both): at each
/// distinct value `x` of either, with `i` reference and `j` current values
/// `<= x`, the gap `|i / n - j / m|` is a KS candidate and, times the distance
/// to the next distinct value, a term of the distance (compensated sum, as in
/// [`ReferenceCdf::wasserstein`], to within a few units in the last place).
/// NaN for both when either side is empty.
///
/// `O(n + m)` with nothing allocated: for one comparison of samples of
/// similar sizes (`check`) this is cheaper than preparing the reference's CDF,
/// which pays off only when the reference is compared many times.
///
/// The gaps are computed with reciprocals (two divisions per point were
/// most of the walk's cost); scipy's `|i / n - j / m|`, which gives the KS
/// statistic its exact bits (those of [`super::ks::ks_statistic_sorted`]), is
/// computed only where the gap comes within rounding of the largest so far
/// ([`KsMax`]).
pub fn ks_and_wasserstein_by_merge(reference: &[f64], current: &[f64]) -> (f64, f64) {
    let (n, m) = (reference.len(), current.len());
    let (Some(&r0), Some(&c0)) = (reference.first(), current.first()) else {
        return (f64::NAN, f64::NAN);
    };
    let (inv_n, inv_m) = (1.0 / n as f64, 1.0 / m as f64);
    let mut ks = KsMax::new(n, m);
    let (mut i, mut j) = (0usize, 0usize);
    let mut total = Sum::default();
    let mut x = r0.min(c0);
    loop {
        // `<=` takes -0.0 and 0.0 as one value, as every other path does.
        while i < n && reference[i] <= x {
            i += 1;
        }
        while j < m && current[j] <= x {
            j += 1;
        }
        let gap = (i as f64 * inv_n - j as f64 * inv_m).abs();
        ks.point(gap, i, j);
        let next = match (reference.get(i), current.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        total.add(gap * (next - x));
        x = next;
    }
    (ks.statistic(), total.value().max(0.0))
}

/// The KS statistic's running maximum, scipy's `|i / n - j / m|` (two
/// roundings and a subtraction: within `3` units `u = 2^-53` of the exact
/// gap) computed only at points whose cheap gap (reciprocals: within `5 u`)
/// comes within [`KsMax::TOLERANCE`] of the largest cheap gap so far. A point
/// further below is exactly more than `6 u` under the point of that largest
/// cheap gap, so its scipy gap is smaller too: the maximum is the same bits.
struct KsMax {
    f_n: f64,
    f_m: f64,
    /// The largest cheap gap so far.
    cheap: f64,
    statistic: f64,
}

impl KsMax {
    /// `16 u` is enough (`5 + 5 + 3 + 3`); twice that.
    const TOLERANCE: f64 = 16.0 * f64::EPSILON;

    fn new(n: usize, m: usize) -> Self {
        KsMax {
            f_n: n as f64,
            f_m: m as f64,
            cheap: 0.0,
            statistic: 0.0,
        }
    }

    /// The point with `i` and `j` values at or below it, whose cheap gap is
    /// `gap`.
    #[inline(always)]
    fn point(&mut self, gap: f64, i: usize, j: usize) {
        if gap + Self::TOLERANCE >= self.cheap {
            self.cheap = self.cheap.max(gap);
            let exact = (i as f64 / self.f_n - j as f64 / self.f_m).abs();
            self.statistic = self.statistic.max(exact);
        }
    }

    fn statistic(&self) -> f64 {
        self.statistic.min(1.0)
    }
}

/// `numpy.std(values)`: the root of the mean squared deviation from the mean,
/// both sums compensated ([`lanes_sum`]). NaN when empty.
pub fn std_dev(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let n = values.len() as f64;
    let mean = lanes_sum(values, |v| v) / n;
    (lanes_sum(values, |v| (v - mean) * (v - mean)) / n).sqrt()
}

/// The compensated (Neumaier) sum of `f` of each value, in four interleaved
/// lanes: four independent chains of additions keep the core busy where one
/// waits on each addition's latency (the standard deviation of a million
/// reference values took 8 ms one lane at a time). The lanes' sums and
/// carries are added compensated at the end.
fn lanes_sum(values: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [Sum::default(); 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            lane.add(f(v));
        }
    }
    let mut total = Sum::default();
    for lane in lanes {
        total.add(lane.sum);
        total.add(lane.carry);
    }
    for &v in rest {
        total.add(f(v));
    }
    total.value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// scipy's algorithm: merge both samples, sum |F_ref - F_cur| times the gaps.
    fn by_merge(reference: &[f64], current: &[f64]) -> f64 {
        let mut all: Vec<f64> = reference.iter().chain(current).copied().collect();
        all.sort_by(f64::total_cmp);
        let cdf = |sample: &[f64], x: f64| {
            sample.partition_point(|&v| v <= x) as f64 / sample.len() as f64
        };
        all.windows(2)
            .map(|w| (cdf(reference, w[0]) - cdf(current, w[0])).abs() * (w[1] - w[0]))
            .sum()
    }

    fn cdf_of(values: &[f64]) -> ReferenceCdf {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        ReferenceCdf::new(&ScalarBuffer::from(v))
    }

    fn sorted(values: &[f64]) -> Vec<f64> {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn by_hand() {
        // scipy.stats.wasserstein_distance([0, 1, 3], [5, 6, 8]) == 5.0
        let w = cdf_of(&[0.0, 1.0, 3.0]).wasserstein(&[5.0, 6.0, 8.0]);
        assert!((w - 5.0).abs() < 1e-12, "{w}");
        // ([0, 10], [5]) == 5.0; ([1, 2, 3], [1, 2, 3]) == 0
        assert!((cdf_of(&[0.0, 10.0]).wasserstein(&[5.0]) - 5.0).abs() < 1e-12);
        // Identical samples: 0 up to the rounding of the running integral.
        assert!(cdf_of(&[1.0, 2.0, 3.0]).wasserstein(&[1.0, 2.0, 3.0]) < 1e-15);
        assert!(cdf_of(&[]).wasserstein(&[1.0]).is_nan());
        assert!(cdf_of(&[1.0]).wasserstein(&[]).is_nan());
        let (ks, w) = ks_and_wasserstein_by_merge(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]);
        assert_eq!((ks, w), (1.0, 5.0));
        assert!(ks_and_wasserstein_by_merge(&[], &[1.0]).0.is_nan());
        assert!(ks_and_wasserstein_by_merge(&[1.0], &[]).1.is_nan());
        assert_eq!(std_dev(&[2.0, 4.0]), 1.0);
    }

    #[test]
    fn the_standard_deviation_is_numpys() {
        // numpy.std([1, 2, 3, 4, 5, 6, 7]) == 2.0; ([0.1] * 10) == 0 up to rounding
        assert_eq!(std_dev(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]), 2.0);
        assert!(std_dev(&[0.1; 10]) < 1e-16);
        // Large offset, small spread: compensated sums keep every digit
        // (numpy.std([1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4, 1e9 + 5]) == sqrt(2)).
        let v = [1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0, 1e9 + 4.0, 1e9 + 5.0];
        assert!((std_dev(&v) - 2f64.sqrt()).abs() < 1e-12, "{}", std_dev(&v));
        assert!(std_dev(&[]).is_nan());
    }

    proptest! {
        #[test]
        fn the_standard_deviation_equals_an_exact_one(
            values in proptest::collection::vec(-1000i32..1000, 1..300),
            scale in prop_oneof![Just(1.0), Just(0.125), Just(1024.0)],
        ) {
            // Integers times a power of two: the mean and the squares are
            // exact in i128, so the variance is known exactly.
            let v: Vec<f64> = values.iter().map(|&x| f64::from(x) * scale).collect();
            let n = values.len() as i128;
            let sum: i128 = values.iter().map(|&x| i128::from(x)).sum();
            // n^2 var = n sum(x^2) - sum(x)^2, in units of scale^2.
            let sq: i128 = values.iter().map(|&x| i128::from(x) * i128::from(x)).sum();
            let var = (n * sq - sum * sum) as f64 / (n * n) as f64 * scale * scale;
            let got = std_dev(&v);
            prop_assert!((got - var.sqrt()).abs() <= 1e-12 * var.sqrt().max(1e-300), "{got} against {}", var.sqrt());
        }

        #[test]
        fn equals_the_merge_of_both_samples(
            reference in proptest::collection::vec(-50i32..50, 1..80),
            current in proptest::collection::vec(-60i32..60, 1..80),
            scale in prop_oneof![Just(1.0), Just(0.25), Just(1e-3), Just(1e6)],
        ) {
            // Integers (scaled) give ties on both sides and shared values.
            let r: Vec<f64> = reference.iter().map(|&v| v as f64 * scale).collect();
            let c: Vec<f64> = current.iter().map(|&v| v as f64 * scale).collect();
            let want = by_merge(&sorted(&r), &sorted(&c));
            let got = cdf_of(&r).wasserstein(&sorted(&c));
            prop_assert!((got - want).abs() <= 1e-12 * want.abs().max(scale), "got {got}, want {want}");
            // Symmetric.
            let back = cdf_of(&c).wasserstein(&sorted(&r));
            prop_assert!((got - back).abs() <= 1e-12 * want.abs().max(scale));
        }

        #[test]
        fn one_merge_gives_the_ks_statistic_and_the_distance_of_the_prepared_cdf(
            reference in proptest::collection::vec(-50i32..50, 1..120),
            current in proptest::collection::vec(-60i32..60, 1..120),
            scale in prop_oneof![Just(1.0), Just(0.25), Just(1e-3), Just(1e6)],
            zeros in proptest::bool::ANY,
        ) {
            // Integers (scaled) give ties on both sides and shared values;
            // `zeros` turns the reference's zeros into -0.0.
            let r: Vec<f64> = reference
                .iter()
                .map(|&v| if zeros && v == 0 { -0.0 } else { v as f64 * scale })
                .collect();
            let c: Vec<f64> = current.iter().map(|&v| v as f64 * scale).collect();
            let (r, c) = (sorted(&r), sorted(&c));
            let (ks, w) = ks_and_wasserstein_by_merge(&r, &c);
            let want_ks = crate::stats::ks::ks_statistic_sorted(&r, &c);
            prop_assert_eq!(ks.to_bits(), want_ks.to_bits(), "ks {} against {}", ks, want_ks);
            let want_w = cdf_of(&r).wasserstein(&c);
            prop_assert!((w - want_w).abs() <= 1e-12 * want_w.abs().max(scale), "w {w}, prepared {want_w}");
            let by_hand = by_merge(&r, &c);
            prop_assert!((w - by_hand).abs() <= 1e-12 * by_hand.abs().max(scale), "w {w}, scipy's sum {by_hand}");
        }

        #[test]
        fn the_branchless_merge_keeps_the_ks_bits_on_larger_samples(
            reference in proptest::collection::vec(-1e3f64..1e3, 1..3000),
            current in proptest::collection::vec(-1e3f64..1e3, 1..3000),
            rounding in prop_oneof![Just(0.0), Just(1.0), Just(100.0)],
        ) {
            // `rounding` > 0 rounds to multiples of it: long runs of ties.
            let round = |v: &f64| if rounding > 0.0 { (v / rounding).round() * rounding } else { *v };
            let r = sorted(&reference.iter().map(round).collect::<Vec<_>>());
            let c = sorted(&current.iter().map(round).collect::<Vec<_>>());
            let (ks, w) = ks_and_wasserstein_by_merge(&r, &c);
            let want_ks = crate::stats::ks::ks_statistic_merge(&r, &c);
            prop_assert_eq!(ks.to_bits(), want_ks.to_bits(), "ks {} against {}", ks, want_ks);
            let want_w = cdf_of(&r).wasserstein(&c);
            prop_assert!((w - want_w).abs() <= 1e-12 * want_w.abs().max(1.0), "w {w}, prepared {want_w}");
        }

        #[test]
        fn continuous_values_equal_the_merge(
            reference in proptest::collection::vec(-1e3f64..1e3, 1..200),
            current in proptest::collection::vec(-1e3f64..1e3, 1..200),
        ) {
            let want = by_merge(&sorted(&reference), &sorted(&current));
            let got = cdf_of(&reference).wasserstein(&sorted(&current));
            prop_assert!((got - want).abs() <= 1e-9 * want.max(1.0), "got {got}, want {want}");
        }
    }
}
