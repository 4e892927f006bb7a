//! Renders gathered metric families as the Prometheus text format (0.0.4) or
//! OpenMetrics 1.0.0, negotiated from the scraper's `Accept` header.
//!
//! Hand-written rather than the `prometheus` crate's `TextEncoder` because that
//! one has no OpenMetrics and prints floats with `Display`, which spells a
//! p-value of 1e-300 with 300 zeros; here every float is the shortest text that
//! reads back as the same `f64` (`1e-300`, `0.5`, `3`).

use std::fmt::Write as _;

use prometheus::proto::{LabelPair, MetricFamily, MetricType};

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it (Prometheus asks for it
    /// first), else the text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// `families` in `format`.
pub fn encode(families: &[MetricFamily], format: Format) -> String {
    let mut out = String::with_capacity(64 * 1024);
    for family in families {
        if family.get_metric().is_empty() {
            continue;
        }
        let name = family.name();
        let kind = family.get_field_type();
        // OpenMetrics names a counter family without its `_total`.
        let family_name = match (format, kind) {
            (Format::OpenMetrics, MetricType::COUNTER) => {
                name.strip_suffix("_total").unwrap_or(name)
            }
            _ => name,
        };
        let type_text = match (kind, format) {
            (MetricType::COUNTER, _) => "counter",
            (MetricType::GAUGE, _) => "gauge",
            (MetricType::HISTOGRAM, _) => "histogram",
            (MetricType::SUMMARY, _) => "summary",
            (MetricType::UNTYPED, Format::Text) => "untyped",
            (MetricType::UNTYPED, Format::OpenMetrics) => "unknown",
        };
        let _ = writeln!(
            out,
            "# HELP {family_name} {}",
            escape_help(family.help(), format)
        );
        let _ = writeln!(out, "# TYPE {family_name} {type_text}");
        for metric in family.get_metric() {
            let labels = metric.get_label();
            match kind {
                MetricType::COUNTER => {
                    let sample = match format {
                        Format::OpenMetrics => format!("{family_name}_total"),
                        Format::Text => name.to_string(),
                    };
                    sample_line(
                        &mut out,
                        &sample,
                        labels,
                        None,
                        metric.get_counter().value(),
                    );
                }
                MetricType::GAUGE => {
                    sample_line(&mut out, name, labels, None, metric.get_gauge().value());
                }
                // The crate makes no untyped metrics (its own encoder leaves them
                // unimplemented); a gauge value, if any, is the best reading.
                MetricType::UNTYPED => {
                    sample_line(&mut out, name, labels, None, metric.get_gauge().value());
                }
                MetricType::HISTOGRAM => {
                    let h = metric.get_histogram();
                    let bucket = format!("{name}_bucket");
                    let mut inf_seen = false;
                    for b in h.get_bucket() {
                        let le = float(b.upper_bound());
                        inf_seen |= b.upper_bound() == f64::INFINITY;
                        sample_line(
                            &mut out,
                            &bucket,
                            labels,
                            Some(("le", &le)),
                            b.cumulative_count() as f64,
                        );
                    }
                    if !inf_seen {
                        sample_line(
                            &mut out,
                            &bucket,
                            labels,
                            Some(("le", "+Inf")),
                            h.get_sample_count() as f64,
                        );
                    }
                    sample_line(
                        &mut out,
                        &format!("{name}_sum"),
                        labels,
                        None,
                        h.get_sample_sum(),
                    );
                    sample_line(
                        &mut out,
                        &format!("{name}_count"),
                        labels,
                        None,
                        h.get_sample_count() as f64,
                    );
                }
                MetricType::SUMMARY => {
                    let s = metric.get_summary();
                    for q in s.get_quantile() {
                        let quantile = float(q.quantile());
                        sample_line(
                            &mut out,
                            name,
                            labels,
                            Some(("quantile", &quantile)),
                            q.value(),
                        );
                    }
                    sample_line(
                        &mut out,
                        &format!("{name}_sum"),
                        labels,
                        None,
                        s.sample_sum(),
                    );
                    sample_line(
                        &mut out,
                        &format!("{name}_count"),
                        labels,
                        None,
                        s.sample_count() as f64,
                    );
                }
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn sample_line(
    out: &mut String,
    name: &str,
    labels: &[LabelPair],
    extra: Option<(&str, &str)>,
    value: f64,
) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (label, text) in labels.iter().map(|l| (l.name(), l.value())).chain(extra) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(label);
            out.push_str("=\"");
            escape_label(out, text);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&float(value));
    out.push('\n');
}

/// The shortest text that reads back as `v`: `0.5`, `3`, `1e-300`, `+Inf`, `NaN`.
pub fn float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let text = format!("{v:?}");
    match text.strip_suffix(".0") {
        Some(integral) => integral.to_string(),
        None => text,
    }
}

fn escape_label(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(text: &str, format: Format) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Counter, GaugeVec, Histogram, HistogramOpts, Opts, Registry};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn registry() -> Result<Registry, prometheus::Error> {
        let r = Registry::new();
        let g = GaugeVec::new(Opts::new("g", "a \"gauge\"\nwith two lines"), &["l"])?;
        g.with_label_values(&["a\"b\\c\nd"]).set(1e-300);
        g.with_label_values(&["x"]).set(3.0);
        r.register(Box::new(g))?;
        let c = Counter::new("c_total", "a counter")?;
        c.inc_by(2.0);
        r.register(Box::new(c))?;
        let h =
            Histogram::with_opts(HistogramOpts::new("h", "a histogram").buckets(vec![0.5, 1.0]))?;
        h.observe(0.25);
        h.observe(2.0);
        r.register(Box::new(h))?;
        let empty = GaugeVec::new(Opts::new("unset_family_is_skipped", "x"), &["l"])?;
        r.register(Box::new(empty))?;
        Ok(r)
    }

    #[test]
    fn text_format_matches_the_crate_but_for_floats() -> TestResult {
        let families = registry()?.gather();
        let ours = encode(&families, Format::Text);
        assert!(ours.contains("g{l=\"a\\\"b\\\\c\\nd\"} 1e-300\n"), "{ours}");
        assert!(ours.contains("g{l=\"x\"} 3\n"), "{ours}");
        assert!(
            ours.contains("# HELP g a \"gauge\"\\nwith two lines\n"),
            "{ours}"
        );
        assert!(
            ours.contains("# TYPE c_total counter\nc_total 2\n"),
            "{ours}"
        );
        assert!(ours.contains("h_bucket{le=\"0.5\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 2.25\nh_count 2\n"), "{ours}");
        // The same samples as the prometheus crate's encoder (its floats differ).
        let mut theirs = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &families, &mut theirs)?;
        let theirs = String::from_utf8(theirs)?;
        let samples = |text: &str| -> Vec<(String, f64)> {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    Some((
                        series.to_string(),
                        value.replace("inf", "Inf").parse().ok()?,
                    ))
                })
                .collect()
        };
        assert_eq!(samples(&ours), samples(&theirs));
        Ok(())
    }

    #[test]
    fn openmetrics_names_counters_without_total_and_ends_with_eof() -> TestResult {
        let text = encode(&registry()?.gather(), Format::OpenMetrics);
        assert!(text.contains("# TYPE c counter\nc_total 2\n"), "{text}");
        assert!(
            text.contains("# HELP g a \\\"gauge\\\"\\nwith two lines\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(!text.contains("unset_family_is_skipped"));
        Ok(())
    }

    #[test]
    fn floats_are_short_and_exact() {
        for v in [0.5, 3.0, 1e-300, 0.1 + 0.2, -2.5, 1e21, 123456.789] {
            assert_eq!(float(v).parse::<f64>().ok(), Some(v), "{v}");
        }
        assert_eq!(float(1e-300), "1e-300");
        assert_eq!(float(3.0), "3");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
    }
}
