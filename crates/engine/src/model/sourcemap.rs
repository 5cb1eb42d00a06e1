//! Source maps (revision 3): generated positions back to the original files, lines and names.
//!
//! Maps are parsed once per generated script and kept in a process-wide registry with its own
//! byte budget, so the fold can map every frame of a profile with a hash lookup and a binary
//! search. Positions are 0-based here, as in V8's profiles and in the source map format.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use hashbrown::HashMap;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::model::budget::{Budget, Refusal};
use crate::model::sync::{lock, read, write};

/// Room for the maps of a large application: a 5 MB bundle's map decodes to ~25 MB.
pub const DEFAULT_SOURCE_MAP_BYTES: usize = 64 * 1024 * 1024;

/// JSON parsing cannot allocate fallibly, so the budget is asked for a bound on what serde will
/// allocate before it starts: every string's bytes twice (the string, and serde's scratch copy
/// of one with escapes) and two string headers per array element (a `Vec` grown by doubling
/// holds up to twice the slots it fills). A flat 3x the input, the bound before, was short by
/// 2-6x for arrays of one-letter strings; tests/fuzz_json.rs measures the parse with a counting
/// allocator against what it charged.
pub fn parse_bound(json: &str) -> usize {
    let (mut in_string, mut escaped, mut elements) = (false, false, 1usize);
    for &byte in json.as_bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b',' | b'[' => elements += 1,
                _ => {}
            }
        }
    }
    json.len().saturating_mul(2).saturating_add(elements.saturating_mul(2 * size_of::<Option<String>>()))
}

const NONE: u32 = u32::MAX;

#[derive(Debug)]
pub enum SourceMapError {
    Json(String),
    Version(u64),
    Sections,
    Mappings { offset: usize, reason: &'static str },
    OverBudget,
    AllocFailed,
}

impl fmt::Display for SourceMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceMapError::Json(error) => write!(f, "source map is not valid JSON: {error}"),
            SourceMapError::Version(version) => write!(f, "source map version {version} is not supported (only 3)"),
            SourceMapError::Sections => f.write_str("indexed source maps (with 'sections') are not supported"),
            SourceMapError::Mappings { offset, reason } => write!(f, "source map 'mappings' is malformed at offset {offset}: {reason}"),
            SourceMapError::OverBudget => f.write_str("source maps exceed their memory budget; this map was not loaded"),
            SourceMapError::AllocFailed => f.write_str("out of memory loading a source map"),
        }
    }
}

impl std::error::Error for SourceMapError {}

impl From<Refusal> for SourceMapError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::OverBudget => SourceMapError::OverBudget,
            Refusal::AllocFailed => SourceMapError::AllocFailed,
        }
    }
}

/// One decoded mapping: a generated position and, unless `source` is `NONE`, where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    generated_line: u32,
    generated_column: u32,
    source: u32,
    line: u32,
    column: u32,
    name: u32,
}

/// Where a generated position came from (0-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Original<'a> {
    /// A file path when the source resolves to a file, otherwise the source URL as written.
    pub source: &'a str,
    pub line: u32,
    pub column: u32,
    pub name: Option<&'a str>,
}

#[derive(Debug)]
pub struct SourceMap {
    sources: Vec<String>,
    names: Vec<String>,
    segments: Vec<Segment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMap {
    version: Option<u64>,
    #[serde(default)]
    source_root: Option<String>,
    #[serde(default)]
    sources: Vec<Option<String>>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    mappings: String,
    sections: Option<IgnoredAny>,
}

impl SourceMap {
    /// Parses a map; relative sources resolve against `base` (the map's own URL or path).
    pub fn parse(json: &str, base: &str, budget: &Budget) -> Result<SourceMap, SourceMapError> {
        // Held until the parse ends: the names serde read are kept in the map.
        let parse_bytes = parse_bound(json);
        budget.charge(parse_bytes)?;
        let parsed = Self::parse_charged(json, base, budget);
        budget.release(parse_bytes);
        parsed
    }

    fn parse_charged(json: &str, base: &str, budget: &Budget) -> Result<SourceMap, SourceMapError> {
        let raw = serde_json::from_str::<RawMap>(json).map_err(|error| SourceMapError::Json(error.to_string()))?;
        if raw.sections.is_some() {
            return Err(SourceMapError::Sections);
        }
        if let Some(version) = raw.version.filter(|&version| version != 3) {
            return Err(SourceMapError::Version(version));
        }
        let root = raw.source_root.as_deref().unwrap_or("");
        let mut sources = Vec::new();
        budget.grow(&mut sources, raw.sources.len())?;
        for source in &raw.sources {
            let resolved = match source {
                Some(source) => resolve(base, root, source)?,
                None => String::new(),
            };
            // Resolved paths repeat the base and the root: their bytes are not in the bound.
            budget.charge(resolved.capacity())?;
            sources.push(resolved);
        }
        let segments = decode_mappings(&raw.mappings, sources.len(), raw.names.len(), budget)?;
        Ok(SourceMap { sources, names: raw.names, segments })
    }

    /// Bytes this map holds, charged to the registry's budget while it is registered.
    fn held_bytes(&self) -> usize {
        let strings: usize = self.sources.iter().chain(&self.names).map(String::capacity).sum();
        strings
            + (self.sources.capacity() + self.names.capacity()) * size_of::<String>()
            + self.segments.capacity() * size_of::<Segment>()
    }

    /// The original of a generated position: the last mapping at or before it on its line, or
    /// the line's first mapping when the position lies before it (V8 may place a function's start
    /// in the indentation that precedes its first mapped token).
    pub fn lookup(&self, line: u32, column: u32) -> Option<Original<'_>> {
        let after = self.segments.partition_point(|s| (s.generated_line, s.generated_column) <= (line, column));
        let at_or_before = after.checked_sub(1).and_then(|index| self.segments.get(index));
        let segment = match at_or_before {
            Some(segment) if segment.generated_line == line => segment,
            _ => self.segments.get(after).filter(|segment| segment.generated_line == line)?,
        };
        let source = self.sources.get(segment.source as usize).filter(|source| !source.is_empty())?;
        let name = self.names.get(segment.name as usize).map(String::as_str);
        Some(Original { source, line: segment.line, column: segment.column, name })
    }

    /// Where a script's top level came from: the start of its one source (a compiler's output).
    /// A bundle's top level runs the top levels of all its sources, so it stays the bundle's.
    pub fn top_level(&self) -> Option<Original<'_>> {
        match self.sources.as_slice() {
            [source] if !source.is_empty() => Some(Original { source, line: 0, column: 0, name: None }),
            _ => None,
        }
    }
}

fn base64_digit(byte: u8) -> Option<u32> {
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Reads one base64 VLQ value starting at `*at`: 5 value bits per digit, continuation in bit 6,
/// the sign in the lowest bit of the result.
fn read_vlq(bytes: &[u8], at: &mut usize) -> Result<i64, SourceMapError> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    loop {
        let offset = *at;
        let digit = bytes
            .get(offset)
            .and_then(|&byte| base64_digit(byte))
            .ok_or(SourceMapError::Mappings { offset, reason: "expected a base64 VLQ digit" })?;
        *at += 1;
        if shift > 31 {
            return Err(SourceMapError::Mappings { offset, reason: "VLQ value too large" });
        }
        value |= u64::from(digit & 0b11111) << shift;
        shift += 5;
        if digit & 0b100000 == 0 {
            break;
        }
    }
    let magnitude = (value >> 1) as i64;
    Ok(if value & 1 == 1 { -magnitude } else { magnitude })
}

/// Applies a relative VLQ field to a running position, refusing positions outside `0..limit`.
fn advance(position: &mut i64, delta: i64, limit: usize, offset: usize, what: &'static str) -> Result<u32, SourceMapError> {
    *position += delta;
    match u32::try_from(*position) {
        Ok(value) if (value as usize) < limit && value != NONE => Ok(value),
        _ => Err(SourceMapError::Mappings { offset, reason: what }),
    }
}

/// Decodes `mappings` into segments sorted by generated position.
fn decode_mappings(mappings: &str, source_count: usize, name_count: usize, budget: &Budget) -> Result<Vec<Segment>, SourceMapError> {
    let bytes = mappings.as_bytes();
    let mut segments: Vec<Segment> = Vec::new();
    // A segment takes at least two characters with its separator: a bound that avoids regrowth.
    budget.grow(&mut segments, bytes.len() / 2 + 1)?;
    let (mut source, mut line, mut column, mut name) = (0i64, 0i64, 0i64, 0i64);
    let mut generated_line = 0u32;
    let mut generated_column = 0i64;
    let mut at = 0;
    while at < bytes.len() {
        match bytes.get(at) {
            Some(b';') => {
                generated_line = generated_line.saturating_add(1);
                generated_column = 0;
                at += 1;
                continue;
            }
            Some(b',') => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let start = at;
        let mut fields = [0i64; 5];
        let mut count = 0;
        for field in &mut fields {
            if matches!(bytes.get(at), None | Some(b',' | b';')) {
                break;
            }
            *field = read_vlq(bytes, &mut at)?;
            count += 1;
        }
        let [generated_delta, source_delta, line_delta, column_delta, name_delta] = fields;
        if !matches!(count, 1 | 4 | 5) || !matches!(bytes.get(at), None | Some(b',' | b';')) {
            return Err(SourceMapError::Mappings { offset: start, reason: "a segment has 1, 4 or 5 fields" });
        }
        let column_of_generated = advance(&mut generated_column, generated_delta, usize::MAX, start, "negative generated column")?;
        let mut segment = Segment {
            generated_line,
            generated_column: column_of_generated,
            source: NONE,
            line: 0,
            column: 0,
            name: NONE,
        };
        if count >= 4 {
            segment.source = advance(&mut source, source_delta, source_count, start, "source index out of range")?;
            segment.line = advance(&mut line, line_delta, usize::MAX, start, "negative original line")?;
            segment.column = advance(&mut column, column_delta, usize::MAX, start, "negative original column")?;
        }
        if count == 5 {
            segment.name = advance(&mut name, name_delta, name_count, start, "name index out of range")?;
        }
        budget.push(&mut segments, segment)?;
    }
    // Producers emit segments in order; sorting (in place, no allocation) makes the binary search
    // correct for the few that do not.
    segments.sort_unstable_by_key(|s| (s.generated_line, s.generated_column));
    Ok(segments)
}

/// Whether `text` starts with a URL scheme (`file:`, `webpack:`), not a Windows drive (`C:`).
fn scheme_of(text: &str) -> Option<&str> {
    let colon = text.find(':')?;
    let scheme = text.get(..colon)?;
    let valid = scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// A file path for `file:` URLs (percent-escapes decoded, `/C:/x` as `C:/x`), everything else
/// unchanged.
fn as_path(location: &str) -> Result<String, SourceMapError> {
    let Some(mut path) = location.strip_prefix("file://") else {
        return copy_str(location);
    };
    let drive = path.as_bytes();
    if matches!(drive, [b'/', letter, b':', b'/', ..] if letter.is_ascii_alphabetic()) {
        path = path.get(1..).unwrap_or(path);
    }
    let decoded = percent_decode(path).map_err(|_| SourceMapError::AllocFailed)?;
    Ok(String::from_utf8(decoded).unwrap_or_else(|_| path.to_owned()))
}

fn copy_str(text: &str) -> Result<String, SourceMapError> {
    let mut owned = String::new();
    owned.try_reserve_exact(text.len()).map_err(|_| SourceMapError::AllocFailed)?;
    owned.push_str(text);
    Ok(owned)
}

/// Resolves `root` + `source` against `base` as a browser resolves a relative URL, then turns
/// `file:` results into paths: what people open in an editor.
fn resolve(base: &str, root: &str, source: &str) -> Result<String, SourceMapError> {
    let mut joined = String::new();
    joined.try_reserve_exact(root.len() + 1 + source.len()).map_err(|_| SourceMapError::AllocFailed)?;
    if !root.is_empty() && scheme_of(source).is_none() && !source.starts_with('/') {
        joined.push_str(root);
        if !root.ends_with('/') {
            joined.push('/');
        }
    }
    joined.push_str(source);
    if scheme_of(&joined).is_some() {
        return as_path(&joined);
    }
    let (prefix, base_path) = split_origin(base);
    let directory = if joined.starts_with('/') { "" } else { base_path.rsplit_once('/').map_or("", |(dir, _)| dir) };
    let mut resolved = String::new();
    resolved.try_reserve_exact(prefix.len() + directory.len() + joined.len() + 2).map_err(|_| SourceMapError::AllocFailed)?;
    resolved.push_str(prefix);
    let mut kept: usize = 0;
    for part in directory.split('/').chain(joined.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                if kept > 0 {
                    kept -= 1;
                    let cut = resolved.rfind('/').unwrap_or(prefix.len()).max(prefix.len());
                    resolved.truncate(cut);
                }
            }
            _ => {
                kept += 1;
                resolved.push('/');
                resolved.push_str(part);
            }
        }
    }
    as_path(&resolved)
}

/// Splits `file:///a/b` into (`file://`, `/a/b`) and `http://host/a` into (`http://host`, `/a`);
/// a plain path has no prefix.
fn split_origin(base: &str) -> (&str, &str) {
    let Some(scheme) = scheme_of(base) else { return ("", base) };
    let after_scheme = scheme.len() + 1;
    let rest = base.get(after_scheme..).unwrap_or("");
    let Some(authority) = rest.strip_prefix("//") else {
        return base.split_at(after_scheme);
    };
    let path_start = authority.find('/').map_or(base.len(), |index| after_scheme + 2 + index);
    base.split_at(path_start)
}

/// Every registered map, keyed by the URL of the generated script as V8 names it in profiles.
#[derive(Debug)]
pub struct SourceMaps {
    maps: RwLock<HashMap<String, (SourceMap, usize)>>,
    budget: Budget,
    /// Scripts already looked at for a map, mapped or not: each is read once per process.
    looked_at: Mutex<hashbrown::HashSet<String>>,
}

/// Scripts looked at once, mapped or not; past this many, new ones are no longer looked at.
const MAX_SCRIPTS: usize = 100_000;
/// The comment is on the last line; this much of a file's end holds it unless the map is inline.
const TAIL_BYTES: u64 = 4096;
/// The largest map file or script read whole (a larger one is refused, never read).
const MAX_MAP_FILE_BYTES: u64 = 256 * 1024 * 1024;

impl Default for SourceMaps {
    fn default() -> Self {
        SourceMaps::new(DEFAULT_SOURCE_MAP_BYTES)
    }
}

impl SourceMaps {
    pub fn new(max_bytes: usize) -> Self {
        SourceMaps { maps: RwLock::new(HashMap::new()), budget: Budget::new(max_bytes), looked_at: Mutex::default() }
    }

    /// Looks once for the map of each script of `urls` (the `sourceMappingURL` comment on its
    /// last line: a `.map` file or an inline `data:` URL) and registers it. Returns why the
    /// maps that were found could not be used, one message per script; `skip` names scripts that
    /// are never looked at (the profiler's own).
    pub fn discover<'u>(&self, urls: impl Iterator<Item = &'u str>, skip: impl Fn(&str) -> bool) -> Vec<String> {
        let mut problems = Vec::new();
        for url in urls {
            if !self.first_look(url) || skip(url) {
                continue;
            }
            let Some(file) = script_path(url) else { continue };
            if let Err(problem) = self.discover_one(url, &file) {
                if problems.try_reserve(1).is_ok() {
                    problems.push(format!("{file}: {problem}"));
                }
            }
        }
        problems
    }

    fn first_look(&self, url: &str) -> bool {
        let mut looked_at = lock(&self.looked_at);
        if looked_at.len() >= MAX_SCRIPTS || looked_at.contains(url) || looked_at.try_reserve(1).is_err() {
            return false;
        }
        copy_str(url).map(|url| looked_at.insert(url)).unwrap_or(false)
    }

    fn discover_one(&self, url: &str, file: &str) -> Result<(), String> {
        let Some(reference) = map_reference(file)? else { return Ok(()) };
        if let Some(data) = reference.strip_prefix("data:") {
            let json = decode_data_url(data)?;
            return self.register(url, &json, file).map_err(|error| error.to_string());
        }
        let map_file = resolve(file, "", &reference).map_err(|error| error.to_string())?;
        if scheme_of(&map_file).is_some() {
            return Err(format!("source map {map_file} is not a file"));
        }
        let json = read_limited(&map_file).map_err(|error| format!("source map {map_file}: {error}"))?;
        self.register(url, &json, &map_file).map_err(|error| error.to_string())
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Parses and registers the map of `script_url`, replacing an earlier one.
    pub fn register(&self, script_url: &str, json: &str, base: &str) -> Result<(), SourceMapError> {
        // Parsing happens outside the lock against a scratch budget of what is left, so readers
        // are not held up; the map's real size is charged below.
        let left = Budget::new(self.budget.limit().saturating_sub(self.budget.used()));
        let map = SourceMap::parse(json, base, &left)?;
        let bytes = map.held_bytes() + script_url.len();
        self.budget.charge(bytes)?;
        let inserted = self.insert(script_url, map, bytes);
        if inserted.is_err() {
            self.budget.release(bytes);
        }
        inserted
    }

    fn insert(&self, script_url: &str, map: SourceMap, bytes: usize) -> Result<(), SourceMapError> {
        let key = copy_str(script_url)?;
        let mut maps = write(&self.maps);
        maps.try_reserve(1).map_err(|_| SourceMapError::AllocFailed)?;
        if let Some((_, old_bytes)) = maps.insert(key, (map, bytes)) {
            self.budget.release(old_bytes);
        }
        Ok(())
    }

    /// A read view for one fold: lookups borrow from it without copying.
    pub fn read(&self) -> SourceMapsView<'_> {
        SourceMapsView { maps: read(&self.maps) }
    }
}

/// The file behind a script URL; none for builtins, eval'd code, wasm and other schemes.
fn script_path(url: &str) -> Option<String> {
    if url.starts_with('/') {
        return Some(url.to_owned());
    }
    file_path(url)
}

/// The path of a `file:` URL (percent-escapes decoded).
pub fn file_path(url: &str) -> Option<String> {
    url.starts_with("file://").then(|| as_path(url).ok()).flatten()
}

fn read_limited(path: &str) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|error| error.to_string())?;
    let size = file.metadata().map_err(|error| error.to_string())?.len();
    if size > MAX_MAP_FILE_BYTES {
        return Err(format!("{size} bytes is more than the {MAX_MAP_FILE_BYTES} read for a map"));
    }
    let mut text = String::new();
    text.try_reserve_exact(size as usize).map_err(|_| "out of memory".to_string())?;
    file.take(MAX_MAP_FILE_BYTES).read_to_string(&mut text).map_err(|error| error.to_string())?;
    Ok(text)
}

/// The `sourceMappingURL` of a script's last line, reading the whole file only for a last line
/// longer than the tail (an inline map). A script that is gone (or never was a file, like a
/// loader's virtual module) has none.
fn map_reference(file: &str) -> Result<Option<String>, String> {
    let mut handle = match std::fs::File::open(file) {
        Ok(handle) => handle,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    let size = handle.metadata().map_err(|error| error.to_string())?.len();
    let tail_length = size.min(TAIL_BYTES);
    handle.seek(SeekFrom::Start(size - tail_length)).map_err(|error| error.to_string())?;
    let mut tail = Vec::new();
    tail.try_reserve_exact(tail_length as usize).map_err(|_| "out of memory".to_string())?;
    (&mut handle).take(tail_length).read_to_end(&mut tail).map_err(|error| error.to_string())?;
    let mut text = String::from_utf8_lossy(&tail).trim_end().to_owned();
    if tail_length < size && !text.contains('\n') {
        text = read_limited(file)?.trim_end().to_owned();
    }
    let last_line = text.rsplit('\n').next().unwrap_or("");
    Ok(source_mapping_url(last_line).map(str::to_owned))
}

/// `//# sourceMappingURL=<url>` (or the old `//@`), with blanks around the URL.
fn source_mapping_url(line: &str) -> Option<&str> {
    let rest = line.trim_end().strip_prefix("//")?;
    let rest = rest.strip_prefix('#').or_else(|| rest.strip_prefix('@'))?;
    let rest = rest.strip_prefix([' ', '\t'])?.trim_start_matches([' ', '\t']);
    let value = rest.strip_prefix("sourceMappingURL=")?.trim_start_matches([' ', '\t']);
    (!value.is_empty() && !value.contains(char::is_whitespace)).then_some(value)
}

/// The JSON of an inline map: `application/json[;charset=…][;base64],<data>`.
fn decode_data_url(data: &str) -> Result<String, String> {
    let (header, payload) = data.split_once(',').ok_or("inline source map has no data")?;
    if !header.starts_with("application/json") {
        return Err(format!("inline source map of type '{header}' is not JSON"));
    }
    let bytes = if header.split(';').any(|part| part == "base64") {
        decode_base64(payload).ok_or("inline source map is not valid base64")?
    } else {
        percent_decode(payload).map_err(|_| "out of memory".to_string())?
    };
    String::from_utf8(bytes).map_err(|_| "inline source map is not UTF-8".to_string())
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |byte: u8| -> Option<u32> {
        Some(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u8> = text.bytes().filter(|byte| !byte.is_ascii_whitespace() && *byte != b'=').collect();
    let mut out = Vec::new();
    out.try_reserve_exact(digits.len() * 3 / 4 + 3).ok()?;
    for chunk in digits.chunks(4) {
        let mut bits = 0u32;
        for (i, &digit) in chunk.iter().enumerate() {
            bits |= value(digit)? << (18 - 6 * i);
        }
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        match chunk.len() {
            4 => out.extend_from_slice(&bytes),
            3 => out.extend_from_slice(&bytes[..2]),
            2 => out.push(bytes[0]),
            _ => return None,
        }
    }
    Some(out)
}

/// `%XX` escapes decoded; a `%` that starts no escape stays as it is.
fn percent_decode(text: &str) -> Result<Vec<u8>, Refusal> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    out.try_reserve_exact(bytes.len())?;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let escaped = (byte == b'%').then(|| bytes.get(at + 1..at + 3)).flatten().and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(value) => {
                out.push(value);
                at += 3;
            }
            None => {
                out.push(byte);
                at += 1;
            }
        }
    }
    Ok(out)
}

pub struct SourceMapsView<'a> {
    maps: RwLockReadGuard<'a, HashMap<String, (SourceMap, usize)>>,
}

impl SourceMapsView<'_> {
    /// The original of a position in the script at `url`, if it has a map that covers it.
    pub fn original(&self, url: &str, line: i32, column: i32) -> Option<Original<'_>> {
        let (map, _) = self.maps.get(url)?;
        map.lookup(u32::try_from(line).ok()?, u32::try_from(column).ok()?)
    }

    /// The original file of the top level of the script at `url`, at its start.
    pub fn top_level(&self, url: &str) -> Option<Original<'_>> {
        self.maps.get(url)?.0.top_level()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(mappings: &str) -> Vec<[u32; 6]> {
        let budget = Budget::new(usize::MAX);
        decode_mappings(mappings, 10, 10, &budget)
            .unwrap()
            .iter()
            .map(|s| [s.generated_line, s.generated_column, s.source, s.line, s.column, s.name])
            .collect()
    }

    #[test]
    fn decodes_vlq_vectors() {
        // Worked out by hand from the encoding: 5 value bits per base64 digit, bit 6 continues,
        // the lowest bit of the value is the sign.
        let cases: [(&str, i64); 9] = [
            ("A", 0),
            ("C", 1),
            ("D", -1),
            ("E", 2),
            ("2H", 123),
            ("3H", -123),
            ("gB", 16),
            ("hB", -16),
            ("+/////B", 1_073_741_823),
        ];
        for (text, expected) in cases {
            let mut at = 0;
            assert_eq!(read_vlq(text.as_bytes(), &mut at).unwrap(), expected, "{text}");
            assert_eq!(at, text.len());
        }
        let mut at = 0;
        assert!(read_vlq(b"g", &mut at).is_err(), "a dangling continuation is an error");
        let mut at = 0;
        assert!(read_vlq(b"gggggggB", &mut at).is_err(), "more than 32 bits is an error");
    }

    #[test]
    fn decodes_relative_fields_across_lines() {
        // Line 0: col 0 -> src 0 1:0; col 9 -> src 0 1:9 named 0. Line 2: col 4 -> src 1 0:2 named 1.
        // Generated columns restart per line; source, line, column and name carry over.
        let segments = decode("AACA,SAASA;;ICDPC");
        assert_eq!(
            segments,
            vec![[0, 0, 0, 1, 0, NONE], [0, 9, 0, 1, 9, 0], [2, 4, 1, 0, 2, 1]]
        );
        assert_eq!(decode("A,E"), vec![[0, 0, NONE, 0, 0, NONE], [0, 2, NONE, 0, 0, NONE]]);
    }

    #[test]
    fn refuses_malformed_mappings() {
        let budget = Budget::new(usize::MAX);
        for bad in ["AA", "AAAAAA", "AA!A", "D", "ADAA", "AAAAC"] {
            let error = decode_mappings(bad, 1, 1, &budget).unwrap_err();
            assert!(matches!(error, SourceMapError::Mappings { .. }), "{bad}: {error}");
        }
    }

    fn sample_map() -> SourceMap {
        let json = r#"{"version":3,"file":"out.js","sourceRoot":"","sources":["../src/a.ts","b.ts"],
            "names":["original"],"mappings":"AACA,SAASA;;ICDPA;A"}"#;
        SourceMap::parse(json, "file:///app/dist/out.js.map", &Budget::new(usize::MAX)).unwrap()
    }

    #[test]
    fn looks_up_the_mapping_at_or_before_a_position_on_its_line() {
        let map = sample_map();
        let at = |line, column| map.lookup(line, column).map(|o| (o.source, o.line, o.column, o.name));
        assert_eq!(at(0, 0), Some(("/app/src/a.ts", 1, 0, None)));
        assert_eq!(at(0, 5), Some(("/app/src/a.ts", 1, 0, None)));
        assert_eq!(at(0, 9), Some(("/app/src/a.ts", 1, 9, Some("original"))));
        assert_eq!(at(0, 400), Some(("/app/src/a.ts", 1, 9, Some("original"))));
        assert_eq!(at(1, 0), None, "a line without mappings is unmapped");
        assert_eq!(at(2, 0), Some(("/app/dist/b.ts", 0, 2, Some("original"))), "before the first mapping of a line");
        assert_eq!(at(3, 0), None, "a segment without a source ends the mapping");
        assert_eq!(at(9, 0), None);
    }

    #[test]
    fn resolves_sources_like_urls() {
        assert_eq!(resolve("/app/dist/out.js.map", "", "../src/a.ts").unwrap(), "/app/src/a.ts");
        assert_eq!(resolve("file:///app/dist/out.js.map", "", "./a%20b.ts").unwrap(), "/app/dist/a b.ts");
        assert_eq!(resolve("/app/dist/out.js.map", "/repo/", "src/a.ts").unwrap(), "/repo/src/a.ts");
        assert_eq!(resolve("/app/dist/out.js.map", "../..", "x/../a.ts").unwrap(), "/a.ts");
        assert_eq!(resolve("/app/out.js.map", "", "/abs/a.ts").unwrap(), "/abs/a.ts");
        assert_eq!(resolve("/app/out.js.map", "", "file:///abs/a.ts").unwrap(), "/abs/a.ts");
        assert_eq!(resolve("/app/out.js.map", "", "webpack://app/./a.ts").unwrap(), "webpack://app/./a.ts");
        assert_eq!(resolve("http://host/js/out.js.map", "", "../a.ts").unwrap(), "http://host/a.ts");
        assert_eq!(resolve("file:///C:/app/dist/out.js.map", "", "../src/a.ts").unwrap(), "C:/app/src/a.ts");
    }

    #[test]
    fn refuses_bad_maps_with_reasons() {
        let budget = Budget::new(usize::MAX);
        let error = |json: &str| SourceMap::parse(json, "/a.js", &budget).unwrap_err().to_string();
        assert!(error("{").contains("not valid JSON"));
        assert!(error(r#"{"version":2,"mappings":""}"#).contains("version 2"));
        assert!(error(r#"{"version":3,"sections":[]}"#).contains("sections"));
        assert!(error(r#"{"version":3,"sources":["a"],"mappings":"AC"}"#).contains("malformed"));
    }

    #[test]
    fn registry_charges_its_budget_and_refuses_past_it() {
        let maps = SourceMaps::new(1 << 20);
        let json = r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA;AACA"}"#;
        maps.register("file:///app/a.js", json, "/app/a.js.map").unwrap();
        let used = maps.budget().used();
        assert!(used > 0);
        maps.register("file:///app/a.js", json, "/app/a.js.map").unwrap();
        assert_eq!(maps.budget().used(), used, "replacing a map releases the old one");
        let view = maps.read();
        let original = view.original("file:///app/a.js", 1, 3).unwrap();
        assert_eq!((original.source, original.line), ("/app/a.ts", 1));
        assert!(view.original("file:///app/other.js", 0, 0).is_none());
        assert!(view.original("file:///app/a.js", -1, 0).is_none());
        drop(view);

        let small = SourceMaps::new(64);
        let error = small.register("file:///app/a.js", json, "/app/a.js.map").unwrap_err();
        assert!(matches!(error, SourceMapError::OverBudget));
        assert_eq!(small.budget().used(), 0);
        assert!(small.read().original("file:///app/a.js", 0, 0).is_none());
    }

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("yappi-sourcemap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const MAP: &str = r#"{"version":3,"sources":["../src/app.ts"],"names":["handle"],"mappings":"AAAAA"}"#;

    #[test]
    fn finds_map_files_and_inline_maps_once() {
        let dir = scratch_dir("find");
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        write("app.js", "function h() {}\n//# sourceMappingURL=app.js.map\n");
        write("app.js.map", MAP);
        let inline = format!("x()\n//# sourceMappingURL=data:application/json;base64,{}", encode_base64(MAP.as_bytes()));
        write("inline.js", &inline);
        // A last line longer than the tail read: the whole file is read.
        let padded = MAP.replace("}", &format!(r#","sourcesContent":["{}"]}}"#, "x".repeat(2 * TAIL_BYTES as usize)));
        write("long.js", &format!("x()\n//# sourceMappingURL=data:application/json,{}", padded.replace('"', "%22")));
        write("plain.js", "function p() {}\n");
        write("broken.js", "x()\n//# sourceMappingURL=missing.map");
        let maps = SourceMaps::default();
        let url = |name: &str| format!("file://{}", dir.join(name).display());
        let urls = ["app.js", "inline.js", "long.js", "plain.js", "broken.js", "gone.js"].map(url);
        let problems = maps.discover(urls.iter().map(String::as_str).chain(["node:fs", "", "wasm://x"]), |_| false);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("broken.js") && problems[0].contains("missing.map"), "{problems:?}");
        let view = maps.read();
        let source = dir.parent().unwrap().join("src/app.ts");
        for script in ["app.js", "inline.js", "long.js"] {
            let original = view.original(&url(script), 0, 0).unwrap_or_else(|| panic!("{script} is mapped"));
            assert_eq!((original.source, original.name), (source.to_str().unwrap(), Some("handle")), "{script}");
        }
        assert!(view.original(&url("plain.js"), 0, 0).is_none());
        drop(view);
        // Looked at once: a map written later is not seen, and a problem is not reported twice.
        write("plain.js.map", MAP);
        write("plain.js", "function p() {}\n//# sourceMappingURL=plain.js.map\n");
        assert!(maps.discover(urls.iter().map(String::as_str), |_| false).is_empty());
        assert!(maps.read().original(&url("plain.js"), 0, 0).is_none());
        let skipped = SourceMaps::default();
        assert!(skipped.discover([url("app.js")].iter().map(String::as_str), |_| true).is_empty());
        assert!(skipped.read().original(&url("app.js"), 0, 0).is_none(), "skipped scripts are not read");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn encode_base64(bytes: &[u8]) -> String {
        const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let bits = chunk.iter().enumerate().fold(0u32, |bits, (i, &b)| bits | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(DIGITS[(bits >> (18 - 6 * i) & 63) as usize] as char);
            }
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
        out
    }

    #[test]
    fn reads_the_comment_as_v8_does() {
        assert_eq!(source_mapping_url("//# sourceMappingURL=a.map"), Some("a.map"));
        assert_eq!(source_mapping_url("//@ sourceMappingURL=a.map  "), Some("a.map"));
        assert_eq!(source_mapping_url("//#\tsourceMappingURL= a.map"), Some("a.map"));
        assert_eq!(source_mapping_url("//#sourceMappingURL=a.map"), None);
        assert_eq!(source_mapping_url("x = '//# sourceMappingURL=a.map'"), None);
        assert_eq!(decode_base64("aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("a*"), None);
        assert!(decode_data_url("text/plain,x").unwrap_err().contains("not JSON"));
    }

}
