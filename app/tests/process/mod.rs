//! The real `app` binary as a process: handed a socket by fd as corral
//! does, drained by SIGTERM, sharing one SQLite file with another worker,
//! and its one-shot commands.

mod access_log;
mod commands;
mod contract;
mod drain;
mod dropped;
mod freshness;
mod http;
mod listen_fds;
mod openapi;
mod queue;
mod read_timeouts;
mod sessions;
mod sharing;
mod worker;
