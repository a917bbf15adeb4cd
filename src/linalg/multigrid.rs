//! Geometric multigrid on the rectilinear cell-centred grid, as a preconditioner for
//! [`super::cg::pcg`].
//!
//! **Hierarchy (built once on the host).** Each level coarsens the grid by 2 along every
//! axis that has at least 2 cells (odd counts: the last aggregate along that axis holds one
//! cell), until at most `max_coarse` unknowns are left. Prolongation P is piecewise
//! constant (each fine cell takes the value of the coarse cell that contains it: one
//! nonzero per row) and restriction R = Pᵀ; both are backend matrices applied with `spmv`
//! and `spmm` (an [`Aggregation`]: CSR on the host and the CPU, the two grids alone on the
//! GPU), so the cycle runs unchanged on every backend. The hierarchy is built from a CSR
//! operator ([`build_hierarchy`]) or, for a grid operator without periodic faces, in the
//! stencil layout ([`build_stencil_hierarchy`]: the same levels, no CSR copy of any).
//!
//! **Coarse operators.** The Galerkin product Pᵀ A P of a piecewise-constant P sums the
//! fine couplings between two aggregates; for a diffusion operator that is twice the
//! operator a re-discretisation on the coarse grid would give along every coarsened axis,
//! so the coarse correction comes out half as large as it should (the well-known weakness
//! of unsmoothed aggregation; Braess 1995). The coarse operator here is Pᵀ A P with the
//! couplings along coarsened axes (and the Dirichlet/fixed-cell excess of the diagonal,
//! `a_ii + Σ_j a_ij`) scaled by `coupling_scale` (default ½) and the diagonal made
//! consistent: it keeps the 7-point structure, stays symmetric and, for an M-matrix
//! (non-positive couplings, non-negative excess, as Poisson's), positive definite. A
//! zeroth-order term (the ∂ρ/∂φ diagonal of a Newton step, passed as `reaction`) is
//! *not* scaled: it coarsens by the plain Galerkin sum, which is its re-discretisation.
//! For a matrix that is not an M-matrix the scale is 1 (plain Galerkin).
//!
//! **Smoother.** A Chebyshev polynomial in D⁻¹A (D = diag A) of degree `smoother_degree`
//! on the interval [λmax/`smoothing_ratio`, λmax], λmax the Gershgorin bound of D⁻¹A. It is
//! built from `spmv_axpby`, `pointwise_mul`, `scale`, `xpby` and `axpy`, is symmetric in
//! the A inner product and convergent, and the same polynomial is used before and after
//! the coarse correction, so the V-cycle is a symmetric positive-definite operator and PCG
//! stays valid. Degree 1 is damped Jacobi (ω = 1/θ, θ the interval's centre).
//!
//! **Coarsest level.** The exact inverse of the coarsest operator (≤ `max_coarse` unknowns),
//! formed once on the host from its Cholesky factor and applied as a dense product on the
//! backend, so a cycle has no host round trip (solving with the factor on the host instead
//! costs a download and an upload per cycle: a GPU synchronisation).
//!
//! **Work.** A V-cycle costs, per level above the coarsest, 2·degree products with A_l
//! (the pre-smoother starts from zero, so its last residual update is the residual that is
//! restricted), one with R_l and one with P_l, plus the coarse triangular solves;
//! [`Multigrid::work_per_cycle`] counts it in fine-matrix spmv equivalents (nonzeros
//! touched / nnz(A₀)).
//!
//! Limits: the smoother is point-wise, so strong grid anisotropy (very different spacings
//! per axis) or strong coefficient anisotropy slows convergence; coarsening is uniform.

use std::borrow::{Borrow, BorrowMut};
use std::sync::Mutex;

use nalgebra::Cholesky;
use rayon::prelude::*;

use super::stencil::StencilMatrix;
use super::{Backend, CsrMatrix};
use crate::error::{QdError, Result};

/// The lattice an operator lives on, all that multigrid needs to know of the grid: cells
/// per axis (1 on absent axes), flat index x-fastest (i + nx·(j + ny·k)). Callers pass
/// `grid.n` (`physics::poisson` also converts a `&Grid` into it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub n: [usize; 3],
}

impl Dims {
    pub fn new(n: [usize; 3]) -> Dims {
        Dims { n }
    }
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.n[0] * self.n[1] * self.n[2]
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<[usize; 3]> for Dims {
    fn from(n: [usize; 3]) -> Dims {
        Dims { n }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct MultigridOptions {
    /// Degree of the Chebyshev smoother (products with A per smoothing sweep); 1 = damped
    /// Jacobi.
    pub smoother_degree: usize,
    /// The smoother damps the part [λmax/ratio, λmax] of the spectrum of D⁻¹A.
    pub smoothing_ratio: f64,
    /// Stop coarsening once a level has at most this many unknowns (solved by Cholesky).
    pub max_coarse: usize,
    /// Scale of the coarse couplings along coarsened axes (see the module docs): ½
    /// compensates the piecewise-constant prolongation; 1 is plain Galerkin.
    pub coupling_scale: f64,
    /// Upper bound on the number of levels.
    pub max_levels: usize,
    /// Cycles of the next level per coarse correction: 1 = V-cycle, 2 = W-cycle (both
    /// symmetric). The level above the coarsest always solves it exactly once.
    pub cycle_index: usize,
}

impl Default for MultigridOptions {
    fn default() -> Self {
        MultigridOptions { smoother_degree: 2, smoothing_ratio: 6.0, max_coarse: 600, coupling_scale: 0.5, max_levels: 20, cycle_index: 1 }
    }
}

/// One level of the hierarchy on the host.
#[derive(Clone, Debug)]
pub struct HostLevel {
    /// Cells per axis of this level.
    pub n: [usize; 3],
    /// The operator of this level.
    pub a: CsrMatrix,
    /// Restriction to the next level (rows = coarse cells) and prolongation from it
    /// (rows = this level's cells); `None` on the coarsest level.
    pub r: Option<CsrMatrix>,
    pub p: Option<CsrMatrix>,
}

/// Summary of a hierarchy (for logs and benchmarks).
#[derive(Clone, Debug, serde::Serialize)]
pub struct MultigridInfo {
    /// Cells per axis, finest first.
    pub level_sizes: Vec<[usize; 3]>,
    /// Nonzeros of each level's operator.
    pub level_nnz: Vec<usize>,
    /// Fine-matrix spmv equivalents of one V-cycle (see [`Multigrid::work_per_cycle`]).
    pub work_per_cycle: f64,
    pub options: MultigridOptions,
}

/// Build the hierarchy on the host: `a` is an operator on the cells of `dims` (their counts
/// define the coarsening), `reaction` the part of its diagonal that is a
/// zeroth-order term (not scaled on coarse levels; see the module docs).
pub fn build_hierarchy(dims: impl Into<Dims>, a: &CsrMatrix, reaction: Option<&[f64]>, opts: &MultigridOptions) -> Result<Vec<HostLevel>> {
    build_hierarchy_owned(dims, a.clone(), reaction, opts)
}

/// [`build_hierarchy`] of an operator the caller gives up: the finest level keeps it
/// instead of a copy (at 256³ a copy is 1.4 GB and a quarter second).
pub fn build_hierarchy_owned(dims: impl Into<Dims>, a: CsrMatrix, reaction: Option<&[f64]>, opts: &MultigridOptions) -> Result<Vec<HostLevel>> {
    let dims: Dims = dims.into();
    if a.nrows != dims.len() || a.ncols != dims.len() {
        return Err(QdError::Internal(format!(
            "multigrid: the matrix is {}×{} but the grid has {} cells",
            a.nrows,
            a.ncols,
            dims.len()
        )));
    }
    if let Some(r) = reaction {
        if r.len() != a.nrows {
            return Err(QdError::Internal("multigrid: reaction diagonal of the wrong length".into()));
        }
    }
    check_options(opts)?;
    let m_matrix = is_m_matrix(&a);
    let scale = if m_matrix { opts.coupling_scale } else { 1.0 };
    let n_rows = a.nrows;
    let mut levels = vec![HostLevel { n: dims.n, a, r: None, p: None }];
    let mut reac: Vec<f64> = reaction.map(|r| r.to_vec()).unwrap_or_else(|| vec![0.0; n_rows]);
    loop {
        let cur = levels.last().unwrap();
        let nf = cur.n;
        let total = nf[0] * nf[1] * nf[2];
        let coarsen: [bool; 3] = [nf[0] >= 2, nf[1] >= 2, nf[2] >= 2];
        if total <= opts.max_coarse || levels.len() >= opts.max_levels || !coarsen.iter().any(|&c| c) {
            break;
        }
        let nc: [usize; 3] = std::array::from_fn(|ax| if coarsen[ax] { nf[ax].div_ceil(2) } else { nf[ax] });
        let (ac, rc) = coarse_operator(&cur.a, &reac, nf, nc, coarsen, scale);
        let (r, p) = transfer(nf, nc, coarsen);
        let last = levels.last_mut().unwrap();
        last.r = Some(r);
        last.p = Some(p);
        levels.push(HostLevel { n: nc, a: ac, r: None, p: None });
        reac = rc;
    }
    Ok(levels)
}

/// Off-diagonals ≤ 0 and row sums ≥ 0 (up to rounding).
fn is_m_matrix(a: &CsrMatrix) -> bool {
    (0..a.nrows).into_par_iter().all(|i| {
        let mut sum = 0.0;
        let mut abs = 0.0;
        for p in a.row_ptr[i]..a.row_ptr[i + 1] {
            let v = a.val[p];
            if a.col[p] as usize != i && v > 0.0 {
                return false;
            }
            sum += v;
            abs += v.abs();
        }
        sum >= -1e-12 * abs
    })
}

fn flat(n: [usize; 3], ijk: [usize; 3]) -> usize {
    ijk[0] + n[0] * (ijk[1] + n[1] * ijk[2])
}

fn unflat(n: [usize; 3], idx: usize) -> [usize; 3] {
    [idx % n[0], (idx / n[0]) % n[1], idx / (n[0] * n[1])]
}

/// The aggregate (coarse cell) of fine cell `ijk`.
fn parent(ijk: [usize; 3], coarsen: [bool; 3]) -> [usize; 3] {
    std::array::from_fn(|a| if coarsen[a] { ijk[a] / 2 } else { ijk[a] })
}

/// Fine cells of coarse cell `c`.
fn children(c: [usize; 3], nf: [usize; 3], coarsen: [bool; 3]) -> impl Iterator<Item = [usize; 3]> {
    let range = move |a: usize| if coarsen[a] { 2 * c[a]..(2 * c[a] + 2).min(nf[a]) } else { c[a]..c[a] + 1 };
    let (r0, r1, r2) = (range(0), range(1), range(2));
    r2.flat_map(move |k| {
        let r1 = r1.clone();
        let r0 = r0.clone();
        r1.flat_map(move |j| r0.clone().map(move |i| [i, j, k]))
    })
}

/// A transfer between a grid and its aggregation by 2 along the axes `coarsen` (module
/// docs): the restriction R (rows: coarse cells, a one per child) or the prolongation
/// P = Rᵀ (rows: fine cells, a one at the parent). Backends that know the layout apply it
/// from the two grids alone ([`Backend::upload_transfer`]); [`Aggregation::to_csr`] is its
/// matrix for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aggregation {
    pub fine: [usize; 3],
    pub coarse: [usize; 3],
    pub coarsen: [bool; 3],
    /// R (coarse × fine) if true, P (fine × coarse) if false.
    pub restrict: bool,
}

impl Aggregation {
    /// The aggregation of `fine` along `coarsen` (the coarse counts rounded up).
    pub fn of(fine: [usize; 3], coarsen: [bool; 3], restrict: bool) -> Aggregation {
        let coarse = std::array::from_fn(|ax| if coarsen[ax] { fine[ax].div_ceil(2) } else { fine[ax] });
        Aggregation { fine, coarse, coarsen, restrict }
    }
    pub fn fine_len(&self) -> usize {
        self.fine.iter().product()
    }
    pub fn coarse_len(&self) -> usize {
        self.coarse.iter().product()
    }
    /// Rows of the transfer's matrix.
    pub fn nrows(&self) -> usize {
        if self.restrict {
            self.coarse_len()
        } else {
            self.fine_len()
        }
    }
    /// The matrix: R's rows list the children in ascending order, P's row its parent.
    pub fn to_csr(&self) -> CsrMatrix {
        let (nf, nc, coarsen) = (self.fine, self.coarse, self.coarsen);
        let (n_f, n_c) = (self.fine_len(), self.coarse_len());
        if !self.restrict {
            let pcol: Vec<u32> = (0..n_f).into_par_iter().map(|i| flat(nc, parent(unflat(nf, i), coarsen)) as u32).collect();
            return CsrMatrix { nrows: n_f, ncols: n_c, row_ptr: (0..=n_f).collect(), col: pcol, val: vec![1.0; n_f], stencil: None };
        }
        let rows: Vec<Vec<u32>> = (0..n_c)
            .into_par_iter()
            .map(|c| {
                let mut v: Vec<u32> = children(unflat(nc, c), nf, coarsen).map(|f| flat(nf, f) as u32).collect();
                v.sort_unstable();
                v
            })
            .collect();
        let mut row_ptr = Vec::with_capacity(n_c + 1);
        row_ptr.push(0);
        let mut col = Vec::with_capacity(n_f);
        for r in rows {
            col.extend(r);
            row_ptr.push(col.len());
        }
        CsrMatrix { nrows: n_c, ncols: n_f, row_ptr, col, val: vec![1.0; n_f], stencil: None }
    }
}

/// Restriction R (coarse × fine, ones) and prolongation P = Rᵀ.
fn transfer(nf: [usize; 3], nc: [usize; 3], coarsen: [bool; 3]) -> (CsrMatrix, CsrMatrix) {
    let r = Aggregation { fine: nf, coarse: nc, coarsen, restrict: true };
    let p = Aggregation { restrict: false, ..r };
    (r.to_csr(), p.to_csr())
}

/// The scaled Galerkin coarse operator (module docs) and the coarse reaction diagonal.
fn coarse_operator(
    a: &CsrMatrix,
    reac: &[f64],
    nf: [usize; 3],
    nc: [usize; 3],
    coarsen: [bool; 3],
    s: f64,
) -> (CsrMatrix, Vec<f64>) {
    let n_c = nc[0] * nc[1] * nc[2];
    let rows: Vec<(Vec<(u32, f64)>, f64)> = (0..n_c)
        .into_par_iter()
        .map(|ci| {
            let cijk = unflat(nc, ci);
            let mut entries: Vec<(u32, f64)> = Vec::with_capacity(64); // 8 children × a 7-point row
            let mut excess = 0.0; // Σ over the aggregate of the fine row sums
            let mut reaction = 0.0;
            for f in children(cijk, nf, coarsen) {
                let i = flat(nf, f);
                reaction += reac[i];
                for p in a.row_ptr[i]..a.row_ptr[i + 1] {
                    let j = a.col[p] as usize;
                    let v = a.val[p];
                    excess += v;
                    let cj = flat(nc, parent(unflat(nf, j), coarsen)) as u32;
                    entries.push((cj, v));
                }
            }
            entries.sort_unstable_by_key(|e| e.0);
            let mut merged: Vec<(u32, f64)> = Vec::with_capacity(8);
            for (c, v) in entries {
                match merged.last_mut() {
                    Some(l) if l.0 == c => l.1 += v,
                    _ => merged.push((c, v)),
                }
            }
            if s != 1.0 {
                // scale the couplings along coarsened axes and the non-reaction excess,
                // keeping the diagonal consistent
                let mut diag_adjust = -(1.0 - s) * (excess - reaction);
                for e in merged.iter_mut() {
                    if e.0 as usize == ci {
                        continue;
                    }
                    let dj = unflat(nc, e.0 as usize);
                    let along_coarsened = (0..3).any(|ax| dj[ax] != cijk[ax] && coarsen[ax]);
                    let sij = if along_coarsened { s } else { 1.0 };
                    diag_adjust += (1.0 - sij) * e.1;
                    e.1 *= sij;
                }
                if let Some(d) = merged.iter_mut().find(|e| e.0 as usize == ci) {
                    d.1 += diag_adjust;
                }
            }
            (merged, reaction)
        })
        .collect();
    let total: usize = rows.iter().map(|r| r.0.len()).sum();
    let mut row_ptr = Vec::with_capacity(n_c + 1);
    row_ptr.push(0);
    let mut col = Vec::with_capacity(total);
    let mut val = Vec::with_capacity(total);
    let mut rc = Vec::with_capacity(n_c);
    for (r, re) in rows {
        for (c, v) in r {
            col.push(c);
            val.push(v);
        }
        row_ptr.push(col.len());
        rc.push(re);
    }
    (CsrMatrix { nrows: n_c, ncols: n_c, row_ptr, col, val, stencil: None }, rc)
}

/// [`coarse_operator`] of a stencil: the same scaled Galerkin product, computed in the
/// stencil layout (aggregates of a 2 × 2 × 2 aggregation couple only across faces, so the
/// coarse operator is again a 7-point stencil). Per coarse cell C: the diagonal sums the
/// children's diagonals and twice their internal couplings, the coupling to the upper
/// neighbour along an axis sums the fine faces between the two aggregates; the scaling of
/// the couplings along coarsened axes and of the non-reaction excess, with the diagonal kept
/// consistent, is `coarse_operator`'s (the same values up to the order of the sums).
fn coarse_stencil(a: &StencilMatrix, reac: &[f64], nc: [usize; 3], coarsen: [bool; 3], s: f64) -> (StencilMatrix, Vec<f64>) {
    let nf = a.dims;
    let n_c = nc[0] * nc[1] * nc[2];
    let fs = a.strides();
    let cs = [1, nc[0], nc[0] * nc[1]];
    // per coarse cell: merged diagonal, upper couplings, reaction, and the sum of all fine
    // entries of its children (the excess, before scaling)
    let cells: Vec<(f64, [f64; 3], f64, f64)> = (0..n_c)
        .into_par_iter()
        .map(|ci| {
            let c = unflat(nc, ci);
            let (mut diag, mut up, mut reaction, mut excess) = (0.0, [0.0; 3], 0.0, 0.0);
            for f in children(c, nf, coarsen) {
                let i = flat(nf, f);
                reaction += reac[i];
                diag += a.diag[i];
                excess += a.diag[i];
                for ax in 0..3 {
                    if f[ax] >= 1 {
                        let v = a.off[ax][i - fs[ax]];
                        excess += v;
                        let mut g = f;
                        g[ax] -= 1;
                        if parent(g, coarsen) == c {
                            diag += v;
                        }
                    }
                    if f[ax] + 1 < nf[ax] {
                        let v = a.off[ax][i];
                        excess += v;
                        let mut g = f;
                        g[ax] += 1;
                        if parent(g, coarsen) == c {
                            diag += v;
                        } else {
                            up[ax] += v;
                        }
                    }
                }
            }
            (diag, up, reaction, excess)
        })
        .collect();
    let scaled = |ax: usize| if coarsen[ax] { s } else { 1.0 };
    let off: [Vec<f64>; 3] = std::array::from_fn(|ax| cells.par_iter().map(|c| c.1[ax] * scaled(ax)).collect());
    let diag: Vec<f64> = (0..n_c)
        .into_par_iter()
        .map(|ci| {
            let (d, up, reaction, excess) = cells[ci];
            if s == 1.0 {
                return d;
            }
            let c = unflat(nc, ci);
            let mut adjust = -(1.0 - s) * (excess - reaction);
            for ax in 0..3 {
                let sij = scaled(ax);
                if c[ax] >= 1 {
                    adjust += (1.0 - sij) * cells[ci - cs[ax]].1[ax];
                }
                if c[ax] + 1 < nc[ax] {
                    adjust += (1.0 - sij) * up[ax];
                }
            }
            d + adjust
        })
        .collect();
    let rc = cells.iter().map(|c| c.2).collect();
    (StencilMatrix { dims: nc, diag, off }, rc)
}

/// [`is_m_matrix`] of a stencil.
fn is_m_matrix_stencil(a: &StencilMatrix) -> bool {
    (0..a.nrows()).into_par_iter().all(|i| {
        let (mut sum, mut abs) = (0.0, 0.0);
        for (c, v) in a.row(i) {
            if c != i && v > 0.0 {
                return false;
            }
            sum += v;
            abs += v.abs();
        }
        sum >= -1e-12 * abs
    })
}

/// [`gershgorin_dinv_a`] of a stencil.
fn gershgorin_stencil(a: &StencilMatrix) -> f64 {
    a.map_rows(|e| {
        let d = e[3];
        let s: f64 = e.iter().map(|v| v.abs()).sum();
        if d > 0.0 {
            s / d
        } else {
            1.0
        }
    })
    .into_par_iter()
    .reduce(|| 0.0, f64::max)
}

/// One level of a hierarchy in the stencil layout: its operator; the transfers to the next
/// level are the aggregation of its grid (no matrices are stored).
#[derive(Clone, Debug)]
pub struct StencilLevel {
    pub a: StencilMatrix,
    /// The axes coarsened towards the next level (None on the coarsest).
    pub coarsen: Option<[bool; 3]>,
}

/// [`build_hierarchy_owned`] of an operator in the stencil layout: every level a stencil
/// ([`coarse_stencil`]), the transfers implicit. `reaction` as there.
pub fn build_stencil_hierarchy(a: StencilMatrix, reaction: Option<&[f64]>, opts: &MultigridOptions) -> Result<Vec<StencilLevel>> {
    let n_rows = a.nrows();
    if let Some(r) = reaction {
        if r.len() != n_rows {
            return Err(QdError::Internal("multigrid: reaction diagonal of the wrong length".into()));
        }
    }
    check_options(opts)?;
    let scale = if is_m_matrix_stencil(&a) { opts.coupling_scale } else { 1.0 };
    let mut levels = vec![StencilLevel { a, coarsen: None }];
    let mut reac: Vec<f64> = reaction.map(|r| r.to_vec()).unwrap_or_else(|| vec![0.0; n_rows]);
    loop {
        let cur = levels.last().unwrap();
        let nf = cur.a.dims;
        let coarsen: [bool; 3] = [nf[0] >= 2, nf[1] >= 2, nf[2] >= 2];
        if cur.a.nrows() <= opts.max_coarse || levels.len() >= opts.max_levels || !coarsen.iter().any(|&c| c) {
            break;
        }
        let nc = Aggregation::of(nf, coarsen, true).coarse;
        let (ac, rc) = coarse_stencil(&cur.a, &reac, nc, coarsen, scale);
        levels.last_mut().unwrap().coarsen = Some(coarsen);
        levels.push(StencilLevel { a: ac, coarsen: None });
        reac = rc;
    }
    Ok(levels)
}

fn check_options(opts: &MultigridOptions) -> Result<()> {
    if opts.smoother_degree == 0 || opts.smoothing_ratio <= 1.0 || opts.max_levels == 0 || opts.cycle_index == 0 {
        return Err(QdError::input("multigrid", "smoother_degree, max_levels and cycle_index must be ≥ 1, smoothing_ratio > 1"));
    }
    Ok(())
}

/// Gershgorin bound of the spectrum of D⁻¹A (rows with a zero diagonal count 1).
fn gershgorin_dinv_a(a: &CsrMatrix) -> f64 {
    (0..a.nrows)
        .into_par_iter()
        .map(|i| {
            let mut d = 0.0;
            let mut s = 0.0;
            for p in a.row_ptr[i]..a.row_ptr[i + 1] {
                s += a.val[p].abs();
                if a.col[p] as usize == i {
                    d = a.val[p];
                }
            }
            if d > 0.0 {
                s / d
            } else {
                1.0
            }
        })
        .reduce(|| 0.0, f64::max)
}

struct DeviceLevel<B: Backend> {
    a: B::Matrix,
    r: Option<B::Matrix>,
    p: Option<B::Matrix>,
    inv_diag: B::Vector,
    n: usize,
    /// Centre and half-width of the Chebyshev interval.
    theta: f64,
    delta: f64,
}

/// A level as uploaded, before the smoother's data are derived.
struct LevelParts<B: Backend> {
    a: B::Matrix,
    r: Option<B::Matrix>,
    p: Option<B::Matrix>,
    /// The operator's diagonal (host).
    diag: Vec<f64>,
    /// The Gershgorin bound of D⁻¹A.
    lmax: f64,
    n: [usize; 3],
    /// Rows of the operator (the cells, times the unknowns per cell of a vector problem).
    rows: usize,
    nnz: usize,
    /// Nonzeros of R and P together.
    transfer_nnz: usize,
}

/// Work vectors of one level: residual, Chebyshev direction, a temporary, and the
/// right-hand side and solution of the next coarser level.
struct Work<B: Backend> {
    r: B::Vector,
    d: B::Vector,
    t: B::Vector,
    bc: B::Vector,
    xc: B::Vector,
    /// Residual and correction of the next level (W-cycles only).
    rc: B::Vector,
    ec: B::Vector,
}

/// Work vectors of one level for a block of columns (as [`Work`], one vector per column),
/// grown to the widest block seen.
struct BlockWork<B: Backend> {
    r: Vec<B::Vector>,
    d: Vec<B::Vector>,
    t: Vec<B::Vector>,
    bc: Vec<B::Vector>,
    xc: Vec<B::Vector>,
    rc: Vec<B::Vector>,
    ec: Vec<B::Vector>,
}

/// The V-cycle preconditioner, with its operators uploaded to a backend.
pub struct Multigrid<B: Backend> {
    levels: Vec<DeviceLevel<B>>,
    /// The coarsest operator's inverse, dense (from its Cholesky factor), uploaded as a
    /// matrix: the coarse solve is one product on the backend, with no round trip to the
    /// host (on a GPU a V-cycle then never waits for the device).
    coarse: B::Matrix,
    degree: usize,
    cycle_index: usize,
    work: Mutex<Vec<Work<B>>>,
    /// Work of [`Multigrid::vcycle_block`], per level above the coarsest.
    block_work: Mutex<Vec<BlockWork<B>>>,
    info: MultigridInfo,
}

impl<B: Backend> Multigrid<B> {
    /// Build the hierarchy of `a` on the cells of `dims` (see [`build_hierarchy`]) and upload it.
    /// `reaction`: the zeroth-order part of a's diagonal (e.g. the Newton term of the
    /// nonlinear Poisson equation), or `None`. Errors if the coarsest operator is not
    /// positive definite (e.g. a singular all-Neumann/periodic operator).
    pub fn new(be: &B, dims: impl Into<Dims>, a: &CsrMatrix, reaction: Option<&[f64]>, opts: &MultigridOptions) -> Result<Self> {
        let host = build_hierarchy(dims, a, reaction, opts)?;
        Self::from_hierarchy(be, &host, opts)
    }

    /// [`Multigrid::new`] of an operator the caller gives up (no copy of the finest level).
    pub fn new_owned(be: &B, dims: impl Into<Dims>, a: CsrMatrix, reaction: Option<&[f64]>, opts: &MultigridOptions) -> Result<Self> {
        let host = build_hierarchy_owned(dims, a, reaction, opts)?;
        Self::from_hierarchy_owned(be, host, opts)
    }

    /// [`Multigrid::from_hierarchy`] of levels the caller gives up: each is uploaded with
    /// [`Backend::upload_matrix_owned`], so a backend whose matrices are host CSR keeps the
    /// levels without a copy.
    pub fn from_hierarchy_owned(be: &B, host: Vec<HostLevel>, opts: &MultigridOptions) -> Result<Self> {
        let last = host.last().ok_or_else(|| QdError::Internal("multigrid: empty hierarchy".into()))?.a.clone();
        let parts = host
            .into_iter()
            .map(|h| {
                let (diag, lmax, n, rows, nnz) = (h.a.diagonal(), gershgorin_dinv_a(&h.a), h.n, h.a.nrows, h.a.nnz());
                let transfer_nnz = h.r.as_ref().map_or(0, |r| r.nnz()) + h.p.as_ref().map_or(0, |p| p.nnz());
                LevelParts {
                    a: be.upload_matrix_owned(h.a),
                    r: h.r.map(|m| be.upload_matrix_owned(m)),
                    p: h.p.map(|m| be.upload_matrix_owned(m)),
                    diag,
                    lmax,
                    n,
                    rows,
                    nnz,
                    transfer_nnz,
                }
            })
            .collect();
        Self::assemble(be, parts, &last, opts)
    }

    /// Upload a hierarchy built by [`build_hierarchy`].
    pub fn from_hierarchy(be: &B, host: &[HostLevel], opts: &MultigridOptions) -> Result<Self> {
        let last = host.last().ok_or_else(|| QdError::Internal("multigrid: empty hierarchy".into()))?;
        let parts = host
            .iter()
            .map(|h| LevelParts {
                a: be.upload_matrix(&h.a),
                r: h.r.as_ref().map(|m| be.upload_matrix(m)),
                p: h.p.as_ref().map(|m| be.upload_matrix(m)),
                diag: h.a.diagonal(),
                lmax: gershgorin_dinv_a(&h.a),
                n: h.n,
                rows: h.a.nrows,
                nnz: h.a.nnz(),
                transfer_nnz: h.r.as_ref().map_or(0, |r| r.nnz()) + h.p.as_ref().map_or(0, |p| p.nnz()),
            })
            .collect();
        Self::assemble(be, parts, &last.a, opts)
    }

    /// [`Multigrid::new`] of an operator in the stencil layout ([`build_stencil_hierarchy`]):
    /// every level uploaded with [`Backend::upload_stencil`], the transfers with
    /// [`Backend::upload_transfer`], so a backend that holds both layouts natively keeps no
    /// CSR copy of any level (on the GPU, the transfers need no memory at all).
    pub fn new_stencil(be: &B, a: StencilMatrix, reaction: Option<&[f64]>, opts: &MultigridOptions) -> Result<Self> {
        let host = build_stencil_hierarchy(a, reaction, opts)?;
        Self::from_stencil_hierarchy(be, &host, opts)
    }

    /// Upload a hierarchy built by [`build_stencil_hierarchy`].
    pub fn from_stencil_hierarchy(be: &B, host: &[StencilLevel], opts: &MultigridOptions) -> Result<Self> {
        let last = host.last().ok_or_else(|| QdError::Internal("multigrid: empty hierarchy".into()))?;
        let parts = host
            .iter()
            .map(|h| {
                let t = |restrict| h.coarsen.map(|c| Aggregation::of(h.a.dims, c, restrict));
                LevelParts {
                    a: be.upload_stencil(&h.a),
                    r: t(true).map(|t| be.upload_transfer(&t)),
                    p: t(false).map(|t| be.upload_transfer(&t)),
                    diag: h.a.diag.clone(),
                    lmax: gershgorin_stencil(&h.a),
                    n: h.a.dims,
                    rows: h.a.nrows(),
                    nnz: h.a.nnz(),
                    transfer_nnz: if h.coarsen.is_some() { 2 * h.a.nrows() } else { 0 },
                }
            })
            .collect();
        Self::assemble(be, parts, &last.a.to_csr(), opts)
    }

    /// The preconditioner from its uploaded levels and the coarsest operator (inverted here).
    fn assemble(be: &B, host: Vec<LevelParts<B>>, coarsest: &CsrMatrix, opts: &MultigridOptions) -> Result<Self> {
        let chol = Cholesky::new(coarsest.to_dense()).ok_or_else(|| {
            QdError::NotConverged(format!(
                "multigrid: the coarsest operator ({} unknowns) is not positive definite: the matrix is singular \
                 (no Dirichlet boundary or fixed cell?) or not SPD",
                coarsest.nrows
            ))
        })?;
        let inv = chol.inverse();
        let nc0 = inv.nrows();
        let triplets: Vec<(usize, usize, f64)> = (0..nc0).flat_map(|i| (0..nc0).map(move |j| (i, j))).map(|(i, j)| (i, j, 0.5 * (inv[(i, j)] + inv[(j, i)]))).collect();
        let coarse = be.upload_matrix(&CsrMatrix::from_triplets(nc0, nc0, &triplets));
        let nlev = host.len();
        let sizes: Vec<[usize; 3]> = host.iter().map(|h| h.n).collect();
        let nnz: Vec<usize> = host.iter().map(|h| h.nnz).collect();
        let transfer_nnz: Vec<usize> = host.iter().map(|h| h.transfer_nnz).collect();
        let rows: Vec<usize> = host.iter().map(|h| h.rows).collect();
        let mut levels = Vec::with_capacity(nlev);
        let mut work = Vec::with_capacity(nlev);
        for (l, h) in host.into_iter().enumerate() {
            let inv: Vec<f64> = h.diag.iter().map(|&d| if d > 0.0 { 1.0 / d } else { 1.0 }).collect();
            let lmin = h.lmax / opts.smoothing_ratio;
            let n = h.rows;
            levels.push(DeviceLevel { a: h.a, r: h.r, p: h.p, inv_diag: be.from_host(&inv), n, theta: 0.5 * (h.lmax + lmin), delta: 0.5 * (h.lmax - lmin) });
            if l + 1 < nlev {
                let nc = rows[l + 1];
                let extra = if opts.cycle_index > 1 { nc } else { 0 };
                work.push(Work { r: be.alloc(n), d: be.alloc(n), t: be.alloc(n), bc: be.alloc(nc), xc: be.alloc(nc), rc: be.alloc(extra), ec: be.alloc(extra) });
            }
        }
        let fine_nnz = nnz[0].max(1) as f64;
        // work of a cycle on level l, from the coarsest up
        let nc = coarsest.nrows as f64;
        let mut w = nc * nc; // the dense inverse's product
        for l in (0..nlev - 1).rev() {
            let gamma = if l + 2 == nlev { 1 } else { opts.cycle_index };
            let own = (2 * opts.smoother_degree * nnz[l] + transfer_nnz[l]) as f64;
            w = own + gamma as f64 * w + (gamma - 1) as f64 * nnz[l + 1] as f64;
        }
        let info = MultigridInfo { level_sizes: sizes, level_nnz: nnz, work_per_cycle: w / fine_nnz, options: opts.clone() };
        let block_work = (0..nlev - 1)
            .map(|_| BlockWork { r: Vec::new(), d: Vec::new(), t: Vec::new(), bc: Vec::new(), xc: Vec::new(), rc: Vec::new(), ec: Vec::new() })
            .collect();
        Ok(Multigrid {
            levels,
            coarse,
            degree: opts.smoother_degree,
            cycle_index: opts.cycle_index,
            work: Mutex::new(work),
            block_work: Mutex::new(block_work),
            info,
        })
    }

    /// The finest level's operator as uploaded: the operator the cycle preconditions, for a
    /// Krylov solve that need not upload it a second time.
    pub fn fine_matrix(&self) -> &B::Matrix {
        &self.levels[0].a
    }

    pub fn info(&self) -> &MultigridInfo {
        &self.info
    }

    /// Work of one V-cycle in products with the fine matrix: Σ over levels above the
    /// coarsest of (2·degree·nnz(A_l) + nnz(R_l) + nnz(P_l)), plus n_c² for the coarse
    /// triangular solves, divided by nnz(A₀). Vector updates are not counted.
    pub fn work_per_cycle(&self) -> f64 {
        self.info.work_per_cycle
    }

    pub fn levels(&self) -> usize {
        self.levels.len()
    }

    /// Chebyshev smoothing of A x = b on level `l`. `from_zero`: x is taken as 0 (and
    /// overwritten), and on return `w.r` holds b − A x. Otherwise x is updated in place.
    fn smooth(&self, be: &B, lev: &DeviceLevel<B>, b: &B::Vector, x: &mut B::Vector, w: &mut Work<B>, from_zero: bool) {
        let m = self.degree;
        let sigma = lev.theta / lev.delta;
        be.copy(b, &mut w.r);
        if !from_zero {
            // r ← b − A x
            be.spmv_axpby(&lev.a, x, -1.0, 0.0, 1.0, &mut w.r);
        }
        be.pointwise_mul(&lev.inv_diag, &w.r, &mut w.d);
        be.scale(1.0 / lev.theta, &mut w.d);
        let mut rho = 1.0 / sigma;
        for k in 0..m {
            if from_zero && k == 0 {
                be.copy(&w.d, x);
            } else {
                be.axpy(1.0, &w.d, x);
            }
            if k + 1 == m {
                if from_zero {
                    // the residual the coarse level needs
                    be.spmv_axpby(&lev.a, &w.d, -1.0, 0.0, 1.0, &mut w.r);
                }
                break;
            }
            be.spmv_axpby(&lev.a, &w.d, -1.0, 0.0, 1.0, &mut w.r);
            let rho_new = 1.0 / (2.0 * sigma - rho);
            be.pointwise_mul(&lev.inv_diag, &w.r, &mut w.t);
            be.scale(2.0 * rho_new / lev.delta, &mut w.t);
            be.xpby(&w.t, rho_new * rho, &mut w.d);
            rho = rho_new;
        }
    }

    fn coarse_solve(&self, be: &B, b: &B::Vector, x: &mut B::Vector) {
        be.spmv(&self.coarse, b, x);
    }

    fn cycle(&self, be: &B, l: usize, b: &B::Vector, x: &mut B::Vector, work: &mut [Work<B>]) {
        if l + 1 == self.levels.len() {
            self.coarse_solve(be, b, x);
            return;
        }
        let lev = &self.levels[l];
        let (w, rest) = work.split_first_mut().expect("one work set per level above the coarsest");
        self.smooth(be, lev, b, x, w, true);
        be.spmv(lev.r.as_ref().unwrap(), &w.r, &mut w.bc);
        self.cycle(be, l + 1, &w.bc, &mut w.xc, rest);
        if l + 2 < self.levels.len() {
            // W-cycle: more cycles of the next level on its residual
            let next = &self.levels[l + 1].a;
            for _ in 1..self.cycle_index {
                be.copy(&w.bc, &mut w.rc);
                be.spmv_axpby(next, &w.xc, -1.0, 0.0, 1.0, &mut w.rc);
                self.cycle(be, l + 1, &w.rc, &mut w.ec, rest);
                be.axpy(1.0, &w.ec, &mut w.xc);
            }
        }
        be.spmv(lev.p.as_ref().unwrap(), &w.xc, &mut w.t);
        be.axpy(1.0, &w.t, x);
        self.smooth(be, lev, b, x, w, false);
    }

    /// One V-cycle for A z = r from z = 0.
    pub fn vcycle(&self, be: &B, r: &B::Vector, z: &mut B::Vector) {
        debug_assert_eq!(be.len(r), self.levels[0].n);
        let mut work = self.work.lock().unwrap_or_else(|e| e.into_inner());
        self.cycle(be, 0, r, z, &mut work);
    }
}

impl<B: Backend> Multigrid<B> {
    /// [`Multigrid::smooth`] for a block: the same recurrence on every column, each product
    /// with A one [`Backend::spmm`] for the block and one [`Backend::block_axpy`] (one pass
    /// over A per group of columns where the backend fuses it, one halo exchange on a
    /// distributed backend; on the GPU 4 dispatches for 13 columns instead of 13).
    fn smooth_block<X: Borrow<B::Vector>, Z: BorrowMut<B::Vector>>(&self, be: &B, lev: &DeviceLevel<B>, b: &[X], x: &mut [Z], w: &mut BlockWork<B>, from_zero: bool) {
        let k = b.len();
        let m = self.degree;
        let sigma = lev.theta / lev.delta;
        let (r, d, t) = (&mut w.r[..k], &mut w.d[..k], &mut w.t[..k]);
        be.block_copy(b, &mut *r);
        let minus = vec![-1.0; k];
        // r_j ← r_j − A v_j for the block: one SpMM (the operator read once per group of
        // columns) and one block axpy, a few dispatches where spmv_axpby_block is one per
        // column (t is free at each use)
        let residual = |v: &[&B::Vector], r: &mut [B::Vector], t: &mut [B::Vector]| {
            be.spmm(&lev.a, v, t);
            be.block_axpy(&minus, t, r);
        };
        if !from_zero {
            let xs: Vec<&B::Vector> = x.iter().map(|v| v.borrow()).collect();
            residual(&xs, &mut *r, &mut *t);
        }
        // d_j ← D⁻¹ r_j / θ; each later step d_j ← (2ρ'/δ) D⁻¹ r_j + ρ'ρ d_j: one block
        // operation each (the per-column pointwise_mul, scale and xpby of `smooth`, with
        // the same rounding on the CPU)
        be.block_diag_axpby(&lev.inv_diag, 1.0 / lev.theta, &*r, 0.0, &mut *d);
        let ones = vec![1.0; k];
        let mut rho = 1.0 / sigma;
        for it in 0..m {
            if from_zero && it == 0 {
                be.block_copy(&*d, &mut *x);
            } else {
                be.block_axpy(&ones, &*d, &mut *x);
            }
            if it + 1 == m {
                if from_zero {
                    let ds: Vec<&B::Vector> = d.iter().collect();
                    residual(&ds, &mut *r, &mut *t);
                }
                break;
            }
            let ds: Vec<&B::Vector> = d.iter().collect();
            residual(&ds, &mut *r, &mut *t);
            let rho_new = 1.0 / (2.0 * sigma - rho);
            be.block_diag_axpby(&lev.inv_diag, 2.0 * rho_new / lev.delta, &*r, rho_new * rho, &mut *d);
            rho = rho_new;
        }
    }

    /// [`Multigrid::cycle`] for a block of columns.
    fn cycle_block<X: Borrow<B::Vector>, Z: BorrowMut<B::Vector>>(&self, be: &B, l: usize, b: &[X], x: &mut [Z], work: &mut [BlockWork<B>]) {
        if l + 1 == self.levels.len() {
            be.spmm(&self.coarse, b, x);
            return;
        }
        let k = b.len();
        let ones = vec![1.0; k];
        let lev = &self.levels[l];
        let (w, rest) = work.split_first_mut().expect("one work set per level above the coarsest");
        self.smooth_block(be, lev, b, x, w, true);
        be.spmm(lev.r.as_ref().unwrap(), &w.r[..k], &mut w.bc[..k]);
        self.cycle_block(be, l + 1, &w.bc[..k], &mut w.xc[..k], rest);
        if l + 2 < self.levels.len() {
            let next = &self.levels[l + 1].a;
            for _ in 1..self.cycle_index {
                be.block_copy(&w.bc[..k], &mut w.rc[..k]);
                be.spmv_axpby_block(next, &w.xc[..k], -1.0, 0.0, 1.0, &mut w.rc[..k]);
                self.cycle_block(be, l + 1, &w.rc[..k], &mut w.ec[..k], rest);
                be.block_axpy(&ones, &w.ec[..k], &mut w.xc[..k]);
            }
        }
        be.spmm(lev.p.as_ref().unwrap(), &w.xc[..k], &mut w.t[..k]);
        be.block_axpy(&ones, &w.t[..k], x);
        self.smooth_block(be, lev, b, x, w, false);
    }

    /// One V-cycle for A z_j = r_j from z_j = 0 for every column of a block, all columns
    /// through each level together: the same result as [`Multigrid::vcycle`] per column
    /// (the same operations in the same order on each column), in block operations
    /// (`spmv_axpby_block`, `spmm`, `block_axpy`, `block_scale`), so a backend reads each
    /// level's operator once per sweep for the whole block and a distributed one exchanges
    /// one halo per block. No read-back. Work vectors are kept for the widest block seen.
    pub fn vcycle_block<X: Borrow<B::Vector>, Z: BorrowMut<B::Vector>>(&self, be: &B, rs: &[X], zs: &mut [Z]) {
        assert_eq!(rs.len(), zs.len(), "vcycle_block: as many outputs as inputs");
        let k = rs.len();
        if k == 0 {
            return;
        }
        debug_assert!(rs.iter().all(|r| be.len(r.borrow()) == self.levels[0].n));
        let mut work = self.block_work.lock().unwrap_or_else(|e| e.into_inner());
        for (l, w) in work.iter_mut().enumerate() {
            let (n, nc) = (self.levels[l].n, self.levels[l + 1].n);
            let extra = if self.cycle_index > 1 { nc } else { 0 };
            while w.r.len() < k {
                w.r.push(be.alloc(n));
                w.d.push(be.alloc(n));
                w.t.push(be.alloc(n));
                w.bc.push(be.alloc(nc));
                w.xc.push(be.alloc(nc));
                w.rc.push(be.alloc(extra));
                w.ec.push(be.alloc(extra));
            }
        }
        self.cycle_block(be, 0, rs, zs, &mut work);
    }
}

impl<B: Backend> super::cg::Preconditioner<B> for Multigrid<B> {
    fn apply(&self, be: &B, r: &B::Vector, z: &mut B::Vector) {
        self.vcycle(be, r, z);
    }
    fn apply_block(&self, be: &B, rs: &[&B::Vector], zs: &mut [&mut B::Vector]) {
        self.vcycle_block(be, rs, zs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::linalg::cg::{pcg, CgOptions};

    /// The 7-point Laplacian −∇² on `n` cells of size `h`, zero outside the box (Dirichlet)
    /// or periodic per axis: an SPD operator of the kind multigrid is built for.
    fn laplacian(n: [usize; 3], h: [f64; 3], periodic: [bool; 3]) -> CsrMatrix {
        let len = n[0] * n[1] * n[2];
        let stride = [1, n[0], n[0] * n[1]];
        let mut trip: Vec<(usize, usize, f64)> = Vec::new();
        for idx in 0..len {
            let ijk = [idx % n[0], (idx / n[0]) % n[1], idx / (n[0] * n[1])];
            let mut diag = 0.0;
            for a in 0..3 {
                if n[a] == 1 {
                    continue;
                }
                let w = 1.0 / (h[a] * h[a]);
                for up in [false, true] {
                    let nb = match (up, ijk[a]) {
                        (true, i) if i + 1 < n[a] => Some(idx + stride[a]),
                        (true, _) if periodic[a] => Some(idx + stride[a] - n[a] * stride[a]),
                        (false, i) if i > 0 => Some(idx - stride[a]),
                        (false, _) if periodic[a] => Some(idx + (n[a] - 1) * stride[a]),
                        _ => None,
                    };
                    diag += w;
                    if let Some(j) = nb {
                        trip.push((idx, j, -w));
                    }
                }
            }
            trip.push((idx, idx, diag));
        }
        CsrMatrix::from_triplets(len, len, &trip)
    }

    #[test]
    fn hierarchy_handles_odd_and_thin_axes() {
        let g = Dims::new([13, 5, 2]);
        let a = laplacian(g.n, [1.0; 3], [false; 3]);
        let levels = build_hierarchy(g, &a, None, &MultigridOptions { max_coarse: 4, ..Default::default() }).unwrap();
        let sizes: Vec<[usize; 3]> = levels.iter().map(|l| l.n).collect();
        assert_eq!(sizes, vec![[13, 5, 2], [7, 3, 1], [4, 2, 1], [2, 1, 1]]);
        for l in &levels {
            assert!(l.a.asymmetry() < 1e-12);
            assert!(Cholesky::new(l.a.to_dense()).is_some(), "level {:?} not SPD", l.n);
        }
        // plain Galerkin with scale 1 equals Pᵀ A P
        let o = MultigridOptions { max_coarse: 4, coupling_scale: 1.0, ..Default::default() };
        let lv = build_hierarchy(g, &a, None, &o).unwrap();
        let p = lv[0].p.as_ref().unwrap().to_dense();
        let rap = p.transpose() * a.to_dense() * &p;
        assert!((rap - lv[1].a.to_dense()).abs().max() < 1e-12);
    }

    #[test]
    fn vcycle_and_wcycle_are_symmetric() {
        let g = Dims::new([9, 8, 6]);
        let a = laplacian(g.n, [1.0, 0.8, 1.0], [false, true, false]);
        let be = CpuBackend::new();
        for cycle_index in [1, 2] {
            let o = MultigridOptions { max_coarse: 20, cycle_index, ..Default::default() };
            let mg = Multigrid::new(&be, g, &a, None, &o).unwrap();
            assert!(mg.levels() >= 3);
            let n = g.len();
            let x = crate::linalg::backend::random_values(n, 1);
            let y = crate::linalg::backend::random_values(n, 2);
            let mut mx = vec![0.0; n];
            let mut my = vec![0.0; n];
            mg.vcycle(&be, &x, &mut mx);
            mg.vcycle(&be, &y, &mut my);
            let a1: f64 = y.iter().zip(&mx).map(|(a, b)| a * b).sum();
            let a2: f64 = x.iter().zip(&my).map(|(a, b)| a * b).sum();
            assert!((a1 - a2).abs() < 1e-12 * a1.abs().max(1.0), "cycle {cycle_index}: {a1} vs {a2}");
            let xmx: f64 = x.iter().zip(&mx).map(|(a, b)| a * b).sum();
            assert!(xmx > 0.0);
        }
    }

    /// The stencil hierarchy is the CSR hierarchy: every level's operator (to rounding:
    /// the sums run in another order), and a V-cycle through stencils and implicit transfers
    /// gives the CSR cycle's result, for odd and even axes, 1D, 2D and 3D, with a reaction
    /// term and for a non-M-matrix (plain Galerkin).
    #[test]
    fn stencil_hierarchy_equals_the_csr_hierarchy() {
        use crate::linalg::cg::Preconditioner;
        use crate::linalg::stencil::StencilMatrix;
        let be = CpuBackend::new();
        for (n, m_matrix) in [([11, 7, 6], true), ([16, 9, 1], true), ([37, 1, 1], true), ([9, 8, 5], false)] {
            let mut a = laplacian(n, [1.0, 0.7, 1.3], [false; 3]);
            let len = a.nrows;
            let reaction: Vec<f64> = (0..len).map(|i| 0.05 + 0.01 * (i % 7) as f64).collect();
            for i in 0..len {
                let p = (a.row_ptr[i]..a.row_ptr[i + 1]).find(|&p| a.col[p] as usize == i).unwrap();
                a.val[p] += reaction[i];
                if !m_matrix {
                    // a positive coupling somewhere: not an M-matrix, so plain Galerkin
                    if let Some(q) = (a.row_ptr[i]..a.row_ptr[i + 1]).find(|&q| a.col[q] as usize == i + 1) {
                        if i % 5 == 0 {
                            a.val[q] = -a.val[q];
                        }
                    }
                }
            }
            if !m_matrix {
                // symmetrise the flipped couplings
                let d = a.to_dense();
                let t: Vec<(usize, usize, f64)> = (0..len).flat_map(|i| (0..len).map(move |j| (i, j))).filter_map(|(i, j)| {
                    let v = if j > i { d[(i, j)] } else { d[(j, i)] };
                    (v != 0.0).then_some((i, j, v))
                }).collect();
                a = CsrMatrix::from_triplets(len, len, &t);
            }
            let o = MultigridOptions { max_coarse: 12, ..Default::default() };
            let csr = build_hierarchy(n, &a, Some(&reaction), &o).unwrap();
            let st = build_stencil_hierarchy(StencilMatrix::detect(&a).unwrap(), Some(&reaction), &o).unwrap();
            assert_eq!(csr.len(), st.len(), "{n:?}: levels");
            for (l, (c, s)) in csr.iter().zip(&st).enumerate() {
                assert_eq!(c.n, s.a.dims, "{n:?} level {l}");
                let sc = s.a.to_csr();
                assert_eq!((&sc.row_ptr, &sc.col), (&c.a.row_ptr, &c.a.col), "{n:?} level {l}: pattern");
                let scale = c.a.norm_inf();
                let diff = sc.val.iter().zip(&c.a.val).fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
                assert!(diff <= 1e-13 * scale, "{n:?} level {l}: {diff} of {scale}");
                if let Some(cz) = s.coarsen {
                    let r = Aggregation::of(s.a.dims, cz, true);
                    assert_eq!(r.to_csr(), *c.r.as_ref().unwrap(), "{n:?} level {l}: R");
                    assert_eq!(Aggregation { restrict: false, ..r }.to_csr(), *c.p.as_ref().unwrap(), "{n:?} level {l}: P");
                }
            }
            let mc = Multigrid::from_hierarchy(&be, &csr, &o).unwrap();
            let ms = Multigrid::from_stencil_hierarchy(&be, &st, &o).unwrap();
            assert_eq!(mc.info().level_nnz, ms.info().level_nnz);
            assert!((mc.work_per_cycle() - ms.work_per_cycle()).abs() <= 1e-12 * mc.work_per_cycle());
            let r = crate::linalg::backend::random_values(len, 5);
            let (mut z1, mut z2) = (vec![0.0; len], vec![0.0; len]);
            mc.apply(&be, &r, &mut z1);
            ms.apply(&be, &r, &mut z2);
            let scale = z1.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let diff = z1.iter().zip(&z2).fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
            assert!(diff <= 1e-10 * scale, "{n:?}: V-cycles differ by {diff} of {scale}");
        }
    }

    #[test]
    fn vcycle_block_equals_vcycle_per_column() {
        use crate::linalg::cg::Preconditioner;
        let g = Dims::new([11, 7, 6]);
        let a = laplacian(g.n, [1.0, 0.7, 1.3], [false, true, false]);
        let be = CpuBackend::new();
        for cycle_index in [1, 2] {
            let o = MultigridOptions { max_coarse: 12, cycle_index, ..Default::default() };
            let mg = Multigrid::new(&be, g, &a, None, &o).unwrap();
            assert!(mg.levels() >= 3);
            // k = 1, then a wider block, then a narrower one (work kept from the wider)
            for k in [1usize, 5, 3] {
                let rs: Vec<Vec<f64>> = (0..k).map(|j| crate::linalg::backend::random_values(g.len(), 10 + j as u64)).collect();
                // poisoned outputs: a cycle starts from zero whatever z holds
                let mut zs: Vec<Vec<f64>> = (0..k).map(|_| vec![f64::NAN; g.len()]).collect();
                {
                    let r_refs: Vec<&Vec<f64>> = rs.iter().collect();
                    let mut z_refs: Vec<&mut Vec<f64>> = zs.iter_mut().collect();
                    mg.apply_block(&be, &r_refs, &mut z_refs);
                }
                for (r, z) in rs.iter().zip(&zs) {
                    let mut z1 = vec![0.0; g.len()];
                    mg.vcycle(&be, r, &mut z1);
                    let scale = z1.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    let diff = z.iter().zip(&z1).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                    assert!(diff <= 1e-13 * scale, "cycle {cycle_index}, k = {k}: {diff} of {scale}");
                }
            }
        }
    }

    #[test]
    fn pcg_with_multigrid_converges_fast() {
        let g = Dims::new([24, 24, 24]);
        let a = laplacian(g.n, [0.5; 3], [false; 3]);
        let be = CpuBackend::new();
        let mg = Multigrid::new(&be, g, &a, None, &MultigridOptions::default()).unwrap();
        let b = crate::linalg::backend::random_values(g.len(), 3);
        let mut x = vec![0.0; g.len()];
        let r = pcg(&be, &a, &b, &mut x, &mg, &CgOptions { tol: 1e-8, max_iterations: 100 });
        assert!(r.converged && r.iterations < 20, "{r:?}");
    }
}
