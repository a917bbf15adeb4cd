//! Device-resident scalars for CG (shaders/cg.wgsl): the dot kernels write rᵀz and pᵀAp
//! into a small device buffer and the update kernels read their ratio from it, so an
//! iteration records its dispatches without waiting for the device.

use super::{storage_entry, DeviceView, GpuBackend, GpuVector, ManagedArray, Placement, SHADER_CG};

/// Scalars on the device (a small GpuOnly array).
pub struct GpuScalars {
    vals: ManagedArray,
}

pub(super) struct CgPipelines {
    layout: wgpu::BindGroupLayout,
    axpy_ratio: wgpu::ComputePipeline,
    xpby_ratio: wgpu::ComputePipeline,
    cg_update: wgpu::ComputePipeline,
}

impl GpuBackend {
    fn cg_pipelines(&self) -> &CgPipelines {
        self.cg_pipes.get_or_init(|| {
            let dev = &self.ctx.device;
            let layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("cg"),
                entries: &[storage_entry(0, true), storage_entry(1, true), storage_entry(2, true), storage_entry(3, false), storage_entry(4, false)],
            });
            let [axpy_ratio, xpby_ratio, cg_update]: [wgpu::ComputePipeline; 3] =
                super::compute_pipelines(dev, SHADER_CG, self.f64_mode, &layout, 16, &["axpy_ratio", "xpby_ratio", "cg_update"]).try_into().unwrap_or_else(|_| unreachable!());
            CgPipelines { axpy_ratio, xpby_ratio, cg_update, layout }
        })
    }

    pub(super) fn alloc_scalars_impl(&self, n: usize) -> GpuScalars {
        GpuScalars { vals: ManagedArray::zeros(&self.mem, n.max(1), self.elem as usize, Placement::GpuOnly) }
    }

    pub(super) fn read_scalars_impl(&self, s: &GpuScalars) -> Vec<f64> {
        s.vals.with_host(|b| self.values_of(b))
    }

    pub(super) fn multi_dot_to_impl(&self, basis: &[&GpuVector], x: &GpuVector, s: &mut GpuScalars, first: usize) {
        if basis.is_empty() {
            return;
        }
        assert!(first + basis.len() <= s.vals.len(), "scalar slots {first}..{} beyond {}", first + basis.len(), s.vals.len());
        let out = s.vals.device_rw();
        self.record_dots8(basis, &[x], out.chunk(0), first);
    }

    /// A cg.wgsl kernel over every chunk of `y` (and `r`, `a`, `b`, of the same length).
    #[allow(clippy::too_many_arguments)]
    fn cg_kernel(&self, pipeline: &wgpu::ComputePipeline, a: &DeviceView, b: Option<&DeviceView>, s: &GpuScalars, y: &DeviceView, r: Option<&DeviceView>, num: usize, den: usize, sign: i32) {
        let pipes = self.cg_pipelines();
        let sv = s.vals.device_read();
        for k in 0..y.nchunks() {
            let n = y.chunk_len(k);
            if n == 0 {
                continue;
            }
            let bind = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipes.layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: a.chunk(k).as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: b.map(|v| v.chunk(k)).unwrap_or(&self.dummy).as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: sv.chunk(0).as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 3, resource: y.chunk(k).as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 4, resource: r.map(|v| v.chunk(k)).unwrap_or(&self.dummy_rw).as_entire_binding() },
                ],
            });
            let imm: Vec<u8> = [n as u32, num as u32, den as u32].iter().flat_map(|v| v.to_le_bytes()).chain(sign.to_le_bytes()).collect();
            self.dispatch(pipeline, &bind, &imm, self.groups(n));
        }
    }

    pub(super) fn axpy_ratio_impl(&self, s: &GpuScalars, num: usize, den: usize, sign: f64, x: &GpuVector, y: &mut GpuVector) {
        let sign = if sign < 0.0 { -1 } else { 1 };
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.cg_kernel(&self.cg_pipelines().axpy_ratio, &xv, None, s, &yv, None, num, den, sign);
    }

    pub(super) fn xpby_ratio_impl(&self, x: &GpuVector, s: &GpuScalars, num: usize, den: usize, y: &mut GpuVector) {
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.cg_kernel(&self.cg_pipelines().xpby_ratio, &xv, None, s, &yv, None, num, den, 1);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn cg_update_impl(&self, s: &GpuScalars, num: usize, den: usize, p: &GpuVector, q: &GpuVector, x: &mut GpuVector, r: &mut GpuVector) {
        let (pv, qv, xv, rv) = (p.0.device_read(), q.0.device_read(), x.0.device_rw(), r.0.device_rw());
        self.cg_kernel(&self.cg_pipelines().cg_update, &pv, Some(&qv), s, &xv, Some(&rv), num, den, 1);
    }
}
