//! Parsers of what V8 hands the engine: CPU profiles (inspector JSON, `.cpuprofile`) and the
//! precise coverage behind exact call counts. Imports `model/` and `tables/`.

pub mod cpuprofile;
pub mod exact_counts;
pub mod v8json;
