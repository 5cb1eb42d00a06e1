//! The napi-rs shell around the engine: convert arguments, call one engine function, map errors.
//! Every export catches panics, so none can unwind into Node.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use napi::bindgen_prelude::{Buffer, Float64Array, Uint32Array};
use napi::{Error, Status};
use napi_derive::napi;
use yappi_engine::{
    COSTS, Clock, Cost, CountsMismatch, EngineError, FaultLog, FlatParts, FocusFrame, FoldOptions, FoldProgress, IngestOutcome, Mailbox, Mark, Naming,
    OverheadLedger, Owner, OwnCode, ProfileError, Refusal, ReportError, ScopeError, Scopes, SourceMaps, StallFilter, StatsFilter, TextFormat, ThreadRef,
    UnknownClock, encode,
};
use yappi_engine::export::{self, ExportError, Format};

/// Every scope of stats: `global` (`start()`'s, shared by every thread of the process),
/// `profile` and the `loaded:<n>` files.
static SCOPES: Scopes = Scopes::new();
/// What profiling costs each thread, since the last `start()`.
static OVERHEAD: OverheadLedger = OverheadLedger::new();
/// Where threads wait for the profiler thread (or the main thread) to answer their requests,
/// and take the stats it encoded for them.
static MAILBOX: std::sync::LazyLock<Mailbox<encode::Encoded>> = std::sync::LazyLock::new(Mailbox::default);
/// How far each thread's profiles are folded, for reads that wait for their own.
static FOLD_PROGRESS: std::sync::LazyLock<FoldProgress> = std::sync::LazyLock::new(FoldProgress::default);
/// The profiler thread's Node thread id once it can take requests, or `NO_PROFILER_THREAD`.
static PROFILER_THREAD: AtomicU32 = AtomicU32::new(NO_PROFILER_THREAD);
const NO_PROFILER_THREAD: u32 = u32::MAX;
/// Source maps of generated scripts, shared by every scope and every thread.
static SOURCE_MAPS: std::sync::LazyLock<SourceMaps> = std::sync::LazyLock::new(SourceMaps::default);

/// Why a call failed, as `YappiError.code` names it (src/errors.ts reads it off the message).
#[derive(Debug, Clone, Copy)]
enum Code {
    /// The caller's input is wrong: an unknown name, a malformed profile or file.
    BadInput,
    /// The call conflicts with the profiler's state (already running, another clock's stats).
    State,
    /// The budget or the allocator refused memory.
    OutOfMemory,
}

impl Code {
    fn name(self) -> &'static str {
        match self {
            Code::BadInput => "ERR_YAPPI_BAD_INPUT",
            Code::State => "ERR_YAPPI_STATE",
            Code::OutOfMemory => "ERR_YAPPI_OUT_OF_MEMORY",
        }
    }
}

/// The one conversion of the engine's errors into JavaScript's: napi-rs gives a thrown error
/// no code of ours, so the code leads the message as `CODE: message`.
struct Failure {
    code: Code,
    message: String,
}

type Result<T> = napi::Result<T>;

/// `?` converts once, and napi's error is foreign to the engine's: this converts the rest
/// (lancedb's `NapiErrorExt` pattern).
trait OrThrow<T> {
    fn or_throw(self) -> Result<T>;
}

impl<T, E: Into<Failure>> OrThrow<T> for std::result::Result<T, E> {
    fn or_throw(self) -> Result<T> {
        self.map_err(|error| Error::from(error.into()))
    }
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Error {
        let status = if matches!(failure.code, Code::BadInput) { Status::InvalidArg } else { Status::GenericFailure };
        Error::new(status, format!("{}: {}", failure.code.name(), failure.message))
    }
}

fn bad_input(message: impl Into<String>) -> Failure {
    Failure { code: Code::BadInput, message: message.into() }
}

/// Memory refused while doing `what` ("reading stats"): the one out-of-memory message.
fn out_of_memory(what: &str) -> impl Fn(Refusal) -> Failure + '_ {
    move |_| Failure { code: Code::OutOfMemory, message: format!("out of memory {what}") }
}

impl From<std::collections::TryReserveError> for Failure {
    fn from(_: std::collections::TryReserveError) -> Failure {
        out_of_memory("copying arguments")(Refusal::AllocFailed)
    }
}

impl From<ProfileError> for Failure {
    fn from(error: ProfileError) -> Failure {
        let code = if matches!(error, ProfileError::Refused(_)) { Code::OutOfMemory } else { Code::BadInput };
        Failure { code, message: error.to_string() }
    }
}

impl From<EngineError> for Failure {
    fn from(error: EngineError) -> Failure {
        match error {
            EngineError::Profile(error) => error.into(),
            EngineError::Counts(error) => error.into(),
            EngineError::AlreadyRunning | EngineError::ClockMismatch { .. } => Failure { code: Code::State, message: error.to_string() },
        }
    }
}

impl From<CountsMismatch> for Failure {
    fn from(error: CountsMismatch) -> Failure {
        Failure { code: Code::State, message: error.to_string() }
    }
}

impl From<ReportError> for Failure {
    fn from(error: ReportError) -> Failure {
        let code = if matches!(error, ReportError::Refused(_)) { Code::OutOfMemory } else { Code::BadInput };
        Failure { code, message: error.to_string() }
    }
}

impl From<ScopeError> for Failure {
    fn from(error: ScopeError) -> Failure {
        match error {
            ScopeError::Report(error) => error.into(),
            ScopeError::Unknown(_) => bad_input(error.to_string()),
        }
    }
}

impl From<ExportError> for Failure {
    fn from(error: ExportError) -> Failure {
        match error {
            ExportError::Report(error) => error.into(),
            ExportError::OutOfMemory => Failure { code: Code::OutOfMemory, message: error.to_string() },
            ExportError::UnknownFormat(_) | ExportError::OneThreadOnly(_) => bad_input(error.to_string()),
        }
    }
}

impl From<UnknownClock> for Failure {
    fn from(error: UnknownClock) -> Failure {
        bad_input(error.to_string())
    }
}

#[napi(catch_unwind)]
pub fn begin(clock: String, max_memory_bytes: f64, owner_thread: u32, all_threads: bool, exact_counts: bool) -> Result<()> {
    let clock = Clock::parse(&clock).or_throw()?;
    let owner = Owner { thread: owner_thread, all_threads };
    SCOPES.global().start(clock, max_memory_bytes as usize, owner, exact_counts).or_throw()
}

/// Records stalls of the event loops of `threshold_ms` and longer (0: none), keeping the newest `capacity`.
#[napi(catch_unwind)]
pub fn watch_stalls(threshold_ms: f64, capacity: u32) {
    SCOPES.global().watch_stalls((threshold_ms.max(0.0) * 1e6) as u64, capacity as usize);
}

/// The stalls recorded (see `Engine::stalls_json`), as JSON.
#[napi(catch_unwind)]
pub fn stalls(threads: Option<Vec<u32>>, min_duration_ms: f64, since_epoch_ms: Option<f64>, top: u32) -> Result<String> {
    let filter = StallFilter { threads, min_duration_ns: (min_duration_ms.max(0.0) * 1e6) as u64, since_epoch_ms };
    SCOPES.global().stalls_json(&filter, top as usize).map_err(out_of_memory("reading stalls")).or_throw()
}

/// Stall `id` rendered in an export format (its own flame graph), or null when it is no longer held.
#[napi(catch_unwind)]
pub fn export_stall(id: f64, format: String) -> Result<Option<Buffer>> {
    let format = Format::parse(&format).or_throw()?;
    export::export_stall(SCOPES.global(), id as u64, format).map(|bytes| bytes.map(Buffer::from)).or_throw()
}

#[napi(object)]
pub struct BindingTakeOutcome {
    pub canary: f64,
    pub counted: f64,
    pub disturbed: bool,
    pub source_map_problems: Vec<String>,
}

fn own_code(prefixes: Vec<String>) -> OwnCode {
    OwnCode { url_prefixes: prefixes }
}

/// Counted functions are named like sampled ones: the same own code left out, the same maps.
fn naming(own_code: &OwnCode) -> Naming<'_> {
    Naming { own_code, source_maps: Some(&SOURCE_MAPS) }
}

/// Adds a precise-coverage take (the inspector's answer as JSON) of a thread to `start()`'s stats.
#[napi(catch_unwind)]
pub fn ingest_coverage(thread_id: u32, json: String, own_code_prefixes: Vec<String>) -> Result<BindingTakeOutcome> {
    let outcome = SCOPES.global().ingest_coverage(thread_id, &json, naming(&own_code(own_code_prefixes))).or_throw()?;
    Ok(BindingTakeOutcome {
        canary: outcome.canary as f64,
        counted: outcome.counted as f64,
        disturbed: outcome.disturbed,
        source_map_problems: outcome.source_map_problems,
    })
}

/// Another session disturbed a thread's coverage: its counts are estimates from now on.
#[napi(catch_unwind)]
pub fn coverage_disturbed(thread_id: u32) -> Result<()> {
    SCOPES.global().coverage_disturbed(thread_id).map_err(out_of_memory("for coverage")).or_throw()
}

#[napi(object)]
pub struct BindingOwner {
    pub thread: u32,
    pub all_threads: bool,
}

/// The thread that started the running profiler, if any.
#[napi(catch_unwind)]
pub fn owner() -> Option<BindingOwner> {
    SCOPES.global().owner().map(|owner| BindingOwner { thread: owner.thread, all_threads: owner.all_threads })
}

#[napi(catch_unwind)]
pub fn end() -> bool {
    SCOPES.global().end()
}

#[napi(catch_unwind)]
pub fn is_running() -> bool {
    SCOPES.global().is_running()
}

#[napi(catch_unwind)]
pub fn clear_stats() {
    SCOPES.global().clear();
}

/// Forgets one thread's stats in a scope (used to reset a `profile(fn)` thread).
#[napi(catch_unwind)]
pub fn forget_thread(scope: String, thread_id: u32) -> Result<()> {
    SCOPES.get(&scope).or_throw()?.forget_thread(thread_id);
    Ok(())
}

#[napi(object)]
pub struct BindingThread {
    pub id: u32,
    pub name: String,
}

impl BindingThread {
    fn engine_ref(&self) -> ThreadRef<'_> {
        ThreadRef { id: self.id, name: &self.name }
    }
}

#[napi(object)]
pub struct BindingFoldOptions {
    pub show_builtins: bool,
    pub own_code_prefixes: Vec<String>,
    pub focus_name: Option<String>,
    pub focus_url: Option<String>,
    pub cpu_clock: bool,
    pub cpu_time_ns: Option<f64>,
}

impl From<BindingFoldOptions> for FoldOptions {
    fn from(options: BindingFoldOptions) -> Self {
        let focus = match (options.focus_name, options.focus_url) {
            (Some(name), Some(url)) => Some(FocusFrame { name, url }),
            _ => None,
        };
        FoldOptions {
            show_builtins: options.show_builtins,
            own_code: OwnCode { url_prefixes: options.own_code_prefixes },
            focus,
            cpu_clock: options.cpu_clock,
            cpu_time_ns: options.cpu_time_ns.filter(|ns| ns.is_finite() && *ns >= 0.0).map(|ns| ns as u64),
            source_maps: Some(&SOURCE_MAPS),
        }
    }
}

/// A profile flattened by the host: frames as JSON tuples, the tree and samples as typed arrays.
#[napi(object)]
pub struct BindingFlatProfile {
    pub frames: String,
    pub node_parent: Uint32Array,
    pub node_frame: Uint32Array,
    pub samples: Uint32Array,
    pub time_deltas: Float64Array,
    pub start_time: f64,
    pub end_time: f64,
}

#[napi(object)]
pub struct BindingIngestOutcome {
    pub samples: f64,
    pub dropped_samples: f64,
    pub fold_ns: f64,
    /// Source maps found for the profile's scripts that could not be used: one message each.
    pub source_map_problems: Vec<String>,
    /// Stalls the fold recorded.
    pub stalls: f64,
}

fn outcome_of(outcome: IngestOutcome) -> BindingIngestOutcome {
    BindingIngestOutcome {
        samples: outcome.samples as f64,
        dropped_samples: outcome.dropped_samples as f64,
        fold_ns: outcome.fold_ns as f64,
        source_map_problems: outcome.source_map_problems,
        stalls: outcome.stalls as f64,
    }
}

/// Folds a profile that came as text into `scope`; with `seq`, marks profile `seq` of the thread
/// folded, also when it cannot be: a thread that waits for its own profile must not wait for
/// one that will never come.
fn ingest_text(scope: &str, thread: BindingThread, seq: Option<f64>, text: &str, format: TextFormat, options: BindingFoldOptions) -> Result<BindingIngestOutcome> {
    let thread_id = thread.id;
    let outcome = SCOPES.get(scope).map_err(Failure::from).and_then(|engine| {
        let outcome = engine.ingest_text(thread.engine_ref(), text, format, &options.into())?;
        Ok(outcome_of(outcome))
    });
    if let Some(seq) = seq {
        FOLD_PROGRESS.advance(thread_id, seq as u64);
    }
    outcome.or_throw()
}

#[napi(catch_unwind)]
pub fn ingest_flat(scope: String, thread: BindingThread, profile: BindingFlatProfile, options: BindingFoldOptions) -> Result<BindingIngestOutcome> {
    let parts = FlatParts {
        frames: &profile.frames,
        node_parent: &profile.node_parent,
        node_frame: &profile.node_frame,
        samples: &profile.samples,
        time_deltas: &profile.time_deltas,
        start_time: profile.start_time,
        end_time: profile.end_time,
    };
    let outcome = SCOPES.get(&scope).or_throw()?.ingest_flat(thread.engine_ref(), &parts, &options.into()).or_throw()?;
    Ok(outcome_of(outcome))
}
/// Folds profile `seq` of a thread that arrived as an inspector message (a console profile's
/// event, an answer to `Profiler.stop`), without the host parsing it.
#[napi(catch_unwind)]
pub fn ingest_profile_message(thread: BindingThread, seq: f64, message: String, options: BindingFoldOptions) -> Result<BindingIngestOutcome> {
    ingest_text("global", thread, Some(seq), &message, TextFormat::InspectorMessage, options)
}

/// Folds a profile as `v8.startCpuProfile().stop()` wrote it into `scope` (profile `seq` of
/// the thread, when numbered).
#[napi(catch_unwind)]
pub fn ingest_serialized_profile(scope: String, thread: BindingThread, seq: Option<f64>, json: String, options: BindingFoldOptions) -> Result<BindingIngestOutcome> {
    ingest_text(&scope, thread, seq, &json, TextFormat::Serialized, options)
}

/// Profile `seq` of a thread will not come (lost with its thread, or failed): nobody waits for it.
#[napi(catch_unwind)]
pub fn fold_skipped(thread_id: u32, seq: f64) {
    FOLD_PROGRESS.advance(thread_id, seq as u64);
}

/// Waits up to `timeout_ms` for profile `seq` of a thread to be folded; whether it is.
#[napi(catch_unwind)]
pub fn fold_wait(thread_id: u32, seq: f64, timeout_ms: u32) -> bool {
    FOLD_PROGRESS.wait(thread_id, seq as u64, Duration::from_millis(u64::from(timeout_ms)))
}

/// The profiler thread's Node thread id once it takes requests, or null.
#[napi(catch_unwind)]
pub fn profiler_thread() -> Option<u32> {
    Some(PROFILER_THREAD.load(Ordering::Acquire)).filter(|&id| id != NO_PROFILER_THREAD)
}

/// The profiler thread says it takes requests (its thread id) or that it is gone (null).
#[napi(catch_unwind)]
pub fn set_profiler_thread(thread_id: Option<u32>) {
    PROFILER_THREAD.store(thread_id.unwrap_or(NO_PROFILER_THREAD), Ordering::Release);
}

#[napi(catch_unwind)]
pub fn ingest_cpuprofile(scope: String, thread: BindingThread, json: String, options: BindingFoldOptions) -> Result<BindingIngestOutcome> {
    let outcome = SCOPES.get(&scope).or_throw()?.ingest_cpuprofile(thread.engine_ref(), &json, &options.into()).or_throw()?;
    Ok(outcome_of(outcome))
}

#[napi(object)]
pub struct BindingEncoded {
    pub numbers: Float64Array,
    pub ints: Uint32Array,
    pub text: String,
}

impl From<encode::Encoded> for BindingEncoded {
    fn from(encoded: encode::Encoded) -> Self {
        BindingEncoded { numbers: Float64Array::new(encoded.numbers), ints: Uint32Array::new(encoded.ints), text: encoded.text }
    }
}

/// The function stats of `scope` (the selected threads); with `tag`, only samples taken under it.
#[napi(catch_unwind)]
pub fn func_stats(scope: String, threads: Option<Vec<u32>>, tag: Option<String>) -> Result<BindingEncoded> {
    let filter = StatsFilter { threads };
    encode::read_func_stats(&*SCOPES.get(&scope).or_throw()?, &filter, tag.as_deref()).map(BindingEncoded::from).map_err(out_of_memory("reading stats")).or_throw()
}

#[napi(catch_unwind)]
pub fn thread_stats(scope: String) -> Result<BindingEncoded> {
    encode::read_thread_stats(&*SCOPES.get(&scope).or_throw()?).map(BindingEncoded::from).map_err(out_of_memory("reading stats")).or_throw()
}

/// The stats of `scope` (the selected threads) rendered in an export format.
#[napi(catch_unwind)]
pub fn export_stats(scope: String, threads: Option<Vec<u32>>, format: String) -> Result<Buffer> {
    let format = Format::parse(&format).or_throw()?;
    export::export(&*SCOPES.get(&scope).or_throw()?, &StatsFilter { threads }, format).map(Buffer::from).or_throw()
}

/// Adds a saved `json` stats file to `scope` (a fresh `loaded:<n>` scope when none); returns the scope.
#[napi(catch_unwind)]
pub fn load_stats(json: Buffer, scope: Option<String>) -> Result<String> {
    SCOPES.load_json(&json, scope.as_deref()).or_throw()
}

/// Frees a `loaded:<n>` scope.
#[napi(catch_unwind)]
pub fn drop_stats(scope: String) {
    SCOPES.drop_loaded(&scope);
}

#[napi(object)]
pub struct BindingMemUsage {
    pub used_bytes: f64,
    pub peak_bytes: f64,
    pub max_bytes: f64,
    pub refusals: f64,
    pub functions: f64,
    pub dropped_samples: f64,
    pub dropped_functions: f64,
}

#[napi(catch_unwind)]
pub fn mem_usage() -> BindingMemUsage {
    let usage = SCOPES.global().mem_usage();
    BindingMemUsage {
        used_bytes: usage.used_bytes as f64,
        peak_bytes: usage.peak_bytes as f64,
        max_bytes: usage.max_bytes as f64,
        refusals: usage.refusals as f64,
        functions: usage.functions as f64,
        dropped_samples: usage.dropped_samples as f64,
        dropped_functions: usage.dropped_functions as f64,
    }
}

/// CPU time of the calling thread in ns, or null where the OS has no thread CPU clock.
#[napi(catch_unwind)]
pub fn thread_cpu_time_ns() -> Option<f64> {
    yappi_engine::thread_cpu_time_ns().map(|ns| ns as f64)
}

#[napi(catch_unwind)]
pub fn mailbox_ticket() -> f64 {
    MAILBOX.ticket() as f64
}

#[napi(catch_unwind)]
pub fn mailbox_answer(ticket: f64, answer: String) -> bool {
    MAILBOX.answer(ticket as u64, answer)
}

/// Waits up to `timeout_ms` for the ticket's answer; null when none came yet (the ticket stays
/// open: wait again between returns to JavaScript, or forget it).
#[napi(catch_unwind)]
pub fn mailbox_wait(ticket: f64, timeout_ms: u32) -> Option<String> {
    MAILBOX.wait_slice(ticket as u64, Duration::from_millis(u64::from(timeout_ms)))
}

#[napi(catch_unwind)]
pub fn mailbox_forget(ticket: f64) {
    MAILBOX.forget(ticket as u64);
}

/// Encodes `start()`'s function stats (the selected threads; only samples under `tag` if given)
/// as a parcel for the asker of `ticket`, on the calling thread (the profiler thread); false if
/// nobody waits for it any more or too many parcels wait.
#[napi(catch_unwind)]
pub fn parcel_func_stats(ticket: f64, threads: Option<Vec<u32>>, tag: Option<String>) -> Result<bool> {
    let encoded = encode::read_func_stats(SCOPES.global(), &StatsFilter { threads }, tag.as_deref());
    Ok(MAILBOX.put_parcel(ticket as u64, encoded.map_err(out_of_memory("reading stats")).or_throw()?))
}

/// The stats encoded for the answer to `ticket` (see [`parcel_func_stats`]), once.
#[napi(catch_unwind)]
pub fn mailbox_take_parcel(ticket: f64) -> Option<BindingEncoded> {
    MAILBOX.take_parcel(ticket as u64).map(BindingEncoded::from)
}

/// Records tag switches of a thread for its next fold: switch `i` happened at `times_us[i]` (µs
/// on the monotonic clock of V8's samples) and made `names[tags[i]]` active (an index past the
/// names: no tag). Returns how many switches were dropped for want of memory.
#[napi(catch_unwind)]
pub fn record_tags(thread_id: u32, names: Vec<String>, tags: Uint32Array, times_us: Float64Array) -> Result<f64> {
    if tags.len() != times_us.len() {
        return Err(bad_input(format!("{} tags but {} switch times", tags.len(), times_us.len())).into());
    }
    let mut switches = Vec::new();
    switches.try_reserve_exact(tags.len()).or_throw()?;
    switches.extend(times_us.iter().zip(tags.iter()).map(|(&time, &tag)| (time.round() as i64, tag)));
    Ok(SCOPES.global().record_tags(thread_id, &names, &switches) as f64)
}

/// Per-tag totals of `start()`.
#[napi(catch_unwind)]
pub fn tag_stats(threads: Option<Vec<u32>>) -> Result<BindingEncoded> {
    let filter = StatsFilter { threads };
    encode::read_tag_stats(SCOPES.global(), &filter).map(BindingEncoded::from).map_err(out_of_memory("reading stats")).or_throw()
}

/// Starts a new overhead account for every thread (at `start()`).
#[napi(catch_unwind)]
pub fn overhead_reset() {
    OVERHEAD.reset();
}

/// A thread starts being profiled now.
#[napi(catch_unwind)]
pub fn overhead_begin(thread: BindingThread) {
    OVERHEAD.begin(thread.id, &thread.name);
}

/// Adds `ns` nanoseconds of profiler work of kind `cost` (see `overhead::Cost`) to a thread.
#[napi(catch_unwind)]
pub fn overhead_record(thread_id: u32, cost: u32, ns: f64) -> Result<()> {
    let cost = Cost::from_code(cost).ok_or_else(|| bad_input(format!("unknown overhead kind {cost}")))?;
    OVERHEAD.record(thread_id, cost, if ns.is_finite() && ns > 0.0 { ns as u64 } else { 0 });
    Ok(())
}

/// A thread stopped being profiled; `None`: every thread (at `stop()`).
#[napi(catch_unwind)]
pub fn overhead_end(thread_id: Option<u32>) {
    match thread_id {
        Some(id) => OVERHEAD.end(id),
        None => OVERHEAD.end_all(),
    }
}

/// The CPU time thread `thread_id` used since its account opened.
#[napi(catch_unwind)]
pub fn overhead_record_cpu(thread_id: u32, ns: f64) {
    OVERHEAD.record_cpu(thread_id, if ns.is_finite() && ns > 0.0 { ns as u64 } else { 0 });
}

#[napi(object)]
pub struct BindingThreadCost {
    pub id: u32,
    pub name: String,
    /// Nanoseconds per cost kind, in `overhead::Cost` order.
    pub ns: Vec<f64>,
    pub run_ns: f64,
    pub cpu_ns: Option<f64>,
}

#[napi(catch_unwind)]
pub fn overhead_read() -> Vec<BindingThreadCost> {
    OVERHEAD
        .read()
        .into_iter()
        .map(|thread| BindingThreadCost {
            id: thread.id,
            run_ns: thread.run_ns() as f64,
            ns: thread.ns.iter().take(COSTS).map(|&ns| ns as f64).collect(),
            cpu_ns: thread.cpu_ns.map(|ns| ns as f64),
            name: thread.name,
        })
        .collect()
}

/// Faults of the whole process (see `faults.rs`).
static FAULTS: FaultLog = FaultLog::new();

#[napi(catch_unwind)]
pub fn record_fault(place: String, message: String, thread_id: u32) {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64() * 1000.0);
    FAULTS.record(&place, &message, thread_id, now_ms);
}

#[napi(object)]
pub struct BindingFault {
    pub place: String,
    pub message: String,
    pub first: f64,
    pub last: f64,
    pub count: f64,
    pub first_thread: u32,
    pub last_thread: u32,
}

#[napi(object)]
pub struct BindingFaults {
    pub faults: Vec<BindingFault>,
    pub dropped: f64,
}

#[napi(catch_unwind)]
pub fn faults() -> BindingFaults {
    let (faults, dropped) = FAULTS.read();
    BindingFaults {
        faults: faults
            .into_iter()
            .map(|fault| BindingFault {
                place: fault.place,
                message: fault.message,
                first: fault.first,
                last: fault.last,
                count: fault.count as f64,
                first_thread: fault.first_thread,
                last_thread: fault.last_thread,
            })
            .collect(),
        dropped: dropped as f64,
    }
}

#[napi(catch_unwind)]
pub fn clear_faults() {
    FAULTS.clear();
}

/// A mark of `start()`'s stats on every thread, for an export of what is profiled after it
/// (`window.rs`): what a `/debug/pprof/profile?seconds=N` request returns.
#[napi]
pub struct BindingStatsMark {
    mark: Option<Mark>,
}

#[napi]
impl BindingStatsMark {
    #[napi(factory, catch_unwind)]
    pub fn now() -> Result<BindingStatsMark> {
        let mark = SCOPES.global().read(Mark::of).map_err(out_of_memory("marking stats"))?;
        Ok(BindingStatsMark { mark: Some(mark) })
    }

    /// What every thread added to the stats since the mark, rendered in an export format.
    #[napi(catch_unwind)]
    pub fn export_since(&self, format: String) -> Result<Buffer> {
        let format = Format::parse(&format).or_throw()?;
        let mark = self.mark.as_ref().ok_or_else(|| bad_input("the mark was released"))?;
        export::export_since(SCOPES.global(), mark, format).map(Buffer::from).or_throw()
    }

    /// Lets go of the marked tables now rather than when the object is collected.
    #[napi(catch_unwind)]
    pub fn release(&mut self) {
        self.mark = None;
    }
}
