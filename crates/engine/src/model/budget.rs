//! The memory budget of one stats session.
//!
//! Every growth path asks the budget before it allocates, then allocates with `try_reserve`.
//! When either says no, the data is dropped and counted: the host never sees an abort.

use std::collections::TryReserveError;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hashbrown::HashMap;

/// The default budget: enough for ~100k functions with their call edges on every thread.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 256 * 1024 * 1024;

/// Why an allocation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes would exceed the session's budget.
    OverBudget,
    /// The allocator itself failed.
    AllocFailed,
}

impl From<TryReserveError> for Refusal {
    fn from(_: TryReserveError) -> Self {
        Refusal::AllocFailed
    }
}

/// Byte accounting for one session, shared by every thread that ingests into it.
#[derive(Debug)]
pub struct Budget {
    limit: AtomicUsize,
    used: AtomicUsize,
    peak: AtomicUsize,
    refusals: AtomicU64,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            refusals: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// A lower limit refuses growth from now on; what is held stays.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }

    /// Claims `bytes` if they fit under the limit.
    pub fn charge(&self, bytes: usize) -> Result<(), Refusal> {
        let claimed = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit())
            });
        match claimed {
            Ok(before) => {
                self.peak.fetch_max(before + bytes, Ordering::Relaxed);
                Ok(())
            }
            Err(_) => {
                self.refusals.fetch_add(1, Ordering::Relaxed);
                Err(Refusal::OverBudget)
            }
        }
    }

    pub fn release(&self, bytes: usize) {
        // Saturating: a release never wraps the counter even if accounting were off by one.
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| Some(used.saturating_sub(bytes)));
    }

    /// Reserves room for `additional` more elements in `vec`, charging the budget for the growth.
    pub fn grow<T>(&self, vec: &mut Vec<T>, additional: usize) -> Result<(), Refusal> {
        let needed = vec.len().saturating_add(additional);
        if needed <= vec.capacity() {
            return Ok(());
        }
        let new_capacity = needed.max(vec.capacity().saturating_mul(2)).max(4);
        let bytes = (new_capacity - vec.capacity()).saturating_mul(size_of::<T>());
        self.charge(bytes)?;
        if let Err(error) = vec.try_reserve_exact(new_capacity - vec.len()) {
            self.release(bytes);
            self.refusals.fetch_add(1, Ordering::Relaxed);
            return Err(error.into());
        }
        Ok(())
    }

    /// Pushes one element, growing through the budget.
    pub fn push<T>(&self, vec: &mut Vec<T>, value: T) -> Result<(), Refusal> {
        self.grow(vec, 1)?;
        vec.push(value);
        Ok(())
    }

    /// A vector of exactly `len` copies of `value`, charged to the budget.
    pub fn filled<T: Clone>(&self, len: usize, value: T) -> Result<Vec<T>, Refusal> {
        let mut vec = Vec::new();
        self.grow(&mut vec, len)?;
        vec.resize(len, value);
        Ok(vec)
    }

    /// Returns the bytes of a vector that is about to be dropped.
    pub fn forget<T>(&self, vec: &Vec<T>) {
        self.release(vec.capacity().saturating_mul(size_of::<T>()));
    }

    /// Copies a string into budgeted memory.
    pub fn string(&self, text: &str) -> Result<String, Refusal> {
        self.charge(text.len())?;
        let mut owned = String::new();
        if let Err(error) = owned.try_reserve_exact(text.len()) {
            self.release(text.len());
            return Err(error.into());
        }
        owned.push_str(text);
        Ok(owned)
    }
}

/// Scratch memory for one fold: charged while it lives, released when it drops.
pub struct Scratch<'b, T> {
    pub vec: Vec<T>,
    budget: &'b Budget,
}

impl<'b, T: Clone> Scratch<'b, T> {
    pub fn filled(budget: &'b Budget, len: usize, value: T) -> Result<Self, Refusal> {
        Ok(Scratch { vec: budget.filled(len, value)?, budget })
    }
}

impl<'b, T> Scratch<'b, T> {
    pub fn empty(budget: &'b Budget) -> Self {
        Scratch { vec: Vec::new(), budget }
    }

    pub fn push(&mut self, value: T) -> Result<(), Refusal> {
        self.budget.push(&mut self.vec, value)
    }

    /// The vector, its charge given back: for results that leave the budgeted code uncharged.
    pub fn into_uncharged(mut self) -> Vec<T> {
        let vec = std::mem::take(&mut self.vec);
        self.budget.forget(&vec);
        vec
    }
}

impl<T> Drop for Scratch<'_, T> {
    fn drop(&mut self) {
        self.budget.forget(&self.vec);
    }
}

/// A scratch hash map whose room is charged to the budget as it is reserved, all of it given
/// back when the map drops. The charge counts hashbrown's control byte per slot and the
/// doubling that growth can leave unused.
pub struct BudgetMap<'b, K, V> {
    pub map: HashMap<K, V>,
    charged: usize,
    budget: &'b Budget,
}

impl<'b, K: Hash + Eq, V> BudgetMap<'b, K, V> {
    pub fn new(budget: &'b Budget) -> Self {
        BudgetMap { map: HashMap::new(), charged: 0, budget }
    }

    pub fn with_capacity(capacity: usize, budget: &'b Budget) -> Result<Self, Refusal> {
        let mut map = BudgetMap::new(budget);
        map.reserve(capacity)?;
        Ok(map)
    }

    fn reserve(&mut self, additional: usize) -> Result<(), Refusal> {
        let bytes = additional * (size_of::<(K, V)>() + 1) * 2;
        self.budget.charge(bytes)?;
        self.charged += bytes;
        self.map.try_reserve(additional).map_err(|_| Refusal::AllocFailed)
    }

    /// Makes room for one more entry, growing by the map's size (at least 16) when it is full.
    pub fn room_for_one(&mut self) -> Result<(), Refusal> {
        if self.map.len() < self.map.capacity() {
            return Ok(());
        }
        self.reserve(self.map.capacity().max(16))
    }

    pub fn entry_or(&mut self, key: K, value: impl FnOnce() -> V) -> Result<&mut V, Refusal> {
        if !self.map.contains_key(&key) {
            self.room_for_one()?;
        }
        Ok(self.map.entry(key).or_insert_with(value))
    }
}

impl<K, V> Drop for BudgetMap<'_, K, V> {
    fn drop(&mut self) {
        self.budget.release(self.charged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_growth_past_the_limit_and_counts_it() {
        let budget = Budget::new(64);
        let mut small: Vec<u64> = Vec::new();
        assert!(budget.grow(&mut small, 4).is_ok());
        assert_eq!(budget.used(), 32);
        let mut large: Vec<u64> = Vec::new();
        assert_eq!(budget.grow(&mut large, 100), Err(Refusal::OverBudget));
        assert_eq!(budget.refusals(), 1);
        assert_eq!(budget.used(), 32);
    }

    #[test]
    fn scratch_returns_its_bytes() {
        let budget = Budget::new(1024);
        {
            let scratch = Scratch::filled(&budget, 10, 0u32).unwrap();
            assert_eq!(scratch.vec.len(), 10);
            assert!(budget.used() >= 40);
        }
        assert_eq!(budget.used(), 0);
    }
}
