//! Electrons from Schrödinger states: the 2D and 1D densities of states of the free
//! directions, the occupation of one state (a subband of a 1D or 2D problem, a level of a
//! dot), and the electron density of a set of states on the quantum region's cells.
//! Units as in `carriers`: eV, cm^-3 (per nm^(3−dim) for one state), nm, m0.

use std::f64::consts::PI;

use super::carriers::Density;
use super::fermi_dirac::{fd_minus_half, fd_minus_three_halves, fd_zero, fd_zero_derivative, fermi};
use crate::constants::{HBAR2_OVER_2M0_EV_NM2, NM3_PER_CM3};
use crate::error::{QdError, Result};

/// 2D density of states including spin, m kT/(π ħ²), nm^-2, for mass `m` (m0) and kT (eV).
pub fn dos_2d(m: f64, kt: f64) -> f64 {
    m * kt / (2.0 * PI * HBAR2_OVER_2M0_EV_NM2)
}

/// 1D effective density of states including spin, √(2 m kT/(π ħ²)), nm^-1.
pub fn dos_1d(m: f64, kt: f64) -> f64 {
    (m * kt / (PI * HBAR2_OVER_2M0_EV_NM2)).sqrt()
}

/// Electrons held by one Schrödinger state of a `d`-dimensional problem (d = 1, 2, 3)
/// embedded in 3D, and its derivative with respect to E_F (per eV):
/// - d = 3 (dot): 2 f((E − E_F)/kT) electrons (spin 2);
/// - d = 2 (wire, one free direction of mass `m_free`): N1D F_{−1/2}((E_F − E)/kT) per nm,
///   N1D = √(2 m kT/(π ħ²)) ([`dos_1d`]);
/// - d = 1 (well, two free directions): N2D ln(1 + e^{(E_F − E)/kT}) per nm², N2D = m kT/(π ħ²)
///   ([`dos_2d`]).
///
/// The value is in electrons per nm^(3−d). `m_free` (m0) is unused for d = 3.
pub fn state_occupation(d: usize, energy: f64, ef: f64, kt: f64, m_free: f64) -> Density {
    let eta = (ef - energy) / kt;
    match d {
        3 => {
            let f = fermi(-eta);
            Density { value: 2.0 * f, d_phi: 2.0 * f * fermi(eta) / kt }
        }
        2 => {
            let a = dos_1d(m_free, kt);
            Density { value: a * fd_minus_half(eta), d_phi: a * fd_minus_three_halves(eta) / kt }
        }
        1 => {
            let a = dos_2d(m_free, kt);
            Density { value: a * fd_zero(eta), d_phi: a * fd_zero_derivative(eta) / kt }
        }
        _ => Density { value: f64::NAN, d_phi: f64::NAN },
    }
}

/// Electron density of Schrödinger states per cell, cm^-3, and its derivative.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantumDensity {
    /// n per cell, cm^-3.
    pub n: Vec<f64>,
    /// dn/dE_F per cell, cm^-3 eV^-1. For a uniform shift of the potential energy,
    /// E_i → E_i − δφ, it is also dn/dφ (cm^-3 V^-1): the derivative a predictor–corrector
    /// (Trellakis et al., J. Appl. Phys. 81, 7880 (1997)) uses as the local response.
    pub dn_def: Vec<f64>,
    /// Electrons per state, per nm^(3−d) (as [`state_occupation`]).
    pub occupation: Vec<f64>,
}

/// n(r) = Σ_i |ψ_i(r)|² N_i / V_cell for the states (`energies` in eV, `states[i]` one value
/// per cell, normalised so that Σ_cells |ψ_i|² = 1, as the Lanczos eigenvectors are) of a
/// `d`-dimensional problem with cells of `cell_volume` nm^d; N_i from [`state_occupation`]
/// with in-plane mass `m_free[i]` (m0; ignored for d = 3). The result is converted from
/// nm^-3 to cm^-3 (× 1e21).
pub fn quantum_electron_density(
    d: usize,
    cell_volume: f64,
    energies: &[f64],
    states: &[&[f64]],
    m_free: &[f64],
    ef: f64,
    kt: f64,
) -> Result<QuantumDensity> {
    if !(1..=3).contains(&d) {
        return Err(QdError::Internal(format!("quantum_electron_density: dimension {d} is not 1, 2 or 3")));
    }
    if energies.len() != states.len() || (d < 3 && m_free.len() != states.len()) {
        return Err(QdError::Internal(format!(
            "quantum_electron_density: {} energies, {} states, {} masses",
            energies.len(),
            states.len(),
            m_free.len()
        )));
    }
    let cells = states.first().map_or(0, |s| s.len());
    if states.iter().any(|s| s.len() != cells) || cell_volume.is_nan() || cell_volume <= 0.0 {
        return Err(QdError::Internal("quantum_electron_density: states of different lengths or bad cell volume".into()));
    }
    let scale = NM3_PER_CM3 / cell_volume;
    let mut n = vec![0.0; cells];
    let mut dn = vec![0.0; cells];
    let mut occupation = Vec::with_capacity(states.len());
    for (i, psi) in states.iter().enumerate() {
        let m = if d < 3 { m_free[i] } else { 1.0 };
        let o = state_occupation(d, energies[i], ef, kt, m);
        occupation.push(o.value);
        let (w, dw) = (o.value * scale, o.d_phi * scale);
        for ((nc, dc), p) in n.iter_mut().zip(dn.iter_mut()).zip(psi.iter()) {
            let p2 = p * p;
            *nc += w * p2;
            *dc += dw * p2;
        }
    }
    Ok(QuantumDensity { n, dn_def: dn, occupation })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::kt_ev;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn subband_occupations_against_integrals() {
        let kt = kt_ev(77.0);
        let m = 0.067;
        let k_scale = (m * kt / HBAR2_OVER_2M0_EV_NM2).sqrt(); // nm^-1 at E = kT
        for (e, ef) in [(0.0, -0.05), (0.0, 0.0), (0.01, 0.05), (0.2, 0.0)] {
            // d = 1 (well): (1/π) ∫ k f(E + ħ²k²/2m) dk  per nm²
            // d = 2 (wire): (2/π) ∫ f dk  per nm
            let kmax = k_scale * (((ef - e) / kt).max(0.0) + 40.0).sqrt();
            let n = 200_000;
            let h = kmax / n as f64;
            let (mut s1, mut s2) = (0.0, 0.0);
            for i in 0..=n {
                let k = i as f64 * h;
                let w = if i == 0 || i == n { 0.5 } else { 1.0 };
                let f = fermi((e + HBAR2_OVER_2M0_EV_NM2 * k * k / m - ef) / kt);
                s1 += w * k * f;
                s2 += w * f;
            }
            let well = s1 * h / PI;
            let wire = 2.0 * s2 * h / PI;
            assert!(rel(state_occupation(1, e, ef, kt, m).value, well) < 1e-7, "well {e} {ef}");
            assert!(rel(state_occupation(2, e, ef, kt, m).value, wire) < 1e-7, "wire {e} {ef}");
            assert!(rel(state_occupation(3, e, ef, kt, m).value, 2.0 * fermi((e - ef) / kt)) < 1e-15);
            // derivatives in E_F
            let dh = 1e-6;
            for d in 1..=3 {
                let o = state_occupation(d, e, ef, kt, m);
                let fdiff = (state_occupation(d, e, ef + dh, kt, m).value - state_occupation(d, e, ef - dh, kt, m).value) / (2.0 * dh);
                assert!(rel(o.d_phi, fdiff) < 1e-6, "d {d}");
            }
        }
        // GaAs 2D density of states at 300 K: 7.2e11 cm^-2 per kT... m kT/πħ² = 7.23e-3 nm^-2
        assert!(rel(dos_2d(0.067, kt_ev(300.0)), 7.23e-3) < 2e-3, "{}", dos_2d(0.067, kt_ev(300.0)));
    }

    #[test]
    fn quantum_density_sums_to_the_occupations() {
        // 1D problem (a well along x), 50 cells of 0.4 nm: two normalised states
        let cells = 50;
        let h: f64 = 0.4;
        let s1: Vec<f64> = (0..cells).map(|i| ((i as f64 + 0.5) * PI / cells as f64).sin()).collect();
        let s2: Vec<f64> = (0..cells).map(|i| (2.0 * (i as f64 + 0.5) * PI / cells as f64).sin()).collect();
        let norm = |v: Vec<f64>| {
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.into_iter().map(|x| x / n).collect::<Vec<_>>()
        };
        let (s1, s2) = (norm(s1), norm(s2));
        let kt = kt_ev(300.0);
        let e = [0.02, 0.08];
        for d in 1..=3 {
            let vol = h.powi(d as i32);
            let q = quantum_electron_density(d, vol, &e, &[&s1, &s2], &[0.067, 0.067], 0.05, kt).unwrap();
            // Σ n V_cell (cm^-3 → nm^-3) = Σ_i N_i
            let total: f64 = q.n.iter().sum::<f64>() * vol / NM3_PER_CM3;
            let want: f64 = e.iter().map(|&ei| state_occupation(d, ei, 0.05, kt, 0.067).value).sum();
            assert!(rel(total, want) < 1e-12, "d {d}: {total} vs {want}");
            assert_eq!(q.occupation.len(), 2);
            let dtotal: f64 = q.dn_def.iter().sum::<f64>() * vol / NM3_PER_CM3;
            let dwant: f64 = e.iter().map(|&ei| state_occupation(d, ei, 0.05, kt, 0.067).d_phi).sum();
            assert!(rel(dtotal, dwant) < 1e-12);
        }
        // a 2D-sheet check of units: one state of a well holding N2D ln(1+e^η) per nm²
        // spread over one 1 nm cell gives that density ×1e21 cm^-3... per nm of thickness
        let one = [1.0];
        let q = quantum_electron_density(1, 1.0, &[0.0], &[&one], &[0.067], 0.0, kt).unwrap();
        assert!(rel(q.n[0], dos_2d(0.067, kt) * 2f64.ln() * 1e21) < 1e-14);
        assert!(quantum_electron_density(4, 1.0, &[0.0], &[&one], &[0.067], 0.0, kt).is_err());
        assert!(quantum_electron_density(1, 1.0, &[0.0, 1.0], &[&one], &[0.067], 0.0, kt).is_err());
    }
}
