//! Hand-written profiles for tests: stacks of names with known weights.

use std::collections::HashMap;

use crate::model::flat_profile::CallFrame;
use crate::model::flat_profile::{FlatProfile, NO_PARENT};

pub fn frame(name: &str) -> CallFrame {
    let url = match name {
        "(root)" | "(idle)" | "(program)" | "(garbage collector)" => "",
        _ if name.starts_with("node_") => "node:internal/x",
        _ if name.starts_with("own_") => "file:///yappi/dist/x.js",
        _ => "file:///app/main.js",
    };
    let script_id = if url.is_empty() { "0" } else { "3" };
    let line = name.bytes().map(i32::from).sum::<i32>() % 1000;
    CallFrame { name: name.into(), url: url.into(), script_id: script_id.into(), line, column: 0 }
}

/// Builds a profile whose samples have exactly the given stacks (root first) and weights (µs):
/// each sample lasts until the next, the last until the end. It starts at 1000 µs.
pub fn profile(samples: &[(&[&str], i64)]) -> FlatProfile {
    profile_at(1_000, samples)
}

/// [`profile`], starting at `start_us`: profiles of one thread follow each other in time.
pub fn profile_at(start_us: i64, samples: &[(&[&str], i64)]) -> FlatProfile {
    let mut profile = FlatProfile { frames: vec![frame("(root)")], ..FlatProfile::default() };
    profile.node_parent.push(NO_PARENT);
    profile.node_frame.push(0);
    let mut frame_index: HashMap<String, u32> = HashMap::from([("(root)".to_string(), 0)]);
    let mut node_index: HashMap<(u32, String), u32> = HashMap::new();
    let mut previous_weight = 0;
    for (stack, weight) in samples {
        let mut node = 0u32;
        for name in *stack {
            let frame = *frame_index.entry(name.to_string()).or_insert_with(|| {
                profile.frames.push(frame(name));
                (profile.frames.len() - 1) as u32
            });
            node = *node_index.entry((node, name.to_string())).or_insert_with(|| {
                profile.node_parent.push(node);
                profile.node_frame.push(frame);
                (profile.node_parent.len() - 1) as u32
            });
        }
        profile.samples.push(node);
        profile.time_deltas.push(previous_weight);
        previous_weight = *weight;
    }
    profile.start_time = start_us;
    profile.end_time = start_us + samples.iter().map(|(_, w)| w).sum::<i64>();
    profile
}
