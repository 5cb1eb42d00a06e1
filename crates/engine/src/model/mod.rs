//! The basic types every layer above shares: the memory budget, locks, clocks, the flat profile,
//! source maps and what a frame is. Imports nothing of the engine.

pub mod budget;
pub mod clock;
pub mod flat_profile;
pub mod frame;
pub mod sourcemap;
pub mod sync;
