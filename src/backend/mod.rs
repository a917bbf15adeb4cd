//! Implementations of [`crate::linalg::Backend`]: where the numbers are computed.
//!
//! - [`cpu`]: host memory, parallel over rows with rayon.
//! - [`gpu`]: WGSL compute shaders through wgpu.
//! - [`timing`]: a wrapper that times every operation of another backend (benchmarks).
//! - [`select`]: the one place that chooses between them for a solve (`auto`'s crossover).

pub mod cpu;
pub mod gpu;
pub mod select;
pub mod timing;

pub use cpu::CpuBackend;
pub use gpu::GpuBackend;
