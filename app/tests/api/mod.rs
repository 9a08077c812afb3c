//! Every route through `oneshot` against a real, migrated SQLite database
//! in a temp dir: contract, errors, authorization (OWASP), caching.

mod authz;
mod errors;
mod harness;
mod lists;
mod outage;
mod posts;
mod social;
mod users;
