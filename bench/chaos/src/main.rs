//! `chaos`: runs the chaos scenarios against the real binaries and prints
//! one JSON document per scenario; exits 1 if any property failed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bench_chaos::scenarios::{self, Lengths};
use bench_chaos::supervisor::Binaries;
use clap::{Parser, ValueEnum};

/// Chaos under load: reloads, killed workers, a stopped worker, a killed
/// supervisor, leaks, a soak and a database outage, against corral running the app.
#[derive(Parser)]
struct Args {
    /// The `corral` binary.
    #[arg(long, default_value = "target/release/corral")]
    corral: PathBuf,
    /// The `app` binary.
    #[arg(long, default_value = "target/release/app")]
    app: PathBuf,
    /// The CI lengths instead of the (60 s, 30 and 100 reloads, a 10-minute soak).
    #[arg(long)]
    short: bool,
    /// How long the soak runs (10 min by default, 60 s with --short), e.g.
    /// `2m` or `90s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    soak_for: Option<std::time::Duration>,
    /// Scenarios to run (all by default).
    #[arg(long = "scenario", value_enum)]
    scenarios: Vec<Scenario>,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Scenario {
    RollingReloads,
    KillWorkers,
    StoppedWorker,
    KillSupervisor,
    Leaks,
    Soak,
    DbOutage,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("chaos: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the chosen scenarios; `Ok(false)` if a property failed or a
/// scenario could not run.
fn run(args: Args) -> anyhow::Result<bool> {
    let bins = Binaries {
        corral: args.corral.canonicalize().context("the corral binary")?,
        app: args.app.canonicalize().context("the app binary")?,
    };
    let mut lengths = if args.short {
        Lengths::short()
    } else {
        Lengths::full()
    };
    if let Some(soak_for) = args.soak_for {
        lengths.soak_for = soak_for;
    }
    let chosen = if args.scenarios.is_empty() {
        Scenario::value_variants().to_vec()
    } else {
        args.scenarios
    };
    let mut passed = true;
    for scenario in chosen {
        let run = match scenario {
            Scenario::RollingReloads => scenarios::rolling_reloads,
            Scenario::KillWorkers => scenarios::kill_workers,
            Scenario::StoppedWorker => scenarios::stopped_worker,
            Scenario::KillSupervisor => scenarios::kill_supervisor,
            Scenario::Leaks => scenarios::leaks,
            Scenario::Soak => scenarios::soak,
            Scenario::DbOutage => scenarios::db_outage,
        };
        // A scenario that could not run is reported and the others still
        // run: a half-length table is worth more than none.
        match run(&bins, &lengths) {
            Ok(findings) => {
                passed &= findings.passed();
                println!("{}", serde_json::to_string(&findings)?);
            }
            Err(error) => {
                passed = false;
                let name = scenario
                    .to_possible_value()
                    .expect("named")
                    .get_name()
                    .to_owned();
                let error = format!("{error:#}");
                println!(
                    "{}",
                    serde_json::json!({ "scenario": name, "error": error })
                );
            }
        }
    }
    Ok(passed)
}
