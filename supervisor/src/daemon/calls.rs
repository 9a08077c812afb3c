//! The daemon's side of the control socket's requests: each is carried
//! out here, where the apps are, and answered when it is done.

use tokio::sync::{broadcast, oneshot};

use super::Daemon;
use super::apply::Pending;
use crate::app::{AppCommand, AppHandle, Verb};
use crate::control::{Call, Done, LogsQuery, Problem, Reply, Request, Streams, Target};
use crate::logs::{Chunk, Stream, Tail};

/// The answer to one call.
type Answer = oneshot::Sender<Result<Reply, Problem>>;

impl Daemon {
    /// Carries out a control request; true when it asks the supervisor to
    /// stop (the shutdown itself happens in the main loop).
    pub(super) fn call(&mut self, call: Call) -> bool {
        let Call { request, reply } = call;
        match request {
            Request::Shutdown => {
                let message = "shutting down: every worker drains, then the supervisor exits";
                done(reply, message.into());
                return true;
            }
            Request::ReopenLogs => {
                self.reopen_logs();
                done(reply, "log files reopened".into());
            }
            Request::Reload { target } => match self.reload_target(&target) {
                Ok(pending) => answer_when_done(pending, reply),
                Err(problem) => {
                    let _ = reply.send(Err(problem));
                }
            },
            Request::Stop { target } => self.verb(&target, Verb::Stop, reply),
            Request::Start { target } => self.verb(&target, Verb::Start, reply),
            Request::Restart { target } => self.verb(&target, Verb::Restart, reply),
            Request::Scale { app, instances } => {
                if instances == 0 {
                    let _ = reply.send(Err(Problem::usage(
                        "scale to 0 runs nothing: use `corral stop` to stop an app",
                    )));
                } else {
                    self.verb(&Target::App(app), Verb::Scale(instances as usize), reply);
                }
            }
            Request::Describe { app } => match self.app(&app) {
                Ok(handle) => {
                    let (tx, description) = oneshot::channel();
                    handle.send(AppCommand::Describe(tx));
                    tokio::spawn(async move {
                        let answer = description
                            .await
                            .map(|d| Reply::json(&d))
                            .map_err(|_| Problem::failed(format!("{app} stopped meanwhile")));
                        let _ = reply.send(answer);
                    });
                }
                Err(problem) => {
                    let _ = reply.send(Err(problem));
                }
            },
            Request::Logs(query) => self.logs(query, reply),
            // Answered from the published state before it reaches here.
            Request::Status => {
                let _ = reply.send(Err(Problem::failed("status is not served by the daemon")));
            }
        }
        false
    }

    /// SIGUSR1 and `corral reopen-logs`.
    pub(super) fn reopen_logs(&self) {
        tracing::info!("reopening log files");
        crate::telemetry::reopen_file();
        self.apps
            .values()
            .for_each(|app| app.send(AppCommand::ReopenLogs));
    }

    /// The running app called `name`, or a usage problem naming the apps.
    fn app(&self, name: &str) -> Result<&AppHandle, Problem> {
        self.apps.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.apps.keys().map(String::as_str).collect();
            Problem::usage(format!(
                "no app `{name}` is running (apps: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    /// The names `target` means.
    fn names(&self, target: &Target) -> Result<Vec<String>, Problem> {
        match target {
            Target::All => Ok(self.apps.keys().cloned().collect()),
            Target::App(name) => self.app(name).map(|_| vec![name.clone()]),
        }
    }

    fn verb(&self, target: &Target, verb: Verb, reply: Answer) {
        let names = match self.names(target) {
            Ok(names) => names,
            Err(problem) => {
                let _ = reply.send(Err(problem));
                return;
            }
        };
        let mut pending = Pending::new();
        for name in names {
            let (done, outcome) = oneshot::channel();
            self.apps[&name].send(AppCommand::Verb { verb, done });
            pending.push((name, outcome));
        }
        answer_when_done(pending, reply);
    }

    /// `corral logs`: each app's history, then (following) what its writer
    /// writes, as one text stream; lines carry `<app> <stream> | ` unless
    /// one app and one stream were asked for.
    fn logs(&self, query: LogsQuery, reply: Answer) {
        let names = match &query.app {
            Some(name) => self.names(&Target::App(name.clone())),
            None => self.names(&Target::All),
        };
        let names = match names {
            Ok(names) => names,
            Err(problem) => {
                let _ = reply.send(Err(problem));
                return;
            }
        };
        let streams = match query.streams {
            Streams::Both => (true, true),
            Streams::Out => (true, false),
            Streams::Err => (false, true),
        };
        let prefixed = names.len() > 1 || query.streams == Streams::Both;
        let mut tails = Vec::new();
        for name in names {
            let (tx, tail) = oneshot::channel();
            self.apps[&name].send(AppCommand::Tail {
                lines: query.lines,
                streams,
                follow: query.follow,
                reply: tx,
            });
            tails.push((name, tail));
        }
        let (lines, text) = tokio::sync::mpsc::channel(64);
        let _ = reply.send(Ok(Reply::Stream(text)));
        tokio::spawn(stream_logs(tails, prefixed, lines));
    }
}

fn done(reply: Answer, message: String) {
    let _ = reply.send(Ok(Reply::json(&Done { message })));
}

/// Waits for every app's outcome, then answers: every sentence of
/// success, or every failure.
fn answer_when_done(pending: Pending, reply: Answer) {
    tokio::spawn(async move {
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        for (name, outcome) in pending {
            match outcome.await {
                Ok(Ok(message)) => ok.push(message),
                Ok(Err(why)) => failed.push(why),
                Err(_) => failed.push(format!("{name} stopped before it was done")),
            }
        }
        let answer = match (ok.is_empty(), failed.is_empty()) {
            (_, false) => Err(Problem::failed(failed.join("; "))),
            (true, true) => Ok(Reply::json(&Done {
                message: "nothing to do".into(),
            })),
            (false, true) => Ok(Reply::json(&Done {
                message: ok.join("; "),
            })),
        };
        let _ = reply.send(answer);
    });
}

/// Sends each app's history, then what follows, until the client goes
/// away or every app ends.
async fn stream_logs(
    tails: Vec<(String, oneshot::Receiver<Tail>)>,
    prefixed: bool,
    out: tokio::sync::mpsc::Sender<Vec<u8>>,
) {
    let mut live = Vec::new();
    for (name, tail) in tails {
        let Ok(tail) = tail.await else { continue };
        for (stream, history) in tail.history {
            if out
                .send(prefix(&name, stream, &history, prefixed))
                .await
                .is_err()
            {
                return;
            }
        }
        live.extend(tail.live.map(|rx| (name, rx)));
    }
    let (merged_tx, mut merged) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    for (name, mut rx) in live {
        let merged_tx = merged_tx.clone();
        tokio::spawn(async move {
            loop {
                let bytes = match rx.recv().await {
                    Ok(Chunk { stream, bytes }) => prefix(&name, stream, &bytes, prefixed),
                    Err(broadcast::error::RecvError::Lagged(n)) => format!(
                        "[corral: {n} chunks of {name}'s log skipped: this reader fell behind]\n"
                    )
                    .into_bytes(),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if merged_tx.send(bytes).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(merged_tx);
    while let Some(bytes) = merged.recv().await {
        if out.send(bytes).await.is_err() {
            return;
        }
    }
}

/// `lines` with `<app> <stream> | ` before each line, when asked.
fn prefix(app: &str, stream: Stream, lines: &[u8], prefixed: bool) -> Vec<u8> {
    if !prefixed {
        return lines.to_vec();
    }
    let tag = format!("{app} {} | ", stream.as_str());
    let mut out = Vec::with_capacity(lines.len() + tag.len() * 8);
    for line in lines.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(line);
    }
    out
}
