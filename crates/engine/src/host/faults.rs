//! Failures the profiler contained instead of throwing at the application, kept for the whole
//! process: the profiler thread records most of them, and any thread reads them.
//!
//! A fault is kept once per kind (where it happened and what was said, numbers blanked out, so
//! that "worker 7 ended …" and "worker 9 ended …" are one kind), with how many times it
//! happened, when and for which thread first and last: a terminated worker per minute must not
//! push out the one fault that explains a problem. Past [`MAX_FAULT_KINDS`] kinds, the kind seen
//! least recently goes, so a fault that keeps coming back stays listed.

use std::sync::{Mutex, MutexGuard};

pub const MAX_FAULT_KINDS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// What the profiler was doing at the first fault of this kind, e.g. `rotate`.
    pub place: String,
    /// What went wrong, as first said.
    pub message: String,
    /// Milliseconds since the epoch of the first and the last fault of this kind.
    pub first: f64,
    pub last: f64,
    pub count: u64,
    /// The thread (Node's thread id) the first and the last fault concern.
    pub first_thread: u32,
    pub last_thread: u32,
}

#[derive(Default)]
struct Log {
    /// By kind, in the order of their first fault.
    faults: Vec<(String, Fault)>,
    dropped: u64,
}

#[derive(Default)]
pub struct FaultLog {
    log: Mutex<Log>,
}

fn kind_of(place: &str, message: &str) -> Option<String> {
    let mut kind = String::new();
    kind.try_reserve(place.len() + message.len() + 1).ok()?;
    let mut last_was_digit = false;
    for c in place.chars().chain(std::iter::once('\n')).chain(message.chars()) {
        let digit = c.is_ascii_digit();
        if !(digit && last_was_digit) {
            kind.push(if digit { '#' } else { c });
        }
        last_was_digit = digit;
    }
    Some(kind)
}

fn copy(text: &str) -> Option<String> {
    let mut owned = String::new();
    owned.try_reserve_exact(text.len()).ok()?;
    owned.push_str(text);
    Some(owned)
}

impl FaultLog {
    pub const fn new() -> FaultLog {
        FaultLog { log: Mutex::new(Log { faults: Vec::new(), dropped: 0 }) }
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        crate::model::sync::lock(&self.log)
    }

    /// Records a fault of `thread` at `now_ms`; one that cannot be held (no memory) counts as dropped.
    pub fn record(&self, place: &str, message: &str, thread: u32, now_ms: f64) {
        let mut log = self.lock();
        let Some(kind) = kind_of(place, message) else {
            log.dropped += 1;
            return;
        };
        if let Some((_, fault)) = log.faults.iter_mut().find(|(known, _)| *known == kind) {
            fault.count = fault.count.saturating_add(1);
            fault.last = now_ms;
            fault.last_thread = thread;
            return;
        }
        let Some((place, message)) = copy(place).zip(copy(message)) else {
            log.dropped += 1;
            return;
        };
        if log.faults.len() >= MAX_FAULT_KINDS {
            let stalest = log.faults.iter().enumerate().min_by(|(_, a), (_, b)| a.1.last.total_cmp(&b.1.last)).map(|(at, _)| at);
            if let Some(at) = stalest {
                let (_, gone) = log.faults.remove(at);
                log.dropped = log.dropped.saturating_add(gone.count);
            }
        }
        if log.faults.try_reserve(1).is_err() {
            log.dropped += 1;
            return;
        }
        log.faults.push((kind, Fault { place, message, first: now_ms, last: now_ms, count: 1, first_thread: thread, last_thread: thread }));
    }

    /// Every fault kept, by its first time, and how many were let go.
    pub fn read(&self) -> (Vec<Fault>, u64) {
        let log = self.lock();
        let mut faults = Vec::new();
        if faults.try_reserve_exact(log.faults.len()).is_ok() {
            faults.extend(log.faults.iter().map(|(_, fault)| fault.clone()));
        }
        (faults, log.dropped)
    }

    pub fn clear(&self) {
        let mut log = self.lock();
        log.faults.clear();
        log.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_once_per_kind_with_their_first_and_last_thread() {
        let log = FaultLog::new();
        log.record("thread 7", "worker 7 ended without its last profile", 7, 1.0);
        log.record("rotate", "Session is not connected", 0, 2.0);
        log.record("thread 12", "worker 12 ended without its last profile", 12, 5.0);
        let (faults, dropped) = log.read();
        assert_eq!((faults.len(), dropped), (2, 0));
        let first = &faults[0];
        assert_eq!((first.count, first.first, first.last, first.first_thread, first.last_thread), (2, 1.0, 5.0, 7, 12));
        assert_eq!(first.message, "worker 7 ended without its last profile", "the first message is kept");
    }

    #[test]
    fn past_the_limit_the_stalest_kind_goes_and_its_faults_are_counted_dropped() {
        let log = FaultLog::new();
        log.record("recurring", "worker 3 was terminated", 3, 0.0);
        for i in 0..MAX_FAULT_KINDS + 10 {
            log.record(&format!("kind {}", "x".repeat(i)), "distinct", 0, 1.0 + i as f64);
            log.record("recurring", "worker 9 was terminated", 9, 1.5 + i as f64);
        }
        let (faults, dropped) = log.read();
        assert_eq!(faults.len(), MAX_FAULT_KINDS);
        assert_eq!(faults[0].place, "recurring", "a fault that keeps coming back stays");
        assert_eq!(faults[0].count, MAX_FAULT_KINDS as u64 + 11);
        assert_eq!(dropped, 11);
        log.clear();
        assert_eq!(log.read(), (Vec::new(), 0));
    }
}
