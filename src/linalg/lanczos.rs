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
}

impl Default for LanczosOptions {
    fn default() -> Self {
        LanczosOptions { nev: 4, tol: 1e-8, max_matvecs: 20_000, block_size: 3, basis_size: 0, seed: 7 }
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

/// The lowest `opts.nev` eigenpairs of the symmetric operator `a`.
pub fn lowest_eigenpairs<B: Backend>(
    be: &B,
    a: &B::Matrix,
    opts: &LanczosOptions,
    progress: &mut dyn FnMut(&LanczosProgress),
) -> EigenPairs<B::Vector> {
    let n = be.matrix_rows(a);
    let nev = opts.nev.min(n).max(1);
    let b = opts.block_size.clamp(1, nev.max(1));
    let mut mmax = if opts.basis_size > 0 { opts.basis_size } else { (2 * nev + 2 * b).max(nev + 4 * b + 24) };
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
    // start block
    for _ in 0..b {
        if let Some(v) = st.random_direction(&[], next_seed()) {
            st.basis.push(v);
            st.locked.push(false);
        }
    }
    let mut p = 0usize; // processed vectors (their H-products are in g)
    let mut matvecs = 0usize;
    let mut restarts = 0usize;
    let mut hnorm = 0.0f64;
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
            let mut ws: Vec<B::Vector> = Vec::with_capacity(bl);
            for &j in &block {
                let mut w = be.alloc(n);
                be.spmv(a, &st.basis[j], &mut w);
                ws.push(w);
            }
            matvecs += bl;
            let nrm0: Vec<f64> = ws.iter().map(|w| be.norm2(w)).collect();
            let mut ctot = vec![0.0; len0 * bl];
            for _pass in 0..2 {
                let c = be.block_dot(&st.basis, &ws);
                be.block_sub(&st.basis, &Coeffs { rows: len0, cols: bl, data: &c }, &mut ws);
                ctot.iter_mut().zip(&c).for_each(|(t, v)| *t += v);
            }
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
        let eig = nalgebra::SymmetricEigen::new(t);
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
                be.spmv(a, v, &mut tmp);
                be.axpy(-theta[i], v, &mut tmp);
                residuals.push(be.norm2(&tmp));
            }
            matvecs += k;
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

    #[test]
    fn tiny_matrix_exhausts_krylov_space() {
        let a = laplacian_1d(6);
        let be = CpuBackend::new();
        let r = lowest_eigenpairs(&be, &a, &LanczosOptions { nev: 6, tol: 1e-12, ..Default::default() }, &mut |_| {});
        assert!(r.converged);
        assert_eq!(r.values.len(), 6);
    }
}
