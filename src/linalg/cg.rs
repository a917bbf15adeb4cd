//! Preconditioned conjugate gradients over [`Backend`], for symmetric positive-definite
//! systems (Poisson; shift-invert eigensolves).

use super::backend::Backend;

#[derive(Clone, Debug)]
pub struct CgOptions {
    /// Stop when ‖b − A x‖ ≤ tol · ‖b‖.
    pub tol: f64,
    pub max_iterations: usize,
}

impl Default for CgOptions {
    fn default() -> Self {
        CgOptions { tol: 1e-10, max_iterations: 10_000 }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CgResult {
    pub iterations: usize,
    /// Final relative residual ‖b − A x‖ / ‖b‖ (recomputed from scratch at the end).
    pub relative_residual: f64,
    pub converged: bool,
}

/// A preconditioner M⁻¹ ≈ A⁻¹ for [`pcg`]: z ← M⁻¹ r. For PCG to be valid M⁻¹ must be
/// symmetric positive definite (a symmetric multigrid V-cycle, Jacobi, the identity).
pub trait Preconditioner<B: Backend> {
    fn apply(&self, be: &B, r: &B::Vector, z: &mut B::Vector);
}

/// No preconditioning: z ← r.
pub struct Identity;

impl<B: Backend> Preconditioner<B> for Identity {
    fn apply(&self, be: &B, r: &B::Vector, z: &mut B::Vector) {
        be.copy(r, z);
    }
}

/// Jacobi: z ← diag(A)⁻¹ ∘ r, with the inverse diagonal held on the backend.
pub struct Jacobi<B: Backend> {
    pub inv_diag: B::Vector,
}

impl<B: Backend> Jacobi<B> {
    /// The inverse diagonal of `a` (host matrix), uploaded. Zero diagonal entries give 1.
    pub fn new(be: &B, a: &super::CsrMatrix) -> Self {
        let d: Vec<f64> = a.diagonal().iter().map(|&v| if v != 0.0 { 1.0 / v } else { 1.0 }).collect();
        Jacobi { inv_diag: be.from_host(&d) }
    }
}

impl<B: Backend> Preconditioner<B> for Jacobi<B> {
    fn apply(&self, be: &B, r: &B::Vector, z: &mut B::Vector) {
        be.pointwise_mul(&self.inv_diag, r, z);
    }
}

/// A borrowed inverse diagonal (the `inv_diag` argument of [`cg`]).
struct DiagRef<'a, V>(&'a V);

impl<B: Backend> Preconditioner<B> for DiagRef<'_, B::Vector> {
    fn apply(&self, be: &B, r: &B::Vector, z: &mut B::Vector) {
        be.pointwise_mul(self.0, r, z);
    }
}

/// Solve A x = rhs, starting from the x given. `inv_diag`, if given, is the Jacobi
/// preconditioner M⁻¹ = diag(A)⁻¹. A thin wrapper of [`pcg`].
pub fn cg<B: Backend>(
    be: &B,
    a: &B::Matrix,
    rhs: &B::Vector,
    x: &mut B::Vector,
    inv_diag: Option<&B::Vector>,
    opts: &CgOptions,
) -> CgResult {
    match inv_diag {
        Some(d) => pcg(be, a, rhs, x, &DiagRef(d), opts),
        None => pcg(be, a, rhs, x, &Identity, opts),
    }
}

/// Preconditioned CG: solve A x = rhs (A symmetric positive definite), starting from the x
/// given, with the SPD preconditioner `m`.
pub fn pcg<B: Backend, P: Preconditioner<B> + ?Sized>(
    be: &B,
    a: &B::Matrix,
    rhs: &B::Vector,
    x: &mut B::Vector,
    m: &P,
    opts: &CgOptions,
) -> CgResult {
    let n = be.len(rhs);
    let bnorm = be.norm2(rhs);
    if bnorm == 0.0 {
        be.fill(x, 0.0);
        return CgResult { iterations: 0, relative_residual: 0.0, converged: true };
    }
    let mut r = be.alloc(n);
    let mut ap = be.alloc(n);
    // r = b − A x
    be.spmv(a, x, &mut ap);
    be.copy(rhs, &mut r);
    be.axpy(-1.0, &ap, &mut r);
    let mut z = be.alloc(n);
    let precondition = |r: &B::Vector, z: &mut B::Vector| m.apply(be, r, z);
    precondition(&r, &mut z);
    let mut p = be.alloc(n);
    be.copy(&z, &mut p);
    let mut rz = be.dot(&r, &z);
    let mut iterations = 0;
    let mut rnorm = be.norm2(&r);
    while rnorm > opts.tol * bnorm && iterations < opts.max_iterations {
        be.spmv(a, &p, &mut ap);
        let pap = be.dot(&p, &ap);
        if pap <= 0.0 || !pap.is_finite() {
            break; // not positive definite (or breakdown): report as not converged
        }
        let alpha = rz / pap;
        be.axpy(alpha, &p, x);
        be.axpy(-alpha, &ap, &mut r);
        precondition(&r, &mut z);
        let rz_new = be.dot(&r, &z);
        be.xpby(&z, rz_new / rz, &mut p);
        rz = rz_new;
        rnorm = be.norm2(&r);
        iterations += 1;
    }
    // true residual
    be.spmv(a, x, &mut ap);
    be.copy(rhs, &mut r);
    be.axpy(-1.0, &ap, &mut r);
    let rel = be.norm2(&r) / bnorm;
    CgResult { iterations, relative_residual: rel, converged: rel <= opts.tol * 1.01 + f64::EPSILON }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::linalg::CsrMatrix;

    #[test]
    fn solves_poisson_1d() {
        let n = 200;
        let mut t = Vec::new();
        for i in 0..n {
            t.push((i, i, 2.0));
            if i > 0 {
                t.push((i, i - 1, -1.0));
                t.push((i - 1, i, -1.0));
            }
        }
        let a = CsrMatrix::from_triplets(n, n, &t);
        let be = CpuBackend::new();
        let xs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.1).sin()).collect();
        let b = a.mul_vec(&xs);
        let mut x = vec![0.0; n];
        let d: Vec<f64> = a.diagonal().iter().map(|v| 1.0 / v).collect();
        let r = cg(&be, &a, &b, &mut x, Some(&d), &CgOptions { tol: 1e-12, max_iterations: 1000 });
        assert!(r.converged, "{r:?}");
        for i in 0..n {
            assert!((x[i] - xs[i]).abs() < 1e-8);
        }
    }
}
