//! End-to-end tests of the supervisor (filled in below).
