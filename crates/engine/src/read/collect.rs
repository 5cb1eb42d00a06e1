//! A report drawn from a session: the stats of selected threads, or what they added since a mark,
//! renumbered densely (see `report.rs` for the structure and why).

use hashbrown::HashMap;

use crate::model::budget::{Budget, Refusal};
use crate::model::clock::Clock;
use crate::read::query::StatsFilter;
use crate::session::engine::{SessionView, ThreadShard};
use crate::session::report::{REPORT_FORMAT, REPORT_VERSION, Report, ReportFunction, ReportThread};
use crate::session::window::Mark;
use crate::tables::function_table::FuncId;
use crate::tables::snapshot::ThreadSnapshot;
use crate::tables::stacks::{ROOT_STACK, StackId};
use crate::tables::stats::CallStats;

/// Renumbers session ids densely as they are first met.
struct Dense<K> {
    index: HashMap<K, u32>,
}

impl<K: std::hash::Hash + Eq + Copy> Dense<K> {
    fn new() -> Self {
        Dense { index: HashMap::new() }
    }

    fn get_or_add(&mut self, key: K, on_new: impl FnOnce()) -> Result<u32, Refusal> {
        if let Some(&at) = self.index.get(&key) {
            return Ok(at);
        }
        self.index.try_reserve(1).map_err(|_| Refusal::AllocFailed)?;
        let at = self.index.len() as u32;
        self.index.insert(key, at);
        on_new();
        Ok(at)
    }
}

impl Report {
    /// The stats of the threads `filter` selects, as they are now.
    pub fn from_view(view: &SessionView<'_>, filter: &StatsFilter) -> Result<Report, Refusal> {
        Report::from_threads(view, view.threads().filter(|(shard, _)| filter.admits(shard.id)), true)
    }

    /// What every thread added to its stats since `mark` (see `window.rs`). Its counts are
    /// estimates: a mark keeps no exact counts to subtract.
    pub fn since(view: &SessionView<'_>, mark: &Mark) -> Result<Report, Refusal> {
        let added = mark.added(view)?;
        Report::from_threads(view, added.iter().map(|(shard, snapshot)| (*shard, snapshot)), false)
    }

    /// `threads`' stats, their ids renumbered densely; call paths are read from `view`'s table.
    /// `with_exact_calls`: the stats are the threads' whole stats, which their exact calls
    /// (counted since the session began) belong with.
    fn from_threads<'t>(
        view: &SessionView<'_>,
        sources: impl Iterator<Item = (&'t ThreadShard, &'t ThreadSnapshot)>,
        with_exact_calls: bool,
    ) -> Result<Report, Refusal> {
        let budget = Budget::new(usize::MAX);
        let table = view.functions();
        let mut functions: Vec<ReportFunction> = Vec::new();
        let mut dense: Dense<FuncId> = Dense::new();
        let mut func_index = |id: FuncId, functions: &mut Vec<ReportFunction>| -> Result<u32, Refusal> {
            let desc = table.get(id).ok_or(Refusal::OverBudget)?;
            budget.grow(functions, 1)?;
            dense.get_or_add(id, || {
                functions.push(ReportFunction {
                    name: desc.name.clone(),
                    module: desc.module.clone(),
                    line: desc.line,
                    column: desc.column,
                    kind: desc.kind.name().to_owned(),
                })
            })
        };
        let mut threads = Vec::new();
        for (shard, snapshot) in sources {
            let mut funcs = Vec::new();
            budget.grow(&mut funcs, snapshot.funcs.len())?;
            for &(id, stats) in snapshot.funcs.iter() {
                funcs.push((func_index(id, &mut functions)?, stats));
            }
            let mut edges = Vec::new();
            budget.grow(&mut edges, snapshot.edges.len())?;
            for &((caller, callee), stats) in snapshot.edges.iter() {
                edges.push((func_index(caller, &mut functions)?, func_index(callee, &mut functions)?, stats));
            }
            let mut stacks: Vec<(u32, u32, CallStats)> = Vec::new();
            budget.grow(&mut stacks, snapshot.stacks.len())?;
            let mut positions: Dense<StackId> = Dense::new();
            let mut chain = Vec::new();
            for &(id, stats) in snapshot.stacks.iter() {
                // Sorted ids put callers first (a path is interned after its caller), but a
                // caller may be missing from the thread's rows: add it with no stats of its own.
                chain.clear();
                let mut at = id;
                while at != ROOT_STACK && !positions.index.contains_key(&at) {
                    budget.push(&mut chain, at)?;
                    at = view.stacks().get(at).map_or(ROOT_STACK, |node| node.parent);
                }
                for &missing in chain.iter().rev() {
                    let node = view.stacks().get(missing).ok_or(Refusal::OverBudget)?;
                    let parent = if node.parent == ROOT_STACK { 0 } else { positions.index.get(&node.parent).map_or(0, |p| p + 1) };
                    let func = func_index(node.func, &mut functions)?;
                    let stats = if missing == id { stats } else { CallStats::default() };
                    budget.push(&mut stacks, (parent, func, stats))?;
                    positions.get_or_add(missing, || {})?;
                }
            }
            let exact = if with_exact_calls { view.session.coverage.thread_calls(shard.id, &budget)? } else { None };
            let exact_calls = match exact {
                Some(calls) => {
                    let mut rows = Vec::new();
                    budget.grow(&mut rows, calls.len())?;
                    for (id, count) in calls {
                        rows.push((func_index(id, &mut functions)?, count));
                    }
                    // Coverage keeps them unordered; sorted, a saved file is the same for the same stats.
                    rows.sort_unstable();
                    Some(rows)
                }
                None => None,
            };
            budget.push(
                &mut threads,
                ReportThread { id: shard.id, name: shard.name.clone(), totals: snapshot.totals, funcs, edges, stacks, exact_calls },
            )?;
        }
        let clock = view.clock().unwrap_or(Clock::Wall).name().to_owned();
        Ok(Report { format: REPORT_FORMAT.to_owned(), version: REPORT_VERSION, clock, functions, threads })
    }
}
