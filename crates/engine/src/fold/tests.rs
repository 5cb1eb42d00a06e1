use std::collections::HashMap;

use super::*;
use crate::tables::tags::{NO_TAG, TagId, TagInput};
use crate::testing::profile;

/// Folds `profile` with no tags or stalls; `previous_stack` is the last stack of this thread's
/// previous profile.
fn fold(
    profile: &FlatProfile,
    previous_stack: &[FuncId],
    functions: &FunctionTable,
    budget: &Budget,
    options: &FoldOptions,
) -> Result<ProfileDelta, ProfileError> {
    fold_tagged(profile, Continuation { stack: previous_stack, not_before_us: None }, functions, budget, options, None, None)
}

struct Folded {
    funcs: HashMap<String, CallStats>,
    edges: HashMap<(String, String), CallStats>,
    delta: ProfileDelta,
}

fn fold_with(flat: &FlatProfile, previous: &[FuncId], table: &FunctionTable, options: &FoldOptions) -> Folded {
    let budget = Budget::new(usize::MAX);
    let delta = fold(flat, previous, table, &budget, options).unwrap();
    let retained = budget.used();
    fold(flat, previous, table, &budget, options).unwrap();
    assert_eq!(budget.used(), retained, "a second fold interns nothing and returns its scratch");
    let name = |id: FuncId| table.get(id).unwrap().name.clone();
    Folded {
        funcs: delta.funcs.iter().map(|(id, s)| (name(*id), *s)).collect(),
        edges: delta.edges.iter().map(|((a, b), s)| ((name(*a), name(*b)), *s)).collect(),
        delta,
    }
}

fn folded(samples: &[(&[&str], i64)]) -> Folded {
    fold_with(&profile(samples), &[], &FunctionTable::default(), &FoldOptions::default())
}

/// (ttot, tsub) in µs.
fn times(stats: &CallStats) -> (u64, u64) {
    (stats.ttot_ns / 1000, stats.tsub_ns / 1000)
}

impl Folded {
    fn func(&self, name: &str) -> CallStats {
        *self.funcs.get(name).unwrap_or_else(|| panic!("no function {name} in {:?}", self.funcs.keys()))
    }

    fn edge(&self, caller: &str, callee: &str) -> CallStats {
        *self.edges.get(&(caller.to_string(), callee.to_string())).unwrap_or_else(|| panic!("no edge {caller}->{callee}"))
    }
}

/// yappi's deterministic recursion vectors: a stack deepening one frame per sample, each
/// sample weighted by the frame's self time, folds to yappi's exact numbers.
#[test]
fn yappi_recursion_vectors() {
    // abcd: a1 6, b1 5, c1 3, d1 1
    let f = folded(&[(&["a"], 1), (&["a", "b"], 2), (&["a", "b", "c"], 2), (&["a", "b", "c", "d"], 1)]);
    assert_eq!(times(&f.func("a")), (6, 1));
    assert_eq!(times(&f.func("b")), (5, 2));
    assert_eq!(times(&f.func("c")), (3, 2));
    assert_eq!(times(&f.func("d")), (1, 1));
    assert_eq!(times(&f.edge("a", "b")), (5, 2));
    assert_eq!(times(&f.edge("b", "c")), (3, 2));
    assert_eq!(times(&f.edge("c", "d")), (1, 1));

    // aaaa: d1 9, d2 7, d3 3, d4 2
    let f = folded(&[(&["d"], 2), (&["d", "d"], 4), (&["d", "d", "d"], 1), (&["d", "d", "d", "d"], 2)]);
    let d = f.func("d");
    assert_eq!((d.ncall, d.nactual, times(&d)), (4, 1, (9, 9)));
    let dd = f.edge("d", "d");
    assert_eq!((dd.ncall, dd.nactual, times(&dd)), (3, 0, (7, 7)));

    // abcadc: a1 20, b1 19, c1 17, a2 13, d1 12, c2 10, a3 5
    let stacks: [&[&str]; 7] = [
        &["a"],
        &["a", "b"],
        &["a", "b", "c"],
        &["a", "b", "c", "a"],
        &["a", "b", "c", "a", "d"],
        &["a", "b", "c", "a", "d", "c"],
        &["a", "b", "c", "a", "d", "c", "a"],
    ];
    let f = folded(&stacks.iter().copied().zip([1, 2, 4, 1, 2, 5, 5]).collect::<Vec<_>>());
    let a = f.func("a");
    assert_eq!((a.ncall, a.nactual, times(&a)), (3, 1, (20, 7)));
    assert_eq!(times(&f.func("b")), (19, 2));
    assert_eq!(times(&f.func("c")), (17, 9));
    assert_eq!(times(&f.func("d")), (12, 2));
    let ca = f.edge("c", "a");
    assert_eq!((ca.ncall, ca.nactual, times(&ca)), (2, 0, (13, 6)));

    // abab: a1 13, b1 10, a2 6, b2 1
    let f = folded(&[(&["a"], 3), (&["a", "b"], 4), (&["a", "b", "a"], 5), (&["a", "b", "a", "b"], 1)]);
    assert_eq!(times(&f.func("a")), (13, 8));
    assert_eq!(times(&f.func("b")), (10, 5));
    let ab = f.edge("a", "b");
    assert_eq!((ab.ncall, ab.nactual, times(&ab)), (2, 1, (10, 5)));
    assert_eq!(times(&f.edge("b", "a")), (6, 5));

    // abbb: a1 13, b1 10, b2 6, b3 1
    let f = folded(&[(&["a"], 3), (&["a", "b"], 4), (&["a", "b", "b"], 5), (&["a", "b", "b", "b"], 1)]);
    let b = f.func("b");
    assert_eq!((b.ncall, b.nactual, times(&b)), (3, 1, (10, 10)));
    assert_eq!(times(&f.edge("a", "b")), (10, 4));
    let bb = f.edge("b", "b");
    assert_eq!((bb.ncall, bb.nactual, times(&bb)), (2, 0, (6, 6)));
}

#[test]
fn weights_are_measured_gaps_and_sum_to_wall_time() {
    let f = folded(&[(&["main", "a"], 700), (&["main", "b"], 200), (&["main"], 100)]);
    assert_eq!(times(&f.func("main")), (1000, 100));
    assert_eq!(times(&f.func("a")), (700, 700));
    assert_eq!(times(&f.func("b")), (200, 200));
    assert_eq!(f.delta.totals.wall_ns, 1_000_000);
    assert_eq!(f.delta.totals.samples, 3);
}

#[test]
fn estimated_calls_count_entries_between_samples() {
    // main stays; a is entered three times, b twice (once right after a, once after main).
    let f = folded(&[
        (&["main", "a"], 1),
        (&["main", "a"], 1),
        (&["main", "b"], 1),
        (&["main", "a"], 1),
        (&["main"], 1),
        (&["main", "b"], 1),
        (&["main", "a"], 1),
    ]);
    assert_eq!(f.func("main").ncall, 1);
    assert_eq!(f.func("a").ncall, 3);
    assert_eq!(f.func("b").ncall, 2);
    assert_eq!(f.edge("main", "a").ncall, 3);
    assert_eq!(f.func("a").samples, 4);
}

#[test]
fn garbage_collection_under_the_root_does_not_end_the_running_calls() {
    let f = folded(&[(&["main", "a"], 1), (&["(garbage collector)"], 1), (&["main", "a"], 1), (&["(program)"], 1), (&["main", "b"], 1)]);
    assert_eq!(f.func("main").ncall, 1);
    assert_eq!(f.func("a").ncall, 1);
    assert_eq!(f.func("b").ncall, 1);
    assert_eq!(times(&f.func("a")), (4, 4), "hidden GC and VM time is the interrupted function's");
}

#[test]
fn calls_continue_across_profiles_of_a_thread() {
    let table = FunctionTable::default();
    let options = FoldOptions::default();
    let first = fold_with(&profile(&[(&["main", "a"], 5)]), &[], &table, &options);
    let second = fold_with(&profile(&[(&["main", "a"], 5), (&["main", "b"], 5)]), &first.delta.last_stack, &table, &options);
    assert_eq!(second.func("main").ncall, 0, "main was running before this profile");
    assert_eq!(second.func("a").ncall, 0, "a was running before this profile");
    assert_eq!(second.func("b").ncall, 1);
}

/// V8 drops the frame that made a native call (a fast API call such as `Date.now()` in
/// optimized code): `hashLoop`, called once, is seen as `main` alone now and then. Neither that
/// nor a sample with no visible frame may count as `hashLoop` returning and being called again.
#[test]
fn a_stack_that_lost_its_top_frames_counts_no_call() {
    let f = folded(&[
        (&["main", "hashLoop"], 1),
        (&["main"], 1),
        (&["main", "hashLoop"], 1),
        (&["node_timers"], 1),
        (&["main", "hashLoop"], 1),
        (&["main", "hashLoop", "inner"], 1),
        (&["main"], 1),
        (&["main", "hashLoop"], 1),
    ]);
    assert_eq!((f.func("main").ncall, f.func("hashLoop").ncall, f.func("inner").ncall), (1, 1, 1));
    assert_eq!(f.edge("main", "hashLoop").ncall, 1);
    // A stack that branches off elsewhere does prove a return.
    let f = folded(&[(&["main", "hashLoop"], 1), (&["main"], 1), (&["main", "other"], 1), (&["main", "hashLoop"], 1), (&["(idle)"], 1), (&["main"], 1)]);
    assert_eq!((f.func("main").ncall, f.func("hashLoop").ncall, f.func("other").ncall), (2, 2, 1));
}

#[test]
fn a_prefix_at_the_start_of_a_profile_continues_the_previous_stack() {
    let table = FunctionTable::default();
    let options = FoldOptions::default();
    let first = fold_with(&profile(&[(&["main", "a", "b"], 5)]), &[], &table, &options);
    let second = fold_with(&profile(&[(&["main"], 5), (&["main", "a"], 5), (&["main", "a", "b"], 5)]), &first.delta.last_stack, &table, &options);
    assert_eq!((second.func("main").ncall, second.func("a").ncall, second.func("b").ncall), (0, 0, 0));
    let name = |id: &FuncId| table.get(*id).unwrap().name.clone();
    assert_eq!(second.delta.last_stack.iter().map(name).collect::<Vec<_>>(), ["main", "a", "b"], "the anchor is handed on");
}

/// With builtins hidden, a sample whose stack shows nothing else (module loading, timer lists,
/// a VM interruption with nothing before it) still took the thread's time: one row holds it.
#[test]
fn samples_with_no_visible_frame_are_the_builtins_row_and_times_add_up() {
    let samples: &[(&[&str], i64)] = &[
        (&["(program)"], 7),
        (&["node_load"], 100),
        (&["node_load", "work"], 50),
        (&["(garbage collector)"], 3),
        (&["node_timers"], 40),
        (&["(idle)"], 200),
        (&["(program)"], 5),
    ];
    let f = folded(samples);
    assert_eq!(times(&f.func(crate::fold::BUILTINS_NAME)), (152, 152), "VM work after idle interrupted nothing");
    assert_eq!(times(&f.func("(idle)")).1 * 1000, f.delta.totals.idle_ns, "the idle row is the idle time");
    assert_eq!(f.func(crate::fold::BUILTINS_NAME).ncall, 0, "no call is counted for it");
    assert_eq!(times(&f.func("work")), (53, 53), "GC after work interrupted work");
    let self_ns: u64 = f.delta.funcs.iter().map(|(_, stats)| stats.tsub_ns).sum();
    assert_eq!(self_ns, f.delta.totals.wall_ns, "self times, idle included, add up to the wall time");
    assert!(f.delta.paths.iter().any(|path| path.parent == 0 && path.stats.tsub_ns == 152_000), "and it is a call path for the exports");

    let options = FoldOptions { show_builtins: true, ..FoldOptions::default() };
    let shown = fold_with(&profile(samples), &[], &FunctionTable::default(), &options);
    assert!(!shown.funcs.contains_key(crate::fold::BUILTINS_NAME), "shown builtins have rows of their own");
    assert!(!folded(&[(&["main"], 5)]).funcs.contains_key(crate::fold::BUILTINS_NAME));
}

#[test]
fn idle_is_thread_time_not_a_function_time() {
    let f = folded(&[(&["work"], 300), (&["(idle)"], 700)]);
    assert_eq!(f.delta.totals.idle_ns, 700_000);
    assert_eq!(f.delta.totals.idle_samples, 1);
    assert_eq!(times(&f.func("work")), (300, 300));
}

#[test]
fn builtins_fold_into_their_caller_unless_asked_for() {
    let samples: &[(&[&str], i64)] = &[(&["main", "node_read"], 40), (&["main", "node_read", "callback"], 60)];
    let hidden = folded(samples);
    assert_eq!(times(&hidden.func("main")), (100, 40));
    assert_eq!(times(&hidden.edge("main", "callback")), (60, 60));
    assert!(!hidden.funcs.contains_key("node_read"));

    let options = FoldOptions { show_builtins: true, ..FoldOptions::default() };
    let shown = fold_with(&profile(samples), &[], &FunctionTable::default(), &options);
    assert_eq!(times(&shown.func("node_read")), (100, 40));
    assert_eq!(times(&shown.func("main")), (100, 0));
}

/// The profiler's work on an application thread (a rotation V8 runs for it, a read) is cut
/// out of the thread's stats: the function it interrupted keeps only its own time, nothing
/// counts as a call, builtins the profiler calls are its too, and user callbacks it calls
/// (a sort key, a filter) stay the application's.
#[test]
fn the_profilers_own_work_is_cut_out_of_the_stats() {
    let options = FoldOptions {
        own_code: OwnCode { url_prefixes: vec!["file:///yappi/".into()] },
        show_builtins: true,
        ..FoldOptions::default()
    };
    let samples: &[(&[&str], i64)] = &[
        (&["main"], 10),
        (&["main", "own_rotate"], 30),
        (&["main", "own_rotate", "node_stringify"], 20),
        (&["main"], 10),
        (&["main", "own_read", "callback"], 30),
    ];
    let f = fold_with(&profile(samples), &[], &FunctionTable::default(), &options);
    assert_eq!(times(&f.func("main")), (50, 20));
    assert_eq!(f.func("main").ncall, 1, "main was interrupted, not called again");
    assert!(!f.funcs.contains_key("own_rotate") && !f.funcs.contains_key("node_stringify"));
    assert_eq!(times(&f.edge("main", "callback")), (30, 30));
    assert_eq!((f.delta.totals.profiler_ns, f.delta.totals.profiler_samples), (50_000, 2));
    assert_eq!(f.delta.totals.wall_ns, 100_000, "the thread's wall time still covers the profiler's work");
}

/// Profiles that overlap in time share their samples: a sample up to the previous profile's
/// end is counted once.
#[test]
fn samples_already_in_the_previous_profile_are_not_counted_again() {
    let table = FunctionTable::default();
    let budget = Budget::new(usize::MAX);
    let mut flat = profile(&[(&["a"], 10), (&["a"], 10), (&["b"], 10), (&["b"], 10)]);
    // Samples at 1000, 1010, 1020, 1030; the previous profile ended at 1010.
    let continuation = Continuation { stack: &[], not_before_us: Some(1_010) };
    let delta = fold_tagged(&flat, continuation, &table, &budget, &FoldOptions::default(), None, None).unwrap();
    let by_name = |name: &str| delta.funcs.iter().find(|(id, _)| table.get(*id).unwrap().name == name).map(|(_, s)| *s).unwrap_or_default();
    assert_eq!(by_name("a").ttot_ns, 0, "both samples of a were before the previous end");
    assert_eq!(by_name("b").ttot_ns, 30_000, "b's first sample also covers the gap from the previous end");
    assert_eq!(delta.totals.wall_ns, 30_000);
    flat.start_time = 2_000;
    flat.end_time = 2_040;
    let later = Continuation { stack: &[], not_before_us: Some(1_040) };
    assert_eq!(fold_tagged(&flat, later, &table, &budget, &FoldOptions::default(), None, None).unwrap().totals.wall_ns, 40_000);
}

#[test]
fn focus_keeps_only_the_subtree_under_the_focus_frame() {
    let options = FoldOptions {
        focus: Some(FocusFrame { name: "own_run".into(), url: "file:///yappi/dist/x.js".into() }),
        own_code: OwnCode { url_prefixes: vec!["file:///yappi/".into()] },
        ..FoldOptions::default()
    };
    let samples: &[(&[&str], i64)] = &[
        (&["test", "caller"], 50),
        (&["test", "caller", "own_run", "fn"], 30),
        (&["test", "caller", "own_run", "fn", "inner"], 20),
        (&["(idle)"], 100),
    ];
    let f = fold_with(&profile(samples), &[], &FunctionTable::default(), &options);
    assert_eq!(times(&f.func("fn")), (50, 30));
    assert_eq!(times(&f.func("inner")), (20, 20));
    assert!(!f.funcs.contains_key("caller") && !f.funcs.contains_key("test"));
    assert_eq!(f.delta.totals.wall_ns, 50_000);
}

#[test]
fn cpu_clock_scales_busy_samples_to_measured_cpu_time() {
    let options = FoldOptions { cpu_time_ns: Some(150_000), cpu_clock: true, ..FoldOptions::default() };
    let f = fold_with(&profile(&[(&["a"], 100), (&["(idle)"], 800), (&["b"], 200)]), &[], &FunctionTable::default(), &options);
    assert_eq!(times(&f.func("a")), (50, 50));
    assert_eq!(times(&f.func("b")), (100, 100));
    assert_eq!(f.delta.totals.cpu_ns, 150_000);
    assert_eq!(f.delta.totals.cpu_estimated_ns, 0);
    assert_eq!(f.delta.totals.wall_ns, 1_100_000);
}

#[test]
fn the_wall_clock_keeps_wall_times_and_still_totals_the_measured_cpu_time() {
    let samples: &[(&[&str], i64)] = &[(&["a"], 100), (&["(idle)"], 800), (&["b"], 200)];
    let measured = FoldOptions { cpu_time_ns: Some(150_000), ..FoldOptions::default() };
    let f = fold_with(&profile(samples), &[], &FunctionTable::default(), &measured);
    assert_eq!(times(&f.func("a")), (100, 100));
    assert_eq!((f.delta.totals.cpu_ns, f.delta.totals.cpu_estimated_ns), (150_000, 0));
    let unmeasured = fold_with(&profile(samples), &[], &FunctionTable::default(), &FoldOptions::default());
    assert_eq!((unmeasured.delta.totals.cpu_ns, unmeasured.delta.totals.cpu_estimated_ns), (300_000, 300_000));
}

/// Stats of one tag from a tagged fold, by function name: (ncall, ttot µs, tsub µs).
fn tagged(delta: &ProfileDelta, table: &FunctionTable, tag: TagId) -> HashMap<String, (u64, u64, u64)> {
    let tags = delta.tags.as_ref().unwrap();
    tags.funcs
        .iter()
        .filter(|((t, _), _)| *t == tag)
        .map(|((_, id), s)| (table.get(*id).unwrap().name.clone(), (s.ncall, s.ttot_ns / 1000, s.tsub_ns / 1000)))
        .collect()
}

#[test]
fn tags_split_the_samples_by_the_switch_active_at_each_idle_ones_excepted() {
    // Samples at 1000, 1010, 1030, 1060, 1100 (µs); tag 1 from 1005, tag 2 from 1050.
    let samples: &[(&[&str], i64)] = &[
        (&["main"], 10),
        (&["main", "a"], 20),
        (&["main", "a", "b"], 30),
        (&["main", "a"], 40),
        (&["main", "c"], 50),
        (&["(idle)"], 30),
    ];
    let flat = profile(samples);
    let table = FunctionTable::default();
    let budget = Budget::new(usize::MAX);
    let input = TagInput { switches: vec![(1005, 1), (1050, 2)], carried: NO_TAG };
    let delta = fold_tagged(&flat, Continuation::default(), &table, &budget, &FoldOptions::default(), Some(&input), None).unwrap();
    let one = tagged(&delta, &table, 1);
    assert_eq!(one["main"], (0, 50, 0), "main was entered before tag 1 began");
    assert_eq!(one["a"], (1, 50, 20));
    assert_eq!(one["b"], (1, 30, 30));
    let two = tagged(&delta, &table, 2);
    assert_eq!(two["a"], (0, 40, 40), "the same call of a goes on under tag 2");
    assert_eq!(two["c"], (1, 50, 50));
    assert_eq!(two["main"].1, 90);
    let totals: Vec<_> = delta.tags.as_ref().unwrap().totals.iter().map(|(t, s)| (*t, s.wall_ns / 1000, s.samples)).collect();
    assert_eq!(totals, vec![(1, 50, 2), (2, 90, 2)], "waiting in the event loop belongs to no tag");
    // Untagged stats are the same as without tags.
    let plain = fold(&flat, &[], &table, &budget, &FoldOptions::default()).unwrap();
    assert_eq!(plain.funcs, delta.funcs);
    assert_eq!(plain.edges, delta.edges);
}

#[test]
fn tagged_recursion_counts_once_and_edges_follow_the_untagged_rules() {
    let samples: &[(&[&str], i64)] = &[(&["f", "g", "f"], 10), (&["f", "g", "f", "g"], 20), (&["f"], 30)];
    let flat = profile(samples);
    let table = FunctionTable::default();
    let budget = Budget::new(usize::MAX);
    let input = TagInput { switches: vec![], carried: 7 };
    let delta = fold_tagged(&flat, Continuation::default(), &table, &budget, &FoldOptions::default(), Some(&input), None).unwrap();
    let plain = fold(&flat, &[], &table, &budget, &FoldOptions::default()).unwrap();
    // Every sample is under tag 7, so its stats are the untagged ones.
    let tags = delta.tags.as_ref().unwrap();
    let funcs: Vec<_> = tags.funcs.iter().map(|((_, id), s)| (*id, *s)).collect();
    let edges: Vec<_> = tags.edges.iter().map(|((_, key), s)| (*key, *s)).collect();
    assert_eq!(funcs, plain.funcs);
    assert_eq!(edges, plain.edges);
    let retained = budget.used();
    fold_tagged(&flat, Continuation::default(), &table, &budget, &FoldOptions::default(), Some(&input), None).unwrap();
    assert_eq!(budget.used(), retained, "a tagged fold returns its scratch");
}

#[test]
fn functions_the_budget_refuses_drop_their_samples() {
    let names: Vec<String> = (0..400).map(|i| format!("a_function_with_a_rather_long_name_{i}")).collect();
    let stacks: Vec<[&str; 2]> = names.iter().map(|name| ["main", name.as_str()]).collect();
    let samples: Vec<(&[&str], i64)> = stacks.iter().map(|stack| (stack.as_slice(), 1)).collect();
    let flat = profile(&samples);
    let dry_run = Budget::new(usize::MAX);
    fold(&flat, &[], &FunctionTable::default(), &dry_run, &FoldOptions::default()).unwrap();
    let scratch = dry_run.peak() - dry_run.used();

    let table = FunctionTable::default();
    let tight = Budget::new(scratch + dry_run.used() / 2);
    let delta = fold(&flat, &[], &table, &tight, &FoldOptions::default()).unwrap();
    assert!(delta.totals.dropped_samples > 0 && delta.totals.dropped_samples < 400, "{:?}", delta.totals);
    assert_eq!(delta.totals.samples, 400);
    let main = delta.funcs.iter().find(|(id, _)| table.get(*id).unwrap().name == "main").unwrap().1;
    assert_eq!(main.samples_total + delta.totals.dropped_samples, 400, "kept and dropped samples add up");
}

/// A reference fold that walks every stack of every sample: slow, obviously right. A call is
/// counted when a stack leaves the anchor (the last stack that counted calls) other than by
/// being a prefix of it.
fn naive(flat: &FlatProfile) -> HashMap<String, (u64, u64, u64, u64)> {
    let mut stats: HashMap<String, (u64, u64, u64, u64)> = HashMap::new();
    let path = |node: u32| {
        let mut nodes = vec![];
        let mut at = node;
        while at != NO_PARENT {
            nodes.push(at);
            at = flat.node_parent[at as usize];
        }
        nodes.reverse();
        nodes.remove(0);
        nodes
    };
    let mut time = flat.start_time;
    let stamps: Vec<i64> = flat.time_deltas.iter().map(|d| { time += d; time }).collect();
    let mut anchor: Vec<u32> = vec![];
    for (k, &node) in flat.samples.iter().enumerate() {
        let next = stamps.get(k + 1).copied().unwrap_or(flat.end_time);
        let weight = (next - stamps[k] + if k == 0 { stamps[0] - flat.start_time } else { 0 }) as u64 * 1000;
        let nodes = path(node);
        let is_prefix = anchor.starts_with(&nodes);
        let shared = if is_prefix { nodes.len() } else { nodes.iter().zip(&anchor).take_while(|(a, b)| a == b).count() };
        let mut seen = vec![];
        for (depth, n) in nodes.iter().enumerate() {
            let name = flat.frames[flat.node_frame[*n as usize] as usize].name.clone();
            let entry = stats.entry(name.clone()).or_default();
            if depth >= shared {
                entry.0 += 1;
            }
            if !seen.contains(&name) {
                entry.1 += weight;
                seen.push(name);
            }
            if depth + 1 == nodes.len() {
                entry.2 += weight;
                entry.3 += 1;
            }
        }
        if !is_prefix {
            anchor = nodes;
        }
    }
    stats
}

#[test]
fn matches_the_naive_fold_on_random_trees() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let names = ["a", "b", "c", "d", "e"];
    for _ in 0..200 {
        let samples: Vec<(Vec<&str>, i64)> = (0..1 + random(40))
            .map(|_| ((0..1 + random(6)).map(|_| names[random(5) as usize]).collect(), 1 + random(9) as i64))
            .collect();
        let borrowed: Vec<(&[&str], i64)> = samples.iter().map(|(s, w)| (s.as_slice(), *w)).collect();
        let flat = profile(&borrowed);
        let expected = naive(&flat);
        let f = fold_with(&flat, &[], &FunctionTable::default(), &FoldOptions::default());
        for (name, (ncall, ttot, tsub, samples)) in expected {
            let got = f.func(&name);
            assert_eq!((got.ncall, got.ttot_ns, got.tsub_ns, got.samples), (ncall, ttot, tsub, samples), "{name} in {samples:?}");
        }
    }
}

#[test]
fn malformed_profiles_are_errors_not_panics() {
    let mut flat = profile(&[(&["a"], 1)]);
    flat.samples.push(99);
    flat.time_deltas.push(1);
    let error = fold(&flat, &[], &FunctionTable::default(), &Budget::new(usize::MAX), &FoldOptions::default()).unwrap_err();
    assert!(error.to_string().contains("sample 1 names node 99"), "{error}");
}

#[test]
fn source_maps_name_functions_by_their_original_place() {
    let maps: &'static SourceMaps = Box::leak(Box::default());
    // `work` sits on generated line 451 (see testing::frame); map it to line 11 of a.ts,
    // originally named `originalWork`. `main` (line 421) has no mapping and stays as it is.
    let mappings = format!("{}AAUAA", ";".repeat(451));
    let json = format!(r#"{{"version":3,"sources":["../src/a.ts"],"names":["originalWork"],"mappings":"{mappings}"}}"#);
    maps.register("file:///app/main.js", &json, "/app/dist/main.js.map").unwrap();
    let options = FoldOptions { source_maps: Some(maps), ..FoldOptions::default() };
    let table = FunctionTable::default();
    let f = fold_with(&profile(&[(&["main", "work"], 30), (&["main"], 70)]), &[], &table, &options);
    assert_eq!(times(&f.func("originalWork")), (30, 30));
    assert_eq!(times(&f.func("main")), (100, 70));
    let desc = |name: &str| (0..table.len() as FuncId).map(|id| table.get(id).unwrap()).find(|d| d.name == name).unwrap().clone();
    let work = desc("originalWork");
    assert_eq!((work.module.as_str(), work.line, work.column), ("/app/src/a.ts", 11, 1));
    let main = desc("main");
    assert_eq!((main.module.as_str(), main.line), ("/app/main.js", 422));
}
