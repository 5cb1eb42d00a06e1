//! A flat CPU profile: V8's sample tree as parallel arrays, checked before anything folds it.

// `Children` and `preorder` index arrays they sized themselves, after `validate`.
#![allow(clippy::indexing_slicing)]

use std::fmt;

use crate::model::budget::{Budget, Refusal, Scratch};

/// A call frame as the profile names it (positions 0-based, as V8 gives them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallFrame {
    pub name: String,
    pub url: String,
    pub script_id: String,
    pub line: i32,
    pub column: i32,
}

/// The parent of a root node.
pub const NO_PARENT: u32 = u32::MAX;

/// One profile of one thread, as the sampler produced it. Times are µs on the monotonic clock.
#[derive(Debug, Clone, Default)]
pub struct FlatProfile {
    /// Distinct call frames; nodes point into this list.
    pub frames: Vec<CallFrame>,
    /// Parent node index of each node, or `NO_PARENT`.
    pub node_parent: Vec<u32>,
    /// Frame index of each node.
    pub node_frame: Vec<u32>,
    /// Node index of each sample, in time order.
    pub samples: Vec<u32>,
    /// Gap before each sample; the first is relative to `start_time`.
    pub time_deltas: Vec<i64>,
    pub start_time: i64,
    pub end_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// The profile contradicts itself; the text names what is wrong.
    Malformed(String),
    /// Memory for folding it was refused.
    Refused(Refusal),
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileError::Malformed(reason) => write!(f, "malformed profile: {reason}"),
            ProfileError::Refused(Refusal::OverBudget) => write!(f, "profile dropped: memory budget exhausted"),
            ProfileError::Refused(Refusal::AllocFailed) => write!(f, "profile dropped: allocation failed"),
        }
    }
}

impl std::error::Error for ProfileError {}

impl From<Refusal> for ProfileError {
    fn from(refusal: Refusal) -> Self {
        ProfileError::Refused(refusal)
    }
}

fn malformed(reason: String) -> ProfileError {
    ProfileError::Malformed(reason)
}

impl FlatProfile {
    pub fn node_count(&self) -> usize {
        self.node_parent.len()
    }

    /// Checks every index and length, so folding can trust them.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let nodes = self.node_count();
        if self.node_frame.len() != nodes {
            return Err(malformed(format!("{} nodes but {} node frames", nodes, self.node_frame.len())));
        }
        if u32::try_from(nodes).is_err() || nodes == NO_PARENT as usize {
            return Err(malformed(format!("{nodes} nodes is more than a profile can hold")));
        }
        if self.time_deltas.len() != self.samples.len() {
            return Err(malformed(format!(
                "{} samples but {} time deltas",
                self.samples.len(),
                self.time_deltas.len()
            )));
        }
        if self.end_time < self.start_time {
            return Err(malformed(format!("end time {} before start time {}", self.end_time, self.start_time)));
        }
        if let Some((node, &frame)) = self.node_frame.iter().enumerate().find(|(_, f)| **f as usize >= self.frames.len()) {
            return Err(malformed(format!("node {node} names frame {frame}, but there are {} frames", self.frames.len())));
        }
        if let Some((node, &parent)) =
            self.node_parent.iter().enumerate().find(|(_, p)| **p != NO_PARENT && **p as usize >= nodes)
        {
            return Err(malformed(format!("node {node} names parent {parent}, but there are {nodes} nodes")));
        }
        if let Some((index, &node)) = self.samples.iter().enumerate().find(|(_, n)| **n as usize >= nodes) {
            return Err(malformed(format!("sample {index} names node {node}, but there are {nodes} nodes")));
        }
        Ok(())
    }

    /// The time of each sample (µs): the start time plus the deltas so far.
    pub(crate) fn sample_times<'b>(&self, budget: &'b Budget) -> Result<Scratch<'b, i64>, Refusal> {
        let mut times = Scratch::filled(budget, self.samples.len(), 0i64)?;
        let mut time = self.start_time;
        for (slot, &delta) in times.vec.iter_mut().zip(&self.time_deltas) {
            time = time.saturating_add(delta);
            *slot = time;
        }
        Ok(times)
    }

    /// Node indices with every parent before its children; fails on a cycle.
    pub(crate) fn preorder<'b>(&self, budget: &'b Budget) -> Result<Scratch<'b, u32>, ProfileError> {
        let nodes = self.node_count();
        let children = Children::of(&self.node_parent, budget)?;
        let mut order = Scratch::empty(budget);
        budget.grow(&mut order.vec, nodes)?;
        let mut stack = Scratch::empty(budget);
        for (node, &parent) in self.node_parent.iter().enumerate() {
            if parent == NO_PARENT {
                stack.push(node as u32)?;
            }
        }
        while let Some(node) = stack.vec.pop() {
            order.push(node)?;
            for &child in children.of_node(node) {
                stack.push(child)?;
            }
        }
        if order.vec.len() != nodes {
            return Err(malformed(format!("{} of {} nodes are in a parent cycle", nodes - order.vec.len(), nodes)));
        }
        Ok(order)
    }
}

/// Children lists of a parent array, in one allocation (CSR).
pub(crate) struct Children<'b> {
    start: Scratch<'b, u32>,
    list: Scratch<'b, u32>,
}

impl<'b> Children<'b> {
    pub(crate) fn of(parents: &[u32], budget: &'b Budget) -> Result<Self, Refusal> {
        let nodes = parents.len();
        let mut start = Scratch::filled(budget, nodes + 1, 0u32)?;
        for &parent in parents {
            if let Some(count) = start.vec.get_mut(parent as usize + 1) {
                *count += 1;
            }
        }
        for i in 1..start.vec.len() {
            start.vec[i] += start.vec[i - 1];
        }
        let mut fill = Scratch::filled(budget, nodes, 0u32)?;
        fill.vec.copy_from_slice(&start.vec[..nodes]);
        let mut list = Scratch::filled(budget, start.vec[nodes] as usize, 0u32)?;
        for (node, &parent) in parents.iter().enumerate() {
            if let Some(slot) = fill.vec.get_mut(parent as usize) {
                list.vec[*slot as usize] = node as u32;
                *slot += 1;
            }
        }
        Ok(Children { start, list })
    }

    pub(crate) fn of_node(&self, node: u32) -> &[u32] {
        let from = self.start.vec[node as usize] as usize;
        let to = self.start.vec[node as usize + 1] as usize;
        &self.list.vec[from..to]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str) -> CallFrame {
        CallFrame { name: name.into(), url: "file:///t.js".into(), script_id: "1".into(), line: 0, column: 0 }
    }

    fn tree(parents: Vec<u32>) -> FlatProfile {
        let nodes = parents.len();
        FlatProfile {
            frames: vec![frame("a")],
            node_parent: parents,
            node_frame: vec![0; nodes],
            ..FlatProfile::default()
        }
    }

    #[test]
    fn preorder_puts_parents_first() {
        let profile = tree(vec![2, 2, NO_PARENT, 0]);
        profile.validate().unwrap();
        let budget = Budget::new(usize::MAX);
        let order = profile.preorder(&budget).unwrap();
        let position = |n: u32| order.vec.iter().position(|&x| x == n).unwrap();
        assert_eq!(order.vec.len(), 4);
        assert!(position(2) < position(0) && position(0) < position(3) && position(2) < position(1));
    }

    #[test]
    fn rejects_cycles_and_bad_indices() {
        let budget = Budget::new(usize::MAX);
        let cycle = tree(vec![NO_PARENT, 2, 1]);
        assert!(matches!(cycle.preorder(&budget), Err(ProfileError::Malformed(m)) if m.contains("cycle")));
        let bad_parent = tree(vec![NO_PARENT, 7]);
        assert!(matches!(bad_parent.validate(), Err(ProfileError::Malformed(m)) if m.contains("parent 7")));
        let mut bad_sample = tree(vec![NO_PARENT]);
        bad_sample.samples = vec![3];
        bad_sample.time_deltas = vec![1];
        assert!(matches!(bad_sample.validate(), Err(ProfileError::Malformed(m)) if m.contains("sample 0")));
    }
}
