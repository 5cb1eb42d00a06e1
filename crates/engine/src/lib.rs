//! The yappi-node engine: folds V8 CPU profiles into yappi-style statistics that any thread can
//! read at any time, within a memory budget. It knows nothing of Node.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod append_vec;
pub mod budget;
pub mod clock;
pub mod collect;
pub mod coverage;
pub mod cpuprofile;
pub mod encode;
pub mod engine;
pub mod export;
pub mod faults;
pub mod fold;
pub mod function;
pub mod functions;
pub mod merged;
pub mod overhead;
pub mod profile;
pub mod query;
pub mod report;
pub mod scopes;
pub mod rendezvous;
pub mod sourcemap;
pub mod snapshot;
pub mod stacks;
pub mod stalls;
pub mod stats;
mod sync;
pub mod tags;
pub mod v8json;
pub mod window;
#[cfg(test)]
mod testing;

pub use budget::DEFAULT_MAX_MEMORY_BYTES;
pub use clock::Clock;
pub use engine::{Engine, EngineError, IngestOutcome, Owner, TextFormat, ThreadRef};
pub use fold::{FocusFrame, FoldOptions};
pub use function::{FuncKind, OwnCode};
pub use profile::{CallFrame, FlatProfile, NO_PARENT, ProfileError};
pub use sourcemap::{SourceMapError, SourceMaps};
