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

/// Issue 11, item 13: device results say what they mean. The statistics are spelled as in
/// the input, contact potentials are labelled, there is a materials table, the history's
/// quantum electrons carry their unit (cm⁻² in 1D, as `charge`), the potential span
/// includes the contacts' boundary values, states above the band edge on the quantum
/// region's boundary are flagged `bound: false` (table and console), and the subbands'
/// in-plane mass is the k·p one, 1/m = ⟨ψ|1/m*|ψ⟩.
#[test]
fn device_results_label_units_contacts_materials_and_unbound_states() {
    let d = common::tmpdir("device", "labels");
    let scene = d.join("hj.json");
    std::fs::write(&scene, heterojunction(1.0, 60)).unwrap();
    let out = d.join("hj.out");
    let o = bin().args(["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu"]).output().unwrap();
    let console = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{console}{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["statistics"], "fermi_dirac", "spelled as the input's solve.poisson.statistics");
    for c in r["contacts"].as_array().unwrap() {
        let (lo, hi) = (c["potential_v"]["min"].as_f64().unwrap(), c["potential_v"]["max"].as_f64().unwrap());
        assert!(lo <= hi, "{c}");
        assert!(lo >= r["potential_v"]["min"].as_f64().unwrap() && hi <= r["potential_v"]["max"].as_f64().unwrap(), "the span holds the contacts: {}", r["potential_v"]);
    }
    // the Schottky surface holds a field: its boundary value lies beyond the first cell centre
    assert!(r["potential_v"]["span"].as_f64().unwrap() > r["potential_v"]["cell_centres"]["span"].as_f64().unwrap(), "{}", r["potential_v"]);
    let mats: Vec<&str> = r["materials"].as_array().unwrap().iter().map(|m| m["material"].as_str().unwrap()).collect();
    assert_eq!(mats.len(), 3, "background and two regions: {}", r["materials"]);
    assert_eq!(mats[0], "GaAs");
    assert!(r["materials"][1]["band_edge_ev"].as_f64().unwrap() > r["materials"][0]["band_edge_ev"].as_f64().unwrap());
    let last = r["self_consistency"]["history"].as_array().unwrap().last().unwrap().clone();
    assert!(last.get("quantum_electrons").is_none(), "the unitless key is gone: {last}");
    let ns = last["quantum_electrons_cm-2"].as_f64().unwrap();
    assert!(ns > 1e10 && ns < 1e13, "{ns} cm^-2");
    let q = &r["quantum"];
    let barrier = q["lowest_boundary_band_edge_ev"].as_f64().unwrap();
    let states = q["states"].as_array().unwrap();
    assert_eq!(states[0]["bound"], true);
    let mut unbound = 0;
    for s in states {
        let free = s["energy_ev"].as_f64().unwrap() > barrier;
        assert_eq!(s["bound"], !free, "{s} against {barrier} eV");
        unbound += free as usize;
    }
    assert!(unbound > 0, "6 states of a triangular well reach above its edge at the region's boundary");
    assert_eq!(console.matches("not bound *").count(), unbound, "{console}");
    // the k·p in-plane mass, a harmonic mean weighted by |ψ|², below ⟨m⟩ for a state that
    // reaches into the heavier AlGaAs
    let l = loaded(&heterojunction(1.0, 60));
    let (model, sol) = solve(&CpuBackend::new(), &l);
    let qc = sol.quantum.as_ref().unwrap();
    for (psi, &m) in qc.states.iter().zip(&qc.m_free) {
        let inv: f64 = psi.iter().zip(&qc.cells).map(|(p, &c)| p * p / model.electron_mass[c]).sum();
        let mean: f64 = psi.iter().zip(&qc.cells).map(|(p, &c)| p * p * model.electron_mass[c]).sum();
        assert!((m * inv - 1.0).abs() < 1e-12, "m = {m}, 1/<1/m> = {}", 1.0 / inv);
        assert!(m <= mean * (1.0 + 1e-12));
    }
    // mode poisson in 1D: the span is the contact-to-contact drop
    let scene = d.join("pn.json");
    std::fs::write(&scene, pn(1e17, 4.0, "boltzmann")).unwrap();
    let out = d.join("pn.out");
    let o = bin().args(["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["statistics"], "boltzmann");
    let c = r["contacts"].as_array().unwrap();
    let drop = (c[1]["potential_v"]["max"].as_f64().unwrap() - c[0]["potential_v"]["min"].as_f64().unwrap()).abs();
    let span = r["potential_v"]["span"].as_f64().unwrap();
    assert!((span - drop).abs() < 1e-12, "span {span} V, contact to contact {drop} V");
    assert!(span >= r["potential_v"]["cell_centres"]["span"].as_f64().unwrap());
    let _ = std::fs::remove_dir_all(&d);
}
