//! The workers' program: a layered JSON publishing API (users, auth, posts,
//! tags, comments, follows, notifications) over SQLite or PostgreSQL.
//!
//! # How it works
//!
//! Four layers, each depending only on the ones below it:
//! [`presentation`] (routes, extractors, middleware, problem+json errors),
//! [`business`] (services, domain rules, events), [`data`] (repository
//! traits with a SQLite and a PostgreSQL implementation, migrations) and
//! [`infrastructure`] (settings, pools, cache, telemetry, the listener and
//! the process contract with the supervisor).
pub mod business;
pub mod cli;
pub mod compose;
pub mod data;
pub mod infrastructure;
pub mod presentation;
