//! A self-contained copy of a session's stats, for exports and for saved files.
//!
//! The session's tables are shared by every thread and keyed by ids that mean nothing outside
//! it; a report renumbers the functions and call paths of the threads it covers densely, so
//! every export format reads one plain structure, and the `json` format is this structure as
//! it is. Loading a saved report interns it back into an engine, adding to what is there
//! (yappi's `add`).

use std::fmt;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::fold::stalls::Stall;
use crate::model::budget::{Budget, Refusal};
use crate::model::clock::Clock;
use crate::model::frame::{FuncKey, FuncKind};
use crate::tables::function_table::{FuncId, FunctionTable};
use crate::tables::stacks::PathStat;
use crate::tables::stats::{CallStats, StatsTable, ThreadTotals, sort_and_sum};

pub const REPORT_FORMAT: &str = "yappi-node-stats";
pub const REPORT_VERSION: u32 = 1;

/// Counts and nanoseconds past 2^53 cannot reach JavaScript as they are (its numbers are
/// doubles): a file that holds one was not written by us, and would read back wrong.
const MAX_EXACT_IN_JS: u64 = 1 << 53;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format: String,
    pub version: u32,
    /// `"wall"` or `"cpu"`: what the times measure.
    pub clock: String,
    pub functions: Vec<ReportFunction>,
    pub threads: Vec<ReportThread>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFunction {
    pub name: String,
    pub module: String,
    pub line: u32,
    pub column: u32,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportThread {
    pub id: u32,
    pub name: String,
    pub totals: ThreadTotals,
    /// `(function index, stats)`.
    pub funcs: Vec<(u32, CallStats)>,
    /// `(caller index, callee index, stats)`.
    pub edges: Vec<(u32, u32, CallStats)>,
    /// The thread's call tree, callers first: `(caller's position in this list + 1, or 0 for
    /// an outermost frame; function index; stats of the path)`.
    pub stacks: Vec<(u32, u32, CallStats)>,
    /// `(function index, calls)`, present when the thread counted calls exactly (`counts:
    /// 'exact'`, its coverage undisturbed): the exact counts, which a read puts in place of the
    /// estimated `ncall` of `funcs` as the session it was saved from did. Absent (as in files
    /// written before it existed): the thread's counts are estimates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_calls: Option<Vec<(u32, u64)>>,
}

impl ReportThread {
    /// The largest count or time the thread holds.
    fn largest_number(&self) -> Option<u64> {
        let t = &self.totals;
        let totals = [t.wall_ns, t.cpu_ns, t.cpu_estimated_ns, t.samples, t.idle_ns, t.idle_samples, t.profiles, t.dropped_samples];
        let rows = self.funcs.iter().map(|(_, s)| s).chain(self.edges.iter().map(|(_, _, s)| s)).chain(self.stacks.iter().map(|(_, _, s)| s));
        let stats = rows.flat_map(|s| [s.ncall, s.nactual, s.ttot_ns, s.tsub_ns, s.samples, s.samples_total]);
        let calls = self.exact_calls.iter().flatten().map(|&(_, calls)| calls);
        totals.into_iter().chain(stats).chain(calls).max()
    }
}

/// Why a saved report cannot be read: named, with where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    NotJson(String),
    NotAReport(String),
    Inconsistent(String),
    ClockMismatch { have: Clock, file: String },
    Refused(Refusal),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::NotJson(why) => write!(f, "not a yappi-node stats file (not JSON: {why})"),
            ReportError::NotAReport(why) => write!(f, "not a yappi-node stats file: {why}"),
            ReportError::Inconsistent(why) => write!(f, "a damaged yappi-node stats file: {why}"),
            ReportError::ClockMismatch { have, file } => {
                write!(f, "the file's times are on the {file} clock but the stats it would join are on the {} clock", have.name())
            }
            ReportError::Refused(refusal) => write!(f, "the stats budget cannot hold the file ({refusal:?})"),
        }
    }
}

impl std::error::Error for ReportError {}

impl From<Refusal> for ReportError {
    fn from(refusal: Refusal) -> Self {
        ReportError::Refused(refusal)
    }
}

impl Report {
    /// A stall as a one-thread report, so every export format renders it (its flame graph).
    pub fn of_stall(stall: &Stall, functions: &FunctionTable, clock: Option<Clock>) -> Result<Report, Refusal> {
        let mut dense: HashMap<FuncId, u32> = HashMap::new();
        let mut report_functions = Vec::new();
        let mut index_of = |func: FuncId, out: &mut Vec<ReportFunction>| -> Result<u32, Refusal> {
            if let Some(&at) = dense.get(&func) {
                return Ok(at);
            }
            let desc = functions.get(func).ok_or(Refusal::OverBudget)?;
            out.try_reserve(1)?;
            out.push(ReportFunction { name: desc.name.clone(), module: desc.module.clone(), line: desc.line, column: desc.column, kind: desc.kind.name().to_owned() });
            let at = dense.len() as u32;
            dense.insert(func, at);
            Ok(at)
        };
        let mut stacks = Vec::new();
        stacks.try_reserve_exact(stall.nodes.len())?;
        let mut funcs: HashMap<u32, CallStats> = HashMap::new();
        let mut edges: HashMap<(u32, u32), CallStats> = HashMap::new();
        for (at, (node, (ttot_ns, samples_total))) in stall.nodes.iter().zip(stall.inclusive()).enumerate() {
            let func = index_of(node.func, &mut report_functions)?;
            // A stall's tree holds time only: no call is counted.
            let stats = CallStats { ncall: 0, nactual: 0, ttot_ns, tsub_ns: node.self_ns, samples: node.samples, samples_total };
            stacks.push((node.parent, func, stats));
            let outermost = !stall.has_ancestor_running(at, node.func);
            // Through CallStats' saturating `+=`: a stall's times come from a profile's claims.
            let own = CallStats { ttot_ns: 0, samples_total: 0, ..stats };
            let inclusive = CallStats { ttot_ns, samples_total, ..CallStats::default() };
            let row = funcs.entry(func).or_default();
            *row += own;
            if outermost {
                *row += inclusive;
            }
            if let Some(caller) = stall.caller_of(at) {
                let caller = index_of(caller, &mut report_functions)?;
                let edge = edges.entry((caller, func)).or_default();
                *edge += own;
                if outermost {
                    *edge += inclusive;
                }
            }
        }
        let mut funcs: Vec<(u32, CallStats)> = funcs.into_iter().collect();
        funcs.sort_unstable_by_key(|(func, _)| *func);
        let mut edges: Vec<(u32, u32, CallStats)> = edges.into_iter().map(|((a, b), stats)| (a, b, stats)).collect();
        edges.sort_unstable_by_key(|(a, b, _)| (*a, *b));
        let totals = ThreadTotals { wall_ns: stall.duration_ns, cpu_estimated_ns: stall.duration_ns, cpu_ns: stall.duration_ns, samples: stall.samples, profiles: 1, ..ThreadTotals::default() };
        let name = format!("{} stall {}", stall.thread_name, stall.id);
        let thread = ReportThread { id: stall.thread, name, totals, funcs, edges, stacks, exact_calls: None };
        let clock = clock.unwrap_or(Clock::Wall).name().to_owned();
        Ok(Report { format: REPORT_FORMAT.to_owned(), version: REPORT_VERSION, clock, functions: report_functions, threads: vec![thread] })
    }

    pub fn to_json(&self) -> Result<Vec<u8>, ReportError> {
        serde_json::to_vec(self).map_err(|error| ReportError::NotJson(error.to_string()))
    }

    /// Parses and checks a saved report: every index in range, callers before callees.
    pub fn from_json(bytes: &[u8]) -> Result<Report, ReportError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| ReportError::NotJson(error.to_string()))?;
        let format = value.get("format").and_then(|f| f.as_str()).unwrap_or_default();
        if format != REPORT_FORMAT {
            return Err(ReportError::NotAReport(format!("its \"format\" is {:?}, not {REPORT_FORMAT:?}", format)));
        }
        let report: Report = serde_json::from_value(value).map_err(|error| ReportError::NotAReport(error.to_string()))?;
        if report.version != REPORT_VERSION {
            return Err(ReportError::NotAReport(format!("version {} (this yappi-node reads version {REPORT_VERSION})", report.version)));
        }
        report.check()?;
        Ok(report)
    }

    fn check(&self) -> Result<(), ReportError> {
        if Clock::named(&self.clock).is_none() {
            return Err(ReportError::Inconsistent(format!("unknown clock {:?}", self.clock)));
        }
        if let Some(bad) = self.functions.iter().find(|f| FuncKind::named(&f.kind).is_none()) {
            return Err(ReportError::Inconsistent(format!("function {:?} has an unknown kind {:?}", bad.name, bad.kind)));
        }
        let functions = self.functions.len() as u64;
        let in_range = |index: u32| u64::from(index) < functions;
        let mut ids: Vec<u32> = self.threads.iter().map(|thread| thread.id).collect();
        ids.sort_unstable();
        if let Some(twice) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ReportError::Inconsistent(format!("thread {} appears twice", twice[0])));
        }
        for thread in &self.threads {
            if let Some(number) = thread.largest_number().filter(|&n| n > MAX_EXACT_IN_JS) {
                return Err(ReportError::Inconsistent(format!(
                    "thread {} holds the number {number}, past 2^53, the largest a JavaScript number holds exactly",
                    thread.id
                )));
            }
            let bad_func = thread.funcs.iter().any(|(f, _)| !in_range(*f));
            let bad_edge = thread.edges.iter().any(|(a, b, _)| !in_range(*a) || !in_range(*b));
            let bad_stack = thread.stacks.iter().enumerate().any(|(at, (parent, f, _))| *parent as usize > at || !in_range(*f));
            let bad_count = thread.exact_calls.iter().flatten().any(|(f, _)| !in_range(*f));
            if bad_func || bad_edge || bad_stack || bad_count {
                return Err(ReportError::Inconsistent(format!("thread {} refers to a function or caller that is not in the file", thread.id)));
            }
        }
        Ok(())
    }

    /// The key each function is interned under when the report is loaded.
    pub fn function_key(&self, index: usize) -> Option<FuncKey<'_>> {
        let function = self.functions.get(index)?;
        Some(FuncKey {
            name: &function.name,
            module: &function.module,
            line: function.line,
            column: function.column,
            kind: FuncKind::named(&function.kind)?,
            script_id: "",
        })
    }

    /// A thread's call tree as `fold` hands paths to the stack table.
    pub fn paths(thread: &ReportThread, func_ids: &[FuncId], budget: &Budget) -> Result<Vec<PathStat>, Refusal> {
        let mut paths = Vec::new();
        budget.grow(&mut paths, thread.stacks.len())?;
        for &(parent, func, stats) in &thread.stacks {
            let func = *func_ids.get(func as usize).ok_or(Refusal::OverBudget)?;
            paths.push(PathStat { parent, func, stats });
        }
        Ok(paths)
    }

    /// A thread's exact calls keyed by session ids.
    pub fn calls(calls: &[(u32, u64)], func_ids: &[FuncId], budget: &Budget) -> Result<Vec<(FuncId, u64)>, Refusal> {
        let mut keyed = Vec::new();
        budget.grow(&mut keyed, calls.len())?;
        for &(func, count) in calls {
            keyed.push((*func_ids.get(func as usize).ok_or(Refusal::OverBudget)?, count));
        }
        Ok(keyed)
    }

    /// Stats rows keyed by session ids, sorted and with equal keys summed.
    pub fn rows<K: Ord + Copy, R>(
        rows: &[R],
        key: impl Fn(&R) -> Option<K>,
        stats: impl Fn(&R) -> CallStats,
        budget: &Budget,
    ) -> Result<StatsTable<K>, Refusal> {
        let mut table = Vec::new();
        budget.grow(&mut table, rows.len())?;
        for row in rows {
            table.push((key(row).ok_or(Refusal::OverBudget)?, stats(row)));
        }
        sort_and_sum(&mut table);
        Ok(table)
    }
}
