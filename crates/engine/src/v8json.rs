//! Reads the JSON that V8's `CpuProfile::Serialize` writes (`v8.startCpuProfile().stop()` on
//! Node ≥ 24.12) into a flat profile.
//!
//! That writer does not escape strings: a function named after a regular expression comes out
//! as `"functionName":"RegExp: \d+"(\s|$)"`, which no JSON parser accepts (nodesource/nsolid#178
//! reports the same bug). The layout itself is fixed, so this parser reads it as V8 writes it:
//! a string value ends at the quote that is followed by what may follow a value (`,` `}` `]`),
//! and its bytes are taken as they are. Every growth path goes through the budget.

// Indices are checked against lengths this parser sized itself.
#![allow(clippy::indexing_slicing)]

use hashbrown::HashMap;

use crate::budget::{Budget, Refusal, Scratch};
use crate::function::CallFrame;
use crate::profile::{FlatProfile, NO_PARENT, ProfileError};

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

fn malformed(what: impl Into<String>) -> ProfileError {
    ProfileError::Malformed(what.into())
}

impl<'a> Reader<'a> {
    fn error(&self, expected: &str) -> ProfileError {
        let found = self.bytes.get(self.at).map_or("the end".to_string(), |&b| format!("{:?}", b as char));
        malformed(format!("V8 profile JSON: expected {expected} at byte {}, found {found}", self.at))
    }

    fn skip_space(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), ProfileError> {
        if self.eat(byte) { Ok(()) } else { Err(self.error(&format!("{:?}", byte as char))) }
    }

    /// A key: V8's keys are plain identifiers, so the first quote ends them.
    fn key(&mut self) -> Result<&'a [u8], ProfileError> {
        self.expect(b'"')?;
        let start = self.at;
        let length = self.bytes[start..].iter().position(|&b| b == b'"').ok_or_else(|| self.error("the end of a key"))?;
        self.at = start + length + 1;
        self.expect(b':')?;
        Ok(&self.bytes[start..start + length])
    }

    /// A string value as V8 writes it: unescaped, ended by the quote that a `,`, `}` or `]`
    /// follows (see the module comment).
    fn raw_string(&mut self) -> Result<&'a str, ProfileError> {
        self.expect(b'"')?;
        let start = self.at;
        let mut end = start;
        loop {
            let quote = self.bytes[end..].iter().position(|&b| b == b'"').ok_or_else(|| self.error("the end of a string"))?;
            end += quote;
            let mut after = end + 1;
            while self.bytes.get(after).is_some_and(u8::is_ascii_whitespace) {
                after += 1;
            }
            if matches!(self.bytes.get(after), Some(b',' | b'}' | b']') | None) {
                break;
            }
            end += 1;
        }
        self.at = end + 1;
        std::str::from_utf8(&self.bytes[start..end]).map_err(|_| malformed(format!("V8 profile JSON: a string at byte {start} is not UTF-8")))
    }

    fn integer(&mut self) -> Result<i64, ProfileError> {
        self.skip_space();
        let start = self.at;
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        // V8 writes times as integers; a fraction or exponent (other writers) is read and rounded.
        let integral_end = self.at;
        while self.bytes.get(self.at).is_some_and(|b| matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'0'..=b'9')) {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| self.error("a number"))?;
        if integral_end == self.at {
            return text.parse::<i64>().map_err(|_| self.error("an integer"));
        }
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() && value.abs() < 9.0e15 => Ok(value.round() as i64),
            _ => Err(self.error("a number")),
        }
    }

    /// A value this parser does not need (a string, number, literal, array or object).
    fn skip_value(&mut self) -> Result<(), ProfileError> {
        match self.peek() {
            Some(b'"') => self.raw_string().map(|_| ()),
            Some(b'{') => {
                self.at += 1;
                if self.eat(b'}') {
                    return Ok(());
                }
                loop {
                    self.key()?;
                    self.skip_value()?;
                    if !self.eat(b',') {
                        return self.expect(b'}');
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                if self.eat(b']') {
                    return Ok(());
                }
                loop {
                    self.skip_value()?;
                    if !self.eat(b',') {
                        return self.expect(b']');
                    }
                }
            }
            Some(b't' | b'f' | b'n') => {
                while self.bytes.get(self.at).is_some_and(u8::is_ascii_alphabetic) {
                    self.at += 1;
                }
                Ok(())
            }
            Some(_) => self.integer().map(|_| ()),
            None => Err(self.error("a value")),
        }
    }

    /// `[n, n, …]`, each pushed through the budget.
    fn integers(&mut self, into: &mut Vec<i64>, budget: &Budget) -> Result<(), ProfileError> {
        self.expect(b'[')?;
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            let value = self.integer()?;
            budget.push(into, value)?;
            if !self.eat(b',') {
                return self.expect(b']');
            }
        }
    }
}

/// One node as read: its id, frame and children (ids, resolved once every node is known).
struct RawNode {
    id: i64,
    frame: u32,
    children: std::ops::Range<usize>,
}

type FrameKey<'a> = (&'a str, &'a str, i64, i64, i64);

struct Frames<'a, 'b> {
    list: Vec<CallFrame>,
    index: HashMap<FrameKey<'a>, u32>,
    charged: usize,
    budget: &'b Budget,
}

impl<'a, 'b> Frames<'a, 'b> {
    fn intern(&mut self, key: FrameKey<'a>) -> Result<u32, Refusal> {
        if let Some(&frame) = self.index.get(&key) {
            return Ok(frame);
        }
        let (name, url, script_id, line, column) = key;
        let script_id = script_id.to_string();
        let bytes = name.len() + url.len() + script_id.len() + size_of::<(FrameKey<'a>, u32)>() * 2;
        self.budget.charge(bytes)?;
        self.charged += bytes;
        self.budget.grow(&mut self.list, 1)?;
        self.index.try_reserve(1).map_err(|_| Refusal::AllocFailed)?;
        let frame = self.list.len() as u32;
        let position = |value: i64| i32::try_from(value).unwrap_or(-1);
        self.list.push(CallFrame { name: name.to_string(), url: url.to_string(), script_id, line: position(line), column: position(column) });
        self.index.insert(key, frame);
        Ok(frame)
    }
}

impl Drop for Frames<'_, '_> {
    fn drop(&mut self) {
        self.budget.release(self.charged);
        self.budget.forget(&self.list);
    }
}

fn call_frame<'a>(reader: &mut Reader<'a>) -> Result<FrameKey<'a>, ProfileError> {
    let (mut name, mut url, mut script_id, mut line, mut column) = ("", "", 0, -1, -1);
    reader.expect(b'{')?;
    if !reader.eat(b'}') {
        loop {
            match reader.key()? {
                b"functionName" => name = reader.raw_string()?,
                b"url" => url = reader.raw_string()?,
                b"scriptId" => script_id = reader.integer()?,
                b"lineNumber" => line = reader.integer()?,
                b"columnNumber" => column = reader.integer()?,
                _ => reader.skip_value()?,
            }
            if !reader.eat(b',') {
                reader.expect(b'}')?;
                break;
            }
        }
    }
    Ok((name, url, script_id, line, column))
}

fn node<'a>(reader: &mut Reader<'a>, frames: &mut Frames<'a, '_>, children: &mut Vec<i64>, budget: &Budget) -> Result<RawNode, ProfileError> {
    let (mut id, mut frame) = (None, None);
    let first_child = children.len();
    reader.expect(b'{')?;
    loop {
        match reader.key()? {
            b"id" => id = Some(reader.integer()?),
            b"callFrame" => frame = Some(frames.intern(call_frame(reader)?)?),
            b"children" => reader.integers(children, budget)?,
            _ => reader.skip_value()?,
        }
        if !reader.eat(b',') {
            reader.expect(b'}')?;
            break;
        }
    }
    let id = id.ok_or_else(|| malformed("V8 profile JSON: a node has no id"))?;
    let frame = frame.ok_or_else(|| malformed(format!("V8 profile JSON: node {id} has no callFrame")))?;
    Ok(RawNode { id, frame, children: first_child..children.len() })
}

/// Parses one profile as `CpuProfile::Serialize` writes it. The vectors of the result are
/// charged while they grow and handed back uncharged, like every transient input profile.
pub fn parse_serialized(json: &str, budget: &Budget) -> Result<FlatProfile, ProfileError> {
    let mut reader = Reader { bytes: json.as_bytes(), at: 0 };
    let mut frames = Frames { list: Vec::new(), index: HashMap::new(), charged: 0, budget };
    let mut nodes: Vec<RawNode> = Vec::new();
    let mut children: Vec<i64> = Vec::new();
    let mut samples: Vec<i64> = Vec::new();
    let mut deltas: Vec<i64> = Vec::new();
    let (mut start_time, mut end_time) = (None, None);
    let parsed = (|| {
        reader.expect(b'{')?;
        loop {
            match reader.key()? {
                b"nodes" => {
                    reader.expect(b'[')?;
                    if !reader.eat(b']') {
                        loop {
                            let raw = node(&mut reader, &mut frames, &mut children, budget)?;
                            budget.push(&mut nodes, raw)?;
                            if !reader.eat(b',') {
                                reader.expect(b']')?;
                                break;
                            }
                        }
                    }
                }
                b"startTime" => start_time = Some(reader.integer()?),
                b"endTime" => end_time = Some(reader.integer()?),
                b"samples" => reader.integers(&mut samples, budget)?,
                b"timeDeltas" => reader.integers(&mut deltas, budget)?,
                _ => reader.skip_value()?,
            }
            if !reader.eat(b',') {
                reader.expect(b'}')?;
                break;
            }
        }
        if reader.peek().is_some() {
            return Err(reader.error("the end of the profile"));
        }
        let start_time = start_time.ok_or_else(|| malformed("V8 profile JSON: no startTime"))?;
        let end_time = end_time.ok_or_else(|| malformed("V8 profile JSON: no endTime"))?;
        let time_deltas = std::mem::take(&mut deltas);
        budget.forget(&time_deltas);
        flat_profile(&nodes, &children, &samples, time_deltas, start_time, end_time, budget).map(|mut profile| {
            budget.forget(&frames.list);
            profile.frames = std::mem::take(&mut frames.list);
            profile
        })
    })();
    budget.forget(&nodes);
    budget.forget(&children);
    budget.forget(&samples);
    budget.forget(&deltas);
    let profile = parsed?;
    profile.validate()?;
    Ok(profile)
}

fn flat_profile(
    nodes: &[RawNode],
    children: &[i64],
    samples: &[i64],
    time_deltas: Vec<i64>,
    start_time: i64,
    end_time: i64,
    budget: &Budget,
) -> Result<FlatProfile, ProfileError> {
    // V8 numbers nodes 1, 2, 3, … in order; other ids go through a map.
    let dense = nodes.iter().enumerate().all(|(index, node)| node.id == index as i64 + 1);
    let mut by_id: HashMap<i64, u32> = HashMap::new();
    if !dense {
        by_id.try_reserve(nodes.len()).map_err(|_| Refusal::AllocFailed)?;
        budget.charge(nodes.len() * size_of::<(i64, u32)>() * 2)?;
        for (index, node) in nodes.iter().enumerate() {
            if by_id.insert(node.id, index as u32).is_some() {
                budget.release(nodes.len() * size_of::<(i64, u32)>() * 2);
                return Err(malformed(format!("node id {} appears twice", node.id)));
            }
        }
    }
    let index_of = |id: i64, context: &dyn Fn() -> String| -> Result<u32, ProfileError> {
        let found = if dense { usize::try_from(id - 1).ok().filter(|&i| i < nodes.len()).map(|i| i as u32) } else { by_id.get(&id).copied() };
        found.ok_or_else(|| malformed(format!("{} names node id {id}, which is not in the profile", context())))
    };
    let result = (|| {
        let mut node_parent = Scratch::filled(budget, nodes.len(), NO_PARENT)?;
        let mut node_frame = Scratch::empty(budget);
        budget.grow(&mut node_frame.vec, nodes.len())?;
        for (index, node) in nodes.iter().enumerate() {
            node_frame.vec.push(node.frame);
            for &child in &children[node.children.clone()] {
                let child = index_of(child, &|| format!("node {}", node.id))? as usize;
                if node_parent.vec[child] != NO_PARENT {
                    return Err(malformed(format!("node id {} has two parents", nodes[child].id)));
                }
                node_parent.vec[child] = index as u32;
            }
        }
        let mut sample_nodes = Scratch::empty(budget);
        budget.grow(&mut sample_nodes.vec, samples.len())?;
        for (k, &id) in samples.iter().enumerate() {
            sample_nodes.vec.push(index_of(id, &|| format!("sample {k}"))?);
        }
        Ok(FlatProfile {
            frames: Vec::new(),
            node_parent: node_parent.into_uncharged(),
            node_frame: node_frame.into_uncharged(),
            samples: sample_nodes.into_uncharged(),
            time_deltas,
            start_time,
            end_time,
        })
    })();
    if !dense {
        budget.release(nodes.len() * size_of::<(i64, u32)>() * 2);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As V8 writes it, names unescaped: a RegExp with a quote, a backslash class and `$`.
    const SERIALIZED: &str = concat!(
        r#"{"nodes":[{"id":1,"hitCount":0,"callFrame":{"functionName":"(root)","lineNumber":-1,"columnNumber":-1,"scriptId":0,"url":""},"children":[2,3]},"#,
        r#"{"id":2,"hitCount":2,"callFrame":{"functionName":"main","lineNumber":0,"columnNumber":10,"scriptId":5,"url":"file:///app/m.js"},"children":[4],"positionTicks":[{"line":1,"ticks":2}]},"#,
        r#"{"id":3,"hitCount":1,"callFrame":{"functionName":"(idle)","lineNumber":-1,"columnNumber":-1,"scriptId":0,"url":""}},"#,
        r#"{"id":4,"hitCount":1,"callFrame":{"functionName":"RegExp: "q"\d+\\(\s|$)","lineNumber":-1,"columnNumber":-1,"scriptId":0,"url":""}}],"#,
        r#""startTime":1000,"endTime":1400,"samples":[2,4,2,3],"timeDeltas":[100,100,100,50]}"#
    );

    #[test]
    fn reads_what_v8_writes_with_unescaped_names() {
        let budget = Budget::new(usize::MAX);
        let profile = parse_serialized(SERIALIZED, &budget).unwrap();
        assert_eq!(profile.node_parent, vec![NO_PARENT, 0, 0, 1]);
        assert_eq!(profile.frames[profile.node_frame[3] as usize].name, r#"RegExp: "q"\d+\\(\s|$)"#);
        assert_eq!(profile.frames[profile.node_frame[1] as usize].url, "file:///app/m.js");
        assert_eq!(profile.samples, vec![1, 3, 1, 2]);
        assert_eq!(profile.time_deltas, vec![100, 100, 100, 50]);
        assert_eq!((profile.start_time, profile.end_time), (1000, 1400));
        assert_eq!(budget.used(), 0, "the result is handed back uncharged");
    }

    #[test]
    fn names_what_is_wrong() {
        let budget = Budget::new(usize::MAX);
        let error = |json: &str| parse_serialized(json, &budget).unwrap_err().to_string();
        assert!(error(&SERIALIZED.replace("[2,3]", "[2,3,9]")).contains("node id 9"));
        assert!(error(&SERIALIZED.replace("[2,4,2,3]", "[2,4]")).contains("time deltas"));
        assert!(error(&SERIALIZED[..SERIALIZED.len() - 9]).contains("V8 profile JSON"));
        assert!(error(&SERIALIZED.replace("\"children\":[4]", "\"children\":[4,2]")).contains("two parents"));
        assert!(error("{\"nodes\":[]}").contains("startTime"));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn refuses_what_the_budget_cannot_hold_and_gives_it_back() {
        for limit in [0, 64, 256, 1024] {
            let budget = Budget::new(limit);
            assert!(matches!(parse_serialized(SERIALIZED, &budget), Err(ProfileError::Refused(_))), "limit {limit}");
            assert_eq!(budget.used(), 0, "limit {limit}");
        }
    }

    #[test]
    fn every_prefix_and_corruption_is_refused_cleanly() {
        let budget = Budget::new(1 << 20);
        for end in 0..SERIALIZED.len() {
            if let Some(prefix) = SERIALIZED.get(..end) {
                assert!(parse_serialized(prefix, &budget).is_err());
            }
        }
        let bytes = SERIALIZED.as_bytes();
        for at in 0..bytes.len() {
            for replacement in [b'"', b',', b'}', b'9', b'-'] {
                let mut corrupted = bytes.to_vec();
                corrupted[at] = replacement;
                if let Ok(text) = std::str::from_utf8(&corrupted) {
                    let _ = parse_serialized(text, &budget);
                }
            }
        }
        assert_eq!(budget.used(), 0);
    }
}
