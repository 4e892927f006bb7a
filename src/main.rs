//! The `drift-exporter` binary: parses the command line and hands over to the
//! library. Exit codes: 0 success (no drift for `check`), 1 drift detected, 2 error.

use std::process::ExitCode;

use clap::Parser;

use drift_exporter::check;
use drift_exporter::cli::{CheckArgs, CheckFormat, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Check(args)) => run_check(args),
        Some(Command::ValidateConfig(_))
        | Some(Command::Serve(_))
        | Some(Command::Healthcheck(_))
        | None => Err(anyhow::anyhow!("not implemented yet")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    drift_exporter::logging::init(&args.log);
    let reference =
        check::reference_path(args.reference, args.config.as_deref())?.ok_or_else(|| {
            anyhow::anyhow!("no reference: pass --reference or a --config with [reference] path")
        })?;
    let report = check::run_check(&reference, &args.current, args.config.as_deref())?;
    match args.format {
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        CheckFormat::Table => print!("{}", check::render_table(&report)),
    }
    // Exit 1 follows the dataset verdict (`dataset.drift_detected`), as the JSON does.
    Ok(if report.dataset.drift_detected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
