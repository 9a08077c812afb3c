//! The supervisor's own log: `tracing` to stderr (journald under systemd).
//!
//! `CORRAL_LOG` filters (default `info`), `CORRAL_LOG_FORMAT=json` switches
//! to one JSON object per line with the event's fields at the top level, for
//! log shippers and for tests that wait on events.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init() {
    let filter = EnvFilter::try_from_env("CORRAL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("CORRAL_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}
