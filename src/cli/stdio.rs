//! The program's standard output and error. `println!` panics when stdout is a closed pipe
//! (`qdsim-gpu info | head -1`) or a full device (`> /dev/full`); everything the CLI prints
//! goes through here instead. A closed pipe (EPIPE) is the end of output: later lines are
//! dropped and the exit code is that of the work. Any other write error is kept, later
//! lines are dropped, and [`finish`] reports it (exit 1, one line).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static CLOSED: AtomicBool = AtomicBool::new(false);
static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

fn record(e: std::io::Error) {
    CLOSED.store(true, Ordering::SeqCst);
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        let mut f = FAILED.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(e);
    }
}

fn write_bytes(b: &[u8], flush: bool) {
    if CLOSED.load(Ordering::SeqCst) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(b).and_then(|_| if flush { out.flush() } else { Ok(()) }) {
        record(e);
    }
}

/// Prints `line` and a newline to standard output.
pub fn print_line(line: &str) {
    let mut s = String::with_capacity(line.len() + 1);
    s.push_str(line);
    s.push('\n');
    write_bytes(s.as_bytes(), true);
}

/// Prints `line` and a newline to standard error in one write (the lines of several
/// MPI ranks do not interleave); a closed or full standard error is ignored.
pub fn eprint_line(line: &str) {
    let mut s = String::with_capacity(line.len() + 1);
    s.push_str(line);
    s.push('\n');
    let _ = std::io::stderr().write_all(s.as_bytes());
}

/// Standard output as a writer (for the benchmarks' reports), with the same rules:
/// it never fails, errors are kept for [`finish`].
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_bytes(buf, false);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        write_bytes(&[], true);
        Ok(())
    }
}

/// Flushes standard output; the write error to report, if any (a closed pipe is none).
pub fn finish() -> Option<std::io::Error> {
    write_bytes(&[], true);
    FAILED.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Whether a panic message is std's "failed printing to stdout/stderr" (a `println!`
/// somewhere that met a closed or full stream), and if so whether it was a closed pipe.
pub fn print_panic(msg: &str) -> Option<bool> {
    (msg.starts_with("failed printing to stdout") || msg.starts_with("failed printing to stderr"))
        .then(|| msg.contains("Broken pipe") || msg.contains("os error 32"))
}
