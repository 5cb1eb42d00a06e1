use std::collections::HashMap;
use std::io::Read;

use super::*;
use crate::fold::FoldOptions;
use crate::input::exact_counts::{EXACT_NACTUAL, EXACT_NCALL, Naming};
use crate::model::budget::Budget;
use crate::model::frame::OwnCode;
use crate::read::query::{StatsFilter, merged_with_counts};
use crate::session::engine::{Engine, ThreadRef};
use crate::testing::{frame, profile};

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
        for (path, stats) in self_paths(report, thread) {
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
    let reread = |edit: &dyn Fn(&mut Report)| {
        let mut edited = report.clone();
        edit(&mut edited);
        Report::from_json(&edited.to_json().unwrap()).map_err(|error| error.to_string())
    };
    let main_at = report.threads.iter().position(|t| t.id == 0).unwrap();
    let twice = reread(&|r| r.threads.push(r.threads[main_at].clone()));
    assert_eq!(twice.unwrap_err(), "a damaged yappi-node stats file: thread 0 appears twice");
    let huge = reread(&|r| r.threads[main_at].funcs[0].1.ncall = u64::MAX);
    assert!(huge.unwrap_err().contains(&format!("thread 0 holds the number {}, past 2^53", u64::MAX)));
    let huge_total = reread(&|r| r.threads[main_at].totals.wall_ns = (1 << 53) + 1);
    assert!(huge_total.is_err(), "totals are checked too");
    assert!(reread(&|r| r.threads[main_at].totals.wall_ns = 1 << 53).is_ok(), "2^53 itself is exact");
    let cpu = Engine::new();
    cpu.begin(crate::model::clock::Clock::Cpu, 1 << 20, crate::session::engine::Owner { thread: 0, all_threads: true }).unwrap();
    cpu.ingest(ThreadRef { id: 0, name: "main" }, &profile(&[(&["x"], 5)]), &FoldOptions::default()).unwrap();
    assert!(matches!(cpu.absorb(&report), Err(ReportError::ClockMismatch { .. })));
}

/// `main` calls `work` on threads 0 and 2; the samples prove one call of `work` on each, which
/// coverage counts exactly, 1000 on each. Thread 2's coverage is then disturbed: its counts are
/// estimates, so only reads of thread 0 alone are exact.
fn engine_with_exact_counts() -> Engine {
    let engine = Engine::new();
    engine.select_counts(true).unwrap();
    let samples: &[(&[&str], i64)] = &[(&["main", "work"], 5), (&["main"], 5), (&["main", "work"], 5)];
    for (id, name) in [(0, "main"), (2, "worker")] {
        engine.ingest(ThreadRef { id, name }, &profile(samples), &FoldOptions::default()).unwrap();
    }
    // An arrow at the start of the line `testing::frame` gives `work`: coverage and the sampler
    // both start it there, so its count lands on its sampled row.
    let (url, line) = ("file:///app/main.js", frame("work").line as usize);
    let source = format!("{}(x) => x\n", "\n".repeat(line));
    let own = OwnCode::default();
    let naming = Naming { own_code: &own, source_maps: None };
    engine.read(|view| view.session.coverage.add_source(url, Some(&source), view.functions(), view.budget(), naming)).unwrap();
    let take = format!(
        r#"{{"id":1,"result":{{"result":[{{"scriptId":"3","url":"{url}","functions":[{{"functionName":"work","ranges":[{{"startOffset":{line},"endOffset":{},"count":1000}}]}}]}}]}}}}"#,
        line + 8
    );
    for thread in [0, 2] {
        assert_eq!(engine.ingest_coverage(thread, &take, naming).unwrap().counted, 1);
    }
    engine.coverage_disturbed(2).unwrap();
    engine
}

/// `(name, ncall, nactual, exact-count flags)` of every function a read of `threads` gives.
fn counted_rows(engine: &Engine, threads: Option<Vec<u32>>) -> Vec<(String, u64, u64, u8)> {
    engine.read(|view| {
        let stats = merged_with_counts(view, &StatsFilter { threads }).unwrap();
        let mut rows: Vec<_> = stats
            .funcs
            .iter()
            .map(|(id, s)| {
                let flags = stats.exact.iter().find(|(func, _)| func == id).map_or(0, |(_, flags)| *flags);
                (view.functions().get(*id).unwrap().name.clone(), s.ncall, s.nactual, flags)
            })
            .collect();
        rows.sort();
        rows
    })
}

fn work_row(engine: &Engine, threads: Option<Vec<u32>>) -> (u64, u64, u8) {
    let rows = counted_rows(engine, threads);
    rows.iter().find(|row| row.0 == "work").map(|row| (row.1, row.2, row.3)).unwrap()
}

#[test]
fn exact_counts_survive_the_json_format_and_files_without_them_load_as_estimates() {
    let engine = engine_with_exact_counts();
    // The known truth as the live session reads it: 1000 calls, of which the samples saw one.
    assert_eq!(work_row(&engine, Some(vec![0])), (1000, 1000, EXACT_NCALL));
    assert_eq!(work_row(&engine, None), (2, 2, 0), "thread 2's estimates make a read of both an estimate");

    let report = report_of(&engine, None);
    let bytes = render(&report, Format::Json).unwrap();
    assert_eq!(Report::from_json(&bytes).unwrap(), report);
    let work_at = report.functions.iter().position(|f| f.name == "work").unwrap() as u32;
    let main = report.threads.iter().find(|t| t.id == 0).unwrap();
    assert_eq!(main.exact_calls, Some(vec![(work_at, 1000)]));
    assert_eq!(report.threads.iter().find(|t| t.id == 2).unwrap().exact_calls, None, "a disturbed thread's counts are estimates");

    let loaded = Engine::new();
    loaded.absorb(&Report::from_json(&bytes).unwrap()).unwrap();
    for threads in [None, Some(vec![0]), Some(vec![2])] {
        assert_eq!(counted_rows(&loaded, threads.clone()), counted_rows(&engine, threads.clone()), "{threads:?}");
    }
    loaded.absorb(&Report::from_json(&bytes).unwrap()).unwrap();
    assert_eq!(work_row(&loaded, Some(vec![0])), (2000, 2000, EXACT_NCALL), "two exact files add up, exactly");

    // The same file as written before exact counts were saved: no `exact_calls`.
    let mut old: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let removed = old["threads"].as_array_mut().unwrap().iter_mut().filter_map(|t| t.as_object_mut().unwrap().remove("exact_calls")).count();
    assert_eq!(removed, 1);
    let old = Report::from_json(&serde_json::to_vec(&old).unwrap()).unwrap();
    let estimates = Engine::new();
    estimates.absorb(&old).unwrap();
    assert_eq!(work_row(&estimates, Some(vec![0])), (1, 1, 0));
    assert!(counted_rows(&estimates, None).iter().all(|row| row.3 == 0));
    // Estimated stats of a thread added to exact ones leave its counts estimates.
    loaded.absorb(&old).unwrap();
    assert_eq!(work_row(&loaded, Some(vec![0])), (3, 3, 0));
    estimates.absorb(&report).unwrap();
    assert_eq!(work_row(&estimates, Some(vec![0])), (2, 2, 0));

    // One call the samples saw: its nactualcall is exact too.
    let mut once = report.clone();
    once.threads.iter_mut().for_each(|t| t.exact_calls = t.exact_calls.take().map(|_| vec![(work_at, 1)]));
    let single = Engine::new();
    single.absorb(&once).unwrap();
    assert_eq!(work_row(&single, Some(vec![0])), (1, 1, EXACT_NCALL | EXACT_NACTUAL));
}

#[test]
fn damaged_exact_counts_are_named_errors() {
    let report = report_of(&engine_with_exact_counts(), None);
    let main_at = report.threads.iter().position(|t| t.id == 0).unwrap();
    let reread = |calls: Vec<(u32, u64)>| {
        let mut edited = report.clone();
        edited.threads[main_at].exact_calls = Some(calls);
        Report::from_json(&edited.to_json().unwrap()).map_err(|error| error.to_string())
    };
    assert_eq!(reread(vec![(99, 1)]).unwrap_err(), "a damaged yappi-node stats file: thread 0 refers to a function or caller that is not in the file");
    assert!(reread(vec![(0, (1 << 53) + 1)]).unwrap_err().contains("past 2^53"));
    let text = String::from_utf8(report.to_json().unwrap()).unwrap();
    let negative = text.replacen("\"exact_calls\":[[", "\"exact_calls\":[[-1,", 1);
    assert_ne!(negative, text);
    assert!(matches!(Report::from_json(negative.as_bytes()), Err(ReportError::NotAReport(_))), "{negative}");
}

#[test]
fn cpuprofile_of_one_thread_folds_back_to_the_same_self_times() {
    let engine = engine_with_known_profile();
    let report = report_of(&engine, None);
    assert_eq!(render(&report, Format::Cpuprofile), Err(ExportError::OneThreadOnly(2)));
    let main = report_of(&engine, Some(vec![0]));
    let json = String::from_utf8(render(&main, Format::Cpuprofile).unwrap()).unwrap();
    let flat = crate::input::cpuprofile::parse(&json, &Budget::new(usize::MAX)).unwrap();
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
    assert_eq!(file["activeProfileIndex"], 0, "main is the busier thread");
}

#[test]
fn speedscope_opens_on_the_busiest_thread_not_an_idle_main() {
    let engine = Engine::new();
    engine.ingest(ThreadRef { id: 0, name: "main" }, &profile(&[(&["(idle)"], 900), (&["main"], 10)]), &FoldOptions::default()).unwrap();
    engine.ingest(ThreadRef { id: 2, name: "worker" }, &profile(&[(&["w"], 400)]), &FoldOptions::default()).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&render(&report_of(&engine, None), Format::Speedscope).unwrap()).unwrap();
    let active = file["activeProfileIndex"].as_u64().unwrap() as usize;
    assert!(file["profiles"][active]["name"].as_str().unwrap().starts_with("worker (thread 2"), "{}", file["profiles"][active]["name"]);
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

/// Two anonymous functions and idle time: what each format makes of them.
fn report_with_anonymous_functions_and_idle() -> Report {
    let engine = Engine::new();
    let mut flat = profile(&[(&["main", "anon1"], 30), (&["main", "anon2"], 20), (&["main", "anon3"], 5), (&["main", "anon4"], 5), (&["(idle)"], 50)]);
    // Two on lines of their own, two sharing a line (as in minified code).
    for (frame, column) in flat.frames.iter_mut().filter(|frame| frame.name.starts_with("anon")).zip(0..) {
        if frame.name.ends_with('3') || frame.name.ends_with('4') {
            (frame.line, frame.column) = (7, column);
        }
        frame.name.clear();
    }
    engine.ingest(ThreadRef { id: 0, name: "main" }, &flat, &FoldOptions::default()).unwrap();
    report_of(&engine, None)
}

#[test]
fn anonymous_functions_are_named_by_file_and_line_where_tools_merge_by_name() {
    let report = report_with_anonymous_functions_and_idle();
    let anonymous: Vec<&ReportFunction> = report.functions.iter().filter(|f| f.name == "(anonymous)").collect();
    assert_eq!(anonymous.len(), 4, "the report keeps V8's name");
    let anonymous: Vec<String> = anonymous
        .iter()
        .map(|f| if f.line == 8 { format!("(anonymous) main.js:8:{}", f.column) } else { format!("(anonymous) main.js:{}", f.line) })
        .collect();
    let mut proto = Vec::new();
    flate2::read::GzDecoder::new(render(&report, Format::Pprof).unwrap().as_slice()).read_to_end(&mut proto).unwrap();
    let pprof = String::from_utf8_lossy(&proto);
    let speedscope = String::from_utf8(render(&report, Format::Speedscope).unwrap()).unwrap();
    for name in &anonymous {
        assert!(pprof.contains(name.as_str()), "pprof lacks {name}");
        assert!(speedscope.contains(&format!("\"name\":\"{name}\"")), "speedscope lacks {name}");
    }
}

#[test]
fn idle_is_left_out_of_the_exports_that_aggregate_functions_and_kept_for_devtools() {
    let report = report_with_anonymous_functions_and_idle();
    for format in [Format::Collapsed, Format::Callgrind] {
        let text = String::from_utf8(render(&report, format).unwrap()).unwrap();
        assert!(!text.contains("(idle)"), "{format:?}: {text}");
    }
    let speedscope: serde_json::Value = serde_json::from_slice(&render(&report, Format::Speedscope).unwrap()).unwrap();
    let idle = report.functions.iter().position(|f| f.name == "(idle)").unwrap();
    let samples = speedscope["profiles"][0]["samples"].as_array().unwrap();
    assert!(samples.iter().all(|path| !path.as_array().unwrap().contains(&serde_json::json!(idle))));
    assert_eq!(speedscope["profiles"][0]["endValue"], 60_000);
    let callgrind = String::from_utf8(render(&report, Format::Callgrind).unwrap()).unwrap();
    assert!(callgrind.contains("summary: 60000 4"), "busy time only: {callgrind}");
    let cpuprofile = String::from_utf8(render(&report, Format::Cpuprofile).unwrap()).unwrap();
    assert!(cpuprofile.contains("\"functionName\":\"(idle)\""), "DevTools draws idle time itself");
}
