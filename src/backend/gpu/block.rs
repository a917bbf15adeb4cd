//! The block operations of block eigensolvers (LOBPCG) on the device: SpMM in the stencil
//! layout and in CSR (shaders/spmm.wgsl: the matrix read once per eight columns), eight
//! columns of axpy, scaling or combination per dispatch and column dot products four pairs
//! per dispatch (shaders/block.wgsl), and block Gram matrices in tiles of 8 × 4
//! (shaders/gram.wgsl; [`GpuBackend::record_dots8`] for a single column).
//! Nothing here reads back: the dot products land in a [`GpuScalars`] buffer, read with
//! the step's other scalars in one [`crate::linalg::Backend::read_scalars`].
//!
//! The kernels bind up to 20 storage buffers; on an adapter that allows fewer per shader
//! stage ([`BLOCK_BINDINGS`]) the operations fall back to a dispatch per column (the
//! trait's defaults), which give the same values.

use super::kernel::{Arg, Kernel, Program};
use super::matrix::GpuCsr;
use super::stencil::GpuStencil;
use super::{imm, shader, DeviceView, GpuBackend, GpuScalars, GpuVector};
use crate::linalg::backend::Coeffs;

/// Columns one block kernel serves.
pub(super) const COLS: usize = 8;
/// Column pairs of one dot-product dispatch (a_j at slots 0-3, b_j at slots 4-7).
const PAIRS: usize = 4;
/// Storage bindings the block kernels need per shader stage (spmm.wgsl's 20).
pub const BLOCK_BINDINGS: u32 = 20;
/// Workgroups of the first reduction pass (as multi.rs).
const MAX_PARTIALS: u32 = 1024;

pub(super) struct BlockKernels {
    combine: Kernel,
    axpy: Kernel,
    scale: Kernel,
    copy: Kernel,
    diag_axpby: Kernel,
    pair_dot: Kernel,
    stencil_spmm: Kernel,
    csr_spmm: Kernel,
    restrict: Kernel,
    prolong: Kernel,
    gram_partial: Kernel,
    gram_final: Kernel,
}

impl BlockKernels {
    /// Compile the block kernels; None where the adapter binds fewer than
    /// [`BLOCK_BINDINGS`] storage buffers per stage (`storage_buffers`).
    pub(super) fn build(dev: &wgpu::Device, storage_buffers: u32, f64_mode: bool) -> Option<BlockKernels> {
        if storage_buffers < BLOCK_BINDINGS {
            return None;
        }
        let b = Program::new(dev, "block.wgsl", shader::SHADER_BLOCK, f64_mode);
        let s = Program::new(dev, "spmm.wgsl", shader::SHADER_SPMM, f64_mode);
        let gram = Program::new(dev, "gram.wgsl", shader::SHADER_GRAM, f64_mode);
        Some(BlockKernels {
            combine: b.kernel(dev, "block_combine"),
            axpy: b.kernel(dev, "block_axpy"),
            scale: b.kernel(dev, "block_scale"),
            copy: b.kernel(dev, "block_copy"),
            diag_axpby: b.kernel(dev, "block_diag_axpby"),
            pair_dot: b.kernel(dev, "pair_dot_partial"),
            stencil_spmm: s.kernel(dev, "stencil_spmm"),
            csr_spmm: s.kernel(dev, "csr_spmm"),
            restrict: s.kernel(dev, "transfer_restrict"),
            prolong: s.kernel(dev, "transfer_prolong"),
            gram_partial: gram.kernel(dev, "gram_partial"),
            gram_final: gram.kernel(dev, "gram_final"),
        })
    }
}

impl GpuBackend {
    /// The block kernels (compiled in the background from the backend's construction, see
    /// [`GpuBackend::compile_in_background`]); None where the adapter binds fewer than
    /// [`BLOCK_BINDINGS`] storage buffers per stage.
    pub(super) fn block_kernels(&self) -> Option<&BlockKernels> {
        self.block_kern.get_or_init(|| BlockKernels::build(&self.ctx.device, self.ctx.limits.max_storage_buffers_per_shader_stage, self.f64_mode)).as_ref()
    }

    /// Whether the block operations run as block kernels (else a dispatch per column).
    pub fn has_block_kernels(&self) -> bool {
        self.block_kernels().is_some()
    }

    /// ys_j ← A xs_j, eight columns per dispatch. False (nothing recorded) where the
    /// adapter has no block kernels.
    pub(super) fn spmm_impl(&self, a: &super::GpuMatrix, xs: &[&GpuVector], ys: &mut [&mut GpuVector]) -> bool {
        let Some(k) = self.block_kernels() else { return false };
        let cols = xs.len().min(ys.len());
        for (xg, yg) in xs[..cols].chunks(COLS).zip(ys[..cols].chunks_mut(COLS)) {
            match a {
                super::GpuMatrix::Stencil(st) => self.stencil_spmm8(&k.stencil_spmm, st, xg, yg),
                super::GpuMatrix::Csr(m) => self.csr_spmm8(&k.csr_spmm, m, xg, yg),
                super::GpuMatrix::Aggregation(t) => self.transfer8(k, t, xg, yg),
            }
        }
        true
    }

    /// ys_j ← T xs_j for a transfer held as its grids (uploaded only where the adapter has
    /// block kernels), eight columns per dispatch.
    pub(super) fn transfer_apply(&self, t: &crate::linalg::multigrid::Aggregation, xs: &[&GpuVector], ys: &mut [&mut GpuVector]) {
        let k = self.block_kernels().expect("a transfer held as its grids needs the block kernels");
        let cols = xs.len().min(ys.len());
        for (xg, yg) in xs[..cols].chunks(COLS).zip(ys[..cols].chunks_mut(COLS)) {
            self.transfer8(k, t, xg, yg);
        }
    }

    /// Up to eight columns of a transfer: the restriction sums each aggregate's children
    /// (in ascending index, CSR's order), the prolongation copies the parent.
    fn transfer8(&self, k: &BlockKernels, t: &crate::linalg::multigrid::Aggregation, xs: &[&GpuVector], ys: &mut [&mut GpuVector]) {
        let n = t.nrows();
        if n == 0 {
            return;
        }
        let xv: Vec<DeviceView> = xs.iter().map(|x| x.0.device_read()).collect();
        let yv: Vec<DeviceView> = ys.iter().map(|y| y.0.device_overwrite()).collect();
        debug_assert!(xv.iter().chain(&yv).all(|v| v.nchunks() == 1));
        let mut args = [Arg::Unused; 4 + 2 * COLS];
        for (j, v) in xv.iter().enumerate() {
            args[4 + j] = v.chunk(0).into();
        }
        for (j, v) in yv.iter().enumerate() {
            args[4 + COLS + j] = v.chunk(0).into();
        }
        let flags = t.coarsen.iter().enumerate().map(|(a, &c)| (c as u32) << a).sum::<u32>();
        let other = if t.restrict { t.fine_len() } else { t.coarse_len() };
        let kern = if t.restrict { &k.restrict } else { &k.prolong };
        self.rec.run(kern, &args, &imm::transfer(n as u32, xs.len() as u32, t.fine, t.coarse, other as u32, flags), n);
    }

    /// Up to eight columns of the stencil product (vectors of one chunk: the layout is
    /// chosen only for those).
    fn stencil_spmm8(&self, kern: &Kernel, a: &GpuStencil, xs: &[&GpuVector], ys: &mut [&mut GpuVector]) {
        let n = a.nrows();
        if n == 0 {
            return;
        }
        let (d, ox, oy, oz) = a.views();
        let xv: Vec<DeviceView> = xs.iter().map(|x| x.0.device_read()).collect();
        let yv: Vec<DeviceView> = ys.iter().map(|y| y.0.device_overwrite()).collect();
        debug_assert!(xv.iter().chain(&yv).all(|v| v.nchunks() == 1));
        let mut args = [Arg::Unused; 4 + 2 * COLS];
        for (slot, v) in args.iter_mut().zip([&d, &ox, &oy, &oz]) {
            *slot = v.chunk(0).into();
        }
        for (j, v) in xv.iter().enumerate() {
            args[4 + j] = v.chunk(0).into();
        }
        for (j, v) in yv.iter().enumerate() {
            args[4 + COLS + j] = v.chunk(0).into();
        }
        self.rec.run(kern, &args, &imm::spmm(n as u32, xs.len() as u32, a.dims()), n);
    }

    /// Up to eight columns of the CSR product, one dispatch per row block; each x_j bound
    /// through the block's window (a scratch copy where the window straddles two chunks,
    /// as the single product does).
    fn csr_spmm8(&self, kern: &Kernel, a: &GpuCsr, xs: &[&GpuVector], ys: &mut [&mut GpuVector]) {
        if a.nrows() == 0 {
            return;
        }
        let e = self.elem;
        let xv: Vec<DeviceView> = xs.iter().map(|x| x.0.device_read()).collect();
        let yv: Vec<DeviceView> = ys.iter().map(|y| y.0.device_overwrite()).collect();
        for b in a.blocks() {
            let (rp, ci, va) = b.views();
            let scratch: Vec<_> = xv.iter().map(|x| self.window_scratch(x, b)).collect();
            let mut args = [Arg::Unused; 4 + 2 * COLS];
            args[0] = rp.chunks().first().into();
            args[1] = ci.chunks().first().into();
            args[2] = va.chunks().first().into();
            for (j, (x, s)) in xv.iter().zip(&scratch).enumerate() {
                args[4 + j] = Self::window_arg(x, s, b, e);
            }
            for (j, y) in yv.iter().enumerate() {
                args[4 + COLS + j] = Self::rows_arg(y, b, e);
            }
            self.rec.run(kern, &args, &imm::spmm(b.nrows as u32, xs.len() as u32, [1, 1, 1]), b.nrows);
        }
    }

    /// ys_j ← ys_j + α_j xs_j for the columns with α_j ≠ 0 (the others untouched), eight
    /// per dispatch and chunk. False where the adapter has no block kernels.
    pub(super) fn block_axpy_impl(&self, alphas: &[f64], xs: &[&GpuVector], ys: &mut [&mut GpuVector]) -> bool {
        let Some(k) = self.block_kernels() else { return false };
        let live: Vec<usize> = (0..alphas.len().min(xs.len()).min(ys.len())).filter(|&j| alphas[j] != 0.0 && !xs[j].0.is_empty()).collect();
        for group in live.chunks(COLS) {
            let xv: Vec<DeviceView> = group.iter().map(|&j| xs[j].0.device_read()).collect();
            let yv: Vec<DeviceView> = group.iter().map(|&j| ys[j].0.device_rw()).collect();
            let coeff = Self::coeffs(group.iter().map(|&j| alphas[j]));
            self.block_elementwise(&k.axpy, Some(&xv), &yv, &coeff);
        }
        true
    }

    /// xs_j ← α_j xs_j (columns with α_j = 1 untouched), eight per dispatch and chunk.
    /// False where the adapter has no block kernels.
    pub(super) fn block_scale_impl(&self, alphas: &[f64], xs: &mut [&mut GpuVector]) -> bool {
        let Some(k) = self.block_kernels() else { return false };
        let cols = alphas.len().min(xs.len());
        let live: Vec<usize> = (0..cols).filter(|&j| alphas[j] != 1.0 && !xs[j].0.is_empty()).collect();
        for group in live.chunks(COLS) {
            let yv: Vec<DeviceView> = group.iter().map(|&j| xs[j].0.device_rw()).collect();
            let coeff = Self::coeffs(group.iter().map(|&j| alphas[j]));
            self.block_elementwise(&k.scale, None, &yv, &coeff);
        }
        true
    }

    /// ys_j ← xs_j, eight columns per dispatch and chunk. False where the adapter has no
    /// block kernels.
    pub(super) fn block_copy_impl(&self, xs: &[&GpuVector], ys: &mut [&mut GpuVector]) -> bool {
        let Some(k) = self.block_kernels() else { return false };
        let cols = xs.len().min(ys.len());
        let live: Vec<usize> = (0..cols).filter(|&j| !ys[j].0.is_empty()).collect();
        for group in live.chunks(COLS) {
            let xv: Vec<DeviceView> = group.iter().map(|&j| xs[j].0.device_read()).collect();
            let yv: Vec<DeviceView> = group.iter().map(|&j| ys[j].0.device_overwrite()).collect();
            self.block_elementwise_with(&k.copy, Some(&xv), &yv, None, &[0.0; 8]);
        }
        true
    }

    /// ys_j ← α d∘xs_j + β ys_j (β = 0: ys overwritten, not read), eight columns per
    /// dispatch and chunk, d bound at block.wgsl's `work`. False where the adapter has no
    /// block kernels.
    pub(super) fn block_diag_axpby_impl(&self, d: &GpuVector, alpha: f64, xs: &[&GpuVector], beta: f64, ys: &mut [&mut GpuVector]) -> bool {
        let Some(k) = self.block_kernels() else { return false };
        let cols = xs.len().min(ys.len());
        let live: Vec<usize> = (0..cols).filter(|&j| !ys[j].0.is_empty()).collect();
        if live.is_empty() {
            return true;
        }
        let dv = d.0.device_read();
        let mut coeff = [0.0; 8];
        coeff[0] = alpha;
        coeff[1] = beta;
        for group in live.chunks(COLS) {
            let xv: Vec<DeviceView> = group.iter().map(|&j| xs[j].0.device_read()).collect();
            let yv: Vec<DeviceView> =
                group.iter().map(|&j| if beta == 0.0 { ys[j].0.device_overwrite() } else { ys[j].0.device_rw() }).collect();
            self.block_elementwise_with(&k.diag_axpby, Some(&xv), &yv, Some(&dv), &coeff);
        }
        true
    }

    /// out_j ← Σ_{i<m} basis_i C_ij (m = min(basis, C.rows)), in 8 × 8 tiles: per group of
    /// eight outputs one dispatch per group of eight basis vectors with a nonzero coefficient
    /// (and chunk), the first overwriting, the coefficients uploaded once per call. False
    /// where the adapter has no block kernels.
    pub(super) fn combine_impl(&self, basis: &[&GpuVector], c: &Coeffs, out: &mut [&mut GpuVector]) -> bool {
        let Some(k) = self.block_kernels() else { return false };
        let (m, cols) = (basis.len().min(c.rows), c.cols.min(out.len()));
        if cols == 0 || out[0].0.is_empty() {
            return true;
        }
        // the nonzero tiles, (output group, input group, element offset), and their values
        let mut tiles: Vec<f64> = Vec::new();
        let mut plan: Vec<(usize, usize, usize)> = Vec::new();
        for h in 0..cols.div_ceil(COLS) {
            for gi in 0..m.div_ceil(COLS) {
                let mut t = [0.0f64; COLS * COLS];
                for j in 0..COLS.min(cols - h * COLS) {
                    for i in 0..COLS.min(m - gi * COLS) {
                        t[i + COLS * j] = c.data[gi * COLS + i + (h * COLS + j) * c.rows];
                    }
                }
                if t.iter().any(|&v| v != 0.0) {
                    plan.push((h, gi, tiles.len()));
                    tiles.extend_from_slice(&t);
                }
            }
        }
        let coef = (!tiles.is_empty()).then(|| {
            let s = self.mem.scratch(tiles.len() as u64 * self.elem);
            self.mem.upload_with(&s, 0, tiles.len() as u64 * self.elem, &self.device_bytes_of(&tiles));
            s
        });
        for h in 0..cols.div_ceil(COLS) {
            let outs = &out[h * COLS..((h + 1) * COLS).min(cols)];
            let mine: Vec<_> = plan.iter().filter(|p| p.0 == h).collect();
            if mine.is_empty() {
                for y in outs {
                    let yv = y.0.device_overwrite();
                    self.vec_op(&self.kern.fill, None, &yv, 1, 0.0, 0.0);
                }
                continue;
            }
            let yv: Vec<DeviceView> = outs.iter().map(|y| y.0.device_overwrite()).collect();
            for (t, &&(_, gi, offset)) in mine.iter().enumerate() {
                let group = &basis[gi * COLS..((gi + 1) * COLS).min(m)];
                let xv: Vec<DeviceView> = group.iter().map(|x| x.0.device_read()).collect();
                let add = if t == 0 { 0.0 } else { 1.0 };
                for ch in 0..yv[0].nchunks() {
                    let n = yv[0].chunk_len(ch);
                    if n == 0 {
                        continue;
                    }
                    let mut args = [Arg::Unused; 2 * COLS + 1];
                    for (j, x) in xv.iter().enumerate() {
                        args[j] = x.chunk(ch).into();
                    }
                    for (j, y) in yv.iter().enumerate() {
                        args[COLS + j] = y.chunk(ch).into();
                    }
                    args[2 * COLS] = coef.as_deref().into();
                    let imm = imm::multi(self.f64_mode, n as u32, yv.len() as u32, offset as u32, group.len() as u32, &[add, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
                    self.rec.run(&k.combine, &args, &imm, n);
                }
            }
        }
        true
    }

    fn coeffs(values: impl Iterator<Item = f64>) -> [f64; 8] {
        let mut c = [0.0; 8];
        for (d, v) in c.iter_mut().zip(values) {
            *d = v;
        }
        c
    }

    /// A block.wgsl element-wise kernel over up to eight columns of one length, chunk by chunk.
    fn block_elementwise(&self, kern: &Kernel, xs: Option<&[DeviceView]>, ys: &[DeviceView], coeff: &[f64; 8]) {
        self.block_elementwise_with(kern, xs, ys, None, coeff)
    }

    /// [`GpuBackend::block_elementwise`] with a vector of the same chunking bound at
    /// block.wgsl's `work` (binding 16).
    fn block_elementwise_with(&self, kern: &Kernel, xs: Option<&[DeviceView]>, ys: &[DeviceView], work: Option<&DeviceView>, coeff: &[f64; 8]) {
        let Some(y0) = ys.first() else { return };
        for c in 0..y0.nchunks() {
            let n = y0.chunk_len(c);
            if n == 0 {
                continue;
            }
            let mut args = [Arg::Unused; 2 * COLS + 1];
            if let Some(xs) = xs {
                for (j, x) in xs.iter().enumerate() {
                    args[j] = x.chunk(c).into();
                }
            }
            for (j, y) in ys.iter().enumerate() {
                args[COLS + j] = y.chunk(c).into();
            }
            if let Some(w) = work {
                args[2 * COLS] = w.chunk(c).into();
            }
            self.rec.run(kern, &args, &imm::multi(self.f64_mode, n as u32, ys.len() as u32, 0, 0, coeff), n);
        }
    }

    /// s[first + i + j·m] ← basis_iᵀ xs_j, recorded without a read-back.
    pub(super) fn block_dot_to_impl(&self, basis: &[&GpuVector], xs: &[&GpuVector], s: &mut GpuScalars, first: usize) {
        if basis.is_empty() || xs.is_empty() {
            return;
        }
        let m = basis.len() * xs.len();
        assert!(first + m <= s.len(), "scalar slots {first}..{} beyond {}", first + m, s.len());
        let out = s.view_rw();
        self.record_block_dots(basis, xs, out.chunk(0), first);
    }

    /// Record the dispatches that write basis_iᵀ xs_j to `out[slot0 + i + j·m]` without a
    /// read-back: tiles of 8 basis vectors × 4 columns (shaders/gram.wgsl) for a block of
    /// columns, [`GpuBackend::record_dots8`] for one column or without block kernels.
    pub(super) fn record_block_dots(&self, basis: &[&GpuVector], xs: &[&GpuVector], out: &wgpu::Buffer, slot0: usize) {
        match self.block_kernels() {
            Some(k) if xs.len() > 1 => self.record_gram(k, basis, xs, out, slot0),
            _ => self.record_dots8(basis, xs, out, slot0),
        }
    }

    /// The tiled Gram products: per tile, one partial dispatch per chunk (their partials
    /// side by side) and one final reduction of its up to 32 entries.
    fn record_gram(&self, k: &BlockKernels, basis: &[&GpuVector], xs: &[&GpuVector], out: &wgpu::Buffer, slot0: usize) {
        let (m, b) = (basis.len(), xs.len());
        if m == 0 || b == 0 || xs[0].0.is_empty() {
            return;
        }
        let bv: Vec<DeviceView> = basis.iter().map(|v| v.0.device_read()).collect();
        let xv: Vec<DeviceView> = xs.iter().map(|v| v.0.device_read()).collect();
        let wg = k.gram_partial.workgroup() as u64;
        let parts: Vec<u32> = (0..xv[0].nchunks()).map(|c| ((xv[0].chunk_len(c) as u64).div_ceil(wg) as u32).clamp(1, MAX_PARTIALS)).collect();
        let npart: u32 = parts.iter().sum();
        let (tb, tx) = (m.div_ceil(COLS), b.div_ceil(PAIRS));
        let tile = (COLS * PAIRS) as u64 * npart as u64 * self.elem;
        let stride = tile.div_ceil(256) * 256;
        let work = self.mem.scratch(stride * (tb * tx) as u64);
        for jx in 0..tx {
            let xg = &xv[jx * PAIRS..((jx + 1) * PAIRS).min(b)];
            for ib in 0..tb {
                let bg = &bv[ib * COLS..((ib + 1) * COLS).min(m)];
                let region = Arg::Part(&work, stride * (jx * tb + ib) as u64, tile);
                let mut first = 0u32;
                for (c, &p) in parts.iter().enumerate() {
                    let mut args = [Arg::Unused; COLS + PAIRS + 2];
                    for (a, v) in args.iter_mut().zip(bg) {
                        *a = v.chunk(c).into();
                    }
                    for (j, v) in xg.iter().enumerate() {
                        args[COLS + j] = v.chunk(c).into();
                    }
                    args[COLS + PAIRS] = region;
                    let imm = imm::gram(xv[0].chunk_len(c) as u32, bg.len() as u32, xg.len() as u32, first, npart, m as u32);
                    self.rec.dispatch(&k.gram_partial, &self.rec.bind(&k.gram_partial, &args), &imm, (p, 1));
                    first += p;
                }
            }
        }
        // every tile's final sums in one dispatch (one per tile made ~70 dispatches of ~8 µs
        // per LOBPCG iteration on the H200), split only where the workgroup count would pass
        // the adapter's limit per dimension
        let tiles = tb * tx;
        let per = (self.rec.max_groups() as usize / (COLS * PAIRS)).max(1);
        let stride_el = (stride / self.elem) as u32;
        let mut args = [Arg::Unused; COLS + PAIRS + 2];
        args[COLS + PAIRS] = Arg::Part(&work, 0, stride * tiles as u64);
        args[COLS + PAIRS + 1] = out.into();
        let bind = self.rec.bind(&k.gram_final, &args);
        for t0 in (0..tiles).step_by(per) {
            let nt = (tiles - t0).min(per);
            let imm = imm::gram_final(m as u32, b as u32, slot0 as u32, npart, m as u32, tb as u32, stride_el, t0 as u32);
            self.rec.dispatch(&k.gram_final, &bind, &imm, ((nt * COLS * PAIRS) as u32, 1));
        }
    }

    /// s[first + j] ← xs_jᵀ ys_j, four pairs per partial dispatch and chunk plus one final
    /// reduction per group, recorded without a read-back. False where the adapter has no
    /// block kernels.
    pub(super) fn column_dots_to_impl(&self, xs: &[&GpuVector], ys: &[&GpuVector], s: &mut GpuScalars, first: usize) -> bool {
        let Some(k) = self.block_kernels() else { return false };
        let cols = xs.len().min(ys.len());
        if cols == 0 || xs[0].0.is_empty() {
            return true;
        }
        assert!(first + cols <= s.len(), "scalar slots {first}..{} beyond {}", first + cols, s.len());
        let out = s.view_rw();
        let xv: Vec<DeviceView> = xs[..cols].iter().map(|v| v.0.device_read()).collect();
        let yv: Vec<DeviceView> = ys[..cols].iter().map(|v| v.0.device_read()).collect();
        let wg = k.pair_dot.workgroup() as u64;
        let parts: Vec<u32> = (0..xv[0].nchunks()).map(|c| ((xv[0].chunk_len(c) as u64).div_ceil(wg) as u32).clamp(1, MAX_PARTIALS)).collect();
        let npart: u32 = parts.iter().sum();
        let groups = cols.div_ceil(PAIRS);
        let stride = (PAIRS as u64 * npart as u64 * self.elem).div_ceil(256) * 256;
        let work = self.mem.scratch(stride * groups as u64);
        for g in 0..groups {
            let j0 = g * PAIRS;
            let kk = (cols - j0).min(PAIRS);
            let region = Arg::Part(&work, stride * g as u64, PAIRS as u64 * npart as u64 * self.elem);
            let mut slot = 0u32;
            for (c, &p) in parts.iter().enumerate() {
                let mut args = [Arg::Unused; 2 * COLS + 1];
                for j in 0..kk {
                    args[j] = xv[j0 + j].chunk(c).into();
                    args[PAIRS + j] = yv[j0 + j].chunk(c).into();
                }
                args[2 * COLS] = region;
                let imm = imm::multi(self.f64_mode, xv[0].chunk_len(c) as u32, kk as u32, slot, npart, &[0.0; 8]);
                self.rec.dispatch(&k.pair_dot, &self.rec.bind(&k.pair_dot, &args), &imm, (p, 1));
                slot += p;
            }
            // multi.wgsl's final pass over the partials: work and out only
            let fin = &self.kern.dot8_final;
            let bg = self.rec.bind(fin, &Self::multi_args(&[], None, region, Some(out.chunk(0))));
            let imm = imm::multi(self.f64_mode, xv[0].len() as u32, kk as u32, (first + j0) as u32, npart, &[0.0; 8]);
            self.rec.dispatch(fin, &bg, &imm, (kk as u32, 1));
        }
        true
    }
}
