use std::collections::HashMap;
use std::io::Read;

use super::*;
use crate::budget::Budget;
use crate::engine::{Engine, ThreadRef};
use crate::fold::FoldOptions;
use crate::query::StatsFilter;
use crate::testing::profile;

/// main runs 100 µs itself, calls a (300 µs, of which 200 in b) and b directly (50 µs).
fn engine_with_known_profile() -> Engine {
    let engine = Engine::new();
    let samples: &[(&[&str], i64)] =
        &[(&["main"], 100), (&["main", "a"], 100), (&["main", "a", "b"], 200), (&["main", "b"], 50)];
    engine.ingest(ThreadRef { id: 0, name: "main" }, &profile(samples), &FoldOptions::default()).unwrap();
    engine.ingest(ThreadRef { id: 2, name: "worker" }, &profile(&[(&["w"], 40)]), &FoldOptions::default()).unwrap();
    engine
}

fn report_of(engine: &Engine, threads: Option<Vec<u32>>) -> Report {
    engine.read(|view| Report::from_view(view, &StatsFilter { threads })).unwrap()
}

/// Self time per call path (names joined by `;`), in µs.
fn self_times(report: &Report) -> HashMap<String, u64> {
    let mut times = HashMap::new();
    for thread in &report.threads {
        for (path, stats) in self_paths(thread) {
            let names: Vec<&str> = path.iter().map(|&f| report.functions[f as usize].name.as_str()).collect();
            *times.entry(names.join(";")).or_default() += stats.tsub_ns / 1000;
        }
    }
    times
}

fn expected_paths() -> HashMap<String, u64> {
    HashMap::from([("main".into(), 100), ("main;a".into(), 100), ("main;a;b".into(), 200), ("main;b".into(), 50), ("w".into(), 40)])
}

#[test]
fn a_report_holds_every_call_path_with_its_self_time() {
    assert_eq!(self_times(&report_of(&engine_with_known_profile(), None)), expected_paths());
}

#[test]
fn json_reads_back_equal_and_loading_twice_adds_up() {
    let report = report_of(&engine_with_known_profile(), None);
    let bytes = render(&report, Format::Json).unwrap();
    assert_eq!(Report::from_json(&bytes).unwrap(), report);
    let loaded = Engine::new();
    loaded.absorb(&Report::from_json(&bytes).unwrap()).unwrap();
    loaded.absorb(&Report::from_json(&bytes).unwrap()).unwrap();
    let doubled = report_of(&loaded, None);
    let expected: HashMap<String, u64> = expected_paths().into_iter().map(|(k, v)| (k, v * 2)).collect();
    assert_eq!(self_times(&doubled), expected);
    let main = doubled.threads.iter().find(|t| t.id == 0).unwrap();
    assert_eq!(main.totals.wall_ns, 2 * 450_000);
}

#[test]
fn damaged_files_are_named_errors() {
    let report = report_of(&engine_with_known_profile(), None);
    let text = String::from_utf8(render(&report, Format::Json).unwrap()).unwrap();
    assert!(matches!(Report::from_json(b"{"), Err(ReportError::NotJson(_))));
    assert!(matches!(Report::from_json(br#"{"format":"other"}"#), Err(ReportError::NotAReport(_))));
    let dangling = text.replacen("\"funcs\":[[0,", "\"funcs\":[[99,", 1);
    assert!(matches!(Report::from_json(dangling.as_bytes()), Err(ReportError::Inconsistent(_))), "{dangling}");
    let cpu = Engine::new();
    cpu.begin(crate::engine::Clock::Cpu, 1 << 20, crate::engine::Owner { thread: 0, all_threads: true }).unwrap();
    cpu.ingest(ThreadRef { id: 0, name: "main" }, &profile(&[(&["x"], 5)]), &FoldOptions::default()).unwrap();
    assert!(matches!(cpu.absorb(&report), Err(ReportError::ClockMismatch { .. })));
}

#[test]
fn cpuprofile_of_one_thread_folds_back_to_the_same_self_times() {
    let engine = engine_with_known_profile();
    let report = report_of(&engine, None);
    assert_eq!(render(&report, Format::Cpuprofile), Err(ExportError::OneThreadOnly(2)));
    let main = report_of(&engine, Some(vec![0]));
    let json = String::from_utf8(render(&main, Format::Cpuprofile).unwrap()).unwrap();
    let flat = crate::cpuprofile::parse(&json, &Budget::new(usize::MAX)).unwrap();
    let again = Engine::new();
    again.ingest(ThreadRef { id: 0, name: "main" }, &flat, &FoldOptions::default()).unwrap();
    let mut expected = expected_paths();
    expected.remove("w");
    assert_eq!(self_times(&report_of(&again, None)), expected);
}

#[test]
fn collapsed_stacks_name_thread_frames_and_microseconds() {
    let text = String::from_utf8(render(&report_of(&engine_with_known_profile(), None), Format::Collapsed).unwrap()).unwrap();
    let b_line = text.lines().find(|l| l.ends_with(" 200")).unwrap();
    assert!(b_line.starts_with("main #0;main (/app/main.js:"), "{b_line}");
    assert_eq!(b_line.matches(';').count(), 3, "thread;main;a;b: {b_line}");
    assert_eq!(text.lines().count(), 5);
}

#[test]
fn speedscope_has_a_profile_per_thread_weighted_in_nanoseconds() {
    let bytes = render(&report_of(&engine_with_known_profile(), None), Format::Speedscope).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let profiles = file["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2);
    let end: Vec<u64> = profiles.iter().map(|p| p["endValue"].as_u64().unwrap()).collect();
    assert_eq!(end, vec![450_000, 40_000]);
}

#[test]
fn callgrind_lists_calls_with_inclusive_cost() {
    let text = String::from_utf8(render(&report_of(&engine_with_known_profile(), None), Format::Callgrind).unwrap()).unwrap();
    assert!(text.contains("events: Nanoseconds Samples"));
    assert!(text.contains("summary: 490000 5"), "{text}");
    // Blocks: the header, then main, a, b in the order they were first seen.
    let a_calls_b = text.split("\n\n").nth(2).unwrap();
    assert!(a_calls_b.contains("fn=(2)\n"), "{a_calls_b}");
    assert!(a_calls_b.contains("calls=1 "), "{a_calls_b}");
    assert!(a_calls_b.lines().last().unwrap().ends_with(" 200000 1"), "{a_calls_b}");
}

#[test]
fn pprof_is_gzipped_protobuf_with_names_and_threads() {
    let bytes = render(&report_of(&engine_with_known_profile(), None), Format::Pprof).unwrap();
    let mut proto = Vec::new();
    flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut proto).unwrap();
    let text = String::from_utf8_lossy(&proto);
    for name in ["samples", "nanoseconds", "wall", "main #0", "worker #2", "/app/main.js"] {
        assert!(text.contains(name), "{name} missing");
    }
}

#[test]
fn unknown_formats_are_named() {
    assert_eq!(Format::named("svg"), None);
    assert!(ExportError::UnknownFormat("svg".into()).to_string().contains("pprof, callgrind"));
}

/// inferno (the Rust port of flamegraph.pl) draws the folded stacks: its frame titles carry
/// each frame's inclusive time.
#[test]
fn collapsed_stacks_draw_as_a_flame_graph_with_inferno() {
    let text = String::from_utf8(render(&report_of(&engine_with_known_profile(), None), Format::Collapsed).unwrap()).unwrap();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut inferno::flamegraph::Options::default(), text.lines(), &mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    let title = |name: &str| {
        let start = svg.find(&format!("<title>{name} (")).unwrap_or_else(|| panic!("no frame {name}"));
        svg[start..].split("</title>").next().unwrap().to_owned()
    };
    assert!(title("a (/app/main.js:98)").contains("(300 samples"), "{}", title("a (/app/main.js:98)"));
    assert!(title("main #0").contains("(450 samples"));
    assert!(title("worker #2").contains("(40 samples"));
}
