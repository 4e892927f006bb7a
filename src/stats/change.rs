//! Streaming change detectors on a model's stream of prediction errors (concept drift).
//!
//! Each detector is a small state machine fed one error at a time: `update(x)` returns
//! true when a drift is detected at that element. The state that triggered a detection
//! stays readable (for a gauge) until the next `update`, which first resets the
//! detector, exactly as River does. [`Ddm`] watches a classifier's 0/1 error and
//! reproduces `river.drift.binary.DDM`; [`PageHinkley`] watches a regressor's absolute
//! error and reproduces `river.drift.PageHinkley`; [`Adwin`] watches either and
//! reproduces `river.drift.ADWIN` (all as in River 0.26.1). Each keeps River's order of
//! floating-point operations (DDM and Page-Hinkley share River's running mean,
//! `mean += (1 / n) * (x - mean)`), so the detections, and the state at each one, equal
//! River's on the same stream bit for bit; the oracle test at the bottom replays the
//! streams of `tests/fixtures/make_change_oracle.py`. As in River, a NaN fed to a
//! detector poisons its statistics (no detection) until it is reset: feed finite errors.

/// A streaming change detector: fed one value at a time, reports a drift.
pub trait ChangeDetector {
    /// Feeds one value; true when a drift is detected at this element. A detector that
    /// reported a drift resets itself at the start of the next call.
    fn update(&mut self, x: f64) -> bool;

    /// Whether the last [`update`](ChangeDetector::update) detected a drift.
    fn drift_detected(&self) -> bool;

    /// Forgets everything seen, as after a detection (the parameters are kept).
    fn reset(&mut self);
}

/// River's `stats.Mean` with unit weights: `n += 1; mean += (1 / n) * (x - mean)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct RunningMean {
    count: u64,
    mean: f64,
}

impl RunningMean {
    fn update(&mut self, x: f64) {
        self.count += 1;
        let n = self.count as f64;
        self.mean += (1.0 / n) * (x - self.mean);
    }
}

/// DDM's default warm start (elements before a warning or drift can be signalled).
pub const DDM_WARM_START: u64 = 30;
/// DDM's default warning threshold (about 95% confidence).
pub const DDM_WARNING_THRESHOLD: f64 = 2.0;
/// DDM's default drift threshold (about 99% confidence).
pub const DDM_DRIFT_THRESHOLD: f64 = 3.0;

/// The Drift Detection Method (DDM) of Gama, Medas, Castillo and Rodrigues, "Learning
/// with Drift Detection", SBIA 2004, pp. 286-295, on a classifier's error stream
/// (1 = wrong prediction, 0 = right).
///
/// Reproduces `river.drift.binary.DDM`: the error rate `p_i` is the running mean of the
/// stream, `s_i = sqrt(p_i * (1 - p_i) / i)`. Once more than `warm_start` elements were
/// seen, `(p_min, s_min)` is replaced by `(p_i, s_i)` whenever
/// `p_i + s_i <= p_min + s_min`; then the detector is in the warning zone when
/// `p_i + s_i > p_min + warning_threshold * s_min` and detects a drift when
/// `p_i + s_i > p_min + drift_threshold * s_min` (a drift clears the warning). Nothing
/// is signalled during the warm start. After a drift the next `update` starts from a
/// fresh state.
///
/// Values outside [0, 1] are accepted as River accepts them; where River raises (the
/// square root of a negative error rate, or a NaN reaching the first comparison before
/// any minimum was set) the state here turns NaN and nothing is signalled.
#[derive(Debug, Clone, PartialEq)]
pub struct Ddm {
    warm_start: u64,
    warning_threshold: f64,
    drift_threshold: f64,
    p: RunningMean,
    s: f64,
    /// `(p_min, s_min)`, set at the first element after the warm start.
    min: Option<(f64, f64)>,
    ps_min: f64,
    warning: bool,
    drift: bool,
}

impl Default for Ddm {
    /// River's defaults: warm start 30, warning threshold 2, drift threshold 3.
    fn default() -> Self {
        Self::new(DDM_WARM_START, DDM_WARNING_THRESHOLD, DDM_DRIFT_THRESHOLD)
    }
}

impl Ddm {
    /// A detector with the given warm start and thresholds (River's parameter names).
    pub fn new(warm_start: u64, warning_threshold: f64, drift_threshold: f64) -> Self {
        Self {
            warm_start,
            warning_threshold,
            drift_threshold,
            p: RunningMean::default(),
            s: 0.0,
            min: None,
            ps_min: f64::INFINITY,
            warning: false,
            drift: false,
        }
    }

    /// Feeds one error (1 = wrong, 0 = right); true when a drift is detected here.
    pub fn update(&mut self, x: f64) -> bool {
        if self.drift {
            self.reset();
        }
        self.p.update(x);
        let p = self.p.mean;
        let s = (p * (1.0 - p) / self.p.count as f64).sqrt();
        self.s = s;
        if self.p.count > self.warm_start {
            if p + s <= self.ps_min {
                self.min = Some((p, s));
                self.ps_min = p + s;
            }
            if let Some((p_min, s_min)) = self.min {
                self.warning = p + s > p_min + self.warning_threshold * s_min;
                if p + s > p_min + self.drift_threshold * s_min {
                    self.drift = true;
                    self.warning = false;
                }
            }
        }
        self.drift
    }

    /// Forgets everything seen (River's `_reset`); the parameters are kept.
    pub fn reset(&mut self) {
        *self = Self::new(
            self.warm_start,
            self.warning_threshold,
            self.drift_threshold,
        );
    }

    /// Whether the last update detected a drift.
    pub fn drift_detected(&self) -> bool {
        self.drift
    }

    /// Whether the last update left the detector in the warning zone.
    pub fn in_warning(&self) -> bool {
        self.warning
    }

    /// Elements seen since the start or the last reset (`i`).
    pub fn count(&self) -> u64 {
        self.p.count
    }

    /// The current error rate `p_i` (0 before any element).
    pub fn error_rate(&self) -> f64 {
        self.p.mean
    }

    /// The current standard deviation `s_i = sqrt(p_i * (1 - p_i) / i)`.
    pub fn std_dev(&self) -> f64 {
        self.s
    }

    /// The monitored level `p_i + s_i`.
    pub fn level(&self) -> f64 {
        self.p.mean + self.s
    }

    /// `p_min`, the error rate where `p_i + s_i` was lowest; `None` during the warm start.
    pub fn p_min(&self) -> Option<f64> {
        self.min.map(|(p, _)| p)
    }

    /// `s_min`, the standard deviation where `p_i + s_i` was lowest; `None` during the
    /// warm start.
    pub fn s_min(&self) -> Option<f64> {
        self.min.map(|(_, s)| s)
    }

    /// `p_min + s_min`; `None` during the warm start.
    pub fn min_level(&self) -> Option<f64> {
        self.min.map(|_| self.ps_min)
    }

    /// The level above which the detector warns, `p_min + warning_threshold * s_min`;
    /// `None` during the warm start.
    pub fn warning_level(&self) -> Option<f64> {
        self.min
            .map(|(p_min, s_min)| p_min + self.warning_threshold * s_min)
    }

    /// The level above which the detector detects a drift,
    /// `p_min + drift_threshold * s_min`; `None` during the warm start.
    pub fn drift_level(&self) -> Option<f64> {
        self.min
            .map(|(p_min, s_min)| p_min + self.drift_threshold * s_min)
    }
}

impl ChangeDetector for Ddm {
    fn update(&mut self, x: f64) -> bool {
        Ddm::update(self, x)
    }

    fn drift_detected(&self) -> bool {
        self.drift
    }

    fn reset(&mut self) {
        Ddm::reset(self);
    }
}

/// Which changes of the mean [`PageHinkley`] watches (River's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageHinkleyMode {
    /// Increases only (`"up"`).
    Up,
    /// Decreases only (`"down"`).
    Down,
    /// Both directions (`"both"`, River's default).
    #[default]
    Both,
}

/// Page-Hinkley's default minimum number of elements before a drift can be detected.
pub const PH_MIN_INSTANCES: u64 = 30;
/// Page-Hinkley's default magnitude of changes tolerated (`delta`).
pub const PH_DELTA: f64 = 0.005;
/// Page-Hinkley's default detection threshold (`lambda`).
pub const PH_THRESHOLD: f64 = 50.0;
/// Page-Hinkley's default forgetting factor (`1 - 0.0001`).
pub const PH_ALPHA: f64 = 1.0 - 0.0001;

/// The Page-Hinkley test (E. S. Page, "Continuous Inspection Schemes", Biometrika 41,
/// 1954, pp. 100-115; the fading two-sided form as in Mouss et al., "Test of
/// Page-Hinkley, an approach for fault detection in an agro-alimentary production
/// system", ASCC 2004) on a regressor's absolute error stream.
///
/// Reproduces `river.drift.PageHinkley`: with `mean` the running mean of the stream and
/// `dev = x - mean`, it keeps `U = alpha * U + dev - delta` and its minimum, and
/// `D = alpha * D + dev + delta` and its maximum (which starts at -1). Once at least
/// `min_instances` elements were seen, a drift is detected when `U - min U > threshold`
/// (mode up), `max D - D > threshold` (mode down) or either (mode both). After a drift
/// the next `update` starts from a fresh state.
#[derive(Debug, Clone, PartialEq)]
pub struct PageHinkley {
    min_instances: u64,
    delta: f64,
    threshold: f64,
    alpha: f64,
    mode: PageHinkleyMode,
    mean: RunningMean,
    sum_increase: f64,
    sum_decrease: f64,
    min_increase: f64,
    max_decrease: f64,
    drift: bool,
}

impl Default for PageHinkley {
    /// River's defaults: 30 instances, delta 0.005, threshold 50, alpha 1 - 0.0001, both.
    fn default() -> Self {
        Self::new(
            PH_MIN_INSTANCES,
            PH_DELTA,
            PH_THRESHOLD,
            PH_ALPHA,
            PageHinkleyMode::Both,
        )
    }
}

impl PageHinkley {
    /// A detector with the given parameters (River's names and meaning).
    pub fn new(
        min_instances: u64,
        delta: f64,
        threshold: f64,
        alpha: f64,
        mode: PageHinkleyMode,
    ) -> Self {
        Self {
            min_instances,
            delta,
            threshold,
            alpha,
            mode,
            mean: RunningMean::default(),
            sum_increase: 0.0,
            sum_decrease: 0.0,
            min_increase: f64::INFINITY,
            max_decrease: -1.0,
            drift: false,
        }
    }

    /// Feeds one value (an absolute error); true when a drift is detected here.
    pub fn update(&mut self, x: f64) -> bool {
        if self.drift {
            self.reset();
        }
        self.mean.update(x);
        let dev = x - self.mean.mean;
        self.sum_increase = self.alpha * self.sum_increase + dev - self.delta;
        self.sum_decrease = self.alpha * self.sum_decrease + dev + self.delta;
        if self.sum_increase < self.min_increase {
            self.min_increase = self.sum_increase;
        }
        if self.sum_decrease > self.max_decrease {
            self.max_decrease = self.sum_decrease;
        }
        if self.mean.count >= self.min_instances {
            let up = self.sum_increase - self.min_increase > self.threshold;
            let down = self.max_decrease - self.sum_decrease > self.threshold;
            self.drift = match self.mode {
                PageHinkleyMode::Up => up,
                PageHinkleyMode::Down => down,
                PageHinkleyMode::Both => up || down,
            };
        }
        self.drift
    }

    /// Forgets everything seen (River's `_reset`); the parameters are kept.
    pub fn reset(&mut self) {
        *self = Self::new(
            self.min_instances,
            self.delta,
            self.threshold,
            self.alpha,
            self.mode,
        );
    }

    /// Whether the last update detected a drift.
    pub fn drift_detected(&self) -> bool {
        self.drift
    }

    /// Elements seen since the start or the last reset.
    pub fn count(&self) -> u64 {
        self.mean.count
    }

    /// The running mean of the values since the start or the last reset.
    pub fn mean(&self) -> f64 {
        self.mean.mean
    }

    /// The statistic for an increase, `U - min U` (0 before any element).
    pub fn increase_statistic(&self) -> f64 {
        if self.mean.count == 0 {
            0.0
        } else {
            self.sum_increase - self.min_increase
        }
    }

    /// The statistic for a decrease, `max D - D` (0 before any element).
    pub fn decrease_statistic(&self) -> f64 {
        if self.mean.count == 0 {
            0.0
        } else {
            self.max_decrease - self.sum_decrease
        }
    }

    /// The statistic compared with the threshold in this mode (the larger of the two in
    /// mode both); a drift is detected when it exceeds [`threshold`](Self::threshold)
    /// after the minimum number of elements.
    pub fn statistic(&self) -> f64 {
        match self.mode {
            PageHinkleyMode::Up => self.increase_statistic(),
            PageHinkleyMode::Down => self.decrease_statistic(),
            PageHinkleyMode::Both => self.increase_statistic().max(self.decrease_statistic()),
        }
    }

    /// The detection threshold (`lambda`).
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The directions watched.
    pub fn mode(&self) -> PageHinkleyMode {
        self.mode
    }
}

impl ChangeDetector for PageHinkley {
    fn update(&mut self, x: f64) -> bool {
        PageHinkley::update(self, x)
    }

    fn drift_detected(&self) -> bool {
        self.drift
    }

    fn reset(&mut self) {
        PageHinkley::reset(self);
    }
}

/// ADWIN's default confidence parameter (`delta`).
pub const ADWIN_DELTA: f64 = 0.002;
/// ADWIN's default check period: cut points are examined every `clock` elements.
pub const ADWIN_CLOCK: u64 = 32;
/// ADWIN's default number of buckets of one size kept before two are merged.
pub const ADWIN_MAX_BUCKETS: usize = 5;
/// ADWIN's default minimum length of either sub-window at a cut point.
pub const ADWIN_MIN_WINDOW_LENGTH: u64 = 5;
/// ADWIN's default number of elements before any check.
pub const ADWIN_GRACE_PERIOD: u64 = 10;

/// A bucket of ADWIN's exponential histogram: the sum of its elements and their sum of
/// squared deviations from their mean.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    total: f64,
    variance: f64,
}

/// Adaptive windowing (ADWIN2) of Bifet and Gavaldà, "Learning from Time-Changing Data
/// with Adaptive Windowing", SIAM SDM 2007, pp. 443-448, on any bounded error stream
/// (absolute errors or 0/1 errors).
///
/// Reproduces `river.drift.ADWIN` (River's Rust `AdaptiveWindowing`): the window is
/// kept as an exponential histogram, row `i` holding buckets of `2^i` elements, oldest
/// first; when a row holds `max_buckets + 1` buckets its two oldest are merged into the
/// next row. Every `clock` elements, once the window is longer than `grace_period`,
/// each split of the window into an older part `W0` (`n0` elements) and a newer part
/// `W1` (`n1`) at a bucket boundary, from the oldest, is tested: with `n = n0 + n1`,
/// `delta' = ln(2 ln(n) / delta)`, `1/m = 1/(n0 - L + 1) + 1/(n1 - L + 1)` (`L` =
/// `min_window_length`) and `sigma^2` the window's variance, a cut is made when both
/// parts have at least `L` elements and
/// `|mean(W0) - mean(W1)| > sqrt(2 (1/m) sigma^2 delta') + 2/3 delta' (1/m)`; the oldest
/// bucket is then dropped and the scan starts over. Any cut at a check is a drift.
/// After a drift the next `update` starts from an empty window, as River's wrapper
/// builds a new one.
///
/// A `clock` or `max_buckets` of 0, on which River 0.26.1 panics (remainder by zero,
/// index out of bounds at the first merge), is taken as 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Adwin {
    delta: f64,
    clock: u64,
    max_buckets: usize,
    min_window_length: u64,
    grace_period: u64,
    /// `rows[i]`: buckets of `2^i` elements, oldest first.
    rows: Vec<std::collections::VecDeque<Bucket>>,
    width: u64,
    total: f64,
    variance: f64,
    tick: u64,
    drift: bool,
}

impl Default for Adwin {
    /// River's defaults: delta 0.002, clock 32, 5 buckets, minimum sub-window 5, grace 10.
    fn default() -> Self {
        Self::new(
            ADWIN_DELTA,
            ADWIN_CLOCK,
            ADWIN_MAX_BUCKETS,
            ADWIN_MIN_WINDOW_LENGTH,
            ADWIN_GRACE_PERIOD,
        )
    }
}

/// `2^i` as a float (exact).
fn pow2(i: usize) -> f64 {
    f64::from(2u32).powi(i32::try_from(i).unwrap_or(i32::MAX))
}

impl Adwin {
    /// A detector with the given parameters (River's names and meaning).
    pub fn new(
        delta: f64,
        clock: u64,
        max_buckets: usize,
        min_window_length: u64,
        grace_period: u64,
    ) -> Self {
        Self {
            delta,
            clock: clock.max(1),
            max_buckets: max_buckets.max(1),
            min_window_length,
            grace_period,
            rows: Vec::new(),
            width: 0,
            total: 0.0,
            variance: 0.0,
            tick: 0,
            drift: false,
        }
    }

    /// Feeds one value; true when a drift is detected here.
    pub fn update(&mut self, x: f64) -> bool {
        if self.drift {
            self.reset();
        }
        self.insert(x);
        self.drift = self.check();
        self.drift
    }

    /// Appends `x` as a new bucket of one element and merges full rows.
    fn insert(&mut self, x: f64) {
        if self.rows.is_empty() {
            self.rows.push(Default::default());
        }
        self.rows[0].push_back(Bucket {
            total: x,
            variance: 0.0,
        });
        self.width += 1;
        let w = self.width as f64;
        if self.width > 1 {
            let d = x - self.total / (w - 1.0);
            self.variance += (w - 1.0) * d * d / w;
        }
        self.total += x;

        let mut i = 0;
        while i < self.rows.len() && self.rows[i].len() > self.max_buckets {
            let (Some(a), Some(b)) = (self.rows[i].pop_front(), self.rows[i].pop_front()) else {
                break;
            };
            let n = pow2(i);
            let (mu_a, mu_b) = (a.total / n, b.total / n);
            let merged = Bucket {
                total: a.total + b.total,
                variance: a.variance + b.variance + n * 0.5 * (mu_a - mu_b) * (mu_a - mu_b),
            };
            if i + 1 == self.rows.len() {
                self.rows.push(Default::default());
            }
            self.rows[i + 1].push_back(merged);
            i += 1;
        }
    }

    /// One check (every `clock` elements past the grace period): cuts the window while
    /// some split shows a change; true when at least one cut was made.
    fn check(&mut self) -> bool {
        self.tick += 1;
        if self.tick % self.clock != 0 || self.width <= self.grace_period {
            return false;
        }
        let mut detected = false;
        while self.has_cut() {
            detected = true;
            self.drop_oldest();
        }
        detected
    }

    /// Scans the splits from the oldest bucket on; true at the first one that cuts.
    fn has_cut(&self) -> bool {
        let min_len = self.min_window_length as f64;
        let (mut n0, mut n1) = (0.0, self.width as f64);
        let (mut u0, mut u1) = (0.0, self.total);
        for (i, row) in self.rows.iter().enumerate().rev() {
            let size = pow2(i);
            for (k, bucket) in row.iter().enumerate() {
                n0 += size;
                n1 -= size;
                u0 += bucket.total;
                u1 -= bucket.total;
                if i == 0 && k + 1 == row.len() {
                    return false;
                }
                let delta_mean = (u0 / n0) - (u1 / n1);
                if n1 >= min_len && n0 >= min_len && self.cuts(n0, n1, delta_mean) {
                    return true;
                }
            }
        }
        false
    }

    /// Whether the difference of the two means exceeds ADWIN's bound `epsilon_cut`.
    fn cuts(&self, n0: f64, n1: f64, delta_mean: f64) -> bool {
        let w = self.width as f64;
        let min_len = self.min_window_length as f64;
        let delta_prime = (2.0 * w.ln() / self.delta).ln();
        let m_recip = 1.0 / (n0 - min_len + 1.0) + 1.0 / (n1 - min_len + 1.0);
        let epsilon = (2.0 * m_recip * (self.variance / w) * delta_prime).sqrt()
            + 2.0 / 3.0 * delta_prime * m_recip;
        delta_mean.abs() > epsilon
    }

    /// Drops the oldest bucket from the window and its statistics.
    fn drop_oldest(&mut self) {
        let last = self.rows.len().saturating_sub(1);
        let Some(bucket) = self.rows.get_mut(last).and_then(|row| row.pop_front()) else {
            return;
        };
        let n = pow2(last);
        let mu = bucket.total / n;
        self.width = self.width.saturating_sub(n as u64);
        let w = self.width as f64;
        self.total -= bucket.total;
        let mu_window = self.total / w;
        self.variance -= bucket.variance + n * w * (mu - mu_window) * (mu - mu_window) / (n + w);
        if self.rows[last].is_empty() {
            self.rows.pop();
        }
    }

    /// Forgets everything seen (River builds a new window); the parameters are kept.
    pub fn reset(&mut self) {
        *self = Self::new(
            self.delta,
            self.clock,
            self.max_buckets,
            self.min_window_length,
            self.grace_period,
        );
    }

    /// Whether the last update detected a drift.
    pub fn drift_detected(&self) -> bool {
        self.drift
    }

    /// The window's length in elements (River's `width`).
    pub fn width(&self) -> u64 {
        self.width
    }

    /// The sum of the window's elements (River's `total`).
    pub fn total(&self) -> f64 {
        self.total
    }

    /// The window's mean (River's `estimation`; 0 for an empty window).
    pub fn estimation(&self) -> f64 {
        if self.width == 0 {
            0.0
        } else {
            self.total / self.width as f64
        }
    }

    /// The window's sum of squared deviations from its mean (what River's `variance`
    /// property returns, despite its doc string).
    pub fn sum_squared_deviations(&self) -> f64 {
        self.variance
    }

    /// The window's (population) variance, sum of squared deviations / width (River's
    /// `variance_in_window`; 0 for an empty window).
    pub fn window_variance(&self) -> f64 {
        if self.width == 0 {
            0.0
        } else {
            self.variance / self.width as f64
        }
    }
}

impl ChangeDetector for Adwin {
    fn update(&mut self, x: f64) -> bool {
        Adwin::update(self, x)
    }

    fn drift_detected(&self) -> bool {
        self.drift
    }

    fn reset(&mut self) {
        Adwin::reset(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const CASES: &str = include_str!("../../tests/fixtures/change/cases.json");

    #[derive(Deserialize)]
    struct Fixture {
        river_version: String,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        detector: String,
        params: serde_json::Value,
        stream: Vec<f64>,
        drifts: Vec<usize>,
        warnings: Vec<usize>,
        at_drifts: Vec<serde_json::Value>,
        #[serde(rename = "final")]
        final_state: serde_json::Value,
    }

    #[derive(Deserialize)]
    struct DdmParams {
        warm_start: u64,
        warning_threshold: f64,
        drift_threshold: f64,
    }

    #[derive(Deserialize)]
    struct DdmFinal {
        n: f64,
        p: f64,
        p_min: Option<f64>,
        s_min: Option<f64>,
        ps_min: Option<f64>,
        drift: bool,
        warning: bool,
    }

    #[derive(Deserialize)]
    struct PhParams {
        min_instances: u64,
        delta: f64,
        threshold: f64,
        alpha: f64,
        mode: String,
    }

    #[derive(Deserialize)]
    struct PhFinal {
        n: f64,
        mean: f64,
        sum_increase: f64,
        sum_decrease: f64,
        min_increase: f64,
        max_decrease: f64,
        drift: bool,
    }

    #[derive(Deserialize)]
    struct AdwinParams {
        delta: f64,
        clock: u64,
        max_buckets: usize,
        min_window_length: u64,
        grace_period: u64,
    }

    #[derive(Deserialize)]
    struct AdwinFinal {
        width: f64,
        total: f64,
        variance: f64,
        estimation: f64,
        drift: bool,
    }

    fn fixture() -> Result<Fixture, serde_json::Error> {
        serde_json::from_str(CASES)
    }

    fn cases_of(detector: &str) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
        let fixture = fixture()?;
        let cases: Vec<Case> = fixture
            .cases
            .into_iter()
            .filter(|c| c.detector == detector)
            .collect();
        if cases.is_empty() {
            return Err(format!("no {detector} case in the fixture").into());
        }
        Ok(cases)
    }

    fn mode(name: &str) -> Result<PageHinkleyMode, String> {
        match name {
            "up" => Ok(PageHinkleyMode::Up),
            "down" => Ok(PageHinkleyMode::Down),
            "both" => Ok(PageHinkleyMode::Both),
            other => Err(format!("unknown mode {other:?}")),
        }
    }

    #[test]
    fn fixture_was_made_with_river() -> TestResult {
        let fixture = fixture()?;
        assert!(!fixture.river_version.is_empty());
        assert!(fixture.cases.len() >= 10);
        Ok(())
    }

    /// Asserts the detector's state equals River's (recorded by the oracle), exactly.
    fn assert_ddm_state(ddm: &Ddm, river: serde_json::Value, at: &str) -> TestResult {
        let river: DdmFinal = serde_json::from_value(river)?;
        assert_eq!(ddm.count() as f64, river.n, "{at}");
        assert_eq!(ddm.error_rate(), river.p, "{at}");
        assert_eq!(ddm.p_min(), river.p_min, "{at}");
        assert_eq!(ddm.s_min(), river.s_min, "{at}");
        assert_eq!(ddm.min_level(), river.ps_min, "{at}");
        assert_eq!(ddm.drift_detected(), river.drift, "{at}");
        assert_eq!(ddm.in_warning(), river.warning, "{at}");
        Ok(())
    }

    fn assert_ph_state(ph: &PageHinkley, river: serde_json::Value, at: &str) -> TestResult {
        let river: PhFinal = serde_json::from_value(river)?;
        assert_eq!(ph.count() as f64, river.n, "{at}");
        assert_eq!(ph.mean(), river.mean, "{at}");
        assert_eq!(ph.sum_increase, river.sum_increase, "{at}");
        assert_eq!(ph.sum_decrease, river.sum_decrease, "{at}");
        assert_eq!(ph.min_increase, river.min_increase, "{at}");
        assert_eq!(ph.max_decrease, river.max_decrease, "{at}");
        let up = river.sum_increase - river.min_increase;
        let down = river.max_decrease - river.sum_decrease;
        assert_eq!(ph.increase_statistic(), up, "{at}");
        assert_eq!(ph.decrease_statistic(), down, "{at}");
        assert_eq!(ph.drift_detected(), river.drift, "{at}");
        Ok(())
    }

    fn assert_adwin_state(adwin: &Adwin, river: serde_json::Value, at: &str) -> TestResult {
        let river: AdwinFinal = serde_json::from_value(river)?;
        assert_eq!(adwin.width() as f64, river.width, "{at}");
        assert_eq!(adwin.total(), river.total, "{at}");
        assert_eq!(adwin.sum_squared_deviations(), river.variance, "{at}");
        assert_eq!(adwin.estimation(), river.estimation, "{at}");
        assert_eq!(adwin.drift_detected(), river.drift, "{at}");
        Ok(())
    }

    /// Replays a case: the detections, the warnings (when `warning` is given) and the
    /// state at each detection and at the end must all equal River's.
    fn replay<D: ChangeDetector>(
        case: Case,
        mut detector: D,
        warning: Option<fn(&D) -> bool>,
        assert_state: fn(&D, serde_json::Value, &str) -> TestResult,
    ) -> TestResult {
        let mut at_drifts = case.at_drifts.into_iter();
        let (mut drifts, mut warnings) = (Vec::new(), Vec::new());
        for (i, &x) in case.stream.iter().enumerate() {
            if detector.update(x) {
                drifts.push(i);
                let river = at_drifts.next().ok_or("more drifts than River")?;
                assert_state(&detector, river, &format!("{} at {i}", case.name))?;
            }
            if warning.is_some_and(|in_warning| in_warning(&detector)) {
                warnings.push(i);
            }
        }
        assert_eq!(drifts, case.drifts, "{}: drifts", case.name);
        assert_eq!(warnings, case.warnings, "{}: warnings", case.name);
        assert_state(
            &detector,
            case.final_state,
            &format!("{} at end", case.name),
        )
    }

    #[test]
    fn ddm_matches_river() -> TestResult {
        for case in cases_of("ddm")? {
            let params: DdmParams = serde_json::from_value(case.params.clone())?;
            let ddm = Ddm::new(
                params.warm_start,
                params.warning_threshold,
                params.drift_threshold,
            );
            replay(case, ddm, Some(Ddm::in_warning), assert_ddm_state)?;
        }
        Ok(())
    }

    #[test]
    fn page_hinkley_matches_river() -> TestResult {
        for case in cases_of("page_hinkley")? {
            let params: PhParams = serde_json::from_value(case.params.clone())?;
            let ph = PageHinkley::new(
                params.min_instances,
                params.delta,
                params.threshold,
                params.alpha,
                mode(&params.mode)?,
            );
            replay(case, ph, None, assert_ph_state)?;
        }
        Ok(())
    }

    #[test]
    fn adwin_matches_river() -> TestResult {
        for case in cases_of("adwin")? {
            let params: AdwinParams = serde_json::from_value(case.params.clone())?;
            let adwin = Adwin::new(
                params.delta,
                params.clock,
                params.max_buckets,
                params.min_window_length,
                params.grace_period,
            );
            replay(case, adwin, None, assert_adwin_state)?;
        }
        Ok(())
    }

    #[test]
    fn defaults_are_rivers() -> TestResult {
        let fixture = fixture()?;
        let ddm = fixture
            .cases
            .iter()
            .find(|c| c.name == "ddm_abrupt")
            .ok_or("no ddm_abrupt case")?;
        let params: DdmParams = serde_json::from_value(ddm.params.clone())?;
        assert_eq!(params.warm_start, DDM_WARM_START);
        assert_eq!(params.warning_threshold, DDM_WARNING_THRESHOLD);
        assert_eq!(params.drift_threshold, DDM_DRIFT_THRESHOLD);
        let ph = fixture
            .cases
            .iter()
            .find(|c| c.name == "ph_shift_up")
            .ok_or("no ph_shift_up case")?;
        let params: PhParams = serde_json::from_value(ph.params.clone())?;
        assert_eq!(params.min_instances, PH_MIN_INSTANCES);
        assert_eq!(params.delta, PH_DELTA);
        assert_eq!(params.threshold, PH_THRESHOLD);
        assert_eq!(params.alpha, PH_ALPHA);
        assert_eq!(mode(&params.mode)?, PageHinkleyMode::default());
        let adwin = fixture
            .cases
            .iter()
            .find(|c| c.name == "adwin_shift_up")
            .ok_or("no adwin_shift_up case")?;
        let params: AdwinParams = serde_json::from_value(adwin.params.clone())?;
        assert_eq!(params.delta, ADWIN_DELTA);
        assert_eq!(params.clock, ADWIN_CLOCK);
        assert_eq!(params.max_buckets, ADWIN_MAX_BUCKETS);
        assert_eq!(params.min_window_length, ADWIN_MIN_WINDOW_LENGTH);
        assert_eq!(params.grace_period, ADWIN_GRACE_PERIOD);
        Ok(())
    }

    #[test]
    fn adwin_checks_only_every_clock_elements() {
        let mut adwin = Adwin::default();
        for _ in 0..16 {
            assert!(!adwin.update(0.0));
        }
        // An obvious shift, but the first check is at the 32nd element.
        for _ in 0..15 {
            assert!(!adwin.update(100.0));
        }
        assert_eq!(adwin.width(), 31);
        assert!(adwin.update(100.0));
        // Cutting dropped the old elements: the window is shorter and its mean higher.
        assert!(adwin.width() < 32);
        assert!(adwin.estimation() > 50.0);
    }

    #[test]
    fn adwin_waits_for_the_grace_period() {
        // Checked at every element, 20 zeros then 100s: with no grace period River cuts
        // at the first 100 (index 20); with a grace period of 30 not before index 30.
        let stream: Vec<f64> = (0..40).map(|i| if i < 20 { 0.0 } else { 100.0 }).collect();
        let first_drift = |grace| {
            let mut adwin = Adwin::new(ADWIN_DELTA, 1, ADWIN_MAX_BUCKETS, 1, grace);
            stream.iter().position(|&x| adwin.update(x))
        };
        assert_eq!(first_drift(0), Some(20));
        assert_eq!(first_drift(30), Some(30));
    }

    #[test]
    fn adwin_resets_on_the_update_after_a_drift() {
        let mut adwin = Adwin::default();
        for _ in 0..64 {
            adwin.update(0.0);
        }
        let detected = (0..64).any(|_| adwin.update(10.0));
        assert!(detected);
        assert!(adwin.drift_detected());
        assert!(!adwin.update(3.0));
        assert!(!adwin.drift_detected());
        assert_eq!(adwin.width(), 1);
        assert_eq!(adwin.total(), 3.0);
        assert_eq!(adwin.window_variance(), 0.0);
    }

    #[test]
    fn adwin_window_statistics_match_a_direct_computation() {
        // No drift on a slow ramp: the buckets' merged sums and squared deviations must
        // equal the direct ones over the whole window.
        let mut adwin = Adwin::default();
        let xs: Vec<f64> = (0..200).map(|i| f64::from(i % 7)).collect();
        for &x in &xs {
            assert!(!adwin.update(x));
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        assert_eq!(adwin.width(), 200);
        assert!((adwin.estimation() - mean).abs() < 1e-12);
        assert!((adwin.sum_squared_deviations() - ss).abs() < 1e-9 * ss);
        assert!((adwin.window_variance() - ss / n).abs() < 1e-9);
    }

    #[test]
    fn ddm_signals_nothing_during_the_warm_start() {
        let mut ddm = Ddm::default();
        // 29 right predictions then one error: p_i + s_i jumps, but i <= warm start.
        for _ in 0..29 {
            assert!(!ddm.update(0.0));
        }
        assert!(!ddm.update(1.0));
        assert_eq!(ddm.count(), 30);
        assert!(!ddm.in_warning());
        assert_eq!(ddm.p_min(), None);
        assert_eq!(ddm.warning_level(), None);
        // The first element after the warm start sets the minimum to itself.
        assert!(!ddm.update(0.0));
        assert_eq!(ddm.p_min(), Some(ddm.error_rate()));
        assert_eq!(ddm.s_min(), Some(ddm.std_dev()));
        assert_eq!(ddm.min_level(), Some(ddm.level()));
    }

    #[test]
    fn ddm_resets_on_the_update_after_a_drift() {
        let mut ddm = Ddm::default();
        for _ in 0..100 {
            assert!(!ddm.update(0.0));
        }
        // A perfect classifier: p_min = s_min = 0, so the first error is a drift.
        assert!(ddm.update(1.0));
        assert!(ddm.drift_detected());
        assert!(!ddm.in_warning(), "a drift clears the warning");
        // The state that triggered it stays readable until the next update ...
        assert_eq!(ddm.count(), 101);
        assert_eq!(ddm.p_min(), Some(0.0));
        assert!(ddm.level() > 0.0);
        // ... which starts afresh.
        assert!(!ddm.update(1.0));
        assert!(!ddm.drift_detected());
        assert_eq!(ddm.count(), 1);
        assert_eq!(ddm.error_rate(), 1.0);
        assert_eq!(ddm.p_min(), None);
    }

    #[test]
    fn ddm_reset_keeps_parameters() {
        let mut ddm = Ddm::new(5, 1.0, 1.5);
        for x in [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0] {
            ddm.update(x);
        }
        ddm.reset();
        assert_eq!(ddm, Ddm::new(5, 1.0, 1.5));
    }

    #[test]
    fn page_hinkley_signals_nothing_before_min_instances() {
        let mut ph = PageHinkley::default();
        for _ in 0..5 {
            assert!(!ph.update(0.0));
        }
        // A huge jump: the statistic passes the threshold at once, but only 29 elements.
        for _ in 0..24 {
            assert!(!ph.update(1000.0));
        }
        assert_eq!(ph.count(), 29);
        assert!(ph.statistic() > ph.threshold());
        // The 30th element may signal.
        assert!(ph.update(1000.0));
    }

    #[test]
    fn page_hinkley_resets_on_the_update_after_a_drift() {
        let mut ph = PageHinkley::default();
        for _ in 0..100 {
            ph.update(0.5);
        }
        let mut detected = false;
        for _ in 0..100 {
            if ph.update(5.0) {
                detected = true;
                break;
            }
        }
        assert!(detected);
        assert!(ph.increase_statistic() > ph.threshold());
        assert!(!ph.update(0.5));
        assert!(!ph.drift_detected());
        assert_eq!(ph.count(), 1);
        assert_eq!(ph.mean(), 0.5);
        assert_eq!(ph.statistic(), 0.0);
    }

    #[test]
    fn page_hinkley_mode_up_ignores_a_decrease() {
        let mut up = PageHinkley::new(
            PH_MIN_INSTANCES,
            PH_DELTA,
            PH_THRESHOLD,
            PH_ALPHA,
            PageHinkleyMode::Up,
        );
        let mut both = PageHinkley::default();
        let (mut up_hits, mut both_hits) = (0, 0);
        for i in 0..400 {
            let x = if i < 200 { 5.0 } else { 0.1 };
            up_hits += usize::from(up.update(x));
            both_hits += usize::from(both.update(x));
        }
        assert_eq!(up_hits, 0);
        assert!(both_hits > 0);
    }

    #[test]
    fn statistics_are_zero_before_any_element() {
        let ph = PageHinkley::default();
        assert_eq!(ph.statistic(), 0.0);
        assert_eq!(ph.count(), 0);
        let ddm = Ddm::default();
        assert_eq!(ddm.level(), 0.0);
        assert_eq!(ddm.drift_level(), None);
        let adwin = Adwin::default();
        assert_eq!(adwin.estimation(), 0.0);
        assert_eq!(adwin.window_variance(), 0.0);
    }

    #[test]
    fn detectors_work_behind_the_trait() {
        let mut detectors: Vec<Box<dyn ChangeDetector>> = vec![
            Box::new(Ddm::default()),
            Box::new(PageHinkley::default()),
            Box::new(Adwin::default()),
        ];
        for d in &mut detectors {
            for _ in 0..50 {
                d.update(0.0);
            }
            let hit = (0..200).any(|_| d.update(1.0));
            assert!(hit);
            d.reset();
            assert!(!d.drift_detected());
        }
    }
}
