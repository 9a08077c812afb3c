//! The command line: the verbs an operator types, and their exit codes.
//!
//! `run` is the supervisor itself, `check` reads a file; every other verb
//! talks to a running supervisor over its control socket ([`remote`]),
//! with the same name as the request it sends (`reload`,
//! `Request::Reload`). Exit codes everywhere: 0 success, 1 the operation
//! failed, 2 usage or config error, 3 no supervisor is running.

mod generate;
pub mod habits;
pub mod internal;
mod monit;
mod remote;
mod screen;
mod startup;
mod supervise;
mod table;
mod unit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Start a supervisor in the background, or start a stopped app.
    ///
    /// With an ecosystem file (default ./ecosystem.toml) and no supervisor
    /// running on it: starts one, detached, and returns once every app is
    /// online. With `all` or an app's name: starts that app's workers in
    /// the running supervisor.
    Start(StartArgs),
    /// Stop an app's workers (or every app's); they stay stopped.
    Stop(TargetArgs),
    /// Stop and start an app's workers, all at once.
    Restart(TargetArgs),
    /// Re-read the ecosystem file and roll it out, one worker at a time,
    /// each new worker online before the old one drains.
    Reload(TargetArgs),
    /// Run N workers of an app (until the next reload).
    Scale(ScaleArgs),
    /// Show every app and worker.
    #[command(visible_aliases = ["list", "ls"])]
    Status(StatusArgs),
    /// Show one app in depth: its config, workers and recent history.
    Describe(DescribeArgs),
    /// Print an app's log lines, and follow them.
    Logs(LogsArgs),
    /// Reopen every log file (as SIGUSR1), after an external logrotate.
    ReopenLogs(SocketArgs),
    /// Stop every worker and the supervisor (as SIGTERM).
    Shutdown(SocketArgs),
    /// Validate an ecosystem file and print the resolved config.
    Check(FileArgs),
    /// Watch every worker's state, memory and cpu live, refreshed every
    /// second, until `q`.
    Monit(SocketArgs),
    /// Print a systemd unit that runs this ecosystem file as this user.
    Startup(startup::StartupArgs),
    /// Print a shell completion script.
    Completions(generate::CompletionsArgs),
    /// Print the man page (roff), or a verb's.
    Man(generate::ManArgs),
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

/// Where the running supervisor's control socket is.
#[derive(Debug, Clone, clap::Args)]
pub struct SocketArgs {
    /// The control socket (else `CORRAL_SOCKET`, then the `control_socket`
    /// of ./ecosystem.toml, then /run/corral/corral.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// `start`'s one argument: a file, or apps.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// An ecosystem file to run in the background, or `all`, or an app.
    pub what: Option<String>,
    /// Overlay `[apps.env_<NAME>]` (when starting a supervisor).
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    #[command(flatten)]
    socket: SocketArgs,
}

/// An app, or `all`.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// An app's name, or `all`.
    pub target: String,
    #[command(flatten)]
    socket: SocketArgs,
}

/// `scale APP N`.
#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// The app.
    pub app: String,
    /// How many workers.
    pub instances: u32,
    #[command(flatten)]
    socket: SocketArgs,
}

/// `status [--json]`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The status document as JSON (schema: docs/cli.md).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    socket: SocketArgs,
}

/// `describe APP [--json]`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The app.
    pub app: String,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    socket: SocketArgs,
}

/// `logs [APP] [--lines N] [--follow] [--err|--out]`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The app (default: every app).
    pub app: Option<String>,
    /// Lines of history to print first, per file.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub lines: usize,
    /// Keep printing new lines until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only stderr.
    #[arg(long, conflicts_with = "out")]
    pub err: bool,
    /// Only stdout.
    #[arg(long)]
    pub out: bool,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Exit code of a usage or config error.
const EXIT_CONFIG: u8 = 2;
/// Exit code of a failed operation.
const EXIT_FAILED: u8 = 1;

/// Runs a parsed verb and returns the exit code.
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Run(args) => supervise::run(args),
        Command::Start(args) => supervise::start(args),
        Command::Check(args) => supervise::check(&args),
        Command::Monit(args) => monit::run(&args),
        Command::Startup(args) => startup::run(&args),
        Command::Completions(args) => generate::completions(&args),
        Command::Man(args) => generate::man(&args),
        remote => remote::run(remote),
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
