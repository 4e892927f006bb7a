//! Late labels (SPEC.md section 9, `[labels]`): ground truth that arrives after
//! its prediction, on any source, as rows `{id, label}` joined by `labels.id` to
//! the prediction row with the same id.
//!
//! Every incoming batch goes through [`absorb`] before the window sees it, in
//! the daemon and when the store replays its journal, so the join is rebuilt
//! exactly after a crash. A row is one of:
//! - a **label row**: an id and no prediction. It never enters the window (it
//!   has no features); its label is joined to the waiting prediction with the
//!   same id, or counted as unmatched with a [`UnmatchedReason`];
//! - a **prediction row** with an id and no label: it enters the window and
//!   waits in the [`LabelJoin`] for its label, at most `labels.ttl` (then it
//!   expires) and among at most `labels.max_pending` others (beyond that the
//!   oldest is evicted);
//! - any other row (a label in the row, or no id): it only enters the window.
//!
//! A joined pair (the prediction as it was, and its label) enters the join's
//! own window of labelled rows, bounded like the main window (`window.size`
//! rows, `window.duration` since it was joined): a label that comes a week late
//! still counts, long after its prediction left the drift window. Model quality
//! and concept drift are computed over the drift window's rows that carry their
//! label in the row, followed by these joined rows ([`LabelJoin::joined_parts`]).
//!
//! The pending predictions and the joined rows are saved with the window
//! snapshot ([`crate::store`]); the memory of ids recently matched, expired or
//! evicted, which only names the reason of an unmatched label, is not.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow::array::{Array, Float64Array, StringArray};

use crate::config::LabelsConfig;
use crate::data::{remap, Batch, ColumnArray, ColumnPlan, Kind};
use crate::window::{ChunkView, Pushed, Window};

/// Ids remembered at least, after they left the pending set, to name the
/// reason of a label that comes for them.
const MIN_REMEMBERED: usize = 1024;

/// Why a label row joined no prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnmatchedReason {
    /// No prediction with this id was seen (or it was forgotten long ago).
    UnknownId,
    /// The prediction with this id already has its label.
    Duplicate,
    /// The prediction with this id waited longer than `labels.ttl`.
    Expired,
    /// The prediction with this id was evicted (`labels.max_pending`).
    Evicted,
    /// The row has an id but neither a prediction nor a usable label (a label of
    /// the wrong type is also counted in `drift_rejected_rows_total`).
    MissingLabel,
}

impl UnmatchedReason {
    /// Every reason, in a fixed order.
    pub const ALL: [UnmatchedReason; 5] = [
        UnmatchedReason::UnknownId,
        UnmatchedReason::Duplicate,
        UnmatchedReason::Expired,
        UnmatchedReason::Evicted,
        UnmatchedReason::MissingLabel,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            UnmatchedReason::UnknownId => "unknown_id",
            UnmatchedReason::Duplicate => "duplicate",
            UnmatchedReason::Expired => "expired",
            UnmatchedReason::Evicted => "evicted",
            UnmatchedReason::MissingLabel => "missing_label",
        }
    }

    fn index(self) -> usize {
        match self {
            UnmatchedReason::UnknownId => 0,
            UnmatchedReason::Duplicate => 1,
            UnmatchedReason::Expired => 2,
            UnmatchedReason::Evicted => 3,
            UnmatchedReason::MissingLabel => 4,
        }
    }
}

/// What the join did (for one call, or since the start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinCounts {
    /// Labels joined to their prediction.
    pub matched: u64,
    /// Predictions whose label did not come within `labels.ttl`.
    pub expired: u64,
    /// Predictions dropped to stay within `labels.max_pending`, or replaced by
    /// a newer prediction with the same id.
    pub evicted: u64,
    /// Label rows that joined nothing, by [`UnmatchedReason::ALL`]'s order.
    pub unmatched: [u64; 5],
}

impl JoinCounts {
    /// Label rows that joined nothing for `reason`.
    pub fn unmatched(&self, reason: UnmatchedReason) -> u64 {
        self.unmatched[reason.index()]
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &JoinCounts) {
        self.matched += other.matched;
        self.expired += other.expired;
        self.evicted += other.evicted;
        for (a, b) in self.unmatched.iter_mut().zip(other.unmatched) {
            *a += b;
        }
    }
}

/// One cell of the prediction or the label, as the plan reads it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Number(f64),
    Text(String),
}

impl Cell {
    fn of(column: Option<&ColumnArray>, row: usize) -> Option<Cell> {
        match column? {
            ColumnArray::Numeric(a) => a
                .is_valid(row)
                .then(|| a.value(row))
                .filter(|v| v.is_finite())
                .map(Cell::Number),
            ColumnArray::Categorical(a) => a.is_valid(row).then(|| Cell::Text(a.value(row).into())),
        }
    }
}

/// True when `row` holds a value that [`Cell::of`] reads (not null, and a
/// finite number for a numeric column).
fn is_set(column: &ColumnArray, row: usize) -> bool {
    match column {
        ColumnArray::Numeric(a) => a.is_valid(row) && a.value(row).is_finite(),
        ColumnArray::Categorical(a) => a.is_valid(row),
    }
}

/// A column of `cells` of `kind`.
fn column_of(kind: Kind, cells: &[Cell]) -> ColumnArray {
    match kind {
        Kind::Numeric => ColumnArray::Numeric(
            cells
                .iter()
                .map(|c| match c {
                    Cell::Number(v) => Some(*v),
                    Cell::Text(_) => None,
                })
                .collect::<Float64Array>(),
        ),
        Kind::Categorical => ColumnArray::Categorical(
            cells
                .iter()
                .map(|c| match c {
                    Cell::Number(_) => None,
                    Cell::Text(t) => Some(t.as_str()),
                })
                .collect::<StringArray>(),
        ),
    }
}

/// Where the join's columns are in the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Columns {
    id: usize,
    label: usize,
    prediction: usize,
}

/// A prediction waiting for its label.
#[derive(Debug, Clone)]
struct Pending {
    /// Insertion number; an entry of `order` with another number is stale.
    seq: u64,
    arrived: SystemTime,
    prediction: Cell,
}

/// How a prediction left the pending set, remembered to name an unmatched
/// label's reason.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    seq: u64,
    reason: UnmatchedReason,
}

/// The join buffer of predictions waiting for their labels, and the window of
/// joined rows.
#[derive(Debug, Clone)]
pub struct LabelJoin {
    plan: Arc<ColumnPlan>,
    /// `None` when `[labels]` is off (every row passes through) or the plan
    /// lacks a column it needs.
    columns: Option<Columns>,
    names: Option<(String, String, String)>,
    ttl: Duration,
    max_pending: usize,
    pending: HashMap<Arc<str>, Pending>,
    /// Pending ids in arrival order, with stale entries skipped lazily.
    order: VecDeque<(u64, Arc<str>)>,
    next_seq: u64,
    /// Ids that recently left the pending set, and how (bounded by `max_pending`).
    recent: HashMap<Arc<str>, Outcome>,
    recent_order: VecDeque<(u64, Arc<str>)>,
    joined: Window,
    totals: JoinCounts,
}

/// The rows of a batch that go on to the window, and what the join did.
#[derive(Debug)]
pub struct Absorbed {
    /// The batch without its label rows, laid out by the join's plan.
    pub rows: Batch,
    /// What the join did with this batch.
    pub counts: JoinCounts,
}

impl LabelJoin {
    /// A join for `labels` (none when `None`), reading `label_column` and
    /// `prediction_column` from `plan`; joined rows are kept like the window's
    /// (`size` rows, `duration`).
    pub fn new(
        labels: Option<&LabelsConfig>,
        label_column: Option<&str>,
        prediction_column: Option<&str>,
        plan: Arc<ColumnPlan>,
        size: usize,
        duration: Option<Duration>,
    ) -> LabelJoin {
        let names = match (labels, label_column, prediction_column) {
            (Some(l), Some(label), Some(prediction)) => {
                Some((l.id.clone(), label.to_string(), prediction.to_string()))
            }
            _ => None,
        };
        let mut join = LabelJoin {
            columns: None,
            names,
            ttl: labels.map_or(LabelsConfig::DEFAULT_TTL, |l| l.ttl),
            max_pending: labels.map_or(LabelsConfig::DEFAULT_MAX_PENDING, |l| l.max_pending),
            pending: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
            joined: Window::new(size, duration, plan.clone()),
            totals: JoinCounts::default(),
            plan: plan.clone(),
        };
        join.columns = join.locate(&plan);
        join
    }

    /// A join that is off: every row passes through to the window.
    pub fn disabled(plan: Arc<ColumnPlan>) -> LabelJoin {
        LabelJoin::new(None, None, None, plan, 1, None)
    }

    fn locate(&self, plan: &ColumnPlan) -> Option<Columns> {
        let (id, label, prediction) = self.names.as_ref()?;
        Some(Columns {
            id: plan.index_of(id)?,
            label: plan.index_of(label)?,
            prediction: plan.index_of(prediction)?,
        })
    }

    /// True when `[labels]` is on.
    pub fn enabled(&self) -> bool {
        self.columns.is_some()
    }

    /// The plan of the rows [`absorb`] returns (the window's).
    pub fn plan(&self) -> &Arc<ColumnPlan> {
        &self.plan
    }

    /// Predictions waiting for their label.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// What the join did since it was created.
    pub fn totals(&self) -> JoinCounts {
        self.totals
    }

    /// The joined rows (prediction and label), oldest first, one batch per
    /// arrival; only the prediction and label columns are present.
    pub fn joined_parts(&self) -> impl Iterator<Item = (SystemTime, Batch)> + '_ {
        self.joined.parts()
    }

    /// The joined rows as chunks, oldest first (a snapshot writes each once).
    pub fn joined_chunks(&self) -> impl Iterator<Item = ChunkView<'_>> + '_ {
        self.joined.chunks()
    }

    /// Joined rows held.
    pub fn joined_rows(&self) -> usize {
        self.joined.rows()
    }

    /// The pending predictions, oldest first, one batch per arrival time, with
    /// the id and prediction columns present (what a snapshot saves).
    pub fn pending_parts(&self) -> Vec<(SystemTime, Batch)> {
        let Some(c) = self.columns else {
            return Vec::new();
        };
        let kind = self.kind(c.prediction);
        let mut parts = Vec::new();
        let mut ids: Vec<Cell> = Vec::new();
        let mut predictions: Vec<Cell> = Vec::new();
        let mut current: Option<SystemTime> = None;
        let live = self
            .order
            .iter()
            .filter_map(|(seq, id)| Some((id, self.pending.get(id).filter(|p| p.seq == *seq)?)));
        let mut flush =
            |at: Option<SystemTime>, ids: &mut Vec<Cell>, predictions: &mut Vec<Cell>| {
                let Some(at) = at.filter(|_| !ids.is_empty()) else {
                    return;
                };
                let mut columns = vec![None; self.plan.len()];
                columns[c.id] = Some(column_of(Kind::Categorical, ids));
                columns[c.prediction] = Some(column_of(kind, predictions));
                let batch = Batch {
                    rows: ids.len(),
                    columns,
                    rejects: Default::default(),
                };
                parts.push((at, batch));
                ids.clear();
                predictions.clear();
            };
        for (id, p) in live {
            if current != Some(p.arrived) {
                flush(current, &mut ids, &mut predictions);
                current = Some(p.arrived);
            }
            ids.push(Cell::Text(id.to_string()));
            predictions.push(p.prediction.clone());
        }
        flush(current, &mut ids, &mut predictions);
        parts
    }

    /// The kind of plan column `i`.
    fn kind(&self, i: usize) -> Kind {
        self.plan.iter().nth(i).map_or(Kind::Numeric, |(_, k)| k)
    }

    /// Puts back pending predictions saved by [`LabelJoin::pending_parts`] (laid
    /// out by `plan`), without counting anything.
    pub fn restore_pending(&mut self, batch: &Batch, plan: &ColumnPlan, arrived: SystemTime) {
        let Some(c) = self.columns else { return };
        let columns = remap(&batch.columns, plan, &self.plan);
        for row in 0..batch.rows {
            let id = Cell::of(columns[c.id].as_ref(), row);
            let prediction = Cell::of(columns[c.prediction].as_ref(), row);
            if let (Some(Cell::Text(id)), Some(prediction)) = (id, prediction) {
                self.insert(Arc::from(id), prediction, arrived);
            }
        }
    }

    /// Puts back joined rows saved from [`LabelJoin::joined_parts`].
    pub fn restore_joined(
        &mut self,
        batch: &Batch,
        plan: &ColumnPlan,
        arrived: SystemTime,
    ) -> Option<Pushed> {
        self.joined.push(batch, plan, arrived)
    }

    /// Changes the limits of the joined rows and of the pending set (config
    /// reload).
    pub fn set_limits(
        &mut self,
        size: usize,
        duration: Option<Duration>,
        labels: Option<&LabelsConfig>,
    ) {
        self.joined.set_limits(size, duration);
        if let Some(l) = labels {
            self.ttl = l.ttl;
            self.max_pending = l.max_pending;
        }
        self.evict_to_capacity();
    }

    /// Expires the predictions that waited longer than `labels.ttl` by `now`,
    /// and the joined rows older than `window.duration`. Returns what it did.
    pub fn expire(&mut self, now: SystemTime) -> JoinCounts {
        let mut counts = JoinCounts::default();
        self.joined.evict_expired(now);
        while let Some((seq, id)) = self.order.front() {
            let Some(p) = self.pending.get(id).filter(|p| p.seq == *seq) else {
                self.order.pop_front();
                continue;
            };
            let due = p.arrived.checked_add(self.ttl).is_some_and(|t| t <= now);
            if !due {
                break;
            }
            let (seq, id) = self.order.pop_front().expect("front exists");
            self.pending.remove(&id);
            self.remember(seq, id, UnmatchedReason::Expired);
            counts.expired += 1;
        }
        self.totals.add(&counts);
        counts
    }

    /// Joins the label rows of `batch` (parsed with `plan`) and remembers its
    /// unlabelled predictions; returns the rows for the window.
    fn absorb_batch(&mut self, batch: &Batch, plan: &ColumnPlan, arrived: SystemTime) -> Absorbed {
        let columns = remap(&batch.columns, plan, &self.plan);
        let mut counts = self.expire(arrived);
        // With the join off, or a batch without ids, every row passes through.
        let ids = self.columns.and_then(|c| match columns[c.id].as_ref() {
            Some(ColumnArray::Categorical(ids)) => Some((c, ids)),
            _ => None,
        });
        let Some((c, ids)) = ids else {
            return Absorbed {
                rows: Batch {
                    rows: batch.rows,
                    columns,
                    rejects: Default::default(),
                },
                counts,
            };
        };
        let present = |i: usize, row: usize| columns[i].as_ref().is_some_and(|a| is_set(a, row));
        let mut keep = vec![true; batch.rows];
        let (mut predictions, mut labels) = (Vec::new(), Vec::new());
        let mut delta = JoinCounts::default();
        for (row, kept) in keep.iter_mut().enumerate() {
            if !ids.is_valid(row) {
                continue;
            }
            let id = ids.value(row);
            match (present(c.prediction, row), present(c.label, row)) {
                (true, false) => {
                    let Some(prediction) = Cell::of(columns[c.prediction].as_ref(), row) else {
                        continue;
                    };
                    if self.insert(Arc::from(id), prediction, arrived) {
                        delta.evicted += 1;
                    }
                }
                (true, true) => {}
                (false, false) => {
                    *kept = false;
                    delta.unmatched[UnmatchedReason::MissingLabel.index()] += 1;
                }
                (false, true) => {
                    *kept = false;
                    let Some(label) = Cell::of(columns[c.label].as_ref(), row) else {
                        continue;
                    };
                    match self.pending.remove(id) {
                        Some(p) => {
                            self.remember(p.seq, Arc::from(id), UnmatchedReason::Duplicate);
                            predictions.push(p.prediction);
                            labels.push(label);
                            delta.matched += 1;
                        }
                        None => {
                            let reason = self
                                .recent
                                .get(id)
                                .map_or(UnmatchedReason::UnknownId, |o| o.reason);
                            delta.unmatched[reason.index()] += 1;
                        }
                    }
                }
            }
        }
        delta.evicted += self.evict_to_capacity();
        if !predictions.is_empty() {
            let mut joined = vec![None; self.plan.len()];
            joined[c.prediction] = Some(column_of(self.kind(c.prediction), &predictions));
            joined[c.label] = Some(column_of(self.kind(c.label), &labels));
            let batch = Batch {
                rows: predictions.len(),
                columns: joined,
                rejects: Default::default(),
            };
            self.joined.push(&batch, &self.plan.clone(), arrived);
        }
        self.totals.add(&delta);
        counts.add(&delta);
        let rows = Batch {
            rows: batch.rows,
            columns,
            rejects: Default::default(),
        };
        let rows = if keep.iter().all(|&k| k) {
            rows
        } else {
            rows.filter(&keep)
        };
        Absorbed { rows, counts }
    }

    /// Adds a pending prediction; true when it replaced one with the same id.
    fn insert(&mut self, id: Arc<str>, prediction: Cell, arrived: SystemTime) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((seq, id.clone()));
        let replaced = self
            .pending
            .insert(
                id,
                Pending {
                    seq,
                    arrived,
                    prediction,
                },
            )
            .is_some();
        // Matched and replaced entries stay in `order` until they reach its
        // front; rebuild it when they outnumber the live ones.
        if self.order.len() > 2 * self.pending.len() + 1024 {
            let pending = &self.pending;
            self.order
                .retain(|(seq, id)| pending.get(id).is_some_and(|p| p.seq == *seq));
        }
        replaced
    }

    /// Evicts the oldest predictions beyond `max_pending`; returns how many.
    fn evict_to_capacity(&mut self) -> u64 {
        let mut evicted = 0;
        while self.pending.len() > self.max_pending {
            let Some((seq, id)) = self.order.pop_front() else {
                break;
            };
            if self.pending.get(&id).is_some_and(|p| p.seq == seq) {
                self.pending.remove(&id);
                self.remember(seq, id, UnmatchedReason::Evicted);
                evicted += 1;
            }
        }
        evicted
    }

    /// Remembers how `id` left the pending set (the last `max_pending` ids, or
    /// [`MIN_REMEMBERED`]).
    fn remember(&mut self, seq: u64, id: Arc<str>, reason: UnmatchedReason) {
        self.recent_order.push_back((seq, id.clone()));
        self.recent.insert(id, Outcome { seq, reason });
        while self.recent_order.len() > self.max_pending.max(MIN_REMEMBERED) {
            let Some((seq, id)) = self.recent_order.pop_front() else {
                break;
            };
            if self.recent.get(&id).is_some_and(|o| o.seq == seq) {
                self.recent.remove(&id);
            }
        }
    }
}

/// One batch (parsed with `plan`) through the join and into the window: what
/// the daemon does with a delivery and the store with a journal entry, so both
/// rebuild the same state. Returns what the join did.
pub fn absorb(
    window: &mut Window,
    join: &mut LabelJoin,
    batch: &Batch,
    plan: &ColumnPlan,
    arrived: SystemTime,
) -> Absorbed {
    let absorbed = join.absorb_batch(batch, plan, arrived);
    let plan = join.plan().clone();
    window.push(&absorbed.rows, &plan, arrived);
    absorbed
}

/// Builders the join's and the store's tests share: a plan of `x`, `score`,
/// `label` and `id`, rows of it, and the joined pairs of a join.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::LabelJoin;
    use crate::config::LabelsConfig;
    use crate::data::{Batch, ColumnArray, ColumnPlan, Kind};

    /// A row: (x, score, label, id).
    pub(crate) type Row<'a> = (Option<f64>, Option<f64>, Option<&'a str>, Option<&'a str>);

    pub(crate) fn plan() -> Arc<ColumnPlan> {
        Arc::new(ColumnPlan::new([
            ("x".to_string(), Kind::Numeric),
            ("score".to_string(), Kind::Numeric),
            ("label".to_string(), Kind::Categorical),
            ("id".to_string(), Kind::Categorical),
        ]))
    }

    pub(crate) fn config(ttl_secs: u64, max_pending: usize) -> LabelsConfig {
        LabelsConfig {
            id: "id".into(),
            ttl: Duration::from_secs(ttl_secs),
            max_pending,
        }
    }

    pub(crate) fn join(labels: &LabelsConfig, size: usize) -> LabelJoin {
        LabelJoin::new(
            Some(labels),
            Some("label"),
            Some("score"),
            plan(),
            size,
            None,
        )
    }

    /// Rows of (x, score, label, id).
    pub(crate) fn batch(rows: &[Row<'_>]) -> Batch {
        Batch {
            rows: rows.len(),
            columns: vec![
                Some(ColumnArray::Numeric(rows.iter().map(|r| r.0).collect())),
                Some(ColumnArray::Numeric(rows.iter().map(|r| r.1).collect())),
                Some(ColumnArray::Categorical(rows.iter().map(|r| r.2).collect())),
                Some(ColumnArray::Categorical(rows.iter().map(|r| r.3).collect())),
            ],
            rejects: Default::default(),
        }
    }

    pub(crate) fn prediction(x: f64, score: f64, id: &str) -> Row<'_> {
        (Some(x), Some(score), None, Some(id))
    }

    pub(crate) fn label<'a>(id: &'a str, label: &'a str) -> Row<'a> {
        (None, None, Some(label), Some(id))
    }

    pub(crate) fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// The joined (score, label) pairs, oldest first.
    pub(crate) fn joined(join: &LabelJoin) -> Vec<(f64, String)> {
        let mut out = Vec::new();
        for (_, b) in join.joined_parts() {
            let (Some(ColumnArray::Numeric(s)), Some(ColumnArray::Categorical(l))) =
                (&b.columns[1], &b.columns[2])
            else {
                continue;
            };
            for (s, l) in s.iter().zip(l.iter()) {
                out.push((s.unwrap_or(f64::NAN), l.unwrap_or("").to_string()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::window::test_support::live_x;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn a_late_label_joins_its_prediction_and_stays_out_of_the_window() -> TestResult {
        let labels = config(3600, 100);
        let (mut j, mut w) = (join(&labels, 100), Window::new(100, None, plan()));
        let p = plan();
        let first = absorb(
            &mut w,
            &mut j,
            &batch(&[prediction(1.0, 0.9, "a"), prediction(2.0, 0.2, "b")]),
            &p,
            at(10),
        );
        assert_eq!(first.counts, JoinCounts::default());
        assert_eq!(j.pending(), 2);
        let second = absorb(
            &mut w,
            &mut j,
            &batch(&[label("b", "0"), prediction(3.0, 0.7, "c"), label("a", "1")]),
            &p,
            at(20),
        );
        assert_eq!(second.counts.matched, 2);
        assert_eq!(second.rows.rows, 1, "only the prediction row goes on");
        assert_eq!(live_x(&w)?, vec![1.0, 2.0, 3.0]);
        assert_eq!(j.pending(), 1);
        assert_eq!(
            joined(&j),
            vec![(0.2, "0".to_string()), (0.9, "1".to_string())]
        );
        assert_eq!(j.totals().matched, 2);
        Ok(())
    }

    #[test]
    fn unmatched_labels_are_counted_with_their_reason() -> TestResult {
        let labels = config(100, 2);
        let (mut j, mut w) = (join(&labels, 100), Window::new(100, None, plan()));
        let p = plan();
        let preds = [
            prediction(1.0, 0.1, "old"),
            prediction(2.0, 0.2, "e1"),
            prediction(3.0, 0.3, "e2"),
        ];
        // Three predictions, room for two: "old" is evicted.
        let c = absorb(&mut w, &mut j, &batch(&preds), &p, at(0)).counts;
        assert_eq!((c.evicted, j.pending()), (1, 2));
        // e1 and e2 expire at 100, before m arrives.
        let c = absorb(
            &mut w,
            &mut j,
            &batch(&[prediction(4.0, 0.4, "m")]),
            &p,
            at(101),
        )
        .counts;
        assert_eq!((c.expired, j.pending()), (2, 1));
        let rows = [
            label("m", "1"),
            label("m", "0"),
            label("e1", "1"),
            label("old", "1"),
            label("never", "1"),
            (None, None, None, Some("m")),
        ];
        let c = absorb(&mut w, &mut j, &batch(&rows), &p, at(120)).counts;
        assert_eq!((c.expired, c.matched), (0, 1));
        assert_eq!(c.unmatched(UnmatchedReason::Duplicate), 1);
        assert_eq!(c.unmatched(UnmatchedReason::Expired), 1);
        assert_eq!(c.unmatched(UnmatchedReason::Evicted), 1);
        assert_eq!(c.unmatched(UnmatchedReason::UnknownId), 1);
        assert_eq!(c.unmatched(UnmatchedReason::MissingLabel), 1);
        assert_eq!(j.pending(), 0);
        assert_eq!(live_x(&w)?, vec![1.0, 2.0, 3.0, 4.0]);
        let t = j.totals();
        assert_eq!((t.matched, t.expired, t.evicted), (1, 2, 1));
        Ok(())
    }

    #[test]
    fn expiry_runs_on_the_clock_too_and_a_newer_prediction_replaces_an_older_one() {
        let labels = config(10, 100);
        let (mut j, mut w) = (join(&labels, 100), Window::new(100, None, plan()));
        let p = plan();
        let rows = [prediction(1.0, 0.1, "a"), prediction(2.0, 0.2, "a")];
        let c = absorb(&mut w, &mut j, &batch(&rows), &p, at(0)).counts;
        assert_eq!((c.evicted, j.pending()), (1, 1));
        assert_eq!(j.expire(at(9)).expired, 0);
        assert_eq!(j.expire(at(10)).expired, 1);
        assert_eq!(j.pending(), 0);
    }

    #[test]
    fn rows_labelled_in_the_row_or_without_an_id_pass_through() {
        let labels = config(10, 100);
        let (mut j, mut w) = (join(&labels, 100), Window::new(100, None, plan()));
        let p = plan();
        let rows = [
            (Some(1.0), Some(0.5), Some("1"), Some("a")),
            (Some(2.0), Some(0.5), None, None),
            (Some(3.0), None, None, None),
        ];
        let a = absorb(&mut w, &mut j, &batch(&rows), &p, at(0));
        assert_eq!((a.rows.rows, j.pending()), (3, 0));
        assert_eq!(a.counts, JoinCounts::default());
        // A disabled join passes label rows through as they are.
        let mut off = LabelJoin::disabled(plan());
        let a = absorb(&mut w, &mut off, &batch(&[label("a", "1")]), &p, at(1));
        assert_eq!(a.rows.rows, 1);
        assert!(!off.enabled());
    }

    #[test]
    fn the_joined_rows_are_bounded_like_the_window() {
        let labels = config(3600, 100);
        let (mut j, mut w) = (join(&labels, 2), Window::new(100, None, plan()));
        let p = plan();
        let preds = [
            prediction(1.0, 0.1, "a"),
            prediction(2.0, 0.2, "b"),
            prediction(3.0, 0.3, "c"),
        ];
        absorb(&mut w, &mut j, &batch(&preds), &p, at(0));
        let labels_rows = [label("a", "0"), label("b", "1"), label("c", "1")];
        absorb(&mut w, &mut j, &batch(&labels_rows), &p, at(1));
        assert_eq!(
            joined(&j),
            vec![(0.2, "1".to_string()), (0.3, "1".to_string())]
        );
    }

    #[test]
    fn pending_predictions_and_joined_rows_survive_a_save_and_restore() -> TestResult {
        let labels = config(3600, 100);
        let (mut j, mut w) = (join(&labels, 100), Window::new(100, None, plan()));
        let p = plan();
        let preds = [prediction(1.0, 0.1, "a"), prediction(2.0, 0.2, "b")];
        absorb(&mut w, &mut j, &batch(&preds), &p, at(0));
        absorb(
            &mut w,
            &mut j,
            &batch(&[prediction(3.0, 0.3, "c")]),
            &p,
            at(5),
        );
        absorb(&mut w, &mut j, &batch(&[label("b", "1")]), &p, at(6));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("w.arrow");
        crate::store::snapshot::write(&path, &w, &j, Default::default())?;
        let saved = crate::store::snapshot::read(&path, &p)?.ok_or("saved")?;
        let mut back = join(&labels, 100);
        for (t, b) in &saved.pending {
            back.restore_pending(b, &p, *t);
        }
        for (t, b) in &saved.joined {
            back.restore_joined(b, &p, *t);
        }
        assert_eq!(saved.rows(), 3);
        assert_eq!(back.pending(), 2);
        assert_eq!(joined(&back), joined(&j));
        // The restored join matches and expires as the original would.
        let mut w2 = Window::new(100, None, plan());
        let c = absorb(
            &mut w2,
            &mut back,
            &batch(&[label("c", "0"), label("a", "1")]),
            &p,
            at(7),
        )
        .counts;
        assert_eq!(c.matched, 2);
        assert_eq!(
            joined(&back),
            vec![(0.2, "1".into()), (0.3, "0".into()), (0.1, "1".into())]
        );
        Ok(())
    }
}
