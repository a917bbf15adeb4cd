//! The eigen-solve of the Schrödinger path: [`solve`] finds the lowest states of an assembled
//! Hamiltonian on a given [`Backend`] (dense diagonalisation for small problems, otherwise
//! the iterative solver `solve.eigensolver` names: LOBPCG preconditioned by the multigrid
//! of H − σ, or block Lanczos; optionally started from a warm start), with the f64
//! refinement on the host after a low-precision backend and the tolerance floors of each
//! precision.
//!
//! The iterative solvers run on the backend wrapped in a [`TimingBackend`], whose count of
//! calls that return values to the host is reported as `solver.host_syncs` (on a GPU each
//! is a synchronisation with the device).
//!
//! Which backend runs it is chosen by [`crate::backend::select`], not here.
//!
//! Units: energies eV.

use std::time::Instant;

use serde_json::{json, Value};

use crate::backend::timing::TimingBackend;
use crate::backend::CpuBackend;
use crate::error::{QdError, Result};
use crate::linalg::backend::Backend;
use crate::linalg::lanczos::{lowest_eigenpairs_from, EigenPairs, LanczosOptions, LanczosProgress};
use crate::linalg::lobpcg::{self, lobpcg, LobpcgOptions};
use crate::linalg::{dense, CsrMatrix};
pub use crate::scene::{Eigensolver, DEFAULT_EIGENSOLVER};
use crate::scene::Scene;

/// Problems up to this many unknowns are diagonalised densely (nalgebra).
pub const DENSE_LIMIT: usize = 400;
/// Degree of the Chebyshev filter the eigensolver uses on large problems.
pub const DEFAULT_FILTER_DEGREE: usize = 16;

/// How to solve (what to find and how far to iterate; the backend is given to [`solve`]).
#[derive(Clone, Debug)]
pub struct SolveOptions {
    pub states: usize,
    pub tolerance: f64,
    pub max_matvecs: usize,
    pub block_size: usize,
    /// The iterative solver even for a problem small enough for the dense path (tests, and
    /// `backend: gpu`, which insists on running the iterations on the adapter).
    pub force_iterative: bool,
    /// Chebyshev filter degree of the Lanczos eigensolver (0: plain Lanczos).
    pub filter_degree: usize,
    /// The iterative eigensolver (the scene's `solve.eigensolver`).
    pub eigensolver: Eigensolver,
    /// Cells per axis (x-fastest, 1 on absent axes) of the grid the Hamiltonian lives on:
    /// LOBPCG's multigrid preconditioner coarsens it. `None` (a matrix without a grid):
    /// LOBPCG is not available and Lanczos runs, with a notice.
    pub dims: Option<[usize; 3]>,
}

impl SolveOptions {
    /// The options a scene asks for: its `solve.states` (after the command line's
    /// overrides, see [`super::resolve`]), tolerance, iteration cap and block size.
    pub fn from_scene(scene: &Scene) -> SolveOptions {
        let states = scene.solve.states;
        SolveOptions {
            states,
            tolerance: scene.solve.tolerance,
            max_matvecs: scene.solve.max_iterations,
            block_size: super::prepare::block_size(scene, states),
            force_iterative: false,
            filter_degree: DEFAULT_FILTER_DEGREE,
            eigensolver: scene.solve.eigensolver,
            dims: None,
        }
    }
}

/// The eigenpairs found, on the host.
#[derive(Clone, Debug)]
pub struct Solution {
    /// Energies, eV, ascending.
    pub energies: Vec<f64>,
    /// Unit-norm (Σ ψ² = 1) eigenvectors, sign fixed so the largest component is positive.
    pub vectors: Vec<Vec<f64>>,
    /// ‖Hψ − Eψ‖, eV.
    pub residuals: Vec<f64>,
    pub norm_estimate: f64,
    pub converged: bool,
    /// "lobpcg", "lanczos" or "dense".
    pub method: String,
    pub matvecs: usize,
    pub restarts: usize,
    /// Outer iterations of the iterative solver (LOBPCG iterations, Lanczos restart
    /// cycles); 0 for the dense path.
    pub outer_iterations: usize,
    /// Calls of the iterative solver that returned values to the host (on a GPU: each a
    /// synchronisation), the final download of the vectors not counted; 0 for the dense path.
    pub host_syncs: usize,
    /// Building and uploading LOBPCG's multigrid preconditioner, seconds (included in
    /// `eigensolver_s`; 0 for Lanczos).
    pub preconditioner_setup_s: f64,
    pub basis_size: usize,
    pub block_size: usize,
    pub filter_degree: usize,
    pub backend: String,
    pub backend_details: Value,
    pub tolerance: f64,
    pub max_matvecs: usize,
    /// Wall time of the iterative eigensolver, and of the f64 refinement on the host after a
    /// low-precision backend, seconds.
    pub eigensolver_s: f64,
    pub refine_s: f64,
    /// Host time per group of backend operations during the iterative solve (spmv, dots
    /// and read-backs, combine, new vectors, other vector work), s: the preconditioner's
    /// setup and the final read-back of the vectors included; on a GPU, where the host
    /// waits or works while the device idles.
    pub host_ops: crate::backend::timing::OpTimes,
    /// The tolerance the scene asked for (`tolerance` is the one used, after the floor of
    /// the backend's precision, [`tolerance_floor`]).
    pub tolerance_requested: f64,
    /// What the solver changed or ignored of the request, in words (also on stderr).
    pub notices: Vec<String>,
    /// Why the solve failed when it met a non-finite number (then `converged` is false).
    pub failure: Option<String>,
}

impl Solution {
    /// A solve that could not be done (`reason`): no states, not converged.
    pub fn failed(opts: &SolveOptions, backend: &str, reason: String) -> Solution {
        Solution {
            energies: Vec::new(),
            vectors: Vec::new(),
            residuals: Vec::new(),
            norm_estimate: f64::NAN,
            converged: false,
            method: "none".into(),
            matvecs: 0,
            restarts: 0,
            outer_iterations: 0,
            host_syncs: 0,
            preconditioner_setup_s: 0.0,
            basis_size: 0,
            block_size: 0,
            filter_degree: 0,
            backend: backend.into(),
            backend_details: Value::Null,
            tolerance: opts.tolerance,
            max_matvecs: opts.max_matvecs,
            eigensolver_s: 0.0,
            refine_s: 0.0,
            host_ops: Default::default(),
            tolerance_requested: opts.tolerance,
            notices: Vec::new(),
            failure: Some(reason),
        }
    }
}

/// The first row of `h` holding a non-finite entry, if any.
pub fn first_non_finite_row(h: &CsrMatrix) -> Option<usize> {
    use rayon::prelude::*;
    (0..h.nrows).into_par_iter().with_min_len(4096).find_first(|&r| h.val[h.row_ptr[r]..h.row_ptr[r + 1]].iter().any(|v| !v.is_finite()))
}


/// Tolerance floor of a backend computing in `bits`-bit floats: f32 cannot resolve a
/// residual much below a few ulps of ‖H‖.
/// In f64 the residual of an eigenpair cannot be resolved much below ~100 ulps of ‖H‖
/// (and the convergence test allows 10× slack, with a floor of 1e-13·‖H‖): a smaller
/// tolerance is raised to 1e-12 with a notice, instead of being "met" by rounding.
pub fn tolerance_floor(bits: u32) -> f64 {
    if bits >= 64 {
        F64_TOLERANCE_FLOOR
    } else {
        1e-6
    }
}

/// The smallest relative eigenpair tolerance an f64 solve is run to.
pub const F64_TOLERANCE_FLOOR: f64 = 1e-12;

/// The smallest Poisson / self-consistent tolerance (V) the device solve is run to: the
/// Newton updates of φ (potentials of order 1 V, residuals in f64) do not resolve much
/// below ~1e-12 V.
pub const POISSON_TOLERANCE_FLOOR_V: f64 = 1e-12;

/// [`solve`] of a low-precision result `sol` that missed its tolerance, continued on the
/// CPU backend in f64 from its vectors to `sol.tolerance` (the accepted tolerance of the
/// low-precision run). Counts (products, iterations, time) add to `sol`'s, the time to its
/// host refinement; a notice says what happened.
fn finish_in_f64(h: &CsrMatrix, opts: &SolveOptions, sol: Solution, progress: &mut dyn FnMut(&LanczosProgress)) -> Result<Solution> {
    let t = Instant::now();
    let worst = sol.residuals.iter().copied().fold(0.0f64, f64::max) / sol.norm_estimate.max(f64::MIN_POSITIVE);
    let f64_opts = SolveOptions { tolerance: sol.tolerance, force_iterative: true, ..opts.clone() };
    let fin = solve(&CpuBackend::new(), h, &f64_opts, Some(&sol.vectors), progress)?;
    let s = t.elapsed().as_secs_f64();
    let mut notices = sol.notices;
    notices.push(format!(
        "the {} iteration stalled at a worst residual of {worst:.1e}·‖H‖, above its tolerance {:e}: finished in f64 on the cpu backend from its vectors ({} {} iterations, {s:.2} s)",
        sol.backend, sol.tolerance, fin.outer_iterations, fin.method
    ));
    let fresh: Vec<String> = fin.notices.into_iter().filter(|n| !notices.contains(n)).collect();
    notices.extend(fresh);
    Ok(Solution {
        energies: fin.energies,
        vectors: fin.vectors,
        residuals: fin.residuals,
        norm_estimate: sol.norm_estimate,
        converged: fin.converged,
        matvecs: sol.matvecs + fin.matvecs,
        restarts: sol.restarts + fin.restarts,
        outer_iterations: sol.outer_iterations + fin.outer_iterations,
        refine_s: sol.refine_s + s,
        notices,
        failure: fin.failure,
        ..sol
    })
}

/// Bytes of H·V the host refinement holds whole (the k products of a 128³ solve's ten
/// states, 168 MB); above it the products are formed [`REFINE_GROUP`] columns at a time and
/// formed again for the residuals, so the refinement holds k + 4 vectors of the grid's
/// length instead of 2k (0.8 GB less at 256³ with k = 10, for one more pass over H).
const REFINE_KEEP_BYTES: usize = 256 << 20;
/// Columns of H·V formed at once when they are not kept: the CPU spmm's group for 3D
/// operators, which reads H once per four columns anyway.
const REFINE_GROUP: usize = 4;

/// Rayleigh–Ritz with H in f64 on the host over the given vectors: the eigenpairs and true
/// residuals of a solve done in lower precision. Runs on the (parallel) CPU backend, in block
/// operations that read H and the vectors a few times each: HV by SpMM, the Gram matrix
/// G = VᵀV and A = VᵀHV by block dots, and the pencil (A, G) reduced by the Cholesky
/// factor of G (the vectors come orthonormal to f32 rounding, so G is within ~1e-6 of I).
/// Where G is not safely positive definite (vectors nearly dependent) the vectors are first
/// orthonormalised by classical Gram–Schmidt, twice ([`refine_orthonormalised`]). HV is
/// held whole up to [`REFINE_KEEP_BYTES`], else formed a group of columns at a time.
fn refine_on_host(h: &CsrMatrix, vectors: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
    let group = refine_group(vectors.len(), h.nrows);
    refine_in_groups(h, vectors, group)
}

/// [`refine_on_host`] forming H·V `group` columns at a time (all k: HV kept).
fn refine_in_groups(h: &CsrMatrix, vectors: Vec<Vec<f64>>, group: usize) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
    let cpu = CpuBackend::new();
    let k = vectors.len();
    let g = nalgebra::DMatrix::from_column_slice(k, k, &cpu.block_dot(&vectors, &vectors));
    let (a, hv) = projected(&cpu, h, &vectors, group);
    let g = (&g + g.transpose()) * 0.5;
    let a = (&a + a.transpose()) * 0.5;
    // a factor whose diagonal spreads by more than 1e4 (cond(G) > 1e8) loses too much of f64
    let chol = nalgebra::Cholesky::new(g).filter(|c| {
        let d = c.l_dirty().diagonal();
        let (lo, hi) = d.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        lo.is_finite() && lo > 1e-4 * hi
    });
    let Some(chol) = chol else { return refine_orthonormalised(&cpu, h, vectors, group) };
    // C = L⁻¹ A L⁻ᵀ, its eigenvectors W, the Ritz coefficients Y = L⁻ᵀ W (YᵀGY = I)
    let l = chol.l();
    let Some(la) = l.solve_lower_triangular(&a) else { return refine_orthonormalised(&cpu, h, vectors, group) };
    let Some(c) = l.solve_lower_triangular(&la.transpose()) else { return refine_orthonormalised(&cpu, h, vectors, group) };
    let c = (&c + c.transpose()) * 0.5;
    let Some(eig) = dense::symmetric_eigen(c) else {
        return (vec![f64::NAN; k], vectors, vec![f64::NAN; k]);
    };
    let Some(y) = l.transpose().solve_upper_triangular(&eig.eigenvectors) else { return refine_orthonormalised(&cpu, h, vectors, group) };
    ritz_pairs(&cpu, h, vectors, hv, &eig.eigenvalues, &y, group)
}

/// Columns of H·V the refinement of `k` vectors of length `n` forms at once: all of them
/// up to [`REFINE_KEEP_BYTES`], else [`REFINE_GROUP`].
fn refine_group(k: usize, n: usize) -> usize {
    if k * n * 8 <= REFINE_KEEP_BYTES {
        k.max(1)
    } else {
        REFINE_GROUP.min(k).max(1)
    }
}

/// A = VᵀHV (k × k), with HV itself where `group` covers all k columns; otherwise HV is
/// formed `group` columns at a time and dropped.
fn projected(cpu: &CpuBackend, h: &CsrMatrix, v: &[Vec<f64>], group: usize) -> (nalgebra::DMatrix<f64>, Option<Vec<Vec<f64>>>) {
    let (k, n) = (v.len(), h.nrows);
    if group >= k {
        let mut hv: Vec<Vec<f64>> = (0..k).map(|_| cpu.alloc(n)).collect();
        cpu.spmm(h, v, &mut hv);
        let a = nalgebra::DMatrix::from_column_slice(k, k, &cpu.block_dot(v, &hv));
        return (a, Some(hv));
    }
    let mut a = nalgebra::DMatrix::zeros(k, k);
    let mut hv: Vec<Vec<f64>> = (0..group).map(|_| cpu.alloc(n)).collect();
    for j0 in (0..k).step_by(group) {
        let cols = &v[j0..(j0 + group).min(k)];
        let hv = &mut hv[..cols.len()];
        cpu.spmm(h, cols, hv);
        let blk = cpu.block_dot(v, hv);
        for (c, col) in blk.chunks(k).enumerate() {
            a.column_mut(j0 + c).copy_from_slice(col);
        }
    }
    (a, None)
}

/// The Ritz pairs X = V·Y (columns ordered by value), HX = HV·Y and their residual norms,
/// X formed over V and HX over HV in place ([`CpuBackend::combine_in_place`]): the refinement holds 2k
/// vectors of the grid's length, not 3k (1.3 GB less at 256³ with k = 10). Without HV
/// (`hv` None, see [`projected`]) HX is formed `group` columns at a time from X.
fn ritz_pairs(
    cpu: &CpuBackend,
    h: &CsrMatrix,
    mut v: Vec<Vec<f64>>,
    hv: Option<Vec<Vec<f64>>>,
    values: &nalgebra::DVector<f64>,
    y: &nalgebra::DMatrix<f64>,
    group: usize,
) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
    let k = v.len();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let sorted: Vec<f64> = order.iter().map(|&c| values[c]).collect();
    let yd: Vec<f64> = order.iter().flat_map(|&c| (0..k).map(move |i| y[(i, c)])).collect();
    let coeffs = crate::linalg::backend::Coeffs { rows: k, cols: k, data: &yd };
    cpu.combine_in_place(&mut v, &coeffs);
    let minus: Vec<f64> = sorted.iter().map(|l| -l).collect();
    let res = match hv {
        Some(mut hv) => {
            cpu.combine_in_place(&mut hv, &coeffs);
            cpu.block_axpy(&minus, &v, &mut hv);
            hv.iter().map(|r| cpu.norm2(r)).collect()
        }
        None => {
            let mut res = Vec::with_capacity(k);
            let mut hx: Vec<Vec<f64>> = (0..group.min(k)).map(|_| cpu.alloc(h.nrows)).collect();
            for j0 in (0..k).step_by(group.max(1)) {
                let cols = &v[j0..(j0 + group).min(k)];
                let hx = &mut hx[..cols.len()];
                cpu.spmm(h, cols, hx);
                cpu.block_axpy(&minus[j0..j0 + cols.len()], cols, hx);
                res.extend(hx.iter().map(|r| cpu.norm2(r)));
            }
            res
        }
    };
    (sorted, v, res)
}

/// [`refine_on_host`] for nearly dependent vectors: orthonormalised first in f64 (classical
/// Gram–Schmidt, twice), then Rayleigh–Ritz over the orthonormal basis.
fn refine_orthonormalised(cpu: &CpuBackend, h: &CsrMatrix, vectors: Vec<Vec<f64>>, group: usize) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
    let k = vectors.len();
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(k);
    for mut w in vectors {
        for _ in 0..2 {
            let c: Vec<f64> = cpu.multi_dot(&q, &w).iter().map(|v| -v).collect();
            cpu.multi_axpy(&q, &c, &mut w);
        }
        let nrm = cpu.norm2(&w);
        if nrm > 0.0 {
            cpu.scale(1.0 / nrm, &mut w);
        }
        q.push(w);
    }
    let (g, hq) = projected(cpu, h, &q, group);
    let g = (&g + g.transpose()) * 0.5;
    let Some(eig) = dense::symmetric_eigen(g) else {
        // non-finite vectors or products: NaN energies and residuals, flagged by the caller
        return (vec![f64::NAN; k], q, vec![f64::NAN; k]);
    };
    ritz_pairs(cpu, h, q, hq, &eig.eigenvalues, &eig.eigenvectors, group)
}

/// What both iterative solvers are given.
struct Iterative<'a, M> {
    /// The Hamiltonian on the host, and uploaded.
    h: &'a CsrMatrix,
    a: &'a M,
    nev: usize,
    /// The tolerance the solver iterates to (relative to ‖H‖).
    tol: f64,
    opts: &'a SolveOptions,
}

impl<M> Iterative<'_, M> {
    /// Chebyshev-filtered block Lanczos.
    fn lanczos<B: Backend<Matrix = M>>(&self, be: &B, start: &[B::Vector], progress: &mut dyn FnMut(&LanczosProgress)) -> EigenPairs<B::Vector> {
        let lo = LanczosOptions {
            nev: self.nev,
            tol: self.tol,
            max_matvecs: self.opts.max_matvecs,
            block_size: self.opts.block_size,
            basis_size: 0,
            seed: 7,
            norm_bound: Some(self.h.norm_inf()),
            filter_degree: self.opts.filter_degree,
        };
        lowest_eigenpairs_from(be, self.a, &lo, start, progress)
    }

    /// LOBPCG preconditioned by a multigrid V-cycle of H − σ (σ below the spectrum, so the
    /// shifted operator is SPD) on the cells of `dims`, built on the host and uploaded to
    /// `be`. Returns the pairs and the preconditioner's setup time, or why the
    /// preconditioner could not be built.
    fn lobpcg<B: Backend<Matrix = M>>(
        &self,
        be: &B,
        dims: [usize; 3],
        stencil: Option<crate::linalg::stencil::StencilMatrix>,
        start: &[B::Vector],
        progress: &mut dyn FnMut(&LanczosProgress),
    ) -> std::result::Result<(EigenPairs<B::Vector>, f64), String> {
        if dims.iter().product::<usize>() != self.h.nrows {
            return Err(format!("the grid {dims:?} does not match the {} unknowns of the operator", self.h.nrows));
        }
        let t = Instant::now();
        let mg = lobpcg::shifted_multigrid_with(be, dims, self.h, stencil)
            .map_err(|e| format!("its multigrid preconditioner could not be built ({e})"))?;
        let setup = t.elapsed().as_secs_f64();
        let lo = LobpcgOptions {
            nev: self.nev,
            tol: self.tol,
            // (the product cap binds first: every iteration applies H at least once)
            max_iterations: self.opts.max_matvecs,
            max_matvecs: self.opts.max_matvecs,
            // nev plus guard vectors, enough for a level as degenerate as the Lanczos block
            // allows (`solve.block_size`: the grid's largest exact degeneracy by default)
            block_size: lobpcg::block_size(self.nev, self.opts.block_size, self.h.nrows),
            seed: 7,
            norm_bound: self.h.norm_inf(),
        };
        Ok((lobpcg(be, self.a, &mg, &lo, start, progress), setup))
    }
}

/// Solve for the lowest states of `h` on backend `be` (the algorithms do not know which
/// one). `warm`: host vectors of length `h.nrows` to start the iterative eigensolver from
/// (e.g. the previous point of a sweep; others are ignored): the same eigenpairs to the
/// tolerance, in fewer products when the guess is good. The dense path ignores it.
/// `progress` sees the iterations (Lanczos restarts, LOBPCG iterations).
pub fn solve<B: Backend>(
    be: &B,
    h: &CsrMatrix,
    opts: &SolveOptions,
    warm: Option<&[Vec<f64>]>,
    progress: &mut dyn FnMut(&LanczosProgress),
) -> Result<Solution> {
    let n = h.nrows;
    let k = opts.states.min(n);
    if k == 0 {
        return Err(QdError::input("solve.states", "must be at least 1"));
    }
    if let Some(row) = first_non_finite_row(h) {
        // (an operator built from the input is checked before, as an input error: here a
        // potential computed by the self-consistent loop has gone non-finite)
        return Ok(Solution::failed(opts, &be.name(), format!("the Hamiltonian has a non-finite entry in row {row}: the potential or the masses are not finite there")));
    }
    let mut sol = if n <= DENSE_LIMIT && !opts.force_iterative {
        let (values, vectors) = dense::lowest_eigenpairs(h, k);
        let norm = h.norm_inf();
        let residuals = values
            .iter()
            .zip(&vectors)
            .map(|(l, v)| {
                let hv = h.mul_vec(v);
                hv.iter().zip(v).map(|(a, b)| (a - l * b).powi(2)).sum::<f64>().sqrt()
            })
            .collect();
        Solution {
            energies: values,
            vectors,
            residuals,
            norm_estimate: norm,
            converged: true,
            method: "dense".into(),
            matvecs: 0,
            restarts: 0,
            outer_iterations: 0,
            host_syncs: 0,
            preconditioner_setup_s: 0.0,
            basis_size: n,
            block_size: 0,
            filter_degree: 0,
            backend: "cpu".into(),
            backend_details: json!({"library": "nalgebra SymmetricEigen"}),
            tolerance: opts.tolerance,
            max_matvecs: opts.max_matvecs,
            eigensolver_s: 0.0,
            refine_s: 0.0,
            host_ops: Default::default(),
            tolerance_requested: opts.tolerance,
            notices: vec![format!(
                "{n} unknowns (at most {DENSE_LIMIT}): solved by dense diagonalisation on the CPU, exact to rounding; solve.tolerance and solve.max_iterations do not apply"
            )],
            failure: None,
        }
    } else {
        // every call is counted: `host_syncs` is the wrapper's count of read-backs
        let tb = TimingBackend::new(be);
        let be = &tb;
        let solver = opts.eigensolver.for_schrodinger();
        // LOBPCG's preconditioner and a stencil-layout upload both start from H's stencil
        // form: found once here (at 128³ each detection was ~13 ms of the H200 host's time)
        let stencil = match (solver, opts.dims) {
            (Eigensolver::Lobpcg, Some(_)) => crate::linalg::stencil::StencilMatrix::of(h),
            _ => None,
        };
        let a = be.upload_matrix_with_stencil(h, stencil.as_ref());
        // the accepted tolerance; a low-precision backend iterates below it, so that the f64
        // check on the host passes
        let floor = tolerance_floor(be.precision_bits());
        let tol = opts.tolerance.max(floor);
        let mut notices = Vec::new();
        if opts.tolerance < floor {
            notices.push(format!(
                "solve.tolerance = {:e} is below what {}-bit arithmetic on the {} backend can resolve: solved to {floor:e} (‖Hψ − Eψ‖ ≤ {floor:e}·‖H‖)",
                opts.tolerance,
                be.precision_bits(),
                be.name()
            ));
        }
        // (LOBPCG's residuals are explicit products, whose f32 rounding floor is ~2e-7·‖H‖:
        // it iterates to half the tolerance, Lanczos's projected residuals to a quarter)
        let inner_tol = match (be.precision_bits() < 64, solver) {
            (false, _) => tol,
            (true, Eigensolver::Lobpcg) => tol / 2.0,
            (true, _) => tol / 4.0,
        };
        let t = Instant::now();
        let start: Vec<B::Vector> = warm.unwrap_or(&[]).iter().filter(|v| v.len() == n).map(|v| be.from_host(v)).collect();
        let it = Iterative { h, a: &a, nev: k, tol: inner_tol, opts };
        let (r, method, preconditioner_setup_s) = match (solver, opts.dims) {
            (Eigensolver::Lobpcg, Some(dims)) => match it.lobpcg(be, dims, stencil, &start, progress) {
                Ok((r, setup)) => (r, "lobpcg", setup),
                Err(why) => {
                    notices.push(format!("solve.eigensolver = \"lobpcg\": {why}; solved with \"lanczos\" instead"));
                    (it.lanczos(be, &start, progress), "lanczos", 0.0)
                }
            },
            (Eigensolver::Lobpcg, None) => {
                notices.push("solve.eigensolver = \"lobpcg\" needs the grid of the operator (its multigrid preconditioner coarsens it); solved with \"lanczos\" instead".into());
                (it.lanczos(be, &start, progress), "lanczos", 0.0)
            }
            (_, _) => (it.lanczos(be, &start, progress), "lanczos", 0.0),
        };
        let eigensolver_s = t.elapsed().as_secs_f64();
        let host_syncs = tb.times().host_reads;
        let vectors: Vec<Vec<f64>> = be.to_host_many(&r.vectors);
        let mut refine_s = 0.0;
        let (energies, vectors, residuals, converged) = if be.precision_bits() < 64 {
            // eigenvalues and residuals in f64 from the low-precision vectors
            let t = Instant::now();
            let (e, v, res) = refine_on_host(h, vectors);
            refine_s = t.elapsed().as_secs_f64();
            let ok = r.values.len() == k && res.iter().all(|&x| x <= tol * r.norm_estimate);
            (e, v, res, ok)
        } else {
            (r.values, vectors, r.residuals, r.converged)
        };
        Solution {
            energies,
            vectors,
            residuals,
            norm_estimate: r.norm_estimate,
            converged,
            method: method.into(),
            matvecs: r.matvecs,
            restarts: r.restarts,
            outer_iterations: r.outer_iterations,
            host_syncs,
            preconditioner_setup_s,
            basis_size: r.basis_size,
            block_size: r.block_size,
            filter_degree: r.filter_degree,
            backend: be.name(),
            backend_details: be.details(),
            tolerance: tol,
            max_matvecs: opts.max_matvecs,
            eigensolver_s,
            refine_s,
            host_ops: tb.times(),
            tolerance_requested: opts.tolerance,
            notices,
            failure: None,
        }
    };
    if sol.energies.len() < k {
        sol.converged = false;
    }
    // A low-precision iteration that stalled above its tolerance (the f32 rounding floor
    // lies near 1e-6·‖H‖ on scenes of wide potential range, the strained dots) is finished
    // in f64 on the CPU from its vectors, to the same tolerance: the GPU did the bulk of
    // the work and the result is what was promised (one process; ranks would each repeat it)
    if !sol.converged && be.precision_bits() < 64 && sol.method != "dense" && sol.energies.len() == k && sol.failure.is_none() && !crate::parallel::distributed() {
        sol = finish_in_f64(h, opts, sol, progress)?;
    }
    // no non-finite number is ever converged
    let bad_state = (0..sol.energies.len()).find(|&i| {
        !sol.energies[i].is_finite()
            || !sol.residuals.get(i).is_some_and(|r| r.is_finite())
            || sol.vectors.get(i).is_none_or(|v| v.iter().any(|x| !x.is_finite()))
    });
    if let Some(i) = bad_state {
        sol.converged = false;
        sol.failure = Some(format!(
            "state {i} came out non-finite (energy {} eV, residual {} eV; ‖H‖ ≈ {:.3e} eV): the arithmetic overflowed, check the masses and potentials",
            sol.energies[i],
            sol.residuals.get(i).copied().unwrap_or(f64::NAN),
            h.norm_inf()
        ));
    }
    {
        use rayon::prelude::*;
        sol.vectors.par_iter_mut().for_each(|v| {
            let nrm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let big = v.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            let s = if big < 0.0 { -1.0 } else { 1.0 } / if nrm > 0.0 { nrm } else { 1.0 };
            v.iter_mut().for_each(|x| *x *= s);
        });
    }
    Ok(sol)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 1D Laplacian with unit spacing on `n` cells (Dirichlet): eigenvalues
    /// 2 − 2cos(jπ/(n+1)), eigenvectors sin(ijπ/(n+1)).
    fn laplacian(n: usize) -> CsrMatrix {
        let mut t = Vec::new();
        for i in 0..n {
            t.push((i, i, 2.0));
            if i + 1 < n {
                t.push((i, i + 1, -1.0));
                t.push((i + 1, i, -1.0));
            }
        }
        CsrMatrix::from_triplets(n, n, &t)
    }

    fn mode(n: usize, j: usize) -> Vec<f64> {
        (0..n).map(|i| ((i + 1) as f64 * j as f64 * std::f64::consts::PI / (n + 1) as f64).sin()).collect()
    }

    #[test]
    fn refinement_recovers_exact_pairs_from_perturbed_vectors() {
        let n = 300;
        let h = laplacian(n);
        let exact: Vec<f64> = (1..=4).map(|j| 2.0 - 2.0 * (j as f64 * std::f64::consts::PI / (n + 1) as f64).cos()).collect();
        // f32-rounded exact modes, mixed slightly (as a low-precision solve returns them)
        let modes: Vec<Vec<f64>> = (1..=4).map(|j| mode(n, j)).collect();
        let v: Vec<Vec<f64>> = (0..4)
            .map(|a| (0..n).map(|i| (modes[a][i] + 1e-4 * modes[(a + 1) % 4][i]) as f32 as f64).collect())
            .collect();
        let (values, x, res) = refine_on_host(&h, v);
        for (e, l) in exact.iter().zip(&values) {
            // the Ritz values of a subspace within ~1e-7 of the exact one
            assert!((e - l).abs() < 1e-10, "{values:?} against {exact:?}");
        }
        assert!(res.iter().all(|&r| r < 1e-5), "{res:?}");
        for a in 0..4 {
            for b in 0..4 {
                let d: f64 = x[a].iter().zip(&x[b]).map(|(p, q)| p * q).sum();
                assert!((d - if a == b { 1.0 } else { 0.0 }).abs() < 1e-12, "XᵀX[{a},{b}] = {d}");
            }
        }
    }

    /// A low-precision result that stalled above its tolerance is finished in f64 from its
    /// vectors: converged to that tolerance, the counts added, a notice saying so.
    #[test]
    fn a_stalled_low_precision_result_is_finished_in_f64() {
        let n = 600;
        let h = laplacian(n);
        let exact: Vec<f64> = (1..=3).map(|j| 2.0 - 2.0 * (j as f64 * std::f64::consts::PI / (n + 1) as f64).cos()).collect();
        let modes: Vec<Vec<f64>> = (1..=3).map(|j| mode(n, j)).collect();
        let vectors: Vec<Vec<f64>> = (0..3).map(|a| (0..n).map(|i| (modes[a][i] + 1e-3 * modes[(a + 1) % 3][i] + 1e-4 * ((i * (a + 3)) % 7) as f64) as f32 as f64).collect()).collect();
        let (energies, vectors, residuals) = refine_on_host(&h, vectors);
        let opts = SolveOptions { states: 3, tolerance: 1e-9, dims: Some([n, 1, 1]), force_iterative: true, max_matvecs: 20_000, block_size: 3, filter_degree: 0, eigensolver: crate::scene::Eigensolver::Lobpcg };
        let stalled = Solution {
            energies,
            vectors,
            residuals,
            norm_estimate: 4.0,
            converged: false,
            method: "lobpcg".into(),
            matvecs: 100,
            outer_iterations: 30,
            backend: "gpu".into(),
            failure: None,
            ..Solution::failed(&opts, "gpu", String::new())
        };
        assert!(stalled.residuals.iter().any(|&r| r > 1e-9 * 4.0));
        let fin = finish_in_f64(&h, &opts, stalled, &mut |_| {}).unwrap();
        assert!(fin.converged, "{:?}", fin.residuals);
        assert!(fin.residuals.iter().all(|&r| r <= 1e-9 * 4.0), "{:?}", fin.residuals);
        for (e, l) in exact.iter().zip(&fin.energies) {
            assert!((e - l).abs() < 1e-12, "{:?} against {exact:?}", fin.energies);
        }
        assert!(fin.outer_iterations > 30 && fin.matvecs > 100 && fin.backend == "gpu");
        assert!(fin.notices.iter().any(|n| n.contains("finished in f64 on the cpu backend")), "{:?}", fin.notices);
    }

    /// H·V formed a few columns at a time (the grids whose HV is not kept whole): the same
    /// pairs as with HV kept, for groups that divide k and that do not, through both the
    /// Cholesky and the Gram–Schmidt paths.
    #[test]
    fn refinement_in_groups_gives_the_pairs_of_the_whole_block() {
        let n = 300;
        let h = laplacian(n);
        let modes: Vec<Vec<f64>> = (1..=5).map(|j| mode(n, j)).collect();
        let v: Vec<Vec<f64>> = (0..5).map(|a| (0..n).map(|i| (modes[a][i] + 1e-4 * modes[(a + 2) % 5][i]) as f32 as f64).collect()).collect();
        let mut dependent = v.clone();
        dependent[1] = v[0].iter().zip(&v[1]).map(|(a, b)| a + 1e-7 * b).collect();
        for start in [v, dependent] {
            let (e0, x0, r0) = refine_in_groups(&h, start.clone(), 5);
            for group in [1, 2, 3] {
                let (e, x, r) = refine_in_groups(&h, start.clone(), group);
                assert_eq!(e, e0, "group {group}");
                assert_eq!(x, x0, "group {group}");
                for (a, b) in r.iter().zip(&r0) {
                    assert!((a - b).abs() <= 1e-13 + 1e-9 * b, "group {group}: {r:?} against {r0:?}");
                }
            }
        }
        assert_eq!(refine_group(10, 1000), 10);
        assert_eq!(refine_group(10, 256 * 256 * 256), REFINE_GROUP);
    }

    #[test]
    fn refinement_of_nearly_dependent_vectors_goes_through_gram_schmidt() {
        let n = 200;
        let h = laplacian(n);
        let m1 = mode(n, 1);
        let m2 = mode(n, 2);
        // the second vector is the first to 1e-7: G has a condition number ~1e14
        let v = vec![m1.clone(), m1.iter().zip(&m2).map(|(a, b)| a + 1e-7 * b).collect(), m2];
        let (values, x, res) = refine_on_host(&h, v);
        assert!(values.iter().chain(&res).all(|v| v.is_finite()), "{values:?} {res:?}");
        let e1 = 2.0 - 2.0 * (std::f64::consts::PI / (n + 1) as f64).cos();
        assert!((values[0] - e1).abs() < 1e-12, "{values:?}");
        let d: f64 = x[0].iter().zip(&x[1]).map(|(p, q)| p * q).sum();
        assert!(d.abs() < 1e-8, "{d}");
    }
}
