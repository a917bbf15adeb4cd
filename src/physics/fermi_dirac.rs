//! Fermi–Dirac integrals of orders 1/2, −1/2, −3/2 (and 0, −1 in closed form), their
//! logarithms and the inverse of F_{1/2}: the normalised ones,
//! F_j(η) = 1/Γ(j+1) ∫_0^∞ x^j/(1+e^{x−η}) dx, so that F_j(η) → e^η for η → −∞ and
//! dF_j/dη = F_{j−1}. Pure functions of η; the carrier densities (`carriers`) are built on
//! them.
//!
//! Method (near machine precision, ~1e-14 relative, tested below):
//! - η < −2: the convergent series F_j(η) = Σ_{k≥1} (−1)^{k+1} e^{kη} / k^{j+1}
//!   (J. S. Blakemore, "Approximations for Fermi–Dirac integrals, especially the function
//!   F_{1/2}(η) used to describe electron density in a semiconductor", Solid-State
//!   Electronics 25, 1067 (1982), eq. 8);
//! - η ≥ 40: the Sommerfeld asymptotic expansion F_j(η) = Σ_k 2(1 − 2^{1−2k}) ζ(2k)
//!   η^{j+1−2k}/Γ(j+2−2k) (k = 0 term η^{j+1}/Γ(j+2)), whose remainder cos(πj)F_j(−η)
//!   vanishes for half-integer j and whose optimally truncated error is ~e^{−η}
//!   (Blakemore 1982, eq. 11);
//! - in between: piecewise Chebyshev interpolation (21 pieces of width 2, 24 nodes each)
//!   of the integral evaluated by the trapezoidal rule in t = √x on the whole line, which
//!   converges geometrically for this analytic integrand (L. N. Trefethen and J. A. C.
//!   Weideman, "The exponentially convergent trapezoidal rule", SIAM Review 56, 385 (2014));
//!   the step is set from the distance of the nearest pole t = √(η + iπ). This is the
//!   piecewise-approximation strategy of T. Fukushima, "Precise and fast computation of
//!   Fermi–Dirac integral of integer and half integer order by piecewise minimax rational
//!   approximation", Appl. Math. Comput. 259, 708 (2015), with Chebyshev interpolants
//!   built once at first use (a few ms) instead of his published coefficients.

use std::f64::consts::PI;
use std::sync::OnceLock;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
