//! The stencil layout of grid operators on the device (shaders/stencil.wgsl,
//! src/linalg/stencil.rs): chosen at upload for matrices that are exactly a symmetric
//! nearest-neighbour stencil, unless `QDSIM_SPMV_LAYOUT=csr`.

use super::{storage_entry, GpuBackend, GpuVector, ManagedArray, SHADER_STENCIL};
use crate::linalg::stencil::StencilMatrix;

/// Storage layout of a matrix on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpmvLayout {
    /// Compressed sparse rows: any matrix.
    Csr,
    /// Diagonal plus upper couplings per axis: grid operators without periodic faces.
    Stencil,
}

impl SpmvLayout {
    /// The layout `QDSIM_SPMV_LAYOUT` asks for (csr or stencil); None: choose per matrix.
    pub fn from_env() -> Option<SpmvLayout> {
        match std::env::var("QDSIM_SPMV_LAYOUT").ok()?.trim() {
            "csr" => Some(SpmvLayout::Csr),
            "stencil" => Some(SpmvLayout::Stencil),
            _ => None,
        }
    }
}

/// A stencil matrix on the device.
pub struct GpuStencil {
    dims: [usize; 3],
    diag: ManagedArray,
    off: [ManagedArray; 3],
}

pub(super) struct StencilPipelines {
    layout: wgpu::BindGroupLayout,
    spmv: wgpu::ComputePipeline,
    spmv_axpby: wgpu::ComputePipeline,
}

impl GpuBackend {
    fn stencil_pipelines(&self) -> &StencilPipelines {
        self.stencil_pipes.get_or_init(|| {
            let dev = &self.ctx.device;
            let mut entries: Vec<wgpu::BindGroupLayoutEntry> = (0..5).map(|b| storage_entry(b, true)).collect();
            entries.push(storage_entry(5, false));
            let layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some("stencil"), entries: &entries });
            let imm = if self.f64_mode { 40 } else { 28 };
            let [spmv, spmv_axpby]: [wgpu::ComputePipeline; 2] =
                super::compute_pipelines(dev, SHADER_STENCIL, self.f64_mode, &layout, imm, &["stencil_spmv", "stencil_spmv_axpby"]).try_into().unwrap_or_else(|_| unreachable!());
            StencilPipelines { spmv, spmv_axpby, layout }
        })
    }

    pub(super) fn upload_stencil(&self, s: &StencilMatrix) -> GpuStencil {
        let up = |v: &[f64]| ManagedArray::from_bytes(&self.mem, &self.to_bytes(v), self.elem as usize, self.placement);
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
        let pipes = self.stencil_pipelines();
        // one chunk each: the stencil layout is chosen only for vectors that fit one
        let (d, ox, oy, oz) = (a.diag.device_read(), a.off[0].device_read(), a.off[1].device_read(), a.off[2].device_read());
        let xv = x.0.device_read();
        // γ = 0: the kernel never reads y
        let yv = if fused && gamma != 0.0 { y.0.device_rw() } else { y.0.device_overwrite() };
        debug_assert!(xv.nchunks() == 1 && yv.nchunks() == 1);
        let buffers = [d.chunk(0), ox.chunk(0), oy.chunk(0), oz.chunk(0), xv.chunk(0), yv.chunk(0)];
        let entries: Vec<wgpu::BindGroupEntry> = buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
        let bind = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipes.layout, entries: &entries });
        let d = a.dims;
        let mut imm: Vec<u8> = [n as u32, d[0] as u32, d[1] as u32, (d[0] * d[1]) as u32].iter().flat_map(|v| v.to_le_bytes()).collect();
        for v in [alpha, beta, gamma] {
            if self.f64_mode {
                imm.extend_from_slice(&v.to_le_bytes());
            } else {
                imm.extend_from_slice(&(v as f32).to_le_bytes());
            }
        }
        let pipeline = if fused { &pipes.spmv_axpby } else { &pipes.spmv };
        self.dispatch(pipeline, &bind, &imm, self.groups(n));
    }
}
