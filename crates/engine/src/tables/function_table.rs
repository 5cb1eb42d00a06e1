//! The session's function table: interned once by any thread, read by every thread without locks.

use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashTable;
use hashbrown::DefaultHashBuilder;

use crate::model::budget::{Budget, Refusal};
use crate::model::frame::{FuncDesc, FuncKey};
use crate::model::sync::lock;
use crate::tables::append_vec::AppendVec;

/// Index of a function in its session's table.
pub type FuncId = u32;

#[derive(Default)]
pub struct FunctionTable {
    entries: AppendVec<FuncDesc>,
    index: Mutex<HashTable<FuncId>>,
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
        if index.find(hash, |&id| entries.get(id as usize).is_some_and(|desc| desc.key() == key)).is_none() {
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
        if let Some(&id) = index.find(hash, matches) {
            return Ok(id);
        }
        let desc = FuncDesc {
            name: budget.string(key.name)?,
            module: budget.string(key.module)?,
            line: key.line,
            column: key.column,
            kind: key.kind,
            script_id: budget.string(key.script_id)?,
        };
        let string_bytes = desc.name.len() + desc.module.len() + desc.script_id.len();
        let pushed = self.reserve_index(&mut index, budget).and_then(|()| entries.push(desc, budget));
        let position = match pushed {
            Ok(position) => position,
            Err(refusal) => {
                budget.release(string_bytes);
                return Err(refusal);
            }
        };
        let id = FuncId::try_from(position).map_err(|_| Refusal::OverBudget)?;
        let hasher = |&id: &FuncId| entries.get(id as usize).map_or(0, |desc| self.hash(&desc.key()));
        index.insert_unique(hash, id, hasher);
        Ok(id)
    }

    fn reserve_index(&self, index: &mut HashTable<FuncId>, budget: &Budget) -> Result<(), Refusal> {
        if index.len() < index.capacity() {
            return Ok(());
        }
        let growth = index.capacity().max(16);
        budget.charge(growth * (size_of::<FuncId>() + 1))?;
        let entries = &self.entries;
        let hasher = |&id: &FuncId| entries.get(id as usize).map_or(0, |desc| self.hash(&desc.key()));
        index.try_reserve(growth, hasher).map_err(|_| Refusal::AllocFailed)
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
    fn refuses_new_functions_past_the_budget() {
        let budget = Budget::new(2048);
        let table = FunctionTable::default();
        let refused = (0..100).map(|i| table.intern(key(&format!("function{i}")), &budget)).filter(Result::is_err).count();
        assert!(refused > 0);
        assert_eq!(table.refused(), refused as u64);
        assert!(budget.used() <= 2048);
    }
}
