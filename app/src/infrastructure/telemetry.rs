//! The tracing subscriber: one line per event on stdout, JSON or text.
//!
//! The supervisor captures stdout, stamps each line and writes it to the
//! app's log file, so the worker writes plain lines and never rotates
//! anything itself. Each event carries the fields of the span it happened
//! in: the presentation layer opens one span per request with its request
//! id, so the request's log line, and anything logged while serving it,
//! can be joined with the `X-Request-Id` a client saw.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use super::settings::LogFormat;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// The server: stdout, captured by the supervisor as the app's out log.
    Stdout,
    /// One-shot commands (`seed`, `user promote`): stderr, so their stdout
    /// holds only what they print for the operator.
    Stderr,
}

/// Installs the global subscriber. `filter` was validated by the settings;
/// should it fail here anyway, `info` is used rather than no logs at all.
/// A second call (tests that run several commands) keeps the first one.
pub fn init(format: LogFormat, filter: &str, sink: Sink) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(SinkWriter(sink));
    let _already_set = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}

/// Chooses stdout or stderr per line (`MakeWriter` wants one type).
#[derive(Debug, Clone, Copy)]
struct SinkWriter(Sink);

impl<'a> MakeWriter<'a> for SinkWriter {
    type Writer = Box<dyn Write + 'a>;

    fn make_writer(&'a self) -> Self::Writer {
        match self.0 {
            Sink::Stdout => Box::new(std::io::stdout().lock()),
            Sink::Stderr => Box::new(std::io::stderr().lock()),
        }
    }
}
