//! Box-integration (cell-centred finite-volume) discretisation of
//! −∇·(ħ²/(2 m*(r)) ∇ψ) + V(r) ψ = E ψ.
//!
//! Integrating over cell c and applying Gauss's theorem gives, per face f between c and
//! its neighbour d along an axis of spacing h, the flux a_f (ψ_d − ψ_c)/h through the face
//! area; dividing by the cell volume, the face contributes −a_f/h² off the diagonal and
//! +a_f/h² on it. The face coefficient a_f = ħ²/(2 m_f) is the harmonic mean of the two
//! cells' a = ħ²/(2m*), which is what continuity of ψ and of (1/m*)∂ψ/∂n across the face
//! (BenDaniel–Duke) demands: the two half-cells act as conductances in series.
//!
//! Outer faces: ψ = 0 on the face (the boundary lies half a cell beyond the last centre),
//! flux a_c (0 − ψ_c)/(h/2), i.e. +2 a_c/h² on the diagonal; or periodic (the face couples
//! to the cell on the opposite side). The matrix is symmetric.
//!
//! Graded grids (cell widths w varying per axis): the box integration gives the generalised
//! problem A ψ = E V ψ with V the diagonal of cell volumes and, per face of area S between
//! cells c and d, the flux S·G·(ψ_d − ψ_c), G the series conductance of the two half
//! cells, 1 / (w_c/(2a_c) + w_d/(2a_d)) (or a_f / ((w_c + w_d)/2) with a sampled face
//! coefficient a_f). It is assembled symmetrised, H = V^(-1/2) A V^(-1/2), for φ = V^(1/2) ψ:
//! off the diagonal −G/√(w_c w_d), on it U_c + Σ G/w_c (+ 2a_c/w_c² per outer face): still
//! a symmetric 7-point stencil, so the backends, the stencil layout and multigrid run
//! unchanged, and Σ φ² = 1 is Σ |ψ|² V = 1. On a uniform grid this is the formula above.
//!
//! Without periodic faces the matrix is a symmetric nearest-neighbour stencil on the grid,
//! and it carries that layout ([`StencilLayout`]) for the backends that store it so.

use crate::grid::Grid;
use crate::linalg::stencil::StencilLayout;
use crate::linalg::CsrMatrix;

/// Face coefficients that replace the harmonic mean of the two cells, keyed by
/// (cell, axis) for the face between `cell` and its upper neighbour along `axis`.
pub type FaceCoefficients = std::collections::HashMap<(usize, usize), f64>;

/// Assemble H. `kinetic[c]` = ħ²/(2 m*(c)) in eV nm² per cell; `potential[c]` in eV.
pub fn assemble_hamiltonian(grid: &Grid, kinetic: &[f64], potential: &[f64]) -> CsrMatrix {
    assemble_hamiltonian_with_faces(grid, kinetic, potential, &FaceCoefficients::new())
}

/// Assemble H with some face coefficients given explicitly (faces cut by an interface,
/// from [`crate::grid::MaterialMap::face_coefficients`]); other faces take the harmonic
/// mean of their two cells.
pub fn assemble_hamiltonian_with_faces(grid: &Grid, kinetic: &[f64], potential: &[f64], faces: &FaceCoefficients) -> CsrMatrix {
    let n = grid.len();
    assert_eq!(kinetic.len(), n);
    assert_eq!(potential.len(), n);
    let dim = grid.dim;
    let graded = grid.is_graded();
    let mut h = CsrMatrix::from_rows(n, n, 1 + 2 * dim, |idx, row| {
        let ijk = grid.ijk(idx);
        let ac = kinetic[idx];
        let mut diag = potential[idx];
        for a in 0..dim {
            let h2 = grid.h[a] * grid.h[a];
            for dir in [-1i64, 1] {
                let nb = grid.neighbour(idx, &ijk, a, dir);
                if graded {
                    let wc = grid.width(a, ijk[a]);
                    match nb {
                        Some(d) => {
                            let ad = kinetic[d];
                            let wd = grid.width(a, grid.ijk(d)[a]);
                            let key = if dir > 0 { (idx, a) } else { (d, a) };
                            let g = match faces.get(&key) {
                                Some(&f) => f / (0.5 * (wc + wd)),
                                None if ac + ad > 0.0 => 2.0 * ac * ad / (wc * ad + wd * ac),
                                None => 0.0,
                            };
                            diag += g / wc;
                            row.push((d as u32, -g / (wc * wd).sqrt()));
                        }
                        None => diag += 2.0 * ac / (wc * wc),
                    }
                    continue;
                }
                match nb {
                    Some(d) => {
                        let ad = kinetic[d];
                        let key = if dir > 0 { (idx, a) } else { (d, a) };
                        let af = match faces.get(&key) {
                            Some(&f) => f,
                            None if ac + ad > 0.0 => 2.0 * ac * ad / (ac + ad),
                            None => 0.0,
                        };
                        diag += af / h2;
                        row.push((d as u32, -af / h2));
                    }
                    None => diag += 2.0 * ac / h2,
                }
            }
        }
        row.push((idx as u32, diag));
    });
    // periodic faces couple opposite sides: not a stencil layout (nor is a single cell)
    h.stencil = (n >= 2 && (0..dim).all(|a| !grid.periodic[a])).then_some(StencilLayout { dims: grid.n });
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_with_mass_steps_and_periodic() {
        let mut g = Grid::uniform(&[5, 4, 3], &[0.5, 0.7, 1.0]);
        g.periodic = [true, false, true];
        let kin: Vec<f64> = (0..g.len()).map(|i| 0.02 + 0.01 * (i % 3) as f64).collect();
        let pot: Vec<f64> = (0..g.len()).map(|i| 0.1 * (i % 5) as f64).collect();
        let h = assemble_hamiltonian(&g, &kin, &pot);
        assert!(h.asymmetry() < 1e-15);
        assert_eq!(h.nnz(), g.len() * 7 - 2 * 5 * 3);
        assert_eq!(h.stencil, None, "periodic faces are not a stencil layout");
    }

    #[test]
    fn the_assembled_layout_is_the_detected_stencil() {
        use crate::linalg::stencil::StencilMatrix;
        for n in [vec![9], vec![4, 6], vec![1, 5], vec![3, 4, 5], vec![1, 4, 3], vec![4, 1, 3], vec![1, 1, 6]] {
            let g = Grid::uniform(&n, &vec![0.5; n.len()]);
            let kin: Vec<f64> = (0..g.len()).map(|i| 0.02 + 0.01 * (i % 3) as f64).collect();
            let pot: Vec<f64> = (0..g.len()).map(|i| 0.1 * (i % 5) as f64).collect();
            let h = assemble_hamiltonian(&g, &kin, &pot);
            let layout = h.stencil.unwrap_or_else(|| panic!("{n:?}: no layout"));
            let (s, d) = (StencilMatrix::from_layout(&h, layout), StencilMatrix::detect(&h).unwrap());
            let x: Vec<f64> = (0..h.nrows).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
            assert_eq!(s.mul_vec(&x), h.mul_vec(&x), "{n:?}");
            assert_eq!(s.mul_vec(&x), d.mul_vec(&x), "{n:?}");
        }
    }

    #[test]
    fn infinite_well_1d_second_order() {
        // E1 = π² a / L² for a box of width L
        let a = 0.5;
        let l = 10.0;
        let exact = std::f64::consts::PI.powi(2) * a / (l * l);
        let mut errs = Vec::new();
        for n in [50usize, 100] {
            let g = Grid::uniform(&[n], &[l / n as f64]);
            let h = assemble_hamiltonian(&g, &vec![a; n], &vec![0.0; n]);
            let (vals, _) = crate::linalg::dense::lowest_eigenpairs(&h, 1);
            errs.push((vals[0] - exact).abs() / exact);
        }
        let order = (errs[0] / errs[1]).log2();
        assert!(order > 1.9 && order < 2.1, "order {order}, errors {errs:?}");
    }
}
