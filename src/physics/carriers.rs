//! Semiconductor statistics: effective densities of states, classical carrier and
//! ionised-dopant densities with their derivatives, the charge-neutral potential (the
//! built-in value of an Ohmic contact) and the contacts' boundary values. Pure functions;
//! the Poisson and self-consistent solvers are built on them. The Fermi–Dirac integrals
//! are in `fermi_dirac`, the electrons of Schrödinger states in `quantum_charge` (both
//! re-exported here).
//!
//! Units and sign conventions:
//! - Energies in eV, the electrostatic potential φ in V, temperatures in K, densities in
//!   cm^-3, lengths in nm, masses in m0. kT is in eV ([`kt_ev`]).
//! - Band edges shift with φ as Ec(r) = Ec0(r) − φ(r), Ev(r) = Ev0(r) − φ(r) (eV, the
//!   electron charge is −q), with Ec0, Ev0 the unbiased edges of the materials on their common
//!   energy scale ([`Material::ec`], [`Material::ev`]).
//! - The Fermi level E_F is on the same scale; in equilibrium at zero bias it is E_F = 0 and φ
//!   absorbs the offset. A contact at voltage V has the Fermi level −V (eV).
//! - "Derivative" means d/dφ in cm^-3 per V unless named otherwise.
//!
//! Fermi–Dirac integrals are the normalised ones ([`fermi_dirac`](super::fermi_dirac)),
//! F_j(η) = 1/Γ(j+1) ∫_0^∞ x^j/(1+e^{x−η}) dx.

use std::f64::consts::PI;

pub use super::fermi_dirac::{
    fd_half, fd_half_inverse, fd_minus_half, fd_minus_three_halves, fd_zero, fd_zero_derivative, fermi, ln_fd_half,
};
pub use super::quantum_charge::{dos_1d, dos_2d, quantum_electron_density, state_occupation, QuantumDensity};

use crate::constants::{kt_ev, CM3_PER_M3, HBAR_SI, KB_SI, M0_SI};
use crate::error::{QdError, Result};
use crate::materials::Material;
use crate::scene::{Doping, Statistics};

/// Degeneracy factor of donor levels (spin: 2).
pub const DONOR_DEGENERACY: f64 = 2.0;
/// Degeneracy factor of acceptor levels (spin and the two degenerate valence bands at Γ: 4).
pub const ACCEPTOR_DEGENERACY: f64 = 4.0;

// ---------------------------------------------------------------------------------------
// Densities of states
// ---------------------------------------------------------------------------------------

/// Effective density of states 2 (m kT / (2π ħ²))^{3/2}, cm^-3, for a band of mass `mass`
/// (m0) at `t` K.
pub fn effective_dos(mass: f64, t: f64) -> f64 {
    let m = mass * M0_SI;
    let x = m * KB_SI * t / (2.0 * PI * HBAR_SI * HBAR_SI); // m^-2
    2.0 * x.powf(1.5) / CM3_PER_M3
}

/// Hole density-of-states mass (m_hh^{3/2} + m_lh^{3/2})^{2/3}, m0 (split-off band
/// neglected).
pub fn hole_dos_mass(m: &Material) -> f64 {
    (m.mhh.powf(1.5) + m.mlh.powf(1.5)).powf(2.0 / 3.0)
}

/// Nc of a material at `t` K, cm^-3 (the Γ-valley mass `me`).
pub fn nc(m: &Material, t: f64) -> f64 {
    effective_dos(m.me, t)
}

/// Nv of a material at `t` K, cm^-3 (heavy and light holes).
pub fn nv(m: &Material, t: f64) -> f64 {
    effective_dos(hole_dos_mass(m), t)
}

/// Intrinsic density n_i = √(Nc Nv) exp(−Eg(T)/2kT), cm^-3 (Boltzmann statistics).
pub fn intrinsic_density(m: &Material, t: f64) -> f64 {
    (nc(m, t) * nv(m, t)).sqrt() * (-m.band_gap(t) / (2.0 * kt_ev(t))).exp()
}

/// A semiconductor's band parameters in one cell: unbiased band edges (eV) and effective
/// densities of states (cm^-3). For a cut cell, pass volume-averaged values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bands {
    /// Conduction-band edge Ec0, eV.
    pub ec0: f64,
    /// Valence-band edge Ev0, eV.
    pub ev0: f64,
    /// Nc, cm^-3.
    pub nc: f64,
    /// Nv, cm^-3.
    pub nv: f64,
}

impl Bands {
    /// The bands of `m` at `t` K.
    pub fn of(m: &Material, t: f64) -> Bands {
        Bands { ec0: m.ec(t), ev0: m.ev(t), nc: nc(m, t), nv: nv(m, t) }
    }
}

// ---------------------------------------------------------------------------------------
// Classical densities
// ---------------------------------------------------------------------------------------

/// A density (cm^-3) and its derivative with respect to φ (cm^-3 V^-1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Density {
    pub value: f64,
    pub d_phi: f64,
}

/// Electron density n = Nc F_{1/2}(η) (or Nc e^η), η = (E_F − Ec0 + φ)/kT.
pub fn electron_density(stat: Statistics, nc: f64, ec0: f64, phi: f64, ef: f64, kt: f64) -> Density {
    let eta = (ef - ec0 + phi) / kt;
    match stat {
        Statistics::FermiDirac => Density { value: nc * fd_half(eta), d_phi: nc * fd_minus_half(eta) / kt },
        Statistics::Boltzmann => {
            let n = nc * eta.exp();
            Density { value: n, d_phi: n / kt }
        }
    }
}

/// Hole density p = Nv F_{1/2}(η) (or Nv e^η), η = (Ev0 − φ − E_F)/kT; d_phi < 0.
pub fn hole_density(stat: Statistics, nv: f64, ev0: f64, phi: f64, ef: f64, kt: f64) -> Density {
    let eta = (ev0 - phi - ef) / kt;
    match stat {
        Statistics::FermiDirac => Density { value: nv * fd_half(eta), d_phi: -nv * fd_minus_half(eta) / kt },
        Statistics::Boltzmann => {
            let p = nv * eta.exp();
            Density { value: p, d_phi: -p / kt }
        }
    }
}

/// Electrons of the conduction band above a cut energy E_cut, cm⁻³: n_> = Nc·(2/√π)
/// ∫_b^∞ √ε f(ε − η) dε with η = (E_F − Ec0 + φ)/kT and b = (E_cut − Ec)/kT in units of kT
/// (f the Fermi–Dirac occupation 1/(1 + e^x), or e^(−x) for Boltzmann). b ≤ 0 gives the
/// whole band, exactly [`electron_density`]; `d_phi` is ∂n_>/∂φ at fixed b. This is the
/// classical continuum that completes the bound Schrödinger states of a quantum region
/// (see [`crate::physics::device::DeviceModel::charge`]).
pub fn continuum_electron_density(stat: Statistics, nc: f64, ec0: f64, phi: f64, ef: f64, kt: f64, b: f64) -> Density {
    if !(b > 0.0) {
        return electron_density(stat, nc, ec0, phi, ef, kt);
    }
    let eta = (ef - ec0 + phi) / kt;
    // ε = b + u²: ∫_0^∞ 2u √(b + u²) f(b + u² − η) du by composite Simpson on [0, u₁],
    // [u₁, u₂] and [u₂, u₃]: u₁ at the Fermi step (degenerate case), u₂ a dozen kT above it,
    // u₃ where f < e^(−60)
    let c = eta - b;
    let u1 = c.max(0.0).sqrt();
    let u2 = (c.max(0.0) + 12.0).sqrt();
    let u3 = (c.max(0.0) + 60.0).sqrt();
    let occ = |x: f64| -> (f64, f64) {
        // (f, f(1 − f)) at x = ε − η
        match stat {
            Statistics::FermiDirac => {
                let f = fermi(x);
                (f, f * fermi(-x))
            }
            Statistics::Boltzmann => {
                let f = (-x).exp();
                (f, f)
            }
        }
    };
    let mut value = 0.0;
    let mut slope = 0.0;
    const INTERVALS: usize = 128; // even
    for (lo, hi) in [(0.0, u1), (u1, u2), (u2, u3)] {
        if hi <= lo {
            continue;
        }
        let h = (hi - lo) / INTERVALS as f64;
        for k in 0..=INTERVALS {
            let u = lo + k as f64 * h;
            let w = if k == 0 || k == INTERVALS { 1.0 } else if k % 2 == 1 { 4.0 } else { 2.0 };
            let jac = 2.0 * u * (b + u * u).sqrt();
            let (f, df) = occ(u * u - c);
            value += w * h / 3.0 * jac * f;
            slope += w * h / 3.0 * jac * df;
        }
    }
    let norm = 2.0 / PI.sqrt();
    Density { value: nc * norm * value, d_phi: nc * norm * slope / kt }
}

/// Ionised donors N_D⁺ = N_D / (1 + 2 e^{(E_F − E_D)/kT}) with E_D = Ec0 − φ − `energy`
/// (`energy` = Ec − E_D, eV); None: fully ionised (N_D⁺ = N_D).
pub fn ionised_donors(nd: f64, energy: Option<f64>, ec0: f64, phi: f64, ef: f64, kt: f64) -> Density {
    match energy {
        None => Density { value: nd, d_phi: 0.0 },
        Some(e) => {
            let u = (ef - ec0 + phi + e) / kt + DONOR_DEGENERACY.ln();
            // N_D f(−u), f(−u) = 1/(1 + e^u); d/dφ = −N_D f(−u)(1 − f(−u))/kT
            let occ = fermi(u);
            Density { value: nd * occ, d_phi: -nd * occ * fermi(-u) / kt }
        }
    }
}

/// Ionised acceptors N_A⁻ = N_A / (1 + 4 e^{(E_A − E_F)/kT}) with E_A = Ev0 − φ + `energy`
/// (`energy` = E_A − Ev, eV); None: fully ionised.
pub fn ionised_acceptors(na: f64, energy: Option<f64>, ev0: f64, phi: f64, ef: f64, kt: f64) -> Density {
    match energy {
        None => Density { value: na, d_phi: 0.0 },
        Some(e) => {
            let v = (ev0 - phi + e - ef) / kt + ACCEPTOR_DEGENERACY.ln();
            let occ = fermi(v);
            Density { value: na * occ, d_phi: na * occ * fermi(-v) / kt }
        }
    }
}

/// Net charge density over q, p − n + N_D⁺ − N_A⁻ (cm^-3), and its derivative in φ
/// (cm^-3 V^-1, always ≤ 0). `holes: false` leaves p out (electrons only).
pub fn net_charge(stat: Statistics, b: &Bands, d: &Doping, phi: f64, ef: f64, kt: f64, holes: bool) -> Density {
    let n = electron_density(stat, b.nc, b.ec0, phi, ef, kt);
    let nd = ionised_donors(d.donors, d.donor_energy, b.ec0, phi, ef, kt);
    let na = ionised_acceptors(d.acceptors, d.acceptor_energy, b.ev0, phi, ef, kt);
    let mut value = nd.value - na.value - n.value;
    let mut d_phi = nd.d_phi - na.d_phi - n.d_phi;
    if holes {
        let p = hole_density(stat, b.nv, b.ev0, phi, ef, kt);
        value += p.value;
        d_phi += p.d_phi;
    }
    Density { value, d_phi }
}

/// ln of a density given as (prefactor, ln of the statistics factor): ln N + ln F.
fn ln_carrier(stat: Statistics, n0: f64, eta: f64) -> f64 {
    n0.ln()
        + match stat {
            Statistics::FermiDirac => ln_fd_half(eta),
            Statistics::Boltzmann => eta,
        }
}

fn ln_ionised(n: f64, energy: Option<f64>, x: f64) -> f64 {
    // ln(N / (1 + e^x)) = ln N − F_0(x); full ionisation: ln N
    if n <= 0.0 {
        return f64::NEG_INFINITY;
    }
    match energy {
        None => n.ln(),
        Some(_) => n.ln() - fd_zero(x),
    }
}

fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// g(φ) = ln(n + N_A⁻) − ln(p + N_D⁺): zero at neutrality, strictly increasing in φ, and
/// finite even where every density underflows (low T, undoped).
fn neutrality_gap(stat: Statistics, b: &Bands, d: &Doping, phi: f64, ef: f64, kt: f64) -> f64 {
    let ln_n = ln_carrier(stat, b.nc, (ef - b.ec0 + phi) / kt);
    let ln_p = ln_carrier(stat, b.nv, (b.ev0 - phi - ef) / kt);
    let ln_nd = ln_ionised(d.donors, d.donor_energy, (ef - b.ec0 + phi + d.donor_energy.unwrap_or(0.0)) / kt + DONOR_DEGENERACY.ln());
    let ln_na =
        ln_ionised(d.acceptors, d.acceptor_energy, (b.ev0 - phi + d.acceptor_energy.unwrap_or(0.0) - ef) / kt + ACCEPTOR_DEGENERACY.ln());
    log_add(ln_n, ln_na) - log_add(ln_p, ln_nd)
}

/// The potential φ0 (V) at which a uniform cell with bands `b` and doping `d` is neutral
/// (p − n + N_D⁺ − N_A⁻ = 0) at Fermi level `ef` (eV): the built-in value of an Ohmic
/// contact and the start of a Poisson solve. Electrons and holes are both counted (the
/// neutral semiconductor), whatever the solver's `holes` setting. Robust for any doping,
/// undoped included, and any temperature: it brackets the root of
/// ln(n + N_A⁻) − ln(p + N_D⁺) (strictly increasing in φ) and refines it by the Illinois
/// false-position method to 1e-12 V.
pub fn neutral_potential(stat: Statistics, b: &Bands, d: &Doping, ef: f64, kt: f64) -> Result<f64> {
    if !(kt > 0.0 && b.nc > 0.0 && b.nv > 0.0 && b.ec0 > b.ev0 && d.donors >= 0.0 && d.acceptors >= 0.0) {
        return Err(QdError::Internal(format!("neutral_potential: invalid bands {b:?}, doping {d:?} or kT {} eV", crate::error::fmt_num(kt))));
    }
    let g = |phi: f64| neutrality_gap(stat, b, d, phi, ef, kt);
    // start: the intrinsic level (Boltzmann), moved to the doped side
    let mut phi0 = 0.5 * (b.ec0 + b.ev0) - ef + 0.5 * kt * (b.nv / b.nc).ln();
    let net = d.donors - d.acceptors;
    if net > 0.0 {
        phi0 = phi0.max(b.ec0 - ef + kt * (net / b.nc).ln());
    } else if net < 0.0 {
        phi0 = phi0.min(b.ev0 - ef - kt * (-net / b.nv).ln());
    }
    let g0 = g(phi0);
    if g0 == 0.0 {
        return Ok(phi0);
    }
    // bracket: g increases with φ
    let dir = if g0 < 0.0 { 1.0 } else { -1.0 };
    let mut step = 0.05_f64.max(kt);
    let (mut a, mut ga) = (phi0, g0);
    let mut bnd = phi0;
    let mut gb = g0;
    for _ in 0..80 {
        bnd = a + dir * step;
        gb = g(bnd);
        if gb.signum() != ga.signum() {
            break;
        }
        a = bnd;
        ga = gb;
        step *= 2.0;
    }
    if gb.signum() == ga.signum() || !gb.is_finite() {
        return Err(QdError::NotConverged(format!("neutral_potential: no sign change of the charge near φ = {} V", crate::error::fmt_num(phi0))));
    }
    // Illinois false position on [a, bnd]
    let (mut x0, mut f0, mut x1, mut f1) = (a, ga, bnd, gb);
    let mut side = 0i32;
    for _ in 0..200 {
        let x = (x0 * f1 - x1 * f0) / (f1 - f0);
        let fx = g(x);
        if fx == 0.0 || (x1 - x0).abs() < 1e-12 {
            return Ok(x);
        }
        if fx.signum() == f1.signum() {
            x1 = x;
            f1 = fx;
            if side == -1 {
                f0 *= 0.5;
            }
            side = -1;
        } else {
            x0 = x;
            f0 = fx;
            if side == 1 {
                f1 *= 0.5;
            }
            side = 1;
        }
        if (x1 - x0).abs() < 1e-12 {
            return Ok(0.5 * (x0 + x1));
        }
    }
    Err(QdError::NotConverged(format!("neutral_potential: no convergence in 200 steps (bracket [{}, {}] V)", crate::error::fmt_num(x0), crate::error::fmt_num(x1))))
}

/// Dirichlet value of φ (V) at an Ohmic contact or gate without barrier: the applied
/// voltage plus the neutral potential φ0 of the semiconductor there (at E_F = 0).
pub fn ohmic_potential(phi_neutral: f64, voltage: f64) -> f64 {
    phi_neutral + voltage
}

/// Dirichlet value of φ (V) at a Schottky contact or gate: the conduction-band edge sits
/// `barrier` eV above the contact's Fermi level −`voltage`, so Ec0 − φ = −V + Φ_B.
pub fn schottky_potential(ec0: f64, voltage: f64, barrier: f64) -> f64 {
    ec0 + voltage - barrier
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materials::MaterialDb;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    fn gaas() -> Material {
        MaterialDb::builtin().resolve("GaAs", None).unwrap()
    }

    #[test]
    fn effective_densities_of_states() {
        // 2 (m0 kT/2πħ²)^{3/2} = 2.5094e19 cm^-3 at 300 K (textbook value 2.51e19)
        assert!(rel(effective_dos(1.0, 300.0), 2.5094e19) < 1e-3, "{}", effective_dos(1.0, 300.0));
        assert!(rel(effective_dos(1.0, 150.0), 2.5094e19 / 2f64.powf(1.5)) < 1e-3);
        let g = gaas();
        // GaAs, me = 0.067: Nc = 2.5094e19 · 0.067^{3/2} = 4.35e17; Levinshtein et al.
        // (Handbook Series on Semiconductor Parameters, 1996) list 4.7e17 with me = 0.063
        // ... a 10 % band covers the mass difference.
        let nc300 = nc(&g, 300.0);
        assert!(rel(nc300, 4.35e17) < 5e-3, "{nc300:e}");
        assert!(rel(nc300, 4.7e17) < 0.1);
        // Nv with the Vurgaftman hh/lh masses (0.35, 0.09): 5.9e18; the handbook's 9.0e18
        // uses mdos = 0.53 (it includes warping), so only the order of magnitude is checked
        let nv300 = nv(&g, 300.0);
        assert!(nv300 > 4e18 && nv300 < 1e19, "{nv300:e}");
        // n_i(300 K) ≈ 2.1e6 cm^-3 (Levinshtein 1996; Sze gives 2.1e6, later work 1.8e6)
        let ni = intrinsic_density(&g, 300.0);
        assert!(ni > 1.0e6 && ni < 3.0e6, "{ni:e}");
    }

    #[test]
    fn densities_and_derivatives() {
        let b = Bands::of(&gaas(), 300.0);
        let kt = kt_ev(300.0);
        let h = 1e-6;
        for stat in [Statistics::FermiDirac, Statistics::Boltzmann] {
            for phi in [-1.0, b.ec0 - 0.2, b.ec0, b.ec0 + 0.1, b.ev0 + 0.05] {
                let n = electron_density(stat, b.nc, b.ec0, phi, 0.0, kt);
                let fd = (electron_density(stat, b.nc, b.ec0, phi + h, 0.0, kt).value
                    - electron_density(stat, b.nc, b.ec0, phi - h, 0.0, kt).value)
                    / (2.0 * h);
                assert!(rel(n.d_phi, fd) < 1e-6, "{stat:?} n at {phi}");
                let p = hole_density(stat, b.nv, b.ev0, phi, 0.0, kt);
                let fd = (hole_density(stat, b.nv, b.ev0, phi + h, 0.0, kt).value
                    - hole_density(stat, b.nv, b.ev0, phi - h, 0.0, kt).value)
                    / (2.0 * h);
                assert!(rel(p.d_phi, fd) < 1e-6, "{stat:?} p at {phi}");
                assert!(p.d_phi < 0.0 && n.d_phi > 0.0);
            }
        }
        // Boltzmann and Fermi–Dirac agree when non-degenerate
        let phi = b.ec0 - 0.3;
        let a = electron_density(Statistics::FermiDirac, b.nc, b.ec0, phi, 0.0, kt).value;
        let c = electron_density(Statistics::Boltzmann, b.nc, b.ec0, phi, 0.0, kt).value;
        assert!(rel(a, c) < 1e-5);
        // dopants: limits and derivatives
        for phi in [b.ec0 - 0.3, b.ec0 - 0.005, b.ec0 + 0.1] {
            let nd = ionised_donors(1e18, Some(0.006), b.ec0, phi, 0.0, kt);
            let fdd = (ionised_donors(1e18, Some(0.006), b.ec0, phi + h, 0.0, kt).value
                - ionised_donors(1e18, Some(0.006), b.ec0, phi - h, 0.0, kt).value)
                / (2.0 * h);
            assert!(rel(nd.d_phi, fdd) < 1e-5, "{phi}");
            let na = ionised_acceptors(1e18, Some(0.026), b.ev0, phi - 1.4, 0.0, kt);
            let fda = (ionised_acceptors(1e18, Some(0.026), b.ev0, phi - 1.4 + h, 0.0, kt).value
                - ionised_acceptors(1e18, Some(0.026), b.ev0, phi - 1.4 - h, 0.0, kt).value)
                / (2.0 * h);
            assert!((na.d_phi - fda).abs() <= 1e-5 * fda.abs() + 1e-3, "{phi}: {} vs {fda}", na.d_phi);
        }
        // E_F far below the donor level: fully ionised; at the level: 1/(1 + 2)
        assert!(rel(ionised_donors(1e17, Some(0.006), b.ec0, b.ec0 - 0.5, 0.0, kt).value, 1e17) < 1e-6);
        let at = ionised_donors(1e17, Some(0.006), b.ec0, b.ec0 - 0.006, 0.0, kt).value;
        assert!(rel(at, 1e17 / 3.0) < 1e-12);
        let at = ionised_acceptors(1e17, Some(0.026), b.ev0, b.ev0 + 0.026, 0.0, kt).value;
        assert!(rel(at, 1e17 / 5.0) < 1e-12);
        assert_eq!(ionised_donors(1e17, None, b.ec0, 0.0, 0.0, kt), Density { value: 1e17, d_phi: 0.0 });
    }

    #[test]
    fn neutral_potential_cases() {
        let g = gaas();
        for t in [4.0, 77.0, 300.0] {
            let b = Bands::of(&g, t);
            let kt = kt_ev(t);
            for stat in [Statistics::FermiDirac, Statistics::Boltzmann] {
                let cases = [
                    Doping::default(),
                    Doping { donors: 1e18, ..Default::default() },
                    Doping { acceptors: 1e17, ..Default::default() },
                    Doping { donors: 1e16, acceptors: 1e16, ..Default::default() },
                    Doping { donors: 1e19, donor_energy: Some(0.006), ..Default::default() },
                    Doping { acceptors: 1e19, acceptor_energy: Some(0.026), donors: 1e15, ..Default::default() },
                ];
                for d in cases {
                    let phi = neutral_potential(stat, &b, &d, 0.0, kt).unwrap();
                    let q = net_charge(stat, &b, &d, phi, 0.0, kt, true);
                    let scale = d.donors + d.acceptors;
                    if scale > 0.0 && t > 50.0 {
                        // charge balance to the precision of φ (1e-12 V)
                        assert!(q.value.abs() <= 1e-9 * scale + (q.d_phi * 1e-11).abs(), "T {t} {stat:?} {d:?}: {q:?}");
                    }
                    if t > 50.0 && d.is_zero() {
                        // intrinsic: n = p
                        let n = electron_density(stat, b.nc, b.ec0, phi, 0.0, kt).value;
                        let p = hole_density(stat, b.nv, b.ev0, phi, 0.0, kt).value;
                        assert!(rel(n, p) < 1e-9, "{n} {p}");
                        if stat == Statistics::Boltzmann {
                            assert!(rel(n, intrinsic_density(&g, t)) < 1e-9);
                        }
                    }
                }
            }
            // n-type, full ionisation, Boltzmann, non-degenerate: n = N_D, φ0 = Ec0 + kT ln(N_D/Nc)
            if t > 50.0 {
                let d = Doping { donors: 1e16, ..Default::default() };
                let phi = neutral_potential(Statistics::Boltzmann, &b, &d, 0.0, kt).unwrap();
                assert!((phi - (b.ec0 + kt * (1e16 / b.nc).ln())).abs() < 1e-9, "{phi}");
                // Fermi–Dirac, degenerate: n = N_D exactly (holes negligible)
                let d = Doping { donors: 5e18, ..Default::default() };
                let phi = neutral_potential(Statistics::FermiDirac, &b, &d, 0.0, kt).unwrap();
                let want = b.ec0 + kt * fd_half_inverse(5e18 / b.nc);
                assert!((phi - want).abs() < 1e-9, "{phi} vs {want}");
            }
        }
        // 4 K undoped: every density underflows, yet the answer is the intrinsic level
        let b = Bands::of(&g, 4.0);
        let kt = kt_ev(4.0);
        let phi = neutral_potential(Statistics::Boltzmann, &b, &Doping::default(), 0.0, kt).unwrap();
        let want = 0.5 * (b.ec0 + b.ev0) + 0.5 * kt * (b.nv / b.nc).ln();
        assert!((phi - want).abs() < 1e-9, "{phi} vs {want}");
        // the Fermi level only shifts φ0
        let d = Doping { donors: 1e17, ..Default::default() };
        let b = Bands::of(&g, 300.0);
        let a = neutral_potential(Statistics::FermiDirac, &b, &d, 0.0, kt_ev(300.0)).unwrap();
        let c = neutral_potential(Statistics::FermiDirac, &b, &d, -0.3, kt_ev(300.0)).unwrap();
        assert!((c - a - 0.3).abs() < 1e-9);
        // boundary values
        assert_eq!(ohmic_potential(1.2, 0.5), 1.7);
        assert!((schottky_potential(1.5, 0.2, 0.8) - 0.9).abs() < 1e-15);
    }
}
