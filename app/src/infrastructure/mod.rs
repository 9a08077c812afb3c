//! The infrastructure layer: settings, cache, telemetry, and the process
//! contract with the supervisor (inherited sockets, the graceful drain,
//! sd_notify readiness and watchdog).

pub mod cache;
pub mod listener;
pub mod malloc;
pub mod metrics;
pub mod notify;
pub mod redact;
pub mod server;
pub mod settings;
pub mod telemetry;
