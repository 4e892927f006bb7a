//! The `drift-exporter` binary: parses the command line, sets up logging and hands
//! over to the library. Exit codes: 0 success (no drift for `check`), 1 drift
//! detected (`check`) or unhealthy (`healthcheck`), 2 error.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use drift_exporter::cli::{
    CheckArgs, CheckFormat, Cli, Command, HealthcheckArgs, ProfileAction, ProfileArgs, ServeArgs,
    ValidateArgs,
};
use drift_exporter::config::{CliOverrides, Config};
use drift_exporter::daemon::{self, ServeOptions};
use drift_exporter::reference::{ProfileMode, ReferenceProfile};
use drift_exporter::{check, healthcheck, logging, profile};

/// The allocator of `--features mimalloc` builds (RELIABILITY.md measures it).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Check(args)) => run_check(args),
        Some(Command::ValidateConfig(args)) => validate(args),
        Some(Command::Healthcheck(args)) => health(args),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Profile(args)) => run_profile(args),
        None => serve(cli.serve),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    drift_exporter::memory::configure();
    logging::init(&args.log);
    let options = ServeOptions {
        config_path: args.config,
        cli: CliOverrides {
            listen_address: args.listen_address,
            telemetry_path: args.telemetry_path,
            web_config_file: args.web_config_file,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("drift-exporter")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(daemon::run(options))?;
    Ok(ExitCode::SUCCESS)
}

fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    logging::init(&args.log);
    let config = Config::load(&args.config, &CliOverrides::default())?;
    let profile = ReferenceProfile::for_config(&config, &args.config)?;
    if let Some(web) = &config.server.web_config_file {
        drift_exporter::web_config::load(web)?;
    }
    println!(
        "{}: ok (reference {}: {} rows, {} scored columns, sha256 {}; {} sources)",
        args.config.display(),
        profile.path.display(),
        profile.rows,
        profile.columns.len(),
        profile.sha256,
        config.sources.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn health(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let credentials = healthcheck::Credentials {
        tls: args.tls || args.tls_cert_file.is_some(),
        client_cert: args.tls_cert_file.zip(args.tls_key_file),
        basic_auth: args.basic_auth_username.zip(args.basic_auth_password),
    };
    match healthcheck::check_with(
        &args.address,
        Duration::from_secs(args.timeout.max(1)),
        &credentials,
    ) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("unhealthy: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn run_profile(args: ProfileArgs) -> anyhow::Result<ExitCode> {
    logging::init(&args.log);
    match args.action {
        Some(ProfileAction::Merge(merge)) => {
            let merged = profile::merge_with(&merge.inputs, &merge.out, merge.compress)?;
            eprintln!(
                "{}: {} profiles merged, {} rows, {} columns",
                merge.out.display(),
                merge.inputs.len(),
                merged.header.rows,
                merged.header.columns.len()
            );
        }
        Some(ProfileAction::Show(show)) => {
            let file = drift_exporter::reference::profile_file::read(&show.path)?;
            match show.format {
                CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&file.header)?),
                CheckFormat::Table => print!("{}", profile::render(&show.path, &file)),
            }
        }
        None => {
            let config = check::load_config(args.config.as_deref())?;
            let reference = args
                .reference
                .or_else(|| config.reference.path.clone())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no reference: pass --reference or a --config with [reference] path"
                    )
                })?;
            let out = args
                .out
                .ok_or_else(|| anyhow::anyhow!("no output: pass --out PATH for the profile"))?;
            let mode = if args.sketch {
                ProfileMode::Sketch {
                    k: args.sketch_k,
                    categories: args.sketch_categories,
                }
            } else {
                ProfileMode::Exact
            };
            let built = profile::build_with(&reference, &config, &out, mode, args.compress)?;
            let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            eprintln!(
                "{}: {} rows, {} columns, {} bytes",
                out.display(),
                built.header.rows,
                built.header.columns.len(),
                bytes
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    logging::init(&args.log);
    let config = check::load_config(args.config.as_deref())?;
    let reference = args
        .reference
        .or_else(|| config.reference.path.clone())
        .ok_or_else(|| {
            anyhow::anyhow!("no reference: pass --reference or a --config with [reference] path")
        })?;
    let report = check::check_with(&config, &reference, &args.current)?;
    match args.format {
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        CheckFormat::Table => {
            print!("{}", check::render_table(&report));
            if args.by_segment {
                print!("{}", check::render_segment_tables(&report));
            }
        }
    }
    // Exit 1 follows the dataset verdict (`dataset.drift_detected`), as the JSON does.
    Ok(if report.dataset.drift_detected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
