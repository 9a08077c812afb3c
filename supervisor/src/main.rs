//! The `corral` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use corral::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The exec step becomes the worker: it must not install a logger or
    // anything else that would outlive it in the worker's process.
    if !matches!(cli.command, Command::ExecStep(_)) {
        corral::telemetry::init();
    }
    corral::cli::run(cli.command)
}
