//! The command line: `corral run`, `corral check`, and the hidden exec
//! step and guard.
//!
//! Verbs mirror the control requests they will map to; parsing stays here and
//! [`run`] turns each verb into its action and an exit code (0 success,
//! 1 the operation failed, 2 usage or config error, which includes a log
//! folder that cannot be written or is in use by another supervisor).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config;
use crate::contain;
use crate::daemon::{self, Source};
use crate::exec_step::ExecStep;
use crate::lock::LogDirLock;
use crate::log_setup;

/// corral: a process supervisor and cluster runner for any language.
#[derive(Debug, Parser)]
#[command(name = "corral", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the supervisor in the foreground (what systemd starts).
    Run(FileArgs),
    /// Validate an ecosystem file and print the resolved config.
    Check(FileArgs),
    /// Internal: prepare a worker process and exec its command.
    #[command(hide = true)]
    ExecStep(ExecStep),
    /// Internal: kill every worker's tree when the supervisor dies.
    #[command(hide = true)]
    Guard,
}

/// Which ecosystem file, and which `[apps.env_<NAME>]` overlay.
#[derive(Debug, clap::Args)]
pub struct FileArgs {
    /// The ecosystem file.
    #[arg(default_value = "ecosystem.toml")]
    pub file: PathBuf,
    /// Overlay `[apps.env_<NAME>]` on `[apps.env]`.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}

/// Exit code of a usage or config error.
const EXIT_CONFIG: u8 = 2;
/// Exit code of a failed operation.
const EXIT_FAILED: u8 = 1;

/// Runs a parsed verb and returns the exit code.
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Run(args) => run_daemon(args),
        Command::Check(args) => match config::load(&args.file, args.env.as_deref()) {
            Ok(eco) => {
                if let Err(err) = log_setup::check(&eco) {
                    return config_error(&err);
                }
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                print!("{}", config::render(&eco, cpus));
                ExitCode::SUCCESS
            }
            Err(err) => config_error(&err),
        },
        Command::ExecStep(step) => {
            eprintln!("corral: {}", step.exec());
            ExitCode::from(127)
        }
        Command::Guard => contain::guard::run(),
    }
}

fn run_daemon(args: FileArgs) -> ExitCode {
    let eco = match config::load(&args.file, args.env.as_deref()) {
        Ok(eco) => eco,
        Err(err) => return config_error(&err),
    };
    let listeners = match daemon::prepare() {
        Ok(listeners) => listeners,
        Err(err) => return failed(&err),
    };
    if let Err(err) = log_setup::prepare(&eco) {
        return config_error(&err);
    }
    // After `daemon::prepare`, which must see the inherited fds before any
    // is opened; before any socket is bound or anything started.
    let log_lock = match LogDirLock::acquire(&eco.supervisor.log_dir) {
        Ok(lock) => lock,
        Err(err) => return config_error(&err),
    };
    // One thread: the thread that forks a worker is its parent as far as
    // PR_SET_PDEATHSIG is concerned, so it must live as long as the process.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return failed(&anyhow::Error::from(err).context("cannot start the runtime")),
    };
    let source = Source {
        file: args.file,
        env: args.env,
    };
    match runtime.block_on(daemon::run(eco, source, listeners, log_lock)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => failed(&err),
    }
}

/// A config the supervisor cannot run: a broken file, or a log folder it
/// cannot write or that another supervisor holds.
fn config_error(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("corral: {err}");
    ExitCode::from(EXIT_CONFIG)
}

fn failed(err: &anyhow::Error) -> ExitCode {
    eprintln!("corral: {err:#}");
    ExitCode::from(EXIT_FAILED)
}
