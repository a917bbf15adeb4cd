//! Implementations of [`crate::linalg::Backend`]: where the numbers are computed.
//!
//! - [`cpu`]: host memory, parallel over rows with rayon.
//! - [`gpu`]: WGSL compute shaders through wgpu.
//! - [`timing`]: a wrapper that times every operation of another backend (benchmarks).

pub mod cpu;
pub mod gpu;
pub mod timing;

pub use cpu::CpuBackend;
pub use gpu::GpuBackend;
