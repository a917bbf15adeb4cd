//! Device physics against closed forms: the abrupt p-n junction (built-in potential,
//! depletion approximation, neutrality in the contacts), the 2DEG of a modulation-doped
//! heterojunction (self-consistent, converged in the grid), the GPU backend against the
//! CPU, and the exit codes of non-convergence and bad input.

use std::path::PathBuf;

mod common;
use common::bin;

use qdsim_gpu::backend::CpuBackend;
use qdsim_gpu::constants::{kt_ev, EPS0_SI, Q_SI};
use qdsim_gpu::linalg::Backend;
use qdsim_gpu::materials::MaterialDb;
use qdsim_gpu::scene::{parse_scene, LoadedScene};
use qdsim_gpu::self_consistent::{prepare_device, solve_device, DeviceSolution};
use qdsim_gpu::simulation::SolveOptions;

fn loaded(text: &str) -> LoadedScene {
    LoadedScene { scene: parse_scene(text).expect("scene"), path: PathBuf::from("test.json"), base_dir: PathBuf::from(".") }
}

fn solve<B: Backend>(be: &B, l: &LoadedScene) -> (qdsim_gpu::physics::device::DeviceModel, DeviceSolution) {
    let (model, _) = prepare_device(l).expect("device");
    let sopts = SolveOptions::from_scene(&l.scene);
    let sol = solve_device(be, l, &model, &sopts, None, &mut |_| {}).expect("solve");
    (model, sol)
}

fn pn(n: f64, spacing: f64, statistics: &str) -> String {
    format!(
        r#"{{
  "domain": {{ "size": [1200.0], "spacing": {spacing} }},
  "temperature": 300,
  "background": {{ "material": "GaAs", "doping": {{ "acceptors": {n:e} }} }},
  "regions": [ {{ "shape": {{ "type": "layer", "axis": "x", "from": 0.0, "to": 600.0 }}, "material": "GaAs", "doping": {{ "donors": {n:e} }} }} ],
  "contacts": [ {{ "face": "x_min", "type": "ohmic" }}, {{ "face": "x_max", "type": "ohmic" }} ],
  "solve": {{ "mode": "poisson", "poisson": {{ "statistics": "{statistics}", "holes": true, "tolerance": 1e-9 }} }}
}}"#
    )
}

#[test]
fn pn_junction_matches_the_built_in_potential_and_the_depletion_approximation() {
    let n = 1e17;
    let l = loaded(&pn(n, 0.5, "boltzmann"));
    let (model, sol) = solve(&CpuBackend::new(), &l);
    assert!(sol.converged);
    let gaas = MaterialDb::builtin().resolve("GaAs", None).unwrap();
    let t = 300.0;
    let kt = kt_ev(t);
    let ni = qdsim_gpu::physics::carriers::intrinsic_density(&gaas, t);
    // built-in potential: (kT/q) ln(N_A N_D / n_i²), within 1 %
    let vbi_exact = kt * (n * n / (ni * ni)).ln();
    let (lo, hi) = sol.phi.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let vbi = hi - lo;
    assert!((vbi - vbi_exact).abs() < 0.01 * vbi_exact, "V_bi {vbi} V, closed form {vbi_exact} V");
    // depletion widths: x_n = x_p = sqrt(2 ε (V_bi − 2kT/q) N_A / (q N_D (N_A + N_D))) (the
    // depletion approximation with the majority-carrier tails' 2kT/q correction), within 5 %;
    // measured where the net charge is half the doping
    let eps = gaas.eps_r * EPS0_SI;
    let w_side = (2.0 * eps * (vbi_exact - 2.0 * kt) * n / (Q_SI * n * 1e6 * (n + n))).sqrt() * 1e9; // nm (densities to m⁻³)
    let x = model.grid.axis_centers(0);
    let rho = &sol.charge.rho;
    let xn = x.iter().zip(rho).filter(|(&xv, &r)| xv > 0.0 && r > 0.5 * n).map(|(&xv, _)| xv).fold(0.0, f64::max);
    let xp = x.iter().zip(rho).filter(|(&xv, &r)| xv < 0.0 && r < -0.5 * n).map(|(&xv, _)| -xv).fold(0.0, f64::max);
    for (side, w) in [("n", xn), ("p", xp)] {
        assert!((w - w_side).abs() < 0.05 * w_side, "{side} side depletion width {w} nm, depletion approximation {w_side} nm");
    }
    // neutral deep in the contacts: |ρ| ≤ 1e-4 of the doping in the outer 50 nm
    for (xv, r) in x.iter().zip(rho) {
        if xv.abs() > 550.0 {
            assert!(r.abs() <= 1e-4 * n, "charge {r} cm^-3 at x = {xv} nm");
        }
    }
}

#[test]
fn fermi_dirac_and_boltzmann_agree_for_light_doping_and_differ_for_degenerate() {
    let (_, light_fd) = solve(&CpuBackend::new(), &loaded(&pn(1e15, 4.0, "fermi_dirac")));
    let (_, light_b) = solve(&CpuBackend::new(), &loaded(&pn(1e15, 4.0, "boltzmann")));
    let span = |s: &DeviceSolution| s.phi.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - s.phi.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!((span(&light_fd) - span(&light_b)).abs() < 1e-3, "{} vs {}", span(&light_fd), span(&light_b));
    let (_, heavy_fd) = solve(&CpuBackend::new(), &loaded(&pn(1e18, 2.0, "fermi_dirac")));
    let (_, heavy_b) = solve(&CpuBackend::new(), &loaded(&pn(1e18, 2.0, "boltzmann")));
    // degenerate n side (N_D > Nc = 4.4e17): F_1/2(η) < e^η, so Fermi–Dirac needs E_F further
    // into the band than Boltzmann for the same electrons: a larger built-in potential
    assert!(span(&heavy_fd) - span(&heavy_b) > 0.01, "{} vs {}", span(&heavy_fd), span(&heavy_b));
}

fn heterojunction(spacing: f64, max_iterations: usize) -> String {
    format!(
        r#"{{
  "domain": {{ "size": [400.0], "spacing": {spacing} }},
  "temperature": 77,
  "background": {{ "material": "GaAs", "doping": {{ "acceptors": 1e14 }} }},
  "regions": [
    {{ "shape": {{ "type": "layer", "axis": "x", "from": -200.0, "to": -140.0 }}, "material": "AlGaAs", "x": 0.3 }},
    {{ "shape": {{ "type": "layer", "axis": "x", "from": -200.0, "to": -150.0 }}, "material": "AlGaAs", "x": 0.3, "doping": {{ "donors": 1e18 }} }}
  ],
  "contacts": [
    {{ "face": "x_min", "type": "schottky", "barrier": 0.7 }},
    {{ "face": "x_max", "type": "ohmic" }}
  ],
  "solve": {{ "mode": "self_consistent", "states": 6,
    "poisson": {{ "holes": true, "tolerance": 1e-6, "max_iterations": {max_iterations},
      "mixing": {{ "method": "anderson", "beta": 0.5, "history": 6 }},
      "quantum_region": {{ "min": [-150.0], "max": [-40.0] }} }} }}
}}"#
    )
}

fn sheet_density(s: &DeviceSolution, model: &qdsim_gpu::physics::device::DeviceModel) -> f64 {
    let q = s.quantum.as_ref().expect("quantum states");
    q.occupations(model.ef_n, model.kt).iter().sum::<f64>() * 1e14 // nm⁻² → cm⁻²
}

#[test]
fn two_deg_sheet_density_is_converged_in_the_grid() {
    let mut ns = Vec::new();
    for h in [0.5, 0.25] {
        let (model, sol) = solve(&CpuBackend::new(), &loaded(&heterojunction(h, 60)));
        assert!(sol.converged, "h = {h}: {:?}", sol.history.last());
        assert!(sol.history.len() < 30, "{} self-consistent iterations", sol.history.len());
        ns.push(sheet_density(&sol, &model));
    }
    // a few 1e11 cm^-2, as for such a heterostructure; within 2 % of the finer grid
    assert!(ns[1] > 1e11 && ns[1] < 2e12, "sheet density {:e} cm^-2", ns[1]);
    assert!((ns[0] - ns[1]).abs() < 0.02 * ns[1], "sheet densities {ns:?}");
}

#[test]
fn gpu_backend_gives_the_cpu_potential_and_levels() {
    let Some(g) = common::gpu() else { return };
    let l = loaded(&heterojunction(1.0, 60));
    let (_, c) = solve(&CpuBackend::new(), &l);
    let (_, gs) = solve(&g, &l);
    assert!(c.converged && gs.converged);
    let dphi = c.phi.iter().zip(&gs.phi).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(dphi < 2e-5, "max |φ_gpu − φ_cpu| = {dphi} V");
    let (ec, eg) = (&c.quantum.as_ref().unwrap().energies, &gs.quantum.as_ref().unwrap().energies);
    for (a, b) in ec.iter().zip(eg) {
        assert!((a - b).abs() < 2e-5, "levels {ec:?} vs {eg:?}");
    }
}


#[test]
fn too_few_iterations_exit_3_and_bad_device_input_exits_2() {
    let d = common::tmpdir("device", "exit-codes");
    let scene = d.join("hj.json");
    std::fs::write(&scene, heterojunction(1.0, 2)).unwrap();
    let out = d.join("hj.out");
    let o = bin().args(["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert!(text.contains("did not converge") && text.contains("max_iterations"), "{text}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["status"], "not_converged");
    // mode poisson: max_iterations caps the Newton steps
    let scene = d.join("pn.json");
    std::fs::write(&scene, pn(1e17, 2.0, "fermi_dirac").replace(r#""tolerance": 1e-9"#, r#""tolerance": 1e-9, "max_iterations": 2"#)).unwrap();
    let out = d.join("pn.out");
    let o = bin().args(["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu"]).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("potential_v.npy").exists());
    // n-type contacts at two voltages would drive a current: refused, naming the field
    let bad = pn(1e16, 4.0, "boltzmann").replace(r#"{ "face": "x_max", "type": "ohmic" }"#, r#"{ "face": "x_max", "type": "ohmic" }, { "face": "x_max", "type": "ohmic", "voltage": 0.1 }"#);
    for (name, text, field) in [
        ("negative", pn(1e16, 4.0, "boltzmann").replace(r#""donors": 1e16"#, r#""donors": -1e16"#), "donors"),
        ("facename", pn(1e16, 4.0, "boltzmann").replace(r#""face": "x_max""#, r#""face": "top""#), "face"),
        ("twovoltages", bad, "contacts"),
    ] {
        let scene = d.join(format!("{name}.json"));
        std::fs::write(&scene, text).unwrap();
        let out = d.join(format!("{name}.out"));
        let o = bin().args(["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu"]).output().unwrap();
        let msg = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {msg}");
        assert!(msg.contains(field), "{name}: {msg}");
        assert!(!out.exists(), "{name}: an output folder was written");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 11 items 4 and 7: non-finite numbers arising in a device solve used to end in
/// exit 3 with nothing written (a contact at 1e3 V overflows the electron density), and a
/// NaN update compared false with the tolerance (`f64::max` skipped it). Now the solve stops
/// at the last finite potential, never converged, and the results are written and flagged
/// with the reason. (The scene is built in-process without validation, so that this stays a
/// test of the solver whatever bounds validation puts on voltages.)
#[test]
fn non_finite_numbers_in_a_device_solve_are_flagged_and_written() {
    let d = common::tmpdir("device", "non-finite");
    let text = pn(1e16, 4.0, "boltzmann").replace(r#"{ "face": "x_min", "type": "ohmic" }"#, r#"{ "face": "x_min", "type": "ohmic", "voltage": 1e3 }"#);
    assert!(text.contains("1e3"));
    let l = loaded(&text);
    let out = d.join("out");
    let opts = qdsim_gpu::simulation::RunOptions { backend: Some(qdsim_gpu::scene::BackendChoice::Cpu), ..Default::default() };
    let (report, phi) = qdsim_gpu::self_consistent::run(&l, &opts, Some(&out), None, &mut |_| {}).expect("flagged results, not an error");
    assert!(!report.converged);
    assert!(phi.iter().all(|v| v.is_finite()), "the potential is the last finite iterate");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["status"], "not_converged");
    let why = r["reason"].as_str().expect("a reason");
    assert!(why.contains("not finite"), "{why}");
    assert_eq!(r["self_consistency"]["stopped_because"].as_str(), Some(why));
    assert!(r["classical_poisson"]["failure"].is_string());
    assert!(out.join("potential_v.npy").exists());
    // Newton from a NaN potential: not converged, with the reason, never "converged"
    let (model, _) = prepare_device(&loaded(&pn(1e16, 4.0, "boltzmann"))).unwrap();
    let mut phi = model.initial_potential();
    phi[7] = f64::NAN;
    let rep = model.solve_poisson(&CpuBackend::new(), &mut phi, None, 1e-6, 20).unwrap();
    assert!(!rep.converged && rep.failure.is_some(), "{rep:?}");
    // a tolerance below f64's reach is raised, with a notice
    let tight = loaded(&pn(1e16, 4.0, "boltzmann").replace(r#""tolerance": 1e-9"#, r#""tolerance": 1e-300"#));
    let (model, _) = prepare_device(&tight).unwrap();
    let sol = solve_device(&CpuBackend::new(), &tight, &model, &SolveOptions::from_scene(&tight.scene), None, &mut |_| {}).unwrap();
    assert!(sol.converged, "{:?}", sol.classical);
    assert_eq!(sol.tolerance_v, 1e-12);
    assert!(sol.notices.iter().any(|n| n.contains("1e-300") && n.contains("1e-12")), "{:?}", sol.notices);
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 11 item 4, input side: a tabulated potential with a NaN is bad input (exit 2, the
/// potential named, nothing written), never a NaN energy called converged.
#[test]
fn a_nan_in_a_tabulated_potential_is_an_input_error() {
    let d = common::tmpdir("device", "nan-npy");
    let mut v = vec![0.0; 100];
    v[37] = f64::NAN;
    qdsim_gpu::output::npy::write_npy(&d.join("pot.npy"), &[100], &v).unwrap();
    let scene = d.join("s.json");
    std::fs::write(
        &scene,
        r#"{ "domain": { "size": [20.0], "spacing": 0.2 }, "background": { "material": "GaAs" },
             "potentials": [ { "type": "file", "path": "pot.npy" } ], "solve": { "states": 2, "backend": "cpu" } }"#,
    )
    .unwrap();
    let out = d.join("out");
    let o = bin().args(["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]).output().unwrap();
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.lines().next().unwrap_or("").starts_with("error: invalid input at `potentials"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&d);
}
