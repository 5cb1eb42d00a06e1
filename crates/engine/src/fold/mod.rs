//! Folds one flat profile into per-function and per-edge statistics in O(nodes + samples).
//!
//! 1. Frames are classified; hidden ones (the profiler's own, builtins unless asked for) fold
//!    into their caller, giving an *effective tree* whose nodes are numbered in preorder.
//! 2. Each sample is weighted by its measured gap to the next one (the last by the gap to the
//!    profile's end, the first also by the gap from its start), so weights sum to the wall time.
//! 3. Calls are estimated as frames *entered* between consecutive samples: the nodes on the
//!    path from the new sample up to, not including, its lowest common ancestor with the
//!    previous one. A +1 at the sample and a -1 at the ancestor, summed over subtrees, counts
//!    them; the ancestors come from Tarjan's offline LCA, near O(1) per sample.
//! 4. Inclusive time is a subtree sum; recursion is counted once by adding a node's inclusive
//!    time only when no ancestor runs the same function (or, for edges, the same call edge).

// Indices come from a profile `FlatProfile::validate` checked and from arrays sized to it here;
// a broken invariant would panic into the binding's `catch_unwind`, never past it.
#![allow(clippy::indexing_slicing)]

pub mod stalls;

use std::collections::TryReserveError;


use crate::fold::stalls::{Found, Samples as StallSamples, StallWatch, UNCHARGED, detect};
use crate::model::budget::{Budget, BudgetMap, Refusal, Scratch};
use crate::model::flat_profile::{Children, FlatProfile, NO_PARENT, ProfileError};
use crate::model::frame::{Classifier, FuncKey, FuncKind, OwnCode, frame_key};
use crate::model::sourcemap::SourceMaps;
use crate::tables::function_table::{FuncId, FunctionTable};
use crate::tables::stacks::PathStat;
use crate::tables::stats::{CallStats, EdgeKey, StatsTable, ThreadTotals};
use crate::tables::tags::{SampleWeights, TagInput, TagStats, Traced, TreeView, fold_tags};

/// The frame whose subtree alone is kept (the wrapper that `profile(fn)` calls `fn` through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FocusFrame {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, Default)]
pub struct FoldOptions {
    pub show_builtins: bool,
    pub own_code: OwnCode,
    pub focus: Option<FocusFrame>,
    /// CPU time the thread used over the profile, when measured: the thread's CPU total, and
    /// with the CPU clock what non-idle samples are scaled to.
    pub cpu_time_ns: Option<u64>,
    /// Weigh samples by CPU time; without a measured CPU time, non-idle wall time stands in.
    pub cpu_clock: bool,
    /// Maps that turn generated positions into original names, files and lines.
    pub source_maps: Option<&'static SourceMaps>,
}

/// What one profile adds to a thread.
#[derive(Debug, Clone, Default)]
pub struct ProfileDelta {
    pub totals: ThreadTotals,
    pub funcs: StatsTable<FuncId>,
    pub edges: StatsTable<EdgeKey>,
    /// The stack of the last sample, root first, so the next profile continues its calls.
    pub last_stack: Vec<FuncId>,
    /// Every call path of the profile, callers before callees, for the session's stack table.
    pub paths: Vec<PathStat>,
    /// Per-tag stats, when the thread recorded tags.
    pub tags: Option<TagStats>,
    /// Stalls that ended in this profile (see `stalls.rs`).
    pub(crate) stalls: Vec<Found>,
}

const ROOT: u32 = 0;
/// Outside the focus frame: not part of these stats at all.
const OUTSIDE: u32 = u32::MAX;
/// Under a function the budget could not intern: counted as dropped.
const REFUSED: u32 = u32::MAX - 1;
const NO_FUNC: FuncId = FuncId::MAX;
/// The function of [`builtins_node`]: what `builtins: true` would show, in one row.
pub const BUILTINS_NAME: &str = "(builtins)";
const BUILTINS_KEY: FuncKey<'static> = FuncKey { name: BUILTINS_NAME, module: "", line: 0, column: 0, kind: FuncKind::Builtin, script_id: "" };

enum FrameRole {
    Hidden,
    /// The profiler's own code: hidden like a builtin, and what runs under it is the profiler's.
    Own,
    Visible(FuncId),
    Refused,
    Focus,
}

fn is_shown(kind: FuncKind, options: &FoldOptions) -> bool {
    match kind {
        FuncKind::User | FuncKind::Idle => true,
        FuncKind::Builtin | FuncKind::Program | FuncKind::GarbageCollector => options.show_builtins,
        FuncKind::Root | FuncKind::Profiler => false,
    }
}

fn frame_roles<'b>(
    profile: &FlatProfile,
    functions: &FunctionTable,
    budget: &'b Budget,
    options: &FoldOptions,
) -> Result<(Vec<FrameRole>, Scratch<'b, FuncKind>), ProfileError> {
    let mut roles = Vec::new();
    budget.grow(&mut roles, profile.frames.len())?;
    let mut kinds = Scratch::empty(budget);
    budget.grow(&mut kinds.vec, profile.frames.len())?;
    let maps = options.source_maps.map(SourceMaps::read);
    let classifier = Classifier::new(profile, &options.own_code, budget)?;
    for frame in &profile.frames {
        let kind = classifier.kind(frame);
        kinds.vec.push(kind);
        let is_focus = options.focus.as_ref().is_some_and(|f| f.name == frame.name && f.url == frame.url);
        roles.push(if is_focus {
            FrameRole::Focus
        } else if kind == FuncKind::Profiler {
            FrameRole::Own
        } else if !is_shown(kind, options) {
            FrameRole::Hidden
        } else {
            match functions.intern(frame_key(frame, kind, maps.as_ref()), budget) {
                Ok(id) => FrameRole::Visible(id),
                Err(_) => FrameRole::Refused,
            }
        });
    }
    let bytes = roles.capacity() * size_of::<FrameRole>();
    budget.release(bytes);
    Ok((roles, kinds))
}

/// Looks for the source maps of the profile's scripts not seen before (see
/// [`SourceMaps::discover`]); returns why the maps found could not be used.
pub fn discover_source_maps(profile: &FlatProfile, options: &FoldOptions) -> Vec<String> {
    let Some(maps) = options.source_maps else { return Vec::new() };
    let mut urls: Vec<&str> = Vec::new();
    if urls.try_reserve_exact(profile.frames.len()).is_err() {
        return Vec::new();
    }
    urls.extend(profile.frames.iter().map(|frame| frame.url.as_str()).filter(|url| !url.is_empty()));
    urls.sort_unstable();
    urls.dedup();
    maps.discover(urls.into_iter(), |url| options.own_code.contains(url))
}

/// A profile refused whole still tells which of its functions the stats could not take in.
fn count_unknown_functions(profile: &FlatProfile, functions: &FunctionTable, options: &FoldOptions) {
    let maps = options.source_maps.map(SourceMaps::read);
    // The session budget just refused this profile; the classifier's few bytes are transient.
    let transient = Budget::new(usize::MAX);
    let Ok(classifier) = Classifier::new(profile, &options.own_code, &transient) else { return };
    for frame in &profile.frames {
        let kind = classifier.kind(frame);
        if is_shown(kind, options) {
            functions.note_if_unknown(frame_key(frame, kind, maps.as_ref()));
        }
    }
}

/// The effective tree: visible nodes only, in preorder, `ROOT` first.
struct Tree<'b> {
    parent: Scratch<'b, u32>,
    func: Scratch<'b, FuncId>,
    /// Effective node of each profile node (or `OUTSIDE` / `REFUSED`).
    of_node: Scratch<'b, u32>,
    /// Whether a sample at this profile node is the profiler's own work: the nearest frame
    /// above it that is not a builtin, a runtime bucket or the root is the profiler's.
    ours: Scratch<'b, bool>,
}

fn effective_tree<'b>(
    profile: &FlatProfile,
    roles: &[FrameRole],
    kinds: &[FuncKind],
    budget: &'b Budget,
    focused: bool,
) -> Result<Tree<'b>, ProfileError> {
    let order = profile.preorder(budget)?;
    let mut tree = Tree {
        parent: Scratch::empty(budget),
        func: Scratch::empty(budget),
        of_node: Scratch::filled(budget, profile.node_count(), OUTSIDE)?,
        ours: Scratch::filled(budget, profile.node_count(), false)?,
    };
    tree.parent.push(NO_PARENT)?;
    tree.func.push(NO_FUNC)?;
    for &node in &order.vec {
        let parent = profile.node_parent[node as usize];
        let above = match parent {
            NO_PARENT if focused => OUTSIDE,
            NO_PARENT => ROOT,
            _ => tree.of_node.vec[parent as usize],
        };
        let frame = profile.node_frame[node as usize] as usize;
        let under_ours = parent != NO_PARENT && tree.ours.vec[parent as usize];
        let ours = match roles[frame] {
            FrameRole::Own => true,
            FrameRole::Hidden => under_ours,
            // Builtins the profiler calls (JSON.parse in a read) are its work, shown or not.
            FrameRole::Visible(_) | FrameRole::Refused => under_ours && kinds[frame].is_builtin_like(),
            FrameRole::Focus => false,
        };
        tree.ours.vec[node as usize] = ours;
        let role = if ours { &FrameRole::Own } else { &roles[frame] };
        let effective = match (above, role) {
            (OUTSIDE, FrameRole::Focus) => ROOT,
            (OUTSIDE | REFUSED, _) => above,
            (_, FrameRole::Hidden | FrameRole::Own | FrameRole::Focus) => above,
            (_, FrameRole::Refused) => REFUSED,
            (_, FrameRole::Visible(func)) => {
                let index = tree.parent.vec.len() as u32;
                tree.parent.push(above)?;
                tree.func.push(*func)?;
                index
            }
        };
        tree.of_node.vec[node as usize] = effective;
    }
    Ok(tree)
}

/// Per-sample weights in ns: [`Weights::ns`] on the session's clock, `wall_ns` always wall.
struct Weights<'b> {
    /// The CPU clock's weights; empty on the wall clock, whose weights are `wall_ns`.
    cpu_weights: Scratch<'b, u64>,
    wall_ns: Scratch<'b, u64>,
    idle: Scratch<'b, bool>,
    /// Each sample's time (µs), kept only for the tag fold and stall detection, which look up
    /// samples by time: other folds compute it as they go rather than fill 8 bytes a sample.
    times_us: Scratch<'b, i64>,
    /// V8 files GC and VM work under the root even when it interrupted a JS function, so these
    /// samples must not count as that function returning and being called again.
    interruption: Scratch<'b, bool>,
    /// Already folded with the thread's previous profile (see `sample_weights`).
    repeated: Scratch<'b, bool>,
    /// Measured CPU time over busy wall time (1 when unmeasured): a busy sample's CPU share.
    cpu_scale: f64,
}

impl Weights<'_> {
    /// What the tag fold and stall detection both read of each sample.
    fn per_sample(&self) -> SampleWeights<'_> {
        let ns = if self.cpu_weights.vec.is_empty() { &self.wall_ns.vec } else { &self.cpu_weights.vec };
        SampleWeights { ns, wall_ns: &self.wall_ns.vec, idle: &self.idle.vec, times_us: &self.times_us.vec }
    }

    fn ns(&self, k: usize) -> u64 {
        self.cpu_weights.vec.get(k).copied().unwrap_or(self.wall_ns.vec[k])
    }

    fn cpu_ns(&self, k: usize) -> u64 {
        if self.idle.vec[k] {
            0
        } else if self.cpu_scale == 1.0 && self.wall_ns.vec[k] <= EXACT_IN_F64 {
            // The scaled value is the wall time itself: rounding (a libm call) cannot change it.
            self.wall_ns.vec[k]
        } else {
            (self.wall_ns.vec[k] as f64 * self.cpu_scale).round() as u64
        }
    }
}

/// Integers up to 2^53 convert to `f64` and back unchanged.
const EXACT_IN_F64: u64 = 1 << 53;

fn sample_weights<'b>(
    profile: &FlatProfile,
    kinds: &[FuncKind],
    budget: &'b Budget,
    options: &FoldOptions,
    not_before_us: Option<i64>,
    keep_times: bool,
) -> Result<Weights<'b>, ProfileError> {
    let count = profile.samples.len();
    let stamps = if keep_times { profile.sample_times(budget)? } else { Scratch::empty(budget) };
    let mut wall_ns = Scratch::filled(budget, count, 0u64)?;
    let mut idle = Scratch::filled(budget, count, false)?;
    let mut interruption = Scratch::filled(budget, count, false)?;
    let mut repeated = Scratch::filled(budget, count, false)?;
    // Samples up to the end of the thread's previous profile are already in it: profiles that
    // overlap (the next one starts before the last one ends, so V8 keeps its profiler) share them.
    // A thread's first profile counts from its first sample: before it, a worker may have waited
    // for the profiler to let it run, which is no time of the application's. A profile of one
    // call (a focus) starts right before the call: the time until V8's first sample (its
    // profiler starting up, long on a loaded machine) is the call's.
    let start = match not_before_us {
        Some(not_before) => Some(profile.start_time.max(not_before)),
        None if options.focus.is_some() => Some(profile.start_time),
        None => None,
    };
    let mut first_kept = true;
    // The same sums as `FlatProfile::sample_times`, taken as the samples go by.
    let mut time = profile.start_time;
    let mut next = profile.time_deltas.first().map_or(time, |&delta| time.saturating_add(delta));
    for k in 0..count {
        time = next;
        next = profile.time_deltas.get(k + 1).map_or(profile.end_time, |&delta| time.saturating_add(delta));
        if not_before_us.is_some_and(|not_before| time <= not_before) {
            repeated.vec[k] = true;
            continue;
        }
        let mut gap_us = next.saturating_sub(time).max(0);
        if first_kept {
            if let Some(start) = start {
                gap_us = gap_us.saturating_add(time.saturating_sub(start).max(0));
            }
            first_kept = false;
        }
        wall_ns.vec[k] = (gap_us as u64).saturating_mul(1000);
        let frame = profile.node_frame[profile.samples[k] as usize] as usize;
        idle.vec[k] = kinds[frame] == FuncKind::Idle;
        interruption.vec[k] = matches!(kinds[frame], FuncKind::Program | FuncKind::GarbageCollector);
    }
    let busy_ns = wall_ns.vec.iter().zip(&idle.vec).filter(|(_, idle)| !**idle).fold(0u64, |sum, (w, _)| sum.saturating_add(*w));
    let cpu_scale = match options.cpu_time_ns {
        Some(cpu_ns) if busy_ns > 0 => cpu_ns as f64 / busy_ns as f64,
        _ => 1.0,
    };
    let mut weights = Weights { cpu_weights: Scratch::empty(budget), wall_ns, idle, times_us: stamps, interruption, repeated, cpu_scale };
    if options.cpu_clock {
        let mut cpu_weights = Scratch::filled(budget, count, 0u64)?;
        for (k, slot) in cpu_weights.vec.iter_mut().enumerate() {
            *slot = weights.cpu_ns(k);
        }
        weights.cpu_weights = cpu_weights;
    }
    Ok(weights)
}

/// Lowest common ancestors in a tree numbered in preorder, each in constant time, so a fold
/// finds the ancestor of two consecutive stacks as it meets them. When `lo < hi` and `lo` is no
/// ancestor of `hi`, every node of positions `lo + 1 ..= hi` lies under their common ancestor,
/// and the shallowest of them is one of its children: a range-minimum query over depths, which
/// a sparse table answers with two lookups (n log n entries of 4 bytes, under the fold's
/// estimate of its scratch memory per node for any tree a u32 can number). Tarjan's offline
/// algorithm, used before, took a fifth of a fold: every pair stored to be answered out of
/// order, a depth-first walk and a union-find, then the answers read back at random.
struct CommonAncestors<'b> {
    /// Level `j` from `j * nodes`: at `i`, the shallowest node of positions `i .. i + 2^j`.
    table: Scratch<'b, u32>,
    depth: Scratch<'b, u32>,
    nodes: usize,
}

impl<'b> CommonAncestors<'b> {
    fn new(parent: &[u32], budget: &'b Budget) -> Result<Self, Refusal> {
        let nodes = parent.len();
        let mut depth = Scratch::filled(budget, nodes, 0u32)?;
        for (node, &above) in parent.iter().enumerate().skip(1) {
            depth.vec[node] = depth.vec[above as usize] + 1;
        }
        let levels = (usize::BITS - nodes.leading_zeros()) as usize;
        let mut table = Scratch::filled(budget, nodes.saturating_mul(levels), 0u32)?;
        for (node, slot) in table.vec.iter_mut().take(nodes).enumerate() {
            *slot = node as u32;
        }
        for level in 1..levels {
            let half = 1 << (level - 1);
            let (below, this) = table.vec.split_at_mut(level * nodes);
            let below = &below[(level - 1) * nodes..];
            for i in 0..=nodes - (1 << level) {
                let (a, b) = (below[i], below[i + half]);
                this[i] = if depth.vec[b as usize] < depth.vec[a as usize] { b } else { a };
            }
        }
        Ok(CommonAncestors { table, depth, nodes })
    }

    /// The lowest common ancestor of `a` and `b`, given where each node's subtree ends.
    fn of(&self, a: u32, b: u32, parent: &[u32], subtree_end: &[u32]) -> u32 {
        let (lo, hi) = if a < b { (a as usize, b as usize) } else { (b as usize, a as usize) };
        if hi < subtree_end[lo] as usize {
            return lo as u32;
        }
        let level = (usize::BITS - 1 - (hi - lo).leading_zeros()) as usize;
        let row = &self.table.vec[level * self.nodes..];
        let (x, y) = (row[lo + 1], row[hi + 1 - (1 << level)]);
        let shallowest = if self.depth.vec[y as usize] < self.depth.vec[x as usize] { y } else { x };
        parent[shallowest as usize]
    }
}

/// Memory a fold needs beyond what it interns: kept free while interning, so that a session
/// near its budget still folds the functions it knows rather than dropping whole profiles.
fn scratch_estimate(profile: &FlatProfile) -> usize {
    profile.node_count() * 192 + profile.samples.len() * 96 + profile.frames.len() * 64
}

/// Where the thread's previous profile left off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Continuation<'a> {
    /// The stack of its last sample, root first: a call still running is not counted again.
    pub stack: &'a [FuncId],
    /// Its end (µs): samples up to it were in that profile already.
    pub not_before_us: Option<i64>,
}

/// Folds `profile` after `continuation` (where this thread's previous profile ended), and with
/// `tags` also per-tag stats of the same samples; with `stalls` (a threshold set), the stalls of
/// the thread's loop too.
pub fn fold_tagged(
    profile: &FlatProfile,
    continuation: Continuation<'_>,
    functions: &FunctionTable,
    budget: &Budget,
    options: &FoldOptions,
    tags: Option<&TagInput>,
    stalls: Option<&mut StallWatch>,
) -> Result<ProfileDelta, ProfileError> {
    let stalls = stalls.filter(|watch| watch.threshold_ns > 0);
    let previous_stack = continuation.stack;
    profile.validate()?;
    let headroom = scratch_estimate(profile);
    if let Err(refusal) = budget.charge(headroom) {
        count_unknown_functions(profile, functions, options);
        return Err(refusal.into());
    }
    let roles = frame_roles(profile, functions, budget, options);
    budget.release(headroom);
    let (roles, kinds) = roles?;
    let mut tree = effective_tree(profile, &roles, &kinds.vec, budget, options.focus.is_some())?;
    drop(roles);
    let weights = sample_weights(profile, &kinds.vec, budget, options, continuation.not_before_us, tags.is_some() || stalls.is_some())?;
    let builtins = builtins_node(&mut tree, profile, &weights, functions, budget)?;
    let nodes = tree.parent.vec.len();
    let subtree_end = subtree_ends(&tree.parent.vec, budget)?;
    let is_within = |node: u32, ancestor: u32| ancestor <= node && node < subtree_end.vec[ancestor as usize];

    let mut totals = ThreadTotals { profiles: 1, ..ThreadTotals::default() };
    let mut self_ns = Scratch::filled(budget, nodes, 0u64)?;
    let mut self_samples = Scratch::filled(budget, nodes, 0u64)?;
    let mut entries = Scratch::filled(budget, nodes, 0i64)?;
    let ancestors = CommonAncestors::new(&tree.parent.vec, budget)?;
    let mut previous: Option<u32> = None;
    let mut previous_idle = false;
    let mut anchor = Anchor::PreviousProfile;
    let mut traced: Scratch<'_, Traced> = Scratch::empty(budget);
    let mut charged = Scratch::filled(budget, if stalls.is_some() { profile.samples.len() } else { 0 }, UNCHARGED)?;
    for (k, &node) in profile.samples.iter().enumerate() {
        if weights.repeated.vec[k] {
            continue;
        }
        if tree.ours.vec[node as usize] {
            // The profiler's own work on this thread: not the application's, and the function it
            // interrupted goes on (no call ends or begins here).
            totals.profiler_samples += 1;
            totals.profiler_ns = totals.profiler_ns.saturating_add(weights.ns(k));
            totals.wall_ns = totals.wall_ns.saturating_add(weights.wall_ns.vec[k]);
            let cpu_ns = weights.cpu_ns(k);
            totals.cpu_ns = totals.cpu_ns.saturating_add(cpu_ns);
            if options.cpu_time_ns.is_none() {
                totals.cpu_estimated_ns = totals.cpu_estimated_ns.saturating_add(cpu_ns);
            }
            continue;
        }
        totals.max_gap_ns = totals.max_gap_ns.max(weights.wall_ns.vec[k]);
        let mut effective = tree.of_node.vec[node as usize];
        let charged_to_previous = weights.interruption.vec[k] && effective == ROOT;
        if charged_to_previous {
            // Hidden GC or VM work interrupted whatever ran before it: charge that. After idle
            // samples nothing was interrupted: the thread woke up to VM work of its own.
            effective = previous.filter(|_| !previous_idle).unwrap_or(ROOT);
        }
        if effective == ROOT {
            effective = builtins;
        }
        if effective == OUTSIDE {
            previous = None;
            anchor = Anchor::Node(ROOT);
            continue;
        }
        let weight = weights.ns(k);
        totals.samples += 1;
        // Times saturate: a profile may claim gaps that no sum of nanoseconds can hold.
        totals.wall_ns = totals.wall_ns.saturating_add(weights.wall_ns.vec[k]);
        let cpu_ns = weights.cpu_ns(k);
        totals.cpu_ns = totals.cpu_ns.saturating_add(cpu_ns);
        if options.cpu_time_ns.is_none() {
            // Unmeasured: busy wall time stands in for the thread's CPU time.
            totals.cpu_estimated_ns = totals.cpu_estimated_ns.saturating_add(cpu_ns);
        }
        if weights.idle.vec[k] {
            totals.idle_samples += 1;
            totals.idle_ns = totals.idle_ns.saturating_add(weights.wall_ns.vec[k]);
        }
        if effective == REFUSED {
            // A stack we cannot see proves no call returned: the anchor stays.
            totals.dropped_samples += 1;
            previous = None;
            continue;
        }
        self_ns.vec[effective as usize] = self_ns.vec[effective as usize].saturating_add(weight);
        self_samples.vec[effective as usize] += 1;
        if let Some(slot) = charged.vec.get_mut(k) {
            *slot = effective;
        }
        if weights.interruption.vec[k] {
            if tags.is_some() {
                traced.push(Traced { sample: k as u32, node: effective, stop: None, charged_to_previous })?;
            }
            continue;
        }
        previous = Some(effective);
        previous_idle = weights.idle.vec[k];
        // A stack that is the anchor's or a prefix of it may have lost its top frames (V8 drops
        // the frame that made a native call), and one with no visible frame may have lost them
        // all: neither proves that a call returned, so neither counts a call.
        let stop = match anchor {
            _ if effective == builtins => None,
            Anchor::Node(before) if is_within(before, effective) => None,
            Anchor::Node(before) => {
                let common = ancestors.of(before, effective, &tree.parent.vec, &subtree_end.vec);
                entries.vec[effective as usize] += 1;
                entries.vec[common as usize] -= 1;
                anchor = Anchor::Node(effective);
                Some(common)
            }
            Anchor::PreviousProfile => {
                let continued = shared_prefix(&tree, effective, previous_stack, budget)?;
                if continued == effective {
                    None
                } else {
                    entries.vec[effective as usize] += 1;
                    entries.vec[continued as usize] -= 1;
                    anchor = Anchor::Node(effective);
                    Some(continued)
                }
            }
        };
        if tags.is_some() {
            traced.push(Traced { sample: k as u32, node: effective, stop, charged_to_previous: false })?;
        }
    }

    drop(ancestors);
    let tag_stats = match tags {
        Some(input) => {
            let view = TreeView { parent: &tree.parent.vec, func: &tree.func.vec };
            Some(fold_tags(&view, &traced.vec, &weights.per_sample(), input, budget)?)
        }
        None => None,
    };
    drop(traced);

    let mut inclusive_ns = Scratch::filled(budget, nodes, 0u64)?;
    inclusive_ns.vec.copy_from_slice(&self_ns.vec);
    let mut inclusive_samples = Scratch::filled(budget, nodes, 0u64)?;
    inclusive_samples.vec.copy_from_slice(&self_samples.vec);
    for node in (1..nodes).rev() {
        let parent = tree.parent.vec[node] as usize;
        inclusive_ns.vec[parent] = inclusive_ns.vec[parent].saturating_add(inclusive_ns.vec[node]);
        inclusive_samples.vec[parent] += inclusive_samples.vec[node];
        entries.vec[parent] += entries.vec[node];
    }

    let per_node = PerNode {
        self_ns: &self_ns.vec,
        self_samples: &self_samples.vec,
        inclusive_ns: &inclusive_ns.vec,
        inclusive_samples: &inclusive_samples.vec,
        entries: &entries.vec,
    };
    let (funcs, edges) = aggregate(&tree, &per_node, budget)?;
    let paths = paths_of(&tree, &per_node, budget)?;
    let last_stack = match anchor {
        Anchor::Node(node) => stack_of(&tree, node, budget)?,
        Anchor::PreviousProfile => copy_stack(previous_stack, budget)?,
    };
    let found = match stalls {
        Some(watch) => {
            let samples =
                StallSamples { weights: weights.per_sample(), repeated: &weights.repeated.vec, charged: &charged.vec, start_us: profile.start_time };
            detect(watch, &samples, &TreeView { parent: &tree.parent.vec, func: &tree.func.vec }, tags, budget)
        }
        None => Vec::new(),
    };
    Ok(ProfileDelta { totals, funcs, edges, last_stack, paths, tags: tag_stats, stalls: found })
}

/// The deepest stack that the calls counted so far may still be running on.
#[derive(Clone, Copy)]
enum Anchor {
    /// The last stack of the thread's previous profile: nothing of this one yet.
    PreviousProfile,
    Node(u32),
}

/// The row of samples that show no frame (Node internals, natives, or VM and GC work with
/// nothing before it to charge it to): part of the thread's time, so its function times add up
/// to its wall time. It is a leaf under the root, appended last, so the tree stays in preorder;
/// `ROOT` when no sample needs it.
fn builtins_node(tree: &mut Tree<'_>, profile: &FlatProfile, weights: &Weights<'_>, functions: &FunctionTable, budget: &Budget) -> Result<u32, ProfileError> {
    let needed = profile.samples.iter().zip(&weights.repeated.vec).any(|(&node, &repeated)| {
        !repeated && !tree.ours.vec[node as usize] && tree.of_node.vec[node as usize] == ROOT
    });
    if !needed {
        return Ok(ROOT);
    }
    let Ok(func) = functions.intern(BUILTINS_KEY, budget) else { return Ok(REFUSED) };
    let index = tree.parent.vec.len() as u32;
    tree.parent.push(ROOT)?;
    tree.func.push(func)?;
    Ok(index)
}

/// One past the last node of each node's subtree, in a tree numbered in preorder.
fn subtree_ends<'b>(parent: &[u32], budget: &'b Budget) -> Result<Scratch<'b, u32>, Refusal> {
    let mut size = Scratch::filled(budget, parent.len(), 1u32)?;
    for node in (1..parent.len()).rev() {
        let above = parent[node] as usize;
        size.vec[above] += size.vec[node];
    }
    for (node, end) in size.vec.iter_mut().enumerate() {
        *end += node as u32;
    }
    Ok(size)
}

/// Node `n` of the effective tree is `paths[n - 1]`; its parent index counts the same way.
fn paths_of(tree: &Tree<'_>, per_node: &PerNode<'_>, budget: &Budget) -> Result<Vec<PathStat>, Refusal> {
    let nodes = tree.parent.vec.len();
    let mut paths = Vec::new();
    budget.grow(&mut paths, nodes.saturating_sub(1))?;
    for node in 1..nodes {
        let entries = per_node.entries[node].max(0) as u64;
        paths.push(PathStat {
            parent: tree.parent.vec[node],
            func: tree.func.vec[node],
            stats: CallStats {
                ncall: entries,
                nactual: entries,
                ttot_ns: per_node.inclusive_ns[node],
                tsub_ns: per_node.self_ns[node],
                samples: per_node.self_samples[node],
                samples_total: per_node.inclusive_samples[node],
            },
        });
    }
    budget.forget(&paths);
    Ok(paths)
}

struct PerNode<'a> {
    self_ns: &'a [u64],
    self_samples: &'a [u64],
    inclusive_ns: &'a [u64],
    inclusive_samples: &'a [u64],
    entries: &'a [i64],
}

/// The node at the end of the longest prefix `node`'s stack shares with `previous`.
fn shared_prefix(tree: &Tree<'_>, node: u32, previous: &[FuncId], budget: &Budget) -> Result<u32, Refusal> {
    let mut path = Scratch::empty(budget);
    let mut at = node;
    while at != ROOT {
        path.push(at)?;
        at = tree.parent.vec[at as usize];
    }
    let mut shared = ROOT;
    for (depth, &on_path) in path.vec.iter().rev().enumerate() {
        if previous.get(depth) != Some(&tree.func.vec[on_path as usize]) {
            break;
        }
        shared = on_path;
    }
    Ok(shared)
}

fn stack_of(tree: &Tree<'_>, node: u32, budget: &Budget) -> Result<Vec<FuncId>, Refusal> {
    let mut stack = Vec::new();
    let mut at = node;
    while at != ROOT {
        budget.push(&mut stack, tree.func.vec[at as usize])?;
        at = tree.parent.vec[at as usize];
    }
    stack.reverse();
    budget.forget(&stack);
    Ok(stack)
}

fn copy_stack(stack: &[FuncId], budget: &Budget) -> Result<Vec<FuncId>, Refusal> {
    let mut copy = Vec::new();
    budget.grow(&mut copy, stack.len())?;
    copy.extend_from_slice(stack);
    budget.forget(&copy);
    Ok(copy)
}

/// Sums nodes into functions and edges, counting recursion once.
fn aggregate(
    tree: &Tree<'_>,
    per_node: &PerNode<'_>,
    budget: &Budget,
) -> Result<(StatsTable<FuncId>, StatsTable<EdgeKey>), Refusal> {
    let nodes = tree.parent.vec.len();
    let mut func_slots: BudgetMap<'_, FuncId, u32> = BudgetMap::with_capacity(nodes, budget)?;
    let mut edge_slots: BudgetMap<'_, EdgeKey, u32> = BudgetMap::with_capacity(nodes, budget)?;
    let (func_slot, edge_slot) = (&mut func_slots.map, &mut edge_slots.map);
    let mut node_func = Scratch::filled(budget, nodes, 0u32)?;
    let mut node_edge = Scratch::filled(budget, nodes, u32::MAX)?;
    for node in 1..nodes {
        let func = tree.func.vec[node];
        let next = func_slot.len() as u32;
        node_func.vec[node] = *func_slot.entry(func).or_insert(next);
        let parent = tree.parent.vec[node];
        if parent != ROOT {
            let key = (tree.func.vec[parent as usize], func);
            let next = edge_slot.len() as u32;
            node_edge.vec[node] = *edge_slot.entry(key).or_insert(next);
        }
    }
    let mut funcs = Scratch::filled(budget, func_slot.len(), CallStats::default())?;
    let mut edges = Scratch::filled(budget, edge_slot.len(), CallStats::default())?;
    let mut active_funcs = Scratch::filled(budget, func_slot.len(), 0u32)?;
    let mut active_edges = Scratch::filled(budget, edge_slot.len(), 0u32)?;
    let children = Children::of(&tree.parent.vec, budget)?;
    let mut stack: Scratch<'_, (u32, u32)> = Scratch::empty(budget);
    stack.push((ROOT, 0))?;
    while let Some(top) = stack.vec.last_mut() {
        let (node, next_child) = *top;
        if let Some(&child) = children.of_node(node).get(next_child as usize) {
            top.1 += 1;
            enter(child as usize, per_node, &node_func.vec, &node_edge.vec, &mut active_funcs.vec, &mut active_edges.vec, &mut funcs.vec, &mut edges.vec);
            stack.push((child, 0))?;
            continue;
        }
        stack.vec.pop();
        if node != ROOT {
            active_funcs.vec[node_func.vec[node as usize] as usize] -= 1;
            if let Some(active) = active_edges.vec.get_mut(node_edge.vec[node as usize] as usize) {
                *active -= 1;
            }
        }
    }
    let func_table = sorted_table(func_slot.iter().map(|(&func, &slot)| (func, funcs.vec[slot as usize])), func_slot.len(), budget)?;
    let edge_table = sorted_table(edge_slot.iter().map(|(&key, &slot)| (key, edges.vec[slot as usize])), edge_slot.len(), budget)?;
    Ok((func_table, edge_table))
}

#[allow(clippy::too_many_arguments)]
fn enter(
    node: usize,
    per_node: &PerNode<'_>,
    node_func: &[u32],
    node_edge: &[u32],
    active_funcs: &mut [u32],
    active_edges: &mut [u32],
    funcs: &mut [CallStats],
    edges: &mut [CallStats],
) {
    let entries = per_node.entries[node].max(0) as u64;
    let slot = node_func[node] as usize;
    let outermost = active_funcs[slot] == 0;
    active_funcs[slot] += 1;
    let func = &mut funcs[slot];
    func.ncall += entries;
    func.tsub_ns = func.tsub_ns.saturating_add(per_node.self_ns[node]);
    func.samples += per_node.self_samples[node];
    if outermost {
        func.nactual += entries;
        func.ttot_ns = func.ttot_ns.saturating_add(per_node.inclusive_ns[node]);
        func.samples_total += per_node.inclusive_samples[node];
    }
    let Some(edge_slot) = node_edge.get(node).map(|&e| e as usize).filter(|&e| e < edges.len()) else {
        return;
    };
    let edge_outermost = active_edges[edge_slot] == 0;
    active_edges[edge_slot] += 1;
    let edge = &mut edges[edge_slot];
    edge.ncall += entries;
    edge.tsub_ns = edge.tsub_ns.saturating_add(per_node.self_ns[node]);
    edge.samples += per_node.self_samples[node];
    if outermost {
        edge.nactual += entries;
    }
    if edge_outermost {
        edge.ttot_ns = edge.ttot_ns.saturating_add(per_node.inclusive_ns[node]);
        edge.samples_total += per_node.inclusive_samples[node];
    }
}

fn sorted_table<K: Ord + Copy>(
    rows: impl Iterator<Item = (K, CallStats)>,
    len: usize,
    budget: &Budget,
) -> Result<StatsTable<K>, Refusal> {
    let mut table = Vec::new();
    budget.grow(&mut table, len)?;
    table.extend(rows.filter(|(_, stats)| *stats != CallStats::default()));
    table.sort_unstable_by_key(|(key, _)| *key);
    budget.forget(&table);
    Ok(table)
}

impl From<TryReserveError> for ProfileError {
    fn from(error: TryReserveError) -> Self {
        ProfileError::Refused(error.into())
    }
}

#[cfg(test)]
mod tests;
