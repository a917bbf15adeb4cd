//! The GPU backend's construction (options → adapter → kernels and memory manager), its
//! accessors and device timing, the conversion between host f64 and device values, and the
//! [`Backend`] operations, each a call into the kernel families of the sibling files.

use std::borrow::{Borrow, BorrowMut};
use std::sync::Arc;

use super::kernel::{Program, Recorder};
use super::{context, scalars, shader, AdapterSummary, BasicKernels, GpuBackend, GpuContext, GpuMatrix, GpuOptions, GpuStats, GpuVector, Kernels, MemoryManager, Placement};
use crate::linalg::backend::{refs, refs_mut, Backend};
use crate::linalg::CsrMatrix;

impl Kernels {
    /// Compile vector.wgsl, spmv.wgsl and multi.wgsl (12 pipelines).
    pub(super) fn build(dev: &wgpu::Device, f64_mode: bool) -> Kernels {
        let vector = Program::new(dev, "vector.wgsl", shader::SHADER_VECTOR, f64_mode);
        let spmv = Program::new(dev, "spmv.wgsl", shader::SHADER_SPMV, f64_mode);
        let multi = Program::new(dev, "multi.wgsl", shader::SHADER_MULTI, f64_mode);
        Kernels {
            fill: vector.kernel(dev, "fill"),
            copy: vector.kernel(dev, "copy"),
            copy4: vector.kernel(dev, "copy4"),
            axpy: vector.kernel(dev, "axpy"),
            xpby: vector.kernel(dev, "xpby"),
            scale: vector.kernel(dev, "scale"),
            pointwise_mul: vector.kernel(dev, "pointwise_mul"),
            spmv: spmv.kernel(dev, "spmv"),
            spmv_axpby: spmv.kernel(dev, "spmv_axpby"),
            spmv_wide: spmv.kernel(dev, "spmv_wide"),
            spmv_axpby_wide: spmv.kernel(dev, "spmv_axpby_wide"),
            dot8_partial: multi.kernel(dev, "dot8_partial"),
            dot8_final: multi.kernel(dev, "dot8_final"),
            axpy8: multi.kernel(dev, "axpy8"),
        }
    }
}

impl GpuBackend {
    /// [`GpuBackend::with_options`] with the default options (f32, arrays on the device).
    pub fn new(choice: Option<&str>, allow_software: bool) -> crate::error::Result<Option<GpuBackend>> {
        Self::with_options(choice, allow_software, GpuOptions::default())
    }

    /// As [`GpuBackend::new`], with the precision given: `f64` needs an adapter with
    /// SHADER_F64 (an input error otherwise; Metal has none).
    pub fn with_precision(choice: Option<&str>, allow_software: bool, f64_mode: bool) -> crate::error::Result<Option<GpuBackend>> {
        Self::with_options(choice, allow_software, GpuOptions { f64: f64_mode, ..GpuOptions::default() })
    }

    /// The product layout the options asked for (None: chosen per matrix).
    pub fn spmv_layout(&self) -> Option<super::stencil::SpmvLayout> {
        self.spmv_layout
    }

    /// Open an adapter (`choice`, else `opts.adapter`, else the best one; see
    /// [`context::open`]) and build the kernels. Reads nothing but its arguments. Ok(None):
    /// no adapter.
    pub fn with_options(choice: Option<&str>, allow_software: bool, opts: GpuOptions) -> crate::error::Result<Option<GpuBackend>> {
        let f64_mode = opts.f64;
        let Some(ctx) = context::open(choice.or(opts.adapter.as_deref()), allow_software, opts.memory_hints)? else { return Ok(None) };
        if f64_mode && !ctx.device.features().contains(wgpu::Features::SHADER_F64) {
            return Err(crate::error::QdError::input(
                "QDSIM_GPU_PRECISION",
                format!("f64 was asked for but adapter '{}' has no 64-bit float shaders; use f32", ctx.adapter.name),
            ));
        }
        if opts.profile_kernels && !ctx.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Err(crate::error::QdError::input(
                "--profile-kernels",
                format!("adapter '{}' has no timestamp queries, which the kernel profile needs", ctx.adapter.name),
            ));
        }
        Ok(Some(Self::from_context(ctx, &opts)))
    }

    fn from_context(ctx: GpuContext, opts: &GpuOptions) -> GpuBackend {
        // (no pipeline is compiled here: every kernel is built on the background thread of
        // `compile_in_background`, or on first use)
        let f64_mode = opts.f64;
        let dev = &ctx.device;
        let kern = BasicKernels { cell: Arc::new(std::sync::OnceLock::new()), device: dev.clone(), f64_mode };
        let mem = MemoryManager::new(ctx.device.clone(), ctx.queue.clone(), &ctx.limits, opts.max_binding_bytes, opts.pool_bytes);
        let rec = Recorder::new(mem.clone(), ctx.limits.max_compute_workgroups_per_dimension);
        mem.set_first_flush(opts.first_flush);
        if opts.profile_kernels {
            mem.start_profile();
        }
        GpuBackend {
            ctx,
            kern,
            rec,
            mem,
            placement: opts.placement,
            spmv_layout: opts.spmv_layout,
            f64_mode,
            elem: if f64_mode { 8 } else { 4 },
            cg_kern: Arc::new(std::sync::OnceLock::new()),
            stencil_kern: Arc::new(std::sync::OnceLock::new()),
            block_kern: Arc::new(std::sync::OnceLock::new()),
        }
        .compile_in_background()
    }

    /// Start compiling every kernel (the basic ones of vector, spmv and multi.wgsl first,
    /// which a solve's first uploads and products need; then block, stencil, CG: 29
    /// pipelines in all) on a thread of their own, so construction returns once the device
    /// exists and the compiles overlap the caller's assembly of its operator: on the H200's
    /// driver a WGSL pipeline takes milliseconds to compile (NVIDIA's shader cache is per
    /// executable, so first runs pay them all). A first use before the thread is done
    /// waits for it (`OnceLock`), so the kernels are built once.
    fn compile_in_background(self) -> Self {
        let dev = self.ctx.device.clone();
        let (basic, cg, st, bl) = (self.kern.cell.clone(), self.cg_kern.clone(), self.stencil_kern.clone(), self.block_kern.clone());
        let (f64_mode, bindings) = (self.f64_mode, self.ctx.limits.max_storage_buffers_per_shader_stage);
        let spawned = std::thread::Builder::new().name("qdsim-gpu-compile".into()).spawn(move || {
            basic.get_or_init(|| Kernels::build(&dev, f64_mode));
            bl.get_or_init(|| super::block::BlockKernels::build(&dev, bindings, f64_mode));
            st.get_or_init(|| super::stencil::StencilKernels::build(&dev, f64_mode));
            cg.get_or_init(|| super::scalars::CgKernels::build(&dev, f64_mode));
        });
        // (no thread: the kernels are built on first use)
        drop(spawned);
        self
    }

    /// Whether the basic kernels (vector, spmv, multi.wgsl) are compiled yet: false right
    /// after construction unless the background thread was quick (tests).
    pub fn basic_kernels_ready(&self) -> bool {
        self.kern.cell.get().is_some()
    }

    /// Wait until every kernel is compiled (benchmarks that time the first solve apart).
    pub fn compile_kernels(&self) {
        let _ = (&self.kern.fill, self.cg_kernels(), self.stencil_kernels(), self.block_kernels());
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.ctx.adapter
    }

    pub fn stats(&self) -> &GpuStats {
        &self.mem.stats
    }

    /// The buffer manager.
    pub fn memory(&self) -> &Arc<MemoryManager> {
        &self.mem
    }

    /// The placement of the arrays this backend allocates.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// Vector elements per chunk (one storage binding); longer vectors are chunked.
    pub fn max_elements(&self) -> usize {
        self.mem.chunk_elems(self.elem as usize)
    }

    /// Submit everything recorded so far.
    pub fn flush(&self) {
        self.mem.flush();
    }

    /// Device time of the work `f` records, measured with GPU timestamps around one compute
    /// pass holding all of it (None if the adapter has no timestamp queries, or if `f`
    /// recorded more than [`super::FLUSH_EVERY`] dispatches). For benchmarks.
    pub fn time_device(&self, f: &mut dyn FnMut()) -> Option<f64> {
        if !self.ctx.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            f();
            return None;
        }
        self.flush();
        let qs = self.ctx.device.create_query_set(&wgpu::QuerySetDescriptor { label: None, ty: wgpu::QueryType::Timestamp, count: 2 });
        let submissions = self.mem.stats.submissions.load(std::sync::atomic::Ordering::Relaxed);
        {
            let mut p = self.mem.lock_pending();
            // the whole batch in this one pass: no ramped early flush after a read-back
            // (with the ramp the pass held only the first 32 dispatches, and the timing
            // of 200 copies was that of 32)
            p.flush_at = super::FLUSH_EVERY;
            let enc = p.encoder.get_or_insert_with(|| self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }));
            let pass = enc
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("timed"),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites { query_set: &qs, beginning_of_pass_write_index: Some(0), end_of_pass_write_index: Some(1) }),
                })
                .forget_lifetime();
            p.pass = Some(pass);
            p.dispatches = 0;
        }
        f();
        let qbuf = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        {
            let mut p = self.mem.lock_pending();
            let flushed = self.mem.stats.submissions.load(std::sync::atomic::Ordering::Relaxed) != submissions;
            if flushed || p.pass.is_none() || p.encoder.is_none() {
                return None; // flushed in between: the pass no longer holds all the work
            }
            p.pass = None;
            if let Some(enc) = p.encoder.as_mut() {
                enc.resolve_query_set(&qs, 0..2, &qbuf, 0);
            }
        }
        let bytes = self.mem.read_buffer(&qbuf, 16);
        let t: &[u64] = bytemuck::cast_slice(&bytes);
        Some(t[1].saturating_sub(t[0]) as f64 * self.ctx.queue.get_timestamp_period() as f64 * 1e-9)
    }

    /// The `fill` of [`ManagedArray::host_write_with`] and [`MemoryManager::upload_with`]
    /// that writes the host values `x` as device bytes in the working precision, piece by
    /// piece, so an upload makes no converted copy of the whole array.
    pub(super) fn device_bytes_of<'a>(&self, x: &'a [f64]) -> impl Fn(usize, &mut [u8]) + Sync + 'a {
        let f64_mode = self.f64_mode;
        move |at, out| {
            if f64_mode {
                out.copy_from_slice(&bytemuck::cast_slice(x)[at..at + out.len()]);
            } else {
                for (b, &e) in out.chunks_exact_mut(4).zip(&x[at / 4..]) {
                    b.copy_from_slice(&(e as f32).to_le_bytes());
                }
            }
        }
    }

    /// An array holding `x` in the working precision, with the given placement.
    pub(super) fn array_of(&self, x: &[f64], placement: Placement) -> super::ManagedArray {
        super::ManagedArray::from_fill(&self.mem, x.len(), self.elem as usize, placement, &self.device_bytes_of(x))
    }

    /// Device-format bytes as f64 values.
    pub(super) fn values_of(&self, bytes: &[u8]) -> Vec<f64> {
        let mut out = vec![0.0; bytes.len() / self.elem as usize];
        self.convert_into(bytes, &mut out);
        out
    }

    /// `bytes` in the working precision converted into `out` (as many values), in parallel
    /// pieces of 64 Ki values (a short read-back stays one task; a 2 M-element one converted
    /// on one thread took ~3 ms of the host).
    pub(super) fn convert_into(&self, bytes: &[u8], out: &mut [f64]) {
        use rayon::prelude::*;
        const PIECE: usize = 1 << 16;
        let e = self.elem as usize;
        out.par_chunks_mut(PIECE).zip(bytes.par_chunks(PIECE * e)).for_each(|(o, b)| {
            if self.f64_mode {
                for (v, c) in o.iter_mut().zip(b.chunks_exact(8)) {
                    *v = f64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                }
            } else {
                for (v, c) in o.iter_mut().zip(b.chunks_exact(4)) {
                    *v = f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64;
                }
            }
        });
    }

    /// Read `n` working-precision values of `buf` back as f64 (a full synchronisation).
    pub(super) fn read_values(&self, buf: &wgpu::Buffer, n: usize) -> Vec<f64> {
        self.values_of(&self.mem.read_buffer(buf, n as u64 * self.elem))
    }
}

impl Backend for GpuBackend {
    type Vector = GpuVector;
    type Matrix = GpuMatrix;
    type Scalars = scalars::GpuScalars;

    fn name(&self) -> String {
        "gpu".into()
    }
    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "gpu",
            "adapter": self.ctx.adapter,
            "precision": if self.f64_mode {
                "f64 storage and arithmetic, Kahan-compensated tree reductions"
            } else {
                "f32 storage and arithmetic, Kahan-compensated tree reductions; final Rayleigh-Ritz in f64 on the host"
            },
            "placement": self.placement.name(),
            "max_chunk_bytes": self.mem.max_chunk_bytes(),
            "transfers": self.mem.stats.to_json(),
        })
    }
    fn precision_bits(&self) -> u32 {
        if self.f64_mode {
            64
        } else {
            32
        }
    }
    fn upload_matrix(&self, a: &CsrMatrix) -> GpuMatrix {
        self.upload_matrix_layout(a, self.spmv_layout)
    }
    fn upload_stencil(&self, a: &crate::linalg::stencil::StencilMatrix) -> GpuMatrix {
        self.upload_stencil_matrix(a)
    }
    fn upload_matrix_with_stencil(&self, a: &CsrMatrix, stencil: Option<&crate::linalg::stencil::StencilMatrix>) -> GpuMatrix {
        self.upload_matrix_with_stencil_form(a, stencil)
    }
    fn upload_transfer(&self, t: &crate::linalg::multigrid::Aggregation) -> GpuMatrix {
        self.upload_aggregation(t)
    }
    fn matrix_rows(&self, a: &GpuMatrix) -> usize {
        a.nrows()
    }
    fn alloc(&self, n: usize) -> GpuVector {
        self.alloc_placed(n, self.placement)
    }
    fn from_host(&self, x: &[f64]) -> GpuVector {
        self.from_host_placed(x, self.placement)
    }
    fn to_host(&self, x: &GpuVector) -> Vec<f64> {
        x.0.with_host(|b| self.values_of(b))
    }
    fn to_host_many<X: Borrow<GpuVector>>(&self, xs: &[X]) -> Vec<Vec<f64>> {
        // one download of every device-resident vector (device-only placement: a host read
        // changes no placement statistics there); the others as to_host does
        let batched: Vec<bool> = xs.iter().map(|x| x.borrow().0.placement() == Placement::GpuOnly && x.borrow().0.device_newer()).collect();
        if batched.iter().filter(|&&b| b).count() < 2 {
            return xs.iter().map(|x| self.to_host(x.borrow())).collect();
        }
        let views: Vec<Option<super::DeviceView>> = xs.iter().zip(&batched).map(|(x, &b)| b.then(|| x.borrow().0.device_read())).collect();
        let mut parts = Vec::new();
        for v in views.iter().flatten() {
            for k in 0..v.nchunks() {
                parts.push((v.chunk(k), 0u64, v.chunk_len(k) as u64 * self.elem));
            }
        }
        // converted straight from the mapped read-back buffers into the f64 vectors (no host
        // copy of the device bytes: 0.67 GB for ten 256³ states in f32)
        let mut outs: Vec<Option<Vec<f64>>> = views.iter().map(|v| v.as_ref().map(|v| vec![0.0; v.len()])).collect();
        let e = self.elem as usize;
        self.mem.download_with(&parts, |pieces| {
            use rayon::prelude::*;
            let mut dsts = outs.iter_mut().flatten().map(|o| o.as_mut_slice());
            let mut cur: &mut [f64] = dsts.next().unwrap_or_default();
            let mut jobs: Vec<(&mut [f64], &[u8])> = Vec::with_capacity(pieces.len());
            for src in pieces {
                let n = src.len() / e;
                while cur.is_empty() {
                    match dsts.next() {
                        Some(d) => cur = d,
                        None => break,
                    }
                }
                let (dst, tail) = std::mem::take(&mut cur).split_at_mut(n);
                jobs.push((dst, src));
                cur = tail;
            }
            jobs.into_par_iter().for_each(|(d, s)| self.convert_into(s, d));
        });
        drop(parts);
        xs.iter().zip(outs).map(|(x, o)| o.unwrap_or_else(|| self.to_host(x.borrow()))).collect()
    }
    fn len(&self, x: &GpuVector) -> usize {
        x.0.len()
    }
    fn copy(&self, src: &GpuVector, dst: &mut GpuVector) {
        let (xv, yv) = (src.0.device_read(), dst.0.device_overwrite());
        self.vec_op(&self.kern.copy, Some(&xv), &yv, 1, 0.0, 0.0);
    }
    fn fill(&self, x: &mut GpuVector, value: f64) {
        let yv = x.0.device_overwrite();
        self.vec_op(&self.kern.fill, None, &yv, 1, value, 0.0);
    }
    fn spmv(&self, a: &GpuMatrix, x: &GpuVector, y: &mut GpuVector) {
        match a {
            GpuMatrix::Stencil(st) => self.stencil_spmv(st, false, x, 1.0, 0.0, 0.0, y),
            GpuMatrix::Csr(a) => self.spmv_axpby_inner([&self.kern.spmv, &self.kern.spmv_wide], a, x, 1.0, 0.0, 0.0, y),
            GpuMatrix::Aggregation(t) => self.transfer_apply(t, &[x], &mut [y]),
        }
    }
    fn spmv_axpby(&self, a: &GpuMatrix, x: &GpuVector, alpha: f64, beta: f64, gamma: f64, y: &mut GpuVector) {
        match a {
            GpuMatrix::Stencil(st) => self.stencil_spmv(st, true, x, alpha, beta, gamma, y),
            GpuMatrix::Csr(a) => self.spmv_axpby_inner([&self.kern.spmv_axpby, &self.kern.spmv_axpby_wide], a, x, alpha, beta, gamma, y),
            GpuMatrix::Aggregation(t) => {
                // a rectangular matrix: β x is undefined (the product's callers pass β = 0)
                assert!(beta == 0.0, "spmv_axpby with β ≠ 0 on a rectangular transfer");
                let mut tmp = self.alloc(t.nrows());
                self.transfer_apply(t, &[x], &mut [&mut tmp]);
                if gamma == 0.0 {
                    self.fill(y, 0.0);
                } else {
                    self.scale(gamma, y);
                }
                self.axpy(alpha, &tmp, y);
            }
        }
    }
    fn axpy(&self, alpha: f64, x: &GpuVector, y: &mut GpuVector) {
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.vec_op(&self.kern.axpy, Some(&xv), &yv, 1, alpha, 0.0);
    }
    fn xpby(&self, x: &GpuVector, beta: f64, y: &mut GpuVector) {
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.vec_op(&self.kern.xpby, Some(&xv), &yv, 1, 0.0, beta);
    }
    fn scale(&self, alpha: f64, x: &mut GpuVector) {
        let yv = x.0.device_rw();
        self.vec_op(&self.kern.scale, None, &yv, 1, alpha, 0.0);
    }
    fn pointwise_mul(&self, d: &GpuVector, x: &GpuVector, z: &mut GpuVector) {
        self.copy(x, z);
        let (dv, zv) = (d.0.device_read(), z.0.device_rw());
        self.vec_op(&self.kern.pointwise_mul, Some(&dv), &zv, 1, 0.0, 0.0);
    }
    fn dot(&self, x: &GpuVector, y: &GpuVector) -> f64 {
        // the batched kernel with one basis vector: same Kahan tree reduction, one read-back
        self.block_dots8(&[x], &[y])[0]
    }
    fn multi_dot<V: Borrow<GpuVector>>(&self, basis: &[V], x: &GpuVector) -> Vec<f64> {
        self.block_dots8(&refs(basis), &[x])
    }
    fn block_dot<V: Borrow<GpuVector>, X: Borrow<GpuVector>>(&self, basis: &[V], xs: &[X]) -> Vec<f64> {
        self.block_dots8(&refs(basis), &refs(xs))
    }
    fn multi_axpy<V: Borrow<GpuVector>>(&self, basis: &[V], c: &[f64], y: &mut GpuVector) {
        self.axpy8(&refs(basis), c, y);
    }
    fn block_sub<V: Borrow<GpuVector>, Y: BorrowMut<GpuVector>>(&self, basis: &[V], c: &crate::linalg::backend::Coeffs, ys: &mut [Y]) {
        let basis = refs(basis);
        for (j, y) in ys.iter_mut().map(BorrowMut::borrow_mut).enumerate().take(c.cols) {
            let neg: Vec<f64> = c.data[j * c.rows..(j + 1) * c.rows].iter().map(|v| -v).collect();
            self.axpy8(&basis[..c.rows.min(basis.len())], &neg, y);
        }
    }
    fn combine<V: Borrow<GpuVector>, W: BorrowMut<GpuVector>>(&self, basis: &[V], c: &crate::linalg::backend::Coeffs, out: &mut [W]) {
        let basis = refs(basis);
        let mut out = refs_mut(out);
        if !self.combine_impl(&basis, c, &mut out) {
            for (j, o) in out.iter_mut().enumerate().take(c.cols) {
                self.fill(o, 0.0);
                self.axpy8(&basis, &c.data[j * c.rows..(j + 1) * c.rows], o);
            }
        }
    }
    fn spmm<X: Borrow<GpuVector>, Y: BorrowMut<GpuVector>>(&self, a: &GpuMatrix, xs: &[X], ys: &mut [Y]) {
        let xs = refs(xs);
        let mut ys = refs_mut(ys);
        if !self.spmm_impl(a, &xs, &mut ys) {
            for (x, y) in xs.iter().zip(ys.iter_mut()) {
                self.spmv(a, x, y);
            }
        }
    }
    fn block_axpy<X: Borrow<GpuVector>, Y: BorrowMut<GpuVector>>(&self, alphas: &[f64], xs: &[X], ys: &mut [Y]) {
        let xs = refs(xs);
        let mut ys = refs_mut(ys);
        if !self.block_axpy_impl(alphas, &xs, &mut ys) {
            for ((&a, x), y) in alphas.iter().zip(&xs).zip(ys.iter_mut()) {
                if a != 0.0 {
                    self.axpy(a, x, y);
                }
            }
        }
    }
    fn block_scale<X: BorrowMut<GpuVector>>(&self, alphas: &[f64], xs: &mut [X]) {
        let mut xs = refs_mut(xs);
        if !self.block_scale_impl(alphas, &mut xs) {
            for (&a, x) in alphas.iter().zip(xs.iter_mut()) {
                self.scale(a, x);
            }
        }
    }
    fn block_copy<X: Borrow<GpuVector>, Y: BorrowMut<GpuVector>>(&self, xs: &[X], ys: &mut [Y]) {
        let xs = refs(xs);
        let mut ys = refs_mut(ys);
        if !self.block_copy_impl(&xs, &mut ys) {
            for (x, y) in xs.iter().zip(ys.iter_mut()) {
                self.copy(x, y);
            }
        }
    }
    fn block_diag_axpby<X: Borrow<GpuVector>, Y: BorrowMut<GpuVector>>(&self, d: &GpuVector, alpha: f64, xs: &[X], beta: f64, ys: &mut [Y]) {
        let xs = refs(xs);
        let mut ys = refs_mut(ys);
        if !self.block_diag_axpby_impl(d, alpha, &xs, beta, &mut ys) {
            crate::linalg::backend::diag_axpby_per_column(self, d, alpha, &xs, beta, &mut ys);
        }
    }
    fn block_dot_to<V: Borrow<GpuVector>, X: Borrow<GpuVector>>(&self, basis: &[V], xs: &[X], s: &mut scalars::GpuScalars, first: usize) {
        self.block_dot_to_impl(&refs(basis), &refs(xs), s, first)
    }
    fn column_dots_to<X: Borrow<GpuVector>, Y: Borrow<GpuVector>>(&self, xs: &[X], ys: &[Y], s: &mut scalars::GpuScalars, first: usize) {
        let (xs, ys) = (refs(xs), refs(ys));
        if !self.column_dots_to_impl(&xs, &ys, s, first) {
            for (j, (x, y)) in xs.iter().zip(&ys).enumerate() {
                self.multi_dot_to_impl(&[*x], y, s, first + j);
            }
        }
    }
    fn cheap_readback(&self) -> bool {
        false
    }
    fn alloc_scalars(&self, n: usize) -> scalars::GpuScalars {
        self.alloc_scalars_impl(n)
    }
    fn read_scalars(&self, s: &scalars::GpuScalars) -> Vec<f64> {
        self.read_scalars_impl(s)
    }
    fn multi_dot_to<V: Borrow<GpuVector>>(&self, basis: &[V], x: &GpuVector, s: &mut scalars::GpuScalars, first: usize) {
        self.multi_dot_to_impl(&refs(basis), x, s, first)
    }
    fn axpy_ratio(&self, s: &scalars::GpuScalars, num: usize, den: usize, sign: f64, x: &GpuVector, y: &mut GpuVector) {
        self.axpy_ratio_impl(s, num, den, sign, x, y)
    }
    fn xpby_ratio(&self, x: &GpuVector, s: &scalars::GpuScalars, num: usize, den: usize, y: &mut GpuVector) {
        self.xpby_ratio_impl(x, s, num, den, y)
    }
    fn cg_update(&self, s: &scalars::GpuScalars, num: usize, den: usize, p: &GpuVector, q: &GpuVector, x: &mut GpuVector, r: &mut GpuVector) {
        self.cg_update_impl(s, num, den, p, q, x, r)
    }
}
