//! The measuring instruments of the supervisor's watchfulness: is a worker
//! answering ([`health`]), and how much memory and CPU does its process tree
//! use ([`usage`]).
//!
//! Both only measure and report; what a failed probe or a sample over the
//! limit leads to (a new-first replacement after several in a row) is the
//! lifecycle's decision, not theirs. So they stay small, free of policy and
//! testable against a local server or this very test process.

pub mod health;
pub mod usage;
