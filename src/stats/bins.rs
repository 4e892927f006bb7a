//! Numeric bin edges and bin lookup, bit for bit as numpy computes them.
//!
//! Edges are *inner* edges: the outer bins are open, so `k` edges make `k + 1` bins
//! and bin `i` is `[edge[i-1], edge[i])`, which is `numpy.searchsorted(edges, x,
//! side="right")`. The reference profile builds edges once; the drift evaluator
//! counts current values per bin with [`bin_counts_sorted`].

/// `numpy.quantile(sorted, q)` with numpy's default `method="linear"`, on values
/// already sorted ascending (no NaN).
///
/// numpy computes the virtual index `h = (n - 1) * q`, `i = floor(h)`, `g = h - i`
/// and interpolates with `_lerp`: `v[i] + (v[i+1] - v[i]) * g`, except that for
/// `g >= 0.5` it evaluates `v[i+1] - (v[i+1] - v[i]) * (1 - g)`. The two forms differ
/// in the last bit, which matters because a value equal to an edge changes bin.
/// Returns NaN for an empty slice.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    if h <= 0.0 {
        return sorted[0];
    }
    let floor = h.floor();
    let g = h - floor;
    // h >= 0 here and h <= n - 1, so the cast is exact and in range.
    let i = floor as usize;
    if i + 1 >= n {
        return sorted[n - 1];
    }
    let (lo, hi) = (sorted[i], sorted[i + 1]);
    let diff = hi - lo;
    if g >= 0.5 {
        hi - diff * (1.0 - g)
    } else {
        lo + diff * g
    }
}

/// Inner edges of `bins` quantile bins over sorted reference values:
/// `numpy.unique(numpy.quantile(ref, [k / bins for k in 1..bins]))`.
pub fn quantile_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    if sorted.is_empty() || bins < 2 {
        return Vec::new();
    }
    let edges = (1..bins)
        .map(|k| quantile_sorted(sorted, k as f64 / bins as f64))
        .collect();
    unique_sorted(edges)
}

/// Inner edges of `bins` equal-width bins between `min` and `max`:
/// `numpy.unique(numpy.linspace(min, max, bins + 1)[1:-1])`.
///
/// numpy's `linspace` computes `step = (max - min) / bins` and `k * step + min`
/// (or `k / bins * delta + min` when the step is zero); both are reproduced.
pub fn uniform_edges(min: f64, max: f64, bins: usize) -> Vec<f64> {
    if bins < 2 || !min.is_finite() || !max.is_finite() {
        return Vec::new();
    }
    let delta = max - min;
    let div = bins as f64;
    let step = delta / div;
    let edges = (1..bins)
        .map(|k| {
            let k = k as f64;
            if step == 0.0 {
                k / div * delta + min
            } else {
                k * step + min
            }
        })
        .collect();
    unique_sorted(edges)
}

/// Sorts and removes duplicates like `numpy.unique` (`-0.0 == 0.0`).
fn unique_sorted(mut edges: Vec<f64>) -> Vec<f64> {
    edges.sort_unstable_by(f64::total_cmp);
    edges.dedup_by(|a, b| a == b);
    edges
}

/// The bin of `x`: `numpy.searchsorted(edges, x, side="right")`, the number of
/// edges `<= x`. Bins run from 0 to `edges.len()` inclusive.
#[inline]
pub fn bin_index(edges: &[f64], x: f64) -> usize {
    edges.partition_point(|&e| e <= x)
}

/// Counts of sorted values per bin, by one binary search per edge.
pub fn bin_counts_sorted(edges: &[f64], sorted: &[f64]) -> Vec<u64> {
    let mut counts = Vec::with_capacity(edges.len() + 1);
    let mut start = 0usize;
    for &edge in edges {
        // Values < edge lie before the edge's bin boundary (bin i is [e(i-1), e(i))).
        let end = start + sorted[start..].partition_point(|&v| v < edge);
        counts.push((end - start) as u64);
        start = end;
    }
    counts.push((sorted.len() - start) as u64);
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_of_empty_is_nan() {
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn quantile_of_one_value_is_that_value() {
        assert_eq!(quantile_sorted(&[3.5], 0.3), 3.5);
    }

    #[test]
    fn quantile_interpolates_linearly() {
        let v = [1.0, 2.0, 3.0, 4.0];
        // h = 3 * 0.5 = 1.5 -> between 2 and 3
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
    }

    #[test]
    fn constant_column_has_one_edge() {
        let v = [2.0; 10];
        assert_eq!(quantile_edges(&v, 10), vec![2.0]);
        assert_eq!(uniform_edges(2.0, 2.0, 10), vec![2.0]);
    }

    #[test]
    fn value_on_an_edge_goes_right() {
        let edges = [1.0, 2.0];
        assert_eq!(bin_index(&edges, 0.5), 0);
        assert_eq!(bin_index(&edges, 1.0), 1);
        assert_eq!(bin_index(&edges, 2.0), 2);
        assert_eq!(bin_index(&edges, f64::INFINITY), 2);
    }

    #[test]
    fn counts_by_search_equal_counts_by_lookup() {
        let edges = [1.0, 2.0, 2.5];
        let sorted = [0.0, 1.0, 1.0, 1.5, 2.0, 2.4, 2.5, 9.0];
        let mut expected = vec![0u64; 4];
        for &x in &sorted {
            expected[bin_index(&edges, x)] += 1;
        }
        assert_eq!(bin_counts_sorted(&edges, &sorted), expected);
        assert_eq!(bin_counts_sorted(&[], &sorted), vec![8]);
    }

    #[test]
    fn uniform_edges_follow_linspace() {
        assert_eq!(uniform_edges(0.0, 1.0, 4), vec![0.25, 0.5, 0.75]);
        assert!(uniform_edges(0.0, f64::NAN, 4).is_empty());
    }
}
