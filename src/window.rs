//! The sliding window: the last `size` rows (and, optionally, only rows younger
//! than `duration`), held as zero-copy slices of the batches they arrived in.
//!
//! Pushing a batch appends it and evicts the oldest rows beyond `size` (in arrival
//! order). Evicting by age keeps rows younger than `duration`, measured one of two
//! ways:
//! - **arrival time** (the default): rows carry their batch's arrival time, and a
//!   row leaves `duration` after it arrived;
//! - **event time**, when the plan has an event-time column (`[columns]
//!   timestamp`): a row leaves once it is more than `duration` older than the
//!   newest event time seen, capped at the current time so that one row stamped in
//!   the future cannot empty the window. Rows may arrive out of order; a row older
//!   than the cut-off on arrival is never in the window. A row whose timestamp is
//!   missing or unreadable is aged by its arrival time instead. Replaying old data
//!   therefore fills the window as it would have been filled live, and when input
//!   stops the window keeps its rows (the stale-input alert says so).
//!
//! With a tally tracked ([`Window::track`]), every row entering or leaving is
//! recorded in a [`TallyLog`], and the evaluator borrows the
//! [`crate::tally::WindowTally`] ([`Window::lend_tally`]) to bring it up to
//! date and read the per-column summaries, off the daemon's loop. Without one,
//! [`Window::samples`] gathers and sorts the live rows. Either way a score is
//! computed over exactly the rows the window holds. The window knows nothing of
//! files: [`crate::store`] saves its [`parts`](Window::parts) and pushes them back
//! at start-up, so a restart resumes with the same rows.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::data::{remap, Batch, ColumnArray, ColumnPlan};
use crate::reference::ReferenceProfile;
use crate::sample::ColumnSample;
use crate::tally::{LentTally, Rows, TallyJob, TallyLog, WindowTally};

#[derive(Debug, Clone)]
struct Chunk {
    /// Names the chunk's content for [`Window::chunks`]: new when rows are
    /// filtered out of its middle or its columns are remapped (rows leaving
    /// its front keep it).
    id: u64,
    arrived: SystemTime,
    /// First live row.
    start: usize,
    rows: usize,
    columns: Vec<Option<ColumnArray>>,
    /// Each row's event time in Unix seconds (its arrival time when it has none),
    /// when the plan has an event-time column.
    times: Option<Vec<f64>>,
    /// A lower bound of the live rows' `times` (exact when computed).
    min_time: f64,
}

impl Chunk {
    fn live(&self) -> usize {
        self.rows - self.start
    }

    /// The live rows as a batch (arrays shared, not copied).
    fn part(&self) -> Batch {
        let batch = Batch {
            rows: self.rows,
            columns: self.columns.clone(),
            rejects: Default::default(),
        };
        batch.slice(self.start, self.live())
    }

    /// Logs the live rows leaving.
    fn untally(&self, tally: Option<&mut TallyLog>) {
        if let Some(tally) = tally {
            let rows = Rows::Range {
                start: self.start,
                len: self.live(),
            };
            tally.remove(&self.columns, rows);
        }
    }

    /// Keeps the live rows whose event time is at least `cutoff` (logging the
    /// others leaving); returns how many rows left. When the rows leaving are
    /// not all at the front, the chunk's content changes and it takes the id
    /// `renamed`.
    fn retain_since(&mut self, cutoff: f64, tally: Option<&mut TallyLog>, renamed: u64) -> usize {
        let live = self.live();
        if self.min_time >= cutoff {
            return 0;
        }
        let Some(times) = &self.times else {
            // Rows without event times age by their arrival time, all together.
            self.untally(tally);
            self.start = self.rows;
            return live;
        };
        let keep: Vec<bool> = times[self.start..].iter().map(|&t| t >= cutoff).collect();
        let kept = keep.iter().filter(|&&k| k).count();
        let leading = keep.iter().take_while(|&&k| !k).count();
        if kept < live && leading == live - kept {
            // Only rows at the front leave (rows in time order): the chunk
            // keeps its arrays and its id.
            if let Some(tally) = tally {
                let rows = Rows::Range {
                    start: self.start,
                    len: leading,
                };
                tally.remove(&self.columns, rows);
            }
            self.start += leading;
            self.min_time = times[self.start..]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
        } else if kept < live {
            if let Some(tally) = tally {
                let leaving: Vec<bool> = keep.iter().map(|k| !k).collect();
                let rows = Rows::Selected {
                    start: self.start,
                    flags: &leaving,
                };
                tally.remove(&self.columns, rows);
            }
            let (start, rows) = (self.start, self.rows);
            self.columns = self
                .columns
                .iter()
                .map(|c| {
                    c.as_ref()
                        .map(|c| c.slice(start, rows - start).filter(&keep))
                })
                .collect();
            let times: Vec<f64> = times[start..]
                .iter()
                .zip(&keep)
                .filter_map(|(&t, &k)| k.then_some(t))
                .collect();
            self.min_time = times.iter().copied().fold(f64::INFINITY, f64::min);
            self.times = Some(times);
            self.start = 0;
            self.rows = kept;
            self.id = renamed;
        } else {
            self.min_time = times[self.start..]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
        }
        live - kept
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The rows currently compared with the reference.
#[derive(Debug, Clone)]
pub struct Window {
    size: usize,
    duration: Option<Duration>,
    plan: Arc<ColumnPlan>,
    chunks: VecDeque<Chunk>,
    rows: usize,
    /// The newest event time seen (Unix seconds), or -inf.
    newest: f64,
    /// What entered and left since the tally last saw the rows, when a
    /// tally is kept.
    tally: Option<TallyLog>,
    /// The tally, unless it is lent out (or not made yet).
    tally_home: Option<WindowTally>,
    /// Loans of the tally so far (only the latest may come back).
    loans: u64,
    /// The id the next chunk takes.
    next_id: u64,
}

/// What [`Window::push`] added: the chunk's id and the rows at the front of
/// the batch it did not keep (an oversized batch keeps its last `size` rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The new chunk's id ([`ChunkView::id`]).
    pub id: u64,
    /// Rows of the batch before the chunk's first row.
    pub skipped: usize,
}

/// One chunk of the window as a snapshot sees it: the rows of one push, of
/// which the first [`ChunkView::start`] have left.
#[derive(Debug, Clone, Copy)]
pub struct ChunkView<'a> {
    chunk: &'a Chunk,
}

impl ChunkView<'_> {
    /// Stays the same while the chunk's rows only leave from its front: two
    /// views with the same id (of one window) hold the same arrays.
    pub fn id(&self) -> u64 {
        self.chunk.id
    }

    /// Rows of the chunk that have left, at its front.
    pub fn start(&self) -> usize {
        self.chunk.start
    }

    /// Rows of the chunk still in the window.
    pub fn live(&self) -> usize {
        self.chunk.live()
    }

    /// When the rows arrived.
    pub fn arrived(&self) -> SystemTime {
        self.chunk.arrived
    }

    /// The live rows (arrays shared, not copied).
    pub fn part(&self) -> Batch {
        self.chunk.part()
    }
}

impl Window {
    /// An empty window over `plan`'s columns.
    pub fn new(size: usize, duration: Option<Duration>, plan: Arc<ColumnPlan>) -> Self {
        Window {
            size: size.max(1),
            duration,
            plan,
            chunks: VecDeque::new(),
            rows: 0,
            newest: f64::NEG_INFINITY,
            tally: None,
            tally_home: None,
            loans: 0,
            next_id: 0,
        }
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Keeps a tally of the live rows for `profile` with fences at
    /// `outlier_k` IQRs from now on ([`crate::tally`]); replaces any kept
    /// before. The rows held now are counted by the first job.
    pub fn track(&mut self, profile: Arc<ReferenceProfile>, outlier_k: f64) {
        self.track_with(profile, outlier_k, true);
    }

    /// [`Window::track`], with the window's numeric values kept sorted for
    /// the Wasserstein distance or not (`drift.wasserstein`).
    pub fn track_with(&mut self, profile: Arc<ReferenceProfile>, outlier_k: f64, sorted: bool) {
        self.tally = Some(
            TallyLog::new(profile, outlier_k, self.size, self.log_limit())
                .with_sorted_values(sorted),
        );
        self.tally_home = None;
        // A tally lent before is of no use now.
        self.loans += 1;
    }

    /// Values past which the log stops recording: about what the window
    /// holds (a rebuild from the rows costs that much).
    fn log_limit(&self) -> usize {
        self.size.saturating_mul(self.plan.len().max(1))
    }

    /// Lends the tally out with what it has not seen, when one is kept for
    /// `profile` and `outlier_k`: bring it up to date with
    /// [`TallyJob::run`] (anywhere) and hand it back with
    /// [`Window::return_tally`]. Rows that move meanwhile are logged for the
    /// next loan.
    pub fn lend_tally(
        &mut self,
        profile: &Arc<ReferenceProfile>,
        outlier_k: f64,
    ) -> Option<TallyJob> {
        let log = self
            .tally
            .as_mut()
            .filter(|l| l.is_for(profile, outlier_k))?;
        self.loans += 1;
        let chunks = &self.chunks;
        let parts = || chunks.iter().map(Chunk::part).collect();
        Some(TallyJob::new(
            log,
            self.tally_home.take(),
            parts,
            self.loans,
        ))
    }

    /// Takes back a tally lent by [`Window::lend_tally`]: kept if it is from
    /// the latest loan and for the profile the window tracks (else the next
    /// loan rebuilds one).
    pub fn return_tally(&mut self, lent: LentTally) {
        let current = self
            .tally
            .as_ref()
            .is_some_and(|log| lent.tally.is_for(log.profile(), log.outlier_k()));
        if current && lent.loan == self.loans {
            if let (Some(log), Some(spare)) = (self.tally.as_mut(), lent.spare) {
                log.recycle(spare);
            }
            self.tally_home = Some(lent.tally);
        }
    }

    /// True when a tally is kept in step with the live rows.
    pub fn is_tallied(&self) -> bool {
        self.tally.is_some()
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The configured maximum.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The plan the window's columns follow.
    pub fn plan(&self) -> &Arc<ColumnPlan> {
        &self.plan
    }

    /// Changes the limits (config reload); evicts what no longer fits.
    pub fn set_limits(&mut self, size: usize, duration: Option<Duration>) {
        self.size = size.max(1);
        self.duration = duration;
        let limit = self.log_limit();
        if let Some(log) = &mut self.tally {
            log.set_limits(self.size, limit);
        }
        self.evict_to_size();
    }

    /// Adds a batch parsed with `batch_plan` (columns are matched by name and kind
    /// when it differs from the window's plan). Returns the chunk it added
    /// (`None` for an empty batch); rows may leave at once, by size or age.
    pub fn push(
        &mut self,
        batch: &Batch,
        batch_plan: &ColumnPlan,
        arrived: SystemTime,
    ) -> Option<Pushed> {
        if batch.rows == 0 {
            return None;
        }
        let mut columns = remap(&batch.columns, batch_plan, &self.plan);
        // Only the last `size` rows of an oversized batch can ever be live.
        let start = batch.rows.saturating_sub(self.size);
        let rows = batch.rows - start;
        if start > 0 {
            columns = columns
                .iter()
                .map(|c| c.as_ref().map(|c| c.slice(start, rows)))
                .collect();
        }
        let arrival = unix_seconds(arrived);
        let times = self.plan.time_column().map(|t| match columns.get(t) {
            Some(Some(ColumnArray::Numeric(a))) => {
                // Only real timestamps move the newest event time: a row aged by
                // its arrival time must not push replayed rows out.
                let stamped = a.iter().flatten().filter(|v| v.is_finite());
                self.newest = stamped.fold(self.newest, f64::max);
                a.iter()
                    .map(|v| v.filter(|v| v.is_finite()).unwrap_or(arrival))
                    .collect::<Vec<f64>>()
            }
            _ => vec![arrival; rows],
        });
        let min_time = times
            .as_ref()
            .map_or(arrival, |t| t.iter().copied().fold(f64::INFINITY, f64::min));
        let id = self.new_id();
        self.chunks.push_back(Chunk {
            id,
            arrived,
            start: 0,
            rows,
            columns,
            times,
            min_time,
        });
        if let (Some(tally), Some(chunk)) = (&mut self.tally, self.chunks.back()) {
            tally.add(
                &chunk.columns,
                Rows::Range {
                    start: 0,
                    len: rows,
                },
            );
        }
        self.rows += rows;
        self.evict_to_size();
        if self.by_event_time() {
            self.evict_expired(arrived);
        }
        Some(Pushed { id, skipped: start })
    }

    /// The newest event time seen (Unix seconds), if any: a snapshot saves it
    /// with the rows.
    pub fn newest_event_time(&self) -> Option<f64> {
        self.newest.is_finite().then_some(self.newest)
    }

    /// Restores the newest event time a snapshot saved, before its rows are
    /// pushed back: rows without a timestamp are then aged as they were
    /// (else, with the row that carried the newest time gone, they would be
    /// aged by the clock).
    pub fn restore_newest_event_time(&mut self, newest: f64) {
        if newest.is_finite() {
            self.newest = self.newest.max(newest);
        }
    }

    /// True when rows age by their event time (see the module docs).
    pub fn by_event_time(&self) -> bool {
        self.duration.is_some() && self.plan.time_column().is_some()
    }

    fn evict_to_size(&mut self) {
        while self.rows > self.size {
            let excess = self.rows - self.size;
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.live() <= excess {
                self.rows -= front.live();
                front.untally(self.tally.as_mut());
                self.chunks.pop_front();
            } else {
                if let Some(tally) = &mut self.tally {
                    let rows = Rows::Range {
                        start: front.start,
                        len: excess,
                    };
                    tally.remove(&front.columns, rows);
                }
                front.start += excess;
                self.rows -= excess;
            }
        }
    }

    /// Drops rows older than `duration`: by arrival (rows that arrived before
    /// `now - duration`) or by event time (see the module docs). Returns true if
    /// any left.
    pub fn evict_expired(&mut self, now: SystemTime) -> bool {
        let Some(duration) = self.duration else {
            return false;
        };
        if self.by_event_time() {
            // With no timestamp seen yet, every row is aged by its arrival time.
            let now = unix_seconds(now);
            let newest = if self.newest.is_finite() {
                self.newest.min(now)
            } else {
                now
            };
            let cutoff = newest - duration.as_secs_f64();
            let mut left = 0;
            for chunk in &mut self.chunks {
                self.next_id += 1;
                left += chunk.retain_since(cutoff, self.tally.as_mut(), self.next_id);
            }
            self.chunks.retain(|c| c.live() > 0);
            self.rows -= left;
            return left > 0;
        }
        let Some(cutoff) = now.checked_sub(duration) else {
            return false;
        };
        let before = self.rows;
        while let Some(front) = self.chunks.front() {
            if front.arrived >= cutoff {
                break;
            }
            self.rows -= front.live();
            front.untally(self.tally.as_mut());
            self.chunks.pop_front();
        }
        self.rows != before
    }

    /// Summaries of the live rows for every profile column (the profile must be
    /// the one the window's plan came from): read from the tally when it is
    /// kept for `profile` and `outlier_k`, else gathered and sorted from the
    /// rows.
    pub fn samples(
        &mut self,
        profile: &Arc<ReferenceProfile>,
        outlier_k: f64,
    ) -> Vec<ColumnSample> {
        if let Some(job) = self.lend_tally(profile, outlier_k) {
            let (lent, samples) = job.run();
            self.return_tally(lent);
            return samples;
        }
        let parts: Vec<Batch> = self.parts().map(|(_, batch)| batch).collect();
        crate::sample::samples_from_batches(profile, &parts).0
    }

    /// Replaces the plan (reference reloaded): keeps columns whose name and kind
    /// are unchanged, the others become missing. The tally belonged to the old
    /// profile: it is dropped ([`Window::track`] a new one).
    pub fn replan(&mut self, plan: Arc<ColumnPlan>) {
        self.tally = None;
        self.tally_home = None;
        self.loans += 1;
        for chunk in &mut self.chunks {
            chunk.columns = remap(&chunk.columns, &self.plan, &plan);
            self.next_id += 1;
            chunk.id = self.next_id;
        }
        self.plan = plan;
    }

    /// The live rows, oldest first, as one batch per arrival (what a snapshot
    /// saves; pushing them into an empty window with the same plan and limits
    /// rebuilds this one).
    pub fn parts(&self) -> impl Iterator<Item = (SystemTime, Batch)> + '_ {
        self.chunks.iter().map(|c| (c.arrived, c.part()))
    }

    /// The chunks of live rows, oldest first: what [`crate::store`] saves,
    /// writing each chunk's rows once ([`ChunkView::id`]).
    pub fn chunks(&self) -> impl Iterator<Item = ChunkView<'_>> + '_ {
        self.chunks.iter().map(|chunk| ChunkView { chunk })
    }
}

/// Builders the window's and the store's tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray};

    use super::Window;
    use crate::data::{Batch, ColumnArray, ColumnPlan, Kind, Rejects};

    pub(crate) fn plan() -> Arc<ColumnPlan> {
        Arc::new(crate::data::test_plan())
    }

    pub(crate) fn batch(values: std::ops::Range<i32>) -> Batch {
        let x: Float64Array = values.clone().map(|v| Some(v as f64)).collect();
        let c: StringArray = values.map(|v| Some(format!("c{}", v % 3))).collect();
        Batch {
            rows: x.len(),
            columns: vec![
                Some(ColumnArray::Numeric(x)),
                Some(ColumnArray::Categorical(c)),
            ],
            rejects: Rejects::default(),
        }
    }

    pub(crate) fn live_x(w: &Window) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
        let mut x = Vec::new();
        for (_, part) in w.parts() {
            match &part.columns[0] {
                Some(ColumnArray::Numeric(a)) => x.extend(a.values().iter()),
                other => return Err(format!("x is numeric, got {other:?}").into()),
            }
        }
        Ok(x)
    }

    pub(crate) fn timed_plan() -> Arc<ColumnPlan> {
        Arc::new(
            ColumnPlan::new([
                ("x".to_string(), Kind::Numeric),
                ("c".to_string(), Kind::Categorical),
            ])
            .with_time_column("ts"),
        )
    }

    /// Rows `x` = value with event times `ts` (None: no timestamp).
    pub(crate) fn timed_batch(rows: &[(f64, Option<f64>)]) -> Batch {
        let x: Float64Array = rows.iter().map(|r| Some(r.0)).collect();
        let c: StringArray = rows.iter().map(|r| Some(format!("c{}", r.0))).collect();
        let ts: Float64Array = rows.iter().map(|r| r.1).collect();
        Batch {
            rows: rows.len(),
            columns: vec![
                Some(ColumnArray::Numeric(x)),
                Some(ColumnArray::Categorical(c)),
                Some(ColumnArray::Numeric(ts)),
            ],
            rejects: Rejects::default(),
        }
    }

    pub(crate) fn sorted_x(w: &Window) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
        let mut x = live_x(w)?;
        x.sort_by(f64::total_cmp);
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn keeps_the_last_size_rows() -> TestResult {
        let p = plan();
        let mut w = Window::new(5, None, p.clone());
        w.push(&batch(0..3), &p, SystemTime::now());
        w.push(&batch(3..7), &p, SystemTime::now());
        assert_eq!(w.rows(), 5);
        assert_eq!(live_x(&w)?, vec![2.0, 3.0, 4.0, 5.0, 6.0]);
        w.push(&batch(7..20), &p, SystemTime::now());
        assert_eq!(live_x(&w)?, vec![15.0, 16.0, 17.0, 18.0, 19.0]);
        Ok(())
    }

    #[test]
    fn evicts_by_age() -> TestResult {
        let p = plan();
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        let now = SystemTime::now();
        w.push(&batch(0..3), &p, now - Duration::from_secs(120));
        w.push(&batch(3..5), &p, now);
        assert!(w.evict_expired(now));
        assert_eq!(live_x(&w)?, vec![3.0, 4.0]);
        assert!(!w.evict_expired(now));
        Ok(())
    }

    #[test]
    fn event_time_keeps_rows_within_duration_of_the_newest() -> TestResult {
        let p = timed_plan();
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        assert!(w.by_event_time());
        // Out of order within and across batches.
        w.push(
            &timed_batch(&[(1.0, Some(1000.0)), (2.0, Some(900.0))]),
            &p,
            now,
        );
        w.push(
            &timed_batch(&[(3.0, Some(1050.0)), (4.0, Some(950.0))]),
            &p,
            now,
        );
        // newest = 1050, cut-off 990: rows at 900 and 950 left.
        assert_eq!(sorted_x(&w)?, vec![1.0, 3.0]);
        assert_eq!(w.rows(), 2);
        // A late row is never in the window; a newer one pushes 1000 out.
        w.push(
            &timed_batch(&[(5.0, Some(10.0)), (6.0, Some(1070.0))]),
            &p,
            now,
        );
        assert_eq!(sorted_x(&w)?, vec![3.0, 6.0]);
        // Time passing does not age rows: only newer timestamps do.
        assert!(!w.evict_expired(now + Duration::from_secs(3600)));
        assert_eq!(w.rows(), 2);
        Ok(())
    }

    #[test]
    fn event_time_from_the_future_is_capped_at_now() -> TestResult {
        let p = timed_plan();
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        w.push(&timed_batch(&[(1.0, Some(9_990.0))]), &p, now);
        w.push(&timed_batch(&[(2.0, Some(1e12))]), &p, now);
        assert_eq!(sorted_x(&w)?, vec![1.0, 2.0], "cut-off is now - 60 s");
        assert!(w.evict_expired(now + Duration::from_secs(100)));
        assert_eq!(sorted_x(&w)?, vec![2.0]);
        Ok(())
    }

    #[test]
    fn rows_without_timestamps_age_by_arrival() -> TestResult {
        let p = timed_plan();
        let t0 = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut w = Window::new(100, Some(Duration::from_secs(60)), p.clone());
        // No timestamp seen yet: the cut-off follows the clock.
        w.push(&timed_batch(&[(1.0, None)]), &p, t0);
        assert!(w.evict_expired(t0 + Duration::from_secs(61)));
        assert_eq!(w.rows(), 0);
        // A row without a timestamp does not move the newest event time.
        w.push(&timed_batch(&[(2.0, Some(5_000.0))]), &p, t0);
        w.push(&timed_batch(&[(3.0, None), (4.0, Some(5_030.0))]), &p, t0);
        assert_eq!(sorted_x(&w)?, vec![2.0, 3.0, 4.0]);
        // A batch without the column at all is aged by arrival too.
        let mut plain = batch(10..12);
        plain.columns.push(None);
        w.push(&plain, &p, t0 - Duration::from_secs(6_000));
        assert!(w.evict_expired(t0));
        assert_eq!(
            sorted_x(&w)?,
            vec![2.0, 3.0, 4.0],
            "arrived before the cut-off"
        );
        w.push(
            &timed_batch(&[(5.0, Some(10_040.0))]),
            &p,
            t0 + Duration::from_secs(50),
        );
        assert_eq!(sorted_x(&w)?, vec![3.0, 5.0], "cut-off 9,980 passes 5,030");
        Ok(())
    }

    #[test]
    fn size_and_event_time_limits_work_together() -> TestResult {
        let p = timed_plan();
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut w = Window::new(3, Some(Duration::from_secs(60)), p.clone());
        let rows: Vec<(f64, Option<f64>)> = (0..10)
            .map(|i| (i as f64, Some(1000.0 + i as f64)))
            .collect();
        w.push(&timed_batch(&rows), &p, now);
        assert_eq!(sorted_x(&w)?, vec![7.0, 8.0, 9.0]);
        w.push(&timed_batch(&[(10.0, Some(1068.0))]), &p, now);
        assert_eq!(sorted_x(&w)?, vec![8.0, 9.0, 10.0]);
        w.push(&timed_batch(&[(11.0, Some(1070.0))]), &p, now);
        assert_eq!(
            sorted_x(&w)?,
            vec![10.0, 11.0],
            "1009 is older than 1070 - 60"
        );
        Ok(())
    }
}
