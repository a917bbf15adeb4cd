//! Implementations of [`crate::linalg::Backend`]: where the numbers are computed.
//!
//! - [`cpu`]: host memory, parallel over rows with rayon.

pub mod cpu;

pub use cpu::CpuBackend;
