//! Analytic and tabulated potentials added to the band edge (eV), evaluated at cell
//! centres. Positive values raise the carrier's energy.

use std::path::Path;

use crate::constants::HBAR2_OVER_2M0_EV_NM2;
use crate::error::{QdError, Result};
use crate::grid::{shapes, Grid};
use crate::scene::{Potential, Spacing};

/// Spring constant k (eV/nm²) of an oscillator with level spacing ħω (eV) for a carrier
/// of mass m (m0): k = m ω² = m (ħω)² / ħ².
pub fn spring_constant_from_hbar_omega(hbar_omega_ev: f64, mass_m0: f64) -> f64 {
    mass_m0 * hbar_omega_ev * hbar_omega_ev / (2.0 * HBAR2_OVER_2M0_EV_NM2)
}

/// Add potential `p` (the scene's `potentials[index]`) to `v` on the grid.
/// `default_mass` (m0) is used by a harmonic potential given by ħω without a mass;
/// `base_dir` resolves a tabulated potential's file.
pub fn add_potential(p: &Potential, index: usize, grid: &Grid, default_mass: f64, base_dir: &Path, v: &mut [f64]) -> Result<()> {
    let path = |f: &str| format!("potentials[{index}].{f}");
    let center_of = |c: &Option<Vec<f64>>| -> [f64; 3] { c.as_deref().map(shapes::pad).unwrap_or([0.0; 3]) };
    match p {
        Potential::Harmonic { center, hbar_omega, spring_constant, mass, axes } => {
            let k = match (hbar_omega, spring_constant) {
                (Some(w), None) => spring_constant_from_hbar_omega(*w, mass.unwrap_or(default_mass)),
                (None, Some(k)) => *k,
                _ => return Err(QdError::input(format!("potentials[{index}]"), "give exactly one of \"hbar_omega\" (eV) and \"spring_constant\" (eV/nm²)")),
            };
            let c = center_of(center);
            let active: Vec<usize> = match axes {
                Some(ax) => ax.iter().map(|a| a.index()).filter(|&a| a < grid.dim).collect(),
                None => (0..grid.dim).collect(),
            };
            for (idx, vi) in v.iter_mut().enumerate() {
                let r = grid.center(idx);
                let r2: f64 = active.iter().map(|&a| (r[a] - c[a]).powi(2)).sum();
                *vi += 0.5 * k * r2;
            }
        }
        Potential::Gaussian { center, depth, sigma } => {
            let c = center_of(center);
            let s: [f64; 3] = match sigma {
                Spacing::Uniform(s) => [*s; 3],
                Spacing::PerAxis(sv) => {
                    if sv.len() != grid.dim {
                        return Err(QdError::input(path("sigma"), format!("has {} entries, the domain has {} axes", sv.len(), grid.dim)));
                    }
                    shapes::pad(sv)
                }
            };
            for (idx, vi) in v.iter_mut().enumerate() {
                let r = grid.center(idx);
                let q: f64 = (0..grid.dim).map(|a| ((r[a] - c[a]) / s[a]).powi(2)).sum();
                *vi -= depth * (-0.5 * q).exp();
            }
        }
        Potential::SquareWell { depth, shape } => {
            // volume fractions in cells the shape's surface cuts, as for material regions
            let map = crate::grid::MaterialMap::paint(grid, &[shape], crate::pipeline::SUBSAMPLES);
            for (vi, w) in v.iter_mut().zip(map.average(&[0.0, *depth])) {
                *vi -= w;
            }
        }
        Potential::File { path: file, scale } => {
            let full = if file.is_absolute() { file.clone() } else { base_dir.join(file) };
            // a regular file of exactly the header plus one value per cell, with the grid's
            // shape, checked from the header before the data is read
            let data = crate::output::npy::read_npy_shaped(&full, &grid.dims()).map_err(|r| QdError::input(path("path"), r))?;
            if let Some(bad) = data.iter().position(|x| !x.is_finite()) {
                return Err(QdError::input(path("path"), format!("{} holds a non-finite value at flat index {bad}", full.display())));
            }
            for (vi, d) in v.iter_mut().zip(&data) {
                *vi += scale * d;
            }
        }
    }
    Ok(())
}
