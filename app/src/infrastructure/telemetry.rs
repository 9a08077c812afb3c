//! Logging: tracing events and the access log, one line each on stdout,
//! JSON or text.
//!
//! The supervisor captures stdout, stamps each line and writes it to the
//! app's log file, so the worker writes plain lines and never rotates
//! anything itself. Each tracing event logged while serving a request
//! carries that request's fields (module [`request`]: its id, method,
//! route and path), so it can be joined with the `X-Request-Id` a client
//! saw.
//!
//! The server's lines go through [`writer::LineWriter`]: appended to a
//! buffer that a thread of its own writes in batches, so a request never
//! waits on the pipe. The access log (one line per request, module
//! [`access`]) is formatted straight into that buffer rather than through
//! tracing's formatter; it is on unless `APP_ACCESS_LOG=off` or the
//! `APP_LOG` filter leaves out `app::access` at `info`. One-shot commands
//! log to stderr directly.

pub mod access;
pub mod request;
pub mod writer;

use std::io::Write;
use std::sync::OnceLock;
use std::time::SystemTime;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use super::settings::LogFormat;
use access::Access;
use request::WithRequest;
use writer::LineWriter;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// The server: stdout through the batching writer, captured by the
    /// supervisor as the app's out log.
    Stdout,
    /// One-shot commands (`seed`, `user promote`): stderr, so their stdout
    /// holds only what they print for the operator.
    Stderr,
}

/// The access log, once [`init`] turned it on.
static ACCESS_LOG: OnceLock<AccessLog> = OnceLock::new();

/// Where access lines go and in what form.
#[derive(Debug)]
pub struct AccessLog {
    writer: &'static LineWriter,
    format: LogFormat,
}

impl AccessLog {
    /// Logs one request: formats its line into the writer's buffer; never
    /// waits for I/O.
    pub fn log(&self, access: &Access<'_>) {
        let now = SystemTime::now();
        self.writer
            .push_with(|out| access::format_line(out, self.format, now, access));
    }
}

/// The access log, if it is on in this process.
#[inline]
pub fn access_log() -> Option<&'static AccessLog> {
    ACCESS_LOG.get()
}

/// Flushes the server's buffered lines when dropped: keep it alive until
/// the process is about to exit (`main` holds it), so a normal stop loses
/// no line.
#[derive(Debug)]
#[must_use = "dropping the guard flushes and stops the log writer"]
pub struct Flush(Option<&'static LineWriter>);

impl Drop for Flush {
    fn drop(&mut self) {
        if let Some(writer) = self.0 {
            writer.close();
        }
    }
}

/// Installs the global subscriber and, for the server with `access_log`
/// on, the access log. `filter` was validated by the settings; should it
/// fail here anyway, `info` is used rather than no logs at all. A second
/// call (tests that run several commands) keeps the first subscriber.
pub fn init(format: LogFormat, filter: &str, sink: Sink, access_log: bool) -> Flush {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = match sink {
        Sink::Stdout => match LineWriter::start() {
            Ok(writer) => Some(writer),
            Err(error) => {
                eprintln!("app: cannot start the log writer thread ({error}); logging directly");
                None
            }
        },
        Sink::Stderr => None,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(SinkWriter { sink, writer });
    let _already_set = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .map_event_format(|inner| WithRequest::new(inner, format))
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(false)
            .map_event_format(|inner| WithRequest::new(inner, format))
            .try_init(),
    };
    let filtered_in = tracing::enabled!(target: "app::access", tracing::Level::INFO);
    if let Some(writer) = writer.filter(|_| access_log && filtered_in) {
        let _ = ACCESS_LOG.set(AccessLog { writer, format });
    }
    Flush(writer)
}

/// Chooses the line writer (or stdout, or stderr) per line (`MakeWriter`
/// wants one type).
#[derive(Debug, Clone, Copy)]
struct SinkWriter {
    sink: Sink,
    writer: Option<&'static LineWriter>,
}

impl<'a> MakeWriter<'a> for SinkWriter {
    type Writer = Box<dyn Write + 'a>;

    fn make_writer(&'a self) -> Self::Writer {
        match (self.sink, self.writer) {
            (Sink::Stdout, Some(writer)) => Box::new(Buffered(writer)),
            (Sink::Stdout, None) => Box::new(std::io::stdout().lock()),
            (Sink::Stderr, _) => Box::new(std::io::stderr().lock()),
        }
    }
}

/// One tracing event into the line writer: tracing's formatter hands over
/// a whole line per `write` call.
struct Buffered(&'static LineWriter);

impl Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
