//! The `corral` binary: answer the internal verbs and PM2 habits, parse
//! the command line, set up logging, run.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use corral::cli::{Cli, habits, internal};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Before clap: the internal verbs are not the operator's, and the
    // exec step must not install a logger (it becomes the worker).
    if let Some(code) = internal::run(&args).or_else(|| habits::run(&args)) {
        return code;
    }
    let cli = Cli::parse_from(args);
    corral::telemetry::init();
    corral::cli::run(cli.command)
}
