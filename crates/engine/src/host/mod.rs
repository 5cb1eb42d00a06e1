//! Services for the host process rather than the stats: the profiler's own cost, the faults it
//! contained, and the mailbox threads wait on. Imports only `model/`.

pub mod faults;
pub mod mailbox;
pub mod overhead;
