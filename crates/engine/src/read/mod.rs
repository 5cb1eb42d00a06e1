//! Reading a session: selecting and merging threads, drawing a report, encoding the wire layout.
//! Imports the layers below and `host/overhead` (whose costs the wire carries).

pub mod collect;
pub mod encode;
pub mod query;
