//! Counting current values by their place among the reference's values, so
//! that the KS statistic of a sliding window is computed from counts, without
//! sorting the window.
//!
//! A reference with `k` distinct values `u_0 < ... < u_{k-1}` cuts the line into
//! `2k + 1` *places*: place `2t` holds the values strictly between `u_{t-1}`
//! and `u_t` (below `u_0` for `t = 0`), place `2t + 1` the values equal to
//! `u_t`, and place `2k` the values above `u_{k-1}`. A window keeps one count
//! per place ([`PlaceCounts`]): adding or removing a value is one lookup
//! ([`Places::place`], or a walk for sorted values) and one increment.
//!
//! Between two places that hold current values the current CDF is flat, so the
//! largest `|F_ref - F_cur|` over that stretch lies at one of its ends, and in a
//! place between two reference values the reference CDF is flat, so the
//! largest gap there is at its last current value. [`Places::ks_statistic`]
//! therefore visits only the occupied places (found by a bitmap) and evaluates
//! a subset of the CDF pairs scipy's `ks_2samp` evaluates, one that contains the
//! pair where scipy's maximum is reached, with the same `i / n1 - j / n2` in f64:
//! the result is bit-identical to [`super::ks::ks_statistic_sorted`] over the
//! sorted window (a property test holds it to that).
//!
//! Written here because no crate keeps counts over a fixed partition with an
//! exact KS read-out.

use std::collections::BTreeMap;

use arrow::buffer::ScalarBuffer;

/// The reference's distinct values, ready to place current values among them.
#[derive(Debug, Clone)]
pub struct Places {
    /// Distinct finite reference values, ascending (`-0.0` and `0.0` are one).
    distinct: ScalarBuffer<f64>,
    /// `cumulative[t]`: reference values `<= distinct[t]`; `None` when every
    /// reference value is distinct (then it is `t + 1`).
    cumulative: Option<Vec<u64>>,
    /// Reference values (the KS statistic's `n1`).
    rows: u64,
    /// Every [`BLOCK`]-th distinct value (the last of each full block): a
    /// search here stays in the cache and leaves one block to search in the
    /// distinct values, where a plain binary search over millions of them
    /// misses the cache at nearly every probe.
    index: Vec<f64>,
}

/// The distinct values of `sorted` (ascending; `-0.0` and `0.0` are one) and
/// how many values are at or below each: `None` when every value is distinct
/// (then `t + 1`, and the values are shared, not copied).
pub(crate) fn distinct_values(sorted: &ScalarBuffer<f64>) -> (ScalarBuffer<f64>, Option<Vec<u64>>) {
    if sorted.windows(2).all(|w| w[0] < w[1]) {
        return (sorted.clone(), None);
    }
    let mut distinct: Vec<f64> = Vec::new();
    let mut cumulative: Vec<u64> = Vec::new();
    for (i, &v) in sorted.iter().enumerate() {
        match (distinct.last(), cumulative.last_mut()) {
            (Some(&last), Some(c)) if last == v => *c = i as u64 + 1,
            _ => {
                distinct.push(v);
                cumulative.push(i as u64 + 1);
            }
        }
    }
    (ScalarBuffer::from(distinct), Some(cumulative))
}

/// Distinct values per block of [`Places`]'s index (512 bytes).
const BLOCK: usize = 64;

impl Places {
    /// Places among `sorted` (ascending, finite reference values).
    pub fn new(sorted: &ScalarBuffer<f64>) -> Self {
        let rows = sorted.len() as u64;
        let (distinct, cumulative) = distinct_values(sorted);
        let index = distinct
            .iter()
            .skip(BLOCK - 1)
            .step_by(BLOCK)
            .copied()
            .collect();
        Places {
            distinct,
            cumulative,
            rows,
            index,
        }
    }

    /// Distinct reference values (`k`); there are `2k + 1` places.
    pub fn distinct(&self) -> usize {
        self.distinct.len()
    }

    /// Number of places.
    pub fn len(&self) -> usize {
        2 * self.distinct.len() + 1
    }

    /// True when the reference had no values (one place holds everything).
    pub fn is_empty(&self) -> bool {
        self.distinct.is_empty()
    }

    /// Reference values `<=` the `t`-th distinct value.
    #[inline]
    fn at_or_below(&self, t: usize) -> u64 {
        match &self.cumulative {
            Some(c) => c[t],
            None => t as u64 + 1,
        }
    }

    /// The place of the finite value `v` (a binary search; many values at
    /// once: [`Places::place_sorted`]).
    pub fn place(&self, v: f64) -> usize {
        // index[b] is the block's last value: blocks before the first with
        // index[b] >= v hold only values < v, so the lower bound lies in it.
        let block = self.index.partition_point(|&u| u < v);
        let start = block * BLOCK;
        let end = (start + BLOCK).min(self.distinct.len());
        let i = start + self.distinct[start..end].partition_point(|&u| u < v);
        2 * i + usize::from(i < self.distinct.len() && self.distinct[i] == v)
    }

    /// Calls `each` with the place of every value of `sorted` (ascending,
    /// finite), in order: one forward walk through the distinct values,
    /// galloping over stretches no value falls in, so the cost is
    /// `O(m log(k / m))` for `m` values and memory is read forwards (or, for
    /// values far fewer than the distinct ones, one [`Places::place`] each).
    pub fn place_sorted(&self, sorted: &[f64], mut each: impl FnMut(usize)) {
        let k = self.distinct.len();
        if sorted.len().saturating_mul(BLOCK) < k {
            // Values far apart: each gallop would cross many cache lines.
            sorted.iter().for_each(|&v| each(self.place(v)));
            return;
        }
        // Lower bound of the last value placed.
        let mut i = 0usize;
        for &v in sorted {
            // Gallop: probe 1, 2, 4, ... ahead, then search the last stretch.
            let mut step = 1usize;
            let mut lo = i;
            while lo + step <= k && self.distinct[lo + step - 1] < v {
                lo += step;
                step *= 2;
            }
            let hi = (lo + step).min(k);
            i = lo + self.distinct[lo..hi].partition_point(|&u| u < v);
            let exact = i < k && self.distinct[i] == v;
            each(2 * i + usize::from(exact));
        }
    }

    /// Places with a value `< min` or `> max` of the reference: the first and
    /// the last.
    pub fn out_of_range(&self, counts: &PlaceCounts) -> u64 {
        if self.is_empty() {
            return 0;
        }
        counts.get(0) as u64 + counts.get(self.len() - 1) as u64
    }

    /// `scipy.stats.ks_2samp(reference, current).statistic` from the current
    /// values' counts per place: bit-identical to
    /// [`super::ks::ks_statistic_sorted`] over them. NaN when either side is
    /// empty.
    pub fn ks_statistic(&self, counts: &PlaceCounts) -> f64 {
        self.ks_statistic_of(counts.occupied(), counts.total())
    }

    /// [`Places::ks_statistic`] from `(place, count)` of the occupied places,
    /// ascending, whose counts sum to `n2`: as a window's tally reads them
    /// from its sorted values.
    pub fn ks_statistic_of(
        &self,
        occupied: impl IntoIterator<Item = (usize, u32)>,
        n2: u64,
    ) -> f64 {
        if self.rows == 0 || n2 == 0 {
            return f64::NAN;
        }
        let (f1, f2) = (self.rows as f64, n2 as f64);
        let k = self.distinct.len();
        let gap = |i: u64, j: u64| (i as f64 / f1 - j as f64 / f2).abs();
        // Most pairs are far below the largest gap so far: a pair is screened
        // with reciprocals (two multiplications, within 1e-15 of the exact
        // gap) and divided out exactly only when it may reach the maximum, so
        // the result is still scipy's bits.
        let (r1, r2) = (1.0 / f1, 1.0 / f2);
        let mut d = 0.0f64;
        let mut see = |i: u64, j: u64| {
            if (i as f64 * r1 - j as f64 * r2).abs() + 1e-12 >= d {
                d = d.max(gap(i, j));
            }
        };
        // Current values at or below the places visited so far.
        let mut j = 0u64;
        // The first distinct reference value whose CDF pair is not yet seen.
        let mut next = 0usize;
        for (place, count) in occupied {
            // Reference values t < place / 2 have their pair (R(t), j) with
            // the current CDF flat at j: its extremes are at the ends.
            let end = place / 2;
            if next < end {
                see(self.at_or_below(next), j);
                see(self.at_or_below(end - 1), j);
                next = end;
            }
            j += count as u64;
            if place % 2 == 1 {
                // Equal to u_t: both CDFs jump here.
                see(self.at_or_below(end), j);
                next = end + 1;
            } else {
                // Strictly between u_{t-1} and u_t: the reference CDF is flat
                // at R(t - 1); the largest current value there is the extreme.
                let below = if end == 0 {
                    0
                } else {
                    self.at_or_below(end - 1)
                };
                see(below, j);
            }
        }
        if next < k {
            see(self.at_or_below(next), j);
            see(self.at_or_below(k - 1), j);
        }
        d.min(1.0)
    }
}

/// Counts of current values per place: dense (a count per place and a bitmap
/// of the occupied ones, so reading costs the occupied places) when the
/// window may fill a good share of the places, sparse (an ordered map of the
/// occupied ones) when it is small against them, so that a 10,000-row window
/// against a million-value reference does not hold eight megabytes of zeros
/// per column.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceCounts {
    store: Store,
    places: usize,
    total: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum Store {
    Dense {
        counts: Vec<u32>,
        occupied: Vec<u64>,
    },
    Sparse(BTreeMap<usize, u32>),
}

/// A sparse entry's cost against a dense place's, in bytes (a B-tree entry
/// with its share of nodes, against a `u32`).
const SPARSE_ENTRY_BYTES: usize = 24;

impl PlaceCounts {
    /// Zero counts over `places` places, dense.
    pub fn new(places: usize) -> Self {
        PlaceCounts {
            store: Store::Dense {
                counts: vec![0; places],
                occupied: vec![0; places.div_ceil(64)],
            },
            places,
            total: 0,
        }
    }

    /// Zero counts over `places` places for at most `values` values at once:
    /// sparse when that takes less memory than dense.
    pub fn for_values(places: usize, values: usize) -> Self {
        if values.saturating_mul(SPARSE_ENTRY_BYTES) < places.saturating_mul(4) {
            PlaceCounts {
                store: Store::Sparse(BTreeMap::new()),
                places,
                total: 0,
            }
        } else {
            Self::new(places)
        }
    }

    /// True when the counts are kept sparse.
    pub fn is_sparse(&self) -> bool {
        matches!(self.store, Store::Sparse(_))
    }

    /// Values counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The count at `place` (0 outside).
    pub fn get(&self, place: usize) -> u32 {
        match &self.store {
            Store::Dense { counts, .. } => counts.get(place).copied().unwrap_or(0),
            Store::Sparse(map) => map.get(&place).copied().unwrap_or(0),
        }
    }

    /// Zero counts again, at the cost of the occupied places (the memory is
    /// kept: no page is allocated or faulted in again).
    pub fn clear(&mut self) {
        match &mut self.store {
            Store::Dense { counts, occupied } => {
                for (w, word) in occupied.iter_mut().enumerate() {
                    let mut bits = *word;
                    while bits != 0 {
                        let b = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        counts[w * 64 + b] = 0;
                    }
                    *word = 0;
                }
            }
            Store::Sparse(map) => map.clear(),
        }
        self.total = 0;
    }

    /// Counts one more value at `place`.
    #[inline]
    pub fn add(&mut self, place: usize) {
        if place >= self.places {
            debug_assert!(false, "place {place} out of range");
            return;
        }
        match &mut self.store {
            Store::Dense { counts, occupied } => {
                let c = &mut counts[place];
                if *c == 0 {
                    occupied[place / 64] |= 1 << (place % 64);
                }
                // A window holds at most u32::MAX rows (config checks window.size).
                *c = c.saturating_add(1);
            }
            Store::Sparse(map) => {
                let c = map.entry(place).or_insert(0);
                *c = c.saturating_add(1);
            }
        }
        self.total += 1;
    }

    /// Counts one value fewer at `place` (one that was added).
    #[inline]
    pub fn remove(&mut self, place: usize) {
        let removed = match &mut self.store {
            Store::Dense { counts, occupied } => match counts.get_mut(place) {
                Some(c) if *c > 0 => {
                    *c -= 1;
                    if *c == 0 {
                        occupied[place / 64] &= !(1 << (place % 64));
                    }
                    true
                }
                _ => false,
            },
            Store::Sparse(map) => match map.get_mut(&place) {
                Some(c) => {
                    *c -= 1;
                    if *c == 0 {
                        map.remove(&place);
                    }
                    true
                }
                None => false,
            },
        };
        debug_assert!(removed, "removing from an empty place {place}");
        if removed {
            self.total -= 1;
        }
    }

    /// `(place, count)` of every occupied place, ascending.
    pub fn occupied(&self) -> Vec<(usize, u32)> {
        match &self.store {
            Store::Dense { counts, occupied } => {
                // The occupied places first, then their counts in one pass of
                // independent loads: with few values spread over millions of
                // places each count is a cache miss, and apart from other work
                // the processor overlaps them (measured 2x faster at 1e4
                // values over 2e6 places).
                let places: Vec<usize> = occupied
                    .iter()
                    .enumerate()
                    .filter(|(_, &word)| word != 0)
                    .flat_map(|(w, &word)| {
                        let mut bits = word;
                        std::iter::from_fn(move || {
                            if bits == 0 {
                                return None;
                            }
                            let b = bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            Some(w * 64 + b)
                        })
                    })
                    .collect();
                let values: Vec<u32> = places.iter().map(|&p| counts[p]).collect();
                places.into_iter().zip(values).collect()
            }
            Store::Sparse(map) => map.iter().map(|(&p, &c)| (p, c)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ks::ks_statistic_sorted;
    use proptest::prelude::*;

    fn places_of(reference: &[f64]) -> Places {
        let mut r = reference.to_vec();
        crate::stats::sort_values(&mut r);
        Places::new(&ScalarBuffer::from(r))
    }

    fn counts_of(places: &Places, current: &[f64]) -> PlaceCounts {
        let mut counts = PlaceCounts::new(places.len());
        for &v in current {
            counts.add(places.place(v));
        }
        counts
    }

    /// The place by definition: a linear scan.
    fn place_by_scan(distinct: &[f64], v: f64) -> usize {
        let below = distinct.iter().filter(|&&u| u < v).count();
        let equal = distinct.contains(&v);
        2 * below + usize::from(equal)
    }

    #[test]
    fn places_split_the_line_at_each_distinct_value() {
        let p = places_of(&[1.0, 2.0, 2.0, 4.0]);
        assert_eq!(p.distinct(), 3);
        assert_eq!(p.len(), 7);
        let got: Vec<usize> = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 9.0]
            .iter()
            .map(|&v| p.place(v))
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(p.at_or_below(1), 3, "two 2.0s");
    }

    #[test]
    fn negative_zero_and_zero_share_a_place() {
        let p = places_of(&[-1.0, -0.0, 0.0, 1.0]);
        assert_eq!(p.distinct(), 3);
        assert_eq!(p.place(0.0), p.place(-0.0));
        assert_eq!(p.place(0.0), 3);
    }

    #[test]
    fn an_empty_reference_has_one_place_and_no_statistic() {
        let p = places_of(&[]);
        assert_eq!(p.len(), 1);
        assert_eq!(p.place(3.0), 0);
        let c = counts_of(&p, &[3.0]);
        assert!(p.ks_statistic(&c).is_nan());
        assert_eq!(p.out_of_range(&c), 0);
    }

    #[test]
    fn counts_know_their_occupied_places() {
        for mut c in [PlaceCounts::new(200), PlaceCounts::for_values(200, 3)] {
            let empty = c.clone();
            for place in [3, 3, 64, 199, 70] {
                c.add(place);
            }
            c.remove(70);
            assert_eq!(c.total(), 4);
            assert_eq!(c.occupied(), vec![(3, 2), (64, 1), (199, 1)]);
            c.remove(3);
            c.remove(3);
            assert_eq!(c.get(3), 0);
            assert_eq!(c.occupied().len(), 2);
            c.clear();
            assert_eq!((c.total(), c.get(64), c.occupied().len()), (0, 0, 0));
            assert_eq!(c, empty);
        }
    }

    #[test]
    fn counts_are_sparse_only_when_that_is_smaller() {
        assert!(PlaceCounts::for_values(2_000_001, 10_000).is_sparse());
        assert!(!PlaceCounts::for_values(2_000_001, 1_000_000).is_sparse());
        assert!(!PlaceCounts::new(10).is_sparse());
    }

    #[test]
    fn out_of_range_counts_the_outer_places() {
        let p = places_of(&[1.0, 2.0, 3.0]);
        let c = counts_of(&p, &[0.0, 1.0, 2.5, 3.0, 3.5, 7.0]);
        assert_eq!(p.out_of_range(&c), 3);
    }

    fn value() -> impl Strategy<Value = f64> {
        // Few distinct values (ties on both sides), signed zeros, and wide
        // magnitudes.
        prop_oneof![
            (-6i32..6).prop_map(f64::from),
            Just(-0.0),
            -1e3f64..1e3,
            prop::num::f64::NORMAL,
        ]
    }

    proptest! {
        #[test]
        fn place_matches_a_scan(
            reference in prop::collection::vec(value(), 0..300),
            current in prop::collection::vec(value(), 0..100),
        ) {
            let p = places_of(&reference);
            let distinct: Vec<f64> = p.distinct.to_vec();
            for &v in &current {
                prop_assert_eq!(p.place(v), place_by_scan(&distinct, v), "value {}", v);
            }
            let mut sorted = current.clone();
            crate::stats::sort_values(&mut sorted);
            let mut walked = Vec::new();
            p.place_sorted(&sorted, |place| walked.push(place));
            let looked_up: Vec<usize> = sorted.iter().map(|&v| p.place(v)).collect();
            prop_assert_eq!(walked, looked_up);
        }

        #[test]
        fn ks_from_counts_is_bit_identical_to_the_sorted_merge(
            reference in prop::collection::vec(value(), 1..300),
            current in prop::collection::vec(value(), 1..300),
            sparse in any::<bool>(),
        ) {
            let p = places_of(&reference);
            let mut counts = if sparse {
                PlaceCounts::for_values(p.len(), 0)
            } else {
                PlaceCounts::new(p.len())
            };
            for &v in &current {
                counts.add(p.place(v));
            }
            let (mut r, mut c) = (reference.clone(), current.clone());
            crate::stats::sort_values(&mut r);
            crate::stats::sort_values(&mut c);
            let expected = ks_statistic_sorted(&r, &c);
            prop_assert_eq!(p.ks_statistic(&counts).to_bits(), expected.to_bits());
        }
    }
}
