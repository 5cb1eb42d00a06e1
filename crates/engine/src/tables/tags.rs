//! Async tags: the tag (a route, a request, …) that was active when each sample was taken.
//!
//! A thread records *switches* — (time, tag) each time its active tag changes — and hands them
//! to the session's [`TagLog`]. When a profile of that thread folds, its samples and the
//! pending switches, both in time order on the monotonic clock V8 stamps samples with (µs), are
//! joined in one merge pass. The tagged samples then fold a second time, sparsely: only the
//! (tag, node) pairs that samples reach are touched, with the rules of the untagged fold (each
//! sample weighs its gap, calls are entries between samples, recursion counts once).

// Indices come from the effective tree and sample arrays the fold built and sized; a broken
// invariant would panic into the binding's `catch_unwind`, never past it.
#![allow(clippy::indexing_slicing)]

use std::collections::BinaryHeap;
use std::ops::AddAssign;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;

use crate::model::budget::{Budget, BudgetMap, Refusal};
use crate::model::sync::lock;
use crate::tables::append_vec::AppendVec;
use crate::tables::function_table::FuncId;
use crate::tables::stats::{CallStats, EdgeKey, StatsTable, merge_sorted};

/// Index of a tag name in its session's table.
pub type TagId = u32;
/// No tag was active.
pub const NO_TAG: TagId = TagId::MAX;

/// What one tag accounts for on a thread. Idle samples belong to no tag: a thread waiting in
/// its event loop works for nobody.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TagTotals {
    /// Time on the session's clock (CPU time with the CPU clock).
    pub ns: u64,
    pub wall_ns: u64,
    pub samples: u64,
}

/// Saturating, like [`CallStats`]: a profile that claims impossible gaps must not wrap around.
impl AddAssign for TagTotals {
    fn add_assign(&mut self, other: TagTotals) {
        self.ns = self.ns.saturating_add(other.ns);
        self.wall_ns = self.wall_ns.saturating_add(other.wall_ns);
        self.samples = self.samples.saturating_add(other.samples);
    }
}

/// Per-tag stats of one thread; every table is sorted by key.
#[derive(Debug, Clone, Default)]
pub struct TagStats {
    pub totals: Vec<(TagId, TagTotals)>,
    pub funcs: StatsTable<(TagId, FuncId)>,
    pub edges: StatsTable<(TagId, EdgeKey)>,
}

impl TagStats {
    pub fn heap_bytes(&self) -> usize {
        self.totals.capacity() * size_of::<(TagId, TagTotals)>()
            + self.funcs.capacity() * size_of::<((TagId, FuncId), CallStats)>()
            + self.edges.capacity() * size_of::<((TagId, EdgeKey), CallStats)>()
    }

    pub fn is_empty(&self) -> bool {
        self.totals.is_empty() && self.funcs.is_empty() && self.edges.is_empty()
    }

    /// These stats plus `delta`, as new tables.
    pub fn merged(&self, delta: &TagStats, budget: &Budget) -> Result<TagStats, Refusal> {
        Ok(TagStats {
            totals: merge_sorted(&self.totals, &delta.totals, budget)?,
            funcs: merge_sorted(&self.funcs, &delta.funcs, budget)?,
            edges: merge_sorted(&self.edges, &delta.edges, budget)?,
        })
    }
}

/// Tag names, interned once per session by any thread; readers look names up without locks.
#[derive(Default)]
pub struct TagTable {
    names: AppendVec<String>,
    index: Mutex<HashMap<String, TagId>>,
}

impl TagTable {
    pub fn name(&self, id: TagId) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }

    pub fn id(&self, name: &str) -> Option<TagId> {
        lock(&self.index).get(name).copied()
    }

    fn intern(&self, name: &str, budget: &Budget) -> Result<TagId, Refusal> {
        let mut index = lock(&self.index);
        if let Some(&id) = index.get(name) {
            return Ok(id);
        }
        if index.len() == index.capacity() {
            let growth = index.capacity().max(16);
            budget.charge(growth * (size_of::<(String, TagId)>() + 1))?;
            index.try_reserve(growth).map_err(|_| Refusal::AllocFailed)?;
        }
        let key = budget.string(name)?;
        let position = self.names.push(budget.string(name)?, budget)?;
        let id = TagId::try_from(position).map_err(|_| Refusal::OverBudget)?;
        index.insert(key, id);
        Ok(id)
    }
}

struct ThreadLog {
    /// Switches not folded yet: (µs, tag), in the order the thread recorded them.
    pending: Vec<(i64, TagId)>,
    /// The tag after the last switch already handed to a fold.
    current: TagId,
}

/// The switches threads recorded, waiting for their profiles to fold.
#[derive(Default)]
pub struct TagLog {
    pub table: TagTable,
    threads: Mutex<HashMap<u32, ThreadLog>>,
    dropped: AtomicU64,
}

/// What a fold needs to tag one profile's samples.
#[derive(Debug, Default)]
pub struct TagInput {
    pub switches: Vec<(i64, TagId)>,
    /// The tag active before the first switch.
    pub carried: TagId,
}

impl TagLog {
    /// Appends switches of `thread`: (µs, index into `names`; an index past the names means no
    /// tag). Returns how many were dropped for want of memory (they are counted, too).
    pub fn record(&self, thread: u32, names: &[String], switches: &[(i64, u32)], budget: &Budget) -> u64 {
        let mut ids = Vec::new();
        if budget.grow(&mut ids, names.len()).is_err() {
            return self.drop_switches(switches.len());
        }
        ids.extend(names.iter().map(|name| self.table.intern(name, budget).ok()));
        let mut threads = lock(&self.threads);
        if threads.try_reserve(1).is_err() {
            budget.forget(&ids);
            return self.drop_switches(switches.len());
        }
        let log = threads.entry(thread).or_insert_with(|| ThreadLog { pending: Vec::new(), current: NO_TAG });
        let mut dropped = 0;
        if budget.grow(&mut log.pending, switches.len()).is_err() {
            dropped = switches.len();
        } else {
            for &(time, local) in switches {
                match ids.get(local as usize) {
                    Some(Some(id)) => log.pending.push((time, *id)),
                    // A name the budget refused: the time it covers is untagged, not misattributed.
                    Some(None) => {
                        log.pending.push((time, NO_TAG));
                        dropped += 1;
                    }
                    None => log.pending.push((time, NO_TAG)),
                }
            }
        }
        drop(threads);
        budget.forget(&ids);
        self.drop_switches(dropped)
    }

    fn drop_switches(&self, count: usize) -> u64 {
        self.dropped.fetch_add(count as u64, Ordering::Relaxed);
        count as u64
    }

    /// Takes the pending switches of `thread` up to `until_us` (a profile's end) for a fold;
    /// later ones wait for the next profile. `None` when the thread has no tag to apply.
    pub(crate) fn take(&self, thread: u32, until_us: i64, budget: &Budget) -> Option<TagInput> {
        let mut threads = lock(&self.threads);
        let log = threads.get_mut(&thread)?;
        let due = log.pending.partition_point(|&(time, _)| time <= until_us);
        if due == 0 && log.current == NO_TAG {
            return None;
        }
        let carried = log.current;
        let switches = if due == log.pending.len() {
            std::mem::take(&mut log.pending)
        } else {
            let mut taken = Vec::new();
            // Without room to split, the early switches are dropped; the later ones still apply.
            if budget.grow(&mut taken, due).is_ok() {
                taken.extend_from_slice(log.pending.get(..due).unwrap_or_default());
            } else {
                self.drop_switches(due);
            }
            log.pending.drain(..due);
            taken
        };
        if let Some(&(_, last)) = switches.last() {
            log.current = last;
        }
        Some(TagInput { switches, carried })
    }

    pub fn forget(&self, thread: u32, budget: &Budget) {
        if let Some(log) = lock(&self.threads).remove(&thread) {
            budget.forget(&log.pending);
        }
    }

    /// Switches dropped for want of memory.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The effective tree of a fold: nodes in preorder, `0` the root.
pub(crate) struct TreeView<'a> {
    pub parent: &'a [u32],
    pub func: &'a [FuncId],
}

/// A sample the untagged fold kept: its effective node and the node whose subtree it was
/// already in, if it entered any frames (`stop`: calls are counted from `node` up to, not
/// including, `stop`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traced {
    pub sample: u32,
    pub node: u32,
    pub stop: Option<u32>,
    /// GC or VM work charged to the previous sample's stack: it takes that sample's tag too,
    /// so no stack is ever paired with a tag it did not run under.
    pub charged_to_previous: bool,
}

/// Per-sample weights and times, indexed by sample.
pub(crate) struct SampleWeights<'a> {
    pub ns: &'a [u64],
    pub wall_ns: &'a [u64],
    pub idle: &'a [bool],
    pub times_us: &'a [i64],
}

const ROOT: u32 = 0;

#[derive(Debug, Clone, Copy, Default)]
struct NodeAcc {
    self_ns: u64,
    self_samples: u64,
    incl_ns: u64,
    incl_samples: u64,
    entries: i64,
}

/// The tag of each traced sample: one merge pass over samples and switches, both in time order.
fn tag_samples(traced: &[Traced], times_us: &[i64], input: &TagInput, budget: &Budget) -> Result<Vec<TagId>, Refusal> {
    let mut tags = budget.filled(traced.len(), NO_TAG)?;
    let mut active = input.carried;
    let mut previous = input.carried;
    let mut next = input.switches.iter().peekable();
    for (slot, sample) in tags.iter_mut().zip(traced) {
        if sample.charged_to_previous {
            *slot = previous;
            continue;
        }
        let time = times_us[sample.sample as usize];
        while let Some(&&(switched_at, tag)) = next.peek() {
            if switched_at > time {
                break;
            }
            active = tag;
            next.next();
        }
        *slot = active;
        previous = active;
    }
    Ok(tags)
}

/// Whether each node is the outermost activation of its function, and of its call edge, on its path.
fn outermost(tree: &TreeView<'_>, budget: &Budget) -> Result<(Vec<bool>, Vec<bool>), Refusal> {
    let nodes = tree.parent.len();
    let mut outer_func = budget.filled(nodes, true)?;
    let mut outer_edge = budget.filled(nodes, true)?;
    let mut active_funcs: BudgetMap<'_, FuncId, u32> = BudgetMap::new(budget);
    let mut active_edges: BudgetMap<'_, EdgeKey, u32> = BudgetMap::new(budget);
    let mut path = Vec::new();
    budget.push(&mut path, ROOT)?;
    for node in 1..nodes {
        let parent = tree.parent[node];
        while let Some(&top) = path.last() {
            if top == parent {
                break;
            }
            path.pop();
            if top != ROOT {
                leave(top as usize, tree, &mut active_funcs, &mut active_edges);
            }
        }
        if path.is_empty() {
            // Not a preorder: leave every node outermost rather than guess.
            break;
        }
        let func = tree.func[node];
        let count = active_funcs.entry_or(func, || 0)?;
        outer_func[node] = *count == 0;
        *count += 1;
        if parent != ROOT {
            let count = active_edges.entry_or((tree.func[parent as usize], func), || 0)?;
            outer_edge[node] = *count == 0;
            *count += 1;
        }
        budget.push(&mut path, node as u32)?;
    }
    budget.forget(&path);
    Ok((outer_func, outer_edge))
}

fn leave(node: usize, tree: &TreeView<'_>, funcs: &mut BudgetMap<'_, FuncId, u32>, edges: &mut BudgetMap<'_, EdgeKey, u32>) {
    if let Some(count) = funcs.map.get_mut(&tree.func[node]) {
        *count -= 1;
    }
    let parent = tree.parent[node];
    if parent != ROOT
        && let Some(count) = edges.map.get_mut(&(tree.func[parent as usize], tree.func[node]))
    {
        *count -= 1;
    }
}

/// Folds the traced samples of one profile by tag.
pub(crate) fn fold_tags(
    tree: &TreeView<'_>,
    traced: &[Traced],
    weights: &SampleWeights<'_>,
    input: &TagInput,
    budget: &Budget,
) -> Result<TagStats, Refusal> {
    let tags = tag_samples(traced, weights.times_us, input, budget)?;
    let mut totals: BudgetMap<'_, TagId, TagTotals> = BudgetMap::new(budget);
    let mut nodes: BudgetMap<'_, (TagId, u32), NodeAcc> = BudgetMap::new(budget);
    for (sample, &tag) in traced.iter().zip(&tags) {
        let k = sample.sample as usize;
        if tag == NO_TAG || weights.idle[k] {
            continue;
        }
        let (ns, wall_ns) = (weights.ns[k], weights.wall_ns[k]);
        *totals.entry_or(tag, TagTotals::default)? += TagTotals { ns, wall_ns, samples: 1 };
        let acc = nodes.entry_or((tag, sample.node), NodeAcc::default)?;
        acc.self_ns = acc.self_ns.saturating_add(ns);
        acc.self_samples += 1;
        if let Some(stop) = sample.stop {
            acc.entries += 1;
            nodes.entry_or((tag, stop), NodeAcc::default)?.entries -= 1;
        }
    }
    budget.forget(&tags);
    drop(tags);
    subtree_sums(&mut nodes, tree.parent, budget)?;

    let (outer_func, outer_edge) = outermost(tree, budget)?;
    let mut funcs: BudgetMap<'_, (TagId, FuncId), CallStats> = BudgetMap::new(budget);
    let mut edges: BudgetMap<'_, (TagId, EdgeKey), CallStats> = BudgetMap::new(budget);
    for (&(tag, node), acc) in &nodes.map {
        if node == ROOT {
            continue;
        }
        let index = node as usize;
        let entries = acc.entries.max(0) as u64;
        let func = tree.func[index];
        // Sums through CallStats' saturating `+=`, as in the untagged fold.
        let outer = outer_func[index];
        let own = CallStats { ncall: entries, nactual: if outer { entries } else { 0 }, tsub_ns: acc.self_ns, samples: acc.self_samples, ..CallStats::default() };
        let inclusive = CallStats { ttot_ns: acc.incl_ns, samples_total: acc.incl_samples, ..CallStats::default() };
        let stats = funcs.entry_or((tag, func), CallStats::default)?;
        *stats += own;
        if outer {
            *stats += inclusive;
        }
        let parent = tree.parent[index];
        if parent == ROOT {
            continue;
        }
        let edge = edges.entry_or((tag, (tree.func[parent as usize], func)), CallStats::default)?;
        *edge += own;
        if outer_edge[index] {
            *edge += inclusive;
        }
    }
    budget.forget(&outer_func);
    budget.forget(&outer_edge);
    Ok(TagStats {
        totals: sorted(&totals.map, budget, |_| true)?,
        funcs: sorted(&funcs.map, budget, |stats| *stats != CallStats::default())?,
        edges: sorted(&edges.map, budget, |stats| *stats != CallStats::default())?,
    })
}

/// Inclusive times and entries: each (tag, node) adds its subtree's. Children have larger
/// preorder numbers than their parents, so taking nodes largest first finishes every child
/// before its parent; parents a tag never sampled directly join as they are reached.
fn subtree_sums(nodes: &mut BudgetMap<'_, (TagId, u32), NodeAcc>, parent: &[u32], budget: &Budget) -> Result<(), Refusal> {
    let mut order = BinaryHeap::new();
    let mut charged = 0;
    let result = (|| {
        for &(tag, node) in nodes.map.keys() {
            make_room(&mut order, &mut charged, budget)?;
            order.push((node, tag));
        }
        while let Some((node, tag)) = order.pop() {
            let Some(acc) = nodes.map.get_mut(&(tag, node)) else { continue };
            acc.incl_ns = acc.incl_ns.saturating_add(acc.self_ns);
            acc.incl_samples += acc.self_samples;
            if node == ROOT {
                continue;
            }
            let (incl_ns, incl_samples, entries) = (acc.incl_ns, acc.incl_samples, acc.entries);
            let above = parent[node as usize];
            let fresh = !nodes.map.contains_key(&(tag, above));
            // The parent's own self time is added when it is popped; only the subtree's comes here.
            let up = nodes.entry_or((tag, above), NodeAcc::default)?;
            up.incl_ns = up.incl_ns.saturating_add(incl_ns);
            up.incl_samples += incl_samples;
            up.entries += entries;
            if fresh {
                make_room(&mut order, &mut charged, budget)?;
                order.push((above, tag));
            }
        }
        Ok(())
    })();
    budget.release(charged);
    result
}

fn make_room<T: Ord>(heap: &mut BinaryHeap<T>, charged: &mut usize, budget: &Budget) -> Result<(), Refusal> {
    if heap.len() < heap.capacity() {
        return Ok(());
    }
    let growth = heap.capacity().max(16);
    budget.charge(growth * size_of::<T>())?;
    *charged += growth * size_of::<T>();
    heap.try_reserve(growth).map_err(|_| Refusal::AllocFailed)
}

fn sorted<K: Ord + Copy, V: Copy>(map: &HashMap<K, V>, budget: &Budget, keep: impl Fn(&V) -> bool) -> Result<Vec<(K, V)>, Refusal> {
    let mut table = Vec::new();
    budget.grow(&mut table, map.len())?;
    table.extend(map.iter().filter(|(_, value)| keep(value)).map(|(&key, &value)| (key, value)));
    table.sort_unstable_by_key(|(key, _)| *key);
    // A delta lives only until it is merged; merged tables are what the budget holds.
    budget.forget(&table);
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_take_the_tag_of_the_last_switch_at_or_before_them() {
        let budget = Budget::new(usize::MAX);
        let mut traced: Vec<Traced> = (0..5).map(|k| Traced { sample: k, node: 1, stop: None, charged_to_previous: false }).collect();
        let times = [10, 20, 30, 40, 50];
        let input = TagInput { switches: vec![(5, 7), (20, 8), (21, NO_TAG), (45, 9), (60, 1)], carried: 3 };
        assert_eq!(tag_samples(&traced, &times, &input, &budget).unwrap(), vec![7, 8, NO_TAG, NO_TAG, 9]);
        traced[2].charged_to_previous = true;
        assert_eq!(tag_samples(&traced, &times, &input, &budget).unwrap(), vec![7, 8, 8, NO_TAG, 9], "GC charged to the previous stack keeps its tag");
        let quiet = TagInput { switches: vec![], carried: 3 };
        assert_eq!(tag_samples(&traced, &times, &quiet, &budget).unwrap(), vec![3; 5]);
    }

    #[test]
    fn the_log_carries_the_last_tag_into_the_next_fold() {
        let budget = Budget::new(usize::MAX);
        let log = TagLog::default();
        assert!(log.take(4, 100, &budget).is_none(), "a thread that never tagged has no tag work");
        let names = vec!["a".to_string(), "b".to_string()];
        log.record(4, &names, &[(10, 0), (20, 1), (30, u32::MAX), (200, 0)], &budget);
        let first = log.take(4, 100, &budget).unwrap();
        let a = log.table.id("a").unwrap();
        let b = log.table.id("b").unwrap();
        assert_eq!(first.switches, vec![(10, a), (20, b), (30, NO_TAG)]);
        assert_eq!(first.carried, NO_TAG);
        assert!(log.take(4, 150, &budget).is_none(), "untagged at the end and nothing due");
        let later = log.take(4, 300, &budget).unwrap();
        assert_eq!(later.switches, vec![(200, a)], "a switch after a profile's end waits for the next");
        log.record(4, &names[1..], &[(400, 0)], &budget);
        log.take(4, 500, &budget).unwrap();
        let next = log.take(4, 600, &budget).unwrap();
        assert_eq!((next.switches.len(), next.carried), (0, b));
        assert_eq!(log.table.name(b), Some("b"));
    }

    #[test]
    fn a_refused_budget_drops_and_counts_switches() {
        let budget = Budget::new(64);
        let log = TagLog::default();
        let switches: Vec<(i64, u32)> = (0..100).map(|t| (t, 0)).collect();
        assert_eq!(log.record(1, &["x".to_string()], &switches, &budget), 100);
        assert_eq!(log.dropped(), 100);
    }
}
