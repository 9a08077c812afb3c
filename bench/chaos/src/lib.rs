//! Chaos under load, against the real `corral` running the real `app`.
//!
//! How it works: each scenario ([`scenarios`]) starts its own supervisor in
//! a temp dir ([`supervisor`]), runs two loads on the shared port with the
//! load client ([`client`]), one opening a new connection per request and
//! one on keep-alive connections, and meanwhile does harm: rolling reloads,
//! `kill -9` of a random worker every second, `kill -STOP` of a worker,
//! `kill -9` of the supervisor, a hundred reloads. Every request that does
//! not end in a 2xx is sorted by kind ([`outcome`]); failures under worker
//! kills are tied to the connections the killed workers held
//! ([`attribution`]); open files and memory are read from `/proc`
//! ([`procs`], [`fds`]); the soak fits a slope to the supervisor's memory
//! over time ([`trend`]); the database outage cuts PostgreSQL through a
//! proxy (crate `steered-proxy`) under reads and writes ([`request`]) and sums up what
//! they saw phase by phase ([`phases`]). A scenario returns its figures and a verdict per
//! property; `bench/chaos.sh` runs them at the lengths and the e2e
//! tests (`tests/supervisor/chaos.rs`) in short.

pub mod attribution;
pub mod client;
pub mod fds;
pub mod http;
pub mod outcome;
pub mod phases;
pub mod procs;
pub mod request;
pub mod scenarios;
pub mod supervisor;
pub mod trend;
