//! Exact call counts (`counts: 'exact'`) from V8's precise coverage.
//!
//! Each `Profiler.takePreciseCoverage` answers with the calls of every function since the last
//! take (V8 resets its counters on a take), per script, as `(functionName, startOffset,
//! endOffset, count)`. We add those deltas per thread, keyed by the same [`FuncId`] as the
//! sampled stats, so a read can put the exact count beside the sampled times.
//!
//! Coverage names a function by UTF-16 *offsets* into its script; the sampler names it by 0-based
//! line and column of its parameter list. Two things bridge them:
//! - the script's source, read by the host once per script (`add_source`), gives line starts; and
//! - coverage starts a function at its `function`/`async`/name token while the sampler starts
//!   it at its `(`: from the token we skip the keywords and name up to the `(` (see
//!   [`sampler_start`]). Arrow functions and async arrows start at the token in both.
//!
//! Until a script's source arrives, its deltas wait in `pending`. Scripts without a `file:` URL
//! (eval, `node:` internals), and scripts whose source on disk is not what V8 compiled (the
//! length of the script's top-level range differs), are not mapped: their functions keep
//! estimated counts. Everything here is charged to the session budget.

#![allow(clippy::indexing_slicing)] // offsets are checked against the text before indexing

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use hashbrown::HashMap;
use serde::Deserialize;

use crate::input::cpuprofile::PARSE_BYTES_PER_INPUT_BYTE;
use crate::model::budget::{Budget, Refusal};
use crate::model::flat_profile::CallFrame;
use crate::model::flat_profile::ProfileError;
use crate::model::frame::{FuncKind, OwnCode, classify, frame_key};
use crate::model::sourcemap::SourceMaps;
use crate::model::sync::lock;
use crate::tables::function_table::{FuncId, FunctionTable};
use crate::tables::merged::MergedStats;
use crate::tables::stats::CallStats;

/// The profiler calls a function of this name a known number of times between two takes: if
/// the take reports another number, someone else started, took or stopped coverage meanwhile.
pub const CANARY_NAME: &str = "yappiCoverageCanary";

/// How far past the token a parameter list may start (`static async *name`).
const MAX_HEADER_UNITS: usize = 512;

#[derive(Deserialize)]
struct TakeMessage<'a> {
    #[serde(borrow)]
    result: Option<Take<'a>>,
    #[serde(borrow)]
    error: Option<TakeError<'a>>,
}

#[derive(Deserialize)]
struct TakeError<'a> {
    #[serde(borrow, default)]
    message: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Take<'a> {
    #[serde(borrow)]
    result: Vec<RawScript<'a>>,
}

#[derive(Deserialize)]
struct RawScript<'a> {
    #[serde(borrow, default)]
    url: Cow<'a, str>,
    #[serde(borrow)]
    functions: Vec<RawFunction<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFunction<'a> {
    #[serde(borrow, default)]
    function_name: Cow<'a, str>,
    ranges: Vec<RawRange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRange {
    start_offset: u64,
    end_offset: u64,
    count: u64,
}

/// One function's calls in one take, waiting for its script's source.
struct Pending {
    thread: u32,
    url: String,
    name: String,
    start: u32,
    end: u32,
    count: u64,
}

impl Pending {
    fn heap_bytes(&self) -> usize {
        self.url.capacity() + self.name.capacity()
    }
}

/// A script's text in UTF-16 units (V8's offsets), stored compactly when it is ASCII.
enum Text {
    Ascii(String),
    Wide(Vec<u16>),
}

impl Text {
    fn unit(&self, index: usize) -> Option<u16> {
        match self {
            Text::Ascii(text) => text.as_bytes().get(index).map(|&b| u16::from(b)),
            Text::Wide(units) => units.get(index).copied(),
        }
    }
}

/// What we know of a script's source.
enum Source {
    Mapped { text: Text, line_starts: Vec<u32> },
    /// No source, or not the one V8 compiled: its functions keep estimated counts.
    Unmapped,
}

/// Coverage of one thread.
#[derive(Default)]
struct ThreadCounts {
    calls: HashMap<FuncId, u64>,
    /// Someone else's coverage calls disturbed ours: these counts are no longer exact.
    disturbed: bool,
}

#[derive(Default)]
struct State {
    /// Whether the session counts exactly; fixed while it has data (like its clock).
    exact: Option<bool>,
    sources: HashMap<String, Source>,
    pending: Vec<Pending>,
    threads: HashMap<u32, ThreadCounts>,
}

/// Exact call counts of one stats session.
#[derive(Default)]
pub struct Coverage {
    state: Mutex<State>,
}

/// How a counted function is named: the profiler's own code is left out, and source maps give
/// the same original names, files and lines as the sampled frames get (`frame_key`).
#[derive(Debug, Clone, Copy)]
pub struct Naming<'a> {
    pub own_code: &'a OwnCode,
    pub source_maps: Option<&'a SourceMaps>,
}

/// What one take brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TakeOutcome {
    /// Calls of the canary function in this take.
    pub canary: u64,
    /// `file:` URLs whose source the engine needs before it can count their functions.
    pub missing_sources: Vec<String>,
    /// Function deltas counted now (the others wait for a source or were not mappable).
    pub counted: u64,
    /// The thread's coverage was found disturbed before: nothing of this take was counted.
    pub disturbed: bool,
    /// Source maps found for the scripts it needed that could not be used, one message each.
    pub source_map_problems: Vec<String>,
}

/// Why the counts mode cannot change now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountsMismatch {
    pub have_exact: bool,
}

impl std::fmt::Display for CountsMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (have, asked) = if self.have_exact { ("exact", "estimated") } else { ("estimated", "exact") };
        write!(f, "the stats so far have {have} call counts; call clearStats() before starting with counts: '{asked}'")
    }
}

impl std::error::Error for CountsMismatch {}

/// Per-function flags of a read: which numbers are exact.
pub const EXACT_NCALL: u8 = 1;
pub const EXACT_NACTUAL: u8 = 2;

/// Bytes a hash map entry costs, roughly (key, value, control byte, load factor).
fn entry_bytes<K, V>() -> usize {
    (size_of::<(K, V)>() + 1) * 2
}

impl Coverage {
    /// Whether the session counts exactly, once a start said so.
    pub fn mode(&self) -> Option<bool> {
        lock(&self.state).exact
    }

    /// Fixes the counts mode of the session; refused when the session has data of the other mode.
    pub fn select(&self, exact: bool, has_samples: bool) -> Result<(), CountsMismatch> {
        let mut state = lock(&self.state);
        let has_data = has_samples || !state.threads.is_empty();
        match state.exact {
            Some(have) if have != exact && has_data => Err(CountsMismatch { have_exact: have }),
            _ => {
                state.exact = Some(exact);
                Ok(())
            }
        }
    }

    /// Marks a thread's counts as disturbed: from now on its functions' counts are estimates.
    pub fn disturb(&self, thread: u32, budget: &Budget) -> Result<(), Refusal> {
        let mut state = lock(&self.state);
        thread_counts(&mut state, thread, budget)?.disturbed = true;
        Ok(())
    }

    /// Adds one take (an inspector answer to `Profiler.takePreciseCoverage`, as JSON) of `thread`.
    pub fn ingest(
        &self,
        thread: u32,
        json: &str,
        functions: &FunctionTable,
        budget: &Budget,
        naming: Naming<'_>,
    ) -> Result<TakeOutcome, ProfileError> {
        let bound = json.len().saturating_mul(PARSE_BYTES_PER_INPUT_BYTE);
        budget.charge(bound)?;
        let outcome = self.ingest_parsed(thread, json, functions, budget, naming);
        budget.release(bound);
        outcome
    }

    fn ingest_parsed(
        &self,
        thread: u32,
        json: &str,
        functions: &FunctionTable,
        budget: &Budget,
        naming: Naming<'_>,
    ) -> Result<TakeOutcome, ProfileError> {
        let message: TakeMessage<'_> = serde_json::from_str(json)
            .map_err(|error| ProfileError::Malformed(format!("not a precise coverage answer: {error}")))?;
        let take = match (message.result, message.error) {
            (Some(take), _) => take,
            (None, Some(error)) => {
                return Err(ProfileError::Malformed(format!("the inspector answered with an error: {}", error.message)));
            }
            (None, None) => return Err(ProfileError::Malformed("the inspector message carries no coverage".into())),
        };
        let mut state = lock(&self.state);
        let mut outcome = TakeOutcome::default();
        if thread_counts(&mut state, thread, budget)?.disturbed {
            outcome.canary = canary_calls(&take);
            outcome.disturbed = true;
            return Ok(outcome);
        }
        for script in &take.result {
            for function in &script.functions {
                let Some(range) = function.ranges.first() else { continue };
                if function.function_name == CANARY_NAME {
                    outcome.canary += range.count;
                    continue;
                }
                if range.count == 0 || !script.url.starts_with("file://") {
                    continue;
                }
                let (Ok(start), Ok(end)) = (u32::try_from(range.start_offset), u32::try_from(range.end_offset)) else {
                    continue;
                };
                let entry = Pending {
                    thread,
                    url: budget.string(&script.url)?,
                    name: budget.string(&function.function_name)?,
                    start,
                    end,
                    count: range.count,
                };
                match state.sources.get(script.url.as_ref()) {
                    Some(Source::Unmapped) => budget.release(entry.heap_bytes()),
                    Some(Source::Mapped { .. }) => {
                        if count_entry(&mut state, &entry, functions, budget, naming)? {
                            outcome.counted += 1;
                        }
                        budget.release(entry.heap_bytes());
                    }
                    None => {
                        if !outcome.missing_sources.iter().any(|url| url == &entry.url)
                            && !state.pending.iter().any(|pending| pending.url == entry.url)
                        {
                            budget.push(&mut outcome.missing_sources, entry.url.clone())?;
                        }
                        if let Err(refusal) = budget.push(&mut state.pending, entry) {
                            return Err(refusal.into());
                        }
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// Gives the source of a script (or `None`: unavailable) and counts what waited for it.
    pub fn add_source(
        &self,
        url: &str,
        source: Option<&str>,
        functions: &FunctionTable,
        budget: &Budget,
        naming: Naming<'_>,
    ) -> Result<u64, Refusal> {
        let mut state = lock(&self.state);
        if state.sources.contains_key(url) {
            return Ok(0);
        }
        let waiting = take_pending(&mut state.pending, url, budget)?;
        let mapped = match source {
            Some(text) => mapped_source(text, &waiting, budget)?,
            None => Source::Unmapped,
        };
        state.sources.try_reserve(1).map_err(|_| Refusal::AllocFailed)?;
        budget.charge(entry_bytes::<String, Source>() + url.len())?;
        state.sources.insert(url.to_string(), mapped);
        let mut counted = 0;
        for entry in &waiting {
            if count_entry(&mut state, entry, functions, budget, naming)? {
                counted += 1;
            }
        }
        for entry in &waiting {
            budget.release(entry.heap_bytes());
        }
        budget.forget(&waiting);
        Ok(counted)
    }

    /// `thread`'s exact calls, in no order, for a saved report; `None` when its counts are
    /// estimates (the session does not count exactly, or the thread's coverage was disturbed or
    /// never taken), so that the report reads back exact exactly where a read of it here would.
    pub fn thread_calls(&self, thread: u32, reader: &Budget) -> Result<Option<Vec<(FuncId, u64)>>, Refusal> {
        let state = lock(&self.state);
        let Some(ThreadCounts { disturbed: false, calls }) = state.threads.get(&thread).filter(|_| state.exact == Some(true)) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        reader.grow(&mut out, calls.len())?;
        out.extend(calls.iter().map(|(&func, &count)| (func, count)));
        Ok(Some(out))
    }

    /// Adds the exact calls a saved report holds for `thread` (`None`: its counts were estimates)
    /// to stats that just absorbed its sampled rows. The sum stays exact only if both sides were:
    /// estimates on either side make the thread's counts estimates from now on. `had_stats`: the
    /// thread held stats before this report, whose counts are exact only if they were counted.
    pub fn absorb(&self, thread: u32, calls: Option<&[(FuncId, u64)]>, had_stats: bool, budget: &Budget) -> Result<(), Refusal> {
        let mut state = lock(&self.state);
        if state.exact != Some(true) {
            return Ok(());
        }
        let healthy = state.threads.get(&thread).map_or(!had_stats, |counts| !counts.disturbed);
        let counts = thread_counts(&mut state, thread, budget)?;
        let Some(calls) = calls.filter(|_| healthy) else {
            counts.disturbed = true;
            return Ok(());
        };
        for &(func, count) in calls {
            add_calls(counts, func, count, budget)?;
        }
        Ok(())
    }

    /// Replaces the estimated call counts of `merged` with exact ones where every thread read
    /// counted exactly; adds functions that ran but were never sampled. Sets `merged.exact`.
    pub fn apply(&self, merged: &mut MergedStats, threads: &[u32], reader: &Budget) -> Result<(), Refusal> {
        let state = lock(&self.state);
        if state.exact != Some(true) || threads.is_empty() {
            return Ok(());
        }
        let mut counts: HashMap<FuncId, u64> = HashMap::new();
        for thread in threads {
            match state.threads.get(thread) {
                Some(ThreadCounts { disturbed: false, calls }) => {
                    counts.try_reserve(calls.len()).map_err(|_| Refusal::AllocFailed)?;
                    for (&func, &calls) in calls {
                        *counts.entry(func).or_insert(0) += calls;
                    }
                }
                // A thread without healthy coverage: no count of this read is exact.
                _ => return Ok(()),
            }
        }
        let mut exact_table = Vec::new();
        reader.grow(&mut exact_table, counts.len())?;
        exact_table.extend(counts);
        exact_table.sort_unstable_by_key(|&(func, _)| func);
        let mut table = Vec::new();
        reader.grow(&mut table, merged.funcs.len() + exact_table.len())?;
        let mut flags = Vec::new();
        reader.grow(&mut flags, exact_table.len())?;
        let (mut i, mut j) = (0, 0);
        loop {
            let sampled = merged.funcs.get(i).copied();
            let exact = exact_table.get(j).copied();
            match (sampled, exact) {
                (None, None) => break,
                (Some((func, stats)), Some((exact_func, _))) if func < exact_func => {
                    table.push((func, stats));
                    i += 1;
                }
                (Some((func, stats)), None) => {
                    table.push((func, stats));
                    i += 1;
                }
                (sampled, Some((func, calls))) => {
                    let estimate = match sampled {
                        Some((sampled_func, stats)) if sampled_func == func => {
                            i += 1;
                            stats
                        }
                        _ => CallStats::default(),
                    };
                    let (stats, flag) = with_exact_calls(estimate, calls);
                    table.push((func, stats));
                    flags.push((func, flag));
                    j += 1;
                }
            }
        }
        merged.funcs = Arc::new(table);
        merged.exact = flags;
        Ok(())
    }
}

/// yappi's `nactualcall` beside an exact `ncall`: exact when the samples saw every call (then
/// they saw which were recursive) or when there was at most one call; otherwise the exact count
/// less the recursive calls the samples saw, an upper bound.
fn with_exact_calls(estimate: CallStats, calls: u64) -> (CallStats, u8) {
    let all_seen = estimate.ncall == calls;
    let (nactual, flag) = if calls <= 1 {
        (calls, EXACT_NCALL | EXACT_NACTUAL)
    } else if all_seen {
        (estimate.nactual, EXACT_NCALL | EXACT_NACTUAL)
    } else {
        (calls.saturating_sub(estimate.ncall.saturating_sub(estimate.nactual)), EXACT_NCALL)
    };
    (CallStats { ncall: calls, nactual, ..estimate }, flag)
}

fn canary_calls(take: &Take<'_>) -> u64 {
    take.result
        .iter()
        .flat_map(|script| &script.functions)
        .filter(|function| function.function_name == CANARY_NAME)
        .filter_map(|function| function.ranges.first())
        .map(|range| range.count)
        .sum()
}

fn thread_counts<'s>(state: &'s mut State, thread: u32, budget: &Budget) -> Result<&'s mut ThreadCounts, Refusal> {
    if !state.threads.contains_key(&thread) {
        state.threads.try_reserve(1).map_err(|_| Refusal::AllocFailed)?;
        budget.charge(entry_bytes::<u32, ThreadCounts>())?;
    }
    Ok(state.threads.entry(thread).or_default())
}

fn take_pending(pending: &mut Vec<Pending>, url: &str, budget: &Budget) -> Result<Vec<Pending>, Refusal> {
    let waiting_count = pending.iter().filter(|entry| entry.url == url).count();
    let mut waiting = Vec::new();
    budget.grow(&mut waiting, waiting_count)?;
    let mut index = 0;
    while index < pending.len() {
        if pending[index].url == url {
            waiting.push(pending.swap_remove(index));
        } else {
            index += 1;
        }
    }
    Ok(waiting)
}

/// Line starts of a source, checked against what V8 compiled: the script's top-level range
/// spans exactly the source, and every function must lie inside it.
fn mapped_source(source: &str, waiting: &[Pending], budget: &Budget) -> Result<Source, Refusal> {
    let ascii = source.is_ascii();
    let units = if ascii { source.len() } else { source.encode_utf16().count() };
    let top_level_fits = waiting.iter().filter(|entry| entry.start == 0 && entry.name.is_empty()).all(|entry| entry.end as usize == units);
    let inside = waiting.iter().all(|entry| (entry.end as usize) <= units);
    if !top_level_fits || !inside || u32::try_from(units).is_err() {
        return Ok(Source::Unmapped);
    }
    let text = if ascii {
        Text::Ascii(budget.string(source)?)
    } else {
        let mut wide = Vec::new();
        budget.grow(&mut wide, units)?;
        wide.extend(source.encode_utf16());
        Text::Wide(wide)
    };
    let mut line_starts = Vec::new();
    budget.push(&mut line_starts, 0u32)?;
    let mut index = 0usize;
    while let Some(unit) = text.unit(index) {
        index += 1;
        // V8's line ends: \n, \r (with \r\n as one), U+2028, U+2029.
        let ends_line = match unit {
            0x0A | 0x2028 | 0x2029 => true,
            0x0D => text.unit(index) != Some(0x0A),
            _ => false,
        };
        if ends_line {
            budget.push(&mut line_starts, index as u32)?;
        }
    }
    Ok(Source::Mapped { text, line_starts })
}

fn is_header_unit(unit: u16) -> bool {
    match unit {
        0x80.. => true, // non-ASCII identifier characters
        _ => {
            let c = unit as u8;
            c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'*' || c == b'#' || c.is_ascii_whitespace()
        }
    }
}

/// Where the sampler starts a function that coverage starts at `token`: the `(` after the
/// keywords and name, if only those come first; else (arrows) the token itself.
fn sampler_start(text: &Text, token: usize) -> usize {
    let mut header_is_async = true;
    let mut word = 0usize;
    for index in token..token.saturating_add(MAX_HEADER_UNITS) {
        let Some(unit) = text.unit(index) else { break };
        if unit == u16::from(b'(') {
            // `async (x) => …` starts at `async`; a method `async name(…)` at its `(`.
            let only_async = header_is_async && word == 5;
            return if only_async { token } else { index };
        }
        if !is_header_unit(unit) {
            return token;
        }
        let is_space = unit < 0x80 && (unit as u8).is_ascii_whitespace();
        if !is_space {
            let expected = b"async".get(word).map(|&b| u16::from(b));
            if expected != Some(unit) {
                header_is_async = false;
            }
            word += 1;
        } else if word > 0 && word != 5 {
            header_is_async = false;
        }
    }
    token
}

/// Counts one function delta under its function id; false when it could not be mapped.
fn count_entry(
    state: &mut State,
    entry: &Pending,
    functions: &FunctionTable,
    budget: &Budget,
    naming: Naming<'_>,
) -> Result<bool, Refusal> {
    let Some(Source::Mapped { text, line_starts }) = state.sources.get(&entry.url) else { return Ok(false) };
    let is_top_level = entry.start == 0 && entry.name.is_empty();
    let start = if is_top_level { 0 } else { sampler_start(text, entry.start as usize) };
    let line = line_starts.partition_point(|&line_start| line_start as usize <= start).saturating_sub(1);
    let column = start - line_starts.get(line).map_or(0, |&line_start| line_start as usize);
    let frame = CallFrame {
        name: entry.name.clone(),
        url: entry.url.clone(),
        script_id: String::new(),
        line: i32::try_from(line).unwrap_or(i32::MAX),
        column: i32::try_from(column).unwrap_or(i32::MAX),
    };
    let kind = classify(&frame, naming.own_code);
    if kind != FuncKind::User {
        return Ok(false);
    }
    let maps = naming.source_maps.map(SourceMaps::read);
    let Ok(func) = functions.intern(frame_key(&frame, kind, maps.as_ref()), budget) else { return Ok(false) };
    add_calls(thread_counts(state, entry.thread, budget)?, func, entry.count, budget)?;
    Ok(true)
}

fn add_calls(counts: &mut ThreadCounts, func: FuncId, count: u64, budget: &Budget) -> Result<(), Refusal> {
    if !counts.calls.contains_key(&func) {
        counts.calls.try_reserve(1).map_err(|_| Refusal::AllocFailed)?;
        budget.charge(entry_bytes::<FuncId, u64>())?;
    }
    let calls = counts.calls.entry(func).or_insert(0);
    *calls = calls.saturating_add(count);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "'use strict'\nfunction plain(a) { return a }\nconst arrow = (a) => a\nconst single = x => x\nconst asyncArrow = async (x) => x\nclass K { static async *gen() {} get g() { return 1 } }\n";

    fn take(url: &str, functions: &[(&str, usize, usize, u64)]) -> String {
        let functions: Vec<String> = functions
            .iter()
            .map(|(name, start, end, count)| {
                format!(r#"{{"functionName":"{name}","ranges":[{{"startOffset":{start},"endOffset":{end},"count":{count}}}],"isBlockCoverage":false}}"#)
            })
            .collect();
        format!(r#"{{"id":3,"result":{{"result":[{{"scriptId":"9","url":"{url}","functions":[{}]}}],"timestamp":1.5}}}}"#, functions.join(","))
    }

    fn plain(own: &OwnCode) -> Naming<'_> {
        Naming { own_code: own, source_maps: None }
    }

    fn offset(needle: &str) -> usize {
        SOURCE.find(needle).unwrap()
    }

    fn names_and_calls(coverage: &Coverage, functions: &FunctionTable, threads: &[u32]) -> Vec<(String, u32, u32, u64, u8)> {
        let mut merged = MergedStats::default();
        coverage.apply(&mut merged, threads, &Budget::new(usize::MAX)).unwrap();
        let mut rows: Vec<_> = merged
            .funcs
            .iter()
            .map(|(func, stats)| {
                let desc = functions.get(*func).unwrap();
                let flag = merged.exact.iter().find(|(f, _)| f == func).map_or(0, |(_, flag)| *flag);
                (desc.name.clone(), desc.line, desc.column, stats.ncall, flag)
            })
            .collect();
        rows.sort();
        rows
    }

    /// A declaration at the very start of a file starts at offset 0, like the script itself.
    #[test]
    fn a_function_at_offset_zero_is_not_the_script() {
        let (budget, functions, coverage, own) = (Budget::new(usize::MAX), FunctionTable::default(), Coverage::default(), OwnCode::default());
        coverage.select(true, false).unwrap();
        let (url, source) = ("file:///app/first.js", "function first(a) { return a }\nfirst(1)\n");
        let len = source.encode_utf16().count();
        coverage.add_source(url, Some(source), &functions, &budget, plain(&own)).unwrap();
        coverage.ingest(0, &take(url, &[("", 0, len, 1), ("first", 0, 30, 4)]), &functions, &budget, plain(&own)).unwrap();
        let rows = names_and_calls(&coverage, &functions, &[0]);
        assert!(rows.contains(&("first".into(), 1, 15, 4, EXACT_NCALL)), "{rows:?}");
    }

    #[test]
    fn maps_coverage_offsets_to_the_samplers_positions_and_adds_deltas() {
        let budget = Budget::new(usize::MAX);
        let functions = FunctionTable::default();
        let coverage = Coverage::default();
        coverage.select(true, false).unwrap();
        let own = OwnCode::default();
        let url = "file:///app/x.js";
        let len = SOURCE.encode_utf16().count();
        let first = take(url, &[
            ("", 0, len, 1),
            ("plain", offset("function plain"), offset("function plain") + 30, 1000),
            ("arrow", offset("(a) =>"), offset("(a) =>") + 8, 37),
            ("single", offset("x => x"), offset("x => x") + 6, 5),
            ("asyncArrow", offset("async (x)"), offset("async (x)") + 14, 2),
            ("gen", offset("static async"), offset("static async") + 25, 3),
            ("get g", offset("get g"), offset("get g") + 20, 4),
        ]);
        let outcome = coverage.ingest(0, &first, &functions, &budget, plain(&own)).unwrap();
        assert_eq!(outcome.missing_sources, vec![url.to_string()]);
        assert_eq!(outcome.counted, 0);
        assert_eq!(coverage.add_source(url, Some(SOURCE), &functions, &budget, plain(&own)).unwrap(), 7);
        let second = take(url, &[("plain", offset("function plain"), offset("function plain") + 30, 500)]);
        assert_eq!(coverage.ingest(0, &second, &functions, &budget, plain(&own)).unwrap().counted, 1);
        let rows = names_and_calls(&coverage, &functions, &[0]);
        let both = EXACT_NCALL | EXACT_NACTUAL;
        // 1-based positions of the sampler: `(` for declarations and methods, the token for arrows.
        assert_eq!(rows, vec![
            ("(anonymous)".into(), 1, 1, 1, both),
            ("arrow".into(), 3, 15, 37, EXACT_NCALL),
            ("asyncArrow".into(), 5, 20, 2, EXACT_NCALL),
            ("gen".into(), 6, 28, 3, EXACT_NCALL),
            ("get g".into(), 6, 39, 4, EXACT_NCALL),
            ("plain".into(), 2, 15, 1500, EXACT_NCALL),
            ("single".into(), 4, 16, 5, EXACT_NCALL),
        ]);
    }

    #[test]
    fn a_source_that_is_not_what_v8_compiled_is_not_mapped() {
        let budget = Budget::new(usize::MAX);
        let functions = FunctionTable::default();
        let coverage = Coverage::default();
        coverage.select(true, false).unwrap();
        let own = OwnCode::default();
        let url = "file:///app/y.js";
        let taken = take(url, &[("", 0, 10_000, 1), ("plain", 13, 40, 9)]);
        coverage.ingest(0, &taken, &functions, &budget, plain(&own)).unwrap();
        assert_eq!(coverage.add_source(url, Some(SOURCE), &functions, &budget, plain(&own)).unwrap(), 0);
        assert!(names_and_calls(&coverage, &functions, &[0]).is_empty());
        let again = coverage.ingest(0, &taken, &functions, &budget, plain(&own)).unwrap();
        assert!(again.missing_sources.is_empty(), "an unmapped script is not asked for again");
    }

    #[test]
    fn a_disturbed_thread_makes_no_count_exact_and_the_canary_is_counted() {
        let budget = Budget::new(usize::MAX);
        let functions = FunctionTable::default();
        let coverage = Coverage::default();
        coverage.select(true, false).unwrap();
        let own = OwnCode::default();
        let url = "file:///app/x.js";
        coverage.add_source(url, Some(SOURCE), &functions, &budget, plain(&own)).unwrap();
        let taken = take(url, &[("plain", offset("function plain"), offset("function plain") + 30, 8), (CANARY_NAME, 0, 5, 2)]);
        assert_eq!(coverage.ingest(1, &taken, &functions, &budget, plain(&own)).unwrap().canary, 2);
        coverage.ingest(2, &taken, &functions, &budget, plain(&own)).unwrap();
        assert_eq!(names_and_calls(&coverage, &functions, &[1, 2])[0].3, 16);
        coverage.disturb(2, &budget).unwrap();
        let mut merged = MergedStats::default();
        coverage.apply(&mut merged, &[1, 2], &budget).unwrap();
        assert!(merged.exact.is_empty());
        assert_eq!(names_and_calls(&coverage, &functions, &[1])[0].3, 8, "thread 1 alone is still exact");
    }

    #[test]
    fn the_counts_mode_changes_only_without_data() {
        let coverage = Coverage::default();
        coverage.select(false, true).unwrap();
        assert_eq!(coverage.select(true, true), Err(CountsMismatch { have_exact: false }));
        coverage.select(true, false).unwrap();
    }

    #[test]
    fn nactualcall_is_exact_only_when_it_can_be_derived() {
        let sampled = CallStats { ncall: 4, nactual: 3, ..CallStats::default() };
        assert_eq!(with_exact_calls(sampled, 4), (CallStats { ncall: 4, nactual: 3, ..sampled }, EXACT_NCALL | EXACT_NACTUAL));
        assert_eq!(with_exact_calls(sampled, 10), (CallStats { ncall: 10, nactual: 9, ..sampled }, EXACT_NCALL));
        assert_eq!(with_exact_calls(CallStats::default(), 1).1, EXACT_NCALL | EXACT_NACTUAL);
    }

    #[test]
    fn malformed_takes_are_errors_and_the_budget_is_respected() {
        let budget = Budget::new(usize::MAX);
        let functions = FunctionTable::default();
        let coverage = Coverage::default();
        let own = OwnCode::default();
        for bad in ["", "{", r#"{"id":1}"#, r#"{"id":1,"error":{"message":"Precise coverage has not been started."}}"#, r#"{"result":{"result":[{"url":"file:///a","functions":[{"ranges":[{"startOffset":-1,"endOffset":2,"count":1}]}]}]}}"#] {
            assert!(matches!(coverage.ingest(0, bad, &functions, &budget, plain(&own)), Err(ProfileError::Malformed(_))), "{bad}");
        }
        let small = Budget::new(64);
        let taken = take("file:///app/x.js", &[("plain", 13, 40, 9)]);
        assert!(matches!(coverage.ingest(0, &taken, &functions, &small, plain(&own)), Err(ProfileError::Refused(_))));
        assert_eq!(small.used(), 0);
    }
}
