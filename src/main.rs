//! The `jifen` binary: parses the command line and hands over to [`jifen::cli`].

use std::process::ExitCode;

use clap::Parser;

// glibc's malloc showed up as a tenth of the callback path's CPU under load; mimalloc's
// per-thread free lists cost a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = jifen::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(jifen::cli::run(cli)) {
        Ok(code) => code,
        // The reader of our output went away (`| head -1`): nothing is wrong.
        Err(e) if jifen::runtime::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
