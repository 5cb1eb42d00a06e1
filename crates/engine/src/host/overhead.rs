//! What the profiler costs its host: time spent in profiler code on each thread, against the
//! time that thread has been profiled (`getOverhead()`).
//!
//! The host measures its own boundaries (rotations timed inside the profiled thread, reads,
//! control calls) and records them here; the engine measures folding itself
//! ([`crate::Engine::ingest`]). One ledger serves the whole process, so any thread can read
//! every thread's cost, the profiler thread's included.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Where profiler time goes. On an application thread: producing its profiles, coverage
/// takes, reads and control calls it made; on the profiler thread: folding and parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cost {
    /// V8 ending and serializing a profile on the thread for the profiler (timed in the thread).
    Rotation = 0,
    /// Precise coverage takes (exact counts), timed in the thread between two canary calls.
    Coverage = 1,
    /// Stats reads the application asked for: rotating itself, waiting for the fold, decoding.
    Read = 2,
    /// `start()`, `stop()` and the like, waiting for the profiler thread included.
    Control = 3,
    /// Folding profiles into stats, measured in the engine.
    Fold = 4,
    /// Parsing profiles and coverage besides folding.
    Ingest = 5,
}

pub const COSTS: usize = Cost::ALL.len();

impl Cost {
    pub const ALL: [Cost; 6] = [Cost::Rotation, Cost::Coverage, Cost::Read, Cost::Control, Cost::Fold, Cost::Ingest];

    pub fn from_code(code: u32) -> Option<Cost> {
        Cost::ALL.into_iter().find(|&cost| u32::from(cost as u8) == code)
    }

    /// The kind of work as the TypeScript side names it (`CostKind`).
    pub fn name(self) -> &'static str {
        match self {
            Cost::Rotation => "rotation",
            Cost::Coverage => "coverage",
            Cost::Read => "read",
            Cost::Control => "control",
            Cost::Fold => "fold",
            Cost::Ingest => "ingest",
        }
    }
}

/// One thread's account.
#[derive(Debug, Clone)]
pub struct ThreadCost {
    pub id: u32,
    pub name: String,
    /// Nanoseconds per [`Cost`].
    pub ns: [u64; COSTS],
    /// CPU time of the thread since its account opened, where the thread reports it (the
    /// profiler thread does: all of its time is the profiler's).
    pub cpu_ns: Option<u64>,
    since: Instant,
    until: Option<Instant>,
}

impl ThreadCost {
    /// Wall time the thread has been profiled, up to now or to its end.
    pub fn run_ns(&self) -> u64 {
        let end = self.until.unwrap_or_else(Instant::now);
        u64::try_from(end.saturating_duration_since(self.since).as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn profiler_ns(&self) -> u64 {
        self.ns.iter().fold(0u64, |sum, &ns| sum.saturating_add(ns))
    }
}

#[derive(Default)]
pub struct OverheadLedger {
    threads: Mutex<Vec<ThreadCost>>,
}

impl OverheadLedger {
    pub const fn new() -> OverheadLedger {
        OverheadLedger { threads: Mutex::new(Vec::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<ThreadCost>> {
        crate::model::sync::lock(&self.threads)
    }

    /// Forgets every account (a new `start()` measures afresh).
    pub fn reset(&self) {
        self.lock().clear();
    }

    /// Opens the account of a thread whose profiling starts now (kept if already open).
    pub fn begin(&self, id: u32, name: &str) {
        let mut threads = self.lock();
        if let Some(thread) = threads.iter_mut().find(|thread| thread.id == id) {
            if thread.until.is_some() {
                // Profiled again after an end: the gap was not profiled time.
                let gap = Instant::now().saturating_duration_since(thread.until.unwrap_or(thread.since));
                thread.since += gap;
                thread.until = None;
            }
            return;
        }
        // A thread the ledger cannot hold is simply not accounted: never an abort.
        if threads.try_reserve(1).is_ok() {
            threads.push(ThreadCost { id, name: name.to_string(), ns: [0; COSTS], cpu_ns: None, since: Instant::now(), until: None });
        }
    }

    /// Adds `ns` of `cost` to a thread's account (opened on first use).
    pub fn record(&self, id: u32, cost: Cost, ns: u64) {
        let mut threads = self.lock();
        if !threads.iter().any(|thread| thread.id == id) {
            if threads.try_reserve(1).is_err() {
                return;
            }
            threads.push(ThreadCost { id, name: String::new(), ns: [0; COSTS], cpu_ns: None, since: Instant::now(), until: None });
        }
        if let Some(slot) = threads.iter_mut().find(|thread| thread.id == id).and_then(|thread| thread.ns.get_mut(cost as usize)) {
            *slot = slot.saturating_add(ns);
        }
    }

    /// Sets the CPU time a thread used since its account opened (only while it is open).
    pub fn record_cpu(&self, id: u32, ns: u64) {
        if let Some(thread) = self.lock().iter_mut().find(|thread| thread.id == id && thread.until.is_none()) {
            thread.cpu_ns = Some(ns);
        }
    }

    /// Closes a thread's account (it stopped being profiled, or exited).
    pub fn end(&self, id: u32) {
        if let Some(thread) = self.lock().iter_mut().find(|thread| thread.id == id && thread.until.is_none()) {
            thread.until = Some(Instant::now());
        }
    }

    pub fn end_all(&self) {
        let now = Instant::now();
        for thread in self.lock().iter_mut().filter(|thread| thread.until.is_none()) {
            thread.until = Some(now);
        }
    }

    pub fn read(&self) -> Vec<ThreadCost> {
        let threads = self.lock();
        let mut copy = Vec::new();
        if copy.try_reserve_exact(threads.len()).is_ok() {
            copy.extend(threads.iter().cloned());
        }
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_per_thread_and_cost() {
        let ledger = OverheadLedger::new();
        ledger.begin(0, "main");
        ledger.record(0, Cost::Fold, 5);
        ledger.record(0, Cost::Fold, 7);
        ledger.record(0, Cost::Read, 1);
        ledger.record(3, Cost::Rotation, 2);
        std::thread::sleep(std::time::Duration::from_millis(2));
        ledger.end(0);
        let threads = ledger.read();
        let main = threads.iter().find(|thread| thread.id == 0).unwrap();
        assert_eq!(main.ns, [0, 0, 1, 0, 12, 0]);
        assert_eq!(main.profiler_ns(), 13);
        let run = main.run_ns();
        assert!(run >= 2_000_000);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(ledger.read().iter().find(|thread| thread.id == 0).unwrap().run_ns(), run, "an ended thread's run time stays");
        assert_eq!(threads.iter().find(|thread| thread.id == 3).unwrap().ns[Cost::Rotation as usize], 2);
        ledger.reset();
        assert!(ledger.read().is_empty());
    }
}
