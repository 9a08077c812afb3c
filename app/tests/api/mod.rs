//! Every route through `oneshot` against a real, migrated SQLite database
//! in a temp dir: contract, errors, authorization (OWASP), caching.

mod authz;
mod caching;
mod editing;
mod errors;
mod fuzz;
mod harness;
mod inputs;
mod lists;
mod login;
mod openapi;
mod outage;
mod posts;
mod social;
mod users;
