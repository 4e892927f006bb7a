//! A mergeable frequent-items summary for categorical columns in sketch
//! profiles: exact up to `2 * capacity` distinct categories, then the
//! Misra-Gries summary in its mergeable form (Agarwal, Cormode, Huang,
//! Phillips, Wei and Yi, "Mergeable summaries", PODS 2012).
//!
//! When more than `2 * capacity` categories are held, the `(capacity + 1)`-th
//! largest count `c` is subtracted from every count and the categories left at
//! zero or below are dropped; `c` is added to the error. Every held count is then
//! at most [`FrequentItems::error`] below the true count (and never above it),
//! a category not held has a true count of at most `error`, and
//! `error <= n / (capacity + 1)`. Merging adds the counts and the errors, then
//! reduces the same way. The rows no held category accounts for,
//! `n - sum(counts)`, are reported as [`FrequentItems::rest`] (the profile puts
//! them in the `__other__` bin).
//!
//! Written here because the frequent-items crates found keep `u64` hashes
//! rather than the category text, or do not merge.

use std::collections::HashMap;

/// Default number of categories a summary keeps after a reduction.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Category counts, exact until too many distinct categories.
#[derive(Debug, Clone, PartialEq)]
pub struct FrequentItems {
    capacity: usize,
    counts: HashMap<String, u64>,
    n: u64,
    error: u64,
}

impl FrequentItems {
    /// An empty summary keeping `capacity` categories (at least 1) after a
    /// reduction.
    pub fn new(capacity: usize) -> FrequentItems {
        FrequentItems {
            capacity: capacity.max(1),
            counts: HashMap::new(),
            n: 0,
            error: 0,
        }
    }

    /// Rebuilds a summary from its parts (a profile file).
    pub fn from_parts(
        capacity: usize,
        counts: Vec<(String, u64)>,
        rest: u64,
        error: u64,
    ) -> FrequentItems {
        let n = counts.iter().map(|(_, c)| c).sum::<u64>() + rest;
        FrequentItems {
            capacity: capacity.max(1),
            counts: counts.into_iter().collect(),
            n,
            error,
        }
    }

    /// Categories kept after a reduction.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Occurrences added.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The most any held count is below the true count (0 while exact).
    pub fn error(&self) -> u64 {
        self.error
    }

    /// Occurrences no held category accounts for.
    pub fn rest(&self) -> u64 {
        self.n - self.counts.values().sum::<u64>()
    }

    /// Adds one occurrence of `category`.
    pub fn add(&mut self, category: &str) {
        self.n += 1;
        if let Some(c) = self.counts.get_mut(category) {
            *c += 1;
            return;
        }
        self.counts.insert(category.to_string(), 1);
        self.reduce_if_full();
    }

    /// Adds every occurrence `other` holds (its capacity is ignored; this one's
    /// is kept).
    pub fn merge(&mut self, other: &FrequentItems) {
        self.n += other.n;
        self.error += other.error;
        for (category, &c) in &other.counts {
            *self.counts.entry(category.clone()).or_insert(0) += c;
        }
        self.reduce_if_full();
    }

    fn reduce_if_full(&mut self) {
        if self.counts.len() <= 2 * self.capacity {
            return;
        }
        let mut sizes: Vec<u64> = self.counts.values().copied().collect();
        let (_, &mut cut, _) = sizes.select_nth_unstable_by(self.capacity, |a, b| b.cmp(a));
        self.counts.retain(|_, c| {
            *c = c.saturating_sub(cut);
            *c > 0
        });
        self.error += cut;
    }

    /// The held categories and counts, in byte order of the text.
    pub fn counts(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> =
            self.counts.iter().map(|(k, &v)| (k.clone(), v)).collect();
        out.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Zipf-like stream over `distinct` categories.
    fn stream(n: usize, distinct: u64, seed: u64) -> Vec<String> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                format!("k{}", ((distinct as f64).powf(u) as u64).min(distinct - 1))
            })
            .collect()
    }

    fn truth(items: &[String]) -> HashMap<String, u64> {
        let mut t = HashMap::new();
        for i in items {
            *t.entry(i.clone()).or_insert(0) += 1;
        }
        t
    }

    fn assert_within(summary: &FrequentItems, truth: &HashMap<String, u64>) {
        let held: HashMap<String, u64> = summary.counts().into_iter().collect();
        for (category, &t) in truth {
            let est = held.get(category).copied().unwrap_or(0);
            assert!(est <= t, "{category}: {est} > {t}");
            assert!(
                t - est <= summary.error(),
                "{category}: {t} - {est} > {}",
                summary.error()
            );
        }
        assert!(summary.error() <= summary.n() / (summary.capacity() as u64 + 1));
        assert_eq!(
            summary.n(),
            held.values().sum::<u64>() + summary.rest(),
            "every occurrence is held or in the rest"
        );
    }

    #[test]
    fn exact_below_twice_the_capacity_and_bounded_above() {
        let items = stream(20_000, 50, 3);
        let mut small = FrequentItems::new(100);
        items.iter().for_each(|i| small.add(i));
        assert_eq!((small.error(), small.rest()), (0, 0));
        let t = truth(&items);
        assert_eq!(small.counts().len(), t.len());
        let items = stream(50_000, 5_000, 4);
        let mut summary = FrequentItems::new(64);
        items.iter().for_each(|i| summary.add(i));
        assert!(summary.error() > 0 && summary.counts().len() <= 128);
        assert_within(&summary, &truth(&items));
    }

    #[test]
    fn merged_summaries_keep_the_guarantee() {
        let items = stream(60_000, 3_000, 9);
        let mut whole = FrequentItems::new(50);
        for part in items.chunks(13_000) {
            let mut s = FrequentItems::new(50);
            part.iter().for_each(|i| s.add(i));
            whole.merge(&s);
        }
        assert_within(&whole, &truth(&items));
        let back = FrequentItems::from_parts(50, whole.counts(), whole.rest(), whole.error());
        assert_eq!(
            (back.n(), back.counts(), back.error()),
            (whole.n(), whole.counts(), whole.error())
        );
    }
}
