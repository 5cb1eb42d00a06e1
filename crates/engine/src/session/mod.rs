//! A session: published per-thread snapshots (`engine`), the process's scopes, windows of time,
//! and a session's stats as a self-contained value (`report`, which holds the fold's stalls).
//! Imports `model/`, `tables/`, `input/` and `fold/`.

pub mod engine;
pub mod report;
pub mod scopes;
pub mod window;
