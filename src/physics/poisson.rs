//! Box-integration (cell-centred finite-volume) discretisation of Poisson's equation
//! −∇·(ε0 εr(r) ∇φ) = q ρ̃(r), φ in V, lengths in nm, ρ̃ = ρ/q = p − n + N_D⁺ − N_A⁻ a
//! signed number density given in cm⁻³.
//!
//! Same conventions as [`super::hamiltonian`]: integrating over cell c and applying Gauss's
//! theorem, the face f between c and its neighbour d along an axis of spacing h carries the
//! flux ε0 ε_f (φ_c − φ_d)/h through its area, ε_f the harmonic mean of the two cells' εr
//! (continuity of φ and of the normal displacement εr ∂φ/∂n: two half-cells in series), or
//! an explicit face value (cut cells, [`crate::grid::MaterialMap::face_coefficients`]).
//!
//! **Scaling.** Each cell's balance is divided by ε0 and by the cell volume (the same for
//! every cell of the rectilinear grid), so the matrix is
//! `A_cc = Σ_f ε_f/h_f²`, `A_cd = −ε_f/h_f²` (nm⁻²) and the right-hand side is
//! `b_c = (q/ε0)·10⁻²¹·ρ̃_c + boundary terms` (V nm⁻²), with q/ε0 = 18.095 V nm
//! ([`crate::constants::Q_OVER_EPS0_V_NM`]) and 10⁻²¹ nm⁻³ per cm⁻³: see
//! [`PoissonSystem::charge_scale`]. A is symmetric; it is positive definite as soon as one
//! cell touches a Dirichlet boundary or a fixed cell.
//!
//! **Graded grids** (cell widths w varying per axis): the per-volume balance of cell c has
//! `ε_f/(d_f w_c)` per face (d_f the centre distance, ε_f the series mean of the two half
//! cells, or a sampled face value) and `2ε_c/w_c²` per Dirichlet face; it is not symmetric,
//! so each row (and its right-hand side, charge and Newton diagonal) is multiplied by
//! W_c = V_c/V_ref (V_ref the smallest cell's volume): then A_cd = S_f ε_f/(d_f V_ref)
//! (S_f the face area) is symmetric, and [`PoissonSystem::residual_cm3`] divides W_c out
//! again. On a uniform grid W = 1 and nothing changes.
//!
//! **Boundaries** (per outer face; faces are numbered 2·axis + side: x−, x+, y−, y+, z−, z+):
//! - Dirichlet φ = V on the face, half a cell beyond the last centre: flux
//!   ε_c (φ_c − V)/(h/2), i.e. +2ε_c/h² on the diagonal and +2ε_c V/h² on the right;
//! - Neumann (zero normal field): no flux;
//! - periodic: the face couples to the cell on the opposite side (the grid's `periodic`
//!   flag of that axis, which must then be set for both faces of the axis);
//! - per boundary cell, an override of the face's condition (a contact patch: Dirichlet on
//!   some cells of a face, Neumann elsewhere).
//!
//! **Fixed cells** (metal gates held at a voltage) are eliminated symmetrically: a fixed
//! cell's row becomes `A_cc φ_c = A_cc V` (A_cc = εr_c Σ_axes 2/h², a typical diagonal so
//! multigrid and Jacobi see a well-scaled row), and a free neighbour's coupling to it
//! moves to the free cell's right-hand side (`+ε_f V/h²`). The matrix stays SPD and keeps
//! the grid's structure; the charge on fixed cells is ignored.
//!
//! **Singular problems.** Without any Dirichlet face cell or fixed cell (all Neumann or
//! periodic) φ is defined up to a constant and a solution exists only for a neutral
//! charge. [`PoissonSystem::solve`] then checks neutrality (error otherwise), fixes one cell,
//! and returns the solution of zero mean.
//!
//! **Newton steps** for the nonlinear equation −∇·(εr∇φ) = s ρ̃(φ) (s = charge_scale) need
//! J = A + s·diag(−∂ρ̃/∂φ) with −∂ρ̃/∂φ ≥ 0 in cm⁻³/V: [`PoissonSystem::matrix_with_diagonal`]
//! returns it in O(nnz), and [`solve_spd`] solves with it (multigrid keeps that diagonal as a
//! reaction term on coarse levels).

use std::collections::HashMap;

use rayon::prelude::*;

use crate::constants::{NM3_PER_CM3, Q_OVER_EPS0_V_NM};
use crate::error::{QdError, Result};
use crate::grid::Grid;
use crate::linalg::cg::{pcg, CgOptions, CgResult, Jacobi};
use crate::linalg::multigrid::{Dims, Multigrid, MultigridOptions};
use crate::linalg::{Backend, CsrMatrix};

pub use crate::physics::hamiltonian::FaceCoefficients;

/// A grid's cell counts are the lattice multigrid coarsens (linalg knows no `Grid`).
impl From<&Grid> for Dims {
    fn from(g: &Grid) -> Dims {
        Dims::new(g.n)
    }
}

/// The condition on an outer face (or, as an override, on one boundary cell's face).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FaceBc {
    /// φ = the given potential, V.
    Dirichlet(f64),
    /// Zero normal field.
    Neumann,
    /// Wraps to the opposite face (only where the grid's axis is periodic).
    Periodic,
}

/// An override of the face condition for one boundary cell: `cell` (flat index) must lie
/// on `face` (2·axis + side, 0 = lower); `bc` is Dirichlet or Neumann.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundaryCellBc {
    pub face: usize,
    pub cell: usize,
    pub bc: FaceBc,
}

/// A cell whose potential is prescribed (a gate), V.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FixedCell {
    pub cell: usize,
    pub potential: f64,
}

/// Everything that defines the linear operator and its boundary terms.
#[derive(Clone, Debug)]
pub struct PoissonProblem {
    pub grid: Grid,
    /// Relative permittivity per cell (dimensionless, > 0).
    pub eps_r: Vec<f64>,
    /// Face permittivities replacing the harmonic mean, keyed by (cell, axis) for the face
    /// between `cell` and its upper neighbour (as in the Hamiltonian).
    pub face_eps: FaceCoefficients,
    /// One condition per outer face: x−, x+, y−, y+, z− , z+ (2·dim entries).
    pub faces: Vec<FaceBc>,
    /// Per-boundary-cell overrides (contact patches).
    pub boundary_cells: Vec<BoundaryCellBc>,
    /// Interior cells held at a potential (gates).
    pub fixed: Vec<FixedCell>,
}

impl PoissonProblem {
    /// Every non-periodic face gets `default`; the faces of periodic axes are periodic.
    pub fn new(grid: Grid, eps_r: Vec<f64>, default: FaceBc) -> PoissonProblem {
        let faces = (0..2 * grid.dim).map(|f| if grid.periodic[f / 2] { FaceBc::Periodic } else { default }).collect();
        PoissonProblem { grid, eps_r, face_eps: FaceCoefficients::new(), faces, boundary_cells: Vec::new(), fixed: Vec::new() }
    }
}

/// The assembled linear system (see the module docs for units and scaling).
#[derive(Clone, Debug)]
pub struct PoissonSystem {
    pub grid: Grid,
    /// A (nm⁻²): symmetric; positive definite unless `singular`.
    pub matrix: CsrMatrix,
    /// The boundary and fixed-cell part of the right-hand side, V nm⁻².
    pub boundary_rhs: Vec<f64>,
    /// No Dirichlet cell and no fixed cell: A has the constants as its null space.
    pub singular: bool,
    /// Fixed cells' potentials, V (NaN for free cells).
    fixed_potential: Vec<f64>,
    /// Position of each row's diagonal in `matrix.val`.
    diag_pos: Vec<usize>,
    /// Face conditions as assembled (for the field at boundary faces).
    faces: Vec<FaceBc>,
    overrides: HashMap<(usize, usize), FaceBc>,
    eps_r: Vec<f64>,
    /// Graded grids: each row's weight V_c / V_ref (the rows are the per-volume balances
    /// times it, so A is symmetric); None on a uniform grid (weight 1).
    weight: Option<Vec<f64>>,
}

/// A solution of [`PoissonSystem::solve`].
#[derive(Clone, Debug)]
pub struct PoissonSolution {
    /// Potential per cell, V.
    pub phi: Vec<f64>,
    pub cg: CgResult,
}

/// Which preconditioner PCG uses.
#[derive(Clone, Debug)]
pub enum PoissonPreconditioner {
    Jacobi,
    Multigrid(MultigridOptions),
}

#[derive(Clone, Debug)]
pub struct PoissonSolveOptions {
    /// Relative residual ‖b − Aφ‖/‖b‖ and iteration limit.
    pub cg: CgOptions,
    pub preconditioner: PoissonPreconditioner,
}

impl Default for PoissonSolveOptions {
    fn default() -> Self {
        PoissonSolveOptions {
            cg: CgOptions { tol: 1e-10, max_iterations: 2000 },
            preconditioner: PoissonPreconditioner::Multigrid(MultigridOptions::default()),
        }
    }
}

/// Graded grids: the series conductance of the face between c and d (widths wc, wd along
/// the axis), εr/nm: a sampled face value over the centre distance, else the two half
/// cells in series.
#[allow(clippy::too_many_arguments)]
fn graded_face(faces: &FaceCoefficients, eps: &[f64], c: usize, d: usize, axis: usize, dir: i64, wc: f64, wd: f64) -> f64 {
    let key = if dir > 0 { (c, axis) } else { (d, axis) };
    match faces.get(&key) {
        Some(&f) => f / (0.5 * (wc + wd)),
        None => 2.0 * eps[c] * eps[d] / (wc * eps[d] + wd * eps[c]),
    }
}

fn face_eps(faces: &FaceCoefficients, eps: &[f64], c: usize, d: usize, axis: usize, dir: i64) -> f64 {
    let key = if dir > 0 { (c, axis) } else { (d, axis) };
    match faces.get(&key) {
        Some(&f) => f,
        None => 2.0 * eps[c] * eps[d] / (eps[c] + eps[d]),
    }
}

impl PoissonSystem {
    /// (q/ε0)·10⁻²¹ = 1.8095·10⁻²⁰ V nm⁻² per cm⁻³: multiplies a charge density in cm⁻³
    /// (and ∂ρ̃/∂φ in cm⁻³/V, giving nm⁻²) into the matrix's units.
    pub fn charge_scale() -> f64 {
        Q_OVER_EPS0_V_NM / NM3_PER_CM3
    }

    /// Validate and assemble. Input errors name the field (`poisson.faces[3]`, ...).
    pub fn assemble(p: &PoissonProblem) -> Result<PoissonSystem> {
        let grid = &p.grid;
        let n = grid.len();
        let dim = grid.dim;
        if p.eps_r.len() != n {
            return Err(QdError::input("poisson.eps_r", format!("has {} values, the grid has {n} cells", p.eps_r.len())));
        }
        if let Some(i) = p.eps_r.iter().position(|e| !(e.is_finite() && *e > 0.0)) {
            return Err(QdError::input(format!("poisson.eps_r[{i}]"), format!("must be a positive number, got {}", p.eps_r[i])));
        }
        if let Some((k, v)) = p.face_eps.iter().find(|(_, v)| !(v.is_finite() && **v > 0.0)) {
            return Err(QdError::input("poisson.face_eps", format!("face {k:?} has permittivity {v}: must be positive")));
        }
        if p.faces.len() != 2 * dim {
            return Err(QdError::input("poisson.faces", format!("needs {} entries (2 per axis), got {}", 2 * dim, p.faces.len())));
        }
        for (f, bc) in p.faces.iter().enumerate() {
            let axis = f / 2;
            match bc {
                FaceBc::Periodic if !grid.periodic[axis] => {
                    return Err(QdError::input(
                        format!("poisson.faces[{f}]"),
                        "periodic, but the grid's axis is not periodic (set domain.periodic)",
                    ))
                }
                FaceBc::Dirichlet(_) | FaceBc::Neumann if grid.periodic[axis] => {
                    return Err(QdError::input(format!("poisson.faces[{f}]"), "the grid's axis is periodic: the face must be Periodic"))
                }
                FaceBc::Dirichlet(v) if !v.is_finite() => {
                    return Err(QdError::input(format!("poisson.faces[{f}]"), format!("Dirichlet potential must be finite, got {v}")))
                }
                _ => {}
            }
        }
        let mut overrides = HashMap::new();
        for (k, o) in p.boundary_cells.iter().enumerate() {
            let path = format!("poisson.boundary_cells[{k}]");
            if o.face >= 2 * dim {
                return Err(QdError::input(path, format!("face {} does not exist (0..{})", o.face, 2 * dim)));
            }
            if o.cell >= n {
                return Err(QdError::input(path, format!("cell {} is outside the grid ({n} cells)", o.cell)));
            }
            let axis = o.face / 2;
            let at = grid.ijk(o.cell)[axis];
            if (o.face % 2 == 0 && at != 0) || (o.face % 2 == 1 && at != grid.n[axis] - 1) {
                return Err(QdError::input(path, format!("cell {} does not touch face {}", o.cell, o.face)));
            }
            if grid.periodic[axis] {
                return Err(QdError::input(path, format!("face {} is periodic", o.face)));
            }
            match o.bc {
                FaceBc::Periodic => return Err(QdError::input(path, "a boundary cell can be Dirichlet or Neumann, not Periodic")),
                FaceBc::Dirichlet(v) if !v.is_finite() => {
                    return Err(QdError::input(path, format!("Dirichlet potential must be finite, got {v}")))
                }
                _ => {}
            }
            overrides.insert((o.face, o.cell), o.bc);
        }
        let mut fixed_potential = vec![f64::NAN; n];
        for (k, f) in p.fixed.iter().enumerate() {
            if f.cell >= n {
                return Err(QdError::input(format!("poisson.fixed[{k}]"), format!("cell {} is outside the grid ({n} cells)", f.cell)));
            }
            if !f.potential.is_finite() {
                return Err(QdError::input(format!("poisson.fixed[{k}]"), format!("potential must be finite, got {}", f.potential)));
            }
            fixed_potential[f.cell] = f.potential;
        }
        let eps = &p.eps_r;
        // graded grids: rows in the per-volume form with the cells' widths, each multiplied
        // by W_c = V_c / V_ref (V_ref the smallest cell's volume), which makes A symmetric
        // (see the module header)
        let weight: Option<Vec<f64>> = grid.is_graded().then(|| {
            let v_ref = grid.cell_volume();
            (0..n).map(|c| grid.volume(c) / v_ref).collect()
        });
        let fixed_diag = |c: usize| {
            if grid.is_graded() {
                let w = grid.cell_widths(c);
                eps[c] * (0..dim).map(|a| 2.0 / (w[a] * w[a])).sum::<f64>()
            } else {
                eps[c] * (0..dim).map(|a| 2.0 / (grid.h[a] * grid.h[a])).sum::<f64>()
            }
        };
        // per row: entries, rhs, whether it touches a Dirichlet value
        let (matrix, extras) = CsrMatrix::from_rows_with(n, n, 1 + 2 * dim, |c, out| {
                if !fixed_potential[c].is_nan() {
                    let d = fixed_diag(c);
                    out.push((c as u32, d));
                    return (d * fixed_potential[c], true);
                }
                let ijk = grid.ijk(c);
                let mut diag = 0.0;
                let mut rhs = 0.0;
                let mut dirichlet = false;
                let mut row: Vec<(u32, f64)> = Vec::with_capacity(1 + 2 * dim);
                for a in 0..dim {
                    let h2 = grid.h[a] * grid.h[a];
                    let wc = grid.width(a, ijk[a]);
                    for (side, dir) in [(0usize, -1i64), (1, 1)] {
                        match grid.neighbour(c, &ijk, a, dir) {
                            Some(d) => {
                                let w = if weight.is_some() {
                                    let wd = grid.width(a, grid.ijk(d)[a]);
                                    graded_face(&p.face_eps, eps, c, d, a, dir, wc, wd) / wc
                                } else {
                                    face_eps(&p.face_eps, eps, c, d, a, dir) / h2
                                };
                                diag += w;
                                if fixed_potential[d].is_nan() {
                                    row.push((d as u32, -w));
                                } else {
                                    rhs += w * fixed_potential[d];
                                    dirichlet = true;
                                }
                            }
                            None => {
                                let face = 2 * a + side;
                                let bc = overrides.get(&(face, c)).copied().unwrap_or(p.faces[face]);
                                if let FaceBc::Dirichlet(v) = bc {
                                    let w = if weight.is_some() { 2.0 * eps[c] / (wc * wc) } else { 2.0 * eps[c] / h2 };
                                    diag += w;
                                    rhs += w * v;
                                    dirichlet = true;
                                }
                            }
                        }
                    }
                }
                row.push((c as u32, diag));
                row.sort_unstable_by_key(|e| e.0);
                // merge duplicates (periodic axes of 1 or 2 cells)
                for (j, v) in row {
                    match out.last_mut() {
                        Some(l) if l.0 == j => l.1 += v,
                        _ => out.push((j, v)),
                    }
                }
                if let Some(wt) = &weight {
                    out.iter_mut().for_each(|e| e.1 *= wt[c]);
                    rhs *= wt[c];
                }
                (rhs, dirichlet)
        });
        let any_dirichlet = extras.iter().any(|e| e.1);
        let boundary_rhs: Vec<f64> = extras.into_iter().map(|e| e.0).collect();
        // every row holds its diagonal (the cell's own entry, merged once)
        let diag_pos: Vec<usize> = (0..n)
            .into_par_iter()
            .map(|c| {
                let r = matrix.row_ptr[c]..matrix.row_ptr[c + 1];
                r.start + matrix.col[r].iter().position(|&j| j as usize == c).expect("a Poisson row without its diagonal")
            })
            .collect();
        Ok(PoissonSystem {
            grid: grid.clone(),
            matrix,
            boundary_rhs,
            singular: !any_dirichlet,
            fixed_potential,
            diag_pos,
            faces: p.faces.clone(),
            overrides,
            eps_r: p.eps_r.clone(),
            weight,
        })
    }

    pub fn len(&self) -> usize {
        self.grid.len()
    }
    pub fn is_empty(&self) -> bool {
        self.grid.is_empty()
    }

    /// Whether cell `c` is a fixed (gate) cell.
    pub fn is_fixed(&self, c: usize) -> bool {
        !self.fixed_potential[c].is_nan()
    }

    /// The right-hand side b = boundary terms + charge_scale·ρ̃ (V nm⁻²) for a charge
    /// density ρ̃ = p − n + N_D⁺ − N_A⁻ per cell in cm⁻³ (ignored on fixed cells).
    pub fn rhs(&self, rho_cm3: &[f64]) -> Vec<f64> {
        assert_eq!(rho_cm3.len(), self.len(), "charge density length");
        let s = Self::charge_scale();
        self.boundary_rhs
            .par_iter()
            .zip(rho_cm3.par_iter())
            .zip(self.fixed_potential.par_iter())
            .enumerate()
            .map(|(c, ((b, r), f))| if f.is_nan() { b + s * r * self.w(c) } else { *b })
            .collect()
    }

    /// Row `c`'s weight (1 on a uniform grid).
    #[inline]
    fn w(&self, c: usize) -> f64 {
        self.weight.as_ref().map_or(1.0, |w| w[c])
    }

    /// A + charge_scale·diag(d) for d ≥ 0 in cm⁻³/V per cell (the Newton term −∂ρ̃/∂φ;
    /// fixed cells are left alone). O(nnz): a copy of the matrix and one pass over the
    /// diagonal.
    pub fn matrix_with_diagonal(&self, d_cm3_per_v: &[f64]) -> CsrMatrix {
        assert_eq!(d_cm3_per_v.len(), self.len(), "diagonal length");
        let s = Self::charge_scale();
        let mut m = self.matrix.clone();
        for (c, (&p, &d)) in self.diag_pos.iter().zip(d_cm3_per_v).enumerate() {
            if self.fixed_potential[c].is_nan() {
                m.val[p] += s * d * self.w(c);
            }
        }
        m
    }

    /// The scaled Newton diagonal charge_scale·d (nm⁻²; zero on fixed cells), as
    /// [`Multigrid::new`]'s `reaction` for the matrix of [`Self::matrix_with_diagonal`].
    pub fn reaction_diagonal(&self, d_cm3_per_v: &[f64]) -> Vec<f64> {
        let s = Self::charge_scale();
        d_cm3_per_v.iter().zip(&self.fixed_potential).enumerate().map(|(c, (d, f))| if f.is_nan() { s * d * self.w(c) } else { 0.0 }).collect()
    }

    /// The residual b − Aφ (V nm⁻²) for a potential φ (V) and charge ρ̃ (cm⁻³).
    pub fn residual(&self, phi: &[f64], rho_cm3: &[f64]) -> Vec<f64> {
        let b = self.rhs(rho_cm3);
        let ax = self.matrix.mul_vec(phi);
        b.iter().zip(&ax).map(|(b, a)| b - a).collect()
    }

    /// The residual as a charge density, cm⁻³: (b − Aφ)/charge_scale, 0 on fixed cells
    /// (the charge that φ fails to account for; a physical convergence measure).
    pub fn residual_cm3(&self, phi: &[f64], rho_cm3: &[f64]) -> Vec<f64> {
        let s = Self::charge_scale();
        self.residual(phi, rho_cm3).iter().zip(&self.fixed_potential).enumerate().map(|(c, (r, f))| if f.is_nan() { r / (s * self.w(c)) } else { 0.0 }).collect()
    }

    /// The electric field E = −∇φ at cell centres, V/nm (1 V/nm = 10 MV/cm): per axis,
    /// the mean of the two face gradients of the cell; a Dirichlet face's gradient is
    /// (V − φ_c)/(h/2), a Neumann face's is 0; absent axes give 0.
    pub fn electric_field(&self, phi: &[f64]) -> Vec<[f64; 3]> {
        assert_eq!(phi.len(), self.len(), "potential length");
        let g = &self.grid;
        (0..g.len())
            .into_par_iter()
            .map(|c| {
                let ijk = g.ijk(c);
                let mut e = [0.0; 3];
                for (a, ea) in e.iter_mut().enumerate().take(g.dim) {
                    let h = g.h[a];
                    let mut grads = [0.0; 2];
                    for (side, dir) in [(0usize, -1i64), (1, 1)] {
                        // gradient across the face, in the +axis direction (graded grids:
                        // over the centre distance, and half the cell's own width to a face)
                        let (dist, half) = if g.is_graded() {
                            let i = ijk[a];
                            let wc = g.width(a, i);
                            let d = if dir > 0 { g.center_distance(a, i) } else { g.center_distance(a, (i + g.n[a] - 1) % g.n[a]) };
                            (d, 0.5 * wc)
                        } else {
                            (h, 0.5 * h)
                        };
                        grads[side] = match g.neighbour(c, &ijk, a, dir) {
                            Some(d) => dir as f64 * (phi[d] - phi[c]) / dist,
                            None => {
                                let face = 2 * a + side;
                                match self.overrides.get(&(face, c)).copied().unwrap_or(self.faces[face]) {
                                    FaceBc::Dirichlet(v) => dir as f64 * (v - phi[c]) / half,
                                    _ => 0.0,
                                }
                            }
                        };
                    }
                    *ea = -0.5 * (grads[0] + grads[1]);
                }
                e
            })
            .collect()
    }

    /// Relative permittivity per cell, as assembled.
    pub fn eps_r(&self) -> &[f64] {
        &self.eps_r
    }

    /// Solve A φ = rhs(ρ̃) with PCG on `be`. A singular system (no Dirichlet cell, no fixed
    /// cell) needs a neutral charge (|Σρ̃| ≤ 10⁻⁹ Σ|ρ̃|, else an input error naming
    /// `charge`); it is solved with cell 0 held at 0 V and returned with zero mean.
    /// Non-convergence is not an error: `cg.converged` reports it.
    pub fn solve<B: Backend>(&self, be: &B, rho_cm3: &[f64], opts: &PoissonSolveOptions) -> Result<PoissonSolution> {
        let mut b = self.rhs(rho_cm3);
        let mut phi = vec![0.0; self.len()];
        if !self.singular {
            let cg = solve_spd(be, &self.grid, &self.matrix, None, &b, &mut phi, opts)?;
            return Ok(PoissonSolution { phi, cg });
        }
        // (graded grids: the charges weighted by the cells' volumes)
        let net: f64 = rho_cm3.iter().enumerate().map(|(c, r)| r * self.w(c)).sum();
        let total: f64 = rho_cm3.iter().enumerate().map(|(c, r)| r.abs() * self.w(c)).sum();
        if net.abs() > 1e-9 * total {
            return Err(QdError::input(
                "charge",
                format!(
                    "net charge {net:e} cm⁻³·cells with no Dirichlet boundary and no fixed cell: an all-Neumann/periodic \
                     Poisson problem has a solution only for a neutral charge (add a contact or a gate)"
                ),
            ));
        }
        // exact compatibility, then hold cell 0 at 0 V (symmetric elimination)
        let mean = b.iter().sum::<f64>() / b.len() as f64;
        b.iter_mut().for_each(|v| *v -= mean);
        let mut a = self.matrix.clone();
        for r in 0..a.nrows {
            for p in a.row_ptr[r]..a.row_ptr[r + 1] {
                let c = a.col[p] as usize;
                if (r == 0) != (c == 0) {
                    a.val[p] = 0.0;
                }
            }
        }
        b[0] = 0.0;
        let cg = solve_spd(be, &self.grid, &a, None, &b, &mut phi, opts)?;
        let m = phi.iter().sum::<f64>() / phi.len() as f64;
        phi.iter_mut().for_each(|v| *v -= m);
        Ok(PoissonSolution { phi, cg })
    }
}

/// Solve an SPD system on the grid's cells (A φ = b, φ updated in place from the value
/// given) with PCG and the chosen preconditioner on `be`; `reaction` is the zeroth-order
/// part of A's diagonal ([`PoissonSystem::reaction_diagonal`]), used by multigrid. The
/// building block of a Newton step: `solve_spd(be, grid, &sys.matrix_with_diagonal(d),
/// Some(&sys.reaction_diagonal(d)), &residual, &mut dphi, opts)`.
pub fn solve_spd<B: Backend>(
    be: &B,
    grid: &Grid,
    a: &CsrMatrix,
    reaction: Option<&[f64]>,
    b: &[f64],
    phi: &mut Vec<f64>,
    opts: &PoissonSolveOptions,
) -> Result<CgResult> {
    let am = be.upload_matrix(a);
    let bv = be.from_host(b);
    let mut x = be.from_host(phi);
    let r = match &opts.preconditioner {
        PoissonPreconditioner::Jacobi => pcg(be, &am, &bv, &mut x, &Jacobi::new(be, a), &opts.cg),
        PoissonPreconditioner::Multigrid(o) => {
            let mg = Multigrid::new(be, grid, a, reaction, o)?;
            pcg(be, &am, &bv, &mut x, &mg, &opts.cg)
        }
    };
    *phi = be.to_host(&x);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;

    #[test]
    fn symmetric_and_definite_with_every_condition() {
        let mut g = Grid::uniform(&[6, 5, 4], &[0.5, 0.7, 1.0]);
        g.periodic = [false, true, false];
        let eps: Vec<f64> = (0..g.len()).map(|i| if i % 3 == 0 { 13.0 } else { 1.0 }).collect();
        let mut p = PoissonProblem::new(g.clone(), eps, FaceBc::Neumann);
        p.faces[0] = FaceBc::Dirichlet(0.3);
        p.boundary_cells.push(BoundaryCellBc { face: 5, cell: g.index(2, 2, 3), bc: FaceBc::Dirichlet(1.0) });
        p.fixed.push(FixedCell { cell: g.index(3, 2, 1), potential: -0.5 });
        let s = PoissonSystem::assemble(&p).unwrap();
        assert!(s.matrix.asymmetry() < 1e-12);
        assert!(!s.singular);
        assert!(nalgebra::Cholesky::new(s.matrix.to_dense()).is_some());
        let d = s.matrix_with_diagonal(&vec![1e19; g.len()]);
        let dd = d.diagonal();
        let d0 = s.matrix.diagonal();
        let fixed = g.index(3, 2, 1);
        assert_eq!(dd[fixed], d0[fixed]);
        assert!((dd[0] - d0[0] - 1e19 * PoissonSystem::charge_scale()).abs() < 1e-12);
    }

    /// Graded grid: the weighted rows make A symmetric and definite with every condition.
    #[test]
    fn graded_grid_is_symmetric_and_definite() {
        let nodes = |n: usize, s: f64| (0..=n).map(|i| s * ((i as f64) + 0.08 * (i * i) as f64)).collect::<Vec<f64>>();
        let mut g = Grid::from_nodes(&[nodes(6, 0.5), nodes(5, 0.7), nodes(4, 1.0)]);
        g.periodic = [false, true, false];
        let eps: Vec<f64> = (0..g.len()).map(|i| if i % 3 == 0 { 13.0 } else { 1.0 }).collect();
        let mut p = PoissonProblem::new(g.clone(), eps, FaceBc::Neumann);
        p.faces[0] = FaceBc::Dirichlet(0.3);
        p.fixed.push(FixedCell { cell: g.index(3, 2, 1), potential: -0.5 });
        let s = PoissonSystem::assemble(&p).unwrap();
        assert!(s.matrix.asymmetry() < 1e-12, "{}", s.matrix.asymmetry());
        assert!(nalgebra::Cholesky::new(s.matrix.to_dense()).is_some());
    }

    /// −φ'' = s ρ/εr with uniform ρ, φ = 0 at ±L/2: φ = sρ/(2εr)·(L²/4 − x²), on smoothly
    /// stretched nodes at N and 2N cells: second order in the largest error.
    #[test]
    fn graded_1d_parabola_converges_at_second_order() {
        let (l, rho, epsr) = (40.0, 1e18, 12.9);
        let s = PoissonSystem::charge_scale();
        let mut errs = Vec::new();
        for n in [40usize, 80, 160] {
            let x: Vec<f64> = (0..=n)
                .map(|i| {
                    let xi = -1.0 + 2.0 * i as f64 / n as f64;
                    l / 2.0 * (xi - 0.6 * (std::f64::consts::PI * xi).sin() / std::f64::consts::PI)
                })
                .collect();
            let g = Grid::from_nodes(&[x]);
            let p = PoissonProblem::new(g.clone(), vec![epsr; n], FaceBc::Dirichlet(0.0));
            let sys = PoissonSystem::assemble(&p).unwrap();
            let sol = sys.solve(&CpuBackend::new(), &vec![rho; n], &PoissonSolveOptions::default()).unwrap();
            let err = (0..n)
                .map(|c| {
                    let xc = g.center_coord(0, c);
                    (sol.phi[c] - s * rho / (2.0 * epsr) * (l * l / 4.0 - xc * xc)).abs()
                })
                .fold(0.0f64, f64::max);
            errs.push(err);
        }
        let peak = s * rho / (2.0 * epsr) * l * l / 4.0;
        for k in 0..2 {
            let order = (errs[k] / errs[k + 1]).log2();
            assert!(order > 1.8, "order {order} (errors {errs:?}, peak {peak} V)");
        }
        assert!(errs[2] < 1e-3 * peak, "{errs:?} vs {peak}");
    }

    #[test]
    fn bad_input_names_the_field() {
        let g = Grid::uniform(&[4, 4], &[1.0, 1.0]);
        let mut p = PoissonProblem::new(g.clone(), vec![1.0; 16], FaceBc::Neumann);
        p.faces[1] = FaceBc::Periodic;
        let e = PoissonSystem::assemble(&p).unwrap_err().to_string();
        assert!(e.contains("poisson.faces[1]"), "{e}");
        let mut p = PoissonProblem::new(g.clone(), vec![1.0; 16], FaceBc::Neumann);
        p.boundary_cells.push(BoundaryCellBc { face: 0, cell: g.index(1, 1, 0), bc: FaceBc::Dirichlet(0.0) });
        let e = PoissonSystem::assemble(&p).unwrap_err().to_string();
        assert!(e.contains("boundary_cells[0]") && e.contains("does not touch"), "{e}");
        let mut p = PoissonProblem::new(g, vec![1.0; 16], FaceBc::Neumann);
        p.eps_r[3] = -1.0;
        assert!(PoissonSystem::assemble(&p).unwrap_err().to_string().contains("eps_r[3]"));
    }

    #[test]
    fn tiny_periodic_axes_merge_couplings() {
        let mut g = Grid::uniform(&[2, 1], &[1.0, 1.0]);
        g.periodic = [true, true, false];
        let p = PoissonProblem::new(g, vec![1.0; 2], FaceBc::Neumann);
        let s = PoissonSystem::assemble(&p).unwrap();
        assert!(s.singular);
        // row sums are zero: a pure (singular) Laplacian
        let sum: Vec<f64> = s.matrix.mul_vec(&[1.0, 1.0]);
        assert!(sum.iter().all(|v| v.abs() < 1e-14), "{sum:?}");
        let be = CpuBackend::new();
        let r = s.solve(&be, &[1e18, -1e18], &PoissonSolveOptions::default()).unwrap();
        assert!(r.cg.converged);
    }
}
