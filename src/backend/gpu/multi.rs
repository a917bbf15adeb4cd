//! Batched kernels over up to eight basis vectors (shaders/multi.wgsl): blocks of dot
//! products as two-pass tree reductions recorded without a read-back, and y ← y + Σ c_i b_i.
//! A block of m dot products costs ⌈m/8⌉ dispatch pairs per x.

use super::kernel::Arg;
use super::{imm, DeviceView, GpuBackend, GpuVector};

/// Basis vectors one batched kernel reads (shaders/multi.wgsl).
const MULTI: usize = 8;
/// Workgroups of the first reduction pass (partials per dot product).
const MAX_PARTIALS: u32 = 1024;

impl GpuBackend {
    /// Arguments of the batched kernels: basis slots (unused beyond `chunk`), x, work, out.
    pub(super) fn multi_args<'a>(chunk: &[&'a wgpu::Buffer], x: Option<&'a wgpu::Buffer>, work: Arg<'a>, out: Option<&'a wgpu::Buffer>) -> [Arg<'a>; MULTI + 3] {
        let mut args = [Arg::Unused; MULTI + 3];
        for (a, b) in args.iter_mut().zip(chunk) {
            *a = Arg::Whole(b);
        }
        args[MULTI] = x.into();
        args[MULTI + 1] = work;
        args[MULTI + 2] = out.into();
        args
    }

    /// basis_iᵀ x_j for all i, j, column-major (i fastest): one submission and one
    /// read-back for the whole block (see [`GpuBackend::record_dots8`]).
    pub(super) fn block_dots8(&self, basis: &[&GpuVector], xs: &[&GpuVector]) -> Vec<f64> {
        let (m, b) = (basis.len(), xs.len());
        if m == 0 || b == 0 {
            return Vec::new();
        }
        if xs[0].0.is_empty() {
            return vec![0.0; m * b];
        }
        let out = self.mem.scratch((m * b) as u64 * self.elem);
        self.record_block_dots(basis, xs, &out, 0);
        self.read_values(&out, m * b)
    }

    /// Record the dispatches that write basis_iᵀ x_j to `out[slot0 + i + j·m]`, without a
    /// read-back: per x and group of eight basis vectors, one partial dispatch per chunk
    /// (their partials side by side) and one final reduction.
    pub(super) fn record_dots8(&self, basis: &[&GpuVector], xs: &[&GpuVector], out: &wgpu::Buffer, slot0: usize) {
        let (m, b) = (basis.len(), xs.len());
        if m == 0 || b == 0 || xs[0].0.is_empty() {
            return;
        }
        let n = xs[0].0.len();
        let bv: Vec<DeviceView> = basis.iter().map(|v| v.0.device_read()).collect();
        let xv: Vec<DeviceView> = xs.iter().map(|v| v.0.device_read()).collect();
        let nch = xv[0].nchunks();
        let wg = self.kern.dot8_partial.workgroup() as u64;
        let parts: Vec<u32> = (0..nch).map(|k| ((xv[0].chunk_len(k) as u64).div_ceil(wg) as u32).clamp(1, MAX_PARTIALS)).collect();
        let npart: u32 = parts.iter().sum();
        let groups8 = m.div_ceil(MULTI);
        let stride = (MULTI as u64 * npart as u64 * self.elem).div_ceil(256) * 256;
        let work = self.mem.scratch(stride * (groups8 * b) as u64);
        for (jx, x) in xv.iter().enumerate() {
            for c in 0..groups8 {
                let start = c * MULTI;
                let group = &bv[start..(start + MULTI).min(m)];
                let region = Arg::Part(&work, stride * (jx * groups8 + c) as u64, MULTI as u64 * npart as u64 * self.elem);
                let mut first = 0u32;
                let mut bind = None;
                for (k, &p) in parts.iter().enumerate() {
                    let chunk: Vec<&wgpu::Buffer> = group.iter().map(|v| v.chunk(k)).collect();
                    let bg = self.rec.bind(&self.kern.dot8_partial, &Self::multi_args(&chunk, Some(x.chunk(k)), region, Some(out)));
                    let imm = imm::multi(self.f64_mode, x.chunk_len(k) as u32, group.len() as u32, first, npart, &[0.0; 8]);
                    self.rec.dispatch(&self.kern.dot8_partial, &bg, &imm, (p, 1));
                    first += p;
                    bind = Some(bg);
                }
                if let Some(bg) = bind {
                    // the same bindings: every kernel of a file shares its layout
                    let imm = imm::multi(self.f64_mode, n as u32, group.len() as u32, (slot0 + jx * m + start) as u32, npart, &[0.0; 8]);
                    self.rec.dispatch(&self.kern.dot8_final, &bg, &imm, (group.len() as u32, 1));
                }
            }
        }
    }

    /// y ← y + Σ c_i basis_i, eight basis vectors per dispatch, chunk by chunk.
    pub(super) fn axpy8(&self, basis: &[&GpuVector], c: &[f64], y: &GpuVector) {
        if y.0.is_empty() || c.iter().take(basis.len()).all(|&v| v == 0.0) {
            return;
        }
        let yv = y.0.device_rw();
        for (ci, group) in c.chunks(MULTI).zip(basis.chunks(MULTI)) {
            if ci.iter().all(|&v| v == 0.0) {
                continue;
            }
            let mut coeff = [0.0f64; 8];
            for (d, &v) in coeff.iter_mut().zip(ci) {
                *d = v;
            }
            let views: Vec<DeviceView> = group.iter().map(|v| v.0.device_read()).collect();
            for k in 0..yv.nchunks() {
                let n = yv.chunk_len(k);
                let chunk: Vec<&wgpu::Buffer> = views.iter().map(|v| v.chunk(k)).collect();
                let imm = imm::multi(self.f64_mode, n as u32, group.len().min(ci.len()) as u32, 0, 0, &coeff);
                self.rec.run(&self.kern.axpy8, &Self::multi_args(&chunk, None, yv.chunk(k).into(), None), &imm, n);
            }
        }
    }
}
