//! corral: a language-agnostic process supervisor and cluster runner.
//!
//! # How it works
//!
//! `corral run` reads an `ecosystem.toml` ([`config`]), binds each app's
//! listening sockets once ([`sockets`]) and starts one manager task per app
//! ([`app`]). A manager keeps the configured number of workers running,
//! each a process plus one task ([`worker`]). Workers are started through
//! the exec step ([`exec_step`]), which hands them the shared sockets by the
//! systemd socket-activation protocol, ties them to the supervisor's life and
//! drops privileges; [`contain`] makes sure nothing a worker forks outlives
//! the supervisor (a cgroup per worker, and a guard process that kills
//! them all if the supervisor dies). Exits are collected by one reaper
//! ([`reaper`]) and readiness arrives over sd_notify ([`notify`]); the
//! restart decision is a pure policy ([`policy`]). Workers' output is captured into log files
//! ([`logs`]). The daemon ([`daemon`]) turns signals into shutdown, reload
//! and log reopening, and reports to systemd ([`systemd`]).

pub mod app;
pub mod cli;
pub mod config;
pub mod contain;
pub mod daemon;
pub mod exec_step;
pub mod logs;
pub mod notify;
pub mod policy;
pub mod reaper;
pub mod sockets;
pub mod systemd;
pub mod telemetry;
pub mod unix;
pub mod worker;
