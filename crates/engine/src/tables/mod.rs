//! The session's lock-free tables: functions, call paths, tags and the stats kept against them.
//! Imports only `model/`.

pub mod append_vec;
pub mod function_table;
pub mod merged;
pub mod snapshot;
pub mod stacks;
pub mod stats;
pub mod tags;
