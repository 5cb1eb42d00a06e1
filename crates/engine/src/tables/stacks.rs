//! The session's call-path table: each distinct stack, root first, interned once as a node
//! (its caller's node, its function). Exports that need whole stacks (flame graphs, pprof,
//! .cpuprofile, speedscope) read paths from it; per-function stats never need it.
//!
//! Like the function table it is shared by every thread and read without locks; a path costs
//! one node per distinct (caller path, function), so memory grows with the call tree's shape,
//! not with time.

use std::hash::BuildHasher;
use std::sync::Mutex;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::model::budget::{Budget, Refusal};
use crate::model::sync::lock;
use crate::tables::append_vec::AppendVec;
use crate::tables::function_table::FuncId;
use crate::tables::stats::{CallStats, StatsTable, sort_and_sum};

/// Index of a call path in its session's table.
pub type StackId = u32;

/// The empty path, under which every thread's outermost frames hang.
pub const ROOT_STACK: StackId = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StackNode {
    pub parent: StackId,
    pub func: FuncId,
}

/// One node of a folded profile's call tree: `parent` is the index of its caller's node plus
/// one (0 for an outermost frame), as `fold` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathStat {
    pub parent: u32,
    pub func: FuncId,
    pub stats: CallStats,
}

pub struct StackTable {
    nodes: AppendVec<StackNode>,
    index: Mutex<HashTable<StackId>>,
    hasher: DefaultHashBuilder,
}

impl Default for StackTable {
    fn default() -> Self {
        let table = StackTable { nodes: AppendVec::default(), index: Mutex::default(), hasher: DefaultHashBuilder::default() };
        // The root owns no function; an unlimited budget for one node cannot refuse.
        let _ = table.nodes.push(StackNode { parent: ROOT_STACK, func: FuncId::MAX }, &Budget::new(usize::MAX));
        table
    }
}

impl StackTable {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    pub fn get(&self, id: StackId) -> Option<StackNode> {
        self.nodes.get(id as usize).copied()
    }

    /// The path of `id` from its outermost frame to `id`'s own function.
    pub fn path(&self, mut id: StackId, out: &mut Vec<FuncId>) {
        out.clear();
        while id != ROOT_STACK {
            let Some(node) = self.get(id) else { break };
            out.push(node.func);
            id = node.parent;
        }
        out.reverse();
    }

    fn intern_locked(&self, index: &mut HashTable<StackId>, node: StackNode, budget: &Budget) -> Result<StackId, Refusal> {
        let hash = self.hasher.hash_one(node);
        let nodes = &self.nodes;
        if let Some(&id) = index.find(hash, |&id| nodes.get(id as usize) == Some(&node)) {
            return Ok(id);
        }
        if index.len() == index.capacity() {
            let growth = index.capacity().max(64);
            budget.charge(growth * (size_of::<StackId>() + 1))?;
            let rehash = |&id: &StackId| nodes.get(id as usize).map_or(0, |n| self.hasher.hash_one(n));
            index.try_reserve(growth, rehash).map_err(|_| Refusal::AllocFailed)?;
        }
        let id = StackId::try_from(nodes.push(node, budget)?).map_err(|_| Refusal::OverBudget)?;
        let rehash = |&id: &StackId| nodes.get(id as usize).map_or(0, |n| self.hasher.hash_one(n));
        index.insert_unique(hash, id, rehash);
        Ok(id)
    }
}

/// The stats of a profile's paths keyed by the session's stack ids, sorted. A path the budget
/// cannot intern is cut at its deepest interned caller, which takes its self time: stacks get
/// shorter, time is never lost.
pub fn intern_paths(table: &StackTable, paths: &[PathStat], budget: &Budget) -> Result<StatsTable<StackId>, Refusal> {
    let mut ids: Vec<(StackId, bool)> = Vec::new();
    budget.grow(&mut ids, paths.len() + 1)?;
    ids.push((ROOT_STACK, true));
    let mut rows: StatsTable<StackId> = Vec::new();
    let reserved = budget.grow(&mut rows, paths.len());
    let result = reserved.map(|()| {
        let mut index = lock(&table.index);
        for path in paths {
            let (parent, parent_interned) = ids.get(path.parent as usize).copied().unwrap_or((ROOT_STACK, true));
            let interned = if parent_interned {
                table.intern_locked(&mut index, StackNode { parent, func: path.func }, budget).ok()
            } else {
                None
            };
            match interned {
                Some(id) => {
                    ids.push((id, true));
                    rows.push((id, path.stats));
                }
                None => {
                    ids.push((parent, false));
                    let self_only = CallStats { tsub_ns: path.stats.tsub_ns, samples: path.stats.samples, ..CallStats::default() };
                    rows.push((parent, self_only));
                }
            }
        }
        drop(index);
        rows.retain(|(id, _)| *id != ROOT_STACK);
        sort_and_sum(&mut rows);
        rows
    });
    budget.forget(&ids);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intern(table: &StackTable, parent: StackId, func: FuncId, budget: &Budget) -> Result<StackId, Refusal> {
        let mut index = table.index.lock().unwrap();
        table.intern_locked(&mut index, StackNode { parent, func }, budget)
    }

    fn path(parent: u32, func: FuncId, tsub_ns: u64) -> PathStat {
        PathStat { parent, func, stats: CallStats { tsub_ns, ttot_ns: tsub_ns, samples: 1, ..CallStats::default() } }
    }

    #[test]
    fn a_profile_s_paths_become_sorted_stack_rows_summing_equal_paths() {
        let budget = Budget::new(usize::MAX);
        let table = StackTable::default();
        // main → a, main → a again (another V8 node of the same function), main → b.
        let paths = [path(0, 1, 10), path(1, 2, 5), path(1, 2, 7), path(1, 3, 1)];
        let rows = intern_paths(&table, &paths, &budget).unwrap();
        let mut stack = Vec::new();
        let named: Vec<(Vec<FuncId>, u64)> = rows
            .iter()
            .map(|(id, stats)| {
                table.path(*id, &mut stack);
                (stack.clone(), stats.tsub_ns)
            })
            .collect();
        assert_eq!(named, vec![(vec![1], 10), (vec![1, 2], 12), (vec![1, 3], 1)]);
    }

    #[test]
    fn a_path_the_budget_refuses_gives_its_self_time_to_its_caller() {
        let table = StackTable::default();
        let roomy = Budget::new(usize::MAX);
        let main = intern(&table, ROOT_STACK, 1, &roomy).unwrap();
        let mut filler = 100;
        while { let index = table.index.lock().unwrap(); index.len() < index.capacity() } {
            intern(&table, ROOT_STACK, filler, &roomy).unwrap();
            filler += 1;
        }
        let full = Budget::new(0);
        let rows = intern_paths(&table, &[path(0, 1, 10), path(1, 2, 5), path(2, 3, 4)], &full);
        // Nothing can be charged: not even the scratch; the whole profile is refused.
        assert!(rows.is_err());
        let some = Budget::new(256);
        let rows = intern_paths(&table, &[path(0, 1, 10), path(1, 2, 5), path(2, 3, 4)], &some).unwrap();
        assert_eq!(rows.len(), 1, "only main is known; growing the table is refused");
        assert_eq!(rows[0].0, main);
        assert_eq!(rows[0].1.tsub_ns, 19, "the cut paths' self time stays with main");
        assert_eq!(rows[0].1.ttot_ns, 10);
    }

    #[test]
    fn interns_paths_once_and_reads_them_back() {
        let budget = Budget::new(usize::MAX);
        let table = StackTable::default();
        let a = intern(&table, ROOT_STACK, 7, &budget).unwrap();
        let ab = intern(&table, a, 8, &budget).unwrap();
        let b = intern(&table, ROOT_STACK, 8, &budget).unwrap();
        assert_ne!(ab, b, "the same function under different callers is a different path");
        assert_eq!(intern(&table, a, 8, &budget).unwrap(), ab);
        let mut path = Vec::new();
        table.path(ab, &mut path);
        assert_eq!(path, vec![7, 8]);
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn refuses_past_the_budget() {
        let budget = Budget::new(4096);
        let table = StackTable::default();
        let refused = (0..10_000).filter(|&f| intern(&table, ROOT_STACK, f, &budget).is_err()).count();
        assert!(refused > 0);
        assert!(budget.used() <= 4096);
    }
}
