//! Semiconductor statistics: Fermi–Dirac integrals, effective densities of states, classical
//! carrier and ionised-dopant densities with their derivatives, the charge-neutral potential
//! (the built-in value of an Ohmic contact), and the electron density of Schrödinger states.
//! Pure functions; the Poisson and self-consistent solvers are built on them.
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
//! Fermi–Dirac integrals are the normalised ones, F_j(η) = 1/Γ(j+1) ∫_0^∞ x^j/(1+e^{x−η}) dx,
//! so that F_j(η) → e^η for η → −∞ and dF_j/dη = F_{j−1}.

use std::f64::consts::PI;
use std::sync::OnceLock;

use crate::constants::{kt_ev, CM3_PER_M3, HBAR2_OVER_2M0_EV_NM2, HBAR_SI, KB_SI, M0_SI, NM3_PER_CM3};
use crate::error::{QdError, Result};
use crate::materials::Material;
use crate::scene::{Doping, Statistics};

/// Degeneracy factor of donor levels (spin: 2).
pub const DONOR_DEGENERACY: f64 = 2.0;
/// Degeneracy factor of acceptor levels (spin and the two degenerate valence bands at Γ: 4).
pub const ACCEPTOR_DEGENERACY: f64 = 4.0;

// ---------------------------------------------------------------------------------------
// Fermi–Dirac integrals
// ---------------------------------------------------------------------------------------
//
// Method (near machine precision, ~1e-14 relative, tested below):
// - η < −2: the convergent series F_j(η) = Σ_{k≥1} (−1)^{k+1} e^{kη} / k^{j+1}
//   (J. S. Blakemore, "Approximations for Fermi–Dirac integrals, especially the function
//   F_{1/2}(η) used to describe electron density in a semiconductor", Solid-State
//   Electronics 25, 1067 (1982), eq. 8);
// - η ≥ 40: the Sommerfeld asymptotic expansion F_j(η) = Σ_k 2(1 − 2^{1−2k}) ζ(2k)
//   η^{j+1−2k}/Γ(j+2−2k) (k = 0 term η^{j+1}/Γ(j+2)), whose remainder cos(πj)F_j(−η)
//   vanishes for half-integer j and whose optimally truncated error is ~e^{−η}
//   (Blakemore 1982, eq. 11);
// - in between: piecewise Chebyshev interpolation (21 pieces of width 2, 24 nodes each)
//   of the integral evaluated by the trapezoidal rule in t = √x on the whole line, which
//   converges geometrically for this analytic integrand (L. N. Trefethen and J. A. C.
//   Weideman, "The exponentially convergent trapezoidal rule", SIAM Review 56, 385 (2014));
//   the step is set from the distance of the nearest pole t = √(η + iπ). This is the
//   piecewise-approximation strategy of T. Fukushima, "Precise and fast computation of
//   Fermi–Dirac integral of integer and half integer order by piecewise minimax rational
//   approximation", Appl. Math. Comput. 259, 708 (2015), with Chebyshev interpolants
//   built once at first use (a few ms) instead of his published coefficients.

const SERIES_BELOW: f64 = -2.0;
const ASYMPTOTIC_FROM: f64 = 40.0;
const PIECE_WIDTH: f64 = 2.0;
const PIECES: usize = 21; // (40 − (−2)) / 2
const CHEB_NODES: usize = 24;

/// The half-integer orders tabulated: 1/2, −1/2, −3/2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Half,
    MinusHalf,
    MinusThreeHalves,
}

impl Order {
    fn j(self) -> f64 {
        match self {
            Order::Half => 0.5,
            Order::MinusHalf => -0.5,
            Order::MinusThreeHalves => -1.5,
        }
    }
    fn idx(self) -> usize {
        self as usize
    }
}

/// Γ(j + 2) for the tabulated orders: Γ(5/2), Γ(3/2), Γ(1/2).
fn gamma_j_plus_2(o: Order) -> f64 {
    let sqrt_pi = PI.sqrt();
    match o {
        Order::Half => 0.75 * sqrt_pi,
        Order::MinusHalf => 0.5 * sqrt_pi,
        Order::MinusThreeHalves => sqrt_pi,
    }
}

/// Σ_{k≥1} (−1)^{k+1} e^{(k−1)η} / k^{j+1}: F_j(η) = e^η · this (η < 0).
fn series_scaled(o: Order, eta: f64) -> f64 {
    let x = eta.exp();
    let p = o.j() + 1.0;
    let mut sum = 0.0;
    let mut xk = 1.0; // x^{k−1}
    for k in 1..=200 {
        let term = xk / (k as f64).powf(p);
        sum += if k % 2 == 1 { term } else { -term };
        if term < 1e-17 * sum.abs() {
            break;
        }
        xk *= x;
    }
    sum
}

/// |B_{2k}|, k = 1..=12.
const BERNOULLI_ABS: [f64; 12] = [
    1.0 / 6.0,
    1.0 / 30.0,
    1.0 / 42.0,
    1.0 / 30.0,
    5.0 / 66.0,
    691.0 / 2730.0,
    7.0 / 6.0,
    3617.0 / 510.0,
    43867.0 / 798.0,
    174611.0 / 330.0,
    854513.0 / 138.0,
    236364091.0 / 2730.0,
];

/// ζ(2k) = (2π)^{2k} |B_{2k}| / (2 (2k)!), k ≥ 1.
fn zeta_even(k: usize) -> f64 {
    let mut v = BERNOULLI_ABS[k - 1] / 2.0;
    for i in 1..=2 * k {
        v *= 2.0 * PI / i as f64;
    }
    v
}

/// Sommerfeld expansion for large η (≥ 40).
fn sommerfeld(o: Order, eta: f64) -> f64 {
    let j = o.j();
    let mut inv_gamma = 1.0 / gamma_j_plus_2(o); // 1/Γ(j+2−2k)
    let mut sum = eta.powf(j + 1.0) * inv_gamma;
    let inv_eta2 = 1.0 / (eta * eta);
    let mut pow = eta.powf(j + 1.0);
    let mut last = f64::INFINITY;
    for k in 1..=12 {
        let x = j + 2.0 - 2.0 * (k - 1) as f64; // argument of the previous Γ
        inv_gamma *= (x - 1.0) * (x - 2.0);
        pow *= inv_eta2;
        let c = 2.0 * (1.0 - 2f64.powi(1 - 2 * k as i32)) * zeta_even(k);
        let term = c * pow * inv_gamma;
        if term.abs() > last {
            break; // the asymptotic series starts to diverge
        }
        sum += term;
        last = term.abs();
        if term.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    sum
}

/// Trapezoidal rule for F_j(η), j ∈ {1/2, −1/2, −3/2}, in t = √x (see the method note).
fn quadrature(o: Order, eta: f64) -> f64 {
    // nearest pole of 1/(1 + e^{t² − η}) in the complex t-plane: t² = η + iπ
    let r = (eta * eta + PI * PI).sqrt();
    let d = ((r - eta) / 2.0).sqrt();
    let h = (2.0 * PI * d / 42.0).min(0.25);
    let t_max = (eta.max(0.0) + 48.0).sqrt();
    let n = (t_max / h).ceil() as usize;
    let g = |t: f64| -> f64 {
        let u = t * t - eta;
        match o {
            // (4/√π) ∫ t² f dt
            Order::Half => t * t / (1.0 + u.exp()),
            // (2/√π) ∫ f dt
            Order::MinusHalf => 1.0 / (1.0 + u.exp()),
            // (2/√π) ∫ f (1 − f) dt
            Order::MinusThreeHalves => {
                let e = (-u.abs()).exp();
                e / ((1.0 + e) * (1.0 + e))
            }
        }
    };
    let mut s = 0.5 * g(0.0);
    for k in 1..=n {
        s += g(k as f64 * h);
    }
    let pref = match o {
        Order::Half => 4.0 / PI.sqrt(),
        _ => 2.0 / PI.sqrt(),
    };
    pref * h * s
}

type Table = Vec<[f64; CHEB_NODES]>;

fn tables() -> &'static [Table; 3] {
    static T: OnceLock<[Table; 3]> = OnceLock::new();
    T.get_or_init(|| {
        let build = |o: Order| -> Table {
            (0..PIECES)
                .map(|p| {
                    let mid = SERIES_BELOW + (p as f64 + 0.5) * PIECE_WIDTH;
                    let n = CHEB_NODES;
                    let vals: Vec<f64> = (0..n)
                        .map(|k| {
                            let x = (PI * (k as f64 + 0.5) / n as f64).cos();
                            quadrature(o, mid + 0.5 * PIECE_WIDTH * x)
                        })
                        .collect();
                    let mut c = [0.0; CHEB_NODES];
                    for (m, cm) in c.iter_mut().enumerate() {
                        let s: f64 = vals
                            .iter()
                            .enumerate()
                            .map(|(k, v)| v * (PI * m as f64 * (k as f64 + 0.5) / n as f64).cos())
                            .sum();
                        *cm = 2.0 * s / n as f64;
                    }
                    c[0] *= 0.5;
                    c
                })
                .collect()
        };
        [build(Order::Half), build(Order::MinusHalf), build(Order::MinusThreeHalves)]
    })
}

fn chebyshev(o: Order, eta: f64) -> f64 {
    let p = (((eta - SERIES_BELOW) / PIECE_WIDTH) as usize).min(PIECES - 1);
    let mid = SERIES_BELOW + (p as f64 + 0.5) * PIECE_WIDTH;
    let x = (eta - mid) / (0.5 * PIECE_WIDTH);
    let c = &tables()[o.idx()][p];
    // Clenshaw
    let (mut b1, mut b2) = (0.0, 0.0);
    for &cm in c.iter().skip(1).rev() {
        let b0 = 2.0 * x * b1 - b2 + cm;
        b2 = b1;
        b1 = b0;
    }
    x * b1 - b2 + c[0]
}

fn fd(o: Order, eta: f64) -> f64 {
    if eta.is_nan() {
        f64::NAN
    } else if eta < SERIES_BELOW {
        eta.exp() * series_scaled(o, eta)
    } else if eta >= ASYMPTOTIC_FROM {
        sommerfeld(o, eta)
    } else {
        chebyshev(o, eta)
    }
}

/// ln F_j(η), finite for every finite η (no underflow for η ≪ 0).
fn ln_fd(o: Order, eta: f64) -> f64 {
    if eta < SERIES_BELOW {
        eta + series_scaled(o, eta).ln()
    } else {
        fd(o, eta).ln()
    }
}

/// F_{1/2}(η) = (2/√π) ∫_0^∞ √x /(1 + e^{x−η}) dx (normalised; electrons in a 3D band).
/// Relative accuracy ~1e-14 (see the method note in the source).
pub fn fd_half(eta: f64) -> f64 {
    fd(Order::Half, eta)
}

/// F_{−1/2}(η) = dF_{1/2}/dη (1D subbands: one free direction).
pub fn fd_minus_half(eta: f64) -> f64 {
    fd(Order::MinusHalf, eta)
}

/// F_{−3/2}(η) = dF_{−1/2}/dη.
pub fn fd_minus_three_halves(eta: f64) -> f64 {
    fd(Order::MinusThreeHalves, eta)
}

/// ln F_{1/2}(η) without underflow.
pub fn ln_fd_half(eta: f64) -> f64 {
    ln_fd(Order::Half, eta)
}

/// F_0(η) = ln(1 + e^η) (2D subbands: two free directions), computed without overflow.
pub fn fd_zero(eta: f64) -> f64 {
    if eta > 0.0 {
        eta + (-eta).exp().ln_1p()
    } else {
        eta.exp().ln_1p()
    }
}

/// dF_0/dη = 1/(1 + e^{−η}) (the Fermi function of −η).
pub fn fd_zero_derivative(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

/// The Fermi–Dirac occupation 1/(1 + e^{x}), without overflow.
pub fn fermi(x: f64) -> f64 {
    fd_zero_derivative(-x)
}

/// The inverse of F_{1/2}: η with F_{1/2}(η) = u (u > 0), to ~1e-13 relative. Start:
/// ln u + u/√8 (Joyce–Dixon, first order; W. B. Joyce and R. W. Dixon, Appl. Phys. Lett.
/// 31, 354 (1977)) for u < 1, else the inverted two-term Sommerfeld form ν(1 − π²/(12ν²)),
/// ν = (3√π u/4)^{2/3}; then Newton on ln F_{1/2}(η) = ln u. Returns −∞ for u = 0 and NaN
/// for u < 0 or NaN.
pub fn fd_half_inverse(u: f64) -> f64 {
    if u.is_nan() || u < 0.0 {
        return f64::NAN;
    }
    if u == 0.0 {
        return f64::NEG_INFINITY;
    }
    if u.is_infinite() {
        return f64::INFINITY;
    }
    let lu = u.ln();
    let mut eta = if u < 1.0 {
        lu + u / 8f64.sqrt()
    } else {
        let nu = (0.75 * PI.sqrt() * u).powf(2.0 / 3.0);
        nu * (1.0 - PI * PI / (12.0 * nu * nu)).max(0.1)
    };
    for _ in 0..60 {
        let lf = ln_fd_half(eta);
        // d ln F_{1/2}/dη = F_{−1/2}/F_{1/2} = exp(ln F_{−1/2} − ln F_{1/2})
        let slope = (ln_fd(Order::MinusHalf, eta) - lf).exp();
        let step = (lf - lu) / slope;
        eta -= step;
        if step.abs() <= 1e-15 * eta.abs().max(1.0) {
            break;
        }
    }
    eta
}

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
        return Err(QdError::Internal(format!("neutral_potential: invalid bands {b:?}, doping {d:?} or kT {} eV", crate::scene::validate::fmt_num(kt))));
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
        return Err(QdError::NotConverged(format!("neutral_potential: no sign change of the charge near φ = {} V", crate::scene::validate::fmt_num(phi0))));
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
    Err(QdError::NotConverged(format!("neutral_potential: no convergence in 200 steps (bracket [{}, {}] V)", crate::scene::validate::fmt_num(x0), crate::scene::validate::fmt_num(x1))))
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

// ---------------------------------------------------------------------------------------
// Electrons from Schrödinger states
// ---------------------------------------------------------------------------------------

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
    use crate::materials::MaterialDb;

    /// Composite Simpson on [0, T] in t = √x with many points: an independent reference.
    fn simpson(o: Order, eta: f64) -> f64 {
        let t_max = (eta.max(0.0) + 50.0).sqrt();
        let n = 40_000;
        let h = t_max / n as f64;
        let g = |t: f64| {
            let u = t * t - eta;
            let f = 1.0 / (1.0 + u.exp());
            match o {
                Order::Half => 4.0 / PI.sqrt() * t * t * f,
                Order::MinusHalf => 2.0 / PI.sqrt() * f,
                Order::MinusThreeHalves => 2.0 / PI.sqrt() * f * (1.0 - f),
            }
        };
        let mut s = g(0.0) + g(t_max);
        for k in 1..n {
            s += g(k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0
    }

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn exact_values_at_zero() {
        // F_j(0) = (1 − 2^{−j}) ζ(j + 1): Dirichlet η function
        let zeta_3_2 = 2.612_375_348_685_488;
        let zeta_1_2 = -1.460_354_508_809_586_8;
        let zeta_m1_2 = -0.207_886_224_977_354_57;
        assert!(rel(fd_half(0.0), (1.0 - 2f64.powf(-0.5)) * zeta_3_2) < 1e-14, "{}", fd_half(0.0));
        assert!(rel(fd_minus_half(0.0), (1.0 - 2f64.powf(0.5)) * zeta_1_2) < 1e-14);
        assert!(rel(fd_minus_three_halves(0.0), (1.0 - 2f64.powf(1.5)) * zeta_m1_2) < 1e-13);
        assert!(rel(fd_zero(0.0), 2f64.ln()) < 1e-15);
    }

    #[test]
    fn against_quadrature() {
        let mut worst = [0.0f64; 3];
        let mut eta = -10.0;
        while eta <= 60.0 {
            for (k, o) in [Order::Half, Order::MinusHalf, Order::MinusThreeHalves].into_iter().enumerate() {
                let e = rel(fd(o, eta), simpson(o, eta));
                worst[k] = worst[k].max(e);
            }
            eta += 0.37;
        }
        // the Simpson reference itself is good to ~1e-12 here
        assert!(worst.iter().all(|&w| w < 1e-11), "worst relative errors {worst:?}");
    }

    #[test]
    fn branches_agree_at_their_joins() {
        for o in [Order::Half, Order::MinusHalf, Order::MinusThreeHalves] {
            // the series converges for every η < 0: compare where the Chebyshev pieces start
            for eta in [-2.0, -1.5, -1.0] {
                let c = chebyshev(o, eta);
                let s = f64::exp(eta) * series_scaled(o, eta);
                assert!(rel(c, s) < 1e-14, "{o:?} at {eta}: chebyshev {c}, series {s}");
            }
            for eta in [38.0, 39.5, 40.0] {
                let c = chebyshev(o, eta);
                let s = sommerfeld(o, eta);
                assert!(rel(c, s) < 1e-13, "{o:?} at {eta}: chebyshev {c}, sommerfeld {s}");
            }
        }
    }

    #[test]
    fn limits() {
        // Boltzmann: F_j(η) → e^η for η ≪ 0, relative correction −e^η/2^{j+1}
        for eta in [-40.0, -20.0, -10.0] {
            let x: f64 = eta;
            assert!(rel(fd_half(x), x.exp()) < 1.1 * x.exp() / 2f64.powf(1.5));
            assert!(rel(fd_minus_half(x), x.exp()) < 1.1 * x.exp() / 2f64.powf(0.5));
        }
        assert!(rel(ln_fd_half(-1000.0), -1000.0) < 1e-15);
        // Sommerfeld: F_{1/2}(η) → (4/(3√π)) η^{3/2} (1 + π²/(8η²))
        for eta in [50.0, 200.0, 1e4] {
            let x: f64 = eta;
            let leading = 4.0 / (3.0 * PI.sqrt()) * x.powf(1.5);
            assert!(rel(fd_half(x), leading * (1.0 + PI * PI / (8.0 * x * x))) < (2.0 / x.powi(4)).max(1e-14), "{eta}");
            assert!(rel(fd_minus_half(x), 2.0 / PI.sqrt() * x.sqrt() * (1.0 - PI * PI / (24.0 * x * x))) < (2.0 / x.powi(4)).max(1e-14));
        }
        // F_0 without overflow
        assert!(rel(fd_zero(800.0), 800.0) < 1e-15);
        assert!(rel(fd_zero(-800.0), (-800f64).exp()) < 1e-12 || fd_zero(-800.0) == 0.0);
        assert_eq!(fd_zero_derivative(1000.0), 1.0);
        assert_eq!(fd_zero_derivative(-1000.0), 0.0);
    }

    #[test]
    fn derivatives_are_the_next_order() {
        let h = 1e-5;
        for eta in [-5.0, -1.0, 0.3, 4.0, 15.0, 45.0] {
            let d = (fd_half(eta + h) - fd_half(eta - h)) / (2.0 * h);
            assert!(rel(d, fd_minus_half(eta)) < 1e-8, "{eta}");
            let d = (fd_minus_half(eta + h) - fd_minus_half(eta - h)) / (2.0 * h);
            assert!(rel(d, fd_minus_three_halves(eta)) < 1e-7, "{eta}");
            let d = (fd_zero(eta + h) - fd_zero(eta - h)) / (2.0 * h);
            assert!(rel(d, fd_zero_derivative(eta)) < 1e-8, "{eta}");
        }
    }

    #[test]
    fn inverse_round_trips() {
        let mut eta = -60.0;
        while eta < 300.0 {
            let back = fd_half_inverse(fd_half(eta));
            assert!((back - eta).abs() < 1e-12 * eta.abs().max(1.0), "{eta} -> {back}");
            eta += 0.731;
        }
        assert_eq!(fd_half_inverse(0.0), f64::NEG_INFINITY);
        assert!(fd_half_inverse(-1.0).is_nan());
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
