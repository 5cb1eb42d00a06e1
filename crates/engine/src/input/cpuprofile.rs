//! Reads V8's `.cpuprofile` JSON (the inspector's `Profiler.Profile`) into a flat profile.

use std::borrow::Cow;
use std::collections::HashMap;

use std::cell::Cell;

use serde::de::{DeserializeSeed, Deserializer, Error as _, SeqAccess, Visitor};
use serde::Deserialize;

use crate::model::budget::{Budget, Refusal};
use crate::model::flat_profile::CallFrame;
use crate::model::flat_profile::{FlatProfile, NO_PARENT, ProfileError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile<'a> {
    #[serde(borrow)]
    nodes: Vec<RawNode<'a>>,
    start_time: f64,
    end_time: f64,
    #[serde(default)]
    samples: Vec<i64>,
    #[serde(default)]
    time_deltas: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNode<'a> {
    id: i64,
    #[serde(borrow)]
    call_frame: RawCallFrame<'a>,
    #[serde(default)]
    children: Vec<i64>,
    #[serde(default)]
    parent: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCallFrame<'a> {
    #[serde(borrow, default)]
    function_name: Cow<'a, str>,
    #[serde(borrow, default)]
    url: Cow<'a, str>,
    #[serde(default)]
    script_id: ScriptId<'a>,
    #[serde(default)]
    line_number: i64,
    #[serde(default)]
    column_number: i64,
}

/// Producers disagree on whether a script id is a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum ScriptId<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Number(i64),
}

impl Default for ScriptId<'_> {
    fn default() -> Self {
        ScriptId::Number(0)
    }
}

impl ScriptId<'_> {
    fn to_text(&self) -> String {
        match self {
            ScriptId::Text(text) => text.to_string(),
            ScriptId::Number(number) => number.to_string(),
        }
    }
}

/// JSON parsing cannot allocate fallibly, so the budget is asked for a bound on its size first.
/// The densest documents (arrays of one-digit numbers just past a power of two in length, so
/// serde's vectors have doubled) peak at about 14 bytes per input byte while parsing
/// (`tests/fuzz_json.rs` measures it); 20 leaves a margin.
pub const PARSE_BYTES_PER_INPUT_BYTE: usize = 20;

fn micros(value: f64, what: &str) -> Result<i64, ProfileError> {
    if value.is_finite() && value.abs() < 9.0e15 {
        Ok(rounded(value))
    } else {
        Err(ProfileError::Malformed(format!("{what} {value} is not a time in microseconds")))
    }
}

fn position(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(-1)
}

/// Parses a `.cpuprofile` document.
pub fn parse(json: &str, budget: &Budget) -> Result<FlatProfile, ProfileError> {
    let bound = json.len().saturating_mul(PARSE_BYTES_PER_INPUT_BYTE);
    budget.charge(bound)?;
    let parsed = parse_unbudgeted(json);
    budget.release(bound);
    parsed
}

fn parse_unbudgeted(json: &str) -> Result<FlatProfile, ProfileError> {
    let raw: RawProfile<'_> = serde_json::from_str(json)
        .map_err(|error| ProfileError::Malformed(format!("not a V8 CPU profile: {error}")))?;
    flatten(raw)
}

fn flatten(raw: RawProfile<'_>) -> Result<FlatProfile, ProfileError> {
    let node_count = raw.nodes.len();
    let mut index_of_id: HashMap<i64, u32> = HashMap::with_capacity(node_count);
    for (index, node) in raw.nodes.iter().enumerate() {
        if index_of_id.insert(node.id, index as u32).is_some() {
            return Err(ProfileError::Malformed(format!("node id {} appears twice", node.id)));
        }
    }
    let lookup = |id: i64, context: &str| {
        index_of_id
            .get(&id)
            .copied()
            .ok_or_else(|| ProfileError::Malformed(format!("{context} names node id {id}, which is not in the profile")))
    };

    let mut node_parent = vec![NO_PARENT; node_count];
    for (index, node) in raw.nodes.iter().enumerate() {
        if let (Some(parent), Some(slot)) = (node.parent, node_parent.get_mut(index)) {
            *slot = lookup(parent, &format!("node {}", node.id))?;
        }
        for &child in &node.children {
            let child_index = lookup(child, &format!("node {}", node.id))? as usize;
            let Some(slot) = node_parent.get_mut(child_index) else { continue };
            if *slot != NO_PARENT && *slot != index as u32 {
                return Err(ProfileError::Malformed(format!("node id {child} has two parents")));
            }
            *slot = index as u32;
        }
    }

    let mut frames = Vec::new();
    let mut frame_of: HashMap<(&str, &str, String, i64, i64), u32> = HashMap::new();
    let mut node_frame = Vec::with_capacity(node_count);
    for node in &raw.nodes {
        let frame = &node.call_frame;
        let key = (
            frame.function_name.as_ref(),
            frame.url.as_ref(),
            frame.script_id.to_text(),
            frame.line_number,
            frame.column_number,
        );
        let next = frames.len() as u32;
        let index = *frame_of.entry(key).or_insert_with_key(|key| {
            frames.push(CallFrame {
                name: key.0.to_string(),
                url: key.1.to_string(),
                script_id: key.2.clone(),
                line: position(key.3),
                column: position(key.4),
            });
            next
        });
        node_frame.push(index);
    }

    let samples = raw
        .samples
        .iter()
        .enumerate()
        .map(|(i, &id)| lookup(id, &format!("sample {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let time_deltas = raw
        .time_deltas
        .iter()
        .map(|&delta| micros(delta, "time delta"))
        .collect::<Result<Vec<_>, _>>()?;
    let profile = FlatProfile {
        frames,
        node_parent,
        node_frame,
        samples,
        time_deltas,
        start_time: micros(raw.start_time, "start time")?,
        end_time: micros(raw.end_time, "end time")?,
    };
    profile.validate()?;
    Ok(profile)
}

/// One frame as the flat form sends it: `[name, url, scriptId, line, column]`.
#[derive(Deserialize)]
struct RawFrameTuple<'a>(#[serde(borrow)] Cow<'a, str>, #[serde(borrow)] Cow<'a, str>, ScriptId<'a>, i64, i64);

/// Parses the frame list of a flat profile built by the host (a JSON array of tuples).
///
/// Streamed, so memory is charged as it grows instead of by an up-front bound: each frame's
/// strings and the list's growth go through the budget, and a refusal stops the parse. The
/// charge is returned when the list is (the fold that uses it charges its own).
pub fn parse_frames(json: &str, budget: &Budget) -> Result<Vec<CallFrame>, ProfileError> {
    let refused = Cell::new(false);
    let string_bytes = Cell::new(0usize);
    let seed = FramesSeed { budget, refused: &refused, string_bytes: &string_bytes };
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let parsed = seed.deserialize(&mut deserializer).and_then(|frames| deserializer.end().map(|()| frames));
    match parsed {
        Ok(frames) => {
            budget.forget(&frames);
            budget.release(string_bytes.get());
            Ok(frames)
        }
        Err(error) => {
            budget.release(string_bytes.get());
            if refused.get() {
                return Err(ProfileError::Refused(Refusal::OverBudget));
            }
            Err(ProfileError::Malformed(format!("frames are not [name, url, scriptId, line, column] tuples: {error}")))
        }
    }
}

/// A profile the host flattened itself: frames as `parse_frames` tuples, the tree and samples
/// as the host's typed arrays, times in µs as JavaScript numbers.
pub struct FlatParts<'a> {
    pub frames: &'a str,
    pub node_parent: &'a [u32],
    pub node_frame: &'a [u32],
    pub samples: &'a [u32],
    pub time_deltas: &'a [f64],
    pub start_time: f64,
    pub end_time: f64,
}

impl FlatParts<'_> {
    /// Like a read, the copy is transient: parsed and copied fallibly but outside the session
    /// budget, so that a full budget still lets the fold see (and count as dropped) the
    /// functions it names.
    pub fn to_profile(&self) -> Result<FlatProfile, ProfileError> {
        let frames = parse_frames(self.frames, &Budget::new(usize::MAX))?;
        let mut time_deltas = Vec::new();
        time_deltas.try_reserve_exact(self.time_deltas.len()).map_err(Refusal::from)?;
        time_deltas.extend(self.time_deltas.iter().map(|&delta| rounded(delta)));
        Ok(FlatProfile {
            frames,
            node_parent: copied(self.node_parent)?,
            node_frame: copied(self.node_frame)?,
            samples: copied(self.samples)?,
            time_deltas,
            start_time: self.start_time.round() as i64,
            end_time: self.end_time.round() as i64,
        })
    }
}

/// `value.round() as i64`; V8's times are whole microseconds, which a cast converts exactly
/// without the libm call that `round` is on targets without SSE4.1.
fn rounded(value: f64) -> i64 {
    let whole = value as i64;
    if whole as f64 == value { whole } else { value.round() as i64 }
}

fn copied<T: Copy>(values: &[T]) -> Result<Vec<T>, Refusal> {
    let mut vec = Vec::new();
    vec.try_reserve_exact(values.len())?;
    vec.extend_from_slice(values);
    Ok(vec)
}

struct FramesSeed<'b> {
    budget: &'b Budget,
    refused: &'b Cell<bool>,
    string_bytes: &'b Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for FramesSeed<'_> {
    type Value = Vec<CallFrame>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FramesSeed<'_> {
    type Value = Vec<CallFrame>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a list of [name, url, scriptId, line, column] tuples")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut frames: Vec<CallFrame> = Vec::new();
        let refuse = |frames: &Vec<CallFrame>| {
            self.refused.set(true);
            self.budget.forget(frames);
            A::Error::custom("memory budget exhausted")
        };
        loop {
            let next = match seq.next_element::<RawFrameTuple<'de>>() {
                Ok(next) => next,
                Err(error) => {
                    self.budget.forget(&frames);
                    return Err(error);
                }
            };
            let Some(RawFrameTuple(name, url, script_id, line, column)) = next else { break };
            let script_id = script_id.to_text();
            let bytes = name.len() + url.len() + script_id.len();
            if self.budget.grow(&mut frames, 1).is_err() || self.budget.charge(bytes).is_err() {
                return Err(refuse(&frames));
            }
            self.string_bytes.set(self.string_bytes.get() + bytes);
            frames.push(CallFrame { name: name.into_owned(), url: url.into_owned(), script_id, line: position(line), column: position(column) });
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"{
      "nodes": [
        {"id": 1, "callFrame": {"functionName": "(root)", "scriptId": "0", "url": "", "lineNumber": -1, "columnNumber": -1}, "children": [2, 3]},
        {"id": 2, "callFrame": {"functionName": "main", "scriptId": "5", "url": "file:///app/m.js", "lineNumber": 0, "columnNumber": 0}, "children": [4]},
        {"id": 3, "callFrame": {"functionName": "(idle)", "scriptId": "0", "url": "", "lineNumber": -1, "columnNumber": -1}},
        {"id": 4, "callFrame": {"functionName": "work", "scriptId": 5, "url": "file:///app/m.js", "lineNumber": 9, "columnNumber": 2}}
      ],
      "startTime": 1000, "endTime": 1400,
      "samples": [4, 4, 2, 3], "timeDeltas": [100, 100, 100, 50]
    }"#;

    #[test]
    fn reads_nodes_frames_and_samples() {
        let profile = parse(PROFILE, &Budget::new(usize::MAX)).unwrap();
        assert_eq!(profile.node_parent, vec![NO_PARENT, 0, 0, 1]);
        assert_eq!(profile.frames.len(), 4);
        assert_eq!(profile.frames[3].name, "work");
        assert_eq!(profile.frames[3].script_id, "5");
        assert_eq!(profile.samples, vec![3, 3, 1, 2]);
        assert_eq!((profile.start_time, profile.end_time), (1000, 1400));
    }

    #[test]
    fn names_what_is_wrong() {
        let budget = Budget::new(usize::MAX);
        let unknown_child = PROFILE.replace("[2, 3]", "[2, 3, 9]");
        let error = parse(&unknown_child, &budget).unwrap_err().to_string();
        assert!(error.contains("node id 9"), "{error}");
        assert!(parse("{\"nodes\": 3}", &budget).unwrap_err().to_string().contains("not a V8 CPU profile"));
        let too_many_deltas = PROFILE.replace("[100, 100, 100, 50]", "[1, 2]");
        assert!(parse(&too_many_deltas, &budget).unwrap_err().to_string().contains("time deltas"));
    }

    #[test]
    fn reads_frame_tuples() {
        let budget = Budget::new(usize::MAX);
        let frames = parse_frames(r#"[["main", "file:///a.js", "4", 2, 0], ["(root)", "", 0, -1, -1]]"#, &budget).unwrap();
        assert_eq!(frames[0].name, "main");
        assert_eq!(frames[1].script_id, "0");
        assert!(parse_frames(r#"[["x"]]"#, &budget).unwrap_err().to_string().contains("tuples"));
    }

    #[test]
    fn host_parts_round_their_times_to_whole_microseconds() {
        let parts = FlatParts {
            frames: r#"[["(root)", "", 0, -1, -1], ["main", "file:///a.js", "4", 2, 0]]"#,
            node_parent: &[NO_PARENT, 0],
            node_frame: &[0, 1],
            samples: &[1, 1],
            time_deltas: &[10.4, 9.6],
            start_time: 999.5,
            end_time: 1020.2,
        };
        let profile = parts.to_profile().unwrap();
        assert_eq!(profile.frames[1].name, "main");
        assert_eq!((profile.node_parent, profile.node_frame, profile.samples), (vec![NO_PARENT, 0], vec![0, 1], vec![1, 1]));
        assert_eq!((profile.time_deltas, profile.start_time, profile.end_time), (vec![10, 10], 1000, 1020));
        assert!(FlatParts { frames: "[[1]]", ..parts }.to_profile().unwrap_err().to_string().contains("tuples"));
    }

    #[test]
    fn refuses_what_the_budget_cannot_hold() {
        assert!(matches!(parse(PROFILE, &Budget::new(100)), Err(ProfileError::Refused(_))));
    }
}
