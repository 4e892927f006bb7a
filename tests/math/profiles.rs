//! Reference profiles (SPEC.md section 7): every oracle and labels case scored
//! from the profile of its reference is bit-identical to the same check from
//! the Parquet (so equal to numpy/scipy and scikit-learn as those tests show),
//! and the merged profiles of three shards of a reference score bit for bit as
//! the profile of the whole.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use drift_exporter::check::{check_with, load_config};
use drift_exporter::config::Config;
use drift_exporter::profile;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde_json::Value;

use crate::util::fixture;

/// The case folders of `kind` (`oracle` or `labels`).
fn cases(kind: &str) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixture(kind))
        .expect("the fixtures exist")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.join("reference.parquet").is_file())
        .collect();
    cases.sort();
    cases
}

fn config_of(case: &Path) -> Config {
    let config = case.join("config.toml");
    load_config(config.is_file().then_some(config.as_path())).expect("the case's config loads")
}

/// `check`'s JSON report of `current` against `reference`.
fn report(config: &Config, reference: &Path, current: &Path) -> Value {
    let report = check_with(config, reference, current)
        .unwrap_or_else(|e| panic!("{}: {e}", reference.display()));
    serde_json::to_value(report).expect("the report serialises")
}

#[test]
fn scores_from_a_profile_are_bit_identical_to_scores_from_its_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for case in cases("oracle").into_iter().chain(cases("labels")) {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let config = config_of(&case);
        let parquet = case.join("reference.parquet");
        let out = dir.path().join(format!("{name}.profile"));
        profile::build(&parquet, &config, &out).unwrap_or_else(|e| panic!("{name}: {e}"));
        for extension in ["parquet", "csv"] {
            let current = case.join(format!("current.{extension}"));
            if !current.is_file() {
                continue;
            }
            let from_parquet = report(&config, &parquet, &current);
            let from_profile = report(&config, &out, &current);
            // Value equality of the JSON numbers is equality of their f64 bits
            // (serde_json round-trips f64 exactly).
            assert_eq!(from_profile, from_parquet, "{name}[{extension}]");
            compared += 1;
        }
    }
    assert!(compared >= 20, "only {compared} comparisons");
}

/// The sample reference's record batches.
fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Writes rows `[from, to)` of `batches` to a Parquet file.
fn write_rows(batches: &[RecordBatch], from: usize, to: usize, path: &Path) {
    let whole = arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap();
    let part = whole.slice(from, to - from);
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&part.schema()), None).unwrap();
    writer.write(&part).unwrap();
    writer.close().unwrap();
}

#[test]
fn merged_profiles_of_three_shards_score_as_the_profile_of_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The default config: quantile bins, categories, and the label kept.
    let config = load_config(Some(&root.join("config/drift-exporter.toml"))).unwrap();
    let reference = root.join("reference-data/reference.parquet");
    let batches = read_parquet(&reference);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let cuts = [0, rows / 5, rows / 2 + 17, rows];
    let mut shards = Vec::new();
    for (i, w) in cuts.windows(2).enumerate() {
        let parquet = dir.path().join(format!("shard-{i}.parquet"));
        write_rows(&batches, w[0], w[1], &parquet);
        let out = dir.path().join(format!("shard-{i}.profile"));
        profile::build(&parquet, &config, &out).unwrap();
        shards.push(out);
    }
    let merged_path = dir.path().join("merged.profile");
    let merged = profile::merge(&shards, &merged_path).unwrap();
    assert_eq!(merged.header.rows, rows as u64);
    assert_eq!(merged.header.sources.len(), 3);
    let whole_path = dir.path().join("whole.profile");
    let whole = profile::build(&reference, &config, &whole_path).unwrap();
    assert_eq!(merged.raw, whole.raw, "the merged values are the whole's");
    assert_eq!(merged.labelled, whole.labelled, "the labelled rows too");
    for sample in ["batch-0002-clean.csv", "batch-0003-drifted.ndjson"] {
        let current = root.join("reference-data/samples").join(sample);
        let from_merged = report(&config, &merged_path, &current);
        assert_eq!(
            from_merged,
            report(&config, &whole_path, &current),
            "{sample}"
        );
        assert_eq!(
            from_merged,
            report(&config, &reference, &current),
            "{sample}"
        );
        assert!(from_merged["quality"].is_object(), "quality is scored");
    }
}

#[test]
fn a_profile_that_cannot_honour_the_config_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture("labels").join("binary_score");
    let out = dir.path().join("no-label.profile");
    // Profiled without a label...
    profile::build(&case.join("reference.parquet"), &Config::default(), &out).unwrap();
    // ...used with one.
    let config = config_of(&case);
    let current = case.join("current.csv");
    let error = check_with(&config, &out, &current)
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("columns.label") && error.contains("no-label.profile"),
        "{error}"
    );
    // A numeric column used as categorical.
    let oracle = fixture("oracle").join("small");
    let out = dir.path().join("small.profile");
    profile::build(&oracle.join("reference.parquet"), &Config::default(), &out).unwrap();
    let numeric = report(&Config::default(), &out, &oracle.join("current.csv"))["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "numeric")
        .map(|f| f["name"].as_str().unwrap().to_string())
        .unwrap();
    let text = format!("[columns]\ncategorical = [\"{numeric}\"]\n");
    let config_path = dir.path().join("categorical.toml");
    std::fs::write(&config_path, text).unwrap();
    let config = load_config(Some(&config_path)).unwrap();
    let error = check_with(&config, &out, &oracle.join("current.csv"))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("columns.categorical"), "{error}");
    // Merging profiles of different columns names the difference.
    let merged = dir.path().join("m.profile");
    let error = profile::merge(&[out.clone(), dir.path().join("no-label.profile")], &merged)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("different columns"), "{error}");
}

/// A Parquet file of `rows` rows: skewed, discrete (Int64, many ties) and
/// heavy-tailed (Cauchy) numbers and a category, `shift` added to the numbers.
fn write_hard_data(path: &Path, rows: usize, seed: u64, shift: f64) {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let mut s = seed | 1;
    let mut u = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut skewed = Vec::with_capacity(rows);
    let mut discrete = Vec::with_capacity(rows);
    let mut heavy = Vec::with_capacity(rows);
    let mut category = Vec::with_capacity(rows);
    for _ in 0..rows {
        skewed.push((3.0 * u()).exp() * u().max(1e-12).ln().abs() + shift);
        discrete.push((u() * 12.0 + shift).floor() as i64);
        heavy.push((std::f64::consts::PI * (u() - 0.5)).tan() + shift);
        category.push(format!("c{}", (u() * u() * 9.0) as u32));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("skewed", DataType::Float64, false),
        Field::new("discrete", DataType::Int64, false),
        Field::new("heavy", DataType::Float64, false),
        Field::new("category", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(skewed)),
        Arc::new(Int64Array::from(discrete)),
        Arc::new(Float64Array::from(heavy)),
        Arc::new(StringArray::from(category)),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The bound the sketch states: every sketched column's KS statistic and bin
/// shares are within its stored rank-error bound of the exact ones (plus the
/// scoring sample's step), on skewed, discrete and heavy-tailed data, for one
/// profile and for the merge of three shards' sketches.
#[test]
fn a_sketch_profile_scores_within_its_stated_bound() {
    use drift_exporter::reference::{ProfileDetail, ProfileMode, ReferenceProfile};
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.parquet");
    let current = dir.path().join("current.parquet");
    write_hard_data(&reference, 120_000, 11, 0.0);
    write_hard_data(&current, 20_000, 12, 0.3);
    let config = Config::default();
    let exact_path = dir.path().join("exact.profile");
    profile::build(&reference, &config, &exact_path).unwrap();
    let sketch_path = dir.path().join("sketch.profile");
    // Categories past 2 x 3 distinct ones go into a frequent-items summary.
    let mode = ProfileMode::Sketch {
        k: 512,
        categories: 3,
    };
    let sketch = profile::build_with(&reference, &config, &sketch_path, mode, false).unwrap();
    assert_eq!(sketch.header.mode, "sketch");
    // Shards of the same rows, sketched and merged.
    let shard_paths: Vec<PathBuf> = (0..3)
        .map(|i| {
            let batches = read_parquet(&reference);
            let parquet = dir.path().join(format!("shard-{i}.parquet"));
            write_rows(&batches, i * 40_000, (i + 1) * 40_000, &parquet);
            let out = dir.path().join(format!("shard-{i}.profile"));
            profile::build_with(&parquet, &config, &out, mode, false).unwrap();
            out
        })
        .collect();
    let merged_path = dir.path().join("merged.profile");
    let merged = profile::merge(&shard_paths, &merged_path).unwrap();
    assert_eq!(merged.header.rows, 120_000);
    let load = |path: &Path| {
        ReferenceProfile::load_with(path, &config.columns, &config.drift.profile, &config.model)
            .unwrap()
    };
    let exact = load(&exact_path);
    let exact_report = report(&config, &exact_path, &current);
    let mut checked = 0;
    for path in [&sketch_path, &merged_path] {
        let sketched = load(path);
        assert_eq!(sketched.mode, mode);
        let sketch_report = report(&config, path, &current);
        for (i, (s, e)) in sketched.columns.iter().zip(&exact.columns).enumerate() {
            let (ProfileDetail::Numeric(s), ProfileDetail::Numeric(e)) = (&s.detail, &e.detail)
            else {
                if let (ProfileDetail::Categorical(s), ProfileDetail::Categorical(e)) =
                    (&s.detail, &e.detail)
                {
                    // Every category the summary holds is at most its error
                    // low; the rest is in `__other__`; nothing is lost.
                    let header = if path == &sketch_path {
                        &sketch.header
                    } else {
                        &merged.header
                    };
                    let error = header.columns[i].frequent.as_ref().unwrap().error_rows;
                    assert!(error > 0, "the summary reduced");
                    for (label, &count) in s.labels.iter().zip(&s.counts) {
                        if label == "__other__" {
                            continue;
                        }
                        let (bin, _) = e.lookup(label);
                        let exact = e.counts[bin];
                        assert!(
                            count <= exact && exact - count <= error,
                            "{label}: {count} vs {exact}"
                        );
                    }
                    assert_eq!(s.counts.iter().sum::<u64>(), e.counts.iter().sum::<u64>());
                    checked += 1;
                }
                continue;
            };
            let bound = s.rank_error;
            assert!(
                bound > 0.0 && bound < 0.05,
                "{}: bound {bound}",
                path.display()
            );
            assert_eq!(s.rows, e.rows);
            let ks = |r: &Value| r["features"][i]["ks_statistic"].as_f64().unwrap();
            let gap = (ks(&sketch_report) - ks(&exact_report)).abs();
            assert!(gap <= bound, "column {i}: KS off by {gap} > {bound}");
            // The sketch's share of each of its bins against the true share.
            let true_counts = drift_exporter::stats::bins::bin_counts_sorted(&s.edges, &e.sorted);
            let m: u64 = s.counts.iter().sum();
            for (b, (&c, &t)) in s.counts.iter().zip(&true_counts).enumerate() {
                let gap = (c as f64 / m as f64 - t as f64 / e.rows as f64).abs();
                assert!(
                    gap <= 2.0 * bound,
                    "column {i} bin {b}: {gap} > {}",
                    2.0 * bound
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
    // The label is refused from a sketch, naming the setting.
    let text = "[model]\ntask = \"classification\"\n[columns]\nlabel = \"category\"\n";
    let path = dir.path().join("label.toml");
    std::fs::write(&path, text).unwrap();
    let with_label = load_config(Some(&path)).unwrap();
    let error = check_with(&with_label, &sketch_path, &current)
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("columns.label") && error.contains("sketch"),
        "{error}"
    );
}

#[test]
fn check_does_not_hash_the_reference_and_the_daemon_does() {
    use drift_exporter::reference::{ReadFor, ReferenceProfile};
    let config = Config::default();
    let reference = fixture("oracle").join("small").join("reference.parquet");
    let load = |read_for| {
        ReferenceProfile::load_for(
            &reference,
            &config.columns,
            &config.drift.profile,
            &config.model,
            read_for,
        )
        .unwrap()
    };
    let (hashed, unhashed) = (load(ReadFor::Daemon), load(ReadFor::OneShot));
    assert_eq!(hashed.sha256.len(), 64);
    assert!(unhashed.sha256.is_empty());
    // Nothing else differs.
    assert_eq!(hashed.columns, unhashed.columns);
}
