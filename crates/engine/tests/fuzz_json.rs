//! Fuzzes the JSON parsers (V8 `.cpuprofile`, inspector messages, frame lists, coverage takes,
//! source maps)
//! with malformed and adversarial documents: they never panic, and what they allocate stays
//! within what they charge the budget before parsing.
//!
//! serde cannot allocate fallibly, so each parser charges the budget a bound proportional to
//! the input first. This file checks the bound holds: it counts the bytes the parsers really
//! allocate, with a counting allocator around the system one. That allocator exists in this
//! test binary only, the only way to see a parse's transient peak; the library sets none.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use yappi_engine::cpuprofile::{self, PARSE_BYTES_PER_INPUT_BYTE};
use yappi_engine::{Budget, Coverage, FunctionTable, Naming, OwnCode};
use yappi_engine::sourcemap::{self, SourceMap};
use yappi_engine::v8json;

struct Counting;

/// Bytes live and their peak, counted per thread: only the measuring thread counts (the test
/// harness allocates on other threads meanwhile, and tests measure in parallel).
#[derive(Clone, Copy)]
struct Count {
    on: bool,
    live: usize,
    peak: usize,
}

thread_local! {
    static COUNT: Cell<Count> = const { Cell::new(Count { on: false, live: 0, peak: 0 }) };
}

fn count(change: impl FnOnce(&mut Count)) {
    let _ = COUNT.try_with(|cell| {
        let mut count = cell.get();
        if count.on {
            change(&mut count);
            count.peak = count.peak.max(count.live);
            cell.set(count);
        }
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(|count| count.live = count.live.saturating_add(layout.size()));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(|count| count.live = count.live.saturating_sub(layout.size()));
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(|count| count.live = count.live.saturating_sub(layout.size()).saturating_add(new_size));
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes live at once while `work` runs on this thread (what it returns included).
fn peak_of<R>(work: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|cell| cell.set(Count { on: true, live: 0, peak: 0 }));
    let result = work();
    let peak = COUNT.with(|cell| {
        let count = cell.get();
        cell.set(Count { on: false, ..count });
        count.peak
    });
    (result, peak)
}

/// Small inputs have fixed costs (maps, error messages) beyond the per-byte bound.
const SLACK: usize = 16 * 1024;

fn check_bound(json: &str) -> Result<(), TestCaseError> {
    let bound = json.len() * PARSE_BYTES_PER_INPUT_BYTE + SLACK;
    let budget = Budget::new(usize::MAX);
    let (_, peak) = peak_of(|| cpuprofile::parse(json, &budget));
    prop_assert!(peak <= bound, "parse: {peak} bytes for {} input bytes", json.len());
    let (_, peak) = peak_of(|| v8json::parse_inspector_message(json, &budget));
    prop_assert!(peak <= bound, "parse_inspector_message: {peak} bytes for {} input bytes", json.len());
    let (_, peak) = peak_of(|| v8json::parse_serialized(json, &budget, None));
    prop_assert!(peak <= bound, "parse_serialized: {peak} bytes for {} input bytes", json.len());
    let (_, peak) = peak_of(|| cpuprofile::parse_frames(json, &budget));
    prop_assert!(peak <= bound, "parse_frames: {peak} bytes for {} input bytes", json.len());
    let functions = FunctionTable::default();
    let coverage = Coverage::default();
    let (_, peak) = peak_of(|| coverage.ingest(0, json, &functions, &budget, Naming { own_code: &OwnCode::default(), source_maps: None }));
    prop_assert!(peak <= bound, "coverage: {peak} bytes for {} input bytes", json.len());
    Ok(())
}

/// Pieces of V8 profile and inspector JSON, glued at random: mostly near-valid documents.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"nodes":["#.to_string()),
        Just(r#"{"id":1,"callFrame":{"functionName":"f","scriptId":"3","url":"file:///a.js","lineNumber":1,"columnNumber":2},"children":[2,3]}"#.to_string()),
        Just(r#"{"id":2,"callFrame":{}}"#.to_string()),
        Just(r#"],"startTime":0,"endTime":100,"samples":["#.to_string()),
        Just(r#"],"timeDeltas":["#.to_string()),
        Just(r#"{"id":7,"result":{"profile":"#.to_string()),
        Just(r#"{"id":7,"result":{"result":[{"url":"file:///a.js","functions":[{"functionName":"f","ranges":[{"startOffset":0,"endOffset":9,"count":3}]}]}]}}"#.to_string()),
        Just(r#"["f","file:///a.js","3",1,2]"#.to_string()),
        Just("0,".to_string()),
        Just("1e308,".to_string()),
        Just("-1,".to_string()),
        Just(",".to_string()),
        Just("]}".to_string()),
        Just("[".to_string()),
        Just("\"\\u00e9\\ud800\"".to_string()),
        "[ -~]{0,12}",
    ]
}

fn document() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(fragment(), 0..40).prop_map(|parts| parts.concat()),
        ".{0,200}",
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

/// The densest documents per byte: long arrays of one-digit numbers and minimal nodes.
fn dense(kind: u8, count: usize) -> String {
    let numbers = vec!["0"; count].join(",");
    let nodes: Vec<String> = (1..=count).map(|id| format!(r#"{{"id":{id},"callFrame":{{}}}}"#)).collect();
    let children: Vec<String> = (2..=count).map(|id| id.to_string()).collect();
    match kind {
        0 => format!(r#"{{"nodes":[{{"id":1,"callFrame":{{}}}}],"startTime":0,"endTime":1,"samples":[{}],"timeDeltas":[{numbers}]}}"#, vec!["1"; count].join(",")),
        1 => format!(r#"{{"nodes":[{}],"startTime":0,"endTime":1}}"#, nodes.join(",")),
        2 => format!(r#"{{"nodes":[{{"id":1,"callFrame":{{}},"children":[{}]}},{}],"startTime":0,"endTime":1}}"#, children.join(","), nodes.get(1..).unwrap_or_default().join(",")),
        3 => format!("[{}]", vec![r#"["","","",0,0]"#; count].join(",")),
        _ => format!(r#"{{"result":{{"result":[{{"url":"file:///a.js","functions":[{}]}}]}}}}"#, vec![r#"{"ranges":[{"startOffset":0,"endOffset":1,"count":1}]}"#; count].join(",")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn malformed_json_never_panics_and_stays_within_its_charge(json in document()) {
        check_bound(&json)?;
    }

    #[test]
    fn dense_documents_stay_within_their_charge(kind in 0u8..5, count in 1usize..4000) {
        check_bound(&dense(kind, count))?;
    }
}

#[test]
fn a_budget_smaller_than_the_charge_refuses_before_parsing() {
    let json = dense(0, 1000);
    let budget = Budget::new(json.len());
    let (result, peak) = peak_of(|| cpuprofile::parse(&json, &budget));
    assert!(result.is_err());
    assert!(peak < 1024, "nothing parsed: {peak} bytes");
    assert_eq!(budget.used(), 0);
}


/// The frame list is parsed under the budget element by element: whatever the input, the
/// budget ends where it started, and a small budget refuses rather than overruns.
#[test]
fn frame_lists_charge_what_they_hold_and_return_it() {
    for json in [dense(3, 3000), r#"[["a","b","1",1,2],["c""#.to_string(), "[1,2]".to_string(), "[]".to_string()] {
        let budget = Budget::new(usize::MAX);
        let _ = cpuprofile::parse_frames(&json, &budget);
        assert_eq!(budget.used(), 0, "{}", &json[..json.len().min(40)]);
        let small = Budget::new(4096);
        let _ = cpuprofile::parse_frames(&json, &small);
        assert_eq!(small.used(), 0);
        assert!(small.peak() <= 4096);
    }
    assert!(matches!(cpuprofile::parse_frames(&dense(3, 3000), &Budget::new(4096)), Err(yappi_engine::ProfileError::Refused(_))));
}

/// Where the maps of the source-map checks live: resolved sources repeat it.
const MAP_BASE: &str = "file:///app/dist/out.js.map";

/// Everything a source-map parse allocates was charged to its budget while it was live: the
/// bound serde is given ahead, the resolved sources and the segments as they are made.
fn check_source_map_bound(json: &str) -> Result<(), TestCaseError> {
    let budget = Budget::new(usize::MAX);
    let (_, peak) = peak_of(|| SourceMap::parse(json, MAP_BASE, &budget));
    prop_assert!(peak <= budget.peak() + SLACK, "source map: {peak} bytes, {} charged, for {} input bytes", budget.peak(), json.len());
    Ok(())
}

fn source_map_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"version":3,"sources":["#.to_string()),
        Just(r#"{"version":3,"sourceRoot":"../../some/long/root/","sources":["#.to_string()),
        Just(r#""a","#.to_string()),
        Just("null,".to_string()),
        Just(r#""../src/x.ts","#.to_string()),
        Just(r#"],"names":["#.to_string()),
        Just(r#""\u00e9\n","#.to_string()),
        Just(r#"],"mappings":""#.to_string()),
        Just("AAAA,".to_string()),
        Just("ACAC;".to_string()),
        Just(";".to_string()),
        Just(r#""}"#.to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        "[ -~]{0,12}",
    ]
}

/// The densest maps per byte: arrays of one-letter strings or nulls, minimal segments.
fn dense_source_map(kind: u8, count: usize) -> String {
    let repeat = |item: &str, sep: &str| vec![item; count].join(sep);
    match kind {
        0 => format!(r#"{{"version":3,"sources":[],"names":[{}],"mappings":""}}"#, repeat(r#""a""#, ",")),
        1 => format!(r#"{{"version":3,"sources":[{}],"names":[],"mappings":""}}"#, repeat("null", ",")),
        2 => format!(r#"{{"version":3,"sourceRoot":"r","sources":[{}],"names":[],"mappings":""}}"#, repeat(r#""a""#, ",")),
        3 => format!(r#"{{"version":3,"sources":["a"],"names":["a"],"mappings":"{}"}}"#, repeat("AAAA", ",")),
        _ => format!(r#"{{"version":3,"sources":["a"],"names":[],"mappings":"{}"}}"#, ";".repeat(count)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn source_maps_stay_within_their_charge(json in prop_oneof![
        prop::collection::vec(source_map_fragment(), 0..60).prop_map(|parts| parts.concat()),
        ".{0,200}",
    ]) {
        check_source_map_bound(&json)?;
    }

    #[test]
    fn dense_source_maps_stay_within_their_charge(kind in 0u8..5, count in 1usize..4000) {
        check_source_map_bound(&dense_source_map(kind, count))?;
    }
}

/// The bound before was a flat 3x the input: a map of one-letter names needs more than that.
#[test]
fn one_letter_names_need_more_than_three_times_their_input() {
    let json = dense_source_map(0, 100_000);
    let budget = Budget::new(usize::MAX);
    let (parsed, peak) = peak_of(|| SourceMap::parse(&json, MAP_BASE, &budget));
    assert!(parsed.is_ok());
    assert!(peak > 3 * json.len(), "{peak} bytes for {} input bytes", json.len());
    assert!(peak <= sourcemap::parse_bound(&json) + SLACK, "{peak} bytes, bound {}", sourcemap::parse_bound(&json));
}
