//! valgrind's callgrind format (https://valgrind.org/docs/manual/cl-format.html): per function
//! its self cost at its first line, and per call edge `calls=` with the inclusive cost of the
//! calls. Events: time in nanoseconds of the report's clock, and samples. Threads are merged.

use std::io::Write;

use hashbrown::HashMap;

use super::{ExportError, buffer, function, is_idle};
use crate::session::report::Report;
use crate::tables::stats::CallStats;

pub fn render(report: &Report) -> Result<Vec<u8>, ExportError> {
    let mut funcs: HashMap<u32, CallStats> = HashMap::new();
    let mut callees: HashMap<u32, Vec<(u32, CallStats)>> = HashMap::new();
    let mut edges: HashMap<(u32, u32), CallStats> = HashMap::new();
    for thread in &report.threads {
        funcs.try_reserve(thread.funcs.len()).map_err(|_| ExportError::OutOfMemory)?;
        // `(idle)` is the thread waiting, not a function: left out as in the table.
        for (f, s) in thread.funcs.iter().filter(|(f, _)| function(report, *f).is_none_or(|f| !is_idle(f))) {
            *funcs.entry(*f).or_default() += *s;
        }
        edges.try_reserve(thread.edges.len()).map_err(|_| ExportError::OutOfMemory)?;
        for (a, b, s) in &thread.edges {
            *edges.entry((*a, *b)).or_default() += *s;
        }
    }
    for (&(caller, callee), s) in &edges {
        callees.entry(caller).or_default().push((callee, *s));
    }
    let names = unique_names(report);
    let mut order: Vec<u32> = funcs.keys().copied().collect();
    order.sort_unstable();
    let total = funcs.values().fold(CallStats::default(), |mut sum, s| {
        sum += *s;
        sum
    });
    let mut out = buffer(funcs.len() * 160 + edges.len() * 200)?;
    writeln!(out, "# callgrind format\nversion: 1\ncreator: yappi-node {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "cmd: yappi-node ({} clock)\npositions: line\nevents: Nanoseconds Samples", report.clock)?;
    writeln!(out, "summary: {} {}\n", total.tsub_ns, total.samples)?;
    let mut files: HashMap<String, usize> = HashMap::new();
    let mut named: HashMap<u32, ()> = HashMap::new();
    let mut file_ref = |out: &mut Vec<u8>, tag: &str, module: &str| -> std::io::Result<()> {
        let module = if module.is_empty() { "(native)" } else { module };
        match files.get(module) {
            Some(id) => writeln!(out, "{tag}=({id})"),
            None => {
                let id = files.len() + 1;
                files.insert(module.to_owned(), id);
                writeln!(out, "{tag}=({id}) {module}")
            }
        }
    };
    let mut fn_ref = |out: &mut Vec<u8>, tag: &str, func: u32| -> std::io::Result<()> {
        let id = func + 1;
        if named.insert(func, ()).is_some() {
            writeln!(out, "{tag}=({id})")
        } else {
            writeln!(out, "{tag}=({id}) {}", names.get(func as usize).map_or("(unknown)", String::as_str))
        }
    };
    for func in order {
        let (Some(f), Some(stats)) = (function(report, func), funcs.get(&func)) else { continue };
        file_ref(&mut out, "fl", &f.module)?;
        fn_ref(&mut out, "fn", func)?;
        writeln!(out, "{} {} {}", f.line, stats.tsub_ns, stats.samples)?;
        let mut calls = callees.get(&func).cloned().unwrap_or_default();
        calls.sort_unstable_by_key(|(callee, _)| *callee);
        for (callee, edge) in calls {
            let Some(g) = function(report, callee) else { continue };
            file_ref(&mut out, "cfl", &g.module)?;
            fn_ref(&mut out, "cfn", callee)?;
            // A call seen by its time was made at least once, even if no sample saw it begin.
            writeln!(out, "calls={} {}", edge.ncall.max(1), g.line)?;
            writeln!(out, "{} {} {}", f.line, edge.ttot_ns, edge.samples_total)?;
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// callgrind tells functions apart by name within a file: same-named ones get their line.
fn unique_names(report: &Report) -> Vec<String> {
    let mut seen: HashMap<(&str, &str), u32> = HashMap::new();
    for f in &report.functions {
        *seen.entry((f.module.as_str(), f.name.as_str())).or_default() += 1;
    }
    report
        .functions
        .iter()
        .map(|f| {
            let shared = seen.get(&(f.module.as_str(), f.name.as_str())).is_some_and(|&n| n > 1);
            if shared { format!("{}'{}", f.name, f.line) } else { f.name.clone() }
        })
        .collect()
}
