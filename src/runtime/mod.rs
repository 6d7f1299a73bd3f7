//! How jifen's long-running parts run: workers under one supervisor that restarts a worker
//! that dies and stops them all on one signal, and HTTP servers on a listener passed in
//! (jifen and the emulator alike), so tests serve on port 0.

mod serve;
mod supervisor;

pub use serve::{Limits, Server, serve, serve_with};
pub use supervisor::{Health, Supervisor, WorkerState};
pub use tokio_util::sync::CancellationToken;

/// Writes to standard output, returning the error a closed pipe gives instead of panicking
/// as `print!` does, so `jifen inbox list | head -1` ends quietly.
pub fn write_out(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    std::io::stdout().lock().write_fmt(args)
}

/// Whether an error is standard output's reader going away (a closed pipe).
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` through [`write_out`]: use it with `?`.
#[macro_export]
macro_rules! say {
    () => {
        $crate::runtime::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::runtime::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`write_out`]: use it with `?`.
#[macro_export]
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::runtime::write_out(format_args!($($arg)*))
    };
}
