//! Fuzzes the engine's ingest with malformed flat profiles: whatever a profile claims (random
//! parents and cycles, indices out of range, mismatched lengths, huge or negative times), the
//! engine answers with stats or an error, never a panic, and never holds more than its budget.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use yappi_engine::encode;
use yappi_engine::{CallFrame, Clock, Engine, FlatProfile, FocusFrame, FoldOptions, NO_PARENT, OwnCode, Owner, StatsFilter, ThreadRef, merged_for_tag, merged_with_counts, tag_totals};

fn frame() -> impl Strategy<Value = CallFrame> {
    let names = prop::sample::select(vec!["(root)", "(idle)", "(program)", "(garbage collector)", "work", "", "main", "f"]);
    let urls = prop::sample::select(vec!["", "file:///app/a.js", "node:fs", "file:///yappi/dist/x.js", "https://x/y.js"]);
    let script_ids = prop::sample::select(vec!["0", "3", "", "77"]);
    (names, urls, script_ids, any::<i32>(), any::<i32>()).prop_map(|(name, url, script_id, line, column)| CallFrame {
        name: name.into(),
        url: url.into(),
        script_id: script_id.into(),
        line,
        column,
    })
}

/// Mostly plausible values, with the extremes that break arithmetic.
fn time() -> impl Strategy<Value = i64> {
    prop_oneof![4 => 0i64..5_000, 1 => any::<i64>(), 1 => Just(i64::MAX), 1 => Just(i64::MIN), 1 => -5_000i64..0]
}

/// A node index: usually in range, sometimes out of it or NO_PARENT.
fn index(nodes: usize) -> impl Strategy<Value = u32> {
    let nodes = nodes.max(1) as u32;
    prop_oneof![8 => 0..nodes, 1 => Just(NO_PARENT), 1 => any::<u32>()]
}

fn profile() -> impl Strategy<Value = FlatProfile> {
    (0usize..48, 0usize..120).prop_flat_map(|(nodes, samples)| {
        let node_frames = prop_oneof![9 => Just(nodes), 1 => 0usize..50];
        let deltas = prop_oneof![9 => Just(samples), 1 => 0usize..130];
        (
            prop::collection::vec(frame(), 0..10),
            prop::collection::vec(index(nodes), nodes),
            node_frames.prop_flat_map(|count| prop::collection::vec(prop_oneof![9 => 0u32..10, 1 => any::<u32>()], count)),
            prop::collection::vec(index(nodes), samples),
            deltas.prop_flat_map(|count| prop::collection::vec(time(), count)),
            time(),
            time(),
        )
            .prop_map(|(frames, node_parent, node_frame, samples, time_deltas, start_time, end_time)| FlatProfile {
                frames,
                node_parent,
                node_frame,
                samples,
                time_deltas,
                start_time,
                end_time,
            })
    })
}

fn options() -> impl Strategy<Value = FoldOptions> {
    (any::<bool>(), any::<bool>(), any::<bool>(), prop::option::of(any::<u64>())).prop_map(|(show_builtins, focus, cpu_clock, cpu_time_ns)| FoldOptions {
        show_builtins,
        own_code: OwnCode { url_prefixes: vec!["file:///yappi/dist/".into()] },
        focus: focus.then(|| FocusFrame { name: "main".into(), url: "file:///app/a.js".into() }),
        cpu_clock,
        cpu_time_ns,
        source_maps: None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn malformed_flat_profiles_never_panic_and_stay_within_the_budget(
        profiles in prop::collection::vec(profile(), 1..4),
        options in options(),
        budget in prop_oneof![Just(64 * 1024usize), 0usize..20_000, Just(1usize << 30)],
        switches in prop::collection::vec((time(), prop_oneof![3 => 0u32..3, 1 => any::<u32>()]), 0..20),
    ) {
        let engine = Engine::new();
        engine.begin(Clock::Wall, budget, Owner { thread: 0, all_threads: true }).unwrap();
        let tag_names = ["a".to_string(), "b".to_string()];
        for (k, profile) in profiles.iter().enumerate() {
            let thread = ThreadRef { id: (k % 2) as u32, name: "t" };
            // Async tag switches at any times, naming tags that exist or not.
            engine.record_tags(thread.id, &tag_names, &switches);
            // Ok or a named error: both are fine, a panic is not.
            let _ = engine.ingest(thread, profile, &options);
            engine.read(|view| {
                prop_assert!(view.budget().used() <= budget, "used {} > budget {budget}", view.budget().used());
                prop_assert!(view.budget().peak() <= budget, "peak {} > budget {budget}", view.budget().peak());
                if let Ok(stats) = merged_with_counts(view, &StatsFilter::default()) {
                    let _ = encode::func_stats(view, &stats);
                }
                for tag in ["a", "b"] {
                    if let Ok(stats) = merged_for_tag(view, &StatsFilter::default(), tag) {
                        let _ = encode::func_stats(view, &stats);
                    }
                }
                if let Ok(totals) = tag_totals(view, &StatsFilter::default()) {
                    let _ = encode::tag_stats(view, &totals);
                }
                let _ = encode::thread_stats(view);
                Ok(())
            })?;
        }
    }
}

/// Gaps that each saturate the nanosecond clock: their sum must not overflow.
#[test]
fn extreme_time_gaps_saturate() {
    let frames = vec![CallFrame { name: "work".into(), url: "file:///app/a.js".into(), script_id: "3".into(), line: 1, column: 1 }];
    let profile = FlatProfile {
        frames,
        node_parent: vec![NO_PARENT],
        node_frame: vec![0],
        samples: vec![0, 0, 0],
        time_deltas: vec![0, i64::MAX, i64::MAX],
        start_time: i64::MIN,
        end_time: i64::MAX,
    };
    let engine = Engine::new();
    for _ in 0..3 {
        engine.ingest(ThreadRef { id: 0, name: "t" }, &profile, &FoldOptions::default()).unwrap();
    }
    let wall = engine.read(|view| view.threads().map(|(_, snapshot)| snapshot.totals.wall_ns).sum::<u64>());
    assert_eq!(wall, u64::MAX);
}

/// The same gaps under an async tag: the per-tag sums (totals, self and inclusive times up the
/// tree, function and edge rows) saturate as the untagged ones do.
#[test]
fn extreme_time_gaps_saturate_in_tag_sums() {
    let frame = |name: &str| CallFrame { name: name.into(), url: "file:///app/a.js".into(), script_id: "3".into(), line: 1, column: 1 };
    let profile = FlatProfile {
        frames: vec![frame("main"), frame("work")],
        node_parent: vec![NO_PARENT, 0],
        node_frame: vec![0, 1],
        samples: vec![1, 1, 1, 0],
        time_deltas: vec![0, i64::MAX, i64::MAX, i64::MAX],
        start_time: i64::MIN,
        end_time: i64::MAX,
    };
    let engine = Engine::new();
    engine.begin(Clock::Wall, 1 << 30, Owner { thread: 0, all_threads: true }).unwrap();
    let thread = ThreadRef { id: 0, name: "t" };
    for _ in 0..3 {
        engine.record_tags(thread.id, &["a".to_string()], &[(i64::MIN, 0)]);
        engine.ingest(thread, &profile, &FoldOptions::default()).unwrap();
    }
    engine.read(|view| {
        let totals = tag_totals(view, &StatsFilter::default()).unwrap();
        assert_eq!(totals.len(), 1);
        assert_eq!(totals[0].1.wall_ns, u64::MAX);
        let stats = merged_for_tag(view, &StatsFilter::default(), "a").unwrap();
        let encoded = encode::func_stats(view, &stats);
        assert!(encoded.is_ok());
    });
}
