//! The admin listener: read-only monitoring over HTTP on `admin_listen`.
//!
//! Three endpoints, each answered from one snapshot of the status document
//! taken when the request arrives ([`routes`]): `/health` tells a load
//! balancer or an uptime check whether this host should get traffic
//! ([`health`]), `/metrics` is the fleet in the Prometheus text format
//! ([`metrics`], with the supervisor's own readings from /proc in
//! [`host`]), and `/status` is the document itself, as `corral status
//! --json` prints it. No request changes anything, so unlike the control
//! socket there is no peer check: whoever reaches the address may read it,
//! and the operator chooses the address (loopback, or a private network).
//!
//! `corral run` binds the address before anything starts, so a taken port
//! refuses the config like a bad `listen`; a reload that changes
//! `admin_listen` binds the new address first, or is refused, and then
//! closes the old one ([`server`]).

mod health;
mod host;
mod metrics;
mod routes;
mod server;
#[cfg(test)]
mod tests;

pub use server::{AdminListener, AdminServer, BindError, Switch};
