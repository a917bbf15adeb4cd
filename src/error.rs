//! Error type shared by every layer, and the process exit codes it maps to.

use thiserror::Error;

/// Exit code: the solve converged (or the command succeeded).
pub const EXIT_OK: i32 = 0;
/// Exit code: an internal error (a bug, or an I/O failure writing results).
pub const EXIT_INTERNAL: i32 = 1;
/// Exit code: bad input (scene, materials file, command-line arguments).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code: the solver did not converge; results were written and flagged.
pub const EXIT_NOT_CONVERGED: i32 = 3;

#[derive(Debug, Error)]
pub enum QdError {
    /// Bad input. `path` is the JSON path of the offending field (e.g.
    /// `regions[1].shape.radius`) or a file name; `reason` says what is wrong.
    #[error("invalid input at `{path}`: {reason}")]
    Input { path: String, reason: String },

    /// An I/O failure, with the file it concerns.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A solver that did not reach its tolerance.
    #[error("not converged: {0}")]
    NotConverged(String),

    /// Anything else: a bug or an unexpected state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl QdError {
    pub fn input(path: impl Into<String>, reason: impl Into<String>) -> Self {
        QdError::Input { path: path.into(), reason: reason.into() }
    }
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        QdError::Io { context: context.into(), source }
    }
    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            QdError::Input { .. } => EXIT_BAD_INPUT,
            QdError::NotConverged(_) => EXIT_NOT_CONVERGED,
            QdError::Io { .. } | QdError::Internal(_) => EXIT_INTERNAL,
        }
    }
}

pub type Result<T> = std::result::Result<T, QdError>;

/// A number for a message, compact at every magnitude: `{}` (shortest round-trip) for
/// 1e-4 ≤ |v| < 1e7 and zero, else the shortest scientific form (`1e300`, `2.5e-9`), so a
/// value of 1e300 prints as `1e300`, not as 301 digits. NaN and infinities as Rust prints
/// them. (Here, at the bottom, so that every layer's messages can use it.)
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-4..1e7).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}
