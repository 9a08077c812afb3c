//! The `app` command line: serve the API (the default), or run one of the
//! operator's one-shot commands against the same `DATABASE_URL`.
//!
//! Exit codes: 0 success, 1 the operation failed (the database is
//! unreachable, no such user), 2 usage or configuration error (clap's own
//! usage errors, and settings from the environment that do not parse).

mod seed;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::compose;
use crate::data::{DataError, Role};
use crate::infrastructure::redact::redact;
use crate::infrastructure::settings::Settings;
use crate::infrastructure::telemetry::Sink;

/// How long tasks still running after a command (connections cut by the
/// drain bound, a password hash) may take before the runtime drops them.
const RUNTIME_GRACE: Duration = Duration::from_millis(200);

/// `app [COMMAND]`. Settings come from the environment (see
/// `infrastructure::settings`), so the supervisor's `[apps.env]` configures
/// the server and the operator's shell configures the commands alike.
#[derive(Debug, Parser)]
#[command(name = "app", version, about = "The layered JSON publishing API")]
pub struct Cli {
    /// What to do; `serve` when left out, which is what the supervisor runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve the API until SIGTERM or SIGINT.
    Serve,
    /// Run the pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        /// What to do to the user.
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Fill the database with demo data: a few users (their passwords are
    /// printed once), posts with tags, drafts, comments and follows.
    Seed {
        /// How many posts to create.
        #[arg(long, default_value_t = 100)]
        posts: u32,
    },
}

/// `app user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Make the user with this email an admin (roles are never changed
    /// through the HTTP API).
    Promote {
        /// The user's email, as registered (compared case-insensitively).
        email: String,
    },
}

impl Cli {
    /// Where log lines go: stdout for the server (the supervisor captures
    /// it), stderr for commands so their stdout is only their output.
    pub fn log_sink(&self) -> Sink {
        match self.command {
            None | Some(Command::Serve) => Sink::Stdout,
            Some(_) => Sink::Stderr,
        }
    }
}

/// Runs the command on a fresh runtime and turns its outcome into the exit
/// code, printing a failure as one sentence on stderr.
pub fn run(cli: Cli, settings: Settings) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("app: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(dispatch(cli.command.unwrap_or(Command::Serve), settings));
    runtime.shutdown_timeout(RUNTIME_GRACE);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("app: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => compose::serve(&settings).await,
        Command::Migrate => {
            compose::open_database(&settings).await?;
            let url = redact(&settings.database_url);
            println!("the database at {url} is migrated");
            Ok(())
        }
        Command::User {
            action: UserCommand::Promote { email },
        } => {
            let repos = compose::open_database(&settings).await?;
            match repos.users.set_role(email.trim(), Role::Admin).await {
                Ok(user) => {
                    println!("{} ({}) is now an admin", user.email, user.id);
                    Ok(())
                }
                Err(DataError::NotFound) => Err(anyhow::anyhow!(
                    "no user has the email {email}; register it through the API first"
                )),
                Err(error) => Err(anyhow::Error::new(error).context("promoting the user failed")),
            }
        }
        Command::Seed { posts } => {
            let repos = compose::open_database(&settings).await?;
            seed::seed(&repos, posts).await
        }
    }
}
