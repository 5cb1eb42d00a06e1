//! What was profiled during a window of time, e.g. the next N seconds a pprof client asks for.
//!
//! A mark holds every thread's published stats at the window's start. Published snapshots are
//! immutable and their tables shared, so a mark copies nothing: it keeps the tables of that
//! moment alive (outside the session budget, like a reader's memory) until it is dropped. At the
//! window's end the current stats less the marked ones are what the window added. The session's
//! stats are only read, so any number of windows overlap without seeing each other.

use crate::model::budget::{Budget, Refusal};
use crate::session::engine::{SessionView, ThreadShard};
use crate::tables::snapshot::ThreadSnapshot;
use crate::tables::stats::subtract_sorted;
use std::sync::Arc;

pub struct Mark {
    session: u64,
    /// `(thread id, its stats at the mark)`; per-tag tables are not kept.
    threads: Vec<(u32, ThreadSnapshot)>,
}

/// Marks and differences are transient, like reads: fallible, outside the session budget.
fn transient() -> Budget {
    Budget::new(usize::MAX)
}

impl Mark {
    /// The stats of every thread as they are now.
    pub fn of(view: &SessionView<'_>) -> Result<Mark, Refusal> {
        let mut threads = Vec::new();
        for (shard, snapshot) in view.threads() {
            let kept = ThreadSnapshot { tags: Arc::default(), ..snapshot.clone() };
            transient().push(&mut threads, (shard.id, kept))?;
        }
        Ok(Mark { session: view.session.id(), threads })
    }

    /// Each thread's stats added since the mark, for threads that added any. A thread whose
    /// stats started afresh after the mark (first seen since, or cleared: another session, or
    /// fewer profiles than marked) counts whole: all it has was added in the window.
    pub fn added<'g>(&self, view: &SessionView<'g>) -> Result<Vec<(&'g ThreadShard, ThreadSnapshot)>, Refusal> {
        let budget = transient();
        let same_session = view.session.id() == self.session;
        let mut added = Vec::new();
        for (shard, now) in view.threads() {
            let before = self.threads.iter().find(|(id, _)| *id == shard.id).map(|(_, snapshot)| snapshot);
            let difference = match before.filter(|before| same_session && before.totals.profiles <= now.totals.profiles) {
                Some(before) => ThreadSnapshot {
                    totals: now.totals.since(before.totals),
                    funcs: Arc::new(subtract_sorted(&now.funcs, &before.funcs, &budget)?),
                    edges: Arc::new(subtract_sorted(&now.edges, &before.edges, &budget)?),
                    stacks: Arc::new(subtract_sorted(&now.stacks, &before.stacks, &budget)?),
                    tags: Arc::default(),
                },
                None => ThreadSnapshot { tags: Arc::default(), ..now.clone() },
            };
            if difference.totals.profiles > 0 || !difference.stacks.is_empty() {
                budget.push(&mut added, (shard, difference))?;
            }
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::FoldOptions;
    use crate::read::query::{StatsFilter, merged};
    use crate::session::engine::{Engine, ThreadRef};
    use crate::session::report::Report;
    use crate::testing::profile_at;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// Profiles of a thread follow each other in time (overlapping samples count once): each
    /// ingest starts a second after the last one.
    static NEXT_START_US: AtomicI64 = AtomicI64::new(1_000);

    fn ingest(engine: &Engine, thread: u32, samples: &[(&[&str], i64)]) {
        let start = NEXT_START_US.fetch_add(1_000_000, Ordering::Relaxed);
        engine.ingest(ThreadRef { id: thread, name: "t" }, &profile_at(start, samples), &FoldOptions::default()).unwrap();
    }

    /// `(thread, function, self µs)` of the functions that ran themselves since `mark`, read
    /// through a report as exports read it.
    fn added_self_us(engine: &Engine, mark: &Mark) -> Vec<(u32, String, u64)> {
        let report = engine.read(|view| Report::since(view, mark)).unwrap();
        let mut rows: Vec<_> = report
            .threads
            .iter()
            .flat_map(|thread| {
                thread.funcs.iter().map(|(f, stats)| (thread.id, report.functions[*f as usize].name.clone(), stats.tsub_ns / 1000))
            })
            .filter(|(_, _, self_us)| *self_us > 0)
            .collect();
        rows.sort();
        rows
    }

    fn self_us_of(engine: &Engine, name: &str) -> u64 {
        engine.read(|view| {
            let stats = merged(view, &StatsFilter::default()).unwrap();
            stats.funcs.iter().find(|(id, _)| view.functions().get(*id).unwrap().name == name).map_or(0, |(_, s)| s.tsub_ns / 1000)
        })
    }

    #[test]
    fn a_window_holds_what_was_folded_after_its_mark_and_leaves_the_stats_alone() {
        let engine = Engine::new();
        ingest(&engine, 0, &[(&["main", "before"], 7), (&["main", "both"], 5)]);
        let mark = engine.read(Mark::of).unwrap();
        ingest(&engine, 0, &[(&["main", "both"], 11), (&["main", "after"], 3)]);
        ingest(&engine, 2, &[(&["worker"], 13)]);
        assert_eq!(
            added_self_us(&engine, &mark),
            vec![(0, "after".into(), 3), (0, "both".into(), 11), (2, "worker".into(), 13)]
        );
        assert_eq!(self_us_of(&engine, "both"), 16, "the continuous stats keep everything");
        assert_eq!(self_us_of(&engine, "before"), 7);
    }

    #[test]
    fn overlapping_windows_each_see_their_own_time() {
        let engine = Engine::new();
        let first = engine.read(Mark::of).unwrap();
        ingest(&engine, 0, &[(&["work"], 5)]);
        let second = engine.read(Mark::of).unwrap();
        ingest(&engine, 0, &[(&["work"], 7)]);
        assert_eq!(added_self_us(&engine, &first), vec![(0, "work".into(), 12)]);
        assert_eq!(added_self_us(&engine, &second), vec![(0, "work".into(), 7)]);
        drop(first);
        assert_eq!(added_self_us(&engine, &second), vec![(0, "work".into(), 7)]);
    }

    /// What a window holds of 7 µs of work done after `restart` (a mark, then `restart`, then the work).
    fn window_across(restart: impl Fn(&Engine)) -> Vec<(u32, String, u64)> {
        let engine = Engine::new();
        ingest(&engine, 0, &[(&["work"], 50)]);
        ingest(&engine, 0, &[(&["work"], 50)]);
        let mark = engine.read(Mark::of).unwrap();
        restart(&engine);
        ingest(&engine, 0, &[(&["work"], 7)]);
        added_self_us(&engine, &mark)
    }

    #[test]
    fn stats_cleared_during_a_window_count_from_the_clear() {
        assert_eq!(window_across(Engine::clear), vec![(0, "work".into(), 7)]);
    }

    #[test]
    fn a_thread_with_fewer_profiles_than_marked_counts_from_its_restart() {
        assert_eq!(window_across(|engine| engine.forget_thread(0)), vec![(0, "work".into(), 7)]);
    }

    #[test]
    fn a_window_without_new_profiles_is_empty() {
        let engine = Engine::new();
        ingest(&engine, 0, &[(&["work"], 5)]);
        let mark = engine.read(Mark::of).unwrap();
        let report = engine.read(|view| Report::since(view, &mark)).unwrap();
        assert!(report.threads.is_empty());
    }
}
