//! The records the repositories store and return.
//!
//! They carry no serde derives on purpose: what clients see is built by the
//! presentation layer from these, so a stored field (a password hash, a
//! version) can never leak into a response by accident.

mod paging;
mod posts;
mod social;
mod users;

pub use paging::*;
pub use posts::*;
pub use social::*;
pub use users::*;
