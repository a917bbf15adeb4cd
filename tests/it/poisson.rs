//! Poisson's equation against closed forms and manufactured solutions, the boundary
//! conditions, gates, the Newton diagonal, multigrid-preconditioned CG (iteration counts
//! under refinement) and the GPU backend against the CPU.
//!
//! Units: φ in V, lengths in nm, charge densities in cm⁻³; s = q/ε0·10⁻²¹ V nm⁻² per cm⁻³.

use std::f64::consts::PI;

use crate::common::gpu;

use qdsim_gpu::backend::CpuBackend;
use qdsim_gpu::grid::Grid;
use qdsim_gpu::linalg::backend::{random_values, Backend};
use qdsim_gpu::linalg::cg::{pcg, CgOptions, Jacobi};
use qdsim_gpu::linalg::multigrid::{Multigrid, MultigridOptions};
use qdsim_gpu::linalg::CsrMatrix;
use qdsim_gpu::physics::poisson::*;

fn s() -> f64 {
    PoissonSystem::charge_scale()
}

fn opts(tol: f64) -> PoissonSolveOptions {
    PoissonSolveOptions { cg: CgOptions { tol, max_iterations: 500 }, ..Default::default() }
}

/// Position of cell centres measured from the lower corner, nm.
fn x_of(g: &Grid, idx: usize, a: usize) -> f64 {
    g.center(idx)[a] - g.origin[a]
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

/// A uniformly charged slab (N = 1e18 cm⁻³, εr = 12.9, L = 100 nm) between two grounded
/// contacts: φ(x) = sN/(2εr)·x(L − x). Max error at n cells.
fn slab_error(n: usize) -> (f64, f64) {
    let (l, eps, nd) = (100.0, 12.9, 1e18);
    let g = Grid::uniform(&[n], &[l / n as f64]);
    let p = PoissonProblem::new(g.clone(), vec![eps; n], FaceBc::Dirichlet(0.0));
    let sys = PoissonSystem::assemble(&p).unwrap();
    let r = sys.solve(&CpuBackend::new(), &vec![nd; n], &opts(1e-12)).unwrap();
    assert!(r.cg.converged, "{:?}", r.cg);
    let exact: Vec<f64> = (0..n).map(|i| s() * nd / (2.0 * eps) * x_of(&g, i, 0) * (l - x_of(&g, i, 0))).collect();
    (max_abs_diff(&r.phi, &exact), exact.iter().cloned().fold(0.0, f64::max))
}

#[test]
fn charged_slab_between_grounded_contacts_second_order() {
    let (e1, peak) = slab_error(50);
    let (e2, _) = slab_error(100);
    let (e3, _) = slab_error(200);
    // peak sN L²/(8εr) = 1.7535 V
    assert!((peak - s() * 1e18 * 1e4 / (8.0 * 12.9)).abs() < 1e-3, "peak {peak}");
    assert!(e1 / peak < 1e-3, "relative error {} at 50 cells", e1 / peak);
    let (o1, o2) = ((e1 / e2).log2(), (e2 / e3).log2());
    assert!(o1 > 1.9 && o2 > 1.9, "orders {o1} {o2}, errors {e1} {e2} {e3}");
}

#[test]
fn dielectric_step_piecewise_linear_with_slope_ratio() {
    // εr = 13 on the left half, 1 on the right, φ = 0 at x = 0 and 1 V at x = L; no charge.
    // D continuous: 13 E_left = E_right; exact at cell centres (linear pieces).
    let (n, l, v) = (40usize, 20.0, 1.0);
    let g = Grid::uniform(&[n], &[l / n as f64]);
    let eps: Vec<f64> = (0..n).map(|i| if i < n / 2 { 13.0 } else { 1.0 }).collect();
    let mut p = PoissonProblem::new(g.clone(), eps, FaceBc::Dirichlet(0.0));
    p.faces[1] = FaceBc::Dirichlet(v);
    let sys = PoissonSystem::assemble(&p).unwrap();
    let r = sys.solve(&CpuBackend::new(), &vec![0.0; n], &opts(1e-12)).unwrap();
    let e_left = v / (l / 2.0) * 1.0 / 14.0; // V/nm: slope of φ on the left
    let e_right = 13.0 * e_left;
    for i in 0..n {
        let x = x_of(&g, i, 0);
        let exact = if x < l / 2.0 { e_left * x } else { e_left * l / 2.0 + e_right * (x - l / 2.0) };
        assert!((r.phi[i] - exact).abs() < 1e-10, "cell {i}: {} vs {exact}", r.phi[i]);
    }
    let f = sys.electric_field(&r.phi);
    assert!((f[3][0] + e_left).abs() < 1e-10 && (f[n - 4][0] + e_right).abs() < 1e-10, "{:?} {:?}", f[3], f[n - 4]);
    assert!((f[0][0] + e_left).abs() < 1e-10 && (f[n - 1][0] + e_right).abs() < 1e-10);
    let res = sys.residual_cm3(&r.phi, &vec![0.0; n]);
    assert!(res.iter().all(|v| v.abs() < 1e6), "residual charge {res:?} cm⁻³");
}

#[test]
fn neumann_end_and_contact_patches() {
    // φ(0) = 0, zero field at x = L, uniform charge: φ = (sN/εr)(L x − x²/2).
    let (n, l, eps, nd) = (100usize, 50.0, 4.0, 1e17);
    let g = Grid::uniform(&[n], &[l / n as f64]);
    let mut p = PoissonProblem::new(g.clone(), vec![eps; n], FaceBc::Dirichlet(0.0));
    p.faces[1] = FaceBc::Neumann;
    let sys = PoissonSystem::assemble(&p).unwrap();
    let r = sys.solve(&CpuBackend::new(), &vec![nd; n], &opts(1e-12)).unwrap();
    let k = s() * nd / eps;
    let exact: Vec<f64> = (0..n).map(|i| k * (l * x_of(&g, i, 0) - x_of(&g, i, 0).powi(2) / 2.0)).collect();
    let peak = k * l * l / 2.0;
    assert!(max_abs_diff(&r.phi, &exact) < 1e-4 * peak, "{}", max_abs_diff(&r.phi, &exact) / peak);

    // 2D: a face made Dirichlet cell by cell equals the Dirichlet face; a patch alone on an
    // otherwise Neumann box with no charge holds the whole box at its potential.
    let g = Grid::uniform(&[12, 10], &[1.0, 1.5]);
    let eps: Vec<f64> = (0..g.len()).map(|i| 1.0 + (i % 7) as f64).collect();
    let rho: Vec<f64> = (0..g.len()).map(|i| 1e17 * ((i % 5) as f64 - 2.0)).collect();
    let mut face = PoissonProblem::new(g.clone(), eps.clone(), FaceBc::Neumann);
    face.faces[2] = FaceBc::Dirichlet(0.7);
    let mut cells = PoissonProblem::new(g.clone(), eps.clone(), FaceBc::Neumann);
    cells.boundary_cells = (0..12).map(|i| BoundaryCellBc { face: 2, cell: g.index(i, 0, 0), bc: FaceBc::Dirichlet(0.7) }).collect();
    let be = CpuBackend::new();
    let a = PoissonSystem::assemble(&face).unwrap().solve(&be, &rho, &opts(1e-12)).unwrap();
    let b = PoissonSystem::assemble(&cells).unwrap().solve(&be, &rho, &opts(1e-12)).unwrap();
    assert!(max_abs_diff(&a.phi, &b.phi) < 1e-9);
    let mut patch = PoissonProblem::new(g.clone(), eps, FaceBc::Neumann);
    patch.boundary_cells = (4..7).map(|i| BoundaryCellBc { face: 3, cell: g.index(i, 9, 0), bc: FaceBc::Dirichlet(-0.25) }).collect();
    let sys = PoissonSystem::assemble(&patch).unwrap();
    assert!(!sys.singular);
    let r = sys.solve(&be, &vec![0.0; g.len()], &opts(1e-12)).unwrap();
    assert!(r.phi.iter().all(|v| (v + 0.25).abs() < 1e-9));
    // with charge: the patch is the only way out for the field lines, so Gauss's law puts
    // all the flux through it: Σ residual = 0 and the field is zero on Neumann faces
    let f = sys.electric_field(&r.phi);
    assert!(f.iter().all(|e| e[0].abs() < 1e-9 && e[1].abs() < 1e-9));
}

/// 3D manufactured solution φ = sin(πx/L) sin(πy/L) sin(πz/L) V, εr = 4, φ = 0 on the faces:
/// ρ = 3εr(π/L)² φ / s. Max error at n³ cells.
fn manufactured_3d(n: usize) -> f64 {
    let l = 10.0;
    let eps = 4.0;
    let g = Grid::uniform(&[n, n, n], &[l / n as f64; 3]);
    let exact: Vec<f64> = (0..g.len()).map(|i| (0..3).map(|a| (PI * x_of(&g, i, a) / l).sin()).product()).collect();
    let rho: Vec<f64> = exact.iter().map(|p| 3.0 * eps * (PI / l).powi(2) * p / s()).collect();
    let sys = PoissonSystem::assemble(&PoissonProblem::new(g, vec![eps; n * n * n], FaceBc::Dirichlet(0.0))).unwrap();
    let r = sys.solve(&CpuBackend::new(), &rho, &opts(1e-12)).unwrap();
    assert!(r.cg.converged);
    max_abs_diff(&r.phi, &exact)
}

#[test]
fn manufactured_3d_second_order() {
    let (e1, e2) = (manufactured_3d(12), manufactured_3d(24));
    let order = (e1 / e2).log2();
    assert!(order > 1.85 && e2 < 5e-3, "order {order}, errors {e1} {e2}");
}

#[test]
fn manufactured_2d_variable_permittivity_second_order() {
    // εr = 1 + 3x/L, φ = sin(πx/L) sin(πy/L): −∇·(εr∇φ) = 2εr(π/L)²φ − (3/L)(π/L)cos(πx/L)sin(πy/L)
    let l = 8.0;
    let err = |n: usize| {
        let g = Grid::uniform(&[n, n], &[l / n as f64; 2]);
        let eps: Vec<f64> = (0..g.len()).map(|i| 1.0 + 3.0 * x_of(&g, i, 0) / l).collect();
        let (k, ex): (f64, Vec<f64>) =
            (PI / l, (0..g.len()).map(|i| (PI * x_of(&g, i, 0) / l).sin() * (PI * x_of(&g, i, 1) / l).sin()).collect());
        let rho: Vec<f64> = (0..g.len())
            .map(|i| {
                let (x, y) = (x_of(&g, i, 0), x_of(&g, i, 1));
                (2.0 * eps[i] * k * k * ex[i] - 3.0 / l * k * (k * x).cos() * (k * y).sin()) / s()
            })
            .collect();
        let sys = PoissonSystem::assemble(&PoissonProblem::new(g, eps, FaceBc::Dirichlet(0.0))).unwrap();
        let r = sys.solve(&CpuBackend::new(), &rho, &opts(1e-12)).unwrap();
        max_abs_diff(&r.phi, &ex)
    };
    let (e1, e2) = (err(32), err(64));
    let order = (e1 / e2).log2();
    assert!(order > 1.85, "order {order}, errors {e1} {e2}");
}

#[test]
fn periodic_and_all_neumann_are_singular_and_handled() {
    // periodic in x and y, ρ = A cos(2πx/L): φ = sA/(εr k²) cos(kx), zero mean
    let (n, l, eps, amp) = (64usize, 32.0, 2.0, 1e18);
    let mut g = Grid::uniform(&[n, 6], &[l / n as f64, 1.0]);
    g.periodic = [true, true, false];
    let sys = PoissonSystem::assemble(&PoissonProblem::new(g.clone(), vec![eps; g.len()], FaceBc::Neumann)).unwrap();
    assert!(sys.singular);
    let k = 2.0 * PI / l;
    let rho: Vec<f64> = (0..g.len()).map(|i| amp * (k * x_of(&g, i, 0)).cos()).collect();
    let r = sys.solve(&CpuBackend::new(), &rho, &opts(1e-12)).unwrap();
    assert!(r.cg.converged);
    let peak = s() * amp / (eps * k * k);
    let exact: Vec<f64> = (0..g.len()).map(|i| peak * (k * x_of(&g, i, 0)).cos()).collect();
    // discrete eigenvalue of the 3-point stencil: (2 − 2cos kh)/h² ≈ k²(1 − k²h²/12)
    assert!(max_abs_diff(&r.phi, &exact) < 2e-3 * peak, "{}", max_abs_diff(&r.phi, &exact) / peak);
    assert!(r.phi.iter().sum::<f64>().abs() < 1e-9 * peak * g.len() as f64);
    // a net charge has no solution: a clear input error
    let e = sys.solve(&CpuBackend::new(), &vec![1e16; g.len()], &opts(1e-12)).unwrap_err();
    assert!(e.to_string().contains("charge") && e.exit_code() == 2, "{e}");
    // all-Neumann box, neutral charge
    let g = Grid::uniform(&[10, 8, 6], &[1.0, 1.0, 1.0]);
    let sys = PoissonSystem::assemble(&PoissonProblem::new(g.clone(), vec![1.0; g.len()], FaceBc::Neumann)).unwrap();
    assert!(sys.singular);
    let mut rho: Vec<f64> = random_values(g.len(), 4).iter().map(|v| v * 1e18).collect();
    let m = rho.iter().sum::<f64>() / rho.len() as f64;
    rho.iter_mut().for_each(|v| *v -= m);
    let r = sys.solve(&CpuBackend::new(), &rho, &opts(1e-11)).unwrap();
    assert!(r.cg.converged);
    let res = sys.residual(&r.phi, &rho);
    let bn: f64 = sys.rhs(&rho).iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(res.iter().map(|v| v * v).sum::<f64>().sqrt() < 1e-9 * bn);
}

#[test]
fn gates_hold_their_potential() {
    // 1D: a gate cell at 1 V in a grounded box, no charge: exact tent at cell centres
    let (n, l) = (30usize, 15.0);
    let g = Grid::uniform(&[n], &[l / n as f64]);
    let m = 10;
    let mut p = PoissonProblem::new(g.clone(), vec![3.0; n], FaceBc::Dirichlet(0.0));
    p.fixed.push(FixedCell { cell: m, potential: 1.0 });
    let sys = PoissonSystem::assemble(&p).unwrap();
    let r = sys.solve(&CpuBackend::new(), &vec![5e17; n], &opts(1e-12)).unwrap();
    let xm = x_of(&g, m, 0);
    // the charge is ignored on the gate only; here check with zero charge
    let r0 = sys.solve(&CpuBackend::new(), &vec![0.0; n], &opts(1e-12)).unwrap();
    for i in 0..n {
        let x = x_of(&g, i, 0);
        let exact = if x <= xm { x / xm } else { (l - x) / (l - xm) };
        assert!((r0.phi[i] - exact).abs() < 1e-10, "cell {i}: {} vs {exact}", r0.phi[i]);
    }
    assert!((r.phi[m] - 1.0).abs() < 1e-10);
    // 3D: a gate block at −0.5 V over a slab with εr 13 / 1, grounded bottom, Neumann sides
    let g = Grid::uniform(&[16, 16, 16], &[1.0, 1.0, 1.0]);
    let eps: Vec<f64> = (0..g.len()).map(|i| if g.ijk(i)[2] < 8 { 13.0 } else { 1.0 }).collect();
    let mut p = PoissonProblem::new(g.clone(), eps, FaceBc::Neumann);
    p.faces[4] = FaceBc::Dirichlet(0.0);
    for i in 6..10 {
        for j in 6..10 {
            p.fixed.push(FixedCell { cell: g.index(i, j, 12), potential: -0.5 });
        }
    }
    let sys = PoissonSystem::assemble(&p).unwrap();
    let r = sys.solve(&CpuBackend::new(), &vec![0.0; g.len()], &opts(1e-11)).unwrap();
    assert!(r.cg.converged);
    for f in &p.fixed {
        assert!((r.phi[f.cell] + 0.5).abs() < 1e-9);
    }
    // maximum principle and the symmetry x ↔ 15 − x
    assert!(r.phi.iter().all(|&v| (-0.5 - 1e-9..=1e-9).contains(&v)));
    for i in 0..g.len() {
        let [x, y, z] = g.ijk(i);
        assert!((r.phi[i] - r.phi[g.index(15 - x, y, z)]).abs() < 1e-8);
    }
}

/// The test problem of the solver tests: εr 13 in a central block, 1 around it, grounded
/// bottom face, a contact at 0.5 V on part of the top, Neumann elsewhere, a gate, charge.
fn test_system(n: usize) -> (PoissonSystem, Vec<f64>) {
    let g = Grid::uniform(&[n, n, n], &[20.0 / n as f64; 3]);
    let eps: Vec<f64> = (0..g.len())
        .map(|i| {
            let ijk = g.ijk(i);
            if ijk.iter().all(|&c| c >= n / 4 && c < 3 * n / 4) {
                13.0
            } else {
                1.0
            }
        })
        .collect();
    let mut p = PoissonProblem::new(g.clone(), eps, FaceBc::Neumann);
    p.faces[4] = FaceBc::Dirichlet(0.0);
    for i in 0..n / 2 {
        for j in 0..n {
            p.boundary_cells.push(BoundaryCellBc { face: 5, cell: g.index(i, j, n - 1), bc: FaceBc::Dirichlet(0.5) });
        }
    }
    p.fixed.push(FixedCell { cell: g.index(n / 2, n / 2, n / 8), potential: 0.2 });
    let rho: Vec<f64> = random_values(g.len(), 11).iter().map(|v| 1e18 * (1.0 + v)).collect();
    (PoissonSystem::assemble(&p).unwrap(), rho)
}

fn mg_iterations(sys: &PoissonSystem, rho: &[f64], reaction: Option<&[f64]>) -> (usize, Vec<f64>) {
    let be = CpuBackend::new();
    let a = match reaction {
        Some(d) => sys.matrix_with_diagonal(d),
        None => sys.matrix.clone(),
    };
    let re = reaction.map(|d| sys.reaction_diagonal(d));
    let mut phi = vec![0.0; sys.len()];
    let o = PoissonSolveOptions { cg: CgOptions { tol: 1e-8, max_iterations: 200 }, ..Default::default() };
    let r = solve_spd(&be, &sys.grid, &a, re.as_deref(), &sys.rhs(rho), &mut phi, &o).unwrap();
    assert!(r.converged, "{r:?}");
    (r.iterations, phi)
}

#[test]
fn multigrid_iterations_nearly_flat_under_refinement() {
    let (s16, r16) = test_system(16);
    let (s32, r32) = test_system(32);
    let (i16, _) = mg_iterations(&s16, &r16, None);
    let (i32, phi32) = mg_iterations(&s32, &r32, None);
    eprintln!("MG-PCG iterations to 1e-8: 16³ {i16}, 32³ {i32}");
    assert!(i32 as f64 <= 1.5 * i16 as f64 && i32 <= 25, "{i16} → {i32}");
    // same answer as Jacobi-PCG
    let mut phi = vec![0.0; s32.len()];
    let o = PoissonSolveOptions { cg: CgOptions { tol: 1e-10, max_iterations: 5000 }, preconditioner: PoissonPreconditioner::Jacobi };
    let r = solve_spd(&CpuBackend::new(), &s32.grid, &s32.matrix, None, &s32.rhs(&r32), &mut phi, &o).unwrap();
    assert!(r.converged && r.iterations > 3 * i32, "{r:?}");
    let scale = phi.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max_abs_diff(&phi, &phi32) < 1e-6 * scale);
}

#[test]
fn newton_diagonal_with_multigrid() {
    // a large Newton term (−∂ρ/∂φ = n/kT for n = 1e19 cm⁻³ at 300 K) in part of the box,
    // none elsewhere; also on a fully periodic box, where it makes the matrix definite
    let (sys, rho) = test_system(24);
    let d: Vec<f64> = (0..sys.len()).map(|i| if i % 24 < 12 { 1e19 / 0.02585 } else { 0.0 }).collect();
    let (it, phi) = mg_iterations(&sys, &rho, Some(&d));
    let a = sys.matrix_with_diagonal(&d);
    let res: Vec<f64> = a.mul_vec(&phi).iter().zip(sys.rhs(&rho)).map(|(x, b)| b - x).collect();
    let bn = sys.rhs(&rho).iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(res.iter().map(|v| v * v).sum::<f64>().sqrt() <= 1.01e-8 * bn);
    assert!(it <= 20, "{it} iterations");
    let mut g = Grid::uniform(&[20, 20, 20], &[0.5; 3]);
    g.periodic = [true, true, true];
    let psys = PoissonSystem::assemble(&PoissonProblem::new(g, vec![12.0; 8000], FaceBc::Neumann)).unwrap();
    assert!(psys.singular);
    let d = vec![1e17 / 0.02585; 8000];
    let rho: Vec<f64> = random_values(8000, 9).iter().map(|v| 1e17 * v).collect();
    let (it, _) = mg_iterations(&psys, &rho, Some(&d));
    assert!(it <= 20, "{it} iterations");
}


#[test]
fn rectangular_spmv_on_both_backends() {
    let (nr, nc) = (37usize, 300usize);
    let r = random_values(nr * 4 + nr * 4, 3);
    let mut t = Vec::new();
    for i in 0..nr {
        for k in 0..4 {
            t.push((i, ((r[i * 4 + k].abs() * nc as f64) as usize).min(nc - 1), r[nr * 4 + i * 4 + k]));
        }
    }
    let a = CsrMatrix::from_triplets(nr, nc, &t);
    let at = CsrMatrix::from_triplets(nc, nr, &t.iter().map(|&(i, j, v)| (j, i, v)).collect::<Vec<_>>());
    let x = random_values(nc, 5);
    let y = random_values(nr, 6);
    let c = CpuBackend::new();
    let mut cy = c.alloc(nr);
    c.spmv(&c.upload_matrix(&a), &x, &mut cy);
    assert!(max_abs_diff(&cy, &a.mul_vec(&x)) < 1e-14);
    let Some(g) = gpu() else { return };
    let mut gy = g.alloc(nr);
    g.spmv(&g.upload_matrix(&a), &g.from_host(&x), &mut gy);
    assert!(max_abs_diff(&g.to_host(&gy), &cy) < 1e-5);
    let mut gx = g.alloc(nc);
    g.spmv(&g.upload_matrix(&at), &g.from_host(&y), &mut gx);
    assert!(max_abs_diff(&g.to_host(&gx), &at.mul_vec(&y)) < 1e-5);
}

#[test]
fn gpu_multigrid_pcg_agrees_with_cpu() {
    let Some(g) = gpu() else { return };
    let (sys, rho) = test_system(16);
    let b = sys.rhs(&rho);
    let c = CpuBackend::new();
    let tol = if g.precision_bits() == 64 { 1e-10 } else { 1e-4 };
    let mo = MultigridOptions::default();
    let cm = Multigrid::new(&c, &sys.grid, &sys.matrix, None, &mo).unwrap();
    let mut cpu_phi = vec![0.0; sys.len()];
    let cr = pcg(&c, &sys.matrix, &b, &mut cpu_phi, &cm, &CgOptions { tol: 1e-10, max_iterations: 200 });
    assert!(cr.converged);
    let ci = cr.iterations;
    let m = Multigrid::new(&g, &sys.grid, &sys.matrix, None, &mo).unwrap();
    let a = g.upload_matrix(&sys.matrix);
    let bv = g.from_host(&b);
    let mut x = g.alloc(sys.len());
    let r = pcg(&g, &a, &bv, &mut x, &m, &CgOptions { tol, max_iterations: 200 });
    assert!(r.converged, "{r:?}");
    let gphi = g.to_host(&x);
    let scale = cpu_phi.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max_abs_diff(&gphi, &cpu_phi) < 20.0 * tol * scale, "{} vs scale {scale}", max_abs_diff(&gphi, &cpu_phi));
    eprintln!("CPU {ci} iterations to 1e-10; GPU {} to {tol:e}", r.iterations);
    // Jacobi-PCG on the GPU too
    let j = Jacobi::new(&g, &sys.matrix);
    let mut x = g.alloc(sys.len());
    let r = pcg(&g, &a, &bv, &mut x, &j, &CgOptions { tol, max_iterations: 2000 });
    assert!(r.converged, "{r:?}");
}
