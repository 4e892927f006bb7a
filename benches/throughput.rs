//! End-to-end throughput, latency and peak memory of drift-exporter on generated
//! files: the numbers a user sees, from bytes on disk to a drift report.
//!
//! It writes (seeded) a reference Parquet of `--rows` rows (default 1,000,000:
//! 10 numeric columns, 3 categorical ones and a `prediction` column) and a current
//! file of `--current-rows` rows (default 100,000, some columns shifted) as
//! Parquet, Arrow IPC, CSV and NDJSON, then times each stage `--runs` times
//! (default 5) and prints the median, min and max, a rate, and the stage's peak
//! resident memory (VmHWM from /proc/self/status, reset between stages through
//! /proc/self/clear_refs):
//! reading and profiling the reference, `check` end to end for each current
//! format (what `drift-exporter check` does, minus process start), the current
//! side alone against a loaded profile, in-memory NDJSON and CSV parsing, and the
//! daemon's cycle (push a batch into a 10,000-row window, summarise, evaluate).
//!
//! Run: `cargo bench --bench throughput` (about a minute with the defaults on 2
//! cores, after the release build); `cargo bench --bench throughput -- --help`
//! lists the options. With `--write-only DIR` it only writes the files, for
//! `benches/baseline.py` (numpy/scipy and Evidently on the very same files).
//! A plain binary (`harness = false`): `cargo bench` adds `--bench` to the
//! arguments, which it accepts and ignores, so the built binary also runs by hand.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use clap::Parser;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use drift_exporter::check;
use drift_exporter::config::{ColumnsConfig, ProfileSettings, ScoringSettings};
use drift_exporter::data::{self, Batch, ColumnPlan, Rejects};
use drift_exporter::drift;
use drift_exporter::reference::{self, ReferenceProfile};
use drift_exporter::window::Window;

/// Options.
#[derive(Debug, Parser)]
#[command(about = "End-to-end throughput of drift-exporter on generated files")]
struct Args {
    /// Reference rows.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Current rows.
    #[arg(long, default_value_t = 100_000)]
    current_rows: usize,
    /// Timed runs per stage (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Write the files here and keep them (default: a temporary folder).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Only write the files into DIR, time nothing.
    #[arg(long, value_name = "DIR", conflicts_with = "dir")]
    write_only: Option<PathBuf>,
    /// Window size in rows for the daemon-cycle stage.
    #[arg(long, default_value_t = 10_000)]
    window: usize,
    /// Rows per batch pushed into the window.
    #[arg(long, default_value_t = 1_000)]
    push_rows: usize,
    /// Seed of the generator (the current file uses seed + 1).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Window sizes at which one evaluation of a full window (samples + scores,
    /// what the daemon does off its loop) is timed.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000, 100_000, 1_000_000])]
    eval_windows: Vec<usize>,
    /// Numeric columns `extra_<k>` after the 14 standard ones (issue 9's data set
    /// has 22 columns: `--extra-columns 8 --current-rows 200000`).
    #[arg(long, default_value_t = 0)]
    extra_columns: usize,
    /// Time only the evaluations of full windows (`--eval-windows`), after
    /// profiling the reference, and print one `eval_grid` line per window size
    /// (what `benches/eval_grid.py` reads).
    #[arg(long)]
    eval_only: bool,
    /// Windows without the Wasserstein distance (`drift.wasserstein = false`:
    /// counts per place instead of the sorted values).
    #[arg(long)]
    no_wasserstein: bool,
    /// Passed by `cargo bench` to every benchmark binary; ignored.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.write_only {
        let files = write_files(dir, &args)?;
        println!("wrote {}", files.describe());
        return Ok(());
    }
    let temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("creating a temporary folder")?;
            temp.path().to_path_buf()
        }
    };
    let started = Instant::now();
    let files = write_files(&dir, &args)?;
    println!(
        "generated in {:.1} s: {}\n",
        started.elapsed().as_secs_f64(),
        files.describe()
    );
    if args.eval_only {
        return run_evaluations(&files, &args);
    }
    run_stages(&files, &args)
}

/// `--eval-only`: the profile, then the evaluation stages alone.
fn run_evaluations(files: &Files, args: &Args) -> Result<()> {
    let profile = ReferenceProfile::load(
        &files.reference,
        &ColumnsConfig::default(),
        &ProfileSettings::default(),
    )?;
    let pushes = push_batches(&profile, files, args)?;
    let columns = profile.columns.len();
    let (stages, grid) = evaluation_stages(&profile, &pushes, args)?;
    print_table(&stages);
    println!();
    for (size, times) in grid {
        let [first, nothing_new, one_percent, from_rows] = times.map(|t| t.as_secs_f64() * 1e3);
        println!(
            "eval_grid columns={columns} window={size} first_ms={first:.3} \
             nothing_new_ms={nothing_new:.3} one_percent_new_ms={one_percent:.3} \
             from_rows_ms={from_rows:.3}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Data generation
// ---------------------------------------------------------------------------

mod support;
use support::rng::Rng;

/// Cumulative weights for drawing categories.
struct Categories {
    labels: Vec<String>,
    cumulative: Vec<f64>,
}

impl Categories {
    fn new(labels: Vec<String>, weights: &[f64]) -> Self {
        let total: f64 = weights.iter().sum();
        let cumulative = weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w / total;
                Some(*acc)
            })
            .collect();
        Categories { labels, cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> &str {
        let u = rng.uniform();
        let i = self.cumulative.partition_point(|&c| c < u);
        &self.labels[i.min(self.labels.len() - 1)]
    }
}

/// The generated table: which columns, and how the current file drifts.
///
/// Reference / current: `num_0` N(0,1) / same; `num_1` N(10,2) / mean 10.5;
/// `num_2` lognormal / same; `num_3` U(0,100) / same; `num_4` Exp(1) / scale 1.3;
/// `num_5` integers 0..19 (Int64, many ties) / same; `num_6` N(5,1) with 2% nulls
/// / same; `num_7` bimodal / same; `num_8` N(0,1) / sd 1.5; `num_9` Cauchy / same;
/// `cat_country` 8 labels, 1% nulls / same; `cat_device` 3 labels / reweighted;
/// `cat_merchant` 500 Zipf labels (over `max_categories`) / plus 2% unseen;
/// `prediction` a logistic score of `num_0`, `num_1`, `num_2`; then `extra_<k>`:
/// N(k, 1) (current: mean + 0.1 for every fourth), lognormal, U(0, 1) and
/// integers 0..k+10 as floats (ties), in turn.
struct Generator {
    rng: Rng,
    drifted: bool,
    extra: usize,
    country: Categories,
    device: Categories,
    merchant: Categories,
    unseen_merchant: Categories,
}

const NUMERIC_COLUMNS: usize = 10;

fn schema(extra: usize) -> SchemaRef {
    let mut fields: Vec<Field> = (0..NUMERIC_COLUMNS)
        .map(|i| {
            let data_type = if i == 5 {
                DataType::Int64
            } else {
                DataType::Float64
            };
            Field::new(format!("num_{i}"), data_type, true)
        })
        .collect();
    for name in ["cat_country", "cat_device", "cat_merchant"] {
        fields.push(Field::new(name, DataType::Utf8, true));
    }
    fields.push(Field::new("prediction", DataType::Float64, true));
    for k in 0..extra {
        fields.push(Field::new(format!("extra_{k}"), DataType::Float64, true));
    }
    Arc::new(Schema::new(fields))
}

impl Generator {
    fn new(seed: u64, drifted: bool, extra: usize) -> Self {
        let country = Categories::new(
            ["US", "DE", "FR", "GB", "IN", "BR", "JP", "NG"]
                .map(String::from)
                .to_vec(),
            &[30.0, 20.0, 15.0, 10.0, 10.0, 8.0, 5.0, 2.0],
        );
        let device_weights: &[f64] = if drifted {
            &[45.0, 40.0, 15.0]
        } else {
            &[60.0, 30.0, 10.0]
        };
        let device = Categories::new(
            ["mobile", "desktop", "tablet"].map(String::from).to_vec(),
            device_weights,
        );
        let merchant_weights: Vec<f64> = (0..500).map(|k| 1.0 / (k as f64 + 1.0)).collect();
        let merchant = Categories::new(
            (0..500).map(|k| format!("m_{k:03}")).collect(),
            &merchant_weights,
        );
        let unseen_merchant =
            Categories::new((0..10).map(|k| format!("m_new_{k}")).collect(), &[1.0; 10]);
        Generator {
            rng: Rng(seed),
            drifted,
            extra,
            country,
            device,
            merchant,
            unseen_merchant,
        }
    }

    /// The next `rows` rows as one record batch.
    fn batch(&mut self, rows: usize) -> Result<RecordBatch> {
        let d = self.drifted;
        let rng = &mut self.rng;
        let mut num: Vec<Vec<Option<f64>>> = (0..NUMERIC_COLUMNS)
            .map(|_| Vec::with_capacity(rows))
            .collect();
        let mut ints: Vec<Option<i64>> = Vec::with_capacity(rows);
        let mut prediction = Vec::with_capacity(rows);
        for _ in 0..rows {
            let n0 = rng.normal();
            let n1 = if d { 10.5 } else { 10.0 } + 2.0 * rng.normal();
            let n2 = (0.5 * rng.normal()).exp();
            num[0].push(Some(n0));
            num[1].push(Some(n1));
            num[2].push(Some(n2));
            num[3].push(Some(100.0 * rng.uniform()));
            num[4].push(Some(-(if d { 1.3 } else { 1.0 }) * rng.uniform().ln()));
            ints.push(Some((rng.uniform() * 20.0) as i64));
            let n6 = 5.0 + rng.normal();
            num[6].push((rng.uniform() >= 0.02).then_some(n6));
            num[7].push(Some(if rng.uniform() < 0.3 {
                -2.0 + 0.5 * rng.normal()
            } else {
                2.0 + rng.normal()
            }));
            num[8].push(Some(if d { 1.5 } else { 1.0 } * rng.normal()));
            num[9].push(Some((std::f64::consts::PI * (rng.uniform() - 0.5)).tan()));
            let z = 0.8 * n0 + 0.3 * (n1 - 10.0) - 0.5 * n2.ln() + 0.2 * rng.normal();
            prediction.push(Some(1.0 / (1.0 + (-z).exp())));
        }
        let mut country = Vec::with_capacity(rows);
        let mut device = Vec::with_capacity(rows);
        let mut merchant = Vec::with_capacity(rows);
        for _ in 0..rows {
            let c = self.country.draw(rng);
            country.push((rng.uniform() >= 0.01).then_some(c));
            device.push(Some(self.device.draw(rng)));
            merchant.push(Some(if d && rng.uniform() < 0.02 {
                self.unseen_merchant.draw(rng)
            } else {
                self.merchant.draw(rng)
            }));
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(NUMERIC_COLUMNS + 4);
        for (i, values) in num.into_iter().enumerate() {
            if i == 5 {
                columns.push(Arc::new(Int64Array::from(std::mem::take(&mut ints))));
            } else {
                columns.push(Arc::new(Float64Array::from(values)));
            }
        }
        columns.push(Arc::new(StringArray::from(country)));
        columns.push(Arc::new(StringArray::from(device)));
        columns.push(Arc::new(StringArray::from(merchant)));
        columns.push(Arc::new(Float64Array::from(prediction)));
        for k in 0..self.extra {
            let values: Vec<f64> = (0..rows)
                .map(|_| match k % 4 {
                    0 if d && k % 16 == 0 => k as f64 + 0.1 + rng.normal(),
                    0 => k as f64 + rng.normal(),
                    1 => rng.normal().exp(),
                    2 => rng.uniform(),
                    _ => (rng.uniform() * (k + 10) as f64).floor(),
                })
                .collect();
            columns.push(Arc::new(Float64Array::from(values)));
        }
        Ok(RecordBatch::try_new(schema(self.extra), columns)?)
    }
}

/// Paths of the generated files.
struct Files {
    reference: PathBuf,
    parquet: PathBuf,
    arrow: PathBuf,
    csv: PathBuf,
    ndjson: PathBuf,
    reference_rows: usize,
    current_rows: usize,
}

impl Files {
    fn current(&self) -> [(&'static str, &Path); 4] {
        [
            ("parquet", &self.parquet),
            ("arrow", &self.arrow),
            ("csv", &self.csv),
            ("ndjson", &self.ndjson),
        ]
    }

    fn describe(&self) -> String {
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len()) as f64 / (1 << 20) as f64;
        let mut out = format!(
            "{} ({} rows, {:.1} MiB)",
            self.reference.display(),
            self.reference_rows,
            size(&self.reference)
        );
        for (_, path) in self.current() {
            out.push_str(&format!(
                ", {} ({} rows, {:.1} MiB)",
                path.file_name().unwrap_or_default().to_string_lossy(),
                self.current_rows,
                size(path)
            ));
        }
        out
    }
}

/// Rows per generated record batch (and Parquet write call).
const GENERATE_ROWS: usize = 100_000;

fn write_files(dir: &Path, args: &Args) -> Result<Files> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = Files {
        reference: dir.join("reference.parquet"),
        parquet: dir.join("current.parquet"),
        arrow: dir.join("current.arrow"),
        csv: dir.join("current.csv"),
        ndjson: dir.join("current.ndjson"),
        reference_rows: args.rows,
        current_rows: args.current_rows,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let create = |p: &Path| File::create(p).with_context(|| format!("creating {}", p.display()));

    let mut generator = Generator::new(args.seed, false, args.extra_columns);
    let mut writer = ArrowWriter::try_new(
        create(&files.reference)?,
        schema(args.extra_columns),
        Some(props.clone()),
    )?;
    let mut left = args.rows;
    while left > 0 {
        let rows = left.min(GENERATE_ROWS);
        writer.write(&generator.batch(rows)?)?;
        left -= rows;
    }
    writer.close()?;

    let mut generator = Generator::new(args.seed.wrapping_add(1), true, args.extra_columns);
    let mut parquet = ArrowWriter::try_new(
        create(&files.parquet)?,
        schema(args.extra_columns),
        Some(props),
    )?;
    let mut arrow = arrow::ipc::writer::FileWriter::try_new(
        BufWriter::new(create(&files.arrow)?),
        &schema(args.extra_columns),
    )?;
    let mut csv = BufWriter::new(create(&files.csv)?);
    let mut ndjson = BufWriter::new(create(&files.ndjson)?);
    let names: Vec<String> = schema(args.extra_columns)
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    writeln!(csv, "{}", names.join(","))?;
    let mut left = args.current_rows;
    while left > 0 {
        let rows = left.min(GENERATE_ROWS);
        let batch = generator.batch(rows)?;
        parquet.write(&batch)?;
        arrow.write(&batch)?;
        write_text_rows(&batch, &names, &mut csv, &mut ndjson)?;
        left -= rows;
    }
    parquet.close()?;
    arrow.finish()?;
    csv.flush()?;
    ndjson.flush()?;
    Ok(files)
}

/// One cell as text: shortest round-trip decimal for floats (so every format
/// holds the very same values), `None` for a null.
fn cell_text(column: &dyn Array, row: usize) -> Option<String> {
    if column.is_null(row) {
        return None;
    }
    Some(match column.data_type() {
        DataType::Float64 => column.as_primitive::<Float64Type>().value(row).to_string(),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).to_string(),
        _ => column.as_string::<i32>().value(row).to_string(),
    })
}

/// Appends a batch as CSV (empty cell = null) and NDJSON (`null`) rows. The
/// generated labels need no quoting or escaping.
fn write_text_rows(
    batch: &RecordBatch,
    names: &[String],
    csv: &mut impl Write,
    ndjson: &mut impl Write,
) -> Result<()> {
    let mut csv_line = String::new();
    let mut json_line = String::new();
    for row in 0..batch.num_rows() {
        csv_line.clear();
        json_line.clear();
        json_line.push('{');
        for (i, column) in batch.columns().iter().enumerate() {
            let text = cell_text(column.as_ref(), row);
            if i > 0 {
                csv_line.push(',');
                json_line.push(',');
            }
            json_line.push('"');
            json_line.push_str(&names[i]);
            json_line.push_str("\":");
            match (&text, column.data_type()) {
                (None, _) => json_line.push_str("null"),
                (Some(t), DataType::Utf8) => {
                    json_line.push('"');
                    json_line.push_str(t);
                    json_line.push('"');
                }
                (Some(t), _) => json_line.push_str(t),
            }
            if let Some(t) = &text {
                csv_line.push_str(t);
            }
        }
        json_line.push('}');
        writeln!(csv, "{csv_line}")?;
        writeln!(ndjson, "{json_line}")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

/// Resets the peak resident set size (VmHWM) of this process; false if the
/// kernel does not allow it (then peaks are cumulative).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A field of /proc/self/status in MiB (`VmHWM`: peak RSS, `VmRSS`: current).
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The 1, 5 and 15 minute load averages (other work on the machine skews times).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// One row of the results table.
struct Stage {
    name: String,
    times: Vec<Duration>,
    /// Items processed per run (for the rate column).
    items: Option<(f64, &'static str)>,
    peak_rss_mib: Option<f64>,
}

impl Stage {
    fn median(&self) -> Duration {
        median(&self.times)
    }
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// Runs `f` `runs` times, recording each duration and the stage's peak RSS.
fn measure<T>(
    name: impl Into<String>,
    runs: usize,
    items: Option<(f64, &'static str)>,
    mut f: impl FnMut() -> Result<T>,
) -> Result<(Stage, T)> {
    let resettable = reset_peak_rss();
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        let out = black_box(f()?);
        times.push(t0.elapsed());
        last = Some(out);
    }
    let stage = Stage {
        name: name.into(),
        times,
        items,
        peak_rss_mib: if resettable {
            status_mib("VmHWM:")
        } else {
            None
        },
    };
    let last = last.expect("at least one run");
    Ok((stage, last))
}

fn human_rate(per_second: f64, unit: &str) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M {unit}/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} k {unit}/s", per_second / 1e3)
    } else {
        format!("{per_second:.1} {unit}/s")
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn print_table(stages: &[Stage]) {
    let width = stages
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:<width$}  {:>10}  {:>10}  {:>10}  {:>18}  {:>12}",
        "stage", "median ms", "min ms", "max ms", "rate (median)", "peak RSS MiB"
    );
    for s in stages {
        let min = s.times.iter().min().copied().unwrap_or_default();
        let max = s.times.iter().max().copied().unwrap_or_default();
        let rate = match s.items {
            Some((n, unit)) if s.median() > Duration::ZERO => {
                human_rate(n / s.median().as_secs_f64(), unit)
            }
            _ => "-".into(),
        };
        let rss = s
            .peak_rss_mib
            .map_or_else(|| "-".to_string(), |m| format!("{m:.0}"));
        println!(
            "{:<width$}  {:>10}  {:>10}  {:>10}  {:>18}  {:>12}",
            s.name,
            ms(s.median()),
            ms(min),
            ms(max),
            rate,
            rss
        );
    }
}

fn run_stages(files: &Files, args: &Args) -> Result<()> {
    let runs = args.runs;
    let settings = ProfileSettings::default();
    let rules = ColumnsConfig::default();
    let ref_rows = files.reference_rows as f64;
    let cur_rows = files.current_rows as f64;
    let mut stages = Vec::new();
    println!(
        "runs per stage: {runs}; times are wall clock per run; load average before: {}\n",
        load_average()
    );

    // `check` end to end first, while nothing else is held, so its peak RSS is
    // close to what the CLI process needs.
    let mut reports = Vec::new();
    for (format, path) in files.current() {
        let (stage, report) = measure(
            format!("check end to end, current {format}"),
            runs,
            Some((ref_rows + cur_rows, "rows")),
            || Ok(check::run_check(&files.reference, path, None)?),
        )?;
        stages.push(stage);
        reports.push((format, report));
    }

    let (stage, profile) = measure(
        "profile build from Parquet (read + sort + edges)",
        runs,
        Some((ref_rows, "rows")),
        || Ok(ReferenceProfile::load(&files.reference, &rules, &settings)?),
    )?;
    stages.push(stage);
    let (stage, _) = measure(
        "  of which: Parquet read of the reference",
        runs,
        Some((ref_rows, "rows")),
        || Ok(data::read_path(&files.reference, &profile.plan)?),
    )?;
    stages.push(stage);
    let (stage, _) = measure(
        "  of which: SHA-256 of the reference file",
        runs,
        Some((
            std::fs::metadata(&files.reference)?.len() as f64 / 1e6,
            "MB",
        )),
        || Ok(reference::sha256_file(&files.reference)?),
    )?;
    stages.push(stage);

    for (format, path) in files.current() {
        let (stage, _) = measure(
            format!("current {format}: read + sample + score (profile loaded)"),
            runs,
            Some((cur_rows, "rows")),
            || {
                Ok(check::check_file(
                    &profile,
                    &ScoringSettings::default(),
                    path,
                )?)
            },
        )?;
        stages.push(stage);
    }

    let ndjson = std::fs::read(&files.ndjson)?;
    let (stage, _) = measure(
        "NDJSON parse, in memory",
        runs,
        Some((cur_rows, "rows")),
        || {
            Ok(data::read_ndjson(
                &ndjson,
                &profile.plan,
                "current.ndjson",
                1,
            )?)
        },
    )?;
    stages.push(stage);
    drop(ndjson);
    let csv = std::fs::read(&files.csv)?;
    let (stage, _) = measure(
        "CSV parse, in memory",
        runs,
        Some((cur_rows, "rows")),
        || Ok(data::read_csv(&csv, &profile.plan, "current.csv")?),
    )?;
    stages.push(stage);
    drop(csv);

    let (window_stages, cycle_note) = window_stages(&profile, files, args)?;
    stages.extend(window_stages);

    print_table(&stages);
    println!("\n{cycle_note}");

    let (_, first) = &reports[0];
    let identical = reports.iter().all(|(_, r)| r == first);
    println!(
        "check: {} of {} columns drifted (dataset drift: {}); reports identical across formats: {}",
        first.dataset.drifted_features,
        first.dataset.features,
        first.dataset.drift_detected,
        if identical { "yes" } else { "NO" }
    );
    println!("load average after: {}", load_average());
    if let Some(hwm) = status_mib("VmHWM:") {
        println!("peak RSS of the last stage: {hwm:.0} MiB (VmHWM)");
    }
    Ok(())
}

/// One evaluation of a full window at each `--eval-windows` size. Returns
/// the stages and, per size, the medians of: the first evaluation, one with
/// nothing new, one after >= 1% new rows, one from the rows.
fn evaluation_stages(
    profile: &ReferenceProfile,
    pushes: &[Batch],
    args: &Args,
) -> Result<EvaluationStages> {
    let plan = Arc::new(profile.plan.clone());
    let now = SystemTime::now();
    let shared = Arc::new(profile.clone());
    let k = ScoringSettings::default().outlier_iqr_k;
    let tracked = |size: usize| tracked_window(&plan, &shared, size, !args.no_wasserstein);
    let mut stages = Vec::new();
    let mut grid = Vec::new();
    // One evaluation of a full window, at each size (the current rows pushed
    // again and again until the window is full): from the tally (its first
    // loan rebuilds it from the rows: the fill outgrew the log), from the
    // tally again once 1% of the window is new, and from the rows (gather and
    // sort, what every evaluation did before the tally).
    for &size in &args.eval_windows {
        let mut window = tracked(size);
        let mut cycle = pushes.iter().cycle();
        while window.rows() < size && !pushes.is_empty() {
            if let Some(batch) = cycle.next() {
                window.push(batch, &plan, now);
            }
        }
        let evaluate = |window: &mut Window| {
            let samples = window.samples(&shared, k);
            drift::evaluate(
                profile,
                &samples,
                window.rows() as u64,
                &ScoringSettings::default(),
            )
        };
        let (stage, _) = measure(
            format!("first evaluation of a full {size}-row window (tally rebuilt from the rows)"),
            1,
            Some((window.rows() as f64, "rows")),
            || Ok(evaluate(&mut window)),
        )?;
        stages.push(stage);
        let (stage, _) = measure(
            format!("evaluation of a full {size}-row window from the tally, nothing new"),
            args.runs,
            Some((window.rows() as f64, "rows")),
            || Ok(evaluate(&mut window)),
        )?;
        stages.push(stage);
        let (stage, _) = measure(
            format!("the tally's summaries alone, {size}-row window, nothing new (no scores)"),
            args.runs,
            Some((window.rows() as f64, "rows")),
            || Ok(window.samples(&shared, k)),
        )?;
        stages.push(stage);
        let mut new_rows = 0usize;
        let (stage, _) = measure(
            format!("push >= 1% new rows ({}-row batches) + evaluation from the tally ({size}-row window)", args.push_rows),
            args.runs,
            Some(((size / 100).max(1) as f64, "new rows")),
            || {
                new_rows = 0;
                while new_rows < (size / 100).max(1) {
                    let Some(batch) = cycle.next() else { break };
                    window.push(batch, &plan, now);
                    new_rows += batch.rows;
                }
                Ok(evaluate(&mut window))
            },
        )?;
        stages.push(stage);
        let (stage, from_tally) = measure(
            format!("evaluation of a full {size}-row window from the tally"),
            1,
            Some((window.rows() as f64, "rows")),
            || Ok(evaluate(&mut window)),
        )?;
        stages.push(stage);
        let (stage, from_rows) = measure(
            format!("evaluation of a full {size}-row window from the rows (gather + sort)"),
            args.runs,
            Some((window.rows() as f64, "rows")),
            || {
                let parts: Vec<Batch> = window.parts().map(|(_, b)| b).collect();
                let (samples, rows) = drift_exporter::sample::samples_from_batches(profile, &parts);
                Ok(drift::evaluate(
                    profile,
                    &samples,
                    rows,
                    &ScoringSettings::default(),
                ))
            },
        )?;
        stages.push(stage);
        // Without the Wasserstein distance the tally leaves it out (`null`).
        let mut from_rows = from_rows;
        if args.no_wasserstein {
            for f in &mut from_rows.features {
                f.wasserstein_distance = None;
                f.wasserstein_distance_normed = None;
            }
        }
        if from_tally != from_rows {
            anyhow::bail!("the tally's report differs from the rows' at window {size}");
        }
        // This size's six stages: first, nothing new, summaries alone, >= 1%
        // new, from the tally, from the rows.
        let at = |back: usize| stages[stages.len() - back].median();
        grid.push((size, [at(6), at(5), at(3), at(1)]));
    }

    Ok((stages, grid))
}

/// [`evaluation_stages`]' stages and grid.
type EvaluationStages = (Vec<Stage>, Vec<(usize, [Duration; 4])>);

/// An empty window of `size` rows over `plan` that keeps a tally for
/// `profile` (fences at the default `outlier_iqr_k`), as the daemon's does.
fn tracked_window(
    plan: &Arc<ColumnPlan>,
    profile: &Arc<ReferenceProfile>,
    size: usize,
    wasserstein: bool,
) -> Window {
    let mut window = Window::new(size, None, plan.clone());
    window.track_with(
        profile.clone(),
        ScoringSettings::default().outlier_iqr_k,
        wasserstein,
    );
    window
}

/// The current rows in batches of `push_rows`.
fn push_batches(profile: &ReferenceProfile, files: &Files, args: &Args) -> Result<Vec<Batch>> {
    let batches = data::read_path(&files.parquet, &profile.plan)?;
    let mut pushes: Vec<Batch> = Vec::new();
    for batch in &batches {
        let mut offset = 0;
        while offset < batch.rows {
            let len = args.push_rows.max(1).min(batch.rows - offset);
            pushes.push(Batch {
                rows: len,
                columns: batch
                    .columns
                    .iter()
                    .map(|c| c.as_ref().map(|a| a.slice(offset, len)))
                    .collect(),
                rejects: Rejects::default(),
            });
            offset += len;
        }
    }
    Ok(pushes)
}

/// The daemon's cycle: push `push_rows` rows into a full window, summarise it,
/// score it. Returns the stages and a note with per-cycle latency percentiles.
fn window_stages(
    profile: &ReferenceProfile,
    files: &Files,
    args: &Args,
) -> Result<(Vec<Stage>, String)> {
    let pushes = push_batches(profile, files, args)?;
    let pushed_rows: usize = pushes.iter().map(|b| b.rows).sum();
    let plan = Arc::new(profile.plan.clone());
    let now = SystemTime::now();
    let mut stages = Vec::new();

    let shared = Arc::new(profile.clone());
    let k = ScoringSettings::default().outlier_iqr_k;
    let tracked = |size: usize| tracked_window(&plan, &shared, size, !args.no_wasserstein);
    let (stage, _) = measure(
        format!("window push only, no tally ({} batches)", pushes.len()),
        args.runs,
        Some((pushed_rows as f64, "rows")),
        || {
            let mut window = Window::new(args.window, None, plan.clone());
            for batch in &pushes {
                window.push(batch, &plan, now);
            }
            Ok(window.rows())
        },
    )?;
    stages.push(stage);
    let (stage, _) = measure(
        format!("window push with tally ({} batches)", pushes.len()),
        args.runs,
        Some((pushed_rows as f64, "rows")),
        || {
            let mut window = tracked(args.window);
            for batch in &pushes {
                window.push(batch, &plan, now);
            }
            Ok(window.rows())
        },
    )?;
    stages.push(stage);

    let mut cycles = Vec::new();
    let (stage, _) = measure(
        format!(
            "window cycle x{}: push {} + tally summaries + evaluate ({}-row window)",
            pushes.len(),
            args.push_rows,
            args.window
        ),
        args.runs,
        Some((pushed_rows as f64, "rows")),
        || {
            let mut window = tracked(args.window);
            let mut last = None;
            for batch in &pushes {
                let t0 = Instant::now();
                window.push(batch, &plan, now);
                let samples = window.samples(&shared, k);
                last = Some(drift::evaluate(
                    profile,
                    &samples,
                    window.rows() as u64,
                    &ScoringSettings::default(),
                ));
                if window.rows() >= args.window {
                    cycles.push(t0.elapsed());
                }
            }
            Ok(last)
        },
    )?;
    stages.push(stage);

    let (evaluations, _) = evaluation_stages(profile, &pushes, args)?;
    stages.extend(evaluations);

    cycles.sort_unstable();
    let pct = |p: f64| {
        cycles
            .get(((cycles.len() as f64 - 1.0) * p).round() as usize)
            .map_or_else(|| "-".to_string(), |d| ms(*d))
    };
    let note = format!(
        "window cycle latency with a full {}-row window, {} cycles: median {} ms, p90 {} ms, p99 {} ms, max {} ms",
        args.window,
        cycles.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    Ok((stages, note))
}
