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
    /// zs_j ← M⁻¹ rs_j for a block (LOBPCG preconditions its block of residuals at once; the
    /// multigrid V-cycle runs the block through each level together). The default applies
    /// [`Preconditioner::apply`] to each column.
    fn apply_block(&self, be: &B, rs: &[&B::Vector], zs: &mut [&mut B::Vector]) {
        for (r, z) in rs.iter().zip(zs.iter_mut()) {
            self.apply(be, r, z);
        }
    }
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

/// The longest run of CG iterations between two residual read-backs where read-backs
/// are expensive.
pub const MAX_CHECK_INTERVAL: usize = 16;

/// Iterations until the residual is predicted to reach `target`, from the geometric rate
/// observed between the first and the last check (CG's residual is not monotone, so the
/// span is kept long); between 1 and [`MAX_CHECK_INTERVAL`].
fn predicted_steps(history: &[(usize, f64)], target: f64) -> usize {
    let (Some(&(i0, r0)), Some(&(i1, r1))) = (history.first(), history.last()) else { return 1 };
    if i1 <= i0 || r1 <= 0.0 || r0 <= 0.0 {
        return 1;
    }
    let rate = (r1 / r0).ln() / (i1 - i0) as f64;
    if rate >= -1e-12 {
        return MAX_CHECK_INTERVAL / 2;
    }
    let steps = ((target / r1).ln() / rate).ceil();
    if steps.is_finite() {
        (steps as usize).clamp(1, MAX_CHECK_INTERVAL)
    } else {
        1
    }
}

// Scalar slots of the CG loop: (rᵀz, rᵀr) of the even and of the odd iterations, then pᵀAp.
const RZ: [usize; 2] = [0, 2];
const PAP: usize = 4;

/// Preconditioned CG: solve A x = rhs (A symmetric positive definite), starting from the x
/// given, with the SPD preconditioner `m`.
///
/// The step lengths α = rᵀz / pᵀAp and β = rᵀz′ / rᵀz are formed where the backend
/// computes ([`Backend::axpy_ratio`], [`Backend::cg_update`]): an iteration needs no host
/// round trip. The residual norm is read back every iteration where that is cheap (CPU),
/// and otherwise at iterations predicted from the observed convergence rate (at most
/// [`MAX_CHECK_INTERVAL`] apart), so a GPU solve synchronises a few times, not per iteration.
/// The iterates are the same either way; only the stopping point may come up to a few
/// iterations later than necessary.
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
    let target = opts.tol * bnorm;
    let mut r = be.alloc(n);
    let mut ap = be.alloc(n);
    // r = b − A x
    be.spmv(a, x, &mut ap);
    be.copy(rhs, &mut r);
    be.axpy(-1.0, &ap, &mut r);
    // z and r side by side, so one batched dot gives rᵀz and rᵀr
    let mut zr = vec![be.alloc(n), r];
    {
        let (z, r) = zr.split_at_mut(1);
        m.apply(be, &r[0], &mut z[0]);
    }
    let mut p = be.alloc(n);
    be.copy(&zr[0], &mut p);
    let mut s = be.alloc_scalars(6);
    be.multi_dot_to(&zr, &zr[1], &mut s, RZ[0]);
    let cheap = be.cheap_readback();
    let mut iterations = 0;
    let mut next_check = 0;
    let mut history: Vec<(usize, f64)> = Vec::new();
    let mut broke_down = false;
    loop {
        if iterations >= next_check || iterations >= opts.max_iterations {
            let v = be.read_scalars(&s);
            let rnorm = v[RZ[iterations % 2] + 1].max(0.0).sqrt();
            if iterations > 0 && !(v[PAP] > 0.0 && v[PAP].is_finite() && rnorm.is_finite()) {
                broke_down = true; // not positive definite (or breakdown): report as not converged
                break;
            }
            if rnorm <= target || iterations >= opts.max_iterations {
                break;
            }
            history.push((iterations, rnorm));
            next_check = if cheap { iterations + 1 } else { iterations + predicted_steps(&history, target) };
        }
        let c = iterations % 2;
        be.spmv(a, &p, &mut ap);
        be.multi_dot_to(std::slice::from_ref(&p), &ap, &mut s, PAP);
        {
            let (z, r) = zr.split_at_mut(1);
            be.cg_update(&s, RZ[c], PAP, &p, &ap, x, &mut r[0]);
            m.apply(be, &r[0], &mut z[0]);
        }
        be.multi_dot_to(&zr, &zr[1], &mut s, RZ[1 - c]);
        be.xpby_ratio(&zr[0], &s, RZ[1 - c], RZ[c], &mut p);
        iterations += 1;
    }
    // true residual
    let r = &mut zr[1];
    be.spmv(a, x, &mut ap);
    be.copy(rhs, r);
    be.axpy(-1.0, &ap, r);
    let rel = be.norm2(r) / bnorm;
    CgResult { iterations, relative_residual: rel, converged: !broke_down && rel <= opts.tol * 1.01 + f64::EPSILON }
}

/// The relative accuracy one inner solve is asked for in [`cg_refined`] when the device
/// computes in f32 (a solve in single precision stalls near 1e-6 on large grids).
pub const F32_INNER_TOL: f64 = 1e-4;

/// CG to a tolerance beyond the device's precision, by mixed-precision iterative
/// refinement: the residual r = b − A x and the solution x are kept in f64 on `host`
/// (any backend computing in f64, e.g. the CPU), and each correction A d = r is solved by
/// [`pcg`] on `be` to a relative accuracy it can reach, then added to x in f64.
/// On a backend computing in f64 this is one plain solve. `iterations` counts the inner
/// iterations of all corrections.
#[allow(clippy::too_many_arguments)]
pub fn cg_refined<B: Backend, H: Backend, P: Preconditioner<B> + ?Sized>(
    be: &B,
    a: &B::Matrix,
    m: &P,
    host: &H,
    a_host: &H::Matrix,
    rhs: &H::Vector,
    x: &mut H::Vector,
    opts: &CgOptions,
) -> CgResult {
    let n = host.len(rhs);
    let bnorm = host.norm2(rhs);
    if bnorm == 0.0 {
        host.fill(x, 0.0);
        return CgResult { iterations: 0, relative_residual: 0.0, converged: true };
    }
    let mut r = host.alloc(n);
    let mut ax = host.alloc(n);
    let mut iterations = 0;
    let mut last = f64::INFINITY;
    loop {
        host.spmv(a_host, x, &mut ax);
        host.copy(rhs, &mut r);
        host.axpy(-1.0, &ax, &mut r);
        let rel = host.norm2(&r) / bnorm;
        // converged, out of iterations, or a correction that no longer helps
        if rel <= opts.tol || iterations >= opts.max_iterations || rel > 0.5 * last {
            return CgResult { iterations, relative_residual: rel, converged: rel <= opts.tol * 1.01 + f64::EPSILON };
        }
        last = rel;
        let floor = if be.precision_bits() < 64 { F32_INNER_TOL } else { 0.0 };
        let inner = CgOptions { tol: (0.5 * opts.tol / rel).max(floor).min(0.5), max_iterations: opts.max_iterations - iterations };
        let rd = be.from_host(&host.to_host(&r));
        let mut d = be.alloc(n);
        let res = pcg(be, a, &rd, &mut d, m, &inner);
        iterations += res.iterations.max(1);
        host.axpy(1.0, &host.from_host(&be.to_host(&d)), x);
    }
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
