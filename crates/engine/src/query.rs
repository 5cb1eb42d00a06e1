//! Reading stats: threads selected, merged into one table of functions and one of edges.

use crate::budget::{Budget, Refusal};
use crate::engine::SessionView;
use crate::functions::FuncId;
use crate::stats::{EdgeKey, StatsTable, ThreadTotals, merge_sorted};

/// Which threads to read; `None` reads them all.
#[derive(Debug, Clone, Default)]
pub struct StatsFilter {
    pub threads: Option<Vec<u32>>,
}

impl StatsFilter {
    fn admits(&self, thread: u32) -> bool {
        self.threads.as_ref().is_none_or(|ids| ids.contains(&thread))
    }
}

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

/// Readers allocate outside the session budget (their memory is returned at once), but still
/// fallibly, so a reader out of memory gets an error rather than an abort.
fn reader_budget() -> Budget {
    Budget::new(usize::MAX)
}

pub fn merged(view: &SessionView<'_>, filter: &StatsFilter) -> Result<MergedStats, Refusal> {
    let budget = reader_budget();
    let mut result = MergedStats::default();
    for (shard, snapshot) in view.threads().filter(|(shard, _)| filter.admits(shard.id)) {
        result.totals += snapshot.totals;
        result.threads += 1;
        budget.push(&mut result.thread_ids, shard.id)?;
        result.funcs = merge_sorted(&result.funcs, &snapshot.funcs, &budget)?;
        result.edges = merge_sorted(&result.edges, &snapshot.edges, &budget)?;
    }
    Ok(result)
}

/// [`merged`], with exact call counts where the session counts calls exactly (`coverage.rs`).
pub fn merged_with_counts(view: &SessionView<'_>, filter: &StatsFilter) -> Result<MergedStats, Refusal> {
    let mut stats = merged(view, filter)?;
    let threads = std::mem::take(&mut stats.thread_ids);
    view.session.coverage.apply(&mut stats, &threads, &reader_budget())?;
    stats.thread_ids = threads;
    Ok(stats)
}
