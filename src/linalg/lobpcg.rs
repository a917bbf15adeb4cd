//! LOBPCG (Knyazev 2001) for the lowest eigenpairs of a symmetric operator, preconditioned
//! (in the eigensolver: by the geometric multigrid of H − σ, [`shifted_operator`]), written
//! once over [`Backend`].
//!
//! **The iteration.** A block X of m ≥ nev Ritz vectors (nev wanted plus guard vectors, so
//! that the last wanted level converges at the rate set by the gap to level m + 1 and a
//! degenerate cluster that straddles nev is found with its multiplicity) advances by
//! Rayleigh–Ritz on S = [X, W, P]: W = T R the preconditioned residuals R = HX − XΘ of the
//! active (not yet converged) columns, orthogonalised against X, and P the previous step's
//! search directions. H·X and H·W are block products ([`Backend::spmm`]); H·P follows
//! from the Rayleigh–Ritz coefficients. H·X is not taken from the recurrence H·S·C: its
//! rounding drift stalls the residuals above ~1e-10·‖H‖ in f64 and ~1e-5·‖H‖ in f32
//! (measured on a 10³ cube and a 16³ dot), where the product costs m of the ~6·m
//! product-equivalents of an iteration (the V-cycle of each active column is ~5).
//!
//! **Soft locking.** A column whose residual meets the tolerance stops getting a W and a P
//! (so the block shrinks as pairs converge) but stays in X and in the Rayleigh–Ritz, where
//! it keeps being improved by the others' directions (Knyazev et al., BLOPEX 2007).
//!
//! **Few synchronisations.** Per iteration the host reads twice: the column norms of R
//! (which columns are active, whether to stop) together with XᵀW for the columns active so
//! far (to orthogonalise W against X: in low precision the Gram matrix cannot resolve a
//! direction of W hidden under a large X component, and without it the f32 residuals stall
//! near 1e-5·‖H‖; the W of a column found converged in that read is dropped), then the Gram
//! matrices SᵀS and SᵀHS (one [`Backend::block_dot_to`] each, read together). Everything else is
//! recorded on the backend without waiting: the products, the preconditioner, the
//! combinations X ← S C. The small algebra (3m × 3m at most) runs on the host in f64
//! (nalgebra), so an f32 adapter computes the blocks and the host the Rayleigh–Ritz.
//!
//! **Stable Rayleigh–Ritz.** S is ill-conditioned near convergence (W and P nearly
//! dependent): the Gram matrix is scaled to unit diagonal and diagonalised, directions
//! whose eigenvalue is below [`drop_threshold`] of the largest are dropped (SVQB:
//! Stathopoulos & Wu 2002; Duersch, Shao, Yang & Gu 2018), and the projected operator is
//! formed in the orthonormal basis that remains. When X itself loses rank (a start block
//! with dependent columns) the missing columns are refilled with random vectors.
//!
//! **Convergence.** A pair is converged when ‖Hx − θx‖ ≤ tol·‖H‖ (‖H‖ the caller's bound):
//! the criterion of the Lanczos solver, so the two are compared on equal terms.

use nalgebra::DMatrix;

use super::backend::{Backend, Coeffs};
use super::cg::Preconditioner;
use super::lanczos::{EigenPairs, LanczosProgress};
use super::multigrid::{Multigrid, MultigridOptions};
use super::stencil::StencilMatrix;
use super::CsrMatrix;

/// Iterations without a 10 % gain of the worst wanted residual after which the iteration
/// stops as stalled (not converged): the rounding floor of an f32 backend, typically.
pub const STALL_WINDOW: usize = 15;

#[derive(Clone, Debug)]
pub struct LobpcgOptions {
    /// Number of lowest eigenpairs wanted.
    pub nev: usize,
    /// Relative tolerance: converged when ‖Hx − θx‖ ≤ tol·‖H‖.
    pub tol: f64,
    /// Cap on outer iterations.
    pub max_iterations: usize,
    /// Cap on operator applications (the scene's `solve.max_iterations` counts products).
    pub max_matvecs: usize,
    /// Block size (≥ nev; 0 picks nev plus guard vectors, [`block_size`]).
    pub block_size: usize,
    /// Seed of the random start block.
    pub seed: u64,
    /// ‖H‖ of the convergence test (an upper bound, e.g. the largest absolute row sum).
    pub norm_bound: f64,
}

/// The block LOBPCG iterates: `nev` wanted plus guard vectors (at least 2, at least a
/// quarter of nev, and at least `degeneracy − 1` so that a `degeneracy`-fold level at the
/// edge of the wanted set fits), never more than n.
pub fn block_size(nev: usize, degeneracy: usize, n: usize) -> usize {
    let guard = 2.max(nev.div_ceil(4)).max(degeneracy.saturating_sub(1));
    (nev + guard).min(n)
}

/// Vectors of length n LOBPCG keeps for a block of m: X, HX, R, W, HW, P, HP and the
/// combination targets of X, HX, P and HP (for memory estimates).
pub fn vectors_needed(m: usize) -> usize {
    11 * m
}

/// Soft locking takes a column out of the active set once its residual is this fraction of
/// the tolerance (see the iteration), where that stays above [`lock_floor`].
const LOCK_MARGIN: f64 = 0.1;

/// The relative residual below which `bits`-bit arithmetic cannot be trusted to take a
/// column (the eigensolver's tolerance floors: 1e-6 in f32, 1e-12 in f64): a margin below
/// it would never lock (an f32 dot at tol 5e-7 then stalled above the tolerance), so there
/// columns lock at the tolerance itself.
fn lock_floor(bits: u32) -> f64 {
    if bits >= 64 {
        1e-12
    } else {
        1e-6
    }
}

/// Gram directions whose eigenvalue (of the unit-diagonal Gram matrix) is below this
/// fraction of the largest are dropped: above the rounding of a Gram matrix computed in
/// `bits`-bit arithmetic, so that what is kept is resolved.
pub fn drop_threshold(bits: u32) -> f64 {
    if bits >= 64 {
        1e-12
    } else {
        1e-5
    }
}

/// H − σI and its zeroth-order part for the multigrid preconditioner: σ = (the smallest row
/// sum of H) − a margin, a lower bound of the spectrum of a BenDaniel–Duke Hamiltonian
/// (kinetic part: non-positive couplings, zero row sums inside, positive at Dirichlet
/// faces), so H − σI is a symmetric M-matrix, positive definite. Returns (H − σI, its row
/// sums as the reaction diagonal, σ). The margin (1e-6·‖H‖∞) keeps H − σI definite when
/// the lowest state is flat (periodic boundaries, a constant potential).
pub fn shifted_operator(h: &CsrMatrix) -> (CsrMatrix, Vec<f64>, f64) {
    use rayon::prelude::*;
    // (row-parallel: at 256³ these loops over 10⁸ entries were a second of the setup)
    let sums: Vec<f64> = (0..h.nrows).into_par_iter().map(|r| h.val[h.row_ptr[r]..h.row_ptr[r + 1]].iter().sum::<f64>()).collect();
    let min_sum = sums.par_iter().copied().reduce(|| f64::INFINITY, f64::min);
    let sigma = min_sum - 1e-6 * h.norm_inf().max(f64::MIN_POSITIVE);
    let mut s = h.clone();
    let diag: Vec<usize> = (0..s.nrows)
        .into_par_iter()
        .filter_map(|r| (s.row_ptr[r]..s.row_ptr[r + 1]).find(|&p| s.col[p] as usize == r))
        .collect();
    for p in diag {
        s.val[p] -= sigma;
    }
    let reaction = sums.par_iter().map(|v| v - sigma).collect();
    (s, reaction, sigma)
}

/// [`shifted_operator`] of a Hamiltonian in the stencil layout, shifted in place (the same
/// σ: the row sums are added in the same order).
pub fn shifted_stencil(mut h: StencilMatrix) -> (StencilMatrix, Vec<f64>, f64) {
    use rayon::prelude::*;
    let mut sums = h.row_sums();
    let min_sum = sums.par_iter().copied().reduce(|| f64::INFINITY, f64::min);
    let sigma = min_sum - 1e-6 * h.norm_inf().max(f64::MIN_POSITIVE);
    h.diag.par_iter_mut().for_each(|d| *d -= sigma);
    // the reaction in place of the sums (one fresh vector of the grid's length, not two)
    sums.par_iter_mut().for_each(|v| *v -= sigma);
    (h, sums, sigma)
}

/// The preconditioner LOBPCG runs with: the multigrid V-cycle of [`shifted_operator`]`(h)`
/// on the cells of `dims`, its hierarchy built on the host and uploaded to `be`. A grid
/// operator without periodic faces (a stencil: H's assembly records it) builds every level
/// in the stencil layout and uploads the transfers as grids
/// ([`Multigrid::new_stencil`]: no CSR copy of any level); others go through CSR.
pub fn shifted_multigrid<B: Backend>(be: &B, dims: [usize; 3], h: &CsrMatrix) -> crate::error::Result<Multigrid<B>> {
    shifted_multigrid_with(be, dims, h, StencilMatrix::of(h))
}

/// [`shifted_multigrid`] given the stencil form of `h` (`StencilMatrix::of(h)`, which the
/// caller computed once for the upload of H too, [`Backend::upload_matrix_with_stencil`]):
/// it is shifted in place.
pub fn shifted_multigrid_with<B: Backend>(be: &B, dims: [usize; 3], h: &CsrMatrix, stencil: Option<StencilMatrix>) -> crate::error::Result<Multigrid<B>> {
    let opts = MultigridOptions::default();
    match stencil.filter(|s| s.dims == dims) {
        Some(st) => {
            let (shifted, reaction, _sigma) = shifted_stencil(st);
            Multigrid::new_stencil(be, shifted, Some(&reaction), &opts)
        }
        None => {
            let (shifted, reaction, _sigma) = shifted_operator(h);
            Multigrid::new_owned(be, dims, shifted, Some(&reaction), &opts)
        }
    }
}

/// What one Rayleigh–Ritz step decided: the Ritz values (lowest m, ascending) and the
/// coefficients of the new X over the basis (s × m, column-major).
struct Ritz {
    values: Vec<f64>,
    coeffs: Vec<f64>,
    /// Directions kept of the basis (its numerical rank).
    rank: usize,
}

/// Rayleigh–Ritz for the pencil (A, G) of a basis of `s` vectors (A = SᵀHS, G = SᵀS, both
/// column-major), keeping `m` pairs. `None` when the Gram data is not finite.
fn rayleigh_ritz(s: usize, g: &[f64], a: &[f64], m: usize, drop: f64) -> Option<Ritz> {
    if g.iter().chain(a).any(|v| !v.is_finite()) {
        return None;
    }
    let gm = DMatrix::from_column_slice(s, s, g);
    let am = DMatrix::from_column_slice(s, s, a);
    // scale to unit diagonal (columns of zero norm are dropped outright)
    let d: Vec<f64> = (0..s).map(|i| if gm[(i, i)] > 0.0 { 1.0 / gm[(i, i)].sqrt() } else { 0.0 }).collect();
    let dm = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(d));
    let gs = &dm * (&gm + gm.transpose()) * 0.5 * &dm;
    let eg = super::dense::symmetric_eigen(gs)?;
    let gmax = eg.eigenvalues.iter().copied().fold(0.0f64, f64::max);
    if gmax <= 0.0 {
        return None;
    }
    let keep: Vec<usize> = (0..s).filter(|&i| eg.eigenvalues[i] > drop * gmax).collect();
    let r = keep.len();
    // T = D U_keep Σ_keep^{-1/2}: an orthonormal basis of the kept directions
    let mut t = DMatrix::<f64>::zeros(s, r);
    for (c, &i) in keep.iter().enumerate() {
        let w = 1.0 / eg.eigenvalues[i].sqrt();
        for row in 0..s {
            t[(row, c)] = dm[(row, row)] * eg.eigenvectors[(row, i)] * w;
        }
    }
    let asym = (&am + am.transpose()) * 0.5;
    let ah = t.transpose() * asym * &t;
    let ea = super::dense::symmetric_eigen(ah)?;
    let mut order: Vec<usize> = (0..r).collect();
    order.sort_by(|&x, &y| ea.eigenvalues[x].total_cmp(&ea.eigenvalues[y]));
    let take = m.min(r);
    let values: Vec<f64> = order[..take].iter().map(|&c| ea.eigenvalues[c]).collect();
    let mut coeffs = vec![0.0; s * take];
    for (j, &c) in order[..take].iter().enumerate() {
        let y = ea.eigenvectors.column(c);
        let col = &t * y;
        coeffs[j * s..(j + 1) * s].copy_from_slice(col.as_slice());
    }
    Some(Ritz { values, coeffs, rank: r })
}

/// The lowest `opts.nev` eigenpairs of `a`, preconditioned by `prec` (an SPD approximation
/// of (H − σ)⁻¹), started from `start` (completed with random vectors).
pub fn lobpcg<B: Backend, P: Preconditioner<B>>(
    be: &B,
    a: &B::Matrix,
    prec: &P,
    opts: &LobpcgOptions,
    start: &[B::Vector],
    progress: &mut dyn FnMut(&LanczosProgress),
) -> EigenPairs<B::Vector> {
    let n = be.matrix_rows(a);
    let nev = opts.nev.min(n);
    let m = opts.block_size.max(nev).min(n).max(1);
    let hnorm = opts.norm_bound;
    let thresh = opts.tol * hnorm;
    let drop = drop_threshold(be.precision_bits());
    let mut matvecs = 0usize;
    let mut seed = opts.seed;
    let mut next_seed = || {
        seed = seed.wrapping_add(0x9E37_79B9);
        seed
    };
    let result = |values: Vec<f64>, vectors: Vec<B::Vector>, residuals: Vec<f64>, converged: bool, matvecs: usize, it: usize| EigenPairs {
        values,
        vectors,
        residuals,
        norm_estimate: hnorm,
        converged,
        matvecs,
        restarts: it,
        basis_size: 3 * m,
        block_size: m,
        filter_degree: 0,
        outer_iterations: it,
    };
    let failed = |vectors: Vec<B::Vector>, matvecs: usize, it: usize| {
        let mut v = vectors;
        v.truncate(nev);
        result(vec![f64::NAN; nev], v, vec![f64::NAN; nev], false, matvecs, it)
    };

    // ---- the start block: warm vectors, then random ones; Rayleigh–Ritz on it
    let mut x: Vec<B::Vector> = start.iter().take(m).map(|v| {
        let mut c = be.alloc(n);
        be.copy(v, &mut c);
        c
    }).collect();
    while x.len() < m {
        x.push(be.random(n, next_seed()));
    }
    let alloc_m = |k: usize| -> Vec<B::Vector> { (0..k).map(|_| be.alloc(n)).collect() };
    let mut hx = alloc_m(m);
    let mut xn = alloc_m(m);
    let mut hxn = alloc_m(m);
    let mut r = alloc_m(m);
    let mut w = alloc_m(m);
    let mut hw = alloc_m(m);
    let mut p = alloc_m(m);
    let mut hp = alloc_m(m);
    let mut pn = alloc_m(m);
    let mut hpn = alloc_m(m);
    let smax = 3 * m;
    let mut sc = be.alloc_scalars(2 * smax * smax);
    let mut theta: Vec<f64>;
    let mut tries = 0;
    loop {
        be.spmm(a, &x, &mut hx);
        matvecs += m;
        be.block_dot_to(&x, &x, &mut sc, 0);
        be.block_dot_to(&x, &hx, &mut sc, m * m);
        let v = be.read_scalars(&sc);
        let Some(rr) = rayleigh_ritz(m, &v[..m * m], &v[m * m..2 * m * m], m, drop) else {
            return failed(x, matvecs, 0);
        };
        let c = Coeffs { rows: m, cols: rr.values.len(), data: &rr.coeffs };
        be.combine(&x, &c, &mut xn[..rr.values.len()]);
        be.combine(&hx, &c, &mut hxn[..rr.values.len()]);
        std::mem::swap(&mut x, &mut xn);
        std::mem::swap(&mut hx, &mut hxn);
        theta = rr.values;
        if rr.rank >= m || tries >= 3 {
            break;
        }
        // dependent start vectors: refill the missing columns with random ones
        for v in x.iter_mut().skip(rr.rank) {
            *v = be.random(n, next_seed());
        }
        tries += 1;
    }
    if theta.len() < m {
        return failed(x, matvecs, 0);
    }

    // ---- the iteration
    let mut np = 0usize; // columns of P (the previous step's active set, in order)
    let mut p_cols: Vec<usize> = Vec::new();
    let mut active: Vec<usize> = (0..m).collect();
    let mut it = 0usize;
    let (mut best_worst, mut best_at) = (f64::INFINITY, 0usize);
    loop {
        // R = HX − XΘ, its column norms, W = T R for the columns active so far and XᵀW,
        // read together (read-back 1 of 2): W of a column found converged here is dropped
        be.block_copy(&hx[..m], &mut r[..m]);
        let neg: Vec<f64> = theta.iter().map(|t| -t).collect();
        be.block_axpy(&neg, &x, &mut r);
        be.column_dots_to(&r, &r, &mut sc, 0);
        let nc = active.len();
        {
            let rs: Vec<&B::Vector> = active.iter().map(|&j| &r[j]).collect();
            let mut ws: Vec<&mut B::Vector> = w.iter_mut().take(nc).collect();
            prec.apply_block(be, &rs, &mut ws);
        }
        be.block_dot_to(&x, &w[..nc], &mut sc, m);
        let v = be.read_scalars(&sc);
        let res: Vec<f64> = v[..m].iter().map(|v| v.max(0.0).sqrt()).collect();
        if res.iter().chain(&theta).any(|v| !v.is_finite()) {
            return failed(x, matvecs, it);
        }
        let conv_wanted = (0..nev).filter(|&j| res[j] <= thresh).count();
        progress(&LanczosProgress {
            matvecs,
            restarts: it,
            converged: conv_wanted,
            wanted: nev,
            worst_residual: res[..nev].iter().copied().fold(0.0, f64::max) / hnorm,
        });
        let done = conv_wanted == nev;
        // a stall (rounding floor of the working precision reached above the tolerance) ends
        // the iteration instead of running to the cap: no 10 % gain in STALL_WINDOW iterations
        let worst = res[..nev].iter().copied().fold(0.0, f64::max);
        if worst < 0.9 * best_worst {
            best_worst = worst;
            best_at = it;
        }
        let stalled = it >= best_at + STALL_WINDOW;
        let capped = it >= opts.max_iterations || matvecs >= opts.max_matvecs || stalled;
        if done || capped {
            x.truncate(nev);
            return result(theta[..nev].to_vec(), x, res[..nev].to_vec(), done, matvecs, it);
        }
        it += 1;
        // soft locking: columns converged LOCK_MARGIN below the tolerance get no new
        // direction; their W is dropped (the kept ones move to the front, with their XᵀW
        // columns). Locking at the tolerance itself stalls on degenerate levels: the
        // Rayleigh–Ritz step rotates the copies of a level among themselves, a locked column
        // drifts back above the tolerance, and the count of converged columns flips between
        // iterations (a 10³ cube, threefold levels, tol 1e-9: 46 iterations, stalled at
        // 1.2–1.5e-9, where a rounding-level change of the preconditioner converged in 22)
        let lock = if LOCK_MARGIN * opts.tol >= lock_floor(be.precision_bits()) { LOCK_MARGIN * thresh } else { thresh };
        let kept: Vec<usize> = (0..nc).filter(|&k| res[active[k]] > lock).collect();
        let mut cxw = Vec::with_capacity(m * kept.len());
        for (t, &k) in kept.iter().enumerate() {
            w.swap(t, k);
            cxw.extend_from_slice(&v[m + k * m..m + (k + 1) * m]);
        }
        let new_active: Vec<usize> = kept.iter().map(|&k| active[k]).collect();
        // keep P only for columns still active
        let keep_p: Vec<usize> = (0..np).filter(|&q| new_active.contains(&p_cols[q])).collect();
        active = new_active;
        let na = active.len();
        // W orthogonal to X explicitly, before its product: the Gram matrix cannot resolve a
        // direction hidden under a large X component. (P is not: H P would then come from a
        // cancelling difference.)
        be.block_sub(&x, &Coeffs { rows: m, cols: na, data: &cxw }, &mut w[..na]);
        be.spmm(a, &w[..na], &mut hw[..na]);
        matvecs += na;
        // the basis S = [X, W, P] and HS
        let mut s_vecs: Vec<&B::Vector> = x.iter().collect();
        let mut hs_vecs: Vec<&B::Vector> = hx.iter().collect();
        s_vecs.extend(w[..na].iter());
        hs_vecs.extend(hw[..na].iter());
        for &q in &keep_p {
            s_vecs.push(&p[q]);
            hs_vecs.push(&hp[q]);
        }
        let s = s_vecs.len();
        let (g, hg) = gram_upper(be, &s_vecs, &hs_vecs, &[m, na, s - m - na], &mut sc);
        let Some(rr) = rayleigh_ritz(s, &g, &hg, m, drop) else {
            return failed(x, matvecs, it);
        };
        if rr.values.len() < m {
            return failed(x, matvecs, it);
        }
        // X ← S C; P ← [W P] C_{WP}, HP likewise, for the active columns
        let c = Coeffs { rows: s, cols: m, data: &rr.coeffs };
        be.combine(&s_vecs, &c, &mut xn);
        let cwp: Vec<f64> = active.iter().flat_map(|&j| rr.coeffs[j * s + m..(j + 1) * s].iter().copied()).collect();
        let cp = Coeffs { rows: s - m, cols: na, data: &cwp };
        be.combine(&s_vecs[m..], &cp, &mut pn[..na]);
        be.combine(&hs_vecs[m..], &cp, &mut hpn[..na]);
        drop_refs(s_vecs, hs_vecs);
        std::mem::swap(&mut x, &mut xn);
        std::mem::swap(&mut p, &mut pn);
        std::mem::swap(&mut hp, &mut hpn);
        np = na;
        p_cols = active.clone();
        theta = rr.values;
        // HX by a product, not by the recurrence HS C: the recurrence's drift stalls the
        // residuals above 1e-10·‖H‖ in f64 and 1e-5·‖H‖ in f32 (measured on a 10³ cube and a
        // 16³ dot), while the product costs m of the ~6·na products of an iteration
        be.spmm(a, &x, &mut hx);
        matvecs += m;
    }
}

/// SᵀS and SᵀHS (s × s, column-major) of a basis made of `groups` (X, W, P: their column
/// counts), from the blocks on and above the diagonal only (both are symmetric): group g
/// against itself and the groups after it, six of the nine blocks, two thirds of the work of
/// the full products. Recorded on the backend, then read in one read-back.
fn gram_upper<B: Backend>(be: &B, s_vecs: &[&B::Vector], hs_vecs: &[&B::Vector], groups: &[usize], sc: &mut B::Scalars) -> (Vec<f64>, Vec<f64>) {
    let s = s_vecs.len();
    let mut at = 0;
    let mut starts = Vec::new();
    let mut first = 0;
    for &len in groups {
        if len > 0 {
            be.block_dot_to(&s_vecs[first..first + len], &s_vecs[first..], sc, at);
            at += len * (s - first);
            be.block_dot_to(&s_vecs[first..first + len], &hs_vecs[first..], sc, at);
            at += len * (s - first);
        }
        starts.push(first);
        first += len;
    }
    let v = be.read_scalars(sc);
    let (mut g, mut hg) = (vec![0.0; s * s], vec![0.0; s * s]);
    let mut at = 0;
    for (&o, &len) in starts.iter().zip(groups) {
        if len == 0 {
            continue;
        }
        let cols = s - o;
        for (dst, base) in [(&mut g, at), (&mut hg, at + len * cols)] {
            for jj in 0..cols {
                for i in 0..len {
                    let val = v[base + i + jj * len];
                    let (r, c) = (o + i, o + jj);
                    dst[r + c * s] = val;
                    dst[c + r * s] = val;
                }
            }
        }
        at += 2 * len * cols;
    }
    (g, hg)
}

/// Ends the borrows of the basis lists before the vectors they point into are swapped.
fn drop_refs<T>(_a: Vec<&T>, _b: Vec<&T>) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::linalg::cg::{Identity, Jacobi};

    /// −∇²/h² + v on n cells (Dirichlet), 1D/2D/3D.
    fn operator(n: [usize; 3], h: f64, v: impl Fn([usize; 3]) -> f64) -> CsrMatrix {
        let len = n[0] * n[1] * n[2];
        let stride = [1, n[0], n[0] * n[1]];
        let mut trip = Vec::new();
        for idx in 0..len {
            let ijk = [idx % n[0], (idx / n[0]) % n[1], idx / (n[0] * n[1])];
            let mut diag = v(ijk);
            for a in 0..3 {
                if n[a] == 1 {
                    continue;
                }
                let c = 1.0 / (h * h);
                diag += 2.0 * c;
                if ijk[a] > 0 {
                    trip.push((idx, idx - stride[a], -c));
                }
                if ijk[a] + 1 < n[a] {
                    trip.push((idx, idx + stride[a], -c));
                }
            }
            trip.push((idx, idx, diag));
        }
        CsrMatrix::from_triplets(len, len, &trip)
    }

    fn opts(nev: usize, h: &CsrMatrix, tol: f64) -> LobpcgOptions {
        LobpcgOptions { nev, tol, max_iterations: 500, max_matvecs: 1_000_000, block_size: block_size(nev, 3, h.nrows), seed: 3, norm_bound: h.norm_inf() }
    }

    fn run_mg(h: &CsrMatrix, n: [usize; 3], nev: usize, tol: f64) -> EigenPairs<Vec<f64>> {
        let be = CpuBackend::new();
        let mg = shifted_multigrid(&be, n, h).unwrap();
        lobpcg(&be, h, &mg, &opts(nev, h, tol), &[], &mut |_| {})
    }

    #[test]
    fn matches_the_dense_spectrum_with_multiplicities() {
        // 2D square: levels (i² + j²)-like with exact twofold degeneracies
        let n = [14, 14, 1];
        let h = operator(n, 1.0, |_| 0.0);
        let (dense, _) = crate::linalg::dense::lowest_eigenpairs(&h, 8);
        for prec in ["none", "jacobi", "mg"] {
            let be = CpuBackend::new();
            let o = opts(8, &h, 1e-10);
            let r = match prec {
                "none" => lobpcg(&be, &h, &Identity, &o, &[], &mut |_| {}),
                "jacobi" => lobpcg(&be, &h, &Jacobi::new(&be, &h), &o, &[], &mut |_| {}),
                _ => run_mg(&h, n, 8, 1e-10),
            };
            assert!(r.converged, "{prec}: not converged: {:?}", r.residuals);
            for (a, b) in r.values.iter().zip(&dense) {
                assert!((a - b).abs() < 1e-8 * h.norm_inf(), "{prec}: {a} vs {b}");
            }
            for (i, v) in r.vectors.iter().enumerate() {
                let hv = h.mul_vec(v);
                let res: f64 = hv.iter().zip(v).map(|(p, q)| (p - r.values[i] * q).powi(2)).sum::<f64>().sqrt();
                assert!(res <= 1.01e-10 * h.norm_inf(), "{prec}: true residual {res}");
            }
        }
    }

    #[test]
    fn reaches_the_f64_tolerance_floor() {
        // 1e-12·‖H‖, the smallest tolerance the eigensolver accepts in f64, on a 3D box
        let n = [12, 12, 12];
        let h = operator(n, 0.5, |ijk| 0.1 * ijk[0] as f64);
        let r = run_mg(&h, n, 6, 1e-12);
        assert!(r.converged, "{:?}", r.residuals);
        assert!(r.outer_iterations < 60, "{} iterations", r.outer_iterations);
    }

    #[test]
    fn threefold_levels_of_a_cube_come_with_their_multiplicity() {
        let n = [10, 10, 10];
        let h = operator(n, 1.0, |_| 0.0);
        let (dense, _) = crate::linalg::dense::lowest_eigenpairs(&h, 7);
        let r = run_mg(&h, n, 7, 1e-9);
        assert!(r.converged);
        for (a, b) in r.values.iter().zip(&dense) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
        // levels 2–4 and 5–7 are threefold
        assert!((r.values[1] - r.values[3]).abs() < 1e-8 && (r.values[4] - r.values[6]).abs() < 1e-8);
    }

    #[test]
    fn high_contrast_wall_converges() {
        // a disc-like well with a 1000 (energy units) wall: ‖H‖ dominated by the wall
        let n = [40, 40, 1];
        let h = operator(n, 1.0, |ijk| {
            let (dx, dy) = (ijk[0] as f64 - 19.5, ijk[1] as f64 - 19.5);
            if dx * dx + dy * dy < 12.0 * 12.0 {
                0.0
            } else {
                1000.0
            }
        });
        let r = run_mg(&h, n, 4, 1e-9);
        assert!(r.converged, "{:?}", r.residuals);
        let (dense, _) = crate::linalg::dense::lowest_eigenpairs(&h, 4);
        for (a, b) in r.values.iter().zip(&dense) {
            assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn iterations_stay_flat_under_refinement() {
        // the same harmonic well on h and h/2: multigrid-preconditioned iterations within 1.3×
        let iters: Vec<usize> = [32usize, 64]
            .iter()
            .map(|&c| {
                let hs = 8.0 / c as f64;
                let n = [c, c, 1];
                let h = operator(n, hs, |ijk| {
                    let (x, y) = ((ijk[0] as f64 + 0.5) * hs - 4.0, (ijk[1] as f64 + 0.5) * hs - 4.0);
                    x * x + y * y
                });
                let r = run_mg(&h, n, 4, 1e-9);
                assert!(r.converged);
                r.outer_iterations
            })
            .collect();
        eprintln!("outer iterations at h, h/2: {iters:?}");
        assert!(iters[1] as f64 <= 1.3 * iters[0] as f64 + 1.0, "{iters:?}");
    }

    #[test]
    fn shifted_operator_is_a_definite_m_matrix() {
        let h = operator([6, 5, 1], 0.5, |ijk| ijk[0] as f64 - 3.0);
        let (s, reaction, sigma) = shifted_operator(&h);
        let lmin = nalgebra::SymmetricEigen::new(h.to_dense()).eigenvalues.min();
        assert!(sigma < lmin, "σ = {sigma} is not below λmin = {lmin}");
        assert!(reaction.iter().all(|&v| v > 0.0));
        let d = s.to_dense();
        let e = nalgebra::SymmetricEigen::new(d.clone());
        assert!(e.eigenvalues.iter().all(|&v| v > 0.0));
        assert_eq!(s.stencil, h.stencil);
        // the stencil form: the same operator, reaction and σ
        let (st, r2, sigma2) = shifted_stencil(StencilMatrix::of(&h).unwrap());
        assert_eq!((st.to_csr().val, r2, sigma2), (s.val, reaction, sigma));
    }
}
