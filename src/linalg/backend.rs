//! The backend trait: the vector and matrix operations the algorithms are written in.
//!
//! CG, Lanczos, multigrid and the self-consistent loop call only [`Backend`], so a new
//! backend (GPU through wgpu, MPI-distributed) plugs in by implementing it. Its operations,
//! in five groups: what the backend is (`name`, `details`, `precision_bits`,
//! `cheap_readback`); storage (`upload_matrix`, `matrix_rows`, `alloc`, `from_host`,
//! `to_host`, `len`, `random`); level-1 vector operations (`copy`, `fill`, `axpy`, `xpby`,
//! `scale`, `pointwise_mul`, `dot`, `norm2`); the operator (`spmv`, `spmv_axpby`,
//! `spmv_axpby_block`); operations over a basis of vectors (`multi_dot`, `multi_axpy`,
//! `combine`, `block_dot`, `block_sub`) that let a backend fuse the Gram–Schmidt and
//! restart steps of Lanczos into one pass over the basis; block operations of LOBPCG
//! (`spmm`, `block_axpy`, `block_scale`); and scalars kept where the backend computes
//! (`alloc_scalars`, `read_scalars`, `multi_dot_to`, `block_dot_to`, `column_dots_to`,
//! `axpy_ratio`, `xpby_ratio`, `cg_update`) so that CG never waits for the host inside an
//! iteration and a LOBPCG step reads its Gram matrices and residual norms in one read-back.
//!
//! The basis operations take any slice whose items borrow a vector (`&[Vector]`,
//! `&[&Vector]`, `&mut [&mut Vector]`), so a wrapping backend hands its local vectors to the
//! backend it wraps without moving them, and one method serves both (there are no `_refs`
//! twins). A block of vectors as one object (a multivector with its own layout) will be a
//! further associated type beside `Vector`, with these operations as its methods.
//!
//! What only a distributed product needs (reading and adding the planes of a halo, starting
//! recorded work early) is [`HaloAccess`], a separate trait the distributed backend
//! requires of the backend it wraps; the algorithms never see it (as PETSc's `KSPSolve_CG`
//! never sees `MatMult_MPIAIJ`'s scatters).
//!
//! A wrapper (the distributed backend, the benchmarks' timing backend) must forward every
//! method, provided ones included, or it silently falls back to the slower defaults; the
//! forwarding test in `parallel::distributed` calls each of [`OPERATIONS`] through every
//! wrapper and fails when the wrapped backend did not see it. A new operation goes into
//! [`OPERATIONS`] and that test.

use std::borrow::{Borrow, BorrowMut};

/// A dense column-major block of coefficients (`rows × cols`), as used by [`Backend::combine`].
#[derive(Clone, Debug)]
pub struct Coeffs<'a> {
    pub rows: usize,
    pub cols: usize,
    /// Column-major: entry (i, j) at `data[i + j * rows]`.
    pub data: &'a [f64],
}

/// Every operation of [`Backend`] and [`HaloAccess`] that computes (the descriptive ones
/// `name`, `details`, `precision_bits`, `cheap_readback`, `matrix_rows` and `len` aside): the
/// list the forwarding test walks.
pub const OPERATIONS: &[&str] = &[
    "upload_matrix", "upload_stencil", "upload_transfer", "alloc", "from_host", "to_host", "random", "copy", "fill", "axpy", "xpby", "scale", "pointwise_mul",
    "dot", "norm2", "spmv", "spmv_axpby", "spmv_axpby_block", "multi_dot", "multi_axpy", "combine", "block_dot",
    "block_sub", "spmm", "block_axpy", "block_scale", "block_copy", "block_diag_axpby", "alloc_scalars", "read_scalars", "multi_dot_to", "axpy_ratio", "xpby_ratio", "cg_update",
    "block_dot_to", "column_dots_to", "read_ranges", "read_ranges_many", "add_ranges", "flush",
];

pub trait Backend: Send + Sync {
    /// A vector of f64 values living wherever the backend computes.
    type Vector: Send + Sync;
    /// A sparse operator (uploaded from a host [`super::CsrMatrix`]).
    type Matrix: Send + Sync;
    /// A few scalars kept where the backend computes, so that CG's step lengths never
    /// cross to the host inside an iteration (on the GPU: a small device buffer).
    type Scalars: Send + Sync;

    // ---- what the backend is

    /// Short name for logs and results.json ("cpu", "gpu", ...).
    fn name(&self) -> String;
    /// Details for results.json (threads, device, precision...).
    fn details(&self) -> serde_json::Value;
    /// Bits of the floating-point type vectors are stored and computed in (64 or 32). The
    /// caller sets tolerances and refinement by it; the algorithms never look at it.
    fn precision_bits(&self) -> u32 {
        64
    }
    /// Whether reading results back to the host is cheap (no device synchronisation). CG
    /// checks its residual every iteration where it is, and at predicted points otherwise;
    /// the iterates are the same either way.
    fn cheap_readback(&self) -> bool {
        true
    }

    // ---- storage

    fn upload_matrix(&self, a: &super::CsrMatrix) -> Self::Matrix;
    /// [`Backend::upload_matrix`] of a matrix the caller no longer needs: a backend whose
    /// matrices are host CSR takes it without a copy (the elasticity operator of a 128³
    /// strained dot is 6 GB). The default uploads `&a` and drops it.
    fn upload_matrix_owned(&self, a: super::CsrMatrix) -> Self::Matrix {
        self.upload_matrix(&a)
    }
    /// Upload a grid operator held in the stencil layout. The default uploads its CSR form
    /// ([`super::stencil::StencilMatrix::to_csr`]) with [`Backend::upload_matrix`].
    fn upload_stencil(&self, a: &super::stencil::StencilMatrix) -> Self::Matrix {
        self.upload_matrix(&a.to_csr())
    }
    /// Upload `a`, whose stencil form the caller already holds (`stencil`, from
    /// [`super::stencil::StencilMatrix::of`]`(a)`): a backend that stores grid operators in
    /// the stencil layout takes it instead of detecting it again. The default uploads `a`.
    fn upload_matrix_with_stencil(&self, a: &super::CsrMatrix, stencil: Option<&super::stencil::StencilMatrix>) -> Self::Matrix {
        let _ = stencil;
        self.upload_matrix(a)
    }
    /// Upload a multigrid transfer (restriction or prolongation of a grid aggregation). The
    /// default uploads its CSR form ([`super::multigrid::Aggregation::to_csr`]).
    fn upload_transfer(&self, t: &super::multigrid::Aggregation) -> Self::Matrix {
        self.upload_matrix(&t.to_csr())
    }
    fn matrix_rows(&self, a: &Self::Matrix) -> usize;
    /// A zero vector of length n.
    fn alloc(&self, n: usize) -> Self::Vector;
    fn from_host(&self, x: &[f64]) -> Self::Vector;
    fn to_host(&self, x: &Self::Vector) -> Vec<f64>;
    /// Several vectors on the host (on a GPU: all copies in one submission and one wait,
    /// instead of one synchronisation each). The default reads them one by one.
    fn to_host_many<X: Borrow<Self::Vector>>(&self, xs: &[X]) -> Vec<Vec<f64>> {
        xs.iter().map(|x| self.to_host(x.borrow())).collect()
    }
    fn len(&self, x: &Self::Vector) -> usize;
    /// A reproducible pseudo-random vector with entries in [-1, 1).
    fn random(&self, n: usize, seed: u64) -> Self::Vector {
        self.from_host(&random_values(n, seed))
    }

    // ---- level-1 vector operations

    /// dst ← src
    fn copy(&self, src: &Self::Vector, dst: &mut Self::Vector);
    /// x ← value
    fn fill(&self, x: &mut Self::Vector, value: f64);
    /// y ← y + α x
    fn axpy(&self, alpha: f64, x: &Self::Vector, y: &mut Self::Vector);
    /// y ← x + β y
    fn xpby(&self, x: &Self::Vector, beta: f64, y: &mut Self::Vector);
    /// x ← α x
    fn scale(&self, alpha: f64, x: &mut Self::Vector);
    /// z ← d ∘ x (element-wise product, e.g. a Jacobi preconditioner)
    fn pointwise_mul(&self, d: &Self::Vector, x: &Self::Vector, z: &mut Self::Vector);
    /// xᵀ y
    fn dot(&self, x: &Self::Vector, y: &Self::Vector) -> f64;
    /// ‖x‖₂
    fn norm2(&self, x: &Self::Vector) -> f64 {
        self.dot(x, x).sqrt()
    }

    // ---- the operator

    /// y ← A x
    fn spmv(&self, a: &Self::Matrix, x: &Self::Vector, y: &mut Self::Vector);
    /// y ← α A x + β x + γ y (one pass: a step of a Chebyshev recurrence). The default
    /// composes spmv and axpy; backends fuse it.
    fn spmv_axpby(&self, a: &Self::Matrix, x: &Self::Vector, alpha: f64, beta: f64, gamma: f64, y: &mut Self::Vector) {
        let mut t = self.alloc(self.len(x));
        self.spmv(a, x, &mut t);
        self.scale(gamma, y);
        self.axpy(alpha, &t, y);
        self.axpy(beta, x, y);
    }
    /// ys_j ← α A xs_j + β xs_j + γ ys_j for a block of vectors (the Chebyshev filter
    /// applied to a Lanczos block): a distributed backend exchanges the halos of the whole
    /// block at once. The default applies [`Backend::spmv_axpby`] to each.
    #[allow(clippy::too_many_arguments)]
    fn spmv_axpby_block<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, a: &Self::Matrix, xs: &[X], alpha: f64, beta: f64, gamma: f64, ys: &mut [Y]) {
        for (x, y) in xs.iter().zip(ys.iter_mut()) {
            self.spmv_axpby(a, x.borrow(), alpha, beta, gamma, y.borrow_mut());
        }
    }

    // ---- operations over a basis of vectors (one pass over the basis)

    /// c_i = basis_iᵀ x for every vector of the basis.
    fn multi_dot<V: Borrow<Self::Vector>>(&self, basis: &[V], x: &Self::Vector) -> Vec<f64> {
        basis.iter().map(|b| self.dot(b.borrow(), x)).collect()
    }
    /// y ← y + Σ_i c_i basis_i
    fn multi_axpy<V: Borrow<Self::Vector>>(&self, basis: &[V], c: &[f64], y: &mut Self::Vector) {
        for (b, &ci) in basis.iter().zip(c) {
            if ci != 0.0 {
                self.axpy(ci, b.borrow(), y);
            }
        }
    }
    /// out_j ← Σ_i basis_i C_ij for j < C.cols (out vectors are overwritten).
    fn combine<V: Borrow<Self::Vector>, W: BorrowMut<Self::Vector>>(&self, basis: &[V], c: &Coeffs, out: &mut [W]) {
        for (j, o) in out.iter_mut().enumerate().take(c.cols) {
            let o = o.borrow_mut();
            self.fill(o, 0.0);
            self.multi_axpy(basis, &c.data[j * c.rows..(j + 1) * c.rows], o);
        }
    }
    /// C = basisᵀ X for a block of vectors X: column-major, `basis.len() × xs.len()`.
    /// One sweep over the basis serves the whole block (the block Gram–Schmidt of Lanczos).
    fn block_dot<V: Borrow<Self::Vector>, X: Borrow<Self::Vector>>(&self, basis: &[V], xs: &[X]) -> Vec<f64> {
        xs.iter().flat_map(|x| self.multi_dot(basis, x.borrow())).collect()
    }
    /// ys_j ← ys_j − Σ_i basis_i C_ij for every j < C.cols.
    fn block_sub<V: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, basis: &[V], c: &Coeffs, ys: &mut [Y]) {
        for (j, y) in ys.iter_mut().enumerate().take(c.cols) {
            let neg: Vec<f64> = c.data[j * c.rows..(j + 1) * c.rows].iter().map(|v| -v).collect();
            self.multi_axpy(basis, &neg, y.borrow_mut());
        }
    }

    // ---- block operations (LOBPCG: a block of k vectors advances at once)

    /// ys_j ← A xs_j for every column of the block (overwritten): one pass over the operator
    /// for the whole block where the backend fuses it (SpMM), one halo exchange per block on
    /// a distributed backend. The default applies [`Backend::spmv`] to each column.
    fn spmm<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, a: &Self::Matrix, xs: &[X], ys: &mut [Y]) {
        for (x, y) in xs.iter().zip(ys.iter_mut()) {
            self.spmv(a, x.borrow(), y.borrow_mut());
        }
    }
    /// ys_j ← ys_j + α_j xs_j, a scalar per column (e.g. R = HX − XΘ). Columns with α_j = 0
    /// are left untouched.
    fn block_axpy<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, alphas: &[f64], xs: &[X], ys: &mut [Y]) {
        for ((&a, x), y) in alphas.iter().zip(xs).zip(ys.iter_mut()) {
            if a != 0.0 {
                self.axpy(a, x.borrow(), y.borrow_mut());
            }
        }
    }
    /// xs_j ← α_j xs_j, a scalar per column.
    fn block_scale<X: BorrowMut<Self::Vector>>(&self, alphas: &[f64], xs: &mut [X]) {
        for (&a, x) in alphas.iter().zip(xs.iter_mut()) {
            self.scale(a, x.borrow_mut());
        }
    }

    /// ys_j ← xs_j for every column (the multigrid smoother's residual start and first
    /// step). One dispatch per group of columns where the backend fuses it.
    fn block_copy<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, xs: &[X], ys: &mut [Y]) {
        for (x, y) in xs.iter().zip(ys.iter_mut()) {
            self.copy(x.borrow(), y.borrow_mut());
        }
    }
    /// ys_j ← α d∘xs_j + β ys_j for every column, `d` one vector for the whole block (the
    /// Jacobi-scaled step of the multigrid smoother's Chebyshev recurrence, with d = D⁻¹).
    /// With β = 0 the outputs are overwritten, never read (a NaN there does not spread).
    /// The default is [`Backend::pointwise_mul`] and [`Backend::scale`] per column, through
    /// a temporary where β ≠ 0.
    fn block_diag_axpby<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, d: &Self::Vector, alpha: f64, xs: &[X], beta: f64, ys: &mut [Y]) {
        diag_axpby_per_column(self, d, alpha, xs, beta, ys)
    }

    // ---- scalars where the backend computes (CG without host round trips)

    /// `n` scalars, zero.
    fn alloc_scalars(&self, n: usize) -> Self::Scalars;
    /// All scalars on the host (on the GPU: one synchronisation).
    fn read_scalars(&self, s: &Self::Scalars) -> Vec<f64>;
    /// s[first + i] ← basis_iᵀ x for every vector of the basis, left where the backend
    /// computes (no read-back).
    fn multi_dot_to<V: Borrow<Self::Vector>>(&self, basis: &[V], x: &Self::Vector, s: &mut Self::Scalars, first: usize);
    /// s[first + i + j·m] ← basis_iᵀ xs_j (m = basis.len(), column-major): a block Gram matrix
    /// left where the backend computes, read with the other scalars of the step in one
    /// [`Backend::read_scalars`]. The default calls [`Backend::multi_dot_to`] per column.
    fn block_dot_to<V: Borrow<Self::Vector>, X: Borrow<Self::Vector>>(&self, basis: &[V], xs: &[X], s: &mut Self::Scalars, first: usize) {
        for (j, x) in xs.iter().enumerate() {
            self.multi_dot_to(basis, x.borrow(), s, first + j * basis.len());
        }
    }
    /// s[first + j] ← xs_jᵀ ys_j for every column (with xs = ys: the squared column norms).
    fn column_dots_to<X: Borrow<Self::Vector>, Y: Borrow<Self::Vector>>(&self, xs: &[X], ys: &[Y], s: &mut Self::Scalars, first: usize) {
        for (j, (x, y)) in xs.iter().zip(ys).enumerate() {
            self.multi_dot_to(&[x.borrow()], y.borrow(), s, first + j);
        }
    }
    /// y ← y + sign · (s[num] / s[den]) · x, the ratio taken where the scalars live
    /// (0 when s[den] is 0).
    fn axpy_ratio(&self, s: &Self::Scalars, num: usize, den: usize, sign: f64, x: &Self::Vector, y: &mut Self::Vector);
    /// y ← x + (s[num] / s[den]) · y (0 when s[den] is 0).
    fn xpby_ratio(&self, x: &Self::Vector, s: &Self::Scalars, num: usize, den: usize, y: &mut Self::Vector);
    /// The CG update with α = s[num] / s[den]: x ← x + α p and r ← r − α q, in one pass
    /// where the backend fuses it.
    #[allow(clippy::too_many_arguments)]
    fn cg_update(&self, s: &Self::Scalars, num: usize, den: usize, p: &Self::Vector, q: &Self::Vector, x: &mut Self::Vector, r: &mut Self::Vector) {
        self.axpy_ratio(s, num, den, 1.0, p, x);
        self.axpy_ratio(s, num, den, -1.0, q, r);
    }
}

/// What a distributed product needs of the backend each rank computes on, beyond
/// [`Backend`]: the planes of a halo read and added in place, and recorded work started
/// early so the device computes during the exchange. Only
/// the distributed backend (`parallel::distributed::DistBackend`) requires it; the
/// algorithms never call it.
pub trait HaloAccess: Backend {
    /// The entries `start..start + len` of each range, concatenated, on the host (the
    /// halo of a distributed product: a few contiguous planes). The default reads the
    /// whole vector.
    fn read_ranges(&self, x: &Self::Vector, ranges: &[(usize, usize)]) -> Vec<f64> {
        let h = self.to_host(x);
        ranges.iter().flat_map(|&(s, l)| h[s..s + l].iter().copied()).collect()
    }
    /// [`HaloAccess::read_ranges`] of several vectors (on the GPU: one synchronisation).
    fn read_ranges_many(&self, reads: &[(&Self::Vector, &[(usize, usize)])]) -> Vec<Vec<f64>> {
        reads.iter().map(|(x, r)| self.read_ranges(x, r)).collect()
    }
    /// y[start..start + len] += the next `len` of `values`, for each range in turn (the
    /// ghost couplings of a distributed product). The default goes through the host.
    fn add_ranges(&self, y: &mut Self::Vector, ranges: &[(usize, usize)], values: &[f64]) {
        let mut h = self.to_host(y);
        let mut at = 0;
        for &(s, l) in ranges {
            h[s..s + l].iter_mut().zip(&values[at..at + l]).for_each(|(a, b)| *a += b);
            at += l;
        }
        *y = self.from_host(&h);
    }
    /// Start executing what has been recorded (on the GPU: submit the pending commands), so
    /// that the device works while the host waits for something else (a halo exchange).
    /// The default does nothing.
    fn flush(&self) {}
}

/// [`Backend::block_diag_axpby`] composed of `pointwise_mul`, `scale` and `xpby` per column
/// (through a temporary where β ≠ 0): the trait's default, and the fallback of a backend
/// whose fused kernel is unavailable.
pub fn diag_axpby_per_column<B: Backend + ?Sized, X: Borrow<B::Vector>, Y: BorrowMut<B::Vector>>(be: &B, d: &B::Vector, alpha: f64, xs: &[X], beta: f64, ys: &mut [Y]) {
    let mut t = if beta != 0.0 { Some(be.alloc(be.len(d))) } else { None };
    for (x, y) in xs.iter().zip(ys.iter_mut()) {
        let y = y.borrow_mut();
        match t.as_mut() {
            None => {
                be.pointwise_mul(d, x.borrow(), y);
                be.scale(alpha, y);
            }
            Some(t) => {
                be.pointwise_mul(d, x.borrow(), t);
                be.scale(alpha, t);
                be.xpby(t, beta, y);
            }
        }
    }
}

/// The vectors of a slice of borrowed vectors, as plain references (for kernels written
/// over `&[&Vector]`).
pub fn refs<V: Borrow<T>, T>(v: &[V]) -> Vec<&T> {
    v.iter().map(Borrow::borrow).collect()
}

/// The vectors of a slice of mutably borrowed vectors, as plain mutable references.
pub fn refs_mut<V: BorrowMut<T>, T>(v: &mut [V]) -> Vec<&mut T> {
    v.iter_mut().map(BorrowMut::borrow_mut).collect()
}

/// num / den, or 0 where den is 0 (the convention of [`Backend::axpy_ratio`]).
pub fn safe_ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// SplitMix64-based reproducible values in [-1, 1).
pub fn random_values(n: usize, seed: u64) -> Vec<f64> {
    use rayon::prelude::*;
    // splitmix64: element i is a hash of the counter s0 + (i + 1)·γ alone, so the elements
    // are computed in parallel with the same values as the serial recurrence s += γ (a
    // serial pass over the start block of a 256³ solve took ~0.3 s of the host)
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    let s0 = seed.wrapping_mul(GAMMA).wrapping_add(0x2545_F491_4F6C_DD1D);
    (0..n)
        .into_par_iter()
        .with_min_len(1 << 16)
        .map(|i| {
            let mut z = s0.wrapping_add((i as u64).wrapping_add(1).wrapping_mul(GAMMA));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// The parallel values are those of the serial SplitMix64 recurrence, across pieces.
    #[test]
    fn random_values_are_the_serial_splitmix_sequence() {
        let (n, seed) = (200_003, 42u64);
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x2545_F491_4F6C_DD1D);
        let serial: Vec<f64> = (0..n)
            .map(|_| {
                s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect();
        assert!(super::random_values(n, seed) == serial);
    }
}
