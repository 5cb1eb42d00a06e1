use crate::export::{Format, render};
use crate::fold::FoldOptions;
use crate::fold::stalls::{Stall, StallFilter};
use crate::model::clock::Clock;
use crate::session::engine::{Engine, Owner, ThreadRef};
use crate::testing::profile_at;

const OWNER: Owner = Owner { thread: 0, all_threads: true };
const IDLE: &[&str] = &["(idle)"];
const BLOCK: &[&str] = &["main", "handler", "block"];
const FAST: &[&str] = &["main", "handler", "fast"];

/// `count` samples of each stack, 1 ms apart.
fn run<'a>(parts: &[(&'a [&'a str], usize)]) -> Vec<(&'a [&'a str], i64)> {
    parts.iter().flat_map(|&(stack, count)| std::iter::repeat_n((stack, 1_000), count)).collect()
}

fn engine(threshold_ms: u64, capacity: usize) -> Engine {
    let engine = Engine::new();
    engine.begin(Clock::Wall, 64 << 20, OWNER).unwrap();
    engine.watch_stalls(threshold_ms * 1_000_000, capacity);
    engine
}

/// Folds `samples` as thread `thread`'s next profile, starting where its last one ended.
fn ingest(engine: &Engine, thread: u32, samples: &[(&[&str], i64)]) -> u64 {
    let start = engine.read(|view| view.threads().find(|(shard, _)| shard.id == thread).and_then(|(shard, _)| shard.last_end_us()));
    let profile = profile_at(start.unwrap_or(1_000), samples);
    engine.ingest(ThreadRef { id: thread, name: "t" }, &profile, &FoldOptions::default()).unwrap().stalls
}

fn stalls(engine: &Engine) -> (Vec<Stall>, u64) {
    engine.read(|view| {
        view.session.stalls.read(|stalls, dropped| (stalls.cloned().collect(), dropped), &StallFilter::default(), |us| us as f64)
    })
}

fn name_of(engine: &Engine, func: u32) -> String {
    engine.read(|view| view.functions().get(func).unwrap().name.clone())
}

#[test]
fn a_blocked_loop_is_one_stall_with_its_function_and_path() {
    let engine = engine(100, 10);
    let recorded = ingest(&engine, 0, &run(&[(IDLE, 50), (FAST, 5), (IDLE, 50), (&["main", "handler"], 3), (BLOCK, 300), (IDLE, 50)]));
    assert_eq!(recorded, 1, "the 5 ms run is below the threshold");
    let (found, dropped) = stalls(&engine);
    assert_eq!((found.len(), dropped), (1, 0));
    let stall = &found[0];
    assert_eq!(stall.duration_ns, 303_000_000, "first busy sample to the next idle one");
    assert_eq!(stall.edge_gap_ns, 1_000_000);
    assert_eq!(stall.max_gap_ns, 1_000_000);
    assert_eq!(stall.samples, 303);
    let functions = stall.functions();
    assert_eq!(name_of(&engine, functions[0].0), "block");
    assert_eq!(functions[0].1, 300_000_000, "block's self time");
    let path: Vec<String> = stall.heaviest_path().into_iter().map(|f| name_of(&engine, f)).collect();
    assert_eq!(path, ["main", "handler", "block"]);
    assert!(!stall.cut);
}

#[test]
fn a_loop_that_only_waits_or_turns_quickly_records_nothing() {
    let engine = engine(100, 10);
    for _ in 0..5 {
        assert_eq!(ingest(&engine, 0, &run(&[(IDLE, 40), (FAST, 99), (IDLE, 1), (FAST, 20)])), 0);
    }
    assert_eq!(ingest(&engine, 0, &run(&[(IDLE, 400)])), 0);
    assert!(stalls(&engine).0.is_empty());
}

#[test]
fn program_and_gc_samples_inside_a_blocked_loop_do_not_split_it() {
    let engine = engine(100, 10);
    ingest(&engine, 0, &run(&[(IDLE, 5), (BLOCK, 60), (&["(program)"], 1), (BLOCK, 20), (&["(garbage collector)"], 2), (BLOCK, 60), (IDLE, 5)]));
    let (found, _) = stalls(&engine);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].duration_ns, 143_000_000);
    // GC and VM work under the root are charged to what they interrupted, as in the stats.
    assert_eq!(found[0].functions()[0].1, 143_000_000);
}

#[test]
fn a_stall_across_a_rotation_is_joined() {
    let engine = engine(100, 10);
    assert_eq!(ingest(&engine, 0, &run(&[(IDLE, 20), (BLOCK, 80)])), 0, "still open at the profile's end");
    assert_eq!(ingest(&engine, 0, &run(&[(BLOCK, 70), (IDLE, 20)])), 1);
    let (found, _) = stalls(&engine);
    assert_eq!(found.len(), 1, "one stall, not two halves below the threshold");
    assert_eq!(found[0].duration_ns, 150_000_000);
    assert_eq!(found[0].profiles, 2);
    assert_eq!(found[0].functions()[0].1, 150_000_000);
    assert_eq!(found[0].nodes.len(), 3, "the same path in both profiles is one node");
}

#[test]
fn a_stall_still_open_when_the_run_ends_is_recorded_cut() {
    let engine = engine(100, 10);
    ingest(&engine, 0, &run(&[(IDLE, 20), (BLOCK, 150)]));
    engine.end();
    engine.begin(Clock::Wall, 64 << 20, OWNER).unwrap();
    assert_eq!(ingest(&engine, 0, &run(&[(IDLE, 10), (FAST, 5), (IDLE, 10)])), 1);
    let (found, _) = stalls(&engine);
    assert_eq!(found.len(), 1);
    assert!(found[0].cut);
    assert_eq!(found[0].duration_ns, 149_000_000, "up to its last busy sample");
}

#[test]
fn the_ring_keeps_the_newest_and_counts_the_dropped() {
    let engine = engine(100, 2);
    for _ in 0..5 {
        ingest(&engine, 0, &run(&[(IDLE, 5), (BLOCK, 120), (IDLE, 5)]));
    }
    let (found, dropped) = stalls(&engine);
    assert_eq!(dropped, 3);
    let ids: Vec<u64> = found.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);
    let starts: Vec<i64> = found.iter().map(|s| s.start_us).collect();
    assert_eq!(starts[1] - starts[0], 130_000, "the last two stalls, one profile apart");
    engine.clear();
    let (after, dropped) = stalls(&engine);
    assert!(after.is_empty() && dropped == 0, "clearStats clears them");
}

#[test]
fn a_stall_takes_the_tag_that_ran_longest_in_it() {
    let engine = engine(100, 10);
    // Profile starts at 1000 µs; the blocked handler runs from 21 ms under "GET /block".
    let names = ["GET /block".to_string(), "GET /fast".to_string()];
    engine.record_tags(0, &names, &[(1_000 + 5_000, 1), (1_000 + 21_000, 0), (1_000 + 200_000, 1)]);
    ingest(&engine, 0, &run(&[(IDLE, 5), (FAST, 5), (IDLE, 10), (BLOCK, 150), (IDLE, 10)]));
    let (found, _) = stalls(&engine);
    assert_eq!(found[0].tag.as_deref(), Some("GET /block"));
}

#[test]
fn filters_select_by_thread_duration_and_start() {
    let engine = engine(100, 10);
    ingest(&engine, 0, &run(&[(IDLE, 5), (BLOCK, 120), (IDLE, 5)]));
    ingest(&engine, 3, &run(&[(IDLE, 5), (BLOCK, 250), (IDLE, 5)]));
    let count = |filter: StallFilter| engine.read(|view| view.session.stalls.read(|stalls, _| stalls.count(), &filter, |us| us as f64));
    assert_eq!(count(StallFilter::default()), 2);
    assert_eq!(count(StallFilter { threads: Some(vec![3]), ..StallFilter::default() }), 1);
    assert_eq!(count(StallFilter { min_duration_ns: 200_000_000, ..StallFilter::default() }), 1);
    assert_eq!(count(StallFilter { since_epoch_ms: Some(6_000.0 + 1.0), ..StallFilter::default() }), 0, "both started at 6000 µs");
    assert_eq!(count(StallFilter { since_epoch_ms: Some(6_000.0), ..StallFilter::default() }), 2);
}

#[test]
fn a_stall_renders_in_every_export_format() {
    let engine = engine(100, 10);
    ingest(&engine, 0, &run(&[(IDLE, 5), (&["main", "handler"], 10), (BLOCK, 290), (IDLE, 5)]));
    let (found, _) = stalls(&engine);
    let report = engine.read(|view| crate::session::report::Report::of_stall(&found[0], view.functions(), view.clock())).unwrap();
    let collapsed = String::from_utf8(render(&report, Format::Collapsed).unwrap()).unwrap();
    assert!(collapsed.contains(";block (/app/main.js:524) 290000\n"), "the stall's flame graph, in µs: {collapsed}");
    for format in [Format::Pprof, Format::Callgrind, Format::Cpuprofile, Format::Speedscope, Format::Json] {
        assert!(!render(&report, format).unwrap().is_empty());
    }
    let block = report.functions.iter().position(|f| f.name == "block").unwrap() as u32;
    let (_, stats) = report.threads[0].funcs.iter().find(|(f, _)| *f == block).unwrap();
    assert_eq!(stats.tsub_ns, 290_000_000);
}

#[test]
fn stall_memory_is_charged_and_given_back() {
    let engine = engine(100, 1);
    let used = || engine.read(|view| view.budget().used());
    ingest(&engine, 0, &run(&[(IDLE, 5), (BLOCK, 120), (IDLE, 5)]));
    ingest(&engine, 0, &run(&[(IDLE, 5), (BLOCK, 120), (IDLE, 5)]));
    let settled = used();
    for _ in 0..10 {
        ingest(&engine, 0, &run(&[(IDLE, 5), (BLOCK, 120), (IDLE, 5)]));
    }
    assert_eq!(used(), settled, "each stall pushed out gives its bytes back");
}

#[test]
fn forgetting_a_thread_forgets_its_open_stall() {
    let engine = engine(100, 10);
    ingest(&engine, 0, &run(&[(IDLE, 5), (BLOCK, 90)]));
    engine.forget_thread(0);
    // Without the forget, the 90 ms before would join these 50 ms into one 140 ms stall.
    assert_eq!(ingest(&engine, 0, &run(&[(BLOCK, 50), (IDLE, 5)])), 0);
    assert!(stalls(&engine).0.is_empty());
}

#[test]
fn a_stall_without_a_threshold_or_ring_is_not_recorded() {
    let off = engine(0, 10);
    assert_eq!(ingest(&off, 0, &run(&[(IDLE, 5), (BLOCK, 300), (IDLE, 5)])), 0);
    let no_room = engine(100, 0);
    assert_eq!(ingest(&no_room, 0, &run(&[(IDLE, 5), (BLOCK, 300), (IDLE, 5)])), 0);
    assert_eq!(stalls(&no_room).1, 1, "counted as dropped");
}
