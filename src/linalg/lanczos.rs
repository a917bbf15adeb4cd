//! Block thick-restart Lanczos for the lowest eigenpairs of a symmetric operator.
//!
//! Written once over [`Backend`]: the basis lives on the backend, only small dense
//! matrices (the projected operator, Ritz coefficients) live on the host.
//!
//! The method (Wu & Simon's thick restart, in block form):
//! - the basis V is kept orthonormal by full reorthogonalisation: every new vector is
//!   orthogonalised against the whole basis with classical Gram–Schmidt, repeated once
//!   when the first pass cancelled more than 30% of it (the DGKS criterion);
//! - the projected matrix G = Vᵀ H V is filled column by column from the Gram–Schmidt
//!   coefficients, so it is exact for every basis (tridiagonal or, after a restart,
//!   arrowhead-plus-tridiagonal);
//! - a block of `b` vectors advances at once, so that a b-fold degenerate eigenvalue is
//!   found with its full multiplicity (a single Krylov vector sees one direction of an
//!   eigenspace only); rank-deficient blocks are refilled with fresh random directions;
//! - when the basis is full, the Ritz pairs of G are computed; the lowest `keep` Ritz
//!   vectors and the unprocessed block are kept, and the rest is discarded;
//! - a Ritz pair is converged when its residual ‖Hx − θx‖ = ‖B y‖ (B: coupling of the
//!   unprocessed block to the processed basis) is ≤ tol·‖H‖, ‖H‖ estimated by the largest
//!   |Ritz value| seen; converged pairs are locked: their coupling is zeroed, so they stay
//!   fixed while the rest of the basis keeps being orthogonalised against them.
//! At the end the true residuals are computed with one product per pair and reported.

use nalgebra::DMatrix;

use super::backend::{Backend, Coeffs};

#[derive(Clone, Debug)]
pub struct LanczosOptions {
    /// Number of lowest eigenpairs wanted.
    pub nev: usize,
    /// Relative tolerance: converged when ‖Hx − λx‖ ≤ tol·‖H‖.
    pub tol: f64,
    /// Cap on operator applications.
    pub max_matvecs: usize,
    /// Block size (1 = classic Lanczos). Should be at least the largest multiplicity
    /// among the wanted eigenvalues.
    pub block_size: usize,
    /// Largest basis size; 0 picks one from nev and the block size.
    pub basis_size: usize,
    /// Seed of the random start block.
    pub seed: u64,
    /// An upper bound of ‖H‖ (e.g. the largest absolute row sum). When given, it is the
    /// ‖H‖ of the convergence test, and it enables the Chebyshev filter.
    pub norm_bound: Option<f64>,
    /// Degree of the Chebyshev filter polynomial (0 or 1: no filter). See
    /// [`lowest_eigenpairs`].
    pub filter_degree: usize,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        LanczosOptions { nev: 4, tol: 1e-8, max_matvecs: 20_000, block_size: 3, basis_size: 0, seed: 7, norm_bound: None, filter_degree: 0 }
    }
}

/// Progress reported after every restart cycle.
#[derive(Clone, Debug)]
pub struct LanczosProgress {
    pub matvecs: usize,
    pub restarts: usize,
    pub converged: usize,
    pub wanted: usize,
    /// Largest relative residual ‖Hx − θx‖/‖H‖ among the wanted pairs.
    pub worst_residual: f64,
}

#[derive(Clone, Debug)]
pub struct EigenPairs<V> {
    /// Eigenvalues, ascending.
    pub values: Vec<f64>,
    /// Unit-norm eigenvectors, on the backend.
    pub vectors: Vec<V>,
    /// True residual norms ‖Hx − λx‖ (absolute), computed at the end.
    pub residuals: Vec<f64>,
    /// The ‖H‖ estimate the tolerance was scaled by.
    pub norm_estimate: f64,
    /// Whether every wanted pair met the tolerance.
    pub converged: bool,
    pub matvecs: usize,
    pub restarts: usize,
    pub basis_size: usize,
    pub block_size: usize,
    /// Degree of the Chebyshev filter used (0: none).
    pub filter_degree: usize,
    /// Outer iterations: restart cycles of Lanczos, iterations of LOBPCG.
    pub outer_iterations: usize,
}

struct State<'a, B: Backend> {
    be: &'a B,
    basis: Vec<B::Vector>,
    /// Locked (converged, frozen) basis vectors.
    locked: Vec<bool>,
    /// Projected operator Vᵀ H V (only the processed columns and their couplings are
    /// meaningful).
    g: DMatrix<f64>,
    n: usize,
}

impl<'a, B: Backend> State<'a, B> {
    /// Orthogonalise `w` against the whole basis (and `extra`), up to two passes; returns
    /// the coefficients (basis then extra) and the norm left.
    fn orthogonalise(&self, extra: &[B::Vector], w: &mut B::Vector, mut norm_before: f64) -> (Vec<f64>, Vec<f64>, f64) {
        let mut cb = vec![0.0; self.basis.len()];
        let mut ce = vec![0.0; extra.len()];
        let mut norm = norm_before;
        for _pass in 0..2 {
            let c1 = self.be.multi_dot(&self.basis, w);
            let c2 = self.be.multi_dot(extra, w);
            let neg1: Vec<f64> = c1.iter().map(|c| -c).collect();
            let neg2: Vec<f64> = c2.iter().map(|c| -c).collect();
            self.be.multi_axpy(&self.basis, &neg1, w);
            self.be.multi_axpy(extra, &neg2, w);
            cb.iter_mut().zip(&c1).for_each(|(a, b)| *a += b);
            ce.iter_mut().zip(&c2).for_each(|(a, b)| *a += b);
            norm = self.be.norm2(w);
            if norm > 0.7 * norm_before {
                break;
            }
            norm_before = norm;
        }
        (cb, ce, norm)
    }

    /// A fresh random unit direction orthogonal to the basis and `extra`, if one exists.
    fn random_direction(&self, extra: &[B::Vector], seed: u64) -> Option<B::Vector> {
        let mut w = self.be.random(self.n, seed);
        let n0 = self.be.norm2(&w);
        let (_, _, mut nrm) = self.orthogonalise(extra, &mut w, n0);
        if nrm < 1e-8 * n0 {
            return None;
        }
        // a third pass for good measure: this vector starts with no relation to H
        let (_, _, n2) = self.orthogonalise(extra, &mut w, nrm);
        nrm = n2;
        if nrm < 1e-8 * n0 {
            return None;
        }
        self.be.scale(1.0 / nrm, &mut w);
        Some(w)
    }
}

/// The operator Lanczos iterates with: H itself, or a Chebyshev polynomial of H.
enum Op<'a, B: Backend> {
    Plain(&'a B::Matrix),
    /// −(−1)^d T_d((H − c)/e): maps [c − e, c + e] into [−1, 1] and every eigenvalue
    /// below c − e to a value below −1, growing fast and monotonically with the distance,
    /// so the lowest eigenvalues of H become the lowest, well-separated eigenvalues of the
    /// operator (same eigenvectors).
    Chebyshev { a: &'a B::Matrix, degree: usize, center: f64, half_width: f64 },
}

impl<'a, B: Backend> Op<'a, B> {
    fn rows(&self, be: &B) -> usize {
        match self {
            Op::Plain(a) | Op::Chebyshev { a, .. } => be.matrix_rows(a),
        }
    }
    /// y ← op x; returns the number of products with H.
    fn apply(&self, be: &B, x: &B::Vector, y: &mut B::Vector) -> usize {
        self.apply_block(be, &[x], std::slice::from_mut(y))
    }
    /// ys_j ← op xs_j for a block, the recurrence run on the whole block at each degree (so
    /// a distributed backend exchanges one halo per degree for the block); returns the
    /// number of products with H.
    fn apply_block(&self, be: &B, xs: &[&B::Vector], ys: &mut [B::Vector]) -> usize {
        match self {
            Op::Plain(a) => {
                for (x, y) in xs.iter().zip(ys.iter_mut()) {
                    be.spmv(a, x, y);
                }
                xs.len()
            }
            Op::Chebyshev { a, degree, center, half_width } => {
                let (c, e) = (*center, *half_width);
                let mut prev: Vec<B::Vector> = xs
                    .iter()
                    .map(|x| {
                        let mut p = be.alloc(be.len(x));
                        be.copy(x, &mut p);
                        p
                    })
                    .collect();
                be.spmv_axpby_block(a, xs, 1.0 / e, -c / e, 0.0, &mut ys.iter_mut().collect::<Vec<_>>());
                for _ in 2..=*degree {
                    // T_{k+1} = 2 ((H − c)/e) T_k − T_{k−1}, written over T_{k−1}
                    let yr: Vec<&B::Vector> = ys.iter().collect();
                    be.spmv_axpby_block(a, &yr, 2.0 / e, -2.0 * c / e, -1.0, &mut prev.iter_mut().collect::<Vec<_>>());
                    for (y, p) in ys.iter_mut().zip(prev.iter_mut()) {
                        std::mem::swap(y, p);
                    }
                }
                let sign = if degree % 2 == 0 { -1.0 } else { 1.0 };
                for y in ys.iter_mut() {
                    be.scale(sign, y);
                }
                *degree * xs.len()
            }
        }
    }
}

/// The lowest `opts.nev` eigenpairs of the symmetric operator `a`.
///
/// Without a filter this is block thick-restart Lanczos on H. With
/// `opts.filter_degree` ≥ 2 and a norm bound, on a problem large enough to profit:
/// 1. a first Lanczos cycle on H gives Ritz values, upper bounds of the eigenvalues
///    (Cauchy interlacing); the one at index nev + margin sets the filter's cut c − e,
///    safely above every wanted eigenvalue, and the norm bound its top c + e ≥ λ_max;
/// 2. thick-restart Lanczos then runs on the Chebyshev operator p(H) (see `Op`), whose
///    wanted eigenvalues are well separated: far fewer basis vectors, hence far less
///    orthogonalisation, per product with H;
/// 3. a Rayleigh–Ritz step with H itself on the vectors found gives the eigenpairs and
///    their true residuals; if one misses the tolerance, step 2 continues from them with a
///    tighter inner tolerance.
pub fn lowest_eigenpairs<B: Backend>(
    be: &B,
    a: &B::Matrix,
    opts: &LanczosOptions,
    progress: &mut dyn FnMut(&LanczosProgress),
) -> EigenPairs<B::Vector> {
    lowest_eigenpairs_from(be, a, opts, &[], progress)
}

/// Relative weight of the random part of a warm start block (see [`warm_block`]).
pub const WARM_START_NOISE: f64 = 0.1;

/// The start block of a warm start: `b` random combinations of the `initial` vectors
/// (approximations of the wanted eigenvectors, e.g. the previous point of a sweep), each
/// normalised and mixed with a random unit vector of weight [`WARM_START_NOISE`]. The
/// random part gives every eigenvector a nonzero component, as a cold start does, so a
/// poor guess (vectors orthogonal to a wanted eigenvector, e.g. of the wrong symmetry)
/// still converges to the right eigenpairs; only their good part is a head start.
/// Vectors whose length is not `n` are ignored; none left gives an empty block (random
/// start).
fn warm_block<B: Backend>(be: &B, initial: &[B::Vector], b: usize, n: usize, seed: u64) -> Vec<B::Vector> {
    let good: Vec<&B::Vector> = initial.iter().filter(|v| be.len(v) == n).collect();
    if good.is_empty() || b == 0 {
        return Vec::new();
    }
    let k = good.len();
    let coeff = super::backend::random_values(k * b, seed ^ 0x5EED_57A7);
    let mut block: Vec<B::Vector> = (0..b).map(|_| be.alloc(n)).collect();
    for (j, out) in block.iter_mut().enumerate() {
        for (i, v) in good.iter().enumerate() {
            be.axpy(coeff[i + j * k], v, out);
        }
        let nrm = be.norm2(out);
        if nrm > 0.0 && nrm.is_finite() {
            be.scale(1.0 / nrm, out);
        } else {
            be.fill(out, 0.0);
        }
        let r = be.random(n, seed.wrapping_add(0x9E37_79B9 * (j as u64 + 1)));
        let rn = be.norm2(&r);
        if rn > 0.0 {
            be.axpy(WARM_START_NOISE / rn, &r, out);
        }
    }
    block
}

/// [`lowest_eigenpairs`] started from `initial`: approximate eigenvectors (any number,
/// e.g. the solution of a nearby problem) instead of a random block. The result is the
/// same eigenpairs to the tolerance; a good guess only saves products. Empty `initial`
/// is exactly [`lowest_eigenpairs`].
///
/// The guess enters as [`warm_block`]s: the start block of plain Lanczos, and with the
/// Chebyshev filter both the start block of the cycle on H that sets the cut (its Ritz
/// values stay upper bounds of the eigenvalues whatever the start, so the cut stays
/// safe) and the first block of the run on p(H).
pub fn lowest_eigenpairs_from<B: Backend>(
    be: &B,
    a: &B::Matrix,
    opts: &LanczosOptions,
    initial: &[B::Vector],
    progress: &mut dyn FnMut(&LanczosProgress),
) -> EigenPairs<B::Vector> {
    let n = be.matrix_rows(a);
    let nev = opts.nev.min(n).max(1);
    let margin = (nev / 2).max(3);
    let use_filter = opts.filter_degree >= 2 && opts.norm_bound.is_some() && n > 40 * (nev + margin).max(50);
    if !use_filter {
        let b = opts.block_size.clamp(1, nev);
        let start = warm_block(be, initial, b, n, opts.seed);
        return thick_restart(be, &Op::Plain(a), opts, start, opts.norm_bound.unwrap_or(0.0), progress);
    }
    let hnorm = opts.norm_bound.unwrap_or(0.0);
    // ---- 1. one cycle on H for the cut
    let nev_a = (nev + margin).min(n);
    let b = opts.block_size.clamp(1, nev_a);
    let one_cycle = LanczosOptions { nev: nev_a, max_matvecs: 1, ..opts.clone() };
    let start = warm_block(be, initial, b, n, opts.seed);
    let warm = !start.is_empty();
    let first = thick_restart(be, &Op::Plain(a), &one_cycle, start, hnorm, progress);
    let first_matvecs = first.matvecs;
    let mut matvecs = first.matvecs;
    let mut restarts = first.restarts;
    let cut = first.values.last().copied().unwrap_or(0.0);
    let upper = hnorm.max(cut.abs()) * 1.01;
    if first.converged || !(cut < upper) || first.values.len() < nev {
        let mut r = first;
        truncate(&mut r, nev);
        return r;
    }
    let op = Op::Chebyshev { a, degree: opts.filter_degree, center: 0.5 * (upper + cut), half_width: 0.5 * (upper - cut) };
    let mut start: Vec<B::Vector> = first.vectors;
    let mut inner_tol = opts.tol;
    let mut tmp = be.alloc(n);
    loop {
        // ---- 2. Lanczos on p(H), from random combinations of the current vectors
        let k = start.len();
        let coeff: Vec<f64> = super::backend::random_values(k * b, opts.seed ^ matvecs as u64);
        let mut block: Vec<B::Vector> = (0..b).map(|_| be.alloc(n)).collect();
        be.combine(&start, &Coeffs { rows: k, cols: b, data: &coeff }, &mut block);
        if warm && matvecs == first_matvecs {
            // a warm start's first block on p(H) comes from the guess itself (the wanted
            // vectors, plus the random part), not from the cycle that set the cut
            block = warm_block(be, initial, b, n, opts.seed ^ 0x2);
        }
        let inner = LanczosOptions {
            nev,
            tol: inner_tol,
            max_matvecs: opts.max_matvecs.saturating_sub(matvecs),
            block_size: b,
            ..opts.clone()
        };
        let offset = matvecs;
        let rs = restarts;
        let r = thick_restart(be, &op, &inner, block, 0.0, &mut |p: &LanczosProgress| {
            progress(&LanczosProgress { matvecs: p.matvecs + offset, restarts: p.restarts + rs, ..p.clone() })
        });
        matvecs += r.matvecs;
        restarts += r.restarts;
        // ---- 3. Rayleigh–Ritz with H on the vectors found
        let x = r.vectors;
        let k = x.len();
        let mut hx: Vec<B::Vector> = (0..k).map(|_| be.alloc(n)).collect();
        for (xi, hi) in x.iter().zip(hx.iter_mut()) {
            be.spmv(a, xi, hi);
        }
        matvecs += k;
        let g = be.block_dot(&x, &hx);
        let gm = DMatrix::from_column_slice(k, k, &g);
        let gm = (&gm + gm.transpose()) * 0.5;
        let Some(eig) = super::dense::symmetric_eigen(gm) else {
            // a non-finite projection (H or its products overflowed): stop, not converged
            return non_finite(be, x, nev, matvecs, restarts, r.basis_size, b, opts.filter_degree);
        };
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&p, &q| eig.eigenvalues[p].total_cmp(&eig.eigenvalues[q]));
        let theta: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i]).collect();
        let y: Vec<f64> = (0..k).flat_map(|c| (0..k).map(move |r| (r, c))).map(|(r, c)| eig.eigenvectors[(r, order[c])]).collect();
        let mut xv: Vec<B::Vector> = (0..k).map(|_| be.alloc(n)).collect();
        let mut hv: Vec<B::Vector> = (0..k).map(|_| be.alloc(n)).collect();
        be.combine(&x, &Coeffs { rows: k, cols: k, data: &y }, &mut xv);
        be.combine(&hx, &Coeffs { rows: k, cols: k, data: &y }, &mut hv);
        let mut residuals = Vec::with_capacity(k);
        for i in 0..k {
            be.copy(&hv[i], &mut tmp);
            be.axpy(-theta[i], &xv[i], &mut tmp);
            residuals.push(be.norm2(&tmp));
        }
        let thresh = opts.tol * hnorm;
        let converged = k == nev && residuals.iter().all(|&r| r <= thresh);
        progress(&LanczosProgress {
            matvecs,
            restarts,
            converged: residuals.iter().filter(|&&r| r <= thresh).count(),
            wanted: nev,
            worst_residual: residuals.iter().copied().fold(0.0, f64::max) / hnorm,
        });
        if converged || matvecs >= opts.max_matvecs || inner_tol < 1e-15 {
            return EigenPairs {
                values: theta,
                vectors: xv,
                residuals,
                norm_estimate: hnorm,
                converged,
                matvecs,
                restarts,
                basis_size: r.basis_size,
                block_size: b,
                filter_degree: opts.filter_degree,
                outer_iterations: restarts,
            };
        }
        inner_tol /= 30.0;
        start = xv;
    }
}

/// Cholesky QR of a block, twice (CholQR2): Q = W R⁻¹ with R from chol(WᵀW). Returns the
/// block back (Err) when it is rank-deficient or too ill-conditioned for this (a column
/// whose norm fell below 1e-10 of its size before orthogonalisation, or a condition number
/// of R above 1e3), so the caller can take the vector-by-vector path.
fn chol_qr2<B: Backend>(be: &B, ws: Vec<B::Vector>, nrm0: &[f64], hnorm: f64) -> Result<(Vec<B::Vector>, DMatrix<f64>), Vec<B::Vector>> {
    let b = ws.len();
    let pass = |w: &[B::Vector]| -> Option<(Vec<B::Vector>, DMatrix<f64>)> {
        let g = be.block_dot(w, w);
        let gm = DMatrix::from_column_slice(b, b, &g);
        let gm = (&gm + gm.transpose()) * 0.5;
        let ch = nalgebra::Cholesky::new(gm)?;
        let r = ch.l().transpose();
        let rinv = r.clone().try_inverse()?;
        let coeff: Vec<f64> = rinv.iter().copied().collect(); // column-major
        let mut out: Vec<B::Vector> = (0..b).map(|_| be.alloc(be.len(&w[0]))).collect();
        be.combine(w, &Coeffs { rows: b, cols: b, data: &coeff }, &mut out);
        Some((out, r))
    };
    if b == 0 {
        return Err(ws);
    }
    let Some((q1, r1)) = pass(&ws) else { return Err(ws) };
    let d: Vec<f64> = (0..b).map(|l| r1[(l, l)].abs()).collect();
    let (dmin, dmax) = d.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let deflated = d.iter().zip(nrm0).any(|(&v, &n)| !(v > 1e-10 * n.max(hnorm)));
    if deflated || !(dmin > 1e-3 * dmax) {
        return Err(ws);
    }
    let Some((q2, r2)) = pass(&q1) else { return Err(ws) };
    Ok((q2, r2 * r1))
}

/// The result of a solve that met a non-finite number: NaN values and residuals (which no
/// tolerance accepts), the first `k` of `vectors` (padded with zero vectors), not converged.
#[allow(clippy::too_many_arguments)]
fn non_finite<B: Backend>(
    be: &B,
    mut vectors: Vec<B::Vector>,
    k: usize,
    matvecs: usize,
    restarts: usize,
    basis_size: usize,
    block_size: usize,
    filter_degree: usize,
) -> EigenPairs<B::Vector> {
    let n = vectors.first().map(|v| be.len(v)).unwrap_or(0);
    vectors.truncate(k);
    while vectors.len() < k {
        vectors.push(be.alloc(n));
    }
    EigenPairs {
        values: vec![f64::NAN; k],
        vectors,
        residuals: vec![f64::NAN; k],
        norm_estimate: f64::NAN,
        converged: false,
        matvecs,
        restarts,
        basis_size,
        block_size,
        filter_degree,
        outer_iterations: restarts,
    }
}

fn truncate<V>(r: &mut EigenPairs<V>, k: usize) {
    r.values.truncate(k);
    r.vectors.truncate(k);
    r.residuals.truncate(k);
}

/// The thick-restart basis size (vectors) for `nev` wanted pairs in blocks of `b` when
/// [`LanczosOptions::basis_size`] is 0.
fn default_basis(nev: usize, b: usize) -> usize {
    (2 * nev + 2 * b).max(nev + 4 * b + 24)
}

/// Scratch of the block Lanczos solver, in vectors of length `n`, for `nev` wanted pairs and
/// block size `block`: the basis (at most `n`) and one block of new directions. Memory
/// estimates take their eigensolver part from here rather than re-deriving it.
pub fn lanczos_scratch(nev: usize, block: usize, n: usize) -> usize {
    let b = block.clamp(1, nev.max(1));
    default_basis(nev, b).min(n) + b
}

/// Block thick-restart Lanczos on `op`, from the block `start` (random when empty).
/// `hnorm0` seeds the ‖op‖ estimate of the convergence test (0: from the Ritz values).
fn thick_restart<B: Backend>(
    be: &B,
    op: &Op<B>,
    opts: &LanczosOptions,
    start: Vec<B::Vector>,
    hnorm0: f64,
    progress: &mut dyn FnMut(&LanczosProgress),
) -> EigenPairs<B::Vector> {
    let n = op.rows(be);
    let nev = opts.nev.min(n).max(1);
    let b = opts.block_size.clamp(1, nev.max(1));
    let mut mmax = if opts.basis_size > 0 { opts.basis_size } else { default_basis(nev, b) };
    mmax = mmax.max(nev + 2 * b + 1);
    let exhaustive = mmax + b >= n;
    if exhaustive {
        mmax = n;
    }
    let mut st = State::<B> {
        be,
        basis: Vec::with_capacity(mmax + b),
        locked: Vec::new(),
        g: DMatrix::zeros(mmax + b, mmax + b),
        n,
    };
    let mut seed = opts.seed;
    let mut next_seed = || {
        seed = seed.wrapping_add(0x9E37_79B9);
        seed
    };
    // start block: the given vectors (orthonormalised), topped up with random ones
    for mut v in start.into_iter().take(b) {
        let n0 = be.norm2(&v);
        let (_, _, nrm) = st.orthogonalise(&[], &mut v, n0);
        if nrm > 1e-8 * n0 && nrm > 0.0 {
            be.scale(1.0 / nrm, &mut v);
            st.basis.push(v);
            st.locked.push(false);
        }
    }
    while st.basis.len() < b {
        match st.random_direction(&[], next_seed()) {
            Some(v) => {
                st.basis.push(v);
                st.locked.push(false);
            }
            None => break,
        }
    }
    let mut p = 0usize; // processed vectors (their H-products are in g)
    let mut matvecs = 0usize;
    let mut restarts = 0usize;
    let mut hnorm = hnorm0;
    let mut tmp = be.alloc(n);

    loop {
        // ---- expand the basis block by block
        let mut exhausted = false;
        // process blocks while the processed part stays within mmax (g holds mmax + b)
        while p < st.basis.len() && st.basis.len() <= mmax {
            let block: Vec<usize> = (p..st.basis.len()).collect();
            let len0 = st.basis.len();
            let bl = block.len();
            // W = H V_block, then block classical Gram–Schmidt against the whole basis, twice
            // (CGS2): every sweep reads the basis once for the whole block.
            let mut ws: Vec<B::Vector> = (0..bl).map(|_| be.alloc(n)).collect();
            let xs: Vec<&B::Vector> = block.iter().map(|&j| &st.basis[j]).collect();
            matvecs += op.apply_block(be, &xs, &mut ws);
            // norms before orthogonalisation, from one Gram block (one read-back)
            let g0 = be.block_dot(&ws, &ws);
            let nrm0: Vec<f64> = (0..bl).map(|l| g0[l + l * bl].max(0.0).sqrt()).collect();
            let mut ctot = vec![0.0; len0 * bl];
            for _pass in 0..2 {
                let c = be.block_dot(&st.basis, &ws);
                be.block_sub(&st.basis, &Coeffs { rows: len0, cols: bl, data: &c }, &mut ws);
                ctot.iter_mut().zip(&c).for_each(|(t, v)| *t += v);
            }
            // Fast path: Cholesky QR, twice, of the whole block (two read-backs, however wide
            // the block). W = Q R gives the in-block couplings directly.
            let ws = match chol_qr2(be, ws, &nrm0, hnorm) {
                Ok((q, r)) => {
                    for (l, &j) in block.iter().enumerate() {
                        for i in 0..len0 {
                            let c = if st.locked[i] && i != j { 0.0 } else { ctot[l * len0 + i] };
                            st.g[(i, j)] = c;
                            st.g[(j, i)] = c;
                        }
                        for qi in 0..bl {
                            if len0 + qi < st.g.nrows() {
                                let c = if qi <= l { r[(qi, l)] } else { 0.0 };
                                st.g[(len0 + qi, j)] = c;
                                st.g[(j, len0 + qi)] = c;
                            }
                        }
                    }
                    let room = st.g.nrows().saturating_sub(len0);
                    for v in q.into_iter().take(room) {
                        st.basis.push(v);
                        st.locked.push(false);
                    }
                    p = len0;
                    continue;
                }
                Err(ws) => ws,
            };
            // Careful path (rank-deficient or ill-conditioned block): vector by vector
            let mut new_vecs: Vec<B::Vector> = Vec::with_capacity(bl);
            for (l, (&j, mut w)) in block.iter().zip(ws).enumerate() {
                let mut cb: Vec<f64> = ctot[l * len0..(l + 1) * len0].to_vec();
                // orthogonalise within the new block (modified Gram–Schmidt, twice)
                let mut ce = vec![0.0; new_vecs.len()];
                let before = be.norm2(&w);
                for _pass in 0..2 {
                    for (q, v) in new_vecs.iter().enumerate() {
                        let c = be.dot(v, &w);
                        be.axpy(-c, v, &mut w);
                        ce[q] += c;
                    }
                }
                let mut nrm = be.norm2(&w);
                if nrm < 0.5 * before && nrm > 0.0 {
                    // heavy cancellation: clean up against the basis once more
                    let (cb2, ce2, n2) = st.orthogonalise(&new_vecs, &mut w, nrm);
                    cb.iter_mut().zip(&cb2).for_each(|(a, b)| *a += b);
                    ce.iter_mut().zip(&ce2).for_each(|(a, b)| *a += b);
                    nrm = n2;
                }
                for (i, c) in cb.iter().enumerate() {
                    let c = if st.locked[i] && i != j { 0.0 } else { *c };
                    st.g[(i, j)] = c;
                    st.g[(j, i)] = c;
                }
                for (q, c) in ce.iter().enumerate() {
                    st.g[(len0 + q, j)] = *c;
                    st.g[(j, len0 + q)] = *c;
                }
                let row = len0 + new_vecs.len();
                if row >= st.g.nrows() {
                    continue;
                }
                if nrm > 1e-10 * nrm0[l].max(hnorm) && nrm > 0.0 {
                    be.scale(1.0 / nrm, &mut w);
                    st.g[(row, j)] = nrm;
                    st.g[(j, row)] = nrm;
                    new_vecs.push(w);
                } else if let Some(r) = st.random_direction(&new_vecs, next_seed()) {
                    // deflation: H v_j lies in the basis; continue with a new direction
                    st.g[(row, j)] = 0.0;
                    st.g[(j, row)] = 0.0;
                    new_vecs.push(r);
                }
            }
            p = len0;
            if new_vecs.is_empty() {
                exhausted = true;
            }
            for v in new_vecs {
                st.basis.push(v);
                st.locked.push(false);
            }
            if exhausted {
                break;
            }
        }
        let bcur = st.basis.len() - p;
        if bcur == 0 {
            exhausted = true;
        }

        // ---- Rayleigh–Ritz on the processed part
        let t = st.g.view((0, 0), (p, p)).clone_owned();
        let t = (&t + t.transpose()) * 0.5;
        let Some(eig) = super::dense::symmetric_eigen(t) else {
            // a non-finite projection (H or its products overflowed): stop, not converged
            return non_finite(be, st.basis, nev.min(p), matvecs, restarts, mmax, b, 0);
        };
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&x, &y| eig.eigenvalues[x].partial_cmp(&eig.eigenvalues[y]).unwrap_or(std::cmp::Ordering::Equal));
        let theta: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i]).collect();
        let y = DMatrix::from_fn(p, p, |r, c| eig.eigenvectors[(r, order[c])]);
        for th in &theta {
            hnorm = hnorm.max(th.abs());
        }
        let coupling = st.g.view((p, 0), (bcur, p)).clone_owned(); // bcur × p
        let by = &coupling * &y; // bcur × p: column i is B y_i
        let res: Vec<f64> = (0..p).map(|i| by.column(i).norm()).collect();
        let thresh = opts.tol * hnorm.max(f64::MIN_POSITIVE);
        let wanted = nev.min(p);
        let nconv = (0..wanted).filter(|&i| res[i] <= thresh).count();
        let worst = (0..wanted).map(|i| res[i]).fold(0.0, f64::max) / hnorm.max(f64::MIN_POSITIVE);
        progress(&LanczosProgress { matvecs, restarts, converged: nconv, wanted: nev, worst_residual: worst });

        let done = (wanted == nev && nconv == nev) || exhausted || matvecs >= opts.max_matvecs;
        if done {
            let k = wanted;
            let coeff: Vec<f64> = y.columns(0, k).iter().copied().collect();
            let mut vectors: Vec<B::Vector> = (0..k).map(|_| be.alloc(n)).collect();
            be.combine(&st.basis[..p], &Coeffs { rows: p, cols: k, data: &coeff }, &mut vectors);
            let mut residuals = Vec::with_capacity(k);
            for (i, v) in vectors.iter_mut().enumerate() {
                let nv = be.norm2(v);
                if nv > 0.0 {
                    be.scale(1.0 / nv, v);
                }
                if let Op::Plain(_) = op {
                    matvecs += op.apply(be, v, &mut tmp);
                    be.axpy(-theta[i], v, &mut tmp);
                    residuals.push(be.norm2(&tmp));
                } else {
                    // the caller checks a filtered operator's vectors against H itself
                    residuals.push(res[i]);
                }
            }
            // Converged by the true residuals (a small slack for rounding in the
            // projected estimate).
            let converged = k == nev && residuals.iter().all(|&r| r <= 10.0 * thresh.max(1e-14 * hnorm));
            return EigenPairs {
                values: theta[..k].to_vec(),
                vectors,
                residuals,
                norm_estimate: hnorm,
                converged,
                matvecs,
                restarts,
                basis_size: mmax,
                block_size: b,
                filter_degree: 0,
                outer_iterations: restarts,
            };
        }

        // ---- thick restart: keep the lowest `keep` Ritz vectors and the open block
        let mut keep = (nev + (mmax - nev) / 2).min(mmax.saturating_sub(bcur + b)).max(nev.min(p));
        keep = keep.min(p);
        let coeff: Vec<f64> = y.columns(0, keep).iter().copied().collect();
        let mut ritz: Vec<B::Vector> = (0..keep).map(|_| be.alloc(n)).collect();
        be.combine(&st.basis[..p], &Coeffs { rows: p, cols: keep, data: &coeff }, &mut ritz);
        let open: Vec<B::Vector> = st.basis.drain(p..).collect();
        st.basis.clear();
        st.basis.extend(ritz);
        st.basis.extend(open);
        st.locked = vec![false; st.basis.len()];
        st.g.fill(0.0);
        for i in 0..keep {
            st.g[(i, i)] = theta[i];
            let lock = i < nev && res[i] <= thresh;
            st.locked[i] = lock;
            for u in 0..bcur {
                let c = if lock { 0.0 } else { by[(u, i)] };
                st.g[(keep + u, i)] = c;
                st.g[(i, keep + u)] = c;
            }
        }
        p = keep;
        restarts += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::linalg::CsrMatrix;

    fn laplacian_1d(n: usize) -> CsrMatrix {
        let mut t = Vec::new();
        for i in 0..n {
            t.push((i, i, 2.0));
            if i > 0 {
                t.push((i, i - 1, -1.0));
            }
            if i + 1 < n {
                t.push((i, i + 1, -1.0));
            }
        }
        CsrMatrix::from_triplets(n, n, &t)
    }

    #[test]
    fn laplacian_lowest() {
        let n = 400;
        let a = laplacian_1d(n);
        let be = CpuBackend::new();
        let r = lowest_eigenpairs(&be, &a, &LanczosOptions { nev: 5, tol: 1e-10, block_size: 1, ..Default::default() }, &mut |_| {});
        assert!(r.converged, "{r:?}");
        for (k, v) in r.values.iter().enumerate() {
            let exact = 2.0 - 2.0 * (std::f64::consts::PI * (k + 1) as f64 / (n + 1) as f64).cos();
            assert!((v - exact).abs() < 1e-9, "{k}: {v} vs {exact}");
        }
    }

    fn laplacian_2d(m: usize, shift: f64) -> CsrMatrix {
        let mut t = Vec::new();
        let id = |i: usize, j: usize| i + m * j;
        for j in 0..m {
            for i in 0..m {
                // a small smooth bump so that a shifted matrix is a nearby problem
                let x = (i as f64 + 0.5) / m as f64 - 0.5;
                t.push((id(i, j), id(i, j), 4.0 + shift * x));
                if i > 0 {
                    t.push((id(i, j), id(i - 1, j), -1.0));
                }
                if i + 1 < m {
                    t.push((id(i, j), id(i + 1, j), -1.0));
                }
                if j > 0 {
                    t.push((id(i, j), id(i, j - 1), -1.0));
                }
                if j + 1 < m {
                    t.push((id(i, j), id(i, j + 1), -1.0));
                }
            }
        }
        CsrMatrix::from_triplets(m * m, m * m, &t)
    }

    fn laplacian_1d_exact(n: usize, k: usize) -> f64 {
        2.0 - 2.0 * (std::f64::consts::PI * (k + 1) as f64 / (n + 1) as f64).cos()
    }

    #[test]
    fn warm_start_from_exact_vectors_saves_products() {
        let n = 400;
        let a = laplacian_1d(n);
        let be = CpuBackend::new();
        let o = LanczosOptions { nev: 5, tol: 1e-10, block_size: 1, ..Default::default() };
        let cold = lowest_eigenpairs(&be, &a, &o, &mut |_| {});
        let warm = lowest_eigenpairs_from(&be, &a, &o, &cold.vectors, &mut |_| {});
        assert!(cold.converged && warm.converged);
        for k in 0..5 {
            assert!((warm.values[k] - laplacian_1d_exact(n, k)).abs() < 1e-9, "{k}: {}", warm.values[k]);
        }
        assert!(warm.matvecs < cold.matvecs, "warm {} vs cold {}", warm.matvecs, cold.matvecs);
    }

    #[test]
    fn warm_start_from_a_poor_guess_still_finds_every_state() {
        // the guess holds only the even (mirror-symmetric) states 0, 2, 4 of a symmetric
        // problem: a Krylov space built from them alone would never see the odd ones
        let n = 400;
        let a = laplacian_1d(n);
        let be = CpuBackend::new();
        let even: Vec<Vec<f64>> = [0usize, 2, 4]
            .iter()
            .map(|&k| (0..n).map(|i| (std::f64::consts::PI * (k + 1) as f64 * (i + 1) as f64 / (n + 1) as f64).sin()).collect())
            .collect();
        let mut guess: Vec<Vec<f64>> = even;
        guess.push(vec![1.0; n + 3]); // wrong length: ignored
        let start: Vec<Vec<f64>> = guess.iter().map(|v| be.from_host(v)).collect();
        let o = LanczosOptions { nev: 5, tol: 1e-10, block_size: 1, ..Default::default() };
        let r = lowest_eigenpairs_from(&be, &a, &o, &start, &mut |_| {});
        assert!(r.converged);
        for k in 0..5 {
            assert!((r.values[k] - laplacian_1d_exact(n, k)).abs() < 1e-9, "{k}: {}", r.values[k]);
        }
        // a guess that is plain wrong (a constant vector) converges too
        let ones = vec![1.0; n];
        let r = lowest_eigenpairs_from(&be, &a, &o, &[be.from_host(&ones)], &mut |_| {});
        assert!(r.converged);
        assert!((r.values[1] - laplacian_1d_exact(n, 1)).abs() < 1e-9);
    }

    #[test]
    fn warm_start_with_the_chebyshev_filter() {
        // 2500 unknowns: large enough for the filtered path; the guess is the solution of a
        // nearby matrix (a different diagonal bump)
        let be = CpuBackend::new();
        let o = LanczosOptions { nev: 4, tol: 1e-9, block_size: 2, norm_bound: Some(8.5), filter_degree: 16, ..Default::default() };
        let near = laplacian_2d(50, 0.02);
        let a = laplacian_2d(50, 0.0);
        let guess = lowest_eigenpairs(&be, &near, &o, &mut |_| {});
        let cold = lowest_eigenpairs(&be, &a, &o, &mut |_| {});
        let warm = lowest_eigenpairs_from(&be, &a, &o, &guess.vectors, &mut |_| {});
        assert!(cold.converged && warm.converged);
        let e = |i: usize| laplacian_1d_exact(50, i);
        let mut exact = [2.0 * e(0), e(0) + e(1), e(0) + e(1), 2.0 * e(1)];
        exact.sort_by(f64::total_cmp);
        for (k, x) in exact.iter().enumerate() {
            assert!((warm.values[k] - x).abs() < 1e-7, "{k}: {} vs {x}", warm.values[k]);
            assert!((warm.values[k] - cold.values[k]).abs() < 1e-7);
        }
        assert!(warm.matvecs <= cold.matvecs, "warm {} vs cold {}", warm.matvecs, cold.matvecs);
    }

    #[test]
    fn tiny_matrix_exhausts_krylov_space() {
        let a = laplacian_1d(6);
        let be = CpuBackend::new();
        let r = lowest_eigenpairs(&be, &a, &LanczosOptions { nev: 6, tol: 1e-12, ..Default::default() }, &mut |_| {});
        assert!(r.converged);
        assert_eq!(r.values.len(), 6);
    }
}
