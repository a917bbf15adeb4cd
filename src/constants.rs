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
