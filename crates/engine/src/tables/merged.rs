//! What a read returns: the stats of the selected threads summed, which exact counts then correct.

use std::sync::Arc;

use crate::tables::function_table::FuncId;
use crate::tables::stats::{EdgeKey, StatsTable, ThreadTotals};

/// Stats of the selected threads, summed. The tables of a single thread are its snapshot's,
/// shared rather than copied: a read's cost is mostly the fresh memory it writes.
#[derive(Debug, Clone, Default)]
pub struct MergedStats {
    pub totals: ThreadTotals,
    pub funcs: Arc<StatsTable<FuncId>>,
    pub edges: Arc<StatsTable<EdgeKey>>,
    pub threads: u32,
    /// Functions whose counts are exact, sorted, with `coverage::EXACT_*` flags.
    pub exact: Vec<(FuncId, u8)>,
    /// Ids of the threads read.
    pub thread_ids: Vec<u32>,
}
