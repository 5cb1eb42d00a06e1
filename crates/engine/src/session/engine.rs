//! The process-wide profiler state: one session of stats shared by every thread.
//!
//! Writers (threads folding a profile) and readers (threads asking for stats) never wait for
//! each other: each thread's stats are an immutable snapshot that its writer replaces with an
//! atomic swap; readers pin an epoch, read whatever snapshot is current, and the replaced one is
//! freed once no reader can still see it. Writers of the *same* thread serialize on that
//! thread's writer lock only.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use hashbrown::HashMap;

use crate::fold::stalls::{self, StallFilter, StallLog, StallWatch};
use crate::fold::{Continuation, FoldOptions, ProfileDelta, fold_tagged};
use crate::input::cpuprofile::{self, FlatParts};
use crate::input::exact_counts::{Coverage, CountsMismatch, Naming, TakeOutcome};
use crate::model::budget::{Budget, DEFAULT_MAX_MEMORY_BYTES, Refusal};
use crate::model::clock::Clock;
use crate::model::flat_profile::{FlatProfile, ProfileError};
use crate::model::sync::lock;
use crate::session::report::{Report, ReportError};
use crate::tables::append_vec::AppendVec;
use crate::tables::function_table::{FuncId, FunctionTable};
use crate::tables::snapshot::ThreadSnapshot;
use crate::tables::stacks::{StackTable, intern_paths};
use crate::tables::stats::{ThreadTotals, merge_sorted};
use crate::tables::tags::{TagLog, TagStats};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    AlreadyRunning,
    /// Stats of another clock are present; mixing them would add unlike times.
    ClockMismatch { have: Clock, asked: Clock },
    /// The counts mode asked at `start` differs from the one the stats so far were taken in.
    Counts(CountsMismatch),
    Profile(ProfileError),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::AlreadyRunning => write!(f, "the profiler is already running; call stop() first"),
            EngineError::ClockMismatch { have, asked } => write!(
                f,
                "the stats so far were measured on the {} clock; call clearStats() before starting with the {} clock",
                have.name(),
                asked.name()
            ),
            EngineError::Counts(error) => error.fmt(f),
            EngineError::Profile(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<ProfileError> for EngineError {
    fn from(error: ProfileError) -> Self {
        EngineError::Profile(error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemUsage {
    pub used_bytes: usize,
    pub peak_bytes: usize,
    pub max_bytes: usize,
    pub refusals: u64,
    pub functions: usize,
    pub dropped_samples: u64,
    pub dropped_functions: u64,
}

/// A thread as the host names it.
#[derive(Debug, Clone, Copy)]
pub struct ThreadRef<'a> {
    pub id: u32,
    pub name: &'a str,
}

/// One profiled thread's stats in a session.
pub struct ThreadShard {
    pub id: u32,
    pub name: String,
    writer: Mutex<WriterState>,
    published: Atomic<ThreadSnapshot>,
    /// End (µs, V8's monotonic clock) of the last profile folded: how old the thread's data is.
    last_end_us: AtomicI64,
}

#[derive(Default)]
struct WriterState {
    last_stack: Vec<FuncId>,
    stalls: StallWatch,
}

impl ThreadShard {
    /// End of the last profile folded (µs on the monotonic clock of V8's samples), if any.
    pub fn last_end_us(&self) -> Option<i64> {
        Some(self.last_end_us.load(Ordering::Relaxed)).filter(|&end| end != i64::MIN)
    }

    pub fn snapshot<'g>(&self, guard: &'g Guard) -> Option<&'g ThreadSnapshot> {
        // SAFETY: snapshots are only freed through `defer_destroy` after being replaced, or
        // when the shard drops; the guard keeps the current one alive while it is borrowed.
        unsafe { self.published.load(Ordering::Acquire, guard).as_ref() }
    }
}

impl Drop for ThreadShard {
    fn drop(&mut self) {
        // SAFETY: a shard drops with its session, after every guard that could see it is gone.
        unsafe {
            let current = self.published.load(Ordering::Relaxed, epoch::unprotected());
            if !current.is_null() {
                drop(current.into_owned());
            }
        }
    }
}

/// Numbers sessions, so that a mark taken in one (`window.rs`) knows a later one for another.
static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// Everything collected between two `clear_stats` calls.
pub struct Session {
    id: u64,
    pub functions: FunctionTable,
    pub stacks: StackTable,
    pub budget: Budget,
    threads: AppendVec<ThreadShard>,
    thread_slots: Mutex<HashMap<u32, usize>>,
    clock: AtomicU8,
    /// Samples dropped before any thread's stats could hold them (no room for the thread).
    unattributed_drops: AtomicU64,
    /// Tag switches threads recorded, and the session's tag names.
    pub tags: TagLog,
    /// Exact call counts, in `counts: 'exact'` mode.
    pub coverage: Coverage,
    /// Stalls of the threads' event loops.
    pub stalls: StallLog,
}

impl Session {
    fn new(max_memory_bytes: usize) -> Session {
        Session {
            id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
            functions: FunctionTable::default(),
            stacks: StackTable::default(),
            budget: Budget::new(max_memory_bytes),
            threads: AppendVec::default(),
            thread_slots: Mutex::new(HashMap::new()),
            clock: AtomicU8::new(0),
            unattributed_drops: AtomicU64::new(0),
            tags: TagLog::default(),
            coverage: Coverage::default(),
            stalls: StallLog::default(),
        }
    }

    pub fn clock(&self) -> Option<Clock> {
        Clock::from_code(self.clock.load(Ordering::Relaxed))
    }

    /// Unique in the process: a cleared engine's next session has another.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn threads(&self) -> impl Iterator<Item = &ThreadShard> {
        (0..self.threads.len()).filter_map(|slot| self.threads.get(slot))
    }

    fn shard(&self, thread: ThreadRef<'_>) -> Result<&ThreadShard, Refusal> {
        let mut slots = lock(&self.thread_slots);
        if let Some(&slot) = slots.get(&thread.id) {
            return self.threads.get(slot).ok_or(Refusal::OverBudget);
        }
        slots.try_reserve(1).map_err(|_| Refusal::AllocFailed)?;
        let shard = ThreadShard {
            id: thread.id,
            name: self.budget.string(thread.name)?,
            writer: Mutex::new(WriterState::default()),
            published: Atomic::null(),
            last_end_us: AtomicI64::new(i64::MIN),
        };
        let name_bytes = shard.name.len();
        let slot = self.threads.push(shard, &self.budget).inspect_err(|_| self.budget.release(name_bytes))?;
        slots.insert(thread.id, slot);
        self.threads.get(slot).ok_or(Refusal::OverBudget)
    }
}

struct Control {
    running: bool,
    owner: Option<Owner>,
}

/// The thread that started the profiler, and whether it profiles every thread or only itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub thread: u32,
    pub all_threads: bool,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub samples: u64,
    pub dropped_samples: u64,
    /// Time the engine spent folding and publishing the profile (the profiler's own cost).
    pub fold_ns: u64,
    /// Source maps found for the profile's scripts that could not be used, one message each.
    pub source_map_problems: Vec<String>,
    /// Stalls recorded by this fold.
    pub stalls: u64,
}

pub struct Engine {
    session: Atomic<Session>,
    control: Mutex<Control>,
    /// The budget of new sessions; apart from `control` so creating a session never locks it.
    max_memory_bytes: AtomicUsize,
    /// Stalls shorter than this are not recorded; 0: none are.
    stall_threshold_ns: AtomicU64,
    stall_capacity: AtomicUsize,
    /// Counts `begin`s, so a stall still open when a thread's last run ended is not joined
    /// with the next run's samples.
    run: AtomicU64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    pub const fn new() -> Engine {
        Engine {
            session: Atomic::null(),
            control: Mutex::new(Control { running: false, owner: None }),
            max_memory_bytes: AtomicUsize::new(DEFAULT_MAX_MEMORY_BYTES),
            stall_threshold_ns: AtomicU64::new(0),
            stall_capacity: AtomicUsize::new(0),
            run: AtomicU64::new(0),
        }
    }

    /// The current session, created on first use.
    fn current<'g>(&self, guard: &'g Guard) -> &'g Session {
        loop {
            let shared = self.session.load(Ordering::Acquire, guard);
            // SAFETY: sessions are only freed via `defer_destroy` after being swapped out.
            if let Some(session) = unsafe { shared.as_ref() } {
                return session;
            }
            let fresh = Owned::new(Session::new(self.max_memory_bytes.load(Ordering::Relaxed)));
            // A lost race just means another thread installed the session first.
            let _ = self.session.compare_exchange(Shared::null(), fresh, Ordering::AcqRel, Ordering::Acquire, guard);
        }
    }

    /// Marks the profiler running on `clock`, started by `owner`, with `max_memory_bytes` for its stats.
    pub fn begin(&self, clock: Clock, max_memory_bytes: usize, owner: Owner) -> Result<(), EngineError> {
        let mut control = lock(&self.control);
        if control.running {
            return Err(EngineError::AlreadyRunning);
        }
        let guard = epoch::pin();
        let session = self.current(&guard);
        let has_data = session.threads().any(|shard| shard.snapshot(&guard).is_some());
        if let Some(have) = session.clock().filter(|&have| have != clock && has_data) {
            return Err(EngineError::ClockMismatch { have, asked: clock });
        }
        session.clock.store(clock as u8, Ordering::Relaxed);
        session.budget.set_limit(max_memory_bytes);
        self.max_memory_bytes.store(max_memory_bytes, Ordering::Relaxed);
        control.running = true;
        control.owner = Some(owner);
        self.run.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `start()`: begins a run and fixes its counts mode. A mode the stats so far refuse ends
    /// the run again, so that a failed start leaves nothing running.
    pub fn start(&self, clock: Clock, max_memory_bytes: usize, owner: Owner, exact_counts: bool) -> Result<(), EngineError> {
        self.begin(clock, max_memory_bytes, owner)?;
        self.select_counts(exact_counts).map_err(|mismatch| {
            self.end();
            EngineError::Counts(mismatch)
        })
    }

    /// Records stalls of `threshold_ns` and longer from now on (0: none), keeping the newest `capacity`.
    pub fn watch_stalls(&self, threshold_ns: u64, capacity: usize) {
        self.stall_threshold_ns.store(threshold_ns, Ordering::Relaxed);
        self.stall_capacity.store(capacity, Ordering::Relaxed);
    }

    /// The stalls recorded that pass `filter`, as JSON (see `stalls::to_json`).
    pub fn stalls_json(&self, filter: &StallFilter, top: usize) -> Result<String, Refusal> {
        self.read(|view| stalls::to_json(&view.session.stalls, view.functions(), filter, top))
    }

    /// Marks the profiler stopped; false if it was not running.
    pub fn end(&self) -> bool {
        let mut control = lock(&self.control);
        control.owner = None;
        std::mem::replace(&mut control.running, false)
    }

    /// Who started the running profiler.
    pub fn owner(&self) -> Option<Owner> {
        lock(&self.control).owner
    }

    pub fn is_running(&self) -> bool {
        lock(&self.control).running
    }

    /// Forgets every stat; a running profiler goes on into a fresh session of the same clock.
    pub fn clear(&self) {
        let guard = epoch::pin();
        let clock = self.current(&guard).clock.load(Ordering::Relaxed);
        let fresh = Session::new(self.max_memory_bytes.load(Ordering::Relaxed));
        fresh.clock.store(clock, Ordering::Relaxed);
        if let Some(exact) = self.current(&guard).coverage.mode() {
            // A fresh session has no data, so keeping the running profiler's mode cannot fail.
            let _ = fresh.coverage.select(exact, false);
        }
        let old = self.session.swap(Owned::new(fresh), Ordering::AcqRel, &guard);
        if !old.is_null() {
            // SAFETY: `old` is no longer reachable from the engine; pinned readers keep it alive.
            unsafe { guard.defer_destroy(old) };
        }
    }

    /// Forgets one thread's stats, keeping the rest of the session.
    pub fn forget_thread(&self, id: u32) {
        let guard = epoch::pin();
        let session = self.current(&guard);
        let Some(shard) = session.threads().find(|shard| shard.id == id) else { return };
        let mut writer = lock(&shard.writer);
        writer.last_stack = Vec::new();
        writer.stalls.reset(&session.budget);
        shard.last_end_us.store(i64::MIN, Ordering::Relaxed);
        session.tags.forget(id, &session.budget);
        let old = shard.published.swap(Shared::null(), Ordering::AcqRel, &guard);
        if let Some(snapshot) = unsafe_ref(old) {
            session.budget.release(snapshot.heap_bytes() + snapshot.tags.heap_bytes());
            // SAFETY: unreachable from the shard now; readers hold guards.
            unsafe { guard.defer_destroy(old) };
        }
    }

    /// Folds one profile of `thread` into the session and publishes the thread's new stats.
    /// The source maps of scripts it names for the first time are looked for first, so that the
    /// fold interns their functions under their original names.
    pub fn ingest(&self, thread: ThreadRef<'_>, profile: &FlatProfile, options: &FoldOptions) -> Result<IngestOutcome, EngineError> {
        let source_map_problems = crate::fold::discover_source_maps(profile, options);
        let started = std::time::Instant::now();
        let mut outcome = self.fold_and_publish(thread, profile, options)?;
        outcome.fold_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        outcome.source_map_problems = source_map_problems;
        Ok(outcome)
    }

    fn fold_and_publish(&self, thread: ThreadRef<'_>, profile: &FlatProfile, options: &FoldOptions) -> Result<IngestOutcome, EngineError> {
        let guard = epoch::pin();
        let session = self.current(&guard);
        let shard = match session.shard(thread) {
            Ok(shard) => shard,
            Err(_) => {
                let samples = profile.samples.len() as u64;
                session.unattributed_drops.fetch_add(samples, Ordering::Relaxed);
                return Ok(IngestOutcome { samples, dropped_samples: samples, ..IngestOutcome::default() });
            }
        };
        let mut writer = lock(&shard.writer);
        let not_before_us = shard.last_end_us();
        shard.last_end_us.fetch_max(profile.end_time, Ordering::Relaxed);
        let tag_input = session.tags.take(thread.id, profile.end_time, &session.budget);
        let mut found = Vec::new();
        let watch = &mut writer.stalls;
        watch.threshold_ns = self.stall_threshold_ns.load(Ordering::Relaxed);
        let run = self.run.load(Ordering::Relaxed);
        if watch.run != run {
            found.extend(watch.new_run(run, &session.budget));
        }
        let mut watch = std::mem::take(&mut writer.stalls);
        let continuation = Continuation { stack: &writer.last_stack, not_before_us };
        let folded = fold_tagged(profile, continuation, &session.functions, &session.budget, options, tag_input.as_ref(), Some(&mut watch));
        if let Some(input) = &tag_input {
            session.budget.forget(&input.switches);
        }
        session.stalls.count_dropped(std::mem::take(&mut watch.refused));
        writer.stalls = watch;
        let record = |found: Vec<_>| {
            let capacity = self.stall_capacity.load(Ordering::Relaxed);
            let tag_name = |tag| session.tags.table.name(tag).map(str::to_owned);
            session.stalls.record((thread.id, &shard.name), found, tag_name, capacity, &session.budget)
        };
        let mut delta = match folded {
            Ok(delta) => delta,
            Err(ProfileError::Refused(_)) => {
                let stalls = record(found);
                return Ok(IngestOutcome { stalls, ..drop_whole(shard, profile.samples.len() as u64, &guard) });
            }
            Err(error) => return Err(error.into()),
        };
        found.append(&mut delta.stalls);
        let stalls = record(found);
        let outcome = merge_delta(session, shard, &mut writer, delta, &guard).unwrap_or_else(|dropped| dropped);
        Ok(IngestOutcome { stalls, ..outcome })
    }

    /// Folds a profile the host flattened (see [`FlatParts`]).
    pub fn ingest_flat(&self, thread: ThreadRef<'_>, parts: &FlatParts<'_>, options: &FoldOptions) -> Result<IngestOutcome, EngineError> {
        self.ingest(thread, &parts.to_profile()?, options)
    }

    /// Folds a `.cpuprofile` document. Unlike a profile the sampler sent, a file is parsed
    /// against the session's budget: a file too large for it is refused, not counted as dropped.
    pub fn ingest_cpuprofile(&self, thread: ThreadRef<'_>, json: &str, options: &FoldOptions) -> Result<IngestOutcome, EngineError> {
        let profile = self.read(|view| cpuprofile::parse(json, view.budget()))?;
        self.ingest(thread, &profile, options)
    }

    /// Parses a profile that came as text and folds it. A profile that cannot be parsed for want
    /// of memory is counted as dropped: its samples are counted in the text without parsing it.
    pub fn ingest_text(&self, thread: ThreadRef<'_>, text: &str, format: TextFormat, options: &FoldOptions) -> Result<IngestOutcome, EngineError> {
        // Parsed with fallible allocations, as transient memory outside the stats' budget: a full
        // budget still lets the fold see (and count as dropped) the functions the profile names.
        let transient = Budget::new(usize::MAX);
        let parsed = match format {
            TextFormat::Serialized => crate::input::v8json::parse_serialized(text, &transient, crate::model::clock::monotonic_us()),
            TextFormat::InspectorMessage => crate::input::v8json::parse_inspector_message(text, &transient),
        };
        match parsed {
            Ok(profile) => self.ingest(thread, &profile, options),
            Err(ProfileError::Refused(_)) => {
                let guard = epoch::pin();
                let session = self.current(&guard);
                let samples = count_samples(text);
                match session.shard(thread) {
                    Ok(shard) => Ok(drop_whole(shard, samples, &guard)),
                    Err(_) => {
                        session.unattributed_drops.fetch_add(samples, Ordering::Relaxed);
                        Ok(IngestOutcome { samples, dropped_samples: samples, ..IngestOutcome::default() })
                    }
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Adds a saved report's stats to the current session (yappi's `add`), thread by thread.
    pub fn absorb(&self, report: &Report) -> Result<(), ReportError> {
        let guard = epoch::pin();
        let session = self.current(&guard);
        let clock = Clock::named(&report.clock).ok_or_else(|| ReportError::Inconsistent(format!("unknown clock {:?}", report.clock)))?;
        let has_data = session.threads().any(|shard| shard.snapshot(&guard).is_some());
        if let Some(have) = session.clock().filter(|&have| have != clock && has_data) {
            return Err(ReportError::ClockMismatch { have, file: report.clock.clone() });
        }
        session.clock.store(clock as u8, Ordering::Relaxed);
        if report.threads.iter().any(|thread| thread.exact_calls.is_some()) {
            // Refused when the stats here are estimates of a session that does not count
            // exactly: then the file's counts are read as estimates too.
            let _ = session.coverage.select(true, has_data);
        }
        let budget = &session.budget;
        let mut func_ids = Vec::new();
        budget.grow(&mut func_ids, report.functions.len())?;
        for index in 0..report.functions.len() {
            let key = report.function_key(index).ok_or_else(|| ReportError::Inconsistent(format!("function {index}")))?;
            func_ids.push(session.functions.intern(key, budget)?);
        }
        let func = |index: u32| func_ids.get(index as usize).copied();
        for thread in &report.threads {
            let shard = session.shard(ThreadRef { id: thread.id, name: &thread.name })?;
            let had_stats = shard.snapshot(&guard).is_some();
            let mut writer = lock(&shard.writer);
            let delta = ProfileDelta {
                totals: thread.totals,
                funcs: Report::rows(&thread.funcs, |&(f, _)| func(f), |&(_, s)| s, budget)?,
                edges: Report::rows(&thread.edges, |&(a, b, _)| Some((func(a)?, func(b)?)), |&(_, _, s)| s, budget)?,
                last_stack: std::mem::take(&mut writer.last_stack),
                paths: Report::paths(thread, &func_ids, budget)?,
                tags: None,
                stalls: Vec::new(),
            };
            merge_delta(session, shard, &mut writer, delta, &guard).map_err(|_| ReportError::Refused(Refusal::OverBudget))?;
            let calls = thread.exact_calls.as_deref().map(|calls| Report::calls(calls, &func_ids, budget)).transpose()?;
            let absorbed = session.coverage.absorb(thread.id, calls.as_deref(), had_stats, budget);
            if let Some(calls) = &calls {
                budget.forget(calls);
            }
            absorbed?;
        }
        budget.forget(&func_ids);
        Ok(())
    }

    /// Records tag switches of `thread` for its next fold (see [`TagLog::record`]); returns how
    /// many were dropped for want of memory.
    pub fn record_tags(&self, thread: u32, names: &[String], switches: &[(i64, u32)]) -> u64 {
        let guard = epoch::pin();
        let session = self.current(&guard);
        session.tags.record(thread, names, switches, &session.budget)
    }

    /// Fixes whether the session counts calls exactly; refused while it holds stats of the other mode.
    pub fn select_counts(&self, exact: bool) -> Result<(), CountsMismatch> {
        let guard = epoch::pin();
        let session = self.current(&guard);
        let has_samples = session.threads().any(|shard| shard.snapshot(&guard).is_some());
        session.coverage.select(exact, has_samples)
    }

    /// Adds one precise-coverage take of `thread` (see `input/exact_counts.rs`), reading the source of
    /// every script it needs once per script and session (and its source map first, so that
    /// functions are counted under the names and places the samples give them).
    pub fn ingest_coverage(&self, thread: u32, json: &str, naming: Naming<'_>) -> Result<TakeOutcome, ProfileError> {
        let guard = epoch::pin();
        let session = self.current(&guard);
        let mut outcome = session.coverage.ingest(thread, json, &session.functions, &session.budget, naming)?;
        if let Some(maps) = naming.source_maps {
            outcome.source_map_problems = maps.discover(outcome.missing_sources.iter().map(String::as_str), |url| naming.own_code.contains(url));
        }
        for url in &outcome.missing_sources {
            let source = script_source(url);
            outcome.counted += session.coverage.add_source(url, source.as_deref(), &session.functions, &session.budget, naming)?;
        }
        Ok(outcome)
    }

    /// Someone else's coverage calls disturbed `thread`'s counts: they are estimates from now on.
    pub fn coverage_disturbed(&self, thread: u32) -> Result<(), Refusal> {
        let guard = epoch::pin();
        let session = self.current(&guard);
        session.coverage.disturb(thread, &session.budget)
    }

    /// What the current session holds against its budget, and what it dropped.
    pub fn mem_usage(&self) -> MemUsage {
        self.read(|view| {
            let budget = view.budget();
            MemUsage {
                used_bytes: budget.used(),
                peak_bytes: budget.peak(),
                max_bytes: budget.limit(),
                refusals: budget.refusals(),
                functions: view.functions().len(),
                dropped_samples: view.dropped_samples(),
                dropped_functions: view.dropped_functions(),
            }
        })
    }

    /// Runs `read` on a consistent view of the current session.
    pub fn read<R>(&self, read: impl FnOnce(&SessionView<'_>) -> R) -> R {
        let guard = epoch::pin();
        let session = self.current(&guard);
        read(&SessionView { session, guard: &guard })
    }
}

/// The text of a `file:` script as V8 compiled it (CommonJS drops a leading byte order mark), or
/// `None` when it cannot be read: its functions then keep estimated counts.
fn script_source(url: &str) -> Option<String> {
    let path = crate::model::sourcemap::file_path(url)?;
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text))
}

/// Adds a delta to a thread's published stats; what the budget cannot hold is counted dropped
/// (the `Err` outcome).
fn merge_delta(
    session: &Session,
    shard: &ThreadShard,
    writer: &mut WriterState,
    delta: ProfileDelta,
    guard: &Guard,
) -> Result<IngestOutcome, IngestOutcome> {
    let outcome = IngestOutcome { samples: delta.totals.samples, dropped_samples: delta.totals.dropped_samples, ..IngestOutcome::default() };
    let ProfileDelta { totals, funcs, edges, last_stack, paths, tags, .. } = delta;
    let previous = shard.snapshot(guard);
    let empty = ThreadSnapshot::default();
    let base = previous.unwrap_or(&empty);
    let budget = &session.budget;
    let merged = merge_sorted(&base.funcs, &funcs, budget).and_then(|funcs| {
        let rest = merge_sorted(&base.edges, &edges, budget).and_then(|edges| {
            let stacks = intern_paths(&session.stacks, &paths, budget).and_then(|delta_stacks| {
                let stacks = merge_sorted(&base.stacks, &delta_stacks, budget);
                // The delta's rows were charged when interned; they are dropped here, merged or not.
                budget.forget(&delta_stacks);
                stacks
            });
            // A refusal drops the tables merged so far: their charge goes with them.
            if stacks.is_err() {
                budget.forget(&edges);
            }
            stacks.map(|stacks| (edges, stacks))
        });
        if rest.is_err() {
            budget.forget(&funcs);
        }
        rest.map(|(edges, stacks)| (funcs, edges, stacks))
    });
    match merged {
        Ok((funcs, edges, stacks)) => {
            let tags = merge_tags(&base.tags, tags, budget);
            let mut next =
                ThreadSnapshot { totals: base.totals, funcs: Arc::new(funcs), edges: Arc::new(edges), stacks: Arc::new(stacks), tags };
            next.totals += totals;
            budget.release(base.heap_bytes());
            publish(shard, next, guard);
            writer.last_stack = last_stack;
            Ok(outcome)
        }
        Err(_) => {
            let dropped = ThreadTotals { dropped_samples: totals.samples, ..totals };
            publish_totals(shard, dropped, guard);
            Err(IngestOutcome { samples: totals.samples, dropped_samples: totals.samples, ..IngestOutcome::default() })
        }
    }
}

fn unsafe_ref<'g>(shared: Shared<'g, ThreadSnapshot>) -> Option<&'g ThreadSnapshot> {
    // SAFETY: called on a snapshot just swapped out under a pinned guard, before it is deferred.
    unsafe { shared.as_ref() }
}

fn publish(shard: &ThreadShard, next: ThreadSnapshot, guard: &Guard) {
    let old = shard.published.swap(Owned::new(next), Ordering::AcqRel, guard);
    if !old.is_null() {
        // SAFETY: the old snapshot is unreachable from the shard now; readers hold guards.
        unsafe { guard.defer_destroy(old) };
    }
}

/// How a profile that arrives as text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// `CpuProfile::Serialize`'s JSON (`v8.startCpuProfile().stop()`).
    Serialized,
    /// An inspector message carrying a profile (`Profiler.stop`'s answer, a console profile's event).
    InspectorMessage,
}

/// The samples of a profile in its text, without parsing it: the numbers of its `"samples"` array.
fn count_samples(text: &str) -> u64 {
    let Some(start) = text.find("\"samples\":[").map(|at| at + "\"samples\":[".len()) else { return 0 };
    let Some(list) = text.get(start..).and_then(|rest| rest.split(']').next()) else { return 0 };
    if list.trim().is_empty() { 0 } else { list.bytes().filter(|&b| b == b',').count() as u64 + 1 }
}

/// Counts a whole profile as dropped.
fn drop_whole(shard: &ThreadShard, samples: u64, guard: &Guard) -> IngestOutcome {
    let totals = ThreadTotals { samples, dropped_samples: samples, profiles: 1, ..ThreadTotals::default() };
    publish_totals(shard, totals, guard);
    IngestOutcome { samples, dropped_samples: samples, ..IngestOutcome::default() }
}

/// Adds totals only (data dropped), sharing the current tables.
/// The thread's tag stats after a fold: `base` with the fold's tags added, or `base` itself.
/// A refused merge keeps `base` (the tags of that profile are lost, its samples still count).
fn merge_tags(base: &Arc<TagStats>, delta: Option<TagStats>, budget: &Budget) -> Arc<TagStats> {
    let Some(delta) = delta.filter(|delta| !delta.is_empty()) else { return Arc::clone(base) };
    match base.merged(&delta, budget) {
        Ok(merged) => {
            // The old tables stay charged while a snapshot may still share them; they are
            // returned here, once, by the writer that replaces them.
            budget.release(base.heap_bytes());
            Arc::new(merged)
        }
        Err(_) => Arc::clone(base),
    }
}

fn publish_totals(shard: &ThreadShard, totals: ThreadTotals, guard: &Guard) {
    let mut next = shard.snapshot(guard).map(|current| ThreadSnapshot {
        totals: current.totals,
        funcs: Arc::clone(&current.funcs),
        edges: Arc::clone(&current.edges),
        stacks: Arc::clone(&current.stacks),
        tags: Arc::clone(&current.tags),
    });
    let next = next.get_or_insert_with(ThreadSnapshot::default);
    next.totals += totals;
    publish(shard, std::mem::take(next), guard);
}

/// A session as one reader sees it.
pub struct SessionView<'g> {
    pub session: &'g Session,
    guard: &'g Guard,
}

impl<'g> SessionView<'g> {
    pub fn functions(&self) -> &'g FunctionTable {
        &self.session.functions
    }

    pub fn stacks(&self) -> &'g StackTable {
        &self.session.stacks
    }

    pub fn clock(&self) -> Option<Clock> {
        self.session.clock()
    }

    pub fn budget(&self) -> &'g Budget {
        &self.session.budget
    }

    /// New functions refused for want of memory (their samples count as dropped).
    pub fn dropped_functions(&self) -> u64 {
        self.session.functions.refused()
    }

    /// Samples dropped for want of memory, on every thread.
    pub fn dropped_samples(&self) -> u64 {
        let by_threads: u64 = self.threads().map(|(_, snapshot)| snapshot.totals.dropped_samples).sum();
        by_threads + self.session.unattributed_drops.load(Ordering::Relaxed)
    }

    /// Every thread with stats, and its current snapshot.
    pub fn threads(&self) -> impl Iterator<Item = (&'g ThreadShard, &'g ThreadSnapshot)> + '_ {
        self.session.threads().filter_map(|shard| shard.snapshot(self.guard).map(|snapshot| (shard, snapshot)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::query::{StatsFilter, merged};
    use crate::testing::profile_at;

    const OWNER: Owner = Owner { thread: 0, all_threads: true };

    /// Each profile of a thread starts where its last one ended, as a sampler's do.
    fn ingest(engine: &Engine, thread: u32, samples: &[(&[&str], i64)]) -> IngestOutcome {
        let start = engine.read(|view| view.threads().find(|(shard, _)| shard.id == thread).and_then(|(shard, _)| shard.last_end_us()));
        let profile = profile_at(start.map_or(1_000, |end| end + 1), samples);
        engine.ingest(ThreadRef { id: thread, name: "t" }, &profile, &FoldOptions::default()).unwrap()
    }

    fn ttot_of(engine: &Engine, name: &str, threads: Option<Vec<u32>>) -> u64 {
        engine.read(|view| {
            let stats = merged(view, &StatsFilter { threads }).unwrap();
            stats
                .funcs
                .iter()
                .find(|(id, _)| view.functions().get(*id).unwrap().name == name)
                .map_or(0, |(_, s)| s.ttot_ns)
        })
    }

    #[test]
    fn begin_twice_is_refused_and_end_reports_state() {
        let engine = Engine::new();
        engine.begin(Clock::Wall, 1 << 20, OWNER).unwrap();
        assert_eq!(engine.begin(Clock::Wall, 1 << 20, OWNER), Err(EngineError::AlreadyRunning));
        assert_eq!(engine.owner(), Some(OWNER));
        assert!(engine.end());
        assert!(!engine.end());
    }

    #[test]
    fn a_clock_change_needs_cleared_stats() {
        let engine = Engine::new();
        engine.begin(Clock::Wall, 1 << 20, OWNER).unwrap();
        ingest(&engine, 0, &[(&["a"], 5)]);
        engine.end();
        assert_eq!(engine.begin(Clock::Cpu, 1 << 20, OWNER), Err(EngineError::ClockMismatch { have: Clock::Wall, asked: Clock::Cpu }));
        engine.clear();
        engine.begin(Clock::Cpu, 1 << 20, OWNER).unwrap();
    }

    #[test]
    fn a_start_in_the_other_counts_mode_leaves_nothing_running() {
        let engine = Engine::new();
        engine.start(Clock::Wall, 1 << 20, OWNER, false).unwrap();
        ingest(&engine, 0, &[(&["a"], 5)]);
        engine.end();
        assert!(matches!(engine.start(Clock::Wall, 1 << 20, OWNER, true), Err(EngineError::Counts(_))));
        assert!(!engine.is_running());
        assert_eq!(engine.owner(), None);
        engine.start(Clock::Wall, 1 << 20, OWNER, false).unwrap();
    }

    #[test]
    fn folding_the_same_stacks_again_keeps_the_budget_flat() {
        let engine = Engine::new();
        let samples: &[(&[&str], i64)] = &[(&["main", "work"], 5), (&["main", "work", "leaf"], 5), (&["main", "other"], 5)];
        let used = || engine.read(|view| view.budget().used());
        // The first two folds meet every function, edge and stack; later ones only add numbers.
        ingest(&engine, 0, samples);
        ingest(&engine, 0, samples);
        let settled = used();
        for _ in 0..20 {
            ingest(&engine, 0, samples);
        }
        assert_eq!(used(), settled);
    }

    /// Whatever step of an ingest the budget refuses (the thread's slot, the fold, the merge),
    /// what was charged before it is given back: refusals repeated forever leave the budget
    /// where it was. (A refused thread slot used to keep its name's bytes.)
    #[test]
    fn refused_merges_keep_the_budget_flat() {
        let samples: Vec<(Vec<String>, i64)> =
            (0..40).map(|i| (vec!["main".to_string(), format!("f{i}"), format!("g{}", i % 7)], 3)).collect();
        let stacks: Vec<(Vec<&str>, i64)> = samples.iter().map(|(names, w)| (names.iter().map(String::as_str).collect(), *w)).collect();
        let samples: Vec<(&[&str], i64)> = stacks.iter().map(|(names, w)| (names.as_slice(), *w)).collect();
        let mut refusals_seen = 0;
        for limit in (4096..96 * 1024).step_by(256) {
            let engine = Engine::new();
            engine.begin(Clock::Wall, limit, OWNER).unwrap();
            let used = || engine.read(|view| view.budget().used());
            let dropped = |engine: &Engine| ingest(engine, 0, &samples).dropped_samples > 0;
            if !dropped(&engine) && !dropped(&engine) {
                continue;
            }
            refusals_seen += 1;
            let settled = used();
            for _ in 0..5 {
                dropped(&engine);
            }
            assert_eq!(used(), settled, "budget of {limit} bytes");
        }
        assert!(refusals_seen > 0, "some budget refused a merge");
    }

    #[test]
    fn stats_accumulate_per_thread_and_merge_on_read() {
        let engine = Engine::new();
        ingest(&engine, 0, &[(&["a"], 5)]);
        ingest(&engine, 0, &[(&["a"], 7)]);
        ingest(&engine, 3, &[(&["a"], 11)]);
        assert_eq!(ttot_of(&engine, "a", None), 23_000);
        assert_eq!(ttot_of(&engine, "a", Some(vec![0])), 12_000);
        assert_eq!(ttot_of(&engine, "a", Some(vec![3])), 11_000);
        engine.forget_thread(3);
        assert_eq!(ttot_of(&engine, "a", None), 12_000);
        engine.clear();
        assert_eq!(ttot_of(&engine, "a", None), 0);
    }

    #[test]
    fn a_profile_too_large_to_parse_is_counted_as_dropped() {
        let engine = Engine::new();
        engine.begin(Clock::Wall, 4096, OWNER).unwrap();
        let message = r#"{"method":"Profiler.consoleProfileFinished","params":{"profile":{"nodes":[{"id":1,"callFrame":{"functionName":"(root)","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1}}],"startTime":0,"endTime":9,"samples":[1,1,1],"timeDeltas":[3,3,3]},"title":"t"}}"#;
        let outcome = engine.ingest_text(ThreadRef { id: 4, name: "t" }, message, TextFormat::InspectorMessage, &FoldOptions::default()).unwrap();
        assert_eq!((outcome.samples, outcome.dropped_samples), (3, 3), "parsed, then refused by the fold's budget");
        assert_eq!(engine.read(|view| view.dropped_samples()), 3);
        assert_eq!(count_samples(r#"{"samples":[],"x":1}"#), 0);
        assert_eq!(count_samples(r#"{"samples":[4, 5,6]}"#), 3);
    }

    #[test]
    fn a_full_budget_drops_and_counts_whole_profiles() {
        let engine = Engine::new();
        engine.begin(Clock::Wall, 4096, OWNER).unwrap();
        let outcome = ingest(&engine, 0, &[(&["a"], 5), (&["b"], 5)]);
        assert_eq!(outcome.dropped_samples, 2);
        assert_eq!(engine.read(|view| view.dropped_samples()), 2);
    }

    /// Writers on several threads fold while readers on others read: no reader ever sees a
    /// total that is not a sum of whole profiles, and nothing is lost.
    #[test]
    fn writers_and_readers_on_many_threads_see_consistent_snapshots() {
        let engine = std::sync::Arc::new(Engine::new());
        let rounds = 300;
        let writers: Vec<_> = (0..4u32)
            .map(|thread| {
                let engine = engine.clone();
                std::thread::spawn(move || {
                    for _ in 0..rounds {
                        ingest(&engine, thread, &[(&["main", "work"], 3), (&["main"], 7)]);
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let engine = engine.clone();
                std::thread::spawn(move || {
                    for _ in 0..rounds {
                        let (main, work, wall) = engine.read(|view| {
                            let stats = merged(view, &StatsFilter::default()).unwrap();
                            let of = |name: &str| {
                                stats
                                    .funcs
                                    .iter()
                                    .find(|(id, _)| view.functions().get(*id).unwrap().name == name)
                                    .map_or(0, |(_, s)| s.ttot_ns)
                            };
                            (of("main"), of("work"), stats.totals.wall_ns)
                        });
                        assert_eq!(main % 10_000, 0, "main's time is whole profiles");
                        assert_eq!(work * 10, main * 3, "work and main come from the same profiles");
                        assert_eq!(wall, main);
                    }
                })
            })
            .collect();
        for handle in writers.into_iter().chain(readers) {
            handle.join().unwrap();
        }
        assert_eq!(ttot_of(&engine, "main", None), 4 * rounds as u64 * 10_000);
    }
}
