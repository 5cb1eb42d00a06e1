//! What one thread has accumulated, as readers see it: the stats tables of every kind (functions,
//! edges, call paths, tags), above the modules that define each.

use std::sync::Arc;

use crate::tables::function_table::FuncId;
use crate::tables::stacks::StackId;
use crate::tables::stats::{CallStats, EdgeKey, StatsTable, ThreadTotals};
use crate::tables::tags::TagStats;

/// What one thread has accumulated, immutable once published.
#[derive(Debug, Clone, Default)]
pub struct ThreadSnapshot {
    pub totals: ThreadTotals,
    pub funcs: Arc<StatsTable<FuncId>>,
    pub edges: Arc<StatsTable<EdgeKey>>,
    /// Per call path: the stacks that flame graphs and sample-based formats are drawn from.
    pub stacks: Arc<StatsTable<StackId>>,
    /// Per-tag stats (empty unless the thread recorded tags); budgeted apart, see `tags.rs`.
    pub tags: Arc<TagStats>,
}

impl ThreadSnapshot {
    /// Bytes of the function and edge tables (the tags' are counted by `TagStats::heap_bytes`).
    pub fn heap_bytes(&self) -> usize {
        self.funcs.capacity() * size_of::<(FuncId, CallStats)>()
            + self.edges.capacity() * size_of::<(EdgeKey, CallStats)>()
            + self.stacks.capacity() * size_of::<(StackId, CallStats)>()
    }
}
