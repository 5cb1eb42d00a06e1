//! Chrome DevTools' `.cpuprofile` (also opened by VS Code and speedscope) of one thread.
//!
//! The stats hold totals per call path, not a timeline, so each path with self time becomes
//! one sample lasting that long: DevTools' bottom-up and call-tree views show the true times;
//! its timeline shows paths one after another rather than as they interleaved.

use serde_json::{Value, json};

use super::{ExportError, buffer, function, url_of};
use crate::session::report::{Report, ReportThread};

pub fn render(report: &Report, thread: &ReportThread) -> Result<Vec<u8>, ExportError> {
    let node_count = thread.stacks.len() + 1;
    let mut children: Vec<Vec<usize>> = Vec::new();
    children.try_reserve(node_count)?;
    children.resize_with(node_count, Vec::new);
    for (at, &(parent, _, _)) in thread.stacks.iter().enumerate() {
        if let Some(list) = children.get_mut(parent as usize) {
            list.push(at + 1);
        }
    }
    let node_id = |position: usize| position + 1;
    let mut nodes: Vec<Value> = Vec::new();
    nodes.try_reserve(node_count)?;
    nodes.push(json!({
        "id": node_id(0),
        "callFrame": { "functionName": "(root)", "scriptId": "0", "url": "", "lineNumber": -1, "columnNumber": -1 },
        "hitCount": 0,
        "children": children.first().map(|c| c.iter().map(|&p| node_id(p)).collect::<Vec<_>>()).unwrap_or_default(),
    }));
    let mut samples = Vec::new();
    let mut time_deltas: Vec<i64> = Vec::new();
    let (mut elapsed_ns, mut stamped_us) = (0u64, 0i64);
    for (at, &(_, func, stats)) in thread.stacks.iter().enumerate() {
        let position = at + 1;
        let f = function(report, func);
        let name = f.map_or("(unknown)", |f| f.name.as_str());
        let (url, line, column) = f.map_or((String::new(), -1, -1), |f| (url_of(&f.module), i64::from(f.line) - 1, i64::from(f.column) - 1));
        let kids: Vec<usize> = children.get(position).map(|c| c.iter().map(|&p| node_id(p)).collect()).unwrap_or_default();
        nodes.push(json!({
            "id": node_id(position),
            "callFrame": { "functionName": name, "scriptId": "0", "url": url, "lineNumber": line, "columnNumber": column },
            "hitCount": stats.samples,
            "children": kids,
        }));
        if stats.tsub_ns > 0 {
            // A sample lasts until the next one: its delta goes on the *next* sample (or the
            // end time). Deltas are rounded from the running total so no time is lost.
            samples.push(node_id(position));
            let now_us = (elapsed_ns / 1000) as i64;
            time_deltas.push(now_us - stamped_us);
            stamped_us = now_us;
            elapsed_ns = elapsed_ns.saturating_add(stats.tsub_ns);
        }
    }
    let profile = json!({
        "nodes": nodes,
        "startTime": 0,
        "endTime": elapsed_ns / 1000,
        "samples": samples,
        "timeDeltas": time_deltas,
    });
    let mut out = buffer(node_count * 160)?;
    serde_json::to_writer(&mut out, &profile).map_err(|_| ExportError::OutOfMemory)?;
    Ok(out)
}
