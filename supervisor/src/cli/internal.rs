//! The verbs only corral itself runs: `exec-step`, the first program of
//! every worker, and `guard`, which kills the workers if the supervisor
//! dies.
//!
//! They are recognised here, by the exact first argument, before the
//! operator's parser ([`super::Cli`]) sees the command line, and parsed by
//! a parser of their own. So they are not in [`super::Command`] at all:
//! not in help, completions or the man page, and never offered by clap's
//! "did you mean" when an operator mistypes a verb.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::contain;
use crate::exec_step::ExecStep;

/// The first argument that makes `corral` the exec step
/// ([`ExecStep::to_args`] puts it there).
pub const EXEC_STEP: &str = "exec-step";

/// The first argument that makes `corral` the guard (`contain::link`
/// puts it there).
pub const GUARD: &str = "guard";

/// The exec step's own command line.
#[derive(Debug, Parser)]
#[command(name = "corral exec-step")]
struct ExecStepLine {
    #[command(flatten)]
    step: ExecStep,
}

/// Runs an internal verb if `args` (the whole command line, program name
/// first) names one, and returns its exit code; `None` for every other
/// command line, which is the operator's.
pub fn run(args: &[OsString]) -> Option<ExitCode> {
    let verb = args.get(1)?.to_str()?;
    match verb {
        EXEC_STEP => {
            // The exec step becomes the worker: no logger, nothing that
            // would outlive it in the worker's process.
            let line = ExecStepLine::parse_from(&args[1..]);
            eprintln!("corral: {}", line.step.exec());
            Some(ExitCode::from(127))
        }
        GUARD => {
            crate::telemetry::init();
            Some(contain::guard::run())
        }
        _ => None,
    }
}
