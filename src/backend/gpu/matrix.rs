//! Matrices on the device: [`GpuMatrix`] holds a matrix in CSR ([`GpuCsr`], in row blocks
//! that each fit one storage binding, [`plan_row_blocks`]) or in the stencil layout
//! ([`super::stencil::GpuStencil`], for grid operators); the CSR products of
//! shaders/spmv.wgsl.

use super::kernel::{Arg, Kernel};
use super::memory::Scratch;
use super::{imm, stencil, DeviceView, GpuBackend, GpuVector, ManagedArray};
use crate::linalg::CsrMatrix;

/// One block of rows of a [`GpuCsr`]: its own row pointers (from 0), columns relative to
/// the start of its window of x, and values, each within one storage binding.
pub(super) struct CsrBlock {
    row0: usize,
    pub(super) nrows: usize,
    /// The window of x the block reads: columns w0 .. w0 + wlen (w0 a multiple of ROW_STEP).
    w0: usize,
    wlen: usize,
    /// Entries of the block's rows.
    nnz: usize,
    row_ptr: ManagedArray,
    col: ManagedArray,
    val: ManagedArray,
}

/// Threads per row of the wide-row products (`LANES` of shaders/spmv.wgsl).
pub(super) const WIDE_ROW: usize = 8;
/// Mean entries per row from which a block's product takes the wide-row kernels: below it
/// most of a row's lanes would idle (grid operators have ≤ 7 entries, the elasticity
/// operator 81).
pub(super) const WIDE_ROW_MIN_NNZ: usize = 16;

/// A CSR matrix on the device: u32 row pointers and columns, f32/f64 values, in blocks of
/// rows (one block unless the matrix exceeds a storage binding).
pub struct GpuCsr {
    blocks: Vec<CsrBlock>,
    nrows: usize,
}

/// A matrix on the device, in one of the two layouts of [`stencil::SpmvLayout`].
pub enum GpuMatrix {
    /// Any matrix.
    Csr(GpuCsr),
    /// A grid operator whose vectors fit one chunk.
    Stencil(stencil::GpuStencil),
    /// A multigrid transfer whose vectors fit one chunk, applied from its grids
    /// (shaders/spmm.wgsl's transfer kernels).
    Aggregation(crate::linalg::multigrid::Aggregation),
}

impl GpuMatrix {
    pub fn layout(&self) -> stencil::SpmvLayout {
        match self {
            GpuMatrix::Csr(_) => stencil::SpmvLayout::Csr,
            GpuMatrix::Stencil(_) => stencil::SpmvLayout::Stencil,
            GpuMatrix::Aggregation(_) => stencil::SpmvLayout::Aggregation,
        }
    }
    pub fn nrows(&self) -> usize {
        match self {
            GpuMatrix::Csr(a) => a.nrows,
            GpuMatrix::Stencil(s) => s.nrows(),
            GpuMatrix::Aggregation(t) => t.nrows(),
        }
    }
}

/// Rows `row0 .. row1`, nonzeros `k0 .. k1` and the x window of one block of a matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowBlock {
    pub rows: std::ops::Range<usize>,
    pub w0: usize,
    pub wlen: usize,
}

/// Rows per step of a row block, and the alignment of x windows, in elements: 64 elements
/// are 256 bytes in f32, the largest storage-binding offset alignment WebGPU allows.
pub const ROW_STEP: usize = 64;

/// Split a CSR matrix into row blocks for the device: each block lies within one vector
/// chunk of `chunk` rows, its nonzeros fit `max_nnz` elements and its row pointers
/// `max_idx`, and the columns it reads (and its diagonal, for `spmv_axpby`) lie in a window
/// of at most `chunk` columns starting at a multiple of [`ROW_STEP`]. Blocks grow by
/// [`ROW_STEP`] rows. One block (window = all columns) when the whole matrix fits. Err: one
/// step alone breaks a limit (a matrix too wide for its band, or rows too dense).
pub fn plan_row_blocks(a: &CsrMatrix, chunk: usize, max_nnz: usize, max_idx: usize) -> Result<Vec<RowBlock>, String> {
    let (n, nnz) = (a.nrows, a.row_ptr.last().copied().unwrap_or(0));
    if n <= chunk && a.ncols <= chunk && nnz <= max_nnz && n < max_idx {
        return Ok(vec![RowBlock { rows: 0..n, w0: 0, wlen: a.ncols.max(1) }]);
    }
    let last_col = a.ncols.max(1) - 1;
    let mut blocks = Vec::new();
    let mut r0 = 0;
    while r0 < n {
        let chunk_end = ((r0 / chunk + 1) * chunk).min(n);
        let (mut r, mut lo, mut hi) = (r0, r0.min(last_col), r0.min(last_col));
        let mut accepted = None;
        while r < chunk_end {
            let s = (r + ROW_STEP).min(chunk_end);
            let (mut l, mut h) = (lo.min(r.min(last_col)), hi.max((s - 1).min(last_col)));
            for &c in &a.col[a.row_ptr[r]..a.row_ptr[s]] {
                l = l.min(c as usize);
                h = h.max(c as usize);
            }
            let w0 = l / ROW_STEP * ROW_STEP;
            let ok = a.row_ptr[s] - a.row_ptr[r0] <= max_nnz && s - r0 < max_idx && h + 1 - w0 <= chunk;
            if !ok {
                if r == r0 {
                    return Err(format!(
                        "rows {r0}..{s} read columns {l}..={h} ({} nonzeros): more than one storage binding holds ({chunk} vector elements)",
                        a.row_ptr[s] - a.row_ptr[r0]
                    ));
                }
                break;
            }
            r = s;
            lo = l;
            hi = h;
            accepted = Some(RowBlock { rows: r0..r, w0, wlen: h + 1 - w0 });
        }
        match accepted {
            Some(b) => blocks.push(b),
            None => return Err(format!("row block at row {r0} is empty")),
        }
        r0 = r;
    }
    Ok(blocks)
}

impl GpuBackend {
    /// The row blocks `a` is uploaded in, or why it cannot be: indices beyond u32, or a
    /// block of [`ROW_STEP`] rows whose columns span more than one binding.
    pub fn plan_matrix(&self, a: &CsrMatrix) -> Result<Vec<RowBlock>, String> {
        if a.nnz() >= u32::MAX as usize || a.nrows >= u32::MAX as usize || a.ncols >= u32::MAX as usize {
            return Err(format!("{} rows and {} nonzeros exceed 32-bit indices", a.nrows, a.nnz()));
        }
        let c = self.max_elements();
        let cu = self.mem.chunk_elems(4);
        plan_row_blocks(a, c, c, cu)
    }

    /// Ok when `a` can be uploaded (see [`GpuBackend::plan_matrix`]).
    pub fn fits_matrix(&self, a: &CsrMatrix) -> Result<(), String> {
        self.plan_matrix(a).map(|_| ())
    }

    /// Upload `a` in the layout asked for, or (None) in the stencil layout where `a` is a
    /// grid operator (its assembly's layout, else detected) whose vectors fit one chunk, and
    /// in CSR otherwise.
    pub fn upload_matrix_layout(&self, a: &CsrMatrix, layout: Option<stencil::SpmvLayout>) -> GpuMatrix {
        if Self::stencil_layout_for(layout, a.nrows, self.max_elements()) {
            if let Some(s) = crate::linalg::stencil::StencilMatrix::of(a) {
                return GpuMatrix::Stencil(self.stencil_to_device(&s));
            }
        }
        GpuMatrix::Csr(self.upload_csr(a))
    }

    /// A grid operator in the stencil layout, or in CSR where the options ask for it or its
    /// vectors span more than one chunk.
    pub(super) fn upload_stencil_matrix(&self, s: &crate::linalg::stencil::StencilMatrix) -> GpuMatrix {
        if Self::stencil_layout_for(self.spmv_layout, s.nrows(), self.max_elements()) {
            GpuMatrix::Stencil(self.stencil_to_device(s))
        } else {
            GpuMatrix::Csr(self.upload_csr(&s.to_csr()))
        }
    }

    /// `a` given with its stencil form (`StencilMatrix::of(a)`): the stencil layout where
    /// [`GpuBackend::upload_stencil_matrix`] would take it, else `a` as
    /// [`GpuBackend::upload_matrix_layout`] uploads it (its CSR, not the stencil's).
    pub(super) fn upload_matrix_with_stencil_form(&self, a: &CsrMatrix, s: Option<&crate::linalg::stencil::StencilMatrix>) -> GpuMatrix {
        match s {
            Some(s) if Self::stencil_layout_for(self.spmv_layout, s.nrows(), self.max_elements()) => GpuMatrix::Stencil(self.stencil_to_device(s)),
            _ => self.upload_matrix_layout(a, self.spmv_layout),
        }
    }

    /// Whether a grid operator of `rows` rows goes to the device in the stencil layout: not
    /// where `layout` asks for CSR, nor where its vectors span more than one chunk
    /// (`max_elements`).
    fn stencil_layout_for(layout: Option<stencil::SpmvLayout>, rows: usize, max_elements: usize) -> bool {
        layout != Some(stencil::SpmvLayout::Csr) && rows <= max_elements
    }

    /// A multigrid transfer held as its grids, or in CSR where the options ask for CSR, the
    /// fine vectors span more than one chunk or the adapter has no block kernels.
    pub(super) fn upload_aggregation(&self, t: &crate::linalg::multigrid::Aggregation) -> GpuMatrix {
        if self.spmv_layout != Some(stencil::SpmvLayout::Csr) && t.fine_len() <= self.max_elements() && self.has_block_kernels() {
            GpuMatrix::Aggregation(*t)
        } else {
            GpuMatrix::Csr(self.upload_csr(&t.to_csr()))
        }
    }

    /// Upload `a` in CSR, in the row blocks of [`GpuBackend::plan_matrix`].
    fn upload_csr(&self, a: &CsrMatrix) -> GpuCsr {
        let plan = self.plan_matrix(a).unwrap_or_else(|e| panic!("matrix exceeds the adapter's limits (check fits_matrix first): {e}"));
        let blocks = plan
            .into_iter()
            .map(|b| {
                let (k0, k1) = (a.row_ptr[b.rows.start], a.row_ptr[b.rows.end]);
                // u32 row pointers from the block's first entry and columns from its window,
                // written straight into the upload staging (no converted host copies)
                let rp = &a.row_ptr[b.rows.start..=b.rows.end];
                let rp_fill = |at: usize, out: &mut [u8]| {
                    for (o, &p) in out.chunks_exact_mut(4).zip(&rp[at / 4..]) {
                        o.copy_from_slice(&((p - k0) as u32).to_le_bytes());
                    }
                };
                let (cols, w0) = (&a.col[k0..k1], b.w0 as u32);
                let col_fill = |at: usize, out: &mut [u8]| {
                    for (o, &c) in out.chunks_exact_mut(4).zip(&cols[at / 4..]) {
                        o.copy_from_slice(&(c - w0).to_le_bytes());
                    }
                };
                CsrBlock {
                    row0: b.rows.start,
                    nrows: b.rows.len(),
                    w0: b.w0,
                    wlen: b.wlen,
                    nnz: k1 - k0,
                    row_ptr: ManagedArray::from_fill(&self.mem, rp.len(), 4, self.placement, &rp_fill),
                    col: ManagedArray::from_fill(&self.mem, cols.len(), 4, self.placement, &col_fill),
                    val: self.array_of(&a.val[k0..k1], self.placement),
                }
            })
            .collect();
        GpuCsr { blocks, nrows: a.nrows }
    }

    /// y ← α A x + β x + γ y, one dispatch per row block of A. A block binds its rows of y
    /// and its window of x: a range of one chunk of x, or, where the window straddles two
    /// chunks, a scratch copy of it assembled on the device.
    #[allow(clippy::too_many_arguments)]
    ///
    /// `kernels`: the one-thread-per-row kernel and its [`WIDE_ROW`]-lanes variant, taken for
    /// a block whose rows hold [`WIDE_ROW_MIN_NNZ`] entries or more on average.
    pub(super) fn spmv_axpby_inner(&self, kernels: [&Kernel; 2], a: &GpuCsr, x: &GpuVector, alpha: f64, beta: f64, gamma: f64, y: &mut GpuVector) {
        if a.nrows == 0 {
            return;
        }
        let e = self.elem;
        let xv = x.0.device_read();
        // γ = 0: the kernels never read y
        let yv = if gamma == 0.0 { y.0.device_overwrite() } else { y.0.device_rw() };
        for b in &a.blocks {
            let (rp, ci, va) = b.views();
            let scratch = self.window_scratch(&xv, b);
            let xbind = Self::window_arg(&xv, &scratch, b, e);
            let ybind = Self::rows_arg(&yv, b, e);
            let args = [rp.chunks().first().into(), ci.chunks().first().into(), va.chunks().first().into(), xbind, ybind];
            let imm = imm::spmv(self.f64_mode, b.nrows as u32, (b.row0 - b.w0) as u32, alpha, beta, gamma);
            if b.nnz >= WIDE_ROW_MIN_NNZ * b.nrows {
                self.rec.run(kernels[1], &args, &imm, b.nrows * WIDE_ROW);
            } else {
                self.rec.run(kernels[0], &args, &imm, b.nrows);
            }
        }
    }

    /// Where block `b`'s window of x straddles two chunks of x: a scratch copy of it,
    /// assembled on the device (recorded into the pending stream). None: the window lies
    /// in one chunk and is bound in place.
    pub(super) fn window_scratch(&self, xv: &DeviceView, b: &CsrBlock) -> Option<Scratch> {
        let (e, c) = (self.elem, xv.chunk_elems());
        let (kx0, kx1) = (b.w0 / c, (b.w0 + b.wlen - 1) / c);
        (kx0 != kx1).then(|| {
            let s = self.mem.scratch(b.wlen as u64 * e);
            let mut p = self.mem.lock_pending();
            let enc = self.mem.encoder_locked(&mut p);
            for k in kx0..=kx1 {
                let r = xv.chunk_range(k);
                let (lo, hi) = (r.start.max(b.w0), r.end.min(b.w0 + b.wlen));
                enc.copy_buffer_to_buffer(xv.chunk(k), (lo - r.start) as u64 * e, &s, (lo - b.w0) as u64 * e, (hi - lo) as u64 * e);
            }
            s
        })
    }

    /// The binding of block `b`'s window of x (`scratch`: its copy from
    /// [`GpuBackend::window_scratch`]); `e` bytes per element.
    pub(super) fn window_arg<'a>(xv: &'a DeviceView, scratch: &'a Option<Scratch>, b: &CsrBlock, e: u64) -> Arg<'a> {
        let c = xv.chunk_elems();
        match scratch {
            Some(s) => Arg::Part(s, 0, b.wlen as u64 * e),
            None => Arg::Part(xv.chunk(b.w0 / c), (b.w0 - b.w0 / c * c) as u64 * e, b.wlen as u64 * e),
        }
    }

    /// The binding of block `b`'s rows of y.
    pub(super) fn rows_arg<'a>(yv: &'a DeviceView, b: &CsrBlock, e: u64) -> Arg<'a> {
        let c = yv.chunk_elems();
        let ky = b.row0 / c;
        Arg::Part(yv.chunk(ky), (b.row0 - ky * c) as u64 * e, b.nrows as u64 * e)
    }
}

impl CsrBlock {
    /// The block's row pointers, columns and values on the device.
    pub(super) fn views(&self) -> (DeviceView<'_>, DeviceView<'_>, DeviceView<'_>) {
        (self.row_ptr.device_read(), self.col.device_read(), self.val.device_read())
    }
}

impl GpuCsr {
    pub(super) fn blocks(&self) -> &[CsrBlock] {
        &self.blocks
    }
    pub fn nrows(&self) -> usize {
        self.nrows
    }
}
