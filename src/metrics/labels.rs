//! The late-label join's series (SPEC.md section 9, `[labels]`):
//! `drift_labels_matched_total`, `drift_labels_expired_total`,
//! `drift_labels_unmatched_total{reason}`, `drift_labels_evicted_total` and the
//! gauge `drift_labels_pending`. Part of [`super::Metrics`]; present only when
//! `[labels]` is configured.

use prometheus::{GaugeVec, IntCounterVec, Registry};

use super::{counter, gauge};
use crate::labels::{JoinCounts, UnmatchedReason};

/// The join's counters and gauge.
pub(super) struct LabelSeries {
    matched: IntCounterVec,
    expired: IntCounterVec,
    evicted: IntCounterVec,
    unmatched: IntCounterVec,
    pending: GaugeVec,
}

impl LabelSeries {
    pub(super) fn register(r: &Registry) -> prometheus::Result<LabelSeries> {
        Ok(LabelSeries {
            matched: counter(r, "drift_labels_matched_total", "Late labels joined to the prediction with the same id (labels.id); the pair counts in the drift_quality_* gauges.", &["model"])?,
            expired: counter(r, "drift_labels_expired_total", "Predictions whose label did not come within labels.ttl.", &["model"])?,
            evicted: counter(r, "drift_labels_evicted_total", "Predictions dropped before their label came: the oldest beyond labels.max_pending, or one replaced by a newer prediction with the same id.", &["model"])?,
            unmatched: counter(r, "drift_labels_unmatched_total", "Label rows that joined no prediction, by reason: unknown_id (never seen), duplicate (already labelled), expired, evicted, missing_label (no usable label value).", &["model", "reason"])?,
            pending: gauge(r, "drift_labels_pending", "Predictions waiting for their label.", &["model"])?,
        })
    }

    /// Adds `counts` and sets the pending gauge.
    pub(super) fn record(&self, model: &str, counts: &JoinCounts, pending: usize) {
        self.matched
            .with_label_values(&[model])
            .inc_by(counts.matched);
        self.expired
            .with_label_values(&[model])
            .inc_by(counts.expired);
        self.evicted
            .with_label_values(&[model])
            .inc_by(counts.evicted);
        for reason in UnmatchedReason::ALL {
            self.unmatched
                .with_label_values(&[model, reason.as_str()])
                .inc_by(counts.unmatched(reason));
        }
        self.pending.with_label_values(&[model]).set(pending as f64);
    }
}
