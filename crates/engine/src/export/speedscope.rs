//! speedscope's file format (https://www.speedscope.app/file-format-schema.json): shared
//! frames, and one "sampled" profile per thread whose samples are call paths weighted by their
//! self time in nanoseconds. speedscope opens on the busiest thread (most time not idle), not
//! on the first: in a server that is often a main thread waiting for its workers.

use serde_json::{Value, json};

use super::{ExportError, buffer, export_names, self_paths, url_of};
use crate::session::report::{Report, ReportThread};

pub fn render(report: &Report) -> Result<Vec<u8>, ExportError> {
    let names = export_names(report)?;
    let frames: Vec<Value> = report
        .functions
        .iter()
        .zip(&names)
        .map(|(f, name)| {
            if f.module.is_empty() {
                json!({ "name": name })
            } else {
                json!({ "name": name, "file": url_of(&f.module), "line": f.line, "col": f.column })
            }
        })
        .collect();
    let busy = |thread: &ReportThread| -> u64 {
        self_paths(report, thread)
            .filter(|(path, _)| path.last().and_then(|&f| report.functions.get(f as usize)).is_some_and(|f| f.kind != "idle"))
            .map(|(_, stats)| stats.tsub_ns)
            .sum()
    };
    let busiest = report.threads.iter().enumerate().max_by_key(|&(at, thread)| (busy(thread), std::cmp::Reverse(at))).map_or(0, |(at, _)| at);
    let profiles: Vec<Value> = report
        .threads
        .iter()
        .map(|thread| {
            let (samples, weights): (Vec<Vec<u32>>, Vec<u64>) =
                self_paths(report, thread).filter(|(_, stats)| stats.tsub_ns > 0).map(|(path, stats)| (path, stats.tsub_ns)).unzip();
            let total: u64 = weights.iter().sum();
            json!({
                "type": "sampled",
                "name": format!("{} (thread {}, {} clock)", thread.name, thread.id, report.clock),
                "unit": "nanoseconds",
                "startValue": 0,
                "endValue": total,
                "samples": samples,
                "weights": weights,
            })
        })
        .collect();
    let file = json!({
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "exporter": concat!("yappi-node@", env!("CARGO_PKG_VERSION")),
        "name": "yappi-node",
        "activeProfileIndex": busiest,
        "shared": { "frames": frames },
        "profiles": profiles,
    });
    let mut out = buffer(report.functions.len() * 96 + report.threads.iter().map(|t| t.stacks.len() * 48).sum::<usize>())?;
    serde_json::to_writer(&mut out, &file).map_err(|_| ExportError::OutOfMemory)?;
    Ok(out)
}
