//! Reading stats: threads selected, merged into one table of functions and one of edges.

use std::sync::Arc;

use crate::model::budget::{Budget, Refusal};
use crate::session::engine::SessionView;
use crate::tables::merged::MergedStats;
use crate::tables::stats::{ThreadTotals, merge_all, merge_sorted};
use crate::tables::tags::{TagId, TagTotals};

/// Which threads to read; `None` reads them all.
#[derive(Debug, Clone, Default)]
pub struct StatsFilter {
    pub threads: Option<Vec<u32>>,
}

impl StatsFilter {
    pub fn admits(&self, thread: u32) -> bool {
        self.threads.as_ref().is_none_or(|ids| ids.contains(&thread))
    }
}

/// Readers allocate outside the session budget (their memory is returned at once), but still
/// fallibly, so a reader out of memory gets an error rather than an abort.
fn reader_budget() -> Budget {
    Budget::new(usize::MAX)
}

pub fn merged(view: &SessionView<'_>, filter: &StatsFilter) -> Result<MergedStats, Refusal> {
    let budget = reader_budget();
    let mut result = MergedStats::default();
    let mut selected = Vec::new();
    for (shard, snapshot) in view.threads().filter(|(shard, _)| filter.admits(shard.id)) {
        result.totals += snapshot.totals;
        result.threads += 1;
        budget.push(&mut result.thread_ids, shard.id)?;
        budget.push(&mut selected, snapshot)?;
    }
    if let [only] = selected[..] {
        result.funcs = Arc::clone(&only.funcs);
        result.edges = Arc::clone(&only.edges);
        return Ok(result);
    }
    result.funcs = Arc::new(merge_all(&tables(selected.iter().map(|snapshot| snapshot.funcs.as_slice()), &budget)?, &budget)?);
    result.edges = Arc::new(merge_all(&tables(selected.iter().map(|snapshot| snapshot.edges.as_slice()), &budget)?, &budget)?);
    Ok(result)
}

fn tables<'s, T>(tables: impl ExactSizeIterator<Item = &'s [T]>, budget: &Budget) -> Result<Vec<&'s [T]>, Refusal> {
    let mut collected = Vec::new();
    budget.grow(&mut collected, tables.len())?;
    collected.extend(tables);
    Ok(collected)
}

/// The rows of one tag in a table sorted by (tag, key), with the tag taken off.
fn rows_of<K: Copy, V: Copy>(table: &[((TagId, K), V)], tag: TagId, budget: &Budget) -> Result<Vec<(K, V)>, Refusal> {
    let from = table.partition_point(|((t, _), _)| *t < tag);
    let to = table.partition_point(|((t, _), _)| *t <= tag);
    let rows = table.get(from..to).unwrap_or_default();
    let mut out = Vec::new();
    budget.grow(&mut out, rows.len())?;
    out.extend(rows.iter().map(|&((_, key), value)| (key, value)));
    Ok(out)
}

/// Stats of the selected threads counting only samples taken under `tag`, summed. A tag never
/// seen gives empty stats.
pub fn merged_for_tag(view: &SessionView<'_>, filter: &StatsFilter, tag: &str) -> Result<MergedStats, Refusal> {
    let budget = reader_budget();
    let mut result = MergedStats::default();
    let Some(tag) = view.session.tags.table.id(tag) else { return Ok(result) };
    let (mut funcs, mut edges) = (Vec::new(), Vec::new());
    for (_, snapshot) in view.threads().filter(|(shard, _)| filter.admits(shard.id)) {
        result.threads += 1;
        if let Ok(at) = snapshot.tags.totals.binary_search_by_key(&tag, |(t, _)| *t)
            && let Some((_, totals)) = snapshot.tags.totals.get(at)
        {
            result.totals += thread_totals_of(totals);
        }
        budget.push(&mut funcs, rows_of(&snapshot.tags.funcs, tag, &budget)?)?;
        budget.push(&mut edges, rows_of(&snapshot.tags.edges, tag, &budget)?)?;
    }
    result.funcs = Arc::new(merge_all(&tables(funcs.iter().map(Vec::as_slice), &budget)?, &budget)?);
    result.edges = Arc::new(merge_all(&tables(edges.iter().map(Vec::as_slice), &budget)?, &budget)?);
    Ok(result)
}

fn thread_totals_of(tag: &TagTotals) -> ThreadTotals {
    ThreadTotals { wall_ns: tag.wall_ns, samples: tag.samples, ..ThreadTotals::default() }
}

/// Per-tag totals of the selected threads, summed, sorted by tag id.
pub fn tag_totals(view: &SessionView<'_>, filter: &StatsFilter) -> Result<Vec<(TagId, TagTotals)>, Refusal> {
    let budget = reader_budget();
    let mut result = Vec::new();
    for (_, snapshot) in view.threads().filter(|(shard, _)| filter.admits(shard.id)) {
        result = merge_sorted(&result, &snapshot.tags.totals, &budget)?;
    }
    Ok(result)
}

/// [`merged`], with exact call counts where the session counts calls exactly (`input/exact_counts.rs`).
pub fn merged_with_counts(view: &SessionView<'_>, filter: &StatsFilter) -> Result<MergedStats, Refusal> {
    let mut stats = merged(view, filter)?;
    let threads = std::mem::take(&mut stats.thread_ids);
    view.session.coverage.apply(&mut stats, &threads, &reader_budget())?;
    stats.thread_ids = threads;
    Ok(stats)
}
