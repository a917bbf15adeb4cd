//! Implementations of [`crate::linalg::Backend`]: where the numbers are computed.
//!
//! - [`cpu`]: host memory, parallel over rows with rayon.

pub mod cpu;
pub mod gpu;

pub use cpu::CpuBackend;
pub use gpu::GpuBackend;
