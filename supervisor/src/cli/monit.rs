//! `corral monit`: the status table ([`super::table`]), redrawn in place
//! every second until `q`, Esc or Ctrl-C; exit 3 once the supervisor is
//! gone.
//!
//! Plain redraws through crossterm ([`super::screen`]), not ratatui: the
//! view is one table that `status` already lays out, and a widget library
//! would only lay it out again. crossterm gives what plain ANSI needs
//! besides: raw mode, key events and the terminal's size, as one stream
//! the refresh loop waits on next to its timer and the stop signals.

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::signal::unix::{SignalKind, signal};
use tokio_stream::StreamExt as _;

use super::screen::Screen;
use super::{EXIT_CONFIG, EXIT_FAILED, SocketArgs};
use crate::control::client::{self, ClientError, Located};
use crate::control::schema::SupervisorState;
use crate::control::{Request, StatusDoc};

/// Time between two refreshes.
const PERIOD: Duration = Duration::from_secs(1);

/// How long one status request may take before monit gives up on it.
const ANSWER_BOUND: Duration = Duration::from_secs(5);

/// Exit code once the supervisor is gone.
const EXIT_GONE: u8 = 3;

/// Runs the live view until the operator quits or the supervisor goes.
pub(super) fn run(args: &SocketArgs) -> ExitCode {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        eprintln!(
            "corral: monit needs a terminal; in a script use `corral status` or `corral status --json`"
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let at = match client::locate(args.socket.as_deref()) {
        Ok(at) => at,
        Err(err) => {
            eprintln!("corral: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = super::remote::runtime();
    // Asked once before the screen is taken: with no supervisor there is
    // nothing to show, and the usual message says so.
    let first = match runtime.block_on(fetch(&at)) {
        Ok(doc) => doc,
        Err(err) => {
            eprintln!("corral: {err}");
            return ExitCode::from(err.exit_code());
        }
    };
    let screen = match Screen::enter() {
        Ok(screen) => screen,
        Err(err) => {
            eprintln!("corral: cannot take over the terminal: {err}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let ended = runtime.block_on(watch(screen, &at, first));
    // The screen is given back by now: these lines stay visible.
    match ended {
        Ok(()) => ExitCode::SUCCESS,
        Err(Ended::Gone) => {
            eprintln!(
                "corral: the supervisor at {} went away; start it again with `corral start`",
                at.path.display()
            );
            ExitCode::from(EXIT_GONE)
        }
        Err(Ended::Failed(why, code)) => {
            eprintln!("corral: {why}");
            ExitCode::from(code)
        }
    }
}

/// Why the view stopped, other than the operator quitting.
enum Ended {
    /// The supervisor no longer answers on its socket.
    Gone,
    /// Something else failed: the message and the exit code.
    Failed(String, u8),
}

/// The refresh loop. Takes the screen so it is given back (dropped)
/// before the caller prints why the loop ended.
async fn watch(mut screen: Screen, at: &Located, first: StatusDoc) -> Result<(), Ended> {
    let failed = |err: std::io::Error| Ended::Failed(format!("cannot draw: {err}"), EXIT_FAILED);
    let listen = |kind| {
        signal(kind)
            .map_err(|err| Ended::Failed(format!("cannot watch for signals: {err}"), EXIT_FAILED))
    };
    let (mut term, mut hup, mut int) = (
        listen(SignalKind::terminate())?,
        listen(SignalKind::hangup())?,
        listen(SignalKind::interrupt())?,
    );
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(PERIOD);
    tick.tick().await;
    let mut doc = first;
    loop {
        screen.draw(&frame(&doc, at, Utc::now())).map_err(failed)?;
        tokio::select! {
            _ = tick.tick() => {
                doc = match fetch(at).await {
                    Ok(doc) => doc,
                    Err(ClientError::NotRunning { .. }) => return Err(Ended::Gone),
                    Err(err) => return Err(Ended::Failed(err.to_string(), err.exit_code())),
                };
            }
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) if quits(key) => return Ok(()),
                // A resize, or another key: the loop redraws.
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    return Err(Ended::Failed(format!("cannot read the keyboard: {err}"), EXIT_FAILED));
                }
                None => return Ok(()),
            },
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

/// The status document, asked again once if the connection broke: a
/// supervisor that is exiting may accept and then close, and the second
/// try tells "gone" from a real failure.
async fn fetch(at: &Located) -> Result<StatusDoc, ClientError> {
    let ask = || async {
        tokio::time::timeout(ANSWER_BOUND, client::call(at, &Request::Status))
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::Broken(format!(
                    "the supervisor at {} did not answer within {}s",
                    at.path.display(),
                    ANSWER_BOUND.as_secs()
                )))
            })
    };
    match ask().await {
        Err(ClientError::Broken(_)) => ask().await,
        answer => answer,
    }
}

/// `q`, Esc or Ctrl-C (which raw mode delivers as a key, not SIGINT).
fn quits(key: KeyEvent) -> bool {
    key.kind == KeyEventKind::Press
        && match key.code {
            KeyCode::Char('q' | 'Q') | KeyCode::Esc => true,
            KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
            _ => false,
        }
}

/// One screenful: who is watched, when, how to quit, then the table.
fn frame(doc: &StatusDoc, at: &Located, now: DateTime<Utc>) -> String {
    let sup = &doc.supervisor;
    format!(
        "corral monit  supervisor pid {} ({}), up {}, {}  socket {}  {}  q to quit\n\n{}",
        sup.pid,
        match sup.state {
            SupervisorState::Running => "running",
            SupervisorState::Stopping => "stopping",
        },
        super::table::uptime(now, sup.started_at),
        sup.ecosystem.display(),
        at.path.display(),
        now.with_timezone(&chrono::Local).format("%H:%M:%S"),
        super::table::status(doc, now)
    )
}
