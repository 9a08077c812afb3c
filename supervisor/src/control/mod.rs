//! The control plane: how `corral <verb>` talks to a running supervisor.
//!
//! HTTP/1.1 with JSON over a Unix socket that only the supervisor's user
//! (or root) may use ([`server`]): a closed set of typed [`Request`]s, each
//! a method and a path ([`request`]), never a shell. `status` is read from
//! the state the app managers publish ([`schema`]); every other request is
//! carried out by the daemon and answered when done ([`handlers`]). The CLI
//! side finds the socket and maps answers to exit codes ([`client`]).
//! Monitoring reads the same state over HTTP on `admin_listen` ([`admin`]).

pub mod admin;
pub mod client;
pub mod describe;
pub mod handlers;
pub mod reply;
pub mod request;
pub mod schema;
pub mod server;

#[cfg(test)]
mod fuzz_tests;

pub use handlers::{Call, Handler};
pub use reply::{Done, Failure, Problem, Reply};
pub use request::{LogsQuery, Request, Streams, Target};
pub use schema::{Observed, StatusDoc, SupervisorInfo, SupervisorState};
pub use server::ControlSocket;
