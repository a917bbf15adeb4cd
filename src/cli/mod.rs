//! Command-line front end: parses arguments (clap) and the environment ([`env`], the only
//! reader of environment variables), runs the pipeline in [`crate::pipeline`], prints a
//! summary and maps outcomes to exit codes (0 converged, 2 bad input, 3 not converged,
//! 1 internal error).
//!
//! - [`args`]: the subcommands and flags (clap).
//! - [`env`]: the environment variables, read into options.
//! - [`commands`]: each subcommand, from its arguments to an exit code.
//! - [`summary`]: what a solve or a sweep prints.
//! - [`progress`]: progress bars.
//! - [`stdio`]: standard output and error that never panic.

use clap::Parser;

use crate::error::{EXIT_INTERNAL, EXIT_OK};

/// eprintln! on rank 0 only (every rank of an MPI job reaches the same outcome); a closed
/// standard error is not a panic.
macro_rules! root_eprintln {
    ($($t:tt)*) => {
        if $crate::parallel::is_root() {
            $crate::cli::stdio::eprint_line(&format!($($t)*))
        }
    };
}

/// println! through [`stdio`]: a closed standard output ends the output, a full one is
/// reported at the end, neither is a panic.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::stdio::print_line(&format!($($t)*))
    };
}

mod args;
mod commands;
pub mod env;
mod progress;
pub mod stdio;
mod summary;

use args::Cli;
use commands::dispatch;

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    // a println! that meets a closed or full stream is handled below, without the default
    // hook's panic message and backtrace note
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload_as_str().and_then(stdio::print_panic).is_none() {
            default_hook(info)
        }
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version with exit 0 and usage errors with exit 2; a closed
            // pipe ends the help quietly, a full stdout is one line and exit 1
            return match e.print() {
                Err(w) if w.kind() != std::io::ErrorKind::BrokenPipe && e.exit_code() == EXIT_OK => {
                    stdio::eprint_line(&format!("error: writing to standard output: {w}"));
                    EXIT_INTERNAL
                }
                _ => e.exit_code(),
            };
        }
    };
    // MPI (feature `mpi`): every rank runs the same command; kept until the end of main
    let _mpi = crate::parallel::init(&env::parallel_init());
    let outcome = std::panic::catch_unwind(|| dispatch(cli));
    let stdout_error = stdio::finish();
    if let Some(e) = &stdout_error {
        stdio::eprint_line(&format!("{}error: writing to standard output: {e}", rank_prefix()));
    }
    match outcome {
        Ok(Ok(code)) if code == EXIT_OK && stdout_error.is_some() => crate::parallel::abort_job(EXIT_INTERNAL),
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            stdio::eprint_line(&format!("{}error: {e}", rank_prefix()));
            crate::parallel::abort_job(e.exit_code())
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            match stdio::print_panic(&msg) {
                // a println! outside this module met a closed pipe: the end of output
                Some(true) => EXIT_OK,
                Some(false) => {
                    stdio::eprint_line(&format!("{}error: {}", rank_prefix(), msg.replacen("failed printing to", "writing to standard", 1).replacen("standard stdout", "standard output", 1).replacen("standard stderr", "standard error", 1)));
                    crate::parallel::abort_job(EXIT_INTERNAL)
                }
                None => {
                    stdio::eprint_line(&format!("{}internal error: {msg} (this is a bug; please report it with the scene)", rank_prefix()));
                    crate::parallel::abort_job(EXIT_INTERNAL)
                }
            }
        }
    }
}

/// "rank r of N (host): " in an MPI job of several ranks, else nothing.
fn rank_prefix() -> String {
    match crate::parallel::world() {
        Some(w) if w.size() > 1 => format!("rank {} of {} ({}): ", w.rank(), w.size(), w.host()),
        _ => String::new(),
    }
}
