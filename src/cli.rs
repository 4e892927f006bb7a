//! The command line (SPEC.md sections 1 and 7): `serve` (the default), `check`,
//! `validate-config`, `healthcheck` and `profile` (`merge`, `show`), with the `--web.*` and `--log.*` flags a
//! Prometheus user expects.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Default config path, relative to the working directory.
pub const DEFAULT_CONFIG: &str = "config/drift-exporter.toml";

/// Watches a model's inputs and outputs for drift and exports PSI, KS and KL to Prometheus.
#[derive(Debug, Parser)]
#[command(
    name = "drift-exporter",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `serve` when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: load the reference, tail sources, serve /metrics.
    Serve(ServeArgs),
    /// Compare one file with the reference once; exit 0 (no drift), 1 (drift), 2 (error).
    Check(CheckArgs),
    /// Parse and check the config and its reference file.
    ValidateConfig(ValidateArgs),
    /// Ask a running daemon's /healthz (for container health checks); exit 0 if healthy.
    Healthcheck(HealthcheckArgs),
    /// Profile a Parquet reference into one small file that every command takes in
    /// its place (`profile merge`, `profile show`).
    Profile(ProfileArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging flags, shared by every subcommand.
#[derive(Debug, Clone, Args, Default)]
pub struct LogArgs {
    /// Log level: error, warn, info, debug, trace (or a tracing filter directive).
    #[arg(
        id = "log_level",
        long = "log.level",
        default_value = "info",
        global = true
    )]
    pub level: String,
    /// Log format.
    #[arg(id = "log_format", long = "log.format", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub format: LogFormat,
}

/// `serve` flags.
#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// The TOML config file.
    #[arg(long, short = 'c', default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Address to listen on (overrides [server] listen).
    #[arg(long = "web.listen-address")]
    pub listen_address: Option<String>,
    /// Path of the metrics page (overrides [server] telemetry_path).
    #[arg(long = "web.telemetry-path")]
    pub telemetry_path: Option<String>,
    /// The exporter-toolkit web config (TLS and basic auth for every endpoint;
    /// overrides [server] web_config_file).
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Output format of `check`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum CheckFormat {
    /// An aligned table.
    #[default]
    Table,
    /// The JSON object of SPEC.md section 1.
    Json,
}

/// `check` flags.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The reference Parquet file (default: the config's [reference] path).
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// The file to compare: .parquet, .arrow/.ipc, .csv, .ndjson/.jsonl or .json.
    #[arg(long)]
    pub current: PathBuf,
    /// A TOML config for [columns] and [drift] (default: Arrow types, default thresholds).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
    /// With `[columns] segment`: a table per segment after the overall one
    /// (the JSON always holds them, under `segments`).
    #[arg(long)]
    pub by_segment: bool,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `profile` flags (or a `merge` / `show` subcommand).
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ProfileArgs {
    /// `merge` or `show`; without one, profile `--reference` into `--out`.
    #[command(subcommand)]
    pub action: Option<ProfileAction>,
    /// The reference Parquet file (default: the config's [reference] path).
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Where to write the profile.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A TOML config for [columns] and [model] (which columns, their kinds, the label
    /// kept for quality); default: every numeric and categorical column.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Keep numeric columns in quantile sketches instead of every value: memory that
    /// does not grow with the rows, scores within the stored rank-error bound, no
    /// labelled rows kept.
    #[arg(long)]
    pub sketch: bool,
    /// Values per sketch level (larger: smaller bound, more memory).
    #[arg(long, default_value_t = crate::stats::sketch::DEFAULT_K, requires = "sketch")]
    pub sketch_k: usize,
    /// Categories a sketch keeps per column past twice as many distinct ones (a
    /// frequent-items summary; exact below).
    #[arg(long, default_value_t = crate::stats::frequent::DEFAULT_CAPACITY, requires = "sketch")]
    pub sketch_categories: usize,
    /// Store every numeric column LZ4-compressed: the smallest file, decoded at every
    /// start. By default a numeric column is compressed only when that saves a quarter
    /// of its bytes, and is otherwise used where it lies once read.
    #[arg(long)]
    pub compress: bool,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `profile` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum ProfileAction {
    /// Merge the profiles of disjoint shards of one reference into the profile of the whole.
    Merge(MergeArgs),
    /// Print what a profile holds.
    Show(ShowArgs),
}

/// `profile merge` flags.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Where to write the merged profile.
    #[arg(long)]
    pub out: PathBuf,
    /// The shard profiles, in the order of the shards.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Store every numeric column LZ4-compressed (see `profile --compress`).
    #[arg(long)]
    pub compress: bool,
}

/// `profile show` flags.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The profile file.
    pub path: PathBuf,
    /// Output format: a summary, or the header as JSON.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

/// `validate-config` flags.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The TOML config file.
    #[arg(long, short = 'c', default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `healthcheck` flags.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The daemon's address.
    #[arg(long, default_value = "127.0.0.1:9877")]
    pub address: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
    /// Speak TLS (a daemon with tls_server_config); its certificate is not verified.
    #[arg(long)]
    pub tls: bool,
    /// Client certificate (PEM), for a daemon that requires one.
    #[arg(long = "tls.cert-file", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// Client key (PEM) of --tls.cert-file.
    #[arg(id = "tls_key_file", long = "tls.key-file", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Basic-auth user (a daemon with basic_auth_users).
    #[arg(long = "basic-auth.username", requires = "basic_auth_password")]
    pub basic_auth_username: Option<String>,
    /// Basic-auth password; best from the environment, not the command line.
    #[arg(
        id = "basic_auth_password",
        long = "basic-auth.password",
        env = "DRIFT_EXPORTER_HEALTHCHECK_PASSWORD",
        hide_env_values = true
    )]
    pub basic_auth_password: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_serve_with_web_flags() -> TestResult {
        let cli = Cli::try_parse_from([
            "drift-exporter",
            "--web.listen-address",
            "127.0.0.1:1",
            "--log.format",
            "json",
        ])?;
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.listen_address.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(cli.serve.log.format, LogFormat::Json);
        assert_eq!(cli.serve.config, PathBuf::from(DEFAULT_CONFIG));
        Ok(())
    }

    #[test]
    fn profile_takes_its_flags_and_subcommands() -> TestResult {
        let cli = Cli::try_parse_from([
            "drift-exporter",
            "profile",
            "--reference",
            "r.parquet",
            "--out",
            "r.profile",
        ])?;
        let Some(Command::Profile(args)) = cli.command else {
            panic!("profile expected")
        };
        assert_eq!(args.out, Some(PathBuf::from("r.profile")));
        assert!(args.action.is_none());
        let cli = Cli::try_parse_from([
            "drift-exporter",
            "profile",
            "merge",
            "--out",
            "all.profile",
            "a.profile",
            "b.profile",
        ])?;
        let Some(Command::Profile(ProfileArgs {
            action: Some(ProfileAction::Merge(merge)),
            ..
        })) = cli.command
        else {
            panic!("profile merge expected")
        };
        assert_eq!(merge.inputs.len(), 2);
        let cli = Cli::try_parse_from([
            "drift-exporter",
            "profile",
            "show",
            "a.profile",
            "--format",
            "json",
        ])?;
        assert!(matches!(
            cli.command,
            Some(Command::Profile(ProfileArgs {
                action: Some(ProfileAction::Show(ShowArgs {
                    format: CheckFormat::Json,
                    ..
                })),
                ..
            }))
        ));
        Ok(())
    }

    #[test]
    fn check_takes_its_flags() -> TestResult {
        let cli = Cli::try_parse_from([
            "drift-exporter",
            "check",
            "--reference",
            "r.parquet",
            "--current",
            "c.csv",
            "--format",
            "json",
        ])?;
        let Some(Command::Check(args)) = cli.command else {
            panic!("check expected")
        };
        assert_eq!(args.format, CheckFormat::Json);
        assert_eq!(args.current, PathBuf::from("c.csv"));
        Ok(())
    }
}
