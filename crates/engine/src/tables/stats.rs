//! Aggregated statistics: per function, per caller→callee edge, per thread.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

use crate::model::budget::{Budget, Refusal};
use crate::tables::function_table::FuncId;

/// yappi's numbers for a function or an edge. Times are nanoseconds of the session's clock.
/// Saved files (`report.rs`) hold them as they are, under these names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallStats {
    /// Calls (sample-based: entries seen between consecutive samples), recursive ones included.
    pub ncall: u64,
    /// Calls that were not recursive (the outermost activation).
    pub nactual: u64,
    /// Inclusive time, recursion counted once.
    pub ttot_ns: u64,
    /// Self time.
    pub tsub_ns: u64,
    /// Samples with this function on top of the stack.
    pub samples: u64,
    /// Samples with this function anywhere on the stack.
    pub samples_total: u64,
}

/// Saturating: times from a profile that claims impossible gaps must not wrap around.
impl AddAssign for CallStats {
    fn add_assign(&mut self, other: CallStats) {
        self.ncall = self.ncall.saturating_add(other.ncall);
        self.nactual = self.nactual.saturating_add(other.nactual);
        self.ttot_ns = self.ttot_ns.saturating_add(other.ttot_ns);
        self.tsub_ns = self.tsub_ns.saturating_add(other.tsub_ns);
        self.samples = self.samples.saturating_add(other.samples);
        self.samples_total = self.samples_total.saturating_add(other.samples_total);
    }
}

impl CallStats {
    /// What `self` counts beyond `earlier` (a former value of the same growing sums).
    pub fn since(self, earlier: CallStats) -> CallStats {
        CallStats {
            ncall: self.ncall.saturating_sub(earlier.ncall),
            nactual: self.nactual.saturating_sub(earlier.nactual),
            ttot_ns: self.ttot_ns.saturating_sub(earlier.ttot_ns),
            tsub_ns: self.tsub_ns.saturating_sub(earlier.tsub_ns),
            samples: self.samples.saturating_sub(earlier.samples),
            samples_total: self.samples_total.saturating_sub(earlier.samples_total),
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == CallStats::default()
    }
}

/// A call edge: (caller, callee).
pub type EdgeKey = (FuncId, FuncId);

/// Totals of one thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThreadTotals {
    /// Wall time covered by the thread's profiles.
    pub wall_ns: u64,
    /// CPU time of the thread over its profiles (busy samples scaled to its CPU clock).
    pub cpu_ns: u64,
    /// The part of `cpu_ns` that is busy wall time standing in for an unmeasured CPU clock.
    pub cpu_estimated_ns: u64,
    pub samples: u64,
    /// Wall time the thread spent waiting in its event loop.
    pub idle_ns: u64,
    pub idle_samples: u64,
    /// Profiles folded (one per rotation).
    pub profiles: u64,
    /// Samples whose data was dropped for want of memory.
    pub dropped_samples: u64,
    /// Time on the session's clock the thread spent in the profiler's own code: rotations V8
    /// runs for us, reads the application asked for. Cut out of every function's stats.
    pub profiler_ns: u64,
    /// Samples taken in the profiler's own code (not counted in `samples`).
    pub profiler_samples: u64,
    /// The longest wall time one sample stood for: where the sampler was held up (a busy
    /// machine), time on either side of a change of function is misplaced by up to this much.
    pub max_gap_ns: u64,
}

impl AddAssign for ThreadTotals {
    fn add_assign(&mut self, other: ThreadTotals) {
        self.wall_ns = self.wall_ns.saturating_add(other.wall_ns);
        self.cpu_ns = self.cpu_ns.saturating_add(other.cpu_ns);
        self.cpu_estimated_ns = self.cpu_estimated_ns.saturating_add(other.cpu_estimated_ns);
        self.samples = self.samples.saturating_add(other.samples);
        self.idle_ns = self.idle_ns.saturating_add(other.idle_ns);
        self.idle_samples = self.idle_samples.saturating_add(other.idle_samples);
        self.profiles = self.profiles.saturating_add(other.profiles);
        self.dropped_samples = self.dropped_samples.saturating_add(other.dropped_samples);
        self.profiler_ns = self.profiler_ns.saturating_add(other.profiler_ns);
        self.profiler_samples = self.profiler_samples.saturating_add(other.profiler_samples);
        self.max_gap_ns = self.max_gap_ns.max(other.max_gap_ns);
    }
}

impl ThreadTotals {
    /// What `self` counts beyond `earlier` (a former value of the same growing sums).
    pub fn since(self, earlier: ThreadTotals) -> ThreadTotals {
        ThreadTotals {
            wall_ns: self.wall_ns.saturating_sub(earlier.wall_ns),
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
            cpu_estimated_ns: self.cpu_estimated_ns.saturating_sub(earlier.cpu_estimated_ns),
            samples: self.samples.saturating_sub(earlier.samples),
            idle_ns: self.idle_ns.saturating_sub(earlier.idle_ns),
            idle_samples: self.idle_samples.saturating_sub(earlier.idle_samples),
            profiles: self.profiles.saturating_sub(earlier.profiles),
            dropped_samples: self.dropped_samples.saturating_sub(earlier.dropped_samples),
            profiler_ns: self.profiler_ns.saturating_sub(earlier.profiler_ns),
            profiler_samples: self.profiler_samples.saturating_sub(earlier.profiler_samples),
            // A maximum does not subtract: the session's longest gap bounds the window's.
            max_gap_ns: self.max_gap_ns,
        }
    }
}

/// Sorted by key, so two tables merge in one pass.
pub type StatsTable<K> = Vec<(K, CallStats)>;

/// Sorts rows by key and sums the stats of equal keys, in place.
pub fn sort_and_sum<K: Ord + Copy>(rows: &mut StatsTable<K>) {
    rows.sort_unstable_by_key(|(key, _)| *key);
    rows.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 += later.1;
        }
        same
    });
}

/// Merges two sorted tables into a new sorted one, adding the values of equal keys.
pub fn merge_sorted<K: Ord + Copy, V: Copy + AddAssign>(
    left: &[(K, V)],
    right: &[(K, V)],
    budget: &Budget,
) -> Result<Vec<(K, V)>, Refusal> {
    let mut merged = Vec::new();
    budget.grow(&mut merged, left.len() + right.len())?;
    let (mut i, mut j) = (0, 0);
    while let (Some(&(lk, ls)), Some(&(rk, rs))) = (left.get(i), right.get(j)) {
        if lk < rk {
            merged.push((lk, ls));
            i += 1;
        } else if rk < lk {
            merged.push((rk, rs));
            j += 1;
        } else {
            let mut sum = ls;
            sum += rs;
            merged.push((lk, sum));
            i += 1;
            j += 1;
        }
    }
    merged.extend_from_slice(left.get(i..).unwrap_or_default());
    merged.extend_from_slice(right.get(j..).unwrap_or_default());
    Ok(merged)
}

/// Merges sorted tables into one new sorted table, adding the values of equal keys. One
/// allocation for them all: merging them two at a time would copy the first tables again for
/// each later one, and a read's cost is mostly fresh memory.
pub fn merge_all<K: Ord + Copy, V: Copy + AddAssign>(tables: &[&[(K, V)]], budget: &Budget) -> Result<Vec<(K, V)>, Refusal> {
    let mut rest: Vec<&[(K, V)]> = Vec::new();
    rest.try_reserve_exact(tables.len())?;
    rest.extend(tables.iter().filter(|table| !table.is_empty()));
    // One or two tables (a single-threaded application) merge faster in one sequential pass.
    if let [one] | [one, _] = rest[..] {
        return merge_sorted(one, rest.get(1).copied().unwrap_or_default(), budget);
    }
    let mut merged = Vec::new();
    budget.grow(&mut merged, rest.iter().map(|table| table.len()).sum())?;
    let mut heads = BinaryHeap::new();
    heads.try_reserve_exact(rest.len())?;
    heads.extend(rest.iter().enumerate().filter_map(|(at, table)| table.first().map(|&(key, _)| Reverse((key, at)))));
    while let Some(Reverse((key, at))) = heads.pop() {
        let Some(table) = rest.get_mut(at) else { continue };
        let Some((&(_, value), after)) = table.split_first() else { continue };
        *table = after;
        if let Some(&(next, _)) = after.first() {
            heads.push(Reverse((next, at)));
        }
        match merged.last_mut() {
            Some((last, sum)) if *last == key => *sum += value,
            _ => merged.push((key, value)),
        }
    }
    Ok(merged)
}

/// The rows of `later` less those of `earlier` (the same sorted table at an earlier time),
/// without the rows that did not change.
pub fn subtract_sorted<K: Ord + Copy>(later: &[(K, CallStats)], earlier: &[(K, CallStats)], budget: &Budget) -> Result<StatsTable<K>, Refusal> {
    let mut difference = Vec::new();
    budget.grow(&mut difference, later.len())?;
    let mut before = earlier.iter().peekable();
    for &(key, stats) in later {
        while before.next_if(|(k, _)| *k < key).is_some() {}
        let was = before.next_if(|(k, _)| *k == key).map_or(CallStats::default(), |&(_, s)| s);
        let added = stats.since(was);
        if !added.is_zero() {
            difference.push((key, added));
        }
    }
    Ok(difference)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(ncall: u64) -> CallStats {
        CallStats { ncall, ..CallStats::default() }
    }

    #[test]
    fn merges_sorted_tables() {
        let budget = Budget::new(usize::MAX);
        let left = vec![(1u32, stats(1)), (3, stats(3)), (5, stats(5))];
        let right = vec![(2u32, stats(20)), (3, stats(30)), (9, stats(90))];
        let merged = merge_sorted(&left, &right, &budget).unwrap();
        let calls: Vec<_> = merged.iter().map(|(k, s)| (*k, s.ncall)).collect();
        assert_eq!(calls, vec![(1, 1), (2, 20), (3, 33), (5, 5), (9, 90)]);
    }

    #[test]
    fn merges_many_tables_as_pairwise_merges_would() {
        let budget = Budget::new(usize::MAX);
        let tables: Vec<Vec<(u32, CallStats)>> = (0..7u64)
            .map(|t| (0..40u32).filter(|k| (u64::from(*k) * 7 + t) % (t + 2) != 0).map(|k| (k, stats(u64::from(k) * 100 + t))).collect())
            .collect();
        let mut pairwise = Vec::new();
        for table in &tables {
            pairwise = merge_sorted(&pairwise, table, &budget).unwrap();
        }
        let slices: Vec<&[(u32, CallStats)]> = tables.iter().map(Vec::as_slice).collect();
        assert_eq!(merge_all(&slices, &budget).unwrap(), pairwise);
        assert_eq!(merge_all(&slices[..1], &budget).unwrap(), tables[0]);
        assert!(merge_all::<u32, CallStats>(&[], &budget).unwrap().is_empty());
        assert!(merge_all::<u32, CallStats>(&[&[], &[]], &budget).unwrap().is_empty());
    }

    #[test]
    fn subtracts_an_earlier_table_and_drops_unchanged_rows() {
        let budget = Budget::new(usize::MAX);
        let earlier = vec![(1u32, stats(1)), (3, stats(3)), (4, stats(4)), (5, stats(5))];
        let later = vec![(1u32, stats(1)), (2, stats(20)), (3, stats(30)), (5, stats(8))];
        let difference = subtract_sorted(&later, &earlier, &budget).unwrap();
        let calls: Vec<_> = difference.iter().map(|(k, s)| (*k, s.ncall)).collect();
        assert_eq!(calls, vec![(2, 20), (3, 27), (5, 3)]);
    }
}
