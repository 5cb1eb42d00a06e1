//! Reads V8's CPU profiles from their JSON into a flat profile, allocating fallibly and through
//! the budget as it goes (so that profiles can be parsed outside the stats' budget, and a full
//! budget still lets the fold see which functions it drops): the profile as V8's
//! `CpuProfile::Serialize` writes it (`v8.startCpuProfile().stop()`, Node ≥ 24.12), and inspector
//! messages that carry a profile (an answer to `Profiler.stop`, a console profile's event).
//!
//! `CpuProfile::Serialize` does not escape strings: a function named after a regular expression
//! comes out as `"functionName":"RegExp: \d+"(\s|$)"`, which no JSON parser accepts
//! (nodesource/nsolid#178 reports the same bug). The layout itself is fixed, so that JSON is read
//! as V8 writes it: a string value ends at the quote that is followed by what may follow a value
//! (`,` `}` `]`), and its bytes are taken as they are. The inspector escapes properly.

// Indices are checked against lengths this parser sized itself.
#![allow(clippy::indexing_slicing)]

use std::borrow::Cow;

use hashbrown::HashMap;

use crate::model::budget::{Budget, Refusal, Scratch};
use crate::model::flat_profile::CallFrame;
use crate::model::flat_profile::{FlatProfile, NO_PARENT, ProfileError};

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Strings are JSON-escaped (the inspector's messages), or raw (`CpuProfile::Serialize`).
    escaped: bool,
}

fn malformed(what: impl Into<String>) -> ProfileError {
    ProfileError::Malformed(what.into())
}

impl<'a> Reader<'a> {
    fn error(&self, expected: &str) -> ProfileError {
        let found = self.bytes.get(self.at).map_or("the end".to_string(), |&b| format!("{:?}", b as char));
        malformed(format!("profile JSON: expected {expected} at byte {}, found {found}", self.at))
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

    fn string(&mut self) -> Result<Cow<'a, str>, ProfileError> {
        if self.escaped { self.escaped_string() } else { self.raw_string().map(Cow::Borrowed) }
    }

    /// A string value as `CpuProfile::Serialize` writes it: unescaped, ended by the quote that a
    /// `,`, `}` or `]` follows (see the module comment).
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
        self.text(start, end)
    }

    fn text(&self, start: usize, end: usize) -> Result<&'a str, ProfileError> {
        std::str::from_utf8(&self.bytes[start..end]).map_err(|_| malformed(format!("profile JSON: a string at byte {start} is not UTF-8")))
    }

    /// A JSON string with escapes, borrowed from the input unless it has any.
    fn escaped_string(&mut self) -> Result<Cow<'a, str>, ProfileError> {
        self.expect(b'"')?;
        let start = self.at;
        let plain = self.bytes[start..].iter().position(|&b| b == b'"' || b == b'\\').ok_or_else(|| self.error("the end of a string"))?;
        if self.bytes[start + plain] == b'"' {
            self.at = start + plain + 1;
            return self.text(start, start + plain).map(Cow::Borrowed);
        }
        let mut decoded = String::new();
        decoded.try_reserve(plain + 16).map_err(|_| Refusal::AllocFailed)?;
        decoded.push_str(self.text(start, start + plain)?);
        self.at = start + plain;
        loop {
            let run = self.bytes[self.at..].iter().position(|&b| b == b'"' || b == b'\\').ok_or_else(|| self.error("the end of a string"))?;
            let piece = self.text(self.at, self.at + run)?;
            decoded.try_reserve(piece.len() + 4).map_err(|_| Refusal::AllocFailed)?;
            decoded.push_str(piece);
            self.at += run;
            if self.bytes[self.at] == b'"' {
                self.at += 1;
                return Ok(Cow::Owned(decoded));
            }
            let escape = *self.bytes.get(self.at + 1).ok_or_else(|| self.error("an escape"))?;
            self.at += 2;
            let unit = match escape {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return Err(self.error("a JSON escape")),
            };
            decoded.push(unit);
        }
    }

    /// The character of `\uXXXX` (just read up to its `u`), a surrogate pair taken whole.
    fn unicode_escape(&mut self) -> Result<char, ProfileError> {
        let high = self.hex4()?;
        if (0xd800..0xdc00).contains(&high) && self.bytes.get(self.at..self.at + 2) == Some(b"\\u") {
            self.at += 2;
            let low = self.hex4()?;
            let code = 0x10000 + ((high - 0xd800) << 10) + (low.wrapping_sub(0xdc00) & 0x3ff);
            return Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        Ok(char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u32, ProfileError> {
        let digits = self.bytes.get(self.at..self.at + 4).and_then(|hex| std::str::from_utf8(hex).ok()).ok_or_else(|| self.error("four hex digits"))?;
        let value = u32::from_str_radix(digits, 16).map_err(|_| self.error("four hex digits"))?;
        self.at += 4;
        Ok(value)
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
            Some(b'"') => self.string().map(|_| ()),
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

type FrameKey<'a> = (Cow<'a, str>, Cow<'a, str>, i64, i64, i64);

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
        let (name, url, script_id, line, column) = &key;
        let script_id = script_id.to_string();
        let bytes = 2 * (name.len() + url.len()) + script_id.len() + size_of::<(FrameKey<'a>, u32)>() * 2;
        self.budget.charge(bytes)?;
        self.charged += bytes;
        self.budget.grow(&mut self.list, 1)?;
        self.index.try_reserve(1).map_err(|_| Refusal::AllocFailed)?;
        let frame = self.list.len() as u32;
        let position = |value: i64| i32::try_from(value).unwrap_or(-1);
        self.list.push(CallFrame { name: name.to_string(), url: url.to_string(), script_id, line: position(*line), column: position(*column) });
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
    let (mut name, mut url, mut script_id, mut line, mut column) = (Cow::Borrowed(""), Cow::Borrowed(""), 0, -1, -1);
    reader.expect(b'{')?;
    if !reader.eat(b'}') {
        loop {
            match reader.key()? {
                b"functionName" => name = reader.string()?,
                // The inspector names file scripts by file URL, V8's serializer by path: one form.
                b"url" if !reader.escaped => url = file_url_of(reader.raw_string()?)?,
                b"url" => url = reader.string()?,
                // The inspector writes script ids as strings, V8's serializer as numbers.
                b"scriptId" if reader.peek() == Some(b'"') => script_id = reader.string()?.parse().unwrap_or(0),
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

/// `/a b/c.js` as `file:///a%20b/c.js`, as Node's inspector names a file script (bytes outside
/// the WHATWG path percent-encode set as they are); anything else unchanged.
fn file_url_of(url: &str) -> Result<Cow<'_, str>, Refusal> {
    if !url.starts_with('/') {
        return Ok(Cow::Borrowed(url));
    }
    let mut encoded = String::new();
    encoded.try_reserve(url.len() + 7)?;
    encoded.push_str("file://");
    for &byte in url.as_bytes() {
        if byte <= b' ' || byte >= 0x7f || matches!(byte, b'"' | b'#' | b'%' | b'<' | b'>' | b'?' | b'`' | b'{' | b'}') {
            encoded.try_reserve(3)?;
            encoded.push_str(&format!("%{byte:02X}"));
        } else {
            encoded.push(byte as char);
        }
    }
    Ok(Cow::Owned(encoded))
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
    let id = id.ok_or_else(|| malformed("profile JSON: a node has no id"))?;
    let frame = frame.ok_or_else(|| malformed(format!("profile JSON: node {id} has no callFrame")))?;
    Ok(RawNode { id, frame, children: first_child..children.len() })
}

/// Parses one profile as `CpuProfile::Serialize` writes it. The vectors of the result are
/// charged while they grow and handed back uncharged, like every transient input profile.
///
/// That writer also cuts `startTime` and `endTime` to 32 bits (µs of the monotonic clock, so
/// they wrap every 71.6 minutes; Node 24.22 and 26.12 both do): they are put back on the
/// monotonic clock as the most recent times with those low bits, before `now_us` (left as they
/// are without it).
pub fn parse_serialized(json: &str, budget: &Budget, now_us: Option<i64>) -> Result<FlatProfile, ProfileError> {
    let mut reader = Reader { bytes: json.as_bytes(), at: 0, escaped: false };
    let mut profile = profile(&mut reader, budget)?;
    if reader.peek().is_some() {
        return Err(reader.error("the end of the profile"));
    }
    if let Some(now_us) = now_us {
        let length = (profile.end_time - profile.start_time).rem_euclid(WRAP_US);
        profile.start_time = now_us - (now_us - profile.start_time).rem_euclid(WRAP_US);
        profile.end_time = profile.start_time + length;
    }
    profile.validate()?;
    Ok(profile)
}

/// `CpuProfile::Serialize` writes times modulo 2^32 µs.
const WRAP_US: i64 = 1 << 32;

/// Parses an inspector message that carries a profile: an answer (`{"id":…,"result":{"profile":…}}`)
/// or an event (`{"method":…,"params":{"profile":…,"title":…}}`); an error answer says why.
pub fn parse_inspector_message(json: &str, budget: &Budget) -> Result<FlatProfile, ProfileError> {
    let mut reader = Reader { bytes: json.as_bytes(), at: 0, escaped: true };
    let mut found = None;
    reader.expect(b'{')?;
    loop {
        match reader.key()? {
            b"result" | b"params" => {
                reader.expect(b'{')?;
                while !reader.eat(b'}') {
                    match reader.key()? {
                        b"profile" => found = Some(profile(&mut reader, budget)?),
                        _ => reader.skip_value()?,
                    }
                    if !reader.eat(b',') {
                        reader.expect(b'}')?;
                        break;
                    }
                }
            }
            b"error" => {
                let mut message = Cow::Borrowed("");
                reader.expect(b'{')?;
                loop {
                    match reader.key()? {
                        b"message" => message = reader.string()?,
                        _ => reader.skip_value()?,
                    }
                    if !reader.eat(b',') {
                        reader.expect(b'}')?;
                        break;
                    }
                }
                return Err(malformed(format!("the inspector answered with an error: {message}")));
            }
            _ => reader.skip_value()?,
        }
        if !reader.eat(b',') {
            reader.expect(b'}')?;
            break;
        }
    }
    let profile = found.ok_or_else(|| malformed("the inspector message carries no profile"))?;
    profile.validate()?;
    Ok(profile)
}

/// One profile object, at the reader.
fn profile(reader: &mut Reader<'_>, budget: &Budget) -> Result<FlatProfile, ProfileError> {
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
                            let raw = node(reader, &mut frames, &mut children, budget)?;
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
        let start_time = start_time.ok_or_else(|| malformed("profile JSON: no startTime"))?;
        let end_time = end_time.ok_or_else(|| malformed("profile JSON: no endTime"))?;
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
    parsed
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
        let profile = parse_serialized(SERIALIZED, &budget, Some(2_000)).unwrap();
        assert_eq!(profile.node_parent, vec![NO_PARENT, 0, 0, 1]);
        assert_eq!(profile.frames[profile.node_frame[3] as usize].name, r#"RegExp: "q"\d+\\(\s|$)"#);
        assert_eq!(profile.frames[profile.node_frame[1] as usize].url, "file:///app/m.js");
        let paths = SERIALIZED.replace(r#""url":"file:///app/m.js""#, r#""url":"/app/a b%/é.js""#);
        assert_eq!(parse_serialized(&paths, &budget, Some(2_000)).unwrap().frames[1].url, "file:///app/a%20b%25/%C3%A9.js");
        assert_eq!(profile.samples, vec![1, 3, 1, 2]);
        assert_eq!(profile.time_deltas, vec![100, 100, 100, 50]);
        assert_eq!((profile.start_time, profile.end_time), (1000, 1400));
        assert_eq!(budget.used(), 0, "the result is handed back uncharged");
    }

    /// Times cut to 32 bits come back as the latest times before now with those bits, also
    /// across a wrap between the profile's start and end.
    #[test]
    fn puts_times_cut_to_32_bits_back_on_the_monotonic_clock() {
        let budget = Budget::new(usize::MAX);
        let now = 3 * WRAP_US + 5_000;
        let profile = parse_serialized(SERIALIZED, &budget, Some(now)).unwrap();
        assert_eq!((profile.start_time, profile.end_time), (3 * WRAP_US + 1000, 3 * WRAP_US + 1400));
        let wrapped = SERIALIZED.replace(r#""startTime":1000,"endTime":1400"#, &format!(r#""startTime":{},"endTime":100"#, WRAP_US - 300));
        let profile = parse_serialized(&wrapped, &budget, Some(now)).unwrap();
        assert_eq!((profile.start_time, profile.end_time), (3 * WRAP_US - 300, 3 * WRAP_US + 100));
    }

    #[test]
    fn names_what_is_wrong() {
        let budget = Budget::new(usize::MAX);
        let error = |json: &str| parse_serialized(json, &budget, Some(2_000)).unwrap_err().to_string();
        assert!(error(&SERIALIZED.replace("[2,3]", "[2,3,9]")).contains("node id 9"));
        assert!(error(&SERIALIZED.replace("[2,4,2,3]", "[2,4]")).contains("time deltas"));
        assert!(error(&SERIALIZED[..SERIALIZED.len() - 9]).contains("profile JSON"));
        assert!(error(&SERIALIZED.replace("\"children\":[4]", "\"children\":[4,2]")).contains("two parents"));
        assert!(error("{\"nodes\":[]}").contains("startTime"));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn refuses_what_the_budget_cannot_hold_and_gives_it_back() {
        for limit in [0, 64, 256, 1024] {
            let budget = Budget::new(limit);
            assert!(matches!(parse_serialized(SERIALIZED, &budget, Some(2_000)), Err(ProfileError::Refused(_))), "limit {limit}");
            assert_eq!(budget.used(), 0, "limit {limit}");
        }
    }

    #[test]
    fn every_prefix_and_corruption_is_refused_cleanly() {
        let budget = Budget::new(1 << 20);
        for end in 0..SERIALIZED.len() {
            if let Some(prefix) = SERIALIZED.get(..end) {
                assert!(parse_serialized(prefix, &budget, Some(2_000)).is_err());
            }
        }
        let bytes = SERIALIZED.as_bytes();
        for at in 0..bytes.len() {
            for replacement in [b'"', b',', b'}', b'9', b'-'] {
                let mut corrupted = bytes.to_vec();
                corrupted[at] = replacement;
                if let Ok(text) = std::str::from_utf8(&corrupted) {
                    let _ = parse_serialized(text, &budget, Some(2_000));
                }
            }
        }
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn reads_profiles_from_inspector_messages_with_escapes() {
        let budget = Budget::new(usize::MAX);
        let profile = r#"{"nodes":[{"id":1,"callFrame":{"functionName":"(root)","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1},"children":[2]},{"id":2,"callFrame":{"functionName":"RegExp: \"q\"\\d \u00e9\ud83d\ude00","scriptId":"7","url":"file:///a b.js","lineNumber":3,"columnNumber":1}}],"startTime":10,"endTime":30,"samples":[2,2],"timeDeltas":[5,5]}"#;
        let event = format!(r#"{{"method":"Profiler.consoleProfileFinished","params":{{"id":"1","location":{{"scriptId":"7"}},"profile":{profile},"title":"t"}}}}"#);
        let parsed = parse_inspector_message(&event, &budget).unwrap();
        let frame = &parsed.frames[parsed.node_frame[1] as usize];
        assert_eq!(frame.name, "RegExp: \"q\"\\d \u{e9}\u{1f600}");
        assert_eq!((frame.script_id.as_str(), frame.line), ("7", 3));
        let answer = format!(r#"{{"id":12,"result":{{"profile":{profile}}}}}"#);
        assert_eq!(parse_inspector_message(&answer, &budget).unwrap().samples, vec![1, 1]);
        let failed = r#"{"id":3,"error":{"code":-32000,"message":"Profiler is not \"enabled\""}}"#;
        assert!(parse_inspector_message(failed, &budget).unwrap_err().to_string().contains(r#"Profiler is not "enabled""#));
        assert!(parse_inspector_message(r#"{"id":3,"result":{}}"#, &budget).unwrap_err().to_string().contains("carries no profile"));
        assert_eq!(budget.used(), 0);
    }

}
