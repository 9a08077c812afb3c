//! The verbs that talk to a running supervisor over its control socket.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use http_body_util::BodyExt as _;

use super::{Command, EXIT_CONFIG, SocketArgs};
use crate::control::client::{self, ClientError, Located};
use crate::control::describe::Description;
use crate::control::{Done, LogsQuery, Request, StatusDoc, Streams, Target};

/// A runtime for one request: the CLI does nothing else meanwhile.
pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts")
}

/// Runs a verb that needs a running supervisor.
pub(super) fn run(command: Command) -> ExitCode {
    let (socket, request, show): (SocketArgs, Request, Show) = match command {
        Command::Status(args) => (
            args.socket,
            Request::Status,
            Show::Status { json: args.json },
        ),
        Command::Describe(args) => (
            args.socket,
            Request::Describe { app: args.app },
            Show::Describe { json: args.json },
        ),
        Command::Reload(args) => (
            args.socket,
            Request::Reload {
                target: Target::parse(&args.target),
            },
            Show::Done,
        ),
        Command::Restart(args) => (
            args.socket,
            Request::Restart {
                target: Target::parse(&args.target),
            },
            Show::Done,
        ),
        Command::Stop(args) => (
            args.socket,
            Request::Stop {
                target: Target::parse(&args.target),
            },
            Show::Done,
        ),
        Command::Scale(args) => (
            args.socket,
            Request::Scale {
                app: args.app,
                instances: args.instances,
            },
            Show::Done,
        ),
        Command::Logs(args) => {
            let streams = match (args.out, args.err) {
                (true, _) => Streams::Out,
                (_, true) => Streams::Err,
                _ => Streams::Both,
            };
            let query = LogsQuery {
                app: args.app,
                lines: args.lines,
                follow: args.follow,
                streams,
            };
            (args.socket, Request::Logs(query), Show::Text)
        }
        Command::ReopenLogs(socket) => (socket, Request::ReopenLogs, Show::Done),
        Command::Shutdown(socket) => (socket, Request::Shutdown, Show::Done),
        other => unreachable!("{other:?} is not a remote verb"),
    };
    ask(socket.socket.as_deref(), &request, show)
}

/// `corral start APP|all` on a running supervisor.
pub(super) fn start(target: Target, socket: Option<&Path>) -> ExitCode {
    ask(socket, &Request::Start { target }, Show::Done)
}

/// How an answer is printed.
enum Show {
    Status { json: bool },
    Describe { json: bool },
    Done,
    Text,
}

fn ask(socket: Option<&Path>, request: &Request, show: Show) -> ExitCode {
    let at = match client::locate(socket) {
        Ok(at) => at,
        Err(err) => {
            eprintln!("corral: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let outcome = runtime().block_on(answer(&at, request, show));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("corral: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

async fn answer(at: &Located, request: &Request, show: Show) -> Result<(), ClientError> {
    match show {
        Show::Status { json } => {
            let doc: StatusDoc = client::call(at, request).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                print!("{}", super::table::status(&doc, chrono::Utc::now()));
            }
        }
        Show::Describe { json } => {
            let description: Description = client::call(at, request).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&description).unwrap_or_default()
                );
            } else {
                print!(
                    "{}",
                    super::table::describe(&description, chrono::Utc::now())
                );
            }
        }
        Show::Done => {
            let done: Done = client::call(at, request).await?;
            println!("{}", done.message);
        }
        Show::Text => {
            let mut body = client::send(at, request).await?.into_body();
            let mut stdout = std::io::stdout().lock();
            while let Some(frame) = body.frame().await {
                let frame = frame
                    .map_err(|err| ClientError::Broken(format!("the log stream was cut: {err}")))?;
                if let Some(data) = frame.data_ref()
                    && (stdout.write_all(data).is_err() || stdout.flush().is_err())
                {
                    // The reader went away (`| head`): nothing more to do.
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}
