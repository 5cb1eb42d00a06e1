//! An append-only vector that readers on any thread index without locks.
//!
//! Elements live in segments that double in size and never move, so a published element stays
//! valid for the vector's lifetime. Writers serialize on a mutex; readers only load the length.

use std::mem::MaybeUninit;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::model::budget::{Budget, Refusal};
use crate::model::sync::lock;

const FIRST_SEGMENT_BITS: u32 = 6;
const SEGMENTS: usize = 26;

pub struct AppendVec<T> {
    segments: [AtomicPtr<MaybeUninit<T>>; SEGMENTS],
    len: AtomicUsize,
    writer: Mutex<()>,
}

// SAFETY: elements are written once before their index is published with Release and only read
// (shared) afterwards; sending or sharing the vector sends or shares its elements.
unsafe impl<T: Send + Sync> Sync for AppendVec<T> {}
// SAFETY: as above; the vector owns its elements.
unsafe impl<T: Send> Send for AppendVec<T> {}

fn segment_len(segment: usize) -> usize {
    1usize << (FIRST_SEGMENT_BITS as usize + segment)
}

fn locate(index: usize) -> (usize, usize) {
    let shifted = index + (1usize << FIRST_SEGMENT_BITS);
    let top_bit = (usize::BITS - 1 - shifted.leading_zeros()) as usize;
    (top_bit - FIRST_SEGMENT_BITS as usize, shifted - (1usize << top_bit))
}

impl<T> Default for AppendVec<T> {
    fn default() -> Self {
        AppendVec {
            segments: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            len: AtomicUsize::new(0),
            writer: Mutex::new(()),
        }
    }
}

impl<T> AppendVec<T> {
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len() {
            return None;
        }
        let (segment, offset) = locate(index);
        let base = self.segments.get(segment)?.load(Ordering::Acquire);
        // SAFETY: `index < len`, and len is only advanced (Release) after the element at that
        // index was written into a segment whose pointer was stored before; segments never move.
        Some(unsafe { (*base.add(offset)).assume_init_ref() })
    }

    /// Appends and returns the new element's index.
    pub fn push(&self, value: T, budget: &Budget) -> Result<usize, Refusal> {
        let _writer = lock(&self.writer);
        let index = self.len.load(Ordering::Relaxed);
        let (segment, offset) = locate(index);
        let slot = self.segments.get(segment).ok_or(Refusal::OverBudget)?;
        let mut base = slot.load(Ordering::Relaxed);
        if base.is_null() {
            base = allocate_segment::<T>(segment_len(segment), budget)?;
            slot.store(base, Ordering::Release);
        }
        // SAFETY: `offset < segment_len(segment)` by construction of `locate`, the slot is
        // unpublished (index == len) and only this writer, holding the mutex, touches it.
        unsafe { (*base.add(offset)).write(value) };
        self.len.store(index + 1, Ordering::Release);
        Ok(index)
    }
}

fn allocate_segment<T>(len: usize, budget: &Budget) -> Result<*mut MaybeUninit<T>, Refusal> {
    let mut storage: Vec<MaybeUninit<T>> = Vec::new();
    budget.grow(&mut storage, len)?;
    // SAFETY: MaybeUninit needs no initialization; capacity is at least `len`.
    unsafe { storage.set_len(len) };
    let boxed = storage.into_boxed_slice();
    Ok(Box::into_raw(boxed).cast::<MaybeUninit<T>>())
}

impl<T> Drop for AppendVec<T> {
    fn drop(&mut self) {
        let len = *self.len.get_mut();
        for (segment, slot) in self.segments.iter_mut().enumerate() {
            let base = *slot.get_mut();
            if base.is_null() {
                continue;
            }
            let capacity = segment_len(segment);
            let first_index = capacity - (1usize << FIRST_SEGMENT_BITS);
            let filled = len.saturating_sub(first_index).min(capacity);
            // SAFETY: the segment was allocated as a boxed slice of `capacity` elements in
            // `allocate_segment`, and its first `filled` elements were initialized by `push`.
            unsafe {
                let slice = std::ptr::slice_from_raw_parts_mut(base, capacity);
                let mut boxed = Box::from_raw(slice);
                for element in boxed.iter_mut().take(filled) {
                    element.assume_init_drop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn locates_across_segments() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
    }

    #[test]
    fn readers_see_published_elements_while_a_writer_appends() {
        let budget = Arc::new(Budget::new(usize::MAX));
        let vec: Arc<AppendVec<String>> = Arc::new(AppendVec::default());
        let writer = {
            let (vec, budget) = (vec.clone(), budget.clone());
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    vec.push(format!("f{i}"), &budget).unwrap();
                }
            })
        };
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let vec = vec.clone();
                std::thread::spawn(move || {
                    let mut checked = 0;
                    while checked < 20_000 {
                        let len = vec.len();
                        for i in checked..len {
                            assert_eq!(vec.get(i).unwrap(), &format!("f{i}"));
                        }
                        checked = len;
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for reader in readers {
            reader.join().unwrap();
        }
        assert_eq!(vec.len(), 20_000);
        assert!(vec.get(20_000).is_none());
    }
}
