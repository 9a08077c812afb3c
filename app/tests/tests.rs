//! The app's integration tests: repositories on both backends (`data`),
//! every route through `oneshot` (`api`), and the real binary as a process
//! (`process`).

mod api;
mod data;
mod process;
