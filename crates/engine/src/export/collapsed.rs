//! Folded stacks: one line per call path, `frame;frame;frame <self time in µs>`, the input of
//! flamegraph.pl and inferno. With several threads each stack starts with its thread.

use std::io::Write;

use super::{ExportError, buffer, function, self_paths};
use crate::session::report::Report;

pub fn render(report: &Report) -> Result<Vec<u8>, ExportError> {
    let lines: usize = report.threads.iter().map(|t| t.stacks.len()).sum();
    let mut out = buffer(lines * 96)?;
    let with_thread = report.threads.len() > 1;
    for thread in &report.threads {
        for (path, stats) in self_paths(report, thread) {
            let micros = (stats.tsub_ns + 500) / 1000;
            if micros == 0 {
                continue;
            }
            if with_thread {
                write!(out, "{} #{};", clean(&thread.name), thread.id)?;
            }
            for (depth, &func) in path.iter().enumerate() {
                if depth > 0 {
                    out.push(b';');
                }
                let Some(f) = function(report, func) else { continue };
                if f.module.is_empty() {
                    write!(out, "{}", clean(&f.name))?;
                } else {
                    write!(out, "{} ({}:{})", clean(&f.name), clean(&f.module), f.line)?;
                }
            }
            writeln!(out, " {micros}")?;
        }
    }
    Ok(out)
}

/// `;` separates frames and a newline ends a stack: neither may appear inside a frame.
fn clean(text: &str) -> String {
    text.replace([';', '\n', '\r'], ":")
}
