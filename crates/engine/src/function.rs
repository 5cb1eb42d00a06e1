//! What a function is, as V8's sampler reports it, and how it is classified.

use crate::sourcemap::Original;

/// The kind of a frame, which decides how it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FuncKind {
    /// Application JavaScript (or TypeScript compiled to it).
    User = 0,
    /// Node's own JavaScript (`node:` URLs) and V8 natives (no script).
    Builtin = 1,
    /// `(program)`: the VM running no JavaScript frame it can name.
    Program = 2,
    /// `(garbage collector)`.
    GarbageCollector = 3,
    /// `(idle)`: the thread waiting in its event loop, off the CPU.
    Idle = 4,
    /// `(root)`: the tree's root, never a function.
    Root = 5,
    /// A frame of the profiler itself: always folded into its caller.
    Profiler = 6,
}

impl FuncKind {
    pub fn from_code(code: u8) -> Option<FuncKind> {
        Some(match code {
            0 => FuncKind::User,
            1 => FuncKind::Builtin,
            2 => FuncKind::Program,
            3 => FuncKind::GarbageCollector,
            4 => FuncKind::Idle,
            5 => FuncKind::Root,
            6 => FuncKind::Profiler,
            _ => return None,
        })
    }

    /// Runtime buckets and internals are shown only when builtins are asked for.
    pub fn is_builtin_like(self) -> bool {
        matches!(self, FuncKind::Builtin | FuncKind::Program | FuncKind::GarbageCollector)
    }
}

/// A call frame as the profile names it (positions 0-based, as V8 gives them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallFrame {
    pub name: String,
    pub url: String,
    pub script_id: String,
    pub line: i32,
    pub column: i32,
}

/// Where the profiler's own code lives, so its frames fold into their callers.
#[derive(Debug, Clone, Default)]
pub struct OwnCode {
    pub url_prefixes: Vec<String>,
}

impl OwnCode {
    fn contains(&self, url: &str) -> bool {
        self.url_prefixes.iter().any(|prefix| !prefix.is_empty() && url.starts_with(prefix.as_str()))
    }
}

/// Classifies a frame by the conventions of V8's profile generator.
pub fn classify(frame: &CallFrame, own_code: &OwnCode) -> FuncKind {
    if frame.url.is_empty() {
        match frame.name.as_str() {
            "(root)" => return FuncKind::Root,
            "(idle)" => return FuncKind::Idle,
            "(program)" => return FuncKind::Program,
            "(garbage collector)" => return FuncKind::GarbageCollector,
            _ => {}
        }
        // Natives have no script; eval'd user code has a script but no URL.
        if frame.script_id.is_empty() || frame.script_id == "0" {
            return FuncKind::Builtin;
        }
        return FuncKind::User;
    }
    if frame.url.starts_with("node:") {
        return FuncKind::Builtin;
    }
    if own_code.contains(&frame.url) {
        return FuncKind::Profiler;
    }
    FuncKind::User
}

/// A function interned in a session: name and place, 1-based as people read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncDesc {
    pub name: String,
    /// The file path (file URLs are turned into paths) or URL; empty for natives.
    pub module: String,
    pub line: u32,
    pub column: u32,
    pub kind: FuncKind,
    /// Only set for code without a URL (eval), where the script tells functions apart.
    pub script_id: String,
}

/// The identity of a function across threads: scripts get other ids in each thread, so the
/// script id only counts when there is no URL to tell functions apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FuncKey<'a> {
    pub name: &'a str,
    pub module: &'a str,
    pub line: u32,
    pub column: u32,
    pub kind: FuncKind,
    pub script_id: &'a str,
}

impl FuncDesc {
    pub fn key(&self) -> FuncKey<'_> {
        FuncKey {
            name: &self.name,
            module: &self.module,
            line: self.line,
            column: self.column,
            kind: self.kind,
            script_id: &self.script_id,
        }
    }
}

/// The key of a frame once classified: display names and 1-based positions.
pub fn key_of<'a>(frame: &'a CallFrame, kind: FuncKind) -> FuncKey<'a> {
    let keeps_script = frame.url.is_empty() && kind == FuncKind::User;
    FuncKey {
        name: display_name(&frame.name),
        module: module_of(&frame.url),
        line: one_based(frame.line),
        column: one_based(frame.column),
        kind,
        script_id: if keeps_script { &frame.script_id } else { "" },
    }
}

/// The key of a frame whose script has a source map: original file and position, and the
/// original name when the map has one (minifiers rename; tsc keeps names and maps none).
pub fn original_key_of<'a>(frame: &'a CallFrame, kind: FuncKind, original: Original<'a>) -> FuncKey<'a> {
    FuncKey {
        name: original.name.unwrap_or_else(|| display_name(&frame.name)),
        module: original.source,
        line: original.line.saturating_add(1),
        column: original.column.saturating_add(1),
        kind,
        script_id: "",
    }
}

fn one_based(position: i32) -> u32 {
    u32::try_from(position.saturating_add(1)).unwrap_or(0)
}

fn display_name(name: &str) -> &str {
    if name.is_empty() { "(anonymous)" } else { name }
}

/// `file:///a/b.js` becomes `/a/b.js`; other URLs stay as they are. Percent-escapes are kept:
/// decoding would need an allocation per frame, and paths with escapes are rare.
fn module_of(url: &str) -> &str {
    url.strip_prefix("file://").unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str, url: &str, script_id: &str) -> CallFrame {
        CallFrame { name: name.into(), url: url.into(), script_id: script_id.into(), line: 3, column: 0 }
    }

    #[test]
    fn classifies_v8_conventions() {
        let own = OwnCode { url_prefixes: vec!["file:///pkg/dist/".into()] };
        assert_eq!(classify(&frame("(root)", "", "0"), &own), FuncKind::Root);
        assert_eq!(classify(&frame("(idle)", "", "0"), &own), FuncKind::Idle);
        assert_eq!(classify(&frame("(garbage collector)", "", "0"), &own), FuncKind::GarbageCollector);
        assert_eq!(classify(&frame("hrtimeBigInt", "", "0"), &own), FuncKind::Builtin);
        assert_eq!(classify(&frame("readFileSync", "node:fs", "45"), &own), FuncKind::Builtin);
        assert_eq!(classify(&frame("evaluated", "", "77"), &own), FuncKind::User);
        assert_eq!(classify(&frame("rotate", "file:///pkg/dist/src/x.js", "9"), &own), FuncKind::Profiler);
        assert_eq!(classify(&frame("work", "file:///app/x.js", "9"), &own), FuncKind::User);
    }

    #[test]
    fn keys_are_one_based_paths() {
        let anonymous = frame("", "file:///app/x.js", "9");
        let key = key_of(&anonymous, FuncKind::User);
        assert_eq!((key.name, key.module, key.line, key.column), ("(anonymous)", "/app/x.js", 4, 1));
        assert_eq!(key.script_id, "");
        assert_eq!(key_of(&frame("f", "", "77"), FuncKind::User).script_id, "77");
    }
}
