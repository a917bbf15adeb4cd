//! The stencil layout of grid operators on the device (shaders/stencil.wgsl,
//! src/linalg/stencil.rs): chosen at upload for grid operators (the layout their assembly
//! recorded, or one detected in a general matrix) unless the options ask for CSR
//! ([`super::GpuOptions::spmv_layout`]).

use super::kernel::{Kernel, Program};
use super::{imm, shader, GpuBackend, GpuVector, ManagedArray};
use crate::linalg::stencil::StencilMatrix;

/// Storage layout of a matrix on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpmvLayout {
    /// Compressed sparse rows: any matrix.
    Csr,
    /// Diagonal plus upper couplings per axis: grid operators without periodic faces.
    Stencil,
    /// A multigrid transfer of a grid aggregation, held as its two grids (no memory; the
    /// options never choose it: it is what [`crate::linalg::Backend::upload_transfer`] gives).
    Aggregation,
}

/// A stencil matrix on the device.
pub struct GpuStencil {
    dims: [usize; 3],
    diag: ManagedArray,
    off: [ManagedArray; 3],
}

impl GpuStencil {
    pub fn nrows(&self) -> usize {
        self.diag.len()
    }
    /// The grid the stencil couples.
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }
    /// The diagonal and the three upper couplings on the device.
    pub(super) fn views(&self) -> (super::DeviceView<'_>, super::DeviceView<'_>, super::DeviceView<'_>, super::DeviceView<'_>) {
        (self.diag.device_read(), self.off[0].device_read(), self.off[1].device_read(), self.off[2].device_read())
    }
}

pub(super) struct StencilKernels {
    spmv: Kernel,
    spmv_axpby: Kernel,
}

impl StencilKernels {
    pub(super) fn build(dev: &wgpu::Device, f64_mode: bool) -> StencilKernels {
        let p = Program::new(dev, "stencil.wgsl", shader::SHADER_STENCIL, f64_mode);
        StencilKernels { spmv: p.kernel(dev, "stencil_spmv"), spmv_axpby: p.kernel(dev, "stencil_spmv_axpby") }
    }
}

impl GpuBackend {
    pub(super) fn stencil_kernels(&self) -> &StencilKernels {
        self.stencil_kern.get_or_init(|| StencilKernels::build(&self.ctx.device, self.f64_mode))
    }

    pub(super) fn stencil_to_device(&self, s: &StencilMatrix) -> GpuStencil {
        let up = |v: &[f64]| self.array_of(v, self.placement);
        GpuStencil { dims: s.dims, diag: up(&s.diag), off: [up(&s.off[0]), up(&s.off[1]), up(&s.off[2])] }
    }

    /// y ← α A x + β x + γ y with A in the stencil layout (`fused`: the Chebyshev form;
    /// otherwise plain y ← A x).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stencil_spmv(&self, a: &GpuStencil, fused: bool, x: &GpuVector, alpha: f64, beta: f64, gamma: f64, y: &mut GpuVector) {
        let n = a.diag.len();
        if n == 0 {
            return;
        }
        let kern = self.stencil_kernels();
        // one chunk each: the stencil layout is chosen only for vectors that fit one
        let (d, ox, oy, oz) = (a.diag.device_read(), a.off[0].device_read(), a.off[1].device_read(), a.off[2].device_read());
        let xv = x.0.device_read();
        // γ = 0: the kernel never reads y
        let yv = if fused && gamma != 0.0 { y.0.device_rw() } else { y.0.device_overwrite() };
        debug_assert!(xv.nchunks() == 1 && yv.nchunks() == 1);
        let args = [d.chunk(0), ox.chunk(0), oy.chunk(0), oz.chunk(0), xv.chunk(0), yv.chunk(0)].map(Into::into);
        let kernel = if fused { &kern.spmv_axpby } else { &kern.spmv };
        self.rec.run(kernel, &args, &imm::stencil(self.f64_mode, n as u32, a.dims, alpha, beta, gamma), n);
    }
}
