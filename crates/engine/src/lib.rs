//! The yappi-node engine: folds V8 CPU profiles into yappi-style statistics that any thread can
//! read at any time, within a memory budget. It knows nothing of Node.
//!
//! One private module per layer, in the order data flows, each importing only those before it:
//! `model` (budget, clocks, the flat profile, source maps, frames), `tables` (lock-free function,
//! path, tag and stats tables), `input` (V8's JSON, `.cpuprofile`, exact counts), `fold` (with
//! stall detection), `session` (publishing, scopes, windows, reports), `read` (queries, the wire
//! layout), `export`; `host` (overhead, faults, the mailbox) imports only `model`, and `read`
//! writes its cost codes. What the binding and the integration tests use is re-exported below.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod model;
mod tables;
mod input;
mod fold;
mod session;
mod read;
pub mod export;
mod host;
#[cfg(test)]
mod testing;

// These stay namespaces: their functions read well only qualified (`cpuprofile::parse`,
// `v8json::parse_serialized`, `encode::read_func_stats`).
pub use input::{cpuprofile, v8json};
pub use model::sourcemap;
pub use read::encode;

pub use fold::stalls::StallFilter;
pub use fold::{FocusFrame, FoldOptions};
pub use host::faults::FaultLog;
pub use host::mailbox::{FoldProgress, Mailbox};
pub use host::overhead::{COSTS, Cost, OverheadLedger};
pub use input::cpuprofile::FlatParts;
pub use input::exact_counts::{CountsMismatch, Coverage, Naming};
pub use model::budget::{Budget, Refusal};
pub use model::clock::{Clock, UnknownClock, thread_cpu_time_ns};
pub use model::flat_profile::{CallFrame, FlatProfile, NO_PARENT, ProfileError};
pub use model::frame::OwnCode;
pub use model::sourcemap::SourceMaps;
pub use read::query::{StatsFilter, merged_for_tag, merged_with_counts, tag_totals};
pub use session::engine::{Engine, EngineError, IngestOutcome, Owner, TextFormat, ThreadRef};
pub use session::report::ReportError;
pub use session::scopes::{ScopeError, Scopes};
pub use session::window::Mark;
pub use tables::function_table::FunctionTable;
