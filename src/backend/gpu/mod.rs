//! The GPU backend: the [`crate::linalg::Backend`] trait on wgpu compute shaders
//! (shaders/*.wgsl, embedded in the binary).
//!
//! Vectors and matrix values are f32 on the device by default (every adapter has f32;
//! Metal has no f64), f64 where the options ask and the adapter has SHADER_F64.
//! Reductions (shaders/multi.wgsl) are deterministic two-pass workgroup trees with
//! Kahan-compensated per-thread sums. Commands are recorded into one pending encoder and
//! submitted only when a result must come back to the host (a dot product, a download) or
//! after [`FLUSH_EVERY`] dispatches, so a Chebyshev filter step or a block of axpys costs
//! no host round trip. Dot products of a whole block (`block_dot`) are batched into one
//! submission and one read-back.
//!
//! Files: backend.rs (construction and the `Backend` operations), vector.rs (vectors and
//! the element-wise kernels), matrix.rs (CSR upload in row blocks, the product, the
//! [`GpuMatrix`] of either layout), stencil.rs (the stencil layout), multi.rs (batched dot
//! products and axpys), block.rs (the block operations of LOBPCG: SpMM, block axpy and
//! scaling, column dots and Gram matrices into device scalars), scalars.rs (device-resident CG scalars), halo.rs (the halo access of
//! the distributed backend); the kernel layer: shader.rs (the WGSL files and their
//! prelude), kernel.rs (programs, kernels, binding and dispatch), imm.rs (the immediates);
//! memory/ (arrays, pools, transfers, the command stream), context.rs (adapters),
//! probe.rs (buffers outside the pool and copies on them: the memory-regime benchmark),
//! options.rs (how the backend is set up; the environment adapters for cli/).

mod backend;
mod block;
pub mod context;
mod halo;
pub mod imm;
pub mod kernel;
pub mod matrix;
pub mod memory;
mod multi;
pub mod options;
pub mod probe;
mod scalars;
pub mod shader;
pub mod stencil;
pub mod vector;

use std::sync::Arc;

pub use context::{list_adapters, AdapterSummary, GpuContext};
pub use kernel::FLUSH_EVERY;
use kernel::{Kernel, Recorder};
pub use matrix::{plan_row_blocks, GpuCsr, GpuMatrix, RowBlock, ROW_STEP};
pub use block::BLOCK_BINDINGS;
pub use memory::{Access, DeviceView, GpuCounts, GpuStats, Home, KernelProfile, KernelTime, ManagedArray, MemoryManager, Placement, Residency};
pub use options::{GpuOptions, MemoryHints};
pub use probe::ProbeBuffer;
pub use scalars::GpuScalars;
pub use shader::{shader_source, SHADERS};
pub use vector::GpuVector;

/// The element-wise, product and batched-dot kernels (vector.wgsl, spmv.wgsl, multi.wgsl:
/// 14 pipelines), the first ones a solve uses.
struct Kernels {
    fill: Kernel,
    copy: Kernel,
    copy4: Kernel,
    axpy: Kernel,
    xpby: Kernel,
    scale: Kernel,
    pointwise_mul: Kernel,
    spmv: Kernel,
    spmv_axpby: Kernel,
    /// The products with [`WIDE_ROW`] threads per row, for rows of many entries.
    spmv_wide: Kernel,
    spmv_axpby_wide: Kernel,
    dot8_partial: Kernel,
    dot8_final: Kernel,
    axpy8: Kernel,
}

/// [`Kernels`], compiled on the backend's background thread from construction on (so the
/// constructor returns once the device exists, compiling no pipeline itself); the first
/// use (`self.kern.fill`, through `Deref`) waits for that thread, or compiles them itself
/// where no thread could be started. Built once either way (`OnceLock`).
struct BasicKernels {
    cell: Arc<std::sync::OnceLock<Kernels>>,
    device: wgpu::Device,
    f64_mode: bool,
}

impl std::ops::Deref for BasicKernels {
    type Target = Kernels;
    fn deref(&self) -> &Kernels {
        self.cell.get_or_init(|| Kernels::build(&self.device, self.f64_mode))
    }
}

/// The wgpu backend.
pub struct GpuBackend {
    ctx: GpuContext,
    kern: BasicKernels,
    /// Binds and records the kernels.
    rec: Recorder,
    /// Buffers, transfers, the pending command stream and the statistics.
    mem: Arc<MemoryManager>,
    placement: Placement,
    /// The layout matrices are uploaded in (None: chosen per matrix).
    spmv_layout: Option<stencil::SpmvLayout>,
    /// f64 kernels and storage (adapters with SHADER_F64) instead of f32.
    f64_mode: bool,
    /// Bytes per vector element: 4 or 8.
    elem: u64,
    /// The CG kernels (shaders/cg.wgsl), compiled in the background from construction on
    /// (a first use before that is done waits for it, or compiles them itself).
    cg_kern: Arc<std::sync::OnceLock<scalars::CgKernels>>,
    /// The stencil-layout kernels (shaders/stencil.wgsl), likewise.
    stencil_kern: Arc<std::sync::OnceLock<stencil::StencilKernels>>,
    /// The block kernels (shaders/block.wgsl, shaders/spmm.wgsl), likewise; None where the
    /// adapter binds too few storage buffers per stage.
    block_kern: Arc<std::sync::OnceLock<Option<block::BlockKernels>>>,
}
