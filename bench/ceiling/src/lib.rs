//! The ceiling of the benchmark suite (`bench/suite.py`): how many
//! requests a second this machine can answer at all, with the same load
//! generator, the same connections and responses of the same size as the
//! app's, when answering costs nothing.
//!
//! How it works: the suite records the app's real responses (status,
//! headers, body) for each benchmarked request into a JSON file of
//! [`routes::Route`]s; this server loads them once and answers every
//! request from memory, reading (and discarding) request bodies so that a
//! POST costs the client the same round trip. There is no routing table
//! beyond an exact path or a path prefix, no logging and no state, so the
//! gap between this server and the app is what the app's own work costs.

pub mod routes;
pub mod serve;
