//! Draws a flame graph (SVG) from a `collapsed` export with inferno, the Rust port of
//! flamegraph.pl: `cargo run -p yappi-engine --example flamegraph -- stacks.collapsed > flame.svg`.

use std::io::{BufWriter, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(input) = std::env::args().nth(1) else {
        return Err("usage: flamegraph <file.collapsed> > flame.svg".into());
    };
    let text = std::fs::read_to_string(&input)?;
    let mut options = inferno::flamegraph::Options::default();
    options.title = format!("yappi-node: {input}");
    options.count_name = "µs".to_owned();
    let mut out = BufWriter::new(std::io::stdout().lock());
    inferno::flamegraph::from_lines(&mut options, text.lines(), &mut out)?;
    out.flush()?;
    Ok(())
}
