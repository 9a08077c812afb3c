//! Tests of the lifecycle: a fake world that spawns, signals and reaps
//! nothing but records what the machine asked for, scenarios that read as
//! an operator's story, and properties over random event sequences.

mod harness;
mod properties;
mod replacement;
mod rollouts;
mod starts;
mod verbs;
