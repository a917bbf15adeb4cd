//! Continuum elasticity of cubic crystals on the rectilinear grid, and the strain shifts
//! of the band edges (deformation potentials, Bir–Pikus in the single-band projections).
//!
//! **Units at this boundary:** lengths nm, elastic constants GPa, displacements nm,
//! strains dimensionless, deformation potentials and energies eV.
//!
//! **Model.** Linear elasticity, σ = C : (ε(u) − ε*), ∇·σ = 0, with the cubic stiffness
//! (C11, C12, C44) of each cell (volume-averaged over the fills of a cut cell) and the
//! lattice mismatch as a dilatational eigenstrain ε* = (a − a_ref)/a δ_ij, a the cell's
//! lattice constant and a_ref that of the reference (substrate or background); the crystal
//! axes are the grid axes ([100], [010], [001]). The strain that enters the band shifts is
//! the elastic strain ε(u) − ε*, the strain of the local lattice relative to its own
//! unstrained state: a layer grown pseudomorphically on the reference has ε_∥ =
//! (a_ref − a)/a in plane.
//!
//! **Discretisation** ([`fem`]): displacements at the nodes, trilinear (Q1) elements with
//! full 2×2×2 Gauss integration. Its element stiffness has exactly the six rigid motions as
//! null space (a unit test checks it), so there are no spurious zero-energy
//! (checkerboard/hourglass) modes, which a collocated finite-difference scheme with
//! central first differences has. The operator is symmetric positive definite once the
//! boundary conditions remove the rigid motions.
//!
//! **Boundary conditions** per face: `Free` (traction-free, the natural condition),
//! `Clamped` (u = 0 on the face), `Periodic` (both faces of an axis). Without a clamped
//! face the rigid translations (and the rotations the periodic axes allow) are removed by a
//! statically determinate support at three corner nodes, which carries no force because
//! an eigenstrain's load is self-equilibrated: the strain is that of a free body.
//!
//! **Solver:** PCG over [`Backend`] preconditioned by a V-cycle of the node-blocked
//! geometric hierarchy of [`mg`] (trilinear prolongation of the three components,
//! re-discretised coarse operators) run by `linalg::multigrid::Multigrid`.
//!
//! **Band shifts** ([`band_shift`]): δEc = a_c Tr ε; for the holes the diagonal entries of
//! the Bir–Pikus strain Hamiltonian in the basis quantised along the growth axis n:
//! δE_hh = −a_v Tr ε − b ε_B, δE_lh = −a_v Tr ε + b ε_B, with the biaxial part
//! ε_B = ε_nn − (Tr ε − ε_nn)/2 and VMR's signs (a_v < 0, b < 0). That is −P_ε ∓ Q_ε of
//! Chuang with P_ε = a_v Tr ε (VMR sign) and Q_ε = −(b/2)(ε_xx + ε_yy − 2 ε_zz) for n = z:
//! compressive in-plane strain raises the heavy hole above the light hole. Neglected:
//! the shear terms R_ε, S_ε (d and the off-diagonal strain), the strain-induced coupling of
//! the light hole to the split-off band, and the strain dependence of the masses.

pub mod fem;
pub mod mg;
pub mod piezo;

use std::time::Instant;

use rayon::prelude::*;

use crate::error::{QdError, Result};
use crate::grid::Grid;
use crate::linalg::cg::{pcg, CgOptions, CgResult};
use crate::linalg::multigrid::{Multigrid, MultigridOptions};
use crate::linalg::{Backend, CsrMatrix};
use crate::materials::Carrier;

pub use fem::Mesh;

/// Condition on one outer face.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceBc {
    Free,
    Clamped,
    Periodic,
}

impl FaceBc {
    pub fn as_str(self) -> &'static str {
        match self {
            FaceBc::Free => "free",
            FaceBc::Clamped => "clamped",
            FaceBc::Periodic => "periodic",
        }
    }
}

/// An elasticity problem on the cells of a grid.
#[derive(Clone, Debug)]
pub struct ElasticProblem {
    pub grid: Grid,
    /// (C11, C12, C44) per cell, GPa.
    pub c: Vec<[f64; 3]>,
    /// Dilatational eigenstrain ε* per cell (volume average over the fills).
    pub eigenstrain: Vec<f64>,
    /// Its isotropic stress (C11 + 2 C12)·ε* per cell, GPa (volume average of each fill's,
    /// which is the exact load of a cut cell).
    pub eigenstress: Vec<f64>,
    /// Faces x−, x+, y−, y+, z−, z+ (those of absent axes are ignored: an absent axis is
    /// one periodic cell, so its total strain is zero).
    pub faces: [FaceBc; 6],
}

/// Settings of the solve.
#[derive(Clone, Debug)]
pub struct StrainSolveOptions {
    pub cg: CgOptions,
    pub multigrid: MultigridOptions,
    /// Stop coarsening at this many unknowns (the coarsest level is inverted densely).
    pub max_coarse: usize,
}

impl Default for StrainSolveOptions {
    fn default() -> Self {
        StrainSolveOptions {
            cg: CgOptions { tol: 1e-8, max_iterations: 500 },
            multigrid: MultigridOptions { smoother_degree: 3, smoothing_ratio: 8.0, ..Default::default() },
            max_coarse: 600,
        }
    }
}

/// The solution: nodal displacements and per-cell strains.
#[derive(Clone, Debug)]
pub struct StrainSolution {
    /// Displacement per node, 3 components, nm (node-blocked, see [`fem`]).
    pub displacement: Vec<f64>,
    /// Total strain sym(∇u) per cell (xx, yy, zz, yz, xz, xy).
    pub total: Vec<[f64; 6]>,
    /// Elastic strain ε(u) − ε* per cell: the strain of the local lattice.
    pub elastic: Vec<[f64; 6]>,
    pub cg: CgResult,
    /// Nodes per axis of every multigrid level, finest first.
    pub levels: Vec<[usize; 3]>,
    pub unknowns: usize,
    pub nonzeros: usize,
    pub setup_s: f64,
    pub solve_s: f64,
    /// The parts of `setup_s`: the fine assembly, the coarse levels and transfers, and the
    /// hierarchy's upload to the backend (with the smoother's bounds and the coarsest
    /// inverse).
    pub assembly_s: f64,
    pub hierarchy_s: f64,
    pub upload_s: f64,
    /// The part of `solve_s` spent on the host by [`pcg_refined`] (f64 residuals, the
    /// corrections' transfers); 0 for a solve in the backend's own precision.
    pub refinement_host_s: f64,
}

impl ElasticProblem {
    /// The fine mesh, after checking the problem's arrays and faces (internal errors: the
    /// pipeline builds them from a validated scene).
    pub fn mesh(&self) -> Result<Mesh> {
        let g = &self.grid;
        let n = g.len();
        if self.c.len() != n || self.eigenstrain.len() != n || self.eigenstress.len() != n {
            return Err(QdError::Internal("strain: per-cell arrays of the wrong length".into()));
        }
        if let Some(i) = self.c.iter().position(|c| !(c[0] > c[1].abs() && c[0] + 2.0 * c[1] > 0.0 && c[2] > 0.0)) {
            return Err(QdError::Internal(format!("strain: cell {i} has unstable elastic constants {:?} GPa", self.c[i])));
        }
        let mut periodic = [true; 3];
        for a in 0..g.dim {
            let (lo, hi) = (self.faces[2 * a], self.faces[2 * a + 1]);
            if (lo == FaceBc::Periodic) != (hi == FaceBc::Periodic) {
                return Err(QdError::Internal(format!("strain: axis {a} is periodic on one face only")));
            }
            periodic[a] = lo == FaceBc::Periodic;
        }
        // (the grid's cell boundaries: origin + i·h on a uniform axis, the nodes of a graded one)
        let x = std::array::from_fn(|a| g.axis_nodes(a));
        Ok(Mesh { ncell: g.n, periodic, x, c: self.c.clone() })
    }

    fn clamped(&self) -> [bool; 6] {
        std::array::from_fn(|f| f / 2 < self.grid.dim && self.faces[f] == FaceBc::Clamped)
    }

    /// Assemble, build the hierarchy on `be` and solve by PCG from u = 0. Non-convergence is
    /// not an error: `cg.converged` says so. On a backend of less than 64-bit precision (the
    /// GPU's f32) the solve is [`pcg_refined`]: f32 PCG inside f64 iterative refinement, so
    /// the tolerance means the same on every backend.
    pub fn solve<B: Backend>(&self, be: &B, opts: &StrainSolveOptions) -> Result<StrainSolution> {
        let t0 = Instant::now();
        let mesh = self.mesh()?;
        let clamped = self.clamped();
        let fixed = fem::constraints(&mesh, clamped);
        let (a, b) = fem::assemble(&mesh, &fixed, Some(&self.eigenstress));
        let assembly_s = t0.elapsed().as_secs_f64();
        let (unknowns, nonzeros) = (a.nrows, a.nnz());
        let mut host = mg::hierarchy(&mesh, clamped, a, opts.max_coarse, opts.multigrid.max_levels);
        let levels: Vec<[usize; 3]> = host.iter().map(|l| l.n).collect();
        let hierarchy_s = t0.elapsed().as_secs_f64() - assembly_s;
        // the hierarchy keeps the fine operator as its level 0, and PCG runs on that upload;
        // below f64 the host keeps the fine operator too, for the refinement's residuals
        let (pre, fine) = if be.precision_bits() >= 64 {
            (Multigrid::from_hierarchy_owned(be, host, &opts.multigrid)?, None)
        } else {
            let pre = Multigrid::from_hierarchy(be, &host, &opts.multigrid)?;
            (pre, Some(host.swap_remove(0).a))
        };
        let setup_s = t0.elapsed().as_secs_f64();
        let upload_s = setup_s - assembly_s - hierarchy_s;
        let t1 = Instant::now();
        let (displacement, cg, refinement_host_s) = match &fine {
            None => {
                let bv = be.from_host(&b);
                let mut x = be.alloc(b.len());
                be.fill(&mut x, 0.0);
                let cg = pcg(be, pre.fine_matrix(), &bv, &mut x, &pre, &opts.cg);
                (be.to_host(&x), cg, 0.0)
            }
            Some(a) => pcg_refined(be, a, &b, &pre, &opts.cg),
        };
        drop(fine);
        let solve_s = t1.elapsed().as_secs_f64();
        let total = fem::cell_strain(&mesh, &displacement);
        let elastic = total
            .iter()
            .zip(&self.eigenstrain)
            .map(|(e, &s)| [e[0] - s, e[1] - s, e[2] - s, e[3], e[4], e[5]])
            .collect();
        Ok(StrainSolution { displacement, total, elastic, cg, levels, unknowns, nonzeros, setup_s, solve_s, assembly_s, hierarchy_s, upload_s, refinement_host_s })
    }
}

/// The relative residual an inner solve of [`pcg_refined`] is asked for: what f32 PCG
/// reaches reliably (its own rounding stalls the recurrence near 1e-6).
const INNER_TOL: f64 = 1e-5;
/// Refinement steps before giving up (each gains about five digits).
const MAX_REFINEMENTS: usize = 8;

/// A x = b to `cg.tol` in f64 with the Krylov work on a backend of lower precision: mixed
/// precision iterative refinement (Wilkinson; Carson & Higham, SIAM J. Sci. Comput. 40,
/// A817 (2018)). The residual r = b − A x is formed on the host in f64 from `a` (the
/// fine operator the device holds as `pre.fine_matrix()`), the correction A d = r is
/// solved by `be`'s PCG to [`INNER_TOL`], and x += d, until ‖r‖ ≤ tol ‖b‖. The result's
/// iterations are the inner iterations summed, its residual the last host residual; the
/// third value is the time spent on the host (residuals, scaling, transfers), s.
pub fn pcg_refined<B: Backend>(be: &B, a: &CsrMatrix, b: &[f64], pre: &Multigrid<B>, cg: &CgOptions) -> (Vec<f64>, CgResult, f64) {
    let n = b.len();
    let norm = |v: &[f64]| v.par_iter().map(|x| x * x).sum::<f64>().sqrt();
    let bnorm = norm(b);
    let mut x = vec![0.0; n];
    if bnorm == 0.0 {
        return (x, CgResult { iterations: 0, relative_residual: 0.0, converged: true }, 0.0);
    }
    let mut host_s = 0.0;
    let mut r = b.to_vec();
    let mut rel = 1.0;
    let mut iterations = 0;
    let mut broke_down = false;
    let mut d = be.alloc(n);
    for _ in 0..MAX_REFINEMENTS {
        if rel <= cg.tol || iterations >= cg.max_iterations {
            break;
        }
        // the correction, scaled so the device sees a residual of unit norm
        let th = Instant::now();
        let rn = rel * bnorm;
        let scaled: Vec<f64> = r.par_iter().map(|v| v / rn).collect();
        let rv = be.from_host(&scaled);
        be.fill(&mut d, 0.0);
        host_s += th.elapsed().as_secs_f64();
        let inner_tol = (cg.tol / rel).max(INNER_TOL).min(0.5);
        let inner = pcg(be, pre.fine_matrix(), &rv, &mut d, pre, &CgOptions { tol: inner_tol, max_iterations: cg.max_iterations - iterations });
        iterations += inner.iterations;
        let th = Instant::now();
        let dh = be.to_host(&d);
        if dh.iter().any(|v| !v.is_finite()) {
            broke_down = true;
            break;
        }
        x.par_iter_mut().zip(&dh).for_each(|(xi, di)| *xi += rn * di);
        // r = b − A x in f64, rows in parallel
        r.par_iter_mut().enumerate().for_each(|(i, ri)| {
            let ax: f64 = (a.row_ptr[i]..a.row_ptr[i + 1]).map(|p| a.val[p] * x[a.col[p] as usize]).sum();
            *ri = b[i] - ax;
        });
        let new_rel = norm(&r) / bnorm;
        host_s += th.elapsed().as_secs_f64();
        // a step that gains nothing will not be followed by one that does
        let stalled = new_rel >= 0.5 * rel;
        rel = new_rel;
        if stalled || !inner.converged && inner.iterations == 0 {
            break;
        }
    }
    (x, CgResult { iterations, relative_residual: rel, converged: !broke_down && rel <= cg.tol * 1.01 + f64::EPSILON }, host_s)
}

/// Tr ε.
pub fn trace(e: &[f64; 6]) -> f64 {
    e[0] + e[1] + e[2]
}

/// The biaxial part relative to growth axis `n` (0, 1, 2): ε_nn − (Tr ε − ε_nn)/2.
pub fn biaxial(e: &[f64; 6], n: usize) -> f64 {
    e[n] - 0.5 * (trace(e) - e[n])
}

/// The shift of the band edge `carrier` sees, eV, in the solver's carrier-energy
/// convention (electrons Ec, holes −Ev; see [`crate::materials::Material::band_edge`]),
/// for elastic strain `e`, deformation potentials a_c, a_v, b (eV, VMR signs) and growth
/// axis `n`. Formulas in the module header.
pub fn band_shift(carrier: Carrier, e: &[f64; 6], a_c: f64, a_v: f64, b: f64, n: usize) -> f64 {
    let tr = trace(e);
    let eb = biaxial(e, n);
    match carrier {
        Carrier::Electron => a_c * tr,
        // carrier energy −Ev: minus the valence-band shift
        Carrier::HeavyHole => -(-a_v * tr - b * eb),
        Carrier::LightHole => -(-a_v * tr + b * eb),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;

    #[test]
    fn band_shifts_of_compressed_ingaas_by_hand() {
        // In0.2Ga0.8As on GaAs (VMR numbers, linear C and a_v, b; a_c with its bowing)
        let (a_s, a_w) = (5.65325, 0.2 * 6.0583 + 0.8 * 5.65325);
        let (c11, c12) = (0.2 * 83.29 + 0.8 * 122.1, 0.2 * 45.26 + 0.8 * 56.6);
        let epar = (a_s - a_w) / a_w;
        let ezz = -2.0 * c12 / c11 * epar;
        let e = [epar, epar, ezz, 0.0, 0.0, 0.0];
        let a_c = 0.2 * -5.08 + 0.8 * -7.17 - 0.2 * 0.8 * 2.61;
        let a_v = 0.2 * -1.0 + 0.8 * -1.16;
        let b = 0.2 * -1.8 + 0.8 * -2.0;
        let tr = 2.0 * epar + ezz;
        // by hand: δEc = a_c Tr ε; δE_hh = −a_v Tr ε − b (ε_zz − ε_∥); holes see −δE
        assert!((band_shift(Carrier::Electron, &e, a_c, a_v, b, 2) - a_c * tr).abs() < 1e-15);
        let dhh = -a_v * tr - b * (ezz - epar);
        let dlh = -a_v * tr + b * (ezz - epar);
        assert!((band_shift(Carrier::HeavyHole, &e, a_c, a_v, b, 2) + dhh).abs() < 1e-15);
        assert!((band_shift(Carrier::LightHole, &e, a_c, a_v, b, 2) + dlh).abs() < 1e-15);
        // numbers: ε_∥ = −1.413 %; the conduction band goes up, the heavy hole
        // above the light hole (compressive), the gap opened
        assert!((epar + 0.0141274).abs() < 1e-6, "{epar}");
        assert!(dhh > dlh, "HH {dhh} must lie above LH {dlh}");
        assert!(a_c * tr > 0.0);
    }

    #[test]
    fn pseudomorphic_layer_by_pcg_on_a_periodic_column() {
        // a 3D column periodic in x and y, free in z: an InAs-like layer between GaAs
        let mut g = Grid::uniform(&[2, 2, 40], &[0.5, 0.5, 0.5]);
        g.periodic = [true, true, false];
        let n = g.len();
        let inside = |c: usize| (15..25).contains(&g.ijk(c)[2]);
        let (cw, cb) = ([83.29, 45.26, 39.59], [122.1, 56.6, 60.0]);
        let eps_w = (6.0583 - 5.65325) / 6.0583;
        let c: Vec<[f64; 3]> = (0..n).map(|i| if inside(i) { cw } else { cb }).collect();
        let eigenstrain: Vec<f64> = (0..n).map(|i| if inside(i) { eps_w } else { 0.0 }).collect();
        let eigenstress: Vec<f64> = (0..n).map(|i| (c[i][0] + 2.0 * c[i][1]) * eigenstrain[i]).collect();
        let faces = [FaceBc::Periodic, FaceBc::Periodic, FaceBc::Periodic, FaceBc::Periodic, FaceBc::Free, FaceBc::Free];
        let p = ElasticProblem { grid: g.clone(), c, eigenstrain, eigenstress, faces };
        let s = p.solve(&CpuBackend::new(), &StrainSolveOptions::default()).unwrap();
        assert!(s.cg.converged, "{:?}", s.cg);
        let epar = -eps_w;
        for i in 0..n {
            let e = s.elastic[i];
            if inside(i) {
                assert!((e[0] - epar).abs() < 1e-9 && (e[1] - epar).abs() < 1e-9, "{e:?}");
                let want = -2.0 * cw[1] / cw[0] * epar;
                assert!((e[2] - want).abs() < 1e-7 * want.abs(), "{} vs {want}", e[2]);
            } else {
                assert!(e.iter().all(|v| v.abs() < 1e-9), "{e:?}");
            }
        }
    }

    /// An InAs sphere (r = L/4) in a GaAs cube, all faces free (3-2-1 support), n³ cells.
    pub(crate) fn dot_problem(n: usize, faces: [FaceBc; 6]) -> ElasticProblem {
        let h = 32.0 / n as f64;
        let g = Grid::uniform(&[n, n, n], &[h, h, h]);
        let cells = g.len();
        let inside = |c: usize| {
            let r = g.center(c);
            r[0] * r[0] + r[1] * r[1] + r[2] * r[2] < 64.0
        };
        let (cw, cb) = ([83.29, 45.26, 39.59], [122.1, 56.6, 60.0]);
        let eps_w = (6.0583 - 5.65325) / 6.0583;
        let c: Vec<[f64; 3]> = (0..cells).map(|i| if inside(i) { cw } else { cb }).collect();
        let eigenstrain: Vec<f64> = (0..cells).map(|i| if inside(i) { eps_w } else { 0.0 }).collect();
        let eigenstress: Vec<f64> = (0..cells).map(|i| (c[i][0] + 2.0 * c[i][1]) * eigenstrain[i]).collect();
        ElasticProblem { grid: g, c, eigenstrain, eigenstress, faces }
    }

    /// PCG iterations under refinement (run by hand: `cargo test --release --lib
    /// iterations_under_refinement -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn iterations_under_refinement() {
        let be = CpuBackend::new();
        for faces in [[FaceBc::Free; 6], [FaceBc::Periodic, FaceBc::Periodic, FaceBc::Periodic, FaceBc::Periodic, FaceBc::Clamped, FaceBc::Free]] {
            for n in [16, 32, 64] {
                let p = dot_problem(n, faces);
                let s = p.solve(&be, &StrainSolveOptions::default()).unwrap();
                println!(
                    "{:?} n = {n}: {} iterations, residual {:.1e}, {} unknowns, {} nnz, levels {:?}, setup {:.2} s, solve {:.2} s",
                    faces[4], s.cg.iterations, s.cg.relative_residual, s.unknowns, s.nonzeros, s.levels, s.setup_s, s.solve_s
                );
            }
        }
    }

    /// The 64³ → 128³ step of the target (< 1.5× more iterations), both face sets
    /// (run by hand on a machine with ~20 GB free: `cargo test --release --lib
    /// iterations_64_to_128 -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn iterations_64_to_128() {
        let be = CpuBackend::new();
        for faces in [[FaceBc::Free; 6], [FaceBc::Periodic, FaceBc::Periodic, FaceBc::Periodic, FaceBc::Periodic, FaceBc::Clamped, FaceBc::Free]] {
            for n in [64, 128] {
                let s = dot_problem(n, faces).solve(&be, &StrainSolveOptions::default()).unwrap();
                println!(
                    "{:?} n = {n}: {} iterations, residual {:.1e}, {} unknowns, {} nnz, levels {:?}, setup {:.2} s, solve {:.2} s",
                    faces[4], s.cg.iterations, s.cg.relative_residual, s.unknowns, s.nonzeros, s.levels, s.setup_s, s.solve_s
                );
            }
        }
    }
}
