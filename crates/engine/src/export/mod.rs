//! Exports of a [`Report`] in the formats other tools open. Each reads the report's per-thread
//! call trees (sample-based formats) or its function and edge tables (callgrind).

mod callgrind;
mod chrome;
mod collapsed;
mod pprof;
mod speedscope;

use std::borrow::Cow;
use std::fmt;

use hashbrown::HashMap;

use crate::model::frame::{ANONYMOUS, FuncKind};
use crate::read::query::StatsFilter;
use crate::session::engine::Engine;
use crate::session::report::{Report, ReportError, ReportFunction, ReportThread};
use crate::session::window::Mark;
use crate::tables::stats::CallStats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzipped protobuf for `go tool pprof` and pprof-compatible viewers.
    Pprof,
    /// valgrind's callgrind format for `callgrind_annotate`, KCachegrind, QCachegrind.
    Callgrind,
    /// Chrome DevTools / VS Code `.cpuprofile`; one thread per file.
    Cpuprofile,
    /// speedscope's JSON file format, one profile per thread.
    Speedscope,
    /// Brendan Gregg's folded stacks, for flamegraph.pl, inferno, speedscope.
    Collapsed,
    /// yappi-node's own format, which `load` reads back.
    Json,
}

pub const FORMAT_NAMES: [&str; 6] = ["pprof", "callgrind", "cpuprofile", "speedscope", "collapsed", "json"];

impl Format {
    /// [`Format::named`], with an error that lists the formats.
    pub fn parse(name: &str) -> Result<Format, ExportError> {
        Format::named(name).ok_or_else(|| ExportError::UnknownFormat(name.to_owned()))
    }

    pub fn named(name: &str) -> Option<Format> {
        Some(match name {
            "pprof" => Format::Pprof,
            "callgrind" => Format::Callgrind,
            "cpuprofile" => Format::Cpuprofile,
            "speedscope" => Format::Speedscope,
            "collapsed" => Format::Collapsed,
            "json" => Format::Json,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    UnknownFormat(String),
    /// `.cpuprofile` holds one thread; the stats cover several (or none).
    OneThreadOnly(usize),
    OutOfMemory,
    Report(ReportError),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::UnknownFormat(name) => write!(f, "unknown format {name:?}; formats: {}", FORMAT_NAMES.join(", ")),
            ExportError::OneThreadOnly(0) => write!(f, "a .cpuprofile needs one thread's stats, and these stats have no thread"),
            ExportError::OneThreadOnly(n) => write!(f, "a .cpuprofile holds one thread, and these stats cover {n}: select one thread"),
            ExportError::OutOfMemory => write!(f, "out of memory writing the export"),
            ExportError::Report(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<std::collections::TryReserveError> for ExportError {
    fn from(_: std::collections::TryReserveError) -> Self {
        ExportError::OutOfMemory
    }
}

impl From<std::io::Error> for ExportError {
    fn from(_: std::io::Error) -> Self {
        ExportError::OutOfMemory
    }
}

/// Renders `report` as `format`.
/// The stats of the threads `filter` selects, as they are now, rendered in `format`.
pub fn export(engine: &Engine, filter: &StatsFilter, format: Format) -> Result<Vec<u8>, ExportError> {
    let report = engine.read(|view| Report::from_view(view, filter)).map_err(|_| ExportError::OutOfMemory)?;
    render(&report, format)
}

/// What every thread added to the stats since `mark`, rendered in `format`.
pub fn export_since(engine: &Engine, mark: &Mark, format: Format) -> Result<Vec<u8>, ExportError> {
    let report = engine.read(|view| Report::since(view, mark)).map_err(|_| ExportError::OutOfMemory)?;
    render(&report, format)
}

/// Stall `id` alone, its own flame graph, rendered in `format`; `None` once the ring let it go.
pub fn export_stall(engine: &Engine, id: u64, format: Format) -> Result<Option<Vec<u8>>, ExportError> {
    let report = engine.read(|view| view.session.stalls.get(id).map(|stall| Report::of_stall(&stall, view.functions(), view.clock())));
    match report {
        None => Ok(None),
        Some(report) => render(&report.map_err(|_| ExportError::OutOfMemory)?, format).map(Some),
    }
}

pub fn render(report: &Report, format: Format) -> Result<Vec<u8>, ExportError> {
    match format {
        Format::Pprof => pprof::render(report),
        Format::Callgrind => callgrind::render(report),
        Format::Cpuprofile => match report.threads.as_slice() {
            [thread] => chrome::render(report, thread),
            threads => Err(ExportError::OneThreadOnly(threads.len())),
        },
        Format::Speedscope => speedscope::render(report),
        Format::Collapsed => collapsed::render(report),
        Format::Json => report.to_json().map_err(ExportError::Report),
    }
}

/// An output buffer reserved up front, fallibly, from an estimate of the size.
fn buffer(estimate: usize) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::new();
    out.try_reserve(estimate)?;
    Ok(out)
}

/// Each call path of a thread with self time, root first: `(function indices, stats)`.
/// `(idle)` is left out: it is the thread waiting, not a function, and the function table
/// leaves it out too (see the README's "Idle time"); `.cpuprofile` keeps it for DevTools.
fn self_paths<'r>(report: &'r Report, thread: &'r ReportThread) -> impl Iterator<Item = (Vec<u32>, &'r CallStats)> {
    let busy = |func: u32| function(report, func).is_none_or(|f| !is_idle(f));
    thread.stacks.iter().enumerate().filter(move |(_, (_, func, stats))| (stats.tsub_ns > 0 || stats.samples > 0) && busy(*func)).map(|(at, (_, _, stats))| {
        let mut path = Vec::new();
        let mut position = at + 1;
        while let Some(&(parent, func, _)) = position.checked_sub(1).and_then(|p| thread.stacks.get(p)) {
            path.push(func);
            position = parent as usize;
        }
        path.reverse();
        (path, stats)
    })
}

fn function(report: &Report, index: u32) -> Option<&ReportFunction> {
    report.functions.get(index as usize)
}

fn is_idle(f: &ReportFunction) -> bool {
    f.kind == FuncKind::Idle.name()
}

/// What exports that tell functions apart by name call each function: anonymous functions get
/// their file and line as DevTools shows them (`(anonymous) server.ts:27`), and their column too
/// where two of a file share a line (minified code), so that pprof, which merges functions of
/// one name at its default granularity, and speedscope's tables keep them apart.
fn export_names(report: &Report) -> Result<Vec<Cow<'_, str>>, ExportError> {
    let is_named = |f: &ReportFunction| f.name != ANONYMOUS || f.module.is_empty();
    let mut per_line: HashMap<(&str, u32), u32> = HashMap::new();
    per_line.try_reserve(report.functions.len()).map_err(|_| ExportError::OutOfMemory)?;
    for f in report.functions.iter().filter(|f| !is_named(f)) {
        *per_line.entry((f.module.as_str(), f.line)).or_default() += 1;
    }
    let mut names = Vec::new();
    names.try_reserve(report.functions.len())?;
    names.extend(report.functions.iter().map(|f| {
        if is_named(f) {
            return Cow::Borrowed(f.name.as_str());
        }
        let file = f.module.rsplit(['/', '\\']).next().unwrap_or(&f.module);
        let shared = per_line.get(&(f.module.as_str(), f.line)).is_some_and(|&n| n > 1);
        Cow::Owned(if shared { format!("{ANONYMOUS} {file}:{}:{}", f.line, f.column) } else { format!("{ANONYMOUS} {file}:{}", f.line) })
    }));
    Ok(names)
}

/// `file:///…` for absolute paths, as DevTools and speedscope link sources.
fn url_of(module: &str) -> String {
    if module.starts_with('/') { format!("file://{module}") } else { module.to_owned() }
}

#[cfg(test)]
mod tests;
