//! Device-resident scalars for CG (shaders/cg.wgsl): the dot kernels write rᵀz and pᵀAp
//! into a small device buffer and the update kernels read their ratio from it, so an
//! iteration records its dispatches without waiting for the device.

use super::kernel::{Arg, Kernel, Program};
use super::{imm, shader, DeviceView, GpuBackend, GpuVector, ManagedArray, Placement};

/// Scalars on the device (a small GpuOnly array).
pub struct GpuScalars {
    vals: ManagedArray,
}

impl GpuScalars {
    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.vals.len()
    }
    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }
    /// The one device buffer, for kernels that write scalars.
    pub(super) fn view_rw(&self) -> DeviceView<'_> {
        self.vals.device_rw()
    }
}

pub(super) struct CgKernels {
    axpy_ratio: Kernel,
    xpby_ratio: Kernel,
    cg_update: Kernel,
}

impl CgKernels {
    pub(super) fn build(dev: &wgpu::Device, f64_mode: bool) -> CgKernels {
        let p = Program::new(dev, "cg.wgsl", shader::SHADER_CG, f64_mode);
        CgKernels { axpy_ratio: p.kernel(dev, "axpy_ratio"), xpby_ratio: p.kernel(dev, "xpby_ratio"), cg_update: p.kernel(dev, "cg_update") }
    }
}

impl GpuBackend {
    pub(super) fn cg_kernels(&self) -> &CgKernels {
        self.cg_kern.get_or_init(|| CgKernels::build(&self.ctx.device, self.f64_mode))
    }

    pub(super) fn alloc_scalars_impl(&self, n: usize) -> GpuScalars {
        // one chunk whatever the chunk limit (a forced small one in tests): the kernels
        // address the scalars by index in one binding
        GpuScalars { vals: ManagedArray::zeros_one_chunk(&self.mem, n.max(1), self.elem as usize, Placement::GpuOnly) }
    }

    pub(super) fn read_scalars_impl(&self, s: &GpuScalars) -> Vec<f64> {
        s.vals.with_host(|b| self.values_of(b))
    }

    pub(super) fn multi_dot_to_impl(&self, basis: &[&GpuVector], x: &GpuVector, s: &mut GpuScalars, first: usize) {
        if basis.is_empty() {
            return;
        }
        assert!(first + basis.len() <= s.vals.len(), "scalar slots {first}..{} beyond {}", first + basis.len(), s.vals.len());
        let out = s.view_rw();
        self.record_dots8(basis, &[x], out.chunk(0), first);
    }

    /// A cg.wgsl kernel over every chunk of `y` (and `r`, `a`, `b`, of the same length).
    #[allow(clippy::too_many_arguments)]
    fn cg_kernel(&self, kernel: &Kernel, a: &DeviceView, b: Option<&DeviceView>, s: &GpuScalars, y: &DeviceView, r: Option<&DeviceView>, num: usize, den: usize, sign: i32) {
        let sv = s.vals.device_read();
        for k in 0..y.nchunks() {
            let n = y.chunk_len(k);
            if n == 0 {
                continue;
            }
            let args: [Arg; 5] = [a.chunk(k).into(), b.map(|v| v.chunk(k)).into(), sv.chunk(0).into(), y.chunk(k).into(), r.map(|v| v.chunk(k)).into()];
            self.rec.run(kernel, &args, &imm::cg(n as u32, num as u32, den as u32, sign), n);
        }
    }

    pub(super) fn axpy_ratio_impl(&self, s: &GpuScalars, num: usize, den: usize, sign: f64, x: &GpuVector, y: &mut GpuVector) {
        let sign = if sign < 0.0 { -1 } else { 1 };
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.cg_kernel(&self.cg_kernels().axpy_ratio, &xv, None, s, &yv, None, num, den, sign);
    }

    pub(super) fn xpby_ratio_impl(&self, x: &GpuVector, s: &GpuScalars, num: usize, den: usize, y: &mut GpuVector) {
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.cg_kernel(&self.cg_kernels().xpby_ratio, &xv, None, s, &yv, None, num, den, 1);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn cg_update_impl(&self, s: &GpuScalars, num: usize, den: usize, p: &GpuVector, q: &GpuVector, x: &mut GpuVector, r: &mut GpuVector) {
        let (pv, qv, xv, rv) = (p.0.device_read(), q.0.device_read(), x.0.device_rw(), r.0.device_rw());
        self.cg_kernel(&self.cg_kernels().cg_update, &pv, Some(&qv), s, &xv, Some(&rv), num, den, 1);
    }
}
