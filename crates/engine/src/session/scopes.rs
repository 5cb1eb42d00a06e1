//! The process's stats scopes, by the names the TypeScript side uses: `global` (`start()`'s
//! stats, shared by every thread), `profile` (`profile(fn)` calls, kept apart so they neither see
//! nor disturb `start()`'s) and `loaded:<n>` (a saved file read back, each in an engine of its
//! own until it is dropped).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::sync::lock;
use crate::session::engine::Engine;
use crate::session::report::{Report, ReportError};

pub struct Scopes {
    global: Engine,
    profile: Engine,
    loaded: Mutex<Vec<(u32, Arc<Engine>)>>,
    next_loaded: AtomicU32,
}

/// One scope's engine, held while it is used: a `loaded:<n>` scope dropped meanwhile lives on
/// until its last user lets go.
pub enum ScopeRef<'s> {
    Process(&'s Engine),
    Loaded(Arc<Engine>),
}

impl std::ops::Deref for ScopeRef<'_> {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        match self {
            ScopeRef::Process(engine) => engine,
            ScopeRef::Loaded(engine) => engine,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    Unknown(String),
    Report(ReportError),
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Unknown(name) => write!(f, "unknown stats scope '{name}'"),
            ScopeError::Report(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ScopeError {}

const LOADED_PREFIX: &str = "loaded:";

fn loaded_id(name: &str) -> Option<u32> {
    name.strip_prefix(LOADED_PREFIX)?.parse().ok()
}

impl Scopes {
    pub const fn new() -> Scopes {
        Scopes { global: Engine::new(), profile: Engine::new(), loaded: Mutex::new(Vec::new()), next_loaded: AtomicU32::new(1) }
    }

    /// `start()`'s stats.
    pub fn global(&self) -> &Engine {
        &self.global
    }

    pub fn get(&self, name: &str) -> Result<ScopeRef<'_>, ScopeError> {
        match name {
            "global" => Ok(ScopeRef::Process(&self.global)),
            "profile" => Ok(ScopeRef::Process(&self.profile)),
            other => loaded_id(other)
                .and_then(|id| lock(&self.loaded).iter().find(|(at, _)| *at == id).map(|(_, engine)| Arc::clone(engine)))
                .map(ScopeRef::Loaded)
                .ok_or_else(|| ScopeError::Unknown(other.to_owned())),
        }
    }

    /// Adds a saved report to scope `into`, or to a fresh `loaded:<n>` scope; returns the scope.
    fn load(&self, report: &Report, into: Option<&str>) -> Result<String, ScopeError> {
        let Some(into) = into else {
            let id = self.next_loaded.fetch_add(1, Ordering::Relaxed);
            let engine = Arc::new(Engine::new());
            engine.absorb(report).map_err(ScopeError::Report)?;
            lock(&self.loaded).push((id, engine));
            return Ok(format!("{LOADED_PREFIX}{id}"));
        };
        self.get(into)?.absorb(report).map_err(ScopeError::Report)?;
        Ok(into.to_owned())
    }

    /// Adds a saved `json` stats file to scope `into`, or to a fresh `loaded:<n>` scope; returns the scope.
    pub fn load_json(&self, json: &[u8], into: Option<&str>) -> Result<String, ScopeError> {
        self.load(&Report::from_json(json).map_err(ScopeError::Report)?, into)
    }

    /// Frees a `loaded:<n>` scope (its users keep it until they let go); other names are ignored.
    pub fn drop_loaded(&self, name: &str) {
        if let Some(id) = loaded_id(name) {
            lock(&self.loaded).retain(|(at, _)| *at != id);
        }
    }
}

impl Default for Scopes {
    fn default() -> Scopes {
        Scopes::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_found_by_name_until_dropped() {
        let scopes = Scopes::new();
        assert!(std::ptr::eq(&*scopes.get("global").unwrap(), scopes.global()));
        assert!(!std::ptr::eq(&*scopes.get("profile").unwrap(), scopes.global()));
        let report = scopes.global().read(|view| Report::from_view(view, &Default::default())).unwrap();
        let first = scopes.load(&report, None).unwrap();
        let second = scopes.load(&report, None).unwrap();
        assert_ne!(first, second);
        assert_eq!(scopes.load(&report, Some(&first)).unwrap(), first);
        assert_eq!(scopes.load_json(&report.to_json().unwrap(), Some(&first)).unwrap(), first);
        assert!(matches!(scopes.load_json(b"{", None), Err(ScopeError::Report(_))));
        let held = scopes.get(&first).unwrap();
        scopes.drop_loaded(&first);
        assert_eq!(scopes.get(&first).err(), Some(ScopeError::Unknown(first.clone())));
        assert_eq!(held.read(|view| view.threads().count()), 0, "a dropped scope lives on while it is held");
        assert!(scopes.get(&second).is_ok());
        for bad in ["loaded:", "loaded:x", "loaded:99", "Global", ""] {
            assert_eq!(scopes.get(bad).err().map(|e| e.to_string()), Some(format!("unknown stats scope '{bad}'")));
        }
    }
}
