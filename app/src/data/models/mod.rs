//! The records the repositories store and return.
//!
//! What clients see is built by the presentation layer from these, never
//! serialised from them. The records without a secret derive serde for
//! one purpose only, the SQLite writer host's wire between the processes
//! of one build (`sqlite/wire.rs`); those holding a password or token hash
//! (`User`, `NewUser`, `NewSession`) derive none, so they cannot end up in
//! a response by accident.

mod paging;
mod posts;
mod social;
mod users;

pub use paging::*;
pub use posts::*;
pub use social::*;
pub use users::*;
