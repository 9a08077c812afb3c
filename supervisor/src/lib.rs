//! corral: a language-agnostic process supervisor and cluster runner.
//!
//! # How it works
//!
//! `corral run` reads an `ecosystem.toml` ([`config`]), binds each app's
//! listening sockets once ([`sockets`]) and starts one manager task per app
//! ([`app`]). Every decision about an app's workers (start, online,
//! replace, drain, kill, restart, roll out) is made by a pure state machine
//! ([`lifecycle`]); the manager carries its actions out and feeds it what
//! happens. A worker is a process plus one task ([`worker`]), started
//! through the exec step ([`exec_step`]), which hands it the shared sockets
//! by the systemd socket-activation protocol, ties it to the supervisor's
//! life and drops privileges; [`contain`] makes sure nothing a worker forks
//! outlives the supervisor (a cgroup per worker, and a guard process that
//! kills them all if the supervisor dies). Exits are collected by one
//! reaper ([`reaper`]), readiness and heartbeats arrive over sd_notify
//! ([`notify`]), health probes and the memory and CPU of each worker's
//! process tree are measured in [`watch`]. Workers' output is captured into
//! log files ([`logs`]) in a folder that one supervisor at a time may hold
//! ([`lock`]) and that is checked before anything starts ([`log_setup`]).
//! The daemon ([`daemon`]) turns signals into shutdown, reload and log
//! reopening, and reports to systemd ([`systemd`]).

pub mod app;
pub mod cli;
pub mod config;
pub mod contain;
pub mod control;
pub mod cpus;
pub mod daemon;
pub mod exec_step;
pub mod lifecycle;
pub mod lock;
pub mod log_setup;
pub mod logs;
pub mod notify;
pub mod reaper;
pub mod sockets;
pub mod systemd;
pub mod telemetry;
pub mod unix;
pub mod watch;
pub mod worker;
