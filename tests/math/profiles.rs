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
