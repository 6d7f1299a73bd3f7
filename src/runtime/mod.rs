//! How jifen's long-running parts run: workers under one supervisor that restarts a worker
//! that dies and stops them all on one signal, and HTTP servers on a listener passed in
//! (jifen and the emulator alike), so tests serve on port 0.

mod serve;
mod supervisor;

pub use serve::{Server, serve};
pub use supervisor::{Health, Supervisor, WorkerState};
pub use tokio_util::sync::CancellationToken;
