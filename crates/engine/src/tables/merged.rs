//! What a read returns: the stats of the selected threads summed, which exact counts then correct.

use crate::tables::function_table::FuncId;
use crate::tables::stats::{EdgeKey, StatsTable, ThreadTotals};

/// Stats of the selected threads, summed.
#[derive(Debug, Clone, Default)]
pub struct MergedStats {
    pub totals: ThreadTotals,
    pub funcs: StatsTable<FuncId>,
    pub edges: StatsTable<EdgeKey>,
    pub threads: u32,
    /// Functions whose counts are exact, sorted, with `coverage::EXACT_*` flags.
    pub exact: Vec<(FuncId, u8)>,
    /// Ids of the threads read.
    pub thread_ids: Vec<u32>,
}
