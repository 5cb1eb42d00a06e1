//! What a function is, as V8's sampler reports it, and how it is classified.

use crate::model::budget::{Budget, Refusal, Scratch};
use crate::model::flat_profile::{CallFrame, FlatProfile, NO_PARENT};
use crate::model::sourcemap::{Original, SourceMapsView};

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
    pub const ALL: [FuncKind; 7] = [
        FuncKind::User,
        FuncKind::Builtin,
        FuncKind::Program,
        FuncKind::GarbageCollector,
        FuncKind::Idle,
        FuncKind::Root,
        FuncKind::Profiler,
    ];

    pub fn from_code(code: u8) -> Option<FuncKind> {
        FuncKind::ALL.into_iter().find(|&kind| kind as u8 == code)
    }

    /// The kind as saved reports and the TypeScript side spell it.
    pub fn name(self) -> &'static str {
        match self {
            FuncKind::User => "user",
            FuncKind::Builtin => "builtin",
            FuncKind::Program => "program",
            FuncKind::GarbageCollector => "gc",
            FuncKind::Idle => "idle",
            FuncKind::Root => "root",
            FuncKind::Profiler => "profiler",
        }
    }

    pub fn named(name: &str) -> Option<FuncKind> {
        FuncKind::ALL.into_iter().find(|&kind| kind.name() == name)
    }

    /// Runtime buckets and internals are shown only when builtins are asked for.
    pub fn is_builtin_like(self) -> bool {
        matches!(self, FuncKind::Builtin | FuncKind::Program | FuncKind::GarbageCollector)
    }
}

/// Where the profiler's own code lives, so its frames fold into their callers.
#[derive(Debug, Clone, Default)]
pub struct OwnCode {
    pub url_prefixes: Vec<String>,
}

impl OwnCode {
    pub fn contains(&self, url: &str) -> bool {
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
        // Natives have no script (V8 gives them id 0, or -1 for some WebAssembly wrappers);
        // eval'd user code has a script but no URL.
        return if is_script(&frame.script_id) { FuncKind::User } else { FuncKind::Builtin };
    }
    if frame.url.starts_with("node:") {
        return FuncKind::Builtin;
    }
    if own_code.contains(&frame.url) {
        return FuncKind::Profiler;
    }
    FuncKind::User
}

fn is_script(script_id: &str) -> bool {
    script_id.parse::<u64>().is_ok_and(|id| id > 0)
}

/// WebAssembly code, and V8's wrappers between it and JavaScript (which have no script).
fn is_wasm(frame: &CallFrame) -> bool {
    frame.url.starts_with("wasm://")
        || (frame.url.is_empty() && (frame.name.starts_with("js-to-wasm") || frame.name.starts_with("wasm-to-js")))
}

/// Classifies the frames of one profile. WebAssembly modules get no `node:` URL even when they
/// are Node's own (undici's HTTP parser behind `fetch`, the type stripper that runs `.ts`
/// files), so a module counts as Node's when the JavaScript that called into it is: the nearest
/// caller that is neither WebAssembly nor a native has a `node:` URL.
pub struct Classifier<'a, 'b> {
    own_code: &'a OwnCode,
    /// Each WebAssembly script of the profile, and whether Node's own code calls it.
    wasm_scripts: Scratch<'b, (&'a str, bool)>,
}

impl<'a, 'b> Classifier<'a, 'b> {
    /// Decides each WebAssembly script by its first node: O(nodes), plus one walk up per script.
    pub fn new(profile: &'a FlatProfile, own_code: &'a OwnCode, budget: &'b Budget) -> Result<Self, Refusal> {
        let mut wasm_scripts = Scratch::empty(budget);
        for (node, &frame) in profile.node_frame.iter().enumerate() {
            let Some(frame) = profile.frames.get(frame as usize).filter(|frame| frame.url.starts_with("wasm://")) else { continue };
            if !wasm_scripts.vec.iter().any(|(script, _)| *script == frame.script_id) {
                wasm_scripts.push((frame.script_id.as_str(), called_from_node(profile, node)))?;
            }
        }
        Ok(Classifier { own_code, wasm_scripts })
    }

    pub fn kind(&self, frame: &CallFrame) -> FuncKind {
        let node_wasm = frame.url.starts_with("wasm://")
            && self.wasm_scripts.vec.iter().any(|&(script, internal)| internal && script == frame.script_id);
        if node_wasm { FuncKind::Builtin } else { classify(frame, self.own_code) }
    }
}

/// Whether the nearest JavaScript caller of a WebAssembly node is Node's own code. The walk is
/// bounded by the node count: `validate` does not rule out parent cycles.
fn called_from_node(profile: &FlatProfile, node: usize) -> bool {
    let mut at = node;
    for _ in 0..profile.node_count() {
        let Some(&parent) = profile.node_parent.get(at).filter(|&&parent| parent != NO_PARENT) else { return false };
        at = parent as usize;
        let Some(frame) = profile.node_frame.get(at).and_then(|&f| profile.frames.get(f as usize)) else { return false };
        if is_wasm(frame) || (frame.url.is_empty() && !is_script(&frame.script_id)) {
            continue;
        }
        return frame.url.starts_with("node:");
    }
    false
}

/// A function interned in a session: name and place, 1-based as people read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncDesc {
    pub name: String,
    /// The file path (file URLs are turned into paths) or URL; empty for natives.
    pub module: String,
    /// The same for every function of one `module`, counted from 0 in the order modules were
    /// first seen: readers tell modules apart without touching their strings.
    pub module_id: u32,
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

/// A script's top level, which V8 names no function: an ES module's at -1:-1, a CommonJS
/// module's wrapper at 0:0.
fn is_top_level(frame: &CallFrame) -> bool {
    frame.name.is_empty() && (frame.line < 0 || (frame.line == 0 && frame.column == 0))
}

/// The key a shown frame is interned under: its original place when a source map knows it.
/// A script's top level is line 1 of its file (of its first original source when mapped).
pub fn frame_key<'a>(frame: &'a CallFrame, kind: FuncKind, maps: Option<&'a SourceMapsView<'a>>) -> FuncKey<'a> {
    let maps = maps.filter(|_| kind == FuncKind::User);
    let original = match maps {
        Some(maps) if is_top_level(frame) => maps.top_level(&frame.url),
        Some(maps) => maps.original(&frame.url, frame.line, frame.column),
        None => None,
    };
    original.map_or_else(|| key_of(frame, kind), |original| original_key_of(frame, kind, original))
}

/// The key of a frame once classified: display names and 1-based positions.
pub fn key_of<'a>(frame: &'a CallFrame, kind: FuncKind) -> FuncKey<'a> {
    let keeps_script = frame.url.is_empty() && kind == FuncKind::User;
    let top_level = is_top_level(frame) && kind == FuncKind::User;
    FuncKey {
        name: display_name(&frame.name),
        module: module_of(&frame.url),
        line: if top_level { 1 } else { one_based(frame.line) },
        column: if top_level { 1 } else { one_based(frame.column) },
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

/// The name shown for a function V8 names none, as DevTools shows it.
pub const ANONYMOUS: &str = "(anonymous)";

fn display_name(name: &str) -> &str {
    if name.is_empty() { ANONYMOUS } else { name }
}

/// `file:///a/b.js` becomes `/a/b.js`; other URLs stay as they are. Percent-escapes are kept:
/// decoding would need an allocation per frame, and paths with escapes are rare.
fn module_of(url: &str) -> &str {
    url.strip_prefix("file://").unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sourcemap::SourceMaps;

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

    fn at(name: &str, url: &str, script_id: &str, line: i32, column: i32) -> CallFrame {
        CallFrame { name: name.into(), url: url.into(), script_id: script_id.into(), line, column }
    }

    /// Frames of a chain of calls, each node the child of the one before, as one profile.
    fn chain(profile: &mut FlatProfile, frames: &[CallFrame]) {
        let mut parent = NO_PARENT;
        for frame in frames {
            profile.frames.push(frame.clone());
            profile.node_frame.push(profile.frames.len() as u32 - 1);
            profile.node_parent.push(parent);
            parent = profile.node_parent.len() as u32 - 1;
        }
    }

    /// `fetch`'s HTTP parser and the type stripper are WebAssembly that Node's own code calls;
    /// an application's WebAssembly is called by the application.
    #[test]
    fn webassembly_called_by_node_is_a_builtin() {
        let mut profile = FlatProfile::default();
        let node_parser = at("wasm-function[20]", "wasm://wasm/0002f80e", "198", 0, 2843);
        let node_import = at("wasm-to-js:iiii:i", "wasm://wasm/0002f80e", "198", 0, 0);
        let app_wasm = at("wasm-function[3]", "wasm://wasm/00aa", "201", 0, 77);
        chain(&mut profile, &[
            at("(root)", "", "0", -1, -1),
            at("execute", "node:internal/deps/undici/undici", "153", 10, 2),
            at("js-to-wasm:iiii:", "", "0", -1, -1),
            node_parser.clone(),
            node_import.clone(),
            at("wasm-to-js", "", "-1", 0, 0),
            at("wasm_on_body", "node:internal/deps/undici/undici", "153", 5999, 24),
        ]);
        chain(&mut profile, &[at("main", "file:///app/main.js", "9", 3, 13), at("js-to-wasm", "", "0", -1, -1), app_wasm.clone()]);
        let own = OwnCode::default();
        let budget = Budget::new(usize::MAX);
        let classifier = Classifier::new(&profile, &own, &budget).unwrap();
        assert_eq!(classifier.kind(&node_parser), FuncKind::Builtin);
        assert_eq!(classifier.kind(&node_import), FuncKind::Builtin);
        assert_eq!(classifier.kind(&at("wasm-to-js", "", "-1", 0, 0)), FuncKind::Builtin, "a wrapper without a script is a native");
        assert_eq!(classifier.kind(&app_wasm), FuncKind::User);
        drop(classifier);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_scripts_top_level_is_its_first_line_mapped_to_its_one_source() {
        let esm = at("", "file:///app/dist/main.mjs", "9", -1, -1);
        let cjs = at("", "file:///app/dist/main.js", "8", 0, 0);
        for frame in [&esm, &cjs] {
            let key = frame_key(frame, FuncKind::User, None);
            assert_eq!((key.name, key.line, key.column), ("(anonymous)", 1, 1), "{frame:?}");
        }
        let maps = SourceMaps::default();
        let compiled = r#"{"version":3,"sources":["../src/main.ts"],"names":[],"mappings":";;AAEA"}"#;
        maps.register(&esm.url, compiled, "file:///app/dist/main.mjs.map").unwrap();
        let bundle = r#"{"version":3,"sources":["../src/a.ts","../src/b.ts"],"names":[],"mappings":"AAAA"}"#;
        maps.register(&cjs.url, bundle, "file:///app/dist/main.js.map").unwrap();
        let view = maps.read();
        let key = frame_key(&esm, FuncKind::User, Some(&view));
        assert_eq!((key.name, key.module, key.line, key.column), ("(anonymous)", "/app/src/main.ts", 1, 1));
        let key = frame_key(&cjs, FuncKind::User, Some(&view));
        assert_eq!((key.module, key.line), ("/app/dist/main.js", 1), "a bundle's top level is the bundle's");
        let arrow = at("", "file:///app/dist/main.mjs", "9", 2, 0);
        assert_eq!(frame_key(&arrow, FuncKind::User, Some(&view)).line, 3, "an anonymous function elsewhere maps as usual");
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
