//! The whole pipeline (scene JSON → materials → grid → Hamiltonian → eigensolver) against
//! problems with exact answers, each at two spacings h and h/2:
//! - the observed order of convergence log2(err(h)/err(h/2)) must be about 2, and
//! - the error at h/2 must be within 0.5 % of the confinement energy E − band edge.
//!
//! Exact answers are computed here from the material parameters the database resolves
//! (never hard-coded), so the tests follow the database.
//!
//! Run with `cargo test --release --test exact_answers -- --nocapture` to see the errors.

use std::f64::consts::PI;
use std::path::PathBuf;
use std::time::Instant;

use qdsim_gpu::constants::HBAR2_OVER_2M0_EV_NM2;
use qdsim_gpu::materials::{Carrier, Material, MaterialDb};
use qdsim_gpu::scene::{parse_scene, LoadedScene};
use qdsim_gpu::pipeline::{self, Problem, Solution, SolveOptions};

/// Relative error (of the confinement energy) allowed at the finer spacing.
const REL_TOL_FINE: f64 = 5e-3;
/// Lower bound on the observed order for second-order convergence.
const MIN_ORDER: f64 = 1.6;

const TEMPERATURE: f64 = 300.0;

fn gaas() -> Material {
    MaterialDb::builtin().resolve("GaAs", None).unwrap()
}
fn algaas(x: f64) -> Material {
    MaterialDb::builtin().resolve("AlGaAs", Some(x)).unwrap()
}
fn ec(m: &Material) -> f64 {
    m.band_edge(Carrier::Electron, TEMPERATURE)
}
/// ħ²/(2m*) of a material's electron, eV nm².
fn kin(m: &Material) -> f64 {
    HBAR2_OVER_2M0_EV_NM2 / m.mass(Carrier::Electron)
}

/// Parse, prepare, assemble and solve a scene given as JSON text.
fn run_scene(json: &str) -> (Problem, Solution) {
    let scene = parse_scene(json).unwrap_or_else(|e| panic!("bad scene: {e}\n{json}"));
    let loaded = LoadedScene { scene, path: PathBuf::from("test.json"), base_dir: PathBuf::from(".") };
    let opts = SolveOptions::from_scene(&loaded.scene);
    let problem = pipeline::prepare(&loaded, opts.states).unwrap();
    let h = problem.hamiltonian();
    let t = Instant::now();
    let sol = pipeline::solve(&qdsim_gpu::backend::CpuBackend::new(), &h, &opts, None, &mut |_| {}).unwrap();
    println!(
        "    grid {:?}, {} unknowns, {} solve: {:.2} s, {} matvecs",
        problem.grid.dims(),
        problem.grid.len(),
        sol.method,
        t.elapsed().as_secs_f64(),
        sol.matvecs
    );
    assert!(sol.converged, "eigensolver did not converge: residuals {:?}", sol.residuals);
    assert_eq!(sol.energies.len(), opts.states);
    (problem, sol)
}

fn order(e_h: f64, e_h2: f64) -> f64 {
    (e_h.abs() / e_h2.abs()).log2()
}

/// Check relative errors (one per level, at h and at h/2): fine error ≤ REL_TOL_FINE and
/// observed order ≥ `min_order`.
fn check_convergence(what: &str, rel_h: &[f64], rel_h2: &[f64], min_order: f64) {
    assert_eq!(rel_h.len(), rel_h2.len());
    for (i, (&a, &b)) in rel_h.iter().zip(rel_h2).enumerate() {
        let p = order(a, b);
        println!("  {what} level {i}: rel. error h: {a:+.3e}, h/2: {b:+.3e}, order {p:.3}");
        assert!(b.abs() <= REL_TOL_FINE, "{what} level {i}: relative error {b:e} at h/2 exceeds {REL_TOL_FINE}");
        assert!(p >= min_order, "{what} level {i}: observed order {p:.3} < {min_order} (errors {a:e}, {b:e})");
    }
}

/// Find all roots of `f` on (lo, hi) by a sign scan with `steps` intervals and bisection.
fn roots(f: impl Fn(f64) -> f64, lo: f64, hi: f64, steps: usize) -> Vec<f64> {
    let mut out = Vec::new();
    let dx = (hi - lo) / steps as f64;
    let mut x0 = lo + 1e-12 * (hi - lo);
    let mut f0 = f(x0);
    for s in 1..=steps {
        let x1 = if s == steps { hi - 1e-12 * (hi - lo) } else { lo + s as f64 * dx };
        let f1 = f(x1);
        if f0 == 0.0 {
            out.push(x0);
        } else if f0 * f1 < 0.0 {
            let (mut a, mut b, mut fa) = (x0, x1, f0);
            for _ in 0..200 {
                let m = 0.5 * (a + b);
                let fm = f(m);
                if fm == 0.0 || (b - a) < 1e-15 * b.abs() {
                    a = m;
                    b = m;
                    break;
                }
                if fa * fm < 0.0 {
                    b = m;
                } else {
                    a = m;
                    fa = fm;
                }
            }
            out.push(0.5 * (a + b));
        }
        x0 = x1;
        f0 = f1;
    }
    out
}

/// Group ascending energies into levels: consecutive values closer than `gap` belong to
/// the same level. Returns (mean energy, multiplicity, member indices) per level.
fn group_levels(e: &[f64], gap: f64) -> Vec<(f64, usize, Vec<usize>)> {
    let mut levels: Vec<Vec<usize>> = Vec::new();
    for i in 0..e.len() {
        match levels.last_mut() {
            Some(l) if e[i] - e[*l.last().unwrap()] < gap => l.push(i),
            _ => levels.push(vec![i]),
        }
    }
    levels
        .into_iter()
        .map(|l| (l.iter().map(|&i| e[i]).sum::<f64>() / l.len() as f64, l.len(), l))
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. 1D infinite well: the domain boundaries are the walls.

/// The 1D GaAs well of `width` nm centred in `size` nm of Al0.3Ga0.7As at spacing `h` nm,
/// `states` states to tolerance 1e-12 (scene JSON).
fn well_scene(size: f64, h: f64, width: f64, states: usize) -> String {
    format!(
        r#"{{ "domain": {{ "size": [{size}], "spacing": {h} }}, "temperature": {TEMPERATURE},
             "background": {{ "material": "AlGaAs", "x": 0.3 }},
             "regions": [ {{ "shape": {{ "type": "layer", "axis": "x", "from": {}, "to": {} }}, "material": "GaAs" }} ],
             "solve": {{ "states": {states}, "tolerance": 1e-12 }} }}"#,
        -width / 2.0,
        width / 2.0
    )
}

#[test]
fn infinite_well_1d() {
    let m = gaas();
    let l = 20.0;
    let exact: Vec<f64> = (1..=3).map(|n| kin(&m) * (PI * n as f64 / l).powi(2)).collect();
    let mut rel = Vec::new();
    for cells in [40usize, 80] {
        let json = format!(
            r#"{{ "domain": {{ "size": [{l}], "spacing": {} }}, "temperature": {TEMPERATURE},
                 "background": {{ "material": "GaAs" }},
                 "solve": {{ "states": 3, "tolerance": 1e-12 }} }}"#,
            l / cells as f64
        );
        println!("infinite well, h = {} nm", l / cells as f64);
        let (p, s) = run_scene(&json);
        let e0 = p.lowest_band_edge();
        assert!((e0 - ec(&m)).abs() < 1e-12);
        let r: Vec<f64> = s.energies.iter().zip(&exact).map(|(e, x)| (e - e0 - x) / x).collect();
        println!("  E - Ec = {:?} eV, exact {:?}", s.energies.iter().map(|e| e - e0).collect::<Vec<_>>(), exact);
        rel.push(r);
    }
    check_convergence("infinite well", &rel[0], &rel[1], MIN_ORDER);
}

// ---------------------------------------------------------------------------------------
// 2. 1D finite well with a mass step (BenDaniel–Duke).

/// Bound states of a symmetric well of width `a` (nm), depth `v0` (eV), ħ²/2m `kw` inside
/// and `kb` outside, energies above the well bottom, ascending.
fn finite_well_levels(a: f64, v0: f64, kw: f64, kb: f64) -> Vec<f64> {
    // ħ²k²/2m_w = E → k = sqrt(E/kw); (1/m) ∝ ħ²/2m, so 1/m_w ∝ kw.
    let kk = |e: f64| (e / kw).sqrt();
    let kap = |e: f64| ((v0 - e) / kb).sqrt();
    // even: (k/m_w) tan(ka/2) = κ/m_b, multiplied by cos(ka/2) (no poles)
    let even = |e: f64| kw * kk(e) * (kk(e) * a / 2.0).sin() - kb * kap(e) * (kk(e) * a / 2.0).cos();
    // odd: −(k/m_w) cot(ka/2) = κ/m_b, multiplied by sin(ka/2)
    let odd = |e: f64| kw * kk(e) * (kk(e) * a / 2.0).cos() + kb * kap(e) * (kk(e) * a / 2.0).sin();
    let mut all = roots(even, 0.0, v0, 20000);
    all.extend(roots(odd, 0.0, v0, 20000));
    all.sort_by(f64::total_cmp);
    all
}

#[test]
fn finite_well_1d_mass_step() {
    let (w, b) = (gaas(), algaas(0.3));
    let v0 = ec(&b) - ec(&w);
    let a = 10.0;
    let size = 80.0;
    let exact = finite_well_levels(a, v0, kin(&w), kin(&b));
    println!(
        "finite well: V0 = {v0:.5} eV, m_w = {}, m_b = {}, bound states (eV above Ec_w) {exact:?}",
        w.mass(Carrier::Electron),
        b.mass(Carrier::Electron)
    );
    // the alternation even/odd and the count follow from the depth
    assert!(exact.len() >= 2);
    // the outermost bound state must have decayed well before the wall (35 nm of barrier)
    let kappa_min = ((v0 - exact.last().unwrap()) / kin(&b)).sqrt();
    println!("  weakest decay constant {kappa_min:.3} /nm: exp(-2 kappa 35 nm) = {:.1e}", (-2.0 * kappa_min * 35.0).exp());
    let nb = exact.len();
    let mut rel = Vec::new();
    for h in [0.5, 0.25] {
        // the well edges ±5 nm fall on cell faces (35 nm = 70 h or 140 h from the edge)
        let json = well_scene(size, h, a, nb + 1);
        println!("finite well, h = {h} nm");
        let (p, s) = run_scene(&json);
        assert!(p.map.mixed.is_empty(), "the well edges should fall on cell faces");
        let e0 = ec(&w);
        assert!((p.lowest_band_edge() - e0).abs() < 1e-12);
        // exactly nb levels below the barrier edge, the next one above
        assert!(s.energies[nb - 1] < ec(&b) && s.energies[nb] > ec(&b), "{:?} vs barrier {}", s.energies, ec(&b));
        println!("  E - Ec_w = {:?}", s.energies.iter().map(|e| e - e0).collect::<Vec<_>>());
        rel.push(s.energies[..nb].iter().zip(&exact).map(|(e, x)| (e - e0 - x) / x).collect::<Vec<f64>>());
    }
    check_convergence("finite well", &rel[0], &rel[1], MIN_ORDER);
}

/// Errors at a sequence of spacings: |error| decreasing, and the observed order between
/// each pair of consecutive spacings (log(e_k/e_k+1)/log(h_k/h_k+1)) at least `min_order`.
fn check_monotone_order(what: &str, h: &[f64], err: &[f64], min_order: f64) {
    for k in 0..h.len() - 1 {
        let p = (err[k].abs() / err[k + 1].abs()).ln() / (h[k] / h[k + 1]).ln();
        println!("  {what}: h {:.5} → {:.5} nm: |error| {:.3e} → {:.3e}, order {p:.3}", h[k], h[k + 1], err[k].abs(), err[k + 1].abs());
        assert!(err[k + 1].abs() < err[k].abs(), "{what}: the error grows from h = {} to {}: {err:?}", h[k], h[k + 1]);
        assert!(p >= min_order, "{what}: observed order {p:.3} < {min_order} between h = {} and {} (errors {err:?})", h[k], h[k + 1]);
    }
}

/// The interfaces of the GaAs/Al0.3Ga0.7As well at a fixed fraction of a cell (not on
/// faces), five spacings h = 0.5 … 0.03125 nm: the edges at ±(5 nm − 0.3 h), so that the
/// well takes 0.7 of each cut cell (10 nm/h is an integer: the faces sit at ±5 nm). The
/// exact BenDaniel–Duke levels are those of the width 10 nm − 0.6 h at each spacing.
///
/// Measured, E − exact in meV (E1 = 30.8, E2 = 121.3, E3 = 249.4 meV above the well's edge):
///   h (nm)    before (4 sub-samples, 8-point faces)     after (bisected crossings)
///             E1        E2        E3                   E1         E2         E3
///   0.5      −0.164    −1.059    −1.708               +0.1297    −0.0313    −0.765
///   0.25     −0.102    −0.483    −0.719               +0.0279    −0.0101    −0.209
///   0.125    −0.0546   −0.229    −0.317               +0.00641   −0.00288   −0.0533
///   0.0625   −0.0280   −0.111    −0.147               +0.00153   −0.000769  −0.0131
///   0.03125  −0.0141   −0.0548   −0.0703              +0.000374  −0.000199  −0.00295
/// Before: order 0.7–1.0 (the sampled fractions 0.75 for 0.7 widen the well by 0.1 h).
/// After: E1 orders 2.22, 2.12, 2.07, 2.03; E2 1.63 (its two O(h²) terms nearly cancel at
/// h = 0.5), then 1.81, 1.91, 1.95; E3 1.87, 1.97, 2.03, 2.15. E1 is held to order 1.8 at
/// every pair of spacings, E2 and E3 from h = 0.25 on.
#[test]
fn finite_well_1d_off_grid_interfaces() {
    let (w, b) = (gaas(), algaas(0.3));
    let v0 = ec(&b) - ec(&w);
    let (a, size, theta) = (10.0, 80.0, 0.3);
    let nb = finite_well_levels(a, v0, kin(&w), kin(&b)).len();
    let hs: Vec<f64> = (0..5).map(|k| 0.5 / (1u32 << k) as f64).collect();
    let mut errs: Vec<Vec<f64>> = vec![Vec::new(); nb];
    for &h in &hs {
        let width = a - 2.0 * theta * h;
        let exact = finite_well_levels(width, v0, kin(&w), kin(&b));
        assert_eq!(exact.len(), nb);
        let json = well_scene(size, h, width, nb + 1);
        let (p, s) = run_scene(&json);
        assert_eq!(p.map.mixed.len(), 2, "both well edges cut a cell");
        for (_, fr) in &p.map.mixed {
            assert!(fr[0].0 == 1 && (fr[0].1 - (1.0 - theta)).abs() < 1e-5 && (fr[1].1 - theta).abs() < 1e-5, "fractions {fr:?}");
        }
        let e0 = ec(&w);
        let d: Vec<f64> = s.energies[..nb].iter().zip(&exact).map(|(e, x)| e - e0 - x).collect();
        println!("  h = {h:.5} nm: E − exact = {:?} meV", d.iter().map(|x| x * 1e3).collect::<Vec<_>>());
        for (i, x) in d.into_iter().enumerate() {
            errs[i].push(x);
        }
    }
    for (i, e) in errs.iter().enumerate() {
        let from = if i == 0 { 0 } else { 1 };
        check_monotone_order(&format!("off-grid well E{}", i + 1), &hs[from..], &e[from..], 1.8);
    }
}

// ---------------------------------------------------------------------------------------
// 3. Isotropic harmonic oscillators in 2D and 3D: (n + d/2) ħω, degeneracy C(n+d-1, d-1).

fn harmonic(dim: usize, hbar_omega: f64, half_width_l0: f64, cells: [usize; 2], nlevels: usize, block: usize) {
    let m = gaas();
    let l0 = (2.0 * kin(&m) / hbar_omega).sqrt(); // sqrt(ħ/(m ω))
    let size = 2.0 * half_width_l0 * l0;
    let degeneracy = |n: usize| if dim == 2 { n + 1 } else { (n + 1) * (n + 2) / 2 };
    let states: usize = (0..nlevels).map(degeneracy).sum();
    let e0 = ec(&m);
    let mut rel = Vec::new();
    println!("{dim}D oscillator: hbar omega = {hbar_omega} eV, l0 = {l0:.3} nm, domain ±{half_width_l0} l0");
    for c in cells {
        let h = size / c as f64;
        let sizes = vec![size; dim];
        let json = format!(
            r#"{{ "domain": {{ "size": {sizes:?}, "spacing": {h} }}, "temperature": {TEMPERATURE},
                 "background": {{ "material": "GaAs" }},
                 "potentials": [ {{ "type": "harmonic", "hbar_omega": {hbar_omega} }} ],
                 "solve": {{ "states": {states}, "tolerance": 1e-9, "block_size": {block} }} }}"#
        );
        println!("  h = {h:.4} nm = {:.4} l0", h / l0);
        let (p, s) = run_scene(&json);
        assert_eq!(p.grid.dims(), vec![c; dim]);
        let levels = group_levels(&s.energies, 0.25 * hbar_omega);
        let mults: Vec<usize> = levels.iter().map(|l| l.1).collect();
        println!("    multiplicities {mults:?}");
        assert_eq!(mults, (0..nlevels).map(degeneracy).collect::<Vec<_>>(), "energies {:?}", s.energies);
        // worst relative error of each level's members
        let mut r = Vec::new();
        for (n, (_, _, idx)) in levels.iter().enumerate() {
            let exact = (n as f64 + dim as f64 / 2.0) * hbar_omega;
            let errs: Vec<f64> = idx.iter().map(|&i| (s.energies[i] - e0 - exact) / exact).collect();
            println!(
                "    level {n}: exact {exact:.6} eV, rel. errors [{}]",
                errs.iter().map(|e| format!("{e:+.3e}")).collect::<Vec<_>>().join(", ")
            );
            r.push(errs.into_iter().fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a }));
        }
        rel.push(r);
    }
    check_convergence(&format!("{dim}D oscillator"), &rel[0], &rel[1], MIN_ORDER);
}

#[test]
fn harmonic_oscillator_2d() {
    harmonic(2, 0.02, 6.0, [48, 96], 4, 4);
}

/// Domain ±4 l0 (not 6) to keep the fine grid at 48³: the hard walls raise the n ≤ 2
/// levels by about 2 ψ(X)|ψ'(X)| ~ 1e-4 ħω (measured: the n = 2 error at h/2 is 0.368 %
/// with walls at ±4 l0 against 0.374 % expected from the h² scaling of a ±5 l0 run),
/// negligible next to the discretisation error. Walltime on 2 shared cores: ~63 s, almost
/// all in the 48³ Lanczos solve (1432 matvecs, block 6, 10 states); 56³ with ±5 l0 took 87 s.
#[test]
fn harmonic_oscillator_3d() {
    harmonic(3, 0.02, 4.0, [24, 48], 3, 6);
}

// ---------------------------------------------------------------------------------------
// 4. Spherical finite well with a mass step: l = 0 and l = 1.

/// Bound levels of angular momentum `l` (0 or 1) of a spherical well of radius `r` (nm),
/// depth `v0` (eV), ħ²/2m `kw` inside and `kb` outside; energies above the well bottom.
fn spherical_levels(l: usize, r: f64, v0: f64, kw: f64, kb: f64) -> Vec<f64> {
    // Matching ψ and (1/m) ψ' at R: (1/m_w) ψ_in'/ψ_in = (1/m_b) ψ_out'/ψ_out, written
    // multiplied by the inner function so that it has no poles.
    let f = |e: f64| {
        let k = (e / kw).sqrt();
        let q = ((v0 - e) / kb).sqrt();
        let x = k * r;
        let (j0, j1) = (x.sin() / x, x.sin() / (x * x) - x.cos() / x);
        match l {
            // inside j0(kr) ∝ sin(kr)/r: ψ'/ψ = k cot(kR) − 1/R; outside e^{−κr}/r:
            // ψ'/ψ = −κ − 1/R. Multiplied by sin(kR).
            0 => kw * (k * x.cos() - x.sin() / r) + kb * (q + 1.0 / r) * x.sin(),
            // inside j1: ψ'/ψ = k j0/j1 − 2/R; outside k1 ∝ e^{−κr}(κr + 1)/(κr)²:
            // ψ'/ψ = −κ + κ/(κR + 1) − 2/R.
            1 => kw * (k * j0 - 2.0 * j1 / r) - kb * (-q + q / (q * r + 1.0) - 2.0 / r) * j1,
            _ => unreachable!(),
        }
    };
    roots(f, 0.0, v0, 20000)
}

/// The sphere's surface cuts cells: their band edge is the volume-fraction average (the
/// interface reconstructed as a plane in each cut cell from bisected crossings) and the
/// kinetic coefficient on every face touching a cut cell is the series conductance of the
/// segment between the two centres (`MaterialMap::face_coefficients`). The two spacings
/// keep the geometry self-similar (centre on a cell corner, R = 8 h and 16 h), the usual
/// way to measure the order with an embedded interface; `spherical_well_off_grid_second_order`
/// takes grids that do not fit the sphere. Measured (R = 8 nm, 36 nm domain):
///   h = 1.0 nm: 1s +6.55e-3, 1p +9.30e-4
///   h = 0.5 nm: 1s +1.65e-3, 1p +2.45e-4
/// 1s converges at order 1.99, 1p at 1.92. Before the planes (4³ sub-samples, faces
/// sampled on 8 × 8 lines of 8 points) the errors were 1s +4.96e-3, +8.92e-4 (order 2.5)
/// and 1p −4.75e-4, −4.88e-4 (no convergence: the residual interface error), so 1p was
/// only held to 0.1 %; now both orders are asserted.
#[test]
fn spherical_well_3d() {
    let (w, b) = (gaas(), algaas(0.3));
    let v0 = ec(&b) - ec(&w);
    let radius = 8.0;
    // ≥ 10 nm of barrier: exp(−2κ·10 nm) ≤ 1e-5 for the 1s and 1p decay constants
    let size = 36.0;
    let s_levels = spherical_levels(0, radius, v0, kin(&w), kin(&b));
    let p_levels = spherical_levels(1, radius, v0, kin(&w), kin(&b));
    println!("sphere R = {radius} nm, V0 = {v0:.5} eV: l=0 levels {s_levels:?}, l=1 levels {p_levels:?}");
    let (e1s, e1p) = (s_levels[0], p_levels[0]);
    assert!(e1s < e1p);
    let e0 = ec(&w);
    let (mut errs_1s, mut errs_1p) = (Vec::new(), Vec::new());
    for (cells, tol) in [(36usize, 1e-2), (72, REL_TOL_FINE)] {
        let h = size / cells as f64;
        let json = format!(
            r#"{{ "domain": {{ "size": [{size}, {size}, {size}], "spacing": {h} }}, "temperature": {TEMPERATURE},
                 "background": {{ "material": "AlGaAs", "x": 0.3 }},
                 "regions": [ {{ "shape": {{ "type": "sphere", "center": [0, 0, 0], "radius": {radius} }}, "material": "GaAs" }} ],
                 "solve": {{ "states": 5, "tolerance": 1e-9, "block_size": 5 }} }}"#
        );
        println!("sphere, h = {h} nm");
        let (_, s) = run_scene(&json);
        let en: Vec<f64> = s.energies.iter().map(|e| e - e0).collect();
        println!("  E - Ec_w = {en:?}");
        let levels = group_levels(&s.energies, 1e-3 * (e1p - e1s));
        let mults: Vec<usize> = levels.iter().map(|l| l.1).collect();
        assert_eq!(&mults[..2], &[1, 3], "energies {en:?}");
        let r1s = (en[0] - e1s) / e1s;
        let r1p = (levels[1].0 - e0 - e1p) / e1p;
        let spread = (en[3] - en[1]) / e1p;
        println!("  1s rel. error {r1s:+.3e}; 1p rel. error {r1p:+.3e} (relative spread of the triplet {spread:.1e})");
        assert!(spread < 1e-9, "1p triplet split by {spread:e}");
        assert!(r1s.abs() <= tol && r1p.abs() <= tol, "h = {h}: errors 1s {r1s:e}, 1p {r1p:e} exceed {tol}");
        assert!(r1p.abs() <= 1e-3, "1p error {r1p:e}");
        errs_1s.push(r1s.abs());
        errs_1p.push(r1p.abs());
    }
    let order = (errs_1s[0] / errs_1s[1]).log2();
    println!("  sphere 1s: order {order:.2}");
    assert!(order > 1.6, "1s converges at order {order:.2}: errors {errs_1s:?}");
    let order_p = (errs_1p[0] / errs_1p[1]).log2();
    println!("  sphere 1p: order {order_p:.2}");
    assert!(order_p > 1.6, "1p converges at order {order_p:.2}: errors {errs_1p:?}");
}

/// The sphere's 1s level on grids that do not fit it (R/h = 6.7, 8.9, 11.1, 13.3: the
/// surface cuts the cells in a different pattern at each spacing) against the exact l = 0
/// solution with the mass step (BenDaniel–Duke matching at R). With the interface
/// reconstructed as a plane in each cut cell the error falls monotonically at second order;
/// before, the 4³ sub-samples and 8-point face lines made it wander with the cut pattern.
/// Measured, 1s relative error (E1s = 57.78 meV):
///   h (nm)   R/h     before       after
///   1.2      6.67    +7.70e-3     +1.019e-2
///   0.9      8.89    +6.64e-3     +5.905e-3
///   0.72     11.11   +2.36e-3     +2.962e-3
///   0.6      13.33   +1.94e-3     +2.084e-3
/// Orders between consecutive spacings: before 0.52, 4.64, 1.08; after 1.90, 3.09, 1.93
/// (overall 2.29). 1.5 s in release on 2 cores.
#[test]
fn spherical_well_off_grid_second_order() {
    let (w, b) = (gaas(), algaas(0.3));
    let v0 = ec(&b) - ec(&w);
    let (radius, size) = (8.0, 36.0);
    let e1s = spherical_levels(0, radius, v0, kin(&w), kin(&b))[0];
    let hs = [1.2, 0.9, 0.72, 0.6];
    let mut errs = Vec::new();
    for &h in &hs {
        let json = format!(
            r#"{{ "domain": {{ "size": [{size}, {size}, {size}], "spacing": {h} }}, "temperature": {TEMPERATURE},
                 "background": {{ "material": "AlGaAs", "x": 0.3 }},
                 "regions": [ {{ "shape": {{ "type": "sphere", "center": [0, 0, 0], "radius": {radius} }}, "material": "GaAs" }} ],
                 "solve": {{ "states": 1, "tolerance": 1e-10 }} }}"#
        );
        let (_, s) = run_scene(&json);
        let r = (s.energies[0] - ec(&w) - e1s) / e1s;
        println!("  h = {h} nm (R/h = {:.2}): 1s rel. error {r:+.4e}", radius / h);
        errs.push(r);
    }
    check_monotone_order("off-grid sphere 1s", &hs, &errs, 1.8);
}

