//! Physical constants, all in one place.
//!
//! SI values are CODATA 2018 (exact where the SI defines them). Internal units of the
//! solver are nanometres (nm) for length and electronvolts (eV) for energy; masses are in
//! units of the free-electron mass m0.

/// Reduced Planck constant, J s.
pub const HBAR_SI: f64 = 1.054_571_817e-34;
/// Electron rest mass, kg.
pub const M0_SI: f64 = 9.109_383_7015e-31;
/// Elementary charge, C (also J per eV).
pub const Q_SI: f64 = 1.602_176_634e-19;
/// Boltzmann constant, J/K.
pub const KB_SI: f64 = 1.380_649e-23;
/// Vacuum permittivity, F/m.
pub const EPS0_SI: f64 = 8.854_187_8128e-12;

/// Boltzmann constant in eV/K.
pub const KB_EV: f64 = KB_SI / Q_SI;

/// ħ²/(2 m0) in eV nm² (= 0.0380998... eV nm²): the kinetic prefactor of the
/// effective-mass equation in internal units; divide by the relative mass m*/m0.
pub const HBAR2_OVER_2M0_EV_NM2: f64 = HBAR_SI * HBAR_SI / (2.0 * M0_SI) / Q_SI * 1e18;

/// nm³ in one cm³ (1 cm = 1e7 nm): a density in nm^-3 times this is in cm^-3.
pub const NM3_PER_CM3: f64 = 1e21;
/// nm in one m: a gradient per nm times this is per m.
pub const NM_PER_M: f64 = 1e9;
/// cm³ in one m³: a density in m^-3 divided by this is in cm^-3.
pub const CM3_PER_M3: f64 = 1e6;

/// Thermal energy k_B T in eV at temperature `t_kelvin` (K).
#[inline]
pub fn kt_ev(t_kelvin: f64) -> f64 {
    KB_EV * t_kelvin
}

/// q/ε0 in V nm: the source factor of Poisson's equation in internal units
/// (−∇·(εr ∇φ) = (q/ε0) ρ̃ with φ in V, lengths in nm, ρ̃ a number density in nm⁻³);
/// ≈ 18.0951 V nm.
pub const Q_OVER_EPS0_V_NM: f64 = Q_SI / EPS0_SI * 1e9;

// Numerical tolerances of the cut-cell geometry (grid::interface), as fractions of the
// cell's spacing along the axis concerned (dimensionless).

/// An interface crossing on a sampling line is located by bisection on the shapes' inside
/// test to this fraction of the spacing (2^-20 ≈ 1e-6), far below the O(h²) error of the
/// scheme at any spacing the grid can hold.
pub const INTERFACE_BISECTION_TOL: f64 = 1.0 / 1048576.0;
/// Growth factor of the cell widths away from a refinement zone (`domain.refine`): the
/// wanted width at distance d from a zone of spacing h is h + ln(GRADING_RATIO)·d, so
/// neighbouring cells differ by at most this factor (a smooth grading keeps the
/// finite-volume scheme second order; abrupt jumps make it first order at the jump).
pub const GRADING_RATIO: f64 = 1.3;
/// A cut cell's interface is reconstructed as a plane when the crossings of its sampling
/// lines deviate from their least-squares plane by at most this fraction of the spacing
/// (a sphere of radius R deviates by about h/(8R/h)); beyond it (an edge or corner of a
/// shape, a third fill) the cell falls back to integration along the lines.
pub const INTERFACE_PLANE_FIT_TOL: f64 = 0.1;
/// Half-length of the search for a plane's crossings along a sampling line, in spacings
/// from the cell centre: a plane through the cell whose normal is closest to the line's
/// axis crosses every line of the cell within 1 + √2/2 ≈ 1.7 spacings of the centre.
pub const INTERFACE_SEARCH_HALF_LENGTH: f64 = 2.0;
/// Sample points per spacing along a search line before bisection.
pub const INTERFACE_SEARCH_SAMPLES_PER_H: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn kinetic_prefactor() {
        assert!((HBAR2_OVER_2M0_EV_NM2 - 0.038_099_82).abs() < 1e-8);
        assert!((KB_EV - 8.617_333e-5).abs() < 1e-10);
        assert!((Q_OVER_EPS0_V_NM - 18.095_13).abs() < 1e-4);
    }
}
