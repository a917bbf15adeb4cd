//! First-order piezoelectricity of zincblende crystals: the polarization of a strain field,
//! its bound charge and the potential of that charge.
//!
//! **Units at this boundary:** strains dimensionless, e14 and P in C/m², charge densities in
//! cm⁻³ of elementary charges (the convention of [`crate::physics::poisson`]), lengths nm,
//! potentials V.
//!
//! **Model.** With the cubic axes along the grid axes, the only first-order piezoelectric
//! constant of the zincblende point group (T_d) is e14, and in Voigt notation
//! P_i = e14 ε_jk with ε_4 = 2ε_yz etc., i.e.
//! P_x = 2 e14 ε_yz, P_y = 2 e14 ε_xz, P_z = 2 e14 ε_xy.
//! The sign of e14 depends on which sublattice sits at the origin; the database's values
//! (GaAs −0.16, InAs −0.045 C/m²) are the experimental ones as quoted by Bester, Wu,
//! Vanderbilt and Zunger, PRL 96, 187602 (2006) and used by Grundmann, Stier and Bimberg,
//! PRB 52, 11969 (1995), with P = e14 ε_4 as written here: a material file giving e14 in the
//! opposite convention flips the sign of the potential (not its magnitude or pattern).
//! Second-order terms (Bester et al.: comparable in size for InAs/GaAs dots, of the opposite
//! sign) and the spontaneous polarization (zero in zincblende) are not included.
//!
//! **Bound charge** ρ = −∇·P by finite volumes on the cells: per axis the flux of P through
//! a face is the mean of the two cells' normal components, so a jump of e14 or of the shear
//! at an interface gives its sheet charge, split between the two cells beside it (the total
//! is exact). Outer faces of non-periodic axes ([`PiezoBoundary`]): `Dirichlet` takes the
//! boundary cell's P on the face (the domain is a piece of a larger crystal: no surface
//! charge at the domain's faces), `Neumann` takes zero (the crystal ends there, its surface
//! charge is in the boundary cells; the total bound charge is then exactly zero, as the
//! zero-normal-field Poisson problem needs). Periodic axes wrap. Absent axes carry no
//! derivative.
//!
//! **Potential:** −∇·(ε0 ε_r ∇φ) = ρ with the cells' ε_r (harmonic mean at faces), by the
//! Poisson solver of [`crate::physics::poisson`] on a [`Backend`]: φ = 0 on the outer faces
//! (`Dirichlet`, the default), or zero normal field (`Neumann`, φ of zero mean).

use std::time::Instant;

use crate::constants::{CM3_PER_M3, NM_PER_M, Q_SI};
use crate::error::{QdError, Result};
use crate::grid::Grid;
use crate::linalg::cg::CgResult;
use crate::linalg::Backend;
use crate::physics::poisson::{self, PoissonProblem, PoissonSolveOptions, PoissonSystem};

/// The electrical condition on the non-periodic outer faces (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiezoBoundary {
    /// φ = 0 on the faces, the polarization continues beyond them.
    Dirichlet,
    /// Zero normal displacement field: no polarization flux through the faces.
    Neumann,
}

impl PiezoBoundary {
    pub fn as_str(self) -> &'static str {
        match self {
            PiezoBoundary::Dirichlet => "dirichlet",
            PiezoBoundary::Neumann => "neumann",
        }
    }
}

/// (C/m²)/nm = 10⁹ C/m³ as elementary charges per cm³.
fn cm3_per_c_m2_nm() -> f64 {
    NM_PER_M / Q_SI / CM3_PER_M3
}

/// First-order polarization per cell, C/m²: P = 2 e14 (ε_yz, ε_xz, ε_xy), strain in the
/// order xx, yy, zz, yz, xz, xy.
pub fn polarization(e14: &[f64], strain: &[[f64; 6]]) -> Vec<[f64; 3]> {
    e14.iter().zip(strain).map(|(&e, s)| [2.0 * e * s[3], 2.0 * e * s[4], 2.0 * e * s[5]]).collect()
}

/// The bound charge −∇·P per cell, cm⁻³ of elementary charges, for P in C/m².
pub fn bound_charge(grid: &Grid, p: &[[f64; 3]], boundary: PiezoBoundary) -> Vec<f64> {
    let scale = cm3_per_c_m2_nm();
    (0..grid.len())
        .map(|c| {
            let ijk = grid.ijk(c);
            let mut div = 0.0;
            for a in 0..grid.dim {
                let (na, stride) = (grid.n[a], grid.stride(a));
                let own = p[c][a];
                // the normal P through the lower and the upper face
                let face = |dir: i64| -> f64 {
                    let pos = ijk[a] as i64 + dir;
                    let d = if pos >= 0 && (pos as usize) < na {
                        Some((c as i64 + dir * stride as i64) as usize)
                    } else if grid.periodic[a] {
                        Some(c - ijk[a] * stride + if pos < 0 { na - 1 } else { 0 } * stride)
                    } else {
                        None
                    };
                    match (d, boundary) {
                        // graded grids: interpolated linearly between the centres to the face
                        (Some(d), _) if grid.is_graded() => {
                            let (wc, wd) = (grid.width(a, ijk[a]), grid.width(a, grid.ijk(d)[a]));
                            (wd * own + wc * p[d][a]) / (wc + wd)
                        }
                        (Some(d), _) => 0.5 * (own + p[d][a]),
                        (None, PiezoBoundary::Dirichlet) => own,
                        (None, PiezoBoundary::Neumann) => 0.0,
                    }
                };
                let w = if grid.is_graded() { grid.width(a, ijk[a]) } else { grid.h[a] };
                div += (face(1) - face(-1)) / w;
            }
            -div * scale
        })
        .collect()
}

/// The piezoelectric problem of a strained grid.
#[derive(Clone, Debug)]
pub struct PiezoProblem {
    pub grid: Grid,
    /// Relative permittivity per cell.
    pub eps_r: Vec<f64>,
    /// e14 per cell, C/m² (volume-averaged over the fills).
    pub e14: Vec<f64>,
    pub boundary: PiezoBoundary,
}

/// Polarization, bound charge and potential of a strain field.
#[derive(Clone, Debug)]
pub struct PiezoSolution {
    /// C/m² per cell.
    pub polarization: Vec<[f64; 3]>,
    /// Bound charge, cm⁻³ of elementary charges.
    pub charge_cm3: Vec<f64>,
    /// Piezoelectric potential, V.
    pub phi: Vec<f64>,
    pub cg: CgResult,
    pub solve_s: f64,
}

impl PiezoProblem {
    /// Polarization, charge and the Poisson solve for `strain` (per cell xx, yy, zz, yz,
    /// xz, xy). Non-convergence is not an error: `cg.converged` says so. A strain without
    /// shear gives φ = 0 without a solve.
    pub fn solve<B: Backend>(&self, be: &B, strain: &[[f64; 6]], opts: &PoissonSolveOptions) -> Result<PiezoSolution> {
        let n = self.grid.len();
        if self.eps_r.len() != n || self.e14.len() != n || strain.len() != n {
            return Err(QdError::Internal("piezo: per-cell arrays of the wrong length".into()));
        }
        let t0 = Instant::now();
        let polarization = polarization(&self.e14, strain);
        let charge_cm3 = bound_charge(&self.grid, &polarization, self.boundary);
        if charge_cm3.iter().all(|&q| q == 0.0) {
            let cg = CgResult { iterations: 0, relative_residual: 0.0, converged: true };
            return Ok(PiezoSolution { polarization, charge_cm3, phi: vec![0.0; n], cg, solve_s: t0.elapsed().as_secs_f64() });
        }
        let bc = match self.boundary {
            PiezoBoundary::Dirichlet => poisson::FaceBc::Dirichlet(0.0),
            PiezoBoundary::Neumann => poisson::FaceBc::Neumann,
        };
        let system = PoissonSystem::assemble(&PoissonProblem::new(self.grid.clone(), self.eps_r.clone(), bc))?;
        let sol = system.solve(be, &charge_cm3, opts)?;
        Ok(PiezoSolution { polarization, charge_cm3, phi: sol.phi, cg: sol.cg, solve_s: t0.elapsed().as_secs_f64() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uniform_shear_has_charge_only_where_it_ends() {
        // 1D along x with uniform ε_yz: P_x uniform, no charge inside; Dirichlet takes the
        // cell's P on the faces (no charge at all), Neumann puts ∓P/h into the end cells
        let g = Grid::uniform(&[8], &[0.5]);
        let e = vec![[0.0, 0.0, 0.0, 0.01, 0.0, 0.0]; 8];
        let p = polarization(&[-0.16; 8], &e);
        assert!((p[0][0] + 2.0 * 0.16 * 0.01).abs() < 1e-15);
        assert!(bound_charge(&g, &p, PiezoBoundary::Dirichlet).iter().all(|&q| q == 0.0));
        let q = bound_charge(&g, &p, PiezoBoundary::Neumann);
        let want = p[0][0] / 0.5 * cm3_per_c_m2_nm(); // −∇·P of the last cell; the first has minus that
        assert!((q[0] + want).abs() < 1e-9 * want.abs() && (q[7] - want).abs() < 1e-9 * want.abs(), "{q:?}");
        assert!(q[1..7].iter().all(|&v| v == 0.0));
        assert!(q.iter().sum::<f64>().abs() < 1e-9 * want.abs());
        // 0.0032 C/m² over 0.5 nm: 6.4e-3 C/m³·1e9 / q / 1e6 ≈ 4.0e19 cm⁻³
        assert!((want.abs() - 3.9946e19).abs() < 1e16, "{want:e}");
    }
}
