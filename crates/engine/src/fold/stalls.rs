//! Stalls: stretches in which a thread's event loop did not turn for longer than a threshold.
//!
//! A thread whose loop waits is sampled as `(idle)`; a blocked loop is a run of non-idle samples
//! between two idle ones. The fold hands each kept sample's time, weight and effective node to
//! [`detect`], one pass over the samples: a run's samples are charged to a small call tree of
//! its own (paths interned by (caller, function), so the same path costs one node), and a run
//! that lasted the threshold becomes a [`Stall`] in the session's bounded [`StallLog`].
//!
//! `(program)` samples are busy: they show up inside a blocked loop (V8 work between two JS
//! samples), and calling them idle would split one stall in two. A run still going when a
//! profile ends carries over to the thread's next profile and is joined with it, so a rotation
//! never cuts a stall; a run still going when its thread's profiling ends (a `stop()`, a new
//! run) is recorded as it was then, marked `cut`.

// Indices come from the fold's effective tree and sample arrays, sized by it; a broken
// invariant would panic into the binding's `catch_unwind`, never past it.
#![allow(clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use serde::Serialize;

use crate::model::budget::{Budget, Refusal};
use crate::tables::function_table::{FuncId, FunctionTable};

use crate::tables::tags::{NO_TAG, SampleWeights, TagId, TagInput, TreeView};

/// A sample charged to no node of the tree (the profiler's own work, a refused function): busy
/// time of the stall, but no function's.
pub(crate) const UNCHARGED: u32 = u32::MAX;
const ROOT: u32 = 0;

/// One node of a stall's call tree: `parent` is its caller's index plus one (0: outermost),
/// callers before callees, as a report's stacks are numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallNode {
    pub parent: u32,
    pub func: FuncId,
    pub self_ns: u64,
    pub samples: u64,
}

/// One recorded stall.
#[derive(Debug, Clone)]
pub struct Stall {
    /// Unique in the process, in the order stalls ended.
    pub id: u64,
    pub thread: u32,
    pub thread_name: String,
    /// First busy sample, µs on V8's monotonic sample clock.
    pub start_us: i64,
    pub duration_ns: u64,
    /// The longest sample gap at either edge: how far the true edges may lie from the measured ones.
    pub edge_gap_ns: u64,
    /// The longest time one of its samples stood for: how much time a sample V8 charged to the
    /// wrong frame can move between its functions.
    pub max_gap_ns: u64,
    pub samples: u64,
    pub tag: Option<String>,
    /// Profiles the stall spans (more than one when it straddled a rotation).
    pub profiles: u32,
    /// Still going when the thread's profiling ended: its end is where profiling stopped.
    pub cut: bool,
    pub nodes: Vec<StallNode>,
}

impl Stall {
    fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * size_of::<StallNode>() + self.thread_name.capacity() + self.tag.as_ref().map_or(0, String::capacity)
    }

    /// Inclusive time and samples of each node (callers come first, so one backward pass sums subtrees).
    pub(crate) fn inclusive(&self) -> Vec<(u64, u64)> {
        let mut inclusive: Vec<(u64, u64)> = self.nodes.iter().map(|node| (node.self_ns, node.samples)).collect();
        for at in (0..self.nodes.len()).rev() {
            if let Some(parent) = (self.nodes[at].parent as usize).checked_sub(1) {
                let (ns, samples) = inclusive[at];
                inclusive[parent].0 = inclusive[parent].0.saturating_add(ns);
                inclusive[parent].1 += samples;
            }
        }
        inclusive
    }

    /// The function that called node `at`, if it is not outermost.
    pub(crate) fn caller_of(&self, at: usize) -> Option<FuncId> {
        (self.nodes[at].parent as usize).checked_sub(1).map(|parent| self.nodes[parent].func)
    }

    /// Whether an ancestor of node `at` runs `func` (recursion counts a function's time once).
    pub(crate) fn has_ancestor_running(&self, at: usize, func: FuncId) -> bool {
        let mut up = self.nodes[at].parent as usize;
        while let Some(parent) = up.checked_sub(1) {
            if self.nodes[parent].func == func {
                return true;
            }
            up = self.nodes[parent].parent as usize;
        }
        false
    }

    /// Functions by self time, largest first: (function, self ns, inclusive ns).
    pub fn functions(&self) -> Vec<(FuncId, u64, u64)> {
        let inclusive = self.inclusive();
        let mut by_func: HashMap<FuncId, (u64, u64)> = HashMap::new();
        for (at, node) in self.nodes.iter().enumerate() {
            let entry = by_func.entry(node.func).or_default();
            entry.0 = entry.0.saturating_add(node.self_ns);
            if !self.has_ancestor_running(at, node.func) {
                entry.1 = entry.1.saturating_add(inclusive[at].0);
            }
        }
        let mut rows: Vec<_> = by_func.into_iter().map(|(func, (self_ns, incl))| (func, self_ns, incl)).collect();
        rows.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        rows
    }

    /// The heaviest call path, outermost first: from the top, the callee with the most inclusive time.
    pub fn heaviest_path(&self) -> Vec<FuncId> {
        let inclusive = self.inclusive();
        let mut path = Vec::new();
        let mut at = 0u32;
        loop {
            let next = (0..self.nodes.len()).filter(|&child| self.nodes[child].parent == at).max_by_key(|&child| inclusive[child].0);
            match next {
                Some(child) if inclusive[child].0 > 0 => {
                    path.push(self.nodes[child].func);
                    at = child as u32 + 1;
                }
                _ => return path,
            }
        }
    }
}

/// Which stalls a read wants.
#[derive(Debug, Clone, Default)]
pub struct StallFilter {
    pub threads: Option<Vec<u32>>,
    pub min_duration_ns: u64,
    /// Only stalls that started at or after this time (epoch ms).
    pub since_epoch_ms: Option<f64>,
}

#[derive(Default)]
struct Ring {
    stalls: VecDeque<Stall>,
    dropped: u64,
}

static NEXT_STALL_ID: AtomicU64 = AtomicU64::new(1);

/// The session's recorded stalls: the newest `capacity`, each charged to the session budget.
/// Written once per stall and read on request, so a mutex held for a push or a copy suffices.
#[derive(Default)]
pub struct StallLog {
    ring: Mutex<Ring>,
}

/// A stall `detect` found, before it is given its thread and id.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub start_us: i64,
    pub duration_ns: u64,
    pub edge_gap_ns: u64,
    pub max_gap_ns: u64,
    pub samples: u64,
    pub tag: TagId,
    pub profiles: u32,
    pub cut: bool,
    pub nodes: Vec<StallNode>,
}

impl StallLog {
    /// Keeps `found` (newest last), pushing out the oldest past `capacity`; a stall the budget
    /// refuses is counted as dropped. Returns how many stalls were recorded.
    pub(crate) fn record(&self, thread: (u32, &str), found: Vec<Found>, tag_name: impl Fn(TagId) -> Option<String>, capacity: usize, budget: &Budget) -> u64 {
        let mut ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut recorded = 0;
        for stall in found {
            // The nodes were charged as `detect` built them; they go now unless the stall is kept.
            let nodes_bytes = stall.nodes.capacity() * size_of::<StallNode>();
            if capacity == 0 || ring.stalls.try_reserve(1).is_err() {
                budget.release(nodes_bytes);
                ring.dropped += 1;
                continue;
            }
            let strings = budget.string(thread.1).and_then(|name| {
                let tag = match tag_name(stall.tag) {
                    Some(tag) => Some(budget.string(&tag).inspect_err(|_| budget.release(name.capacity()))?),
                    None => None,
                };
                Ok((name, tag))
            });
            let Ok((thread_name, tag)) = strings else {
                budget.release(nodes_bytes);
                ring.dropped += 1;
                continue;
            };
            let stall = Stall {
                id: NEXT_STALL_ID.fetch_add(1, Ordering::Relaxed),
                thread: thread.0,
                thread_name,
                start_us: stall.start_us,
                duration_ns: stall.duration_ns,
                edge_gap_ns: stall.edge_gap_ns,
                max_gap_ns: stall.max_gap_ns,
                samples: stall.samples,
                tag,
                profiles: stall.profiles,
                cut: stall.cut,
                nodes: stall.nodes,
            };
            while ring.stalls.len() >= capacity {
                if let Some(oldest) = ring.stalls.pop_front() {
                    budget.release(oldest.heap_bytes());
                    ring.dropped += 1;
                }
            }
            ring.stalls.push_back(stall);
            recorded += 1;
        }
        recorded
    }

    pub(crate) fn count_dropped(&self, count: u64) {
        self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).dropped += count;
    }

    /// Reads the stalls `filter` admits (oldest first) and how many were dropped so far.
    pub fn read<R>(&self, read: impl FnOnce(&mut dyn Iterator<Item = &Stall>, u64) -> R, filter: &StallFilter, epoch_ms_of: impl Fn(i64) -> f64) -> R {
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut admitted = ring.stalls.iter().filter(|stall| {
            filter.threads.as_ref().is_none_or(|threads| threads.contains(&stall.thread))
                && stall.duration_ns >= filter.min_duration_ns
                && filter.since_epoch_ms.is_none_or(|since| epoch_ms_of(stall.start_us) >= since)
        });
        read(&mut admitted, ring.dropped)
    }

    /// A copy of stall `id`, if it is still held.
    pub fn get(&self, id: u64) -> Option<Stall> {
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ring.stalls.iter().find(|stall| stall.id == id).cloned()
    }

    /// Gives the budget back (the session is cleared).
    pub fn release(&self, budget: &Budget) {
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for stall in &ring.stalls {
            budget.release(stall.heap_bytes());
        }
    }
}

/// A run of busy samples not finished yet: it may go on in the thread's next profile.
struct Open {
    start_us: i64,
    gap_before_us: i64,
    last_busy_us: i64,
    max_gap_ns: u64,
    samples: u64,
    profiles: u32,
    nodes: Vec<StallNode>,
    /// (caller's index + 1, function) → node index.
    index: HashMap<(u32, FuncId), u32>,
    index_charged: usize,
    /// Wall time per tag: the stall's tag is the one that ran longest in it.
    tags: Vec<(TagId, u64)>,
}

/// A thread's stall detection between folds: the threshold, and what the last profile left open.
#[derive(Default)]
pub struct StallWatch {
    /// 0: stalls are not recorded.
    pub threshold_ns: u64,
    /// The profiling run the open stall belongs to (see `Engine::begin`).
    pub run: u64,
    open: Option<Open>,
    last_idle_us: Option<i64>,
    /// Stalls lost for want of memory.
    pub refused: u64,
}

/// What `detect` reads of one fold, indexed by sample.
pub(crate) struct Samples<'a> {
    /// The tag fold reads the same columns: one struct, so the two cannot drift apart.
    pub weights: SampleWeights<'a>,
    pub repeated: &'a [bool],
    /// The effective node each sample is charged to, or [`UNCHARGED`].
    pub charged: &'a [u32],
    pub start_us: i64,
}

impl Open {
    fn new(start_us: i64, gap_before_us: i64) -> Open {
        Open { start_us, gap_before_us, last_busy_us: start_us, max_gap_ns: 0, samples: 0, profiles: 1, nodes: Vec::new(), index: HashMap::new(), index_charged: 0, tags: Vec::new() }
    }

    fn intern(&mut self, parent: u32, func: FuncId, budget: &Budget) -> Result<u32, Refusal> {
        if let Some(&at) = self.index.get(&(parent, func)) {
            return Ok(at);
        }
        if self.index.len() == self.index.capacity() {
            let growth = self.index.capacity().max(16);
            let bytes = growth * (size_of::<((u32, FuncId), u32)>() + 1) * 2;
            budget.charge(bytes)?;
            self.index_charged += bytes;
            self.index.try_reserve(growth).map_err(|_| Refusal::AllocFailed)?;
        }
        budget.push(&mut self.nodes, StallNode { parent, func, self_ns: 0, samples: 0 })?;
        let at = self.nodes.len() as u32 - 1;
        self.index.insert((parent, func), at);
        Ok(at)
    }

    fn tag(&mut self, tag: TagId, ns: u64) -> Result<(), Refusal> {
        match self.tags.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, sum)) => *sum += ns,
            None => {
                self.tags.try_reserve(1)?;
                self.tags.push((tag, ns));
            }
        }
        Ok(())
    }

    /// The stall this run was, ended at `end_us`; its index memory is given back.
    fn finish(self, end_us: i64, cut: bool, budget: &Budget) -> Found {
        budget.release(self.index_charged);
        let tag = self.tags.iter().filter(|(tag, _)| *tag != NO_TAG).max_by_key(|(_, ns)| *ns).map_or(NO_TAG, |(tag, _)| *tag);
        let gap_after_us = end_us.saturating_sub(self.last_busy_us);
        Found {
            start_us: self.start_us,
            duration_ns: (end_us.saturating_sub(self.start_us).max(0) as u64).saturating_mul(1000),
            edge_gap_ns: (self.gap_before_us.max(gap_after_us).max(0) as u64).saturating_mul(1000),
            max_gap_ns: self.max_gap_ns,
            samples: self.samples,
            tag,
            profiles: self.profiles,
            cut,
            nodes: self.nodes,
        }
    }

    fn discard(self, budget: &Budget) {
        budget.release(self.index_charged);
        budget.forget(&self.nodes);
    }
}

impl StallWatch {
    /// Ends what the thread's previous run left open: recorded as cut when it lasted the threshold.
    pub(crate) fn new_run(&mut self, run: u64, budget: &Budget) -> Option<Found> {
        self.run = run;
        self.last_idle_us = None;
        let open = self.open.take()?;
        let end_us = open.last_busy_us;
        if (end_us.saturating_sub(open.start_us).max(0) as u64).saturating_mul(1000) >= self.threshold_ns.max(1) {
            Some(open.finish(end_us, true, budget))
        } else {
            open.discard(budget);
            None
        }
    }

    /// Forgets the open run (the thread's stats are forgotten, or the session cleared).
    pub(crate) fn reset(&mut self, budget: &Budget) {
        if let Some(open) = self.open.take() {
            open.discard(budget);
        }
        self.last_idle_us = None;
    }
}

/// The node memo of one fold: effective node → node of the open stall's tree.
struct Memo {
    slot: Vec<u32>,
    touched: Vec<u32>,
}

impl Memo {
    /// Node `node`'s index in `open`, interning it and its callers as needed (one walk up to
    /// the nearest node already met in this run).
    fn slot_of(&mut self, node: u32, tree: &TreeView<'_>, open: &mut Open, budget: &Budget) -> Result<u32, Refusal> {
        if self.slot.is_empty() {
            budget.grow(&mut self.slot, tree.parent.len())?;
            self.slot.resize(tree.parent.len(), UNCHARGED);
        }
        let chain_start = self.touched.len();
        let mut at = node;
        while at != ROOT && self.slot[at as usize] == UNCHARGED {
            budget.push(&mut self.touched, at)?;
            at = tree.parent[at as usize];
        }
        let mut parent = if at == ROOT { 0 } else { self.slot[at as usize] + 1 };
        // The chain was pushed callee first: callers are interned first.
        for i in (chain_start..self.touched.len()).rev() {
            let on_chain = self.touched[i];
            let slot = open.intern(parent, tree.func[on_chain as usize], budget)?;
            self.slot[on_chain as usize] = slot;
            parent = slot + 1;
        }
        Ok(self.slot[node as usize])
    }

    /// Forgets this run's nodes, so the next run interns into its own tree.
    fn clear(&mut self) {
        for &node in &self.touched {
            self.slot[node as usize] = UNCHARGED;
        }
        self.touched.clear();
    }
}

/// The tag active at each time, read forward in one pass over the fold's switches.
struct TagCursor<'a> {
    switches: &'a [(i64, TagId)],
    next: usize,
    active: TagId,
}

impl TagCursor<'_> {
    fn at(&mut self, time_us: i64) -> TagId {
        while let Some(&(switched_at, tag)) = self.switches.get(self.next) {
            if switched_at > time_us {
                break;
            }
            self.active = tag;
            self.next += 1;
        }
        self.active
    }
}

/// Finds the stalls of one fold's samples, in one pass; a run still busy at the profile's end
/// stays open in `watch` for the thread's next profile.
pub(crate) fn detect(watch: &mut StallWatch, samples: &Samples<'_>, tree: &TreeView<'_>, tags: Option<&TagInput>, budget: &Budget) -> Vec<Found> {
    let mut found = Vec::new();
    let mut memo = Memo { slot: Vec::new(), touched: Vec::new() };
    if scan(watch, samples, tree, tags, budget, &mut memo, &mut found).is_err() {
        // No room for the run's tree: that stall is lost (and counted), later ones are not.
        if let Some(open) = watch.open.take() {
            open.discard(budget);
        }
        watch.refused += 1;
    }
    budget.forget(&memo.slot);
    budget.forget(&memo.touched);
    found
}

fn scan(watch: &mut StallWatch, samples: &Samples<'_>, tree: &TreeView<'_>, tags: Option<&TagInput>, budget: &Budget, memo: &mut Memo, found: &mut Vec<Found>) -> Result<(), Refusal> {
    let mut cursor = TagCursor { switches: tags.map_or(&[][..], |input| &input.switches), next: 0, active: tags.map_or(NO_TAG, |input| input.carried) };
    if let Some(open) = watch.open.as_mut() {
        open.profiles += 1;
    }
    for k in 0..samples.weights.times_us.len() {
        if samples.repeated[k] {
            continue;
        }
        let time = samples.weights.times_us[k];
        let tag = cursor.at(time);
        if samples.weights.idle[k] {
            if let Some(open) = watch.open.take() {
                if (time.saturating_sub(open.start_us).max(0) as u64).saturating_mul(1000) >= watch.threshold_ns {
                    found.try_reserve(1)?;
                    found.push(open.finish(time, false, budget));
                } else {
                    open.discard(budget);
                }
                memo.clear();
            }
            watch.last_idle_us = Some(time);
            continue;
        }
        let open = match &mut watch.open {
            Some(open) => open,
            None => {
                // Before the thread's first idle sample, the profile's start is the nearest edge known.
                let gap_before = time.saturating_sub(watch.last_idle_us.unwrap_or(samples.start_us));
                watch.open.insert(Open::new(time, gap_before))
            }
        };
        open.last_busy_us = time;
        open.samples += 1;
        let weight = samples.weights.wall_ns[k];
        open.max_gap_ns = open.max_gap_ns.max(weight);
        open.tag(tag, weight)?;
        let node = samples.charged[k];
        if node != UNCHARGED && node != ROOT {
            let slot = memo.slot_of(node, tree, open, budget)? as usize;
            open.nodes[slot].self_ns = open.nodes[slot].self_ns.saturating_add(weight);
            open.nodes[slot].samples += 1;
        }
    }
    // A run busy at the profile's end stays open: the next profile's first idle sample ends it.
    Ok(())
}

/// Epoch milliseconds of a time on V8's monotonic sample clock (µs), read against the two clocks now.
pub fn epoch_ms(monotonic_us: i64) -> f64 {
    let now_epoch_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64() * 1000.0);
    let now_us = crate::model::clock::monotonic_us().unwrap_or(monotonic_us);
    now_epoch_ms - now_us.saturating_sub(monotonic_us) as f64 / 1000.0
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionOut<'a> {
    name: &'a str,
    module: &'a str,
    line: u32,
    column: u32,
    self_ms: f64,
    total_ms: f64,
    share: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StallOut<'a> {
    id: u64,
    thread_id: u32,
    thread_name: &'a str,
    start: f64,
    duration_ms: f64,
    edge_gap_ms: f64,
    max_gap_ms: f64,
    samples: u64,
    tag: Option<&'a str>,
    profiles: u32,
    cut: bool,
    functions: Vec<FunctionOut<'a>>,
    heaviest_path: Vec<FunctionOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StallsOut<'a> {
    dropped: u64,
    stalls: Vec<StallOut<'a>>,
}

const NS_PER_MS: f64 = 1e6;

/// The stalls `filter` admits as JSON, oldest first, each with its `top` functions by self
/// time (share: of the stall's duration) and its heaviest path. A ring holds at most a few
/// hundred stalls of a few dozen rows each, so JSON costs nothing worth a binary layout.
pub fn to_json(log: &StallLog, functions: &FunctionTable, filter: &StallFilter, top: usize) -> Result<String, Refusal> {
    log.read(
        |stalls, dropped| {
            let mut out = StallsOut { dropped, stalls: Vec::new() };
            for stall in stalls {
                let duration = stall.duration_ns.max(1) as f64;
                let describe = |func: FuncId, self_ns: u64, total_ns: u64| {
                    functions.get(func).map(|desc| FunctionOut {
                        name: &desc.name,
                        module: &desc.module,
                        line: desc.line,
                        column: desc.column,
                        self_ms: self_ns as f64 / NS_PER_MS,
                        total_ms: total_ns as f64 / NS_PER_MS,
                        share: self_ns as f64 / duration,
                    })
                };
                let rows = stall.functions();
                let totals: HashMap<FuncId, (u64, u64)> = rows.iter().map(|&(func, self_ns, total)| (func, (self_ns, total))).collect();
                let path = stall.heaviest_path().into_iter().filter_map(|func| {
                    let (self_ns, total) = totals.get(&func).copied().unwrap_or_default();
                    describe(func, self_ns, total)
                });
                out.stalls.try_reserve(1)?;
                out.stalls.push(StallOut {
                    id: stall.id,
                    thread_id: stall.thread,
                    thread_name: &stall.thread_name,
                    start: epoch_ms(stall.start_us),
                    duration_ms: stall.duration_ns as f64 / NS_PER_MS,
                    edge_gap_ms: stall.edge_gap_ns as f64 / NS_PER_MS,
                    max_gap_ms: stall.max_gap_ns as f64 / NS_PER_MS,
                    samples: stall.samples,
                    tag: stall.tag.as_deref(),
                    profiles: stall.profiles,
                    cut: stall.cut,
                    functions: rows.iter().take(top).filter_map(|&(func, self_ns, total)| describe(func, self_ns, total)).collect(),
                    heaviest_path: path.collect(),
                });
            }
            serde_json::to_string(&out).map_err(|_| Refusal::AllocFailed)
        },
        filter,
        epoch_ms,
    )
}

#[cfg(test)]
mod tests;
