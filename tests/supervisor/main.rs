//! End-to-end tests of the supervisor: the real `corral` binary runs the
//! test worker (and a Python worker) and the tests watch what an operator
//! and a client would see: responses, processes, log files, exit codes.
//!
//! Each test runs its own supervisor in a temp dir, on ports the kernel
//! picks, and leaves no process behind (see `helper::Corral`'s `Drop`).

mod admin;
mod background;
mod balance;
mod chaos;
mod cluster;
mod control;
mod example;
mod failed_starts;
mod health_checks;
mod helper;
mod hostile;
mod hygiene;
mod inherited;
mod log_disk;
mod log_pipeline;
mod log_rotation;
mod log_setup;
mod logs;
mod memory_limit;
mod monit;
mod multi_host;
mod orphans;
mod pinning;
mod readiness;
mod real_app;
mod recipes;
mod reload;
mod reload_edges;
mod restart;
mod shutdown;
mod systemd;
mod watchdog;
mod worker_switches;
