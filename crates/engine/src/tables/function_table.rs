//! The session's function table: interned once by any thread, read by every thread without locks.

use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use hashbrown::HashTable;
use hashbrown::DefaultHashBuilder;

use crate::model::budget::{Budget, Refusal};
use crate::model::frame::{FuncDesc, FuncKey};
use crate::model::sync::lock;
use crate::tables::append_vec::AppendVec;

/// Index of a function in its session's table.
pub type FuncId = u32;

#[derive(Default)]
struct Index {
    funcs: HashTable<FuncId>,
    /// The first function of each module, by the module's hash.
    modules: HashTable<FuncId>,
}

#[derive(Default)]
pub struct FunctionTable {
    entries: AppendVec<FuncDesc>,
    index: Mutex<Index>,
    /// Modules seen so far (`FuncDesc::module_id` is below it).
    modules: AtomicU32,
    hasher: DefaultHashBuilder,
    /// Times a new function could not be interned for want of memory (its samples are dropped).
    refused: AtomicU64,
}

impl FunctionTable {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: FuncId) -> Option<&FuncDesc> {
        self.entries.get(id as usize)
    }

    pub fn module_count(&self) -> usize {
        self.modules.load(Ordering::Acquire) as usize
    }

    fn hash(&self, key: &FuncKey<'_>) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Refused internings: a function refused in several profiles counts once per profile.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts `key` as refused unless it is already known: for profiles dropped before their
    /// functions could be interned.
    pub fn note_if_unknown(&self, key: FuncKey<'_>) {
        let hash = self.hash(&key);
        let index = lock(&self.index);
        let entries = &self.entries;
        if index.funcs.find(hash, |&id| entries.get(id as usize).is_some_and(|desc| desc.key() == key)).is_none() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The id of `key`, interning it on first sight.
    pub fn intern(&self, key: FuncKey<'_>, budget: &Budget) -> Result<FuncId, Refusal> {
        let interned = self.intern_counted(key, budget);
        if interned.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        interned
    }

    fn intern_counted(&self, key: FuncKey<'_>, budget: &Budget) -> Result<FuncId, Refusal> {
        let hash = self.hash(&key);
        let mut index = lock(&self.index);
        let entries = &self.entries;
        let matches = |&id: &FuncId| entries.get(id as usize).is_some_and(|desc| desc.key() == key);
        if let Some(&id) = index.funcs.find(hash, matches) {
            return Ok(id);
        }
        let module_hash = self.hasher.hash_one(key.module);
        let same_module = |&id: &FuncId| entries.get(id as usize).is_some_and(|desc| desc.module == key.module);
        let known_module = index.modules.find(module_hash, same_module).and_then(|&first| entries.get(first as usize)).map(|desc| desc.module_id);
        let module_id = known_module.unwrap_or_else(|| self.modules.load(Ordering::Relaxed));
        let desc = FuncDesc {
            name: budget.string(key.name)?,
            module: budget.string(key.module)?,
            module_id,
            line: key.line,
            column: key.column,
            kind: key.kind,
            script_id: budget.string(key.script_id)?,
        };
        let string_bytes = desc.name.len() + desc.module.len() + desc.script_id.len();
        let new_module = known_module.is_none();
        let pushed = self
            .reserve(&mut index.funcs, budget, |desc| self.hash(&desc.key()))
            .and_then(|()| if new_module { self.reserve(&mut index.modules, budget, |desc| self.hasher.hash_one(&desc.module)) } else { Ok(()) })
            .and_then(|()| entries.push(desc, budget));
        let position = match pushed {
            Ok(position) => position,
            Err(refusal) => {
                budget.release(string_bytes);
                return Err(refusal);
            }
        };
        let id = FuncId::try_from(position).map_err(|_| Refusal::OverBudget)?;
        index.funcs.insert_unique(hash, id, |&id| entries.get(id as usize).map_or(0, |desc| self.hash(&desc.key())));
        if new_module {
            index.modules.insert_unique(module_hash, id, |&id| entries.get(id as usize).map_or(0, |desc| self.hasher.hash_one(&desc.module)));
            self.modules.store(module_id.saturating_add(1), Ordering::Release);
        }
        Ok(id)
    }

    /// Room for one more id in `table`, whose ids hash as `hash_of` their function.
    fn reserve(&self, table: &mut HashTable<FuncId>, budget: &Budget, hash_of: impl Fn(&FuncDesc) -> u64) -> Result<(), Refusal> {
        if table.len() < table.capacity() {
            return Ok(());
        }
        let growth = table.capacity().max(16);
        budget.charge(growth * (size_of::<FuncId>() + 1))?;
        let entries = &self.entries;
        let hasher = |&id: &FuncId| entries.get(id as usize).map_or(0, &hash_of);
        table.try_reserve(growth, hasher).map_err(|_| Refusal::AllocFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::frame::FuncKind;

    fn key(name: &str) -> FuncKey<'_> {
        FuncKey { name, module: "/app.js", line: 1, column: 1, kind: FuncKind::User, script_id: "" }
    }

    #[test]
    fn interns_each_function_once() {
        let budget = Budget::new(usize::MAX);
        let table = FunctionTable::default();
        let a = table.intern(key("a"), &budget).unwrap();
        let b = table.intern(key("b"), &budget).unwrap();
        assert_ne!(a, b);
        assert_eq!(table.intern(key("a"), &budget).unwrap(), a);
        for i in 0..1000 {
            table.intern(key(&format!("f{i}")), &budget).unwrap();
        }
        assert_eq!(table.len(), 1002);
        assert_eq!(table.get(b).unwrap().name, "b");
    }

    #[test]
    fn functions_of_one_module_share_its_id() {
        let budget = Budget::new(usize::MAX);
        let table = FunctionTable::default();
        fn in_module<'a>(name: &'a str, module: &'a str) -> FuncKey<'a> {
            FuncKey { module, ..key(name) }
        }
        let ids: Vec<FuncId> = [("a", "/a.js"), ("b", "/b.js"), ("c", "/a.js"), ("d", ""), ("e", "/b.js")]
            .iter()
            .map(|&(name, module)| table.intern(in_module(name, module), &budget).unwrap())
            .collect();
        let module_ids: Vec<u32> = ids.iter().map(|&id| table.get(id).unwrap().module_id).collect();
        assert_eq!(module_ids, [0, 1, 0, 2, 1]);
        assert_eq!(table.module_count(), 3);
        for i in 0..100 {
            let name = format!("f{i}");
            table.intern(in_module(&name, if i % 2 == 0 { "/a.js" } else { "/c.js" }), &budget).unwrap();
        }
        assert_eq!(table.module_count(), 4);
    }

    #[test]
    fn refuses_new_functions_past_the_budget() {
        let budget = Budget::new(2048);
        let table = FunctionTable::default();
        let refused = (0..100).map(|i| table.intern(key(&format!("function{i}")), &budget)).filter(Result::is_err).count();
        assert!(refused > 0);
        assert_eq!(table.refused(), refused as u64);
        assert!(budget.used() <= 2048);
    }
}
