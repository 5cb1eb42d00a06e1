//! speedscope's file format (https://www.speedscope.app/file-format-schema.json): shared
//! frames, and one "sampled" profile per thread whose samples are call paths weighted by their
//! self time in nanoseconds.

use serde_json::{Value, json};

use super::{ExportError, buffer, self_paths, url_of};
use crate::report::Report;

pub fn render(report: &Report) -> Result<Vec<u8>, ExportError> {
    let frames: Vec<Value> = report
        .functions
        .iter()
        .map(|f| {
            if f.module.is_empty() {
                json!({ "name": f.name })
            } else {
                json!({ "name": f.name, "file": url_of(&f.module), "line": f.line, "col": f.column })
            }
        })
        .collect();
    let profiles: Vec<Value> = report
        .threads
        .iter()
        .map(|thread| {
            let (samples, weights): (Vec<Vec<u32>>, Vec<u64>) =
                self_paths(thread).filter(|(_, stats)| stats.tsub_ns > 0).map(|(path, stats)| (path, stats.tsub_ns)).unzip();
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
        "activeProfileIndex": 0,
        "shared": { "frames": frames },
        "profiles": profiles,
    });
    let mut out = buffer(report.functions.len() * 96 + report.threads.iter().map(|t| t.stacks.len() * 48).sum::<usize>())?;
    serde_json::to_writer(&mut out, &file).map_err(|_| ExportError::OutOfMemory)?;
    Ok(out)
}
