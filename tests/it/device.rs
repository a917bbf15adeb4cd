//! Device physics against closed forms: the abrupt p-n junction (built-in potential,
//! depletion approximation, neutrality in the contacts), the 2DEG of a modulation-doped
//! heterojunction (self-consistent, converged in the grid), the GPU backend against the
//! CPU, and the exit codes of non-convergence and bad input.

use std::path::PathBuf;

use crate::common;
use crate::common::bin;

use qdsim_gpu::backend::CpuBackend;
use qdsim_gpu::constants::{kt_ev, EPS0_SI, Q_SI};
use qdsim_gpu::linalg::Backend;
use qdsim_gpu::materials::MaterialDb;
use qdsim_gpu::scene::{parse_scene, LoadedScene};
use qdsim_gpu::pipeline::device::{prepare_device, solve_device, DeviceSolution};
use qdsim_gpu::pipeline::SolveOptions;

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

/// The shipped modulation-doped heterojunction (scenes/heterojunction_2deg_1d.json) at another
/// grid spacing and outer-iteration cap.
fn heterojunction(spacing: f64, max_iterations: usize) -> String {
    let text = std::fs::read_to_string(shipped("heterojunction_2deg_1d.json")).unwrap();
    assert!(text.contains(r#""spacing": 0.5"#) && text.contains(r#""max_iterations": 60"#));
    text.replace(r#""spacing": 0.5"#, &format!(r#""spacing": {spacing}"#)).replace(r#""max_iterations": 60"#, &format!(r#""max_iterations": {max_iterations}"#))
}

fn shipped(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenes").join(name)
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

/// The shipped 2DEG scene is the textbook structure: the doped AlGaAs keeps no electrons
/// (the old scene had a parallel channel there: n ≈ 7e17 cm⁻³, 1.59e12 cm⁻² electrons in all
/// against a 2DEG of 5.6e11), all electrons are the 2DEG's, one subband lies below E_F, and
/// the donors' electrons are accounted for by the surface, the 2DEG and the substrate.
#[test]
fn heterojunction_scene_is_a_single_2deg_without_a_parallel_channel() {
    let l = qdsim_gpu::scene::load_scene(&shipped("heterojunction_2deg_1d.json")).unwrap();
    let (model, sol) = solve(&CpuBackend::new(), &l);
    assert!(sol.converged && sol.history.len() < 30, "{:?}", sol.history.last());
    let x = model.grid.axis_centers(0);
    let h = model.grid.h[0];
    let doped = l.scene.regions.iter().find(|r| r.doping.as_ref().is_some_and(|d| d.donors > 0.0)).expect("a doped layer");
    let (from, to) = match &doped.shape {
        qdsim_gpu::scene::Shape::Layer { from, to, .. } => (*from, *to),
        other => panic!("doped region is not a layer: {other:?}"),
    };
    let n = &sol.charge.n;
    let in_doped = |xv: f64| xv > from && xv < to;
    let n_doped = x.iter().zip(n).filter(|(&xv, _)| in_doped(xv)).map(|(_, &v)| v).fold(0.0, f64::max);
    assert!(n_doped < 1e13, "electrons in the doped AlGaAs: {n_doped:e} cm^-3");
    let total = qdsim_gpu::physics::device::sheet_density_1d(n, h);
    let two_deg = sheet_density(&sol, &model);
    assert!((total - two_deg).abs() < 1e-3 * two_deg, "all electrons {total:e} cm^-2, 2DEG {two_deg:e} cm^-2");
    assert!(two_deg > 2e11 && two_deg < 4e11, "2DEG {two_deg:e} cm^-2");
    let e = &sol.quantum.as_ref().unwrap().energies;
    assert!(e[0] < model.ef_n && e[1] > model.ef_n, "levels {e:?}, E_F {}", model.ef_n);
    // Gauss: the donors' 3e12 cm^-2 = surface charge + 2DEG + substrate charge + acceptors
    let donors = qdsim_gpu::physics::device::sheet_density_1d(&sol.charge.donors_ionised, h);
    let net = qdsim_gpu::physics::device::sheet_density_1d(&sol.charge.rho, h);
    assert!((donors - 3e12).abs() < 1e-6 * donors);
    assert!(net > 0.85 * donors && net < donors - two_deg, "net {net:e} (surface and substrate), donors {donors:e}");
}

/// log10 n across the faces of a 2D quantum region: the largest jump across a face beyond
/// twice the cell-to-cell change on either side (decades). `faces`: which faces to check
/// (x_min, x_max, y_min, y_max).
fn seam_step(model: &qdsim_gpu::physics::device::DeviceModel, n: &[f64], min: &[f64], max: &[f64], faces: [bool; 4]) -> f64 {
    let g = &model.grid;
    let r = model.region_cells(min, max).unwrap();
    let l = |i: usize, j: usize| n[g.index(i, j, 0)].max(1e-300).log10();
    let mut worst = f64::NEG_INFINITY;
    let mut check = |a: (usize, usize), b: (usize, usize), a2: (usize, usize), b2: (usize, usize)| {
        let face = (l(a.0, a.1) - l(b.0, b.1)).abs();
        let near = (l(a.0, a.1) - l(a2.0, a2.1)).abs().max((l(b.0, b.1) - l(b2.0, b2.1)).abs());
        worst = worst.max(face - 2.0 * near);
    };
    let (i0, i1, j0, j1) = (r[0].start, r[0].end - 1, r[1].start, r[1].end - 1);
    for j in r[1].clone() {
        if faces[0] {
            check((i0, j), (i0 - 1, j), (i0 + 1, j), (i0 - 2, j));
        }
        if faces[1] {
            check((i1, j), (i1 + 1, j), (i1 - 1, j), (i1 + 2, j));
        }
    }
    for i in r[0].clone() {
        if faces[2] {
            check((i, j0), (i, j0 - 1), (i, j0 + 1), (i, j0 - 2));
        }
        if faces[3] {
            check((i, j1), (i, j1 + 1), (i, j1 - 1), (i, j1 + 2));
        }
    }
    worst
}

/// The 2D dot-in-diode had a square step in log n at the edge of its quantum region (ψ = 0
/// there, classical outside: 8 decades). Now the electrons above the continuum edge are
/// classical inside the region too, so the density joins the outside one on the n side, and
/// the shipped region reaches far enough into the p side for the bound states' tails to fall
/// below the classical density: no face of the region shows a step.
#[test]
fn dot_in_diode_density_has_no_step_at_the_quantum_region_edge() {
    let l = qdsim_gpu::scene::load_scene(&shipped("dot_in_pn_diode_2d.json")).unwrap();
    let region = l.scene.solve.poisson_options().quantum_region.clone().unwrap();
    let (model, sol) = solve(&CpuBackend::new(), &l);
    assert!(sol.converged);
    let q = sol.quantum.as_ref().unwrap();
    let edge = q.continuum_edge_ev.expect("the region has seams");
    assert!(q.is_bound(0) && q.energies[0] < edge - 0.1, "ground level {} eV, continuum edge {edge} eV", q.energies[0]);
    let step = seam_step(&model, &sol.charge.n, &region.min, &region.max, [true; 4]);
    assert!(step <= 0.1, "log10 n steps by {step} decades more than its neighbours at the region's edge");
    // the old 40 × 40 nm box: its n-side face (in the depletion region, where the dot's
    // states have not decayed and the classical electrons are many) now joins smoothly too
    let shipped_text = std::fs::read_to_string(shipped("dot_in_pn_diode_2d.json")).unwrap();
    let (new_box, old_box) = (r#""min": [-32.0, -30.0], "max": [20.0, 30.0]"#, r#""min": [-20.0, -20.0], "max": [20.0, 20.0]"#);
    assert!(shipped_text.contains(new_box));
    let text = shipped_text.replace(new_box, old_box);
    let (model, sol) = solve(&CpuBackend::new(), &loaded(&text));
    let step = seam_step(&model, &sol.charge.n, &[-20.0, -20.0], &[20.0, 20.0], [false, true, false, false]);
    assert!(step <= 0.1, "n-side face of the old box: {step} decades");
}

/// sweep_reverse_bias claimed the quantum-confined Stark effect but showed E0 following the
/// potential of the whole well (≈ 0.5 eV/V). sweep.csv now has E0 against the band edge at
/// the well's centre: below the flat well's 30.8 meV, falling by a few meV over the sweep,
/// quadratically (concave in the bias, as −(F0 + αV)²).
#[test]
fn reverse_bias_sweep_reports_the_stark_shift_against_the_well_edge() {
    let l = qdsim_gpu::scene::load_scene(&shipped("sweep_reverse_bias.json")).unwrap();
    let spec = qdsim_gpu::pipeline::sweep::SweepSpec::from_scene(&l).unwrap();
    let opts = qdsim_gpu::pipeline::RunOptions { backend: Some(qdsim_gpu::scene::BackendChoice::Cpu), ..Default::default() };
    let (mut e0, mut stark, mut start) = (Vec::new(), Vec::new(), None::<qdsim_gpu::pipeline::WarmStart>);
    for mut pt in qdsim_gpu::pipeline::sweep::points(&l, &spec, &opts).unwrap() {
        pt.scene.solve.backend = qdsim_gpu::scene::BackendChoice::Cpu;
        let report = qdsim_gpu::pipeline::run(&pt, &opts, start.as_ref(), &mut qdsim_gpu::pipeline::Progress::none()).unwrap();
        assert!(report.converged);
        e0.push(report.energies[0]);
        stark.push(report.results.to_value()["key_quantities"]["ground_state_minus_well_edge_mev"].as_f64().expect("ground_state_minus_well_edge_mev"));
        start = Some(report.warm);
    }
    assert_eq!(e0.len(), 6);
    assert!(e0[0] - e0[5] > 0.2, "E0 {e0:?}");
    assert!(stark[0] < 30.8 && stark[0] > 15.0, "E0 − Ec(well) {stark:?} meV");
    let drop = stark[0] - stark[5];
    assert!(drop > 1.0 && drop < 10.0 && drop < 0.05 * (e0[0] - e0[5]) * 1e3, "Stark shift {drop} meV against {} meV", (e0[0] - e0[5]) * 1e3);
    for w in stark.windows(3) {
        assert!(w[1] < w[0] && w[2] - 2.0 * w[1] + w[0] < 0.0, "not falling and concave: {stark:?}");
    }
}

/// The classical electrons above a cut (the continuum of a quantum region): the whole band
/// at b = 0⁺, decreasing in b, ∂/∂φ against a difference quotient, Boltzmann in closed form.
#[test]
fn continuum_density_above_a_cut() {
    use qdsim_gpu::physics::carriers::{continuum_electron_density, electron_density};
    use qdsim_gpu::scene::Statistics;
    use std::f64::consts::PI;
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(f64::MIN_POSITIVE);
    let (nc, ec0, kt) = (4.4e17, 0.7, kt_ev(300.0));
    for stat in [Statistics::FermiDirac, Statistics::Boltzmann] {
        for ef in [0.4, 0.7, 0.9] {
            let full = electron_density(stat, nc, ec0, 0.0, ef, kt);
            // b = 0⁺: the whole band (the quadrature against the tabulated F_1/2)
            let near = continuum_electron_density(stat, nc, ec0, 0.0, ef, kt, 1e-12);
            assert!(rel(near.value, full.value) < 1e-6 && rel(near.d_phi, full.d_phi) < 1e-6, "{stat:?} {ef}: {near:?} vs {full:?}");
            assert_eq!(continuum_electron_density(stat, nc, ec0, 0.0, ef, kt, -1.0), full);
            // decreasing in b; ∂/∂φ against a difference quotient
            let mut last = full.value;
            for b in [0.5, 2.0, 8.0, 30.0] {
                let d = continuum_electron_density(stat, nc, ec0, 0.0, ef, kt, b);
                assert!(d.value < last && d.value > 0.0, "{stat:?} {ef} {b}");
                last = d.value;
                let h = 1e-6;
                let fd = (continuum_electron_density(stat, nc, ec0, h, ef, kt, b).value - continuum_electron_density(stat, nc, ec0, -h, ef, kt, b).value) / (2.0 * h);
                assert!(rel(d.d_phi, fd) < 1e-5, "{stat:?} {ef} {b}");
            }
        }
    }
    // Boltzmann in closed form: e^η Γ(3/2, b)/Γ(3/2) = e^η (erfc √b + 2 √(b/π) e^(−b)); b = 4
    // (erfc 2 = 4.677734981047266e-3)
    let d = continuum_electron_density(Statistics::Boltzmann, 1.0, 0.0, 0.0, 0.0, kt, 4.0);
    assert!(rel(d.value, 4.677734981047266e-3 + 2.0 * (4.0 / PI).sqrt() * (-4.0f64).exp()) < 1e-7, "{d:?}");
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
    let opts = qdsim_gpu::pipeline::RunOptions { out: Some(out.clone()), backend: Some(qdsim_gpu::scene::BackendChoice::Cpu), ..Default::default() };
    let report = qdsim_gpu::pipeline::run(&l, &opts, None, &mut qdsim_gpu::pipeline::Progress::none()).expect("flagged results, not an error");
    let phi = report.warm.potential.clone().expect("the potential");
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
    // 16 subbands: the upper ones reach above the continuum edge of the quantum region
    std::fs::write(&scene, heterojunction(1.0, 60).replace(r#""states": 6"#, r#""states": 16"#)).unwrap();
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
    let regions = r["scene"]["regions"].as_array().unwrap().len();
    assert_eq!(mats.len(), 1 + regions, "the background and every region: {}", r["materials"]);
    assert_eq!(mats[0], "GaAs");
    let barrier = r["materials"].as_array().unwrap().iter().find(|m| m["material"].as_str().unwrap().starts_with("Al")).expect("an AlGaAs fill");
    assert!(barrier["band_edge_ev"].as_f64().unwrap() > r["materials"][0]["band_edge_ev"].as_f64().unwrap());
    let last = r["self_consistency"]["history"].as_array().unwrap().last().unwrap().clone();
    assert!(last.get("quantum_electrons").is_none(), "the unitless key is gone: {last}");
    let ns = last["quantum_electrons_cm-2"].as_f64().unwrap();
    assert!(ns > 1e10 && ns < 1e13, "{ns} cm^-2");
    let q = &r["quantum"];
    let barrier = q["continuum_edge_ev"].as_f64().unwrap();
    let states = q["states"].as_array().unwrap();
    assert_eq!(states[0]["bound"], true);
    let mut unbound = 0;
    for s in states {
        let free = s["energy_ev"].as_f64().unwrap() >= barrier;
        assert_eq!(s["bound"], !free, "{s} against {barrier} eV");
        unbound += free as usize;
    }
    assert!(unbound > 0, "16 subbands of a triangular well reach above the continuum edge at the region's face");
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

/// Poisson sees the interfaces as the Hamiltonian does: a GaAs/AlAs interface at 0.3 of a
/// cell gives the face between the cut cell and each neighbour the series permittivity
/// of the segment between the two centres, h / Σ lᵢ/εᵢ (before, every cell's εr was the
/// volume average and each face took the harmonic mean of its two cells).
#[test]
fn poisson_faces_at_an_off_grid_interface_take_the_series_permittivity() {
    let h = 0.5;
    let x_if = 0.3 * h; // the interface inside the cell [0, h]
    let text = format!(
        r#"{{ "domain": {{ "size": [40.0], "spacing": {h} }}, "temperature": 300,
              "background": {{ "material": "GaAs" }},
              "regions": [ {{ "shape": {{ "type": "layer", "axis": "x", "from": {x_if}, "to": 30.0 }}, "material": "AlAs" }} ],
              "contacts": [ {{ "face": "x_min", "type": "ohmic" }}, {{ "face": "x_max", "type": "ohmic" }} ],
              "solve": {{ "mode": "poisson" }} }}"#
    );
    let l = loaded(&text);
    let (model, map) = prepare_device(&l).expect("device");
    let db = MaterialDb::builtin();
    let (e1, e2) = (db.resolve("GaAs", None).unwrap().eps_r, db.resolve("AlAs", None).unwrap().eps_r);
    assert!((e1 - e2).abs() > 0.5, "the test needs two permittivities: {e1}, {e2}");
    let g = &model.grid;
    // the cut cell: centre at h/2 (cells are [k h, (k + 1) h] from −20 nm)
    let c = (20.0 / h) as usize;
    assert!((g.center(c)[0] - 0.5 * h).abs() < 1e-12);
    assert_eq!(map.mixed.len(), 1);
    assert_eq!(map.mixed[0].0, c);
    let m = &model.system.matrix;
    let entry = |r: usize, col: usize| (m.row_ptr[r]..m.row_ptr[r + 1]).find(|&k| m.col[k] as usize == col).map(|k| m.val[k]).expect("a coupling");
    // lower face: from −h/2 to h/2 the segment is GaAs up to x_if, then AlAs
    let lower = h / ((x_if + 0.5 * h) / e1 + (0.5 * h - x_if) / e2);
    // upper face: from h/2 to 3h/2, all AlAs
    let upper = e2;
    let scale = -entry(c, c + 1) / upper; // the matrix's units: εr / h² times a constant
    assert!((-entry(c, c - 1) / scale - lower).abs() < 1e-5 * lower, "lower face {} vs series {lower}", -entry(c, c - 1) / scale);
    // the same scale on a face with AlAs on both sides
    assert!((entry(c + 1, c + 2) / entry(c, c + 1) - 1.0).abs() < 1e-12);
}
