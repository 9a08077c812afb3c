//! Every route through `oneshot` against a real, migrated SQLite database
//! in a temp dir: contract, errors, authorization (OWASP), caching.

mod authz;
mod caching;
mod editing;
mod errors;
mod faults;
mod fuzz;
mod harness;
mod inputs;
mod lists;
mod login;
mod openapi;
mod outage;
mod ownership;
mod posts;
mod redis_faults;
mod social;
mod sqlite_lock;
mod users;
