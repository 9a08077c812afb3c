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
mod slow_statements;
mod worker;

/// Runs `check` against a fresh PostgreSQL schema, given its URL, or says
/// it skipped without `TEST_DATABASE_URL`; the schema is dropped even
/// when the check fails.
fn on_postgres(check: impl FnOnce(&str) + std::panic::UnwindSafe) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(schema) = runtime.block_on(crate::data::harness::PgSchema::create()) else {
        return;
    };
    let url = schema.url();
    let outcome = std::panic::catch_unwind(|| check(&url));
    runtime.block_on(schema.drop());
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure);
    }
}
