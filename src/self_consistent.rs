//! The device pipeline behind `solve.mode` = "poisson" and "self_consistent": load → paint
//! the device ([`crate::physics::device::DeviceModel`]) → nonlinear Poisson by Newton →
//! (self-consistent) Schrödinger in the quantum region ↔ Poisson with the
//! predictor–corrector density, mixed by Anderson → fields, plots and results.json.
//!
//! Written once over [`Backend`]: the Poisson systems (PCG with multigrid) and the
//! eigenproblems run on the CPU or the GPU backend alike.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::backend::{CpuBackend, GpuBackend};
use crate::constants::HBAR2_OVER_2M0_EV_NM2;
use crate::error::{QdError, Result};
use crate::grid::{Grid, MaterialMap};
use crate::linalg::mixing::Anderson;
use crate::linalg::Backend;
use crate::output::{self, OutputDir};
use crate::physics::device::{Charge, DeviceModel, NewtonReport, QuantumCharge};
use crate::scene::{BackendChoice, LoadedScene, MixingMethod, SolveMode};
use crate::simulation::{self, RunOptions, RunReport, SolveOptions, SUBSAMPLES};

/// Newton steps allowed for the classical start of a self-consistent solve.
pub const CLASSICAL_START_NEWTON_STEPS: usize = 200;

/// One outer iteration, for the progress bar and results.json.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScfStep {
    pub iteration: usize,
    /// max |φ_out − φ_in|, V.
    pub potential_change_v: f64,
    /// Lowest level, eV.
    pub ground_state_ev: f64,
    /// Electrons in the quantum region: per nm^(3−dim) (a number for a dot).
    pub quantum_electrons: f64,
    pub newton_iterations: usize,
    /// The charge the potential fails to account for after the Poisson solve: the largest
    /// |b − Aφ| per cell as a density, cm⁻³ (the charge balance of this iteration).
    pub charge_residual_cm3: f64,
    pub seconds: f64,
}

/// What the device solve produced.
pub struct DeviceSolution {
    pub phi: Vec<f64>,
    pub charge: Charge,
    pub classical: NewtonReport,
    pub quantum: Option<QuantumCharge>,
    /// Eigen-solver details of the last Schrödinger solve.
    pub eigen: Option<simulation::Solution>,
    pub history: Vec<ScfStep>,
    pub converged: bool,
    /// Why the self-consistent loop stopped early, when it did (results are still written).
    pub stopped_because: Option<String>,
    pub backend: String,
    pub backend_details: Value,
}

/// The quantum region as a sub-grid: its cells (device indices) and its own grid.
struct QuantumBox {
    grid: Grid,
    cells: Vec<usize>,
}

fn quantum_box(model: &DeviceModel, min: &[f64], max: &[f64]) -> Result<QuantumBox> {
    let g = &model.grid;
    let r = model.region_cells(min, max).ok_or_else(|| QdError::input("solve.poisson.quantum_region", "holds no cell centre"))?;
    let n: Vec<usize> = (0..g.dim).map(|a| r[a].len()).collect();
    let h: Vec<f64> = (0..g.dim).map(|a| g.h[a]).collect();
    let mut sub = Grid::uniform(&n, &h);
    for a in 0..g.dim {
        sub.origin[a] = g.origin[a] + r[a].start as f64 * g.h[a];
    }
    let mut cells = Vec::with_capacity(sub.len());
    for k in r[2].clone() {
        for j in r[1].clone() {
            for i in r[0].clone() {
                cells.push(g.index(i, j, k));
            }
        }
    }
    Ok(QuantumBox { grid: sub, cells })
}

/// Schrödinger in the quantum region at potential φ: H = −∇·(ħ²/2m*)∇ + Ec0 − φ, ψ = 0 on the
/// region's boundary.
fn quantum_states<B: Backend>(be: &B, model: &DeviceModel, qb: &QuantumBox, phi: &[f64], sopts: &SolveOptions) -> Result<(QuantumCharge, simulation::Solution)> {
    let kinetic: Vec<f64> = qb.cells.iter().map(|&c| HBAR2_OVER_2M0_EV_NM2 / model.electron_mass[c]).collect();
    let potential: Vec<f64> = qb.cells.iter().map(|&c| model.bands[c].ec0 - phi[c]).collect();
    let h = crate::physics::hamiltonian::assemble_hamiltonian(&qb.grid, &kinetic, &potential);
    let sol = simulation::solve_with(be, &h, sopts, &mut |_| {})?;
    // in-plane mass of each subband (first-order k·p): 1/m = ⟨ψ|1/m*(r)|ψ⟩
    let m_free: Vec<f64> = sol.vectors.iter().map(|v| 1.0 / v.iter().zip(&qb.cells).map(|(p, &c)| p * p / model.electron_mass[c]).sum::<f64>()).collect();
    let q = QuantumCharge {
        cells: qb.cells.clone(),
        dim: qb.grid.dim,
        cell_volume: qb.grid.cell_volume(),
        energies: sol.energies.clone(),
        states: sol.vectors.clone(),
        m_free,
        phi_ref: qb.cells.iter().map(|&c| phi[c]).collect(),
    };
    Ok((q, sol))
}

/// Solve the device on backend `be`. `start`: a potential to start from (a sweep's
/// previous point), else the local-neutrality potential.
pub fn solve_device<B: Backend>(
    be: &B,
    loaded: &LoadedScene,
    model: &DeviceModel,
    sopts: &SolveOptions,
    start: Option<&[f64]>,
    progress: &mut dyn FnMut(&ScfStep),
) -> Result<DeviceSolution> {
    let scene = &loaded.scene;
    let po = scene.solve.poisson_options();
    let mut phi = match start {
        Some(s) if s.len() == model.grid.len() => s.to_vec(),
        _ => model.initial_potential(),
    };
    // 1. classical nonlinear Poisson (the whole device classical): the answer in mode
    // "poisson", capped at its max_iterations Newton steps; the start of the loop in mode
    // "self_consistent", where max_iterations caps the outer iterations instead
    let newton_cap = if scene.solve.mode == SolveMode::Poisson { po.max_iterations } else { CLASSICAL_START_NEWTON_STEPS };
    let classical = model.solve_poisson(be, &mut phi, None, po.tolerance, newton_cap)?;
    let mut sol = DeviceSolution {
        phi: Vec::new(),
        charge: Charge::default(),
        classical: classical.clone(),
        quantum: None,
        eigen: None,
        history: Vec::new(),
        converged: classical.converged,
        stopped_because: None,
        backend: be.name(),
        backend_details: be.details(),
    };
    if scene.solve.mode == SolveMode::SelfConsistent && classical.converged {
        let region = po.quantum_region.as_ref().ok_or_else(|| QdError::input("solve.poisson.quantum_region", "self_consistent mode needs a quantum region"))?;
        let qb = quantum_box(model, &region.min, &region.max)?;
        let mut mixer = match po.mixing.method {
            MixingMethod::Anderson => Anderson::new(po.mixing.beta, po.mixing.history),
            MixingMethod::Linear => Anderson::linear(po.mixing.beta),
        };
        sol.converged = false;
        for it in 0..po.max_iterations {
            let t = Instant::now();
            let (q, eig) = quantum_states(be, model, &qb, &phi, sopts)?;
            if !eig.converged {
                // reported, not hidden: the results are written with these states, flagged
                sol.stopped_because = Some(format!(
                    "the Schrödinger solve of self-consistent iteration {} did not converge within solve.max_iterations = {} products",
                    it + 1,
                    eig.max_matvecs
                ));
                sol.quantum = Some(q);
                sol.eigen = Some(eig);
                break;
            }
            let mut phi_out = phi.clone();
            let newton = model.solve_poisson(be, &mut phi_out, Some(&q), 0.1 * po.tolerance, 50)?;
            let change = phi_out.iter().zip(&phi).map(|(a, b)| (a - b).abs()).fold(0.0f64, f64::max);
            let electrons = q.occupations(model.ef_n, model.kt).iter().sum();
            let step = ScfStep {
                iteration: it + 1,
                potential_change_v: change,
                ground_state_ev: eig.energies.first().copied().unwrap_or(f64::NAN),
                quantum_electrons: electrons,
                newton_iterations: newton.iterations,
                charge_residual_cm3: newton.residual_cm3,
                seconds: t.elapsed().as_secs_f64(),
            };
            progress(&step);
            sol.history.push(step);
            sol.quantum = Some(q);
            sol.eigen = Some(eig);
            if change < po.tolerance && newton.converged {
                phi = phi_out;
                sol.converged = true;
                break;
            }
            phi = mixer.next(&phi, &phi_out);
        }
        // the states and charge of the final potential
        if let (Some(q), None) = (&sol.quantum, &sol.stopped_because) {
            if q.phi_ref.iter().zip(&q.cells).any(|(a, &c)| a != &phi[c]) {
                let (q, eig) = quantum_states(be, model, &qb, &phi, sopts)?;
                sol.quantum = Some(q);
                sol.eigen = Some(eig);
            }
        }
    }
    sol.charge = model.charge(&phi, sol.quantum.as_ref());
    sol.phi = phi;
    sol.backend_details = be.details();
    Ok(sol)
}

/// The device of a scene: materials, grid, painting, doping, contacts and gates.
pub fn prepare_device(loaded: &LoadedScene) -> Result<(DeviceModel, MaterialMap)> {
    let scene = &loaded.scene;
    let grid = Grid::from_domain(&scene.domain)?;
    let db = simulation::material_db(loaded)?;
    let fills = simulation::resolve_fills(scene, &db)?;
    let shapes: Vec<&crate::scene::Shape> = scene.regions.iter().map(|r| &r.shape).collect();
    let map = MaterialMap::paint(&grid, &shapes, SUBSAMPLES);
    let materials: Vec<&crate::materials::Material> = fills.iter().map(|f| &f.material).collect();
    let model = DeviceModel::new(scene, &grid, &map, &materials)?;
    Ok((model, map))
}

/// Load, solve and write a device scene (modes "poisson" and "self_consistent").
pub fn run(loaded: &LoadedScene, opts: &RunOptions, out_path: Option<&Path>, start: Option<&[f64]>, progress: &mut dyn FnMut(&ScfStep)) -> Result<(RunReport, Vec<f64>)> {
    let t0 = Instant::now();
    let (model, map) = prepare_device(loaded)?;
    let mut sopts = SolveOptions::from_scene(&loaded.scene);
    sopts.adapter = opts.adapter.clone();
    let setup_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    // (a closure: listing adapters for the per-rank choice is only worth it for the GPU)
    let adapter = || crate::parallel::adapter_for_rank(sopts.adapter.as_deref());
    let sol = match sopts.backend {
        BackendChoice::Cpu => crate::on_ranks!(CpuBackend::new(), |be| solve_device(be, loaded, &model, &sopts, start, progress)?),
        BackendChoice::Gpu => {
            let g = GpuBackend::new(adapter().as_deref(), true)?.ok_or_else(|| {
                QdError::input("solve.backend", "\"gpu\" was asked for but no GPU adapter (Vulkan, Metal or DX12) is available; `qdsim-gpu info` lists adapters")
            })?;
            crate::on_ranks!(g, |be| solve_device(be, loaded, &model, &sopts, start, progress)?)
        }
        BackendChoice::Auto => match GpuBackend::new(adapter().as_deref(), false)? {
            Some(g) => crate::on_ranks!(g, |be| solve_device(be, loaded, &model, &sopts, start, progress)?),
            None => crate::on_ranks!(CpuBackend::new(), |be| solve_device(be, loaded, &model, &sopts, start, progress)?),
        },
    };
    let solve_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let mut results = device_results(loaded, &model, &sol);
    let mut out_dir = std::path::PathBuf::new();
    if let Some(out_path) = out_path {
        let out = OutputDir::create(out_path)?;
        let mut files = write_device_fields(&out, loaded, &model, &map, &sol)?;
        files.push("results.json".into());
        results["timings_s"] = json!({"setup": setup_s, "solve": solve_s, "output": t2.elapsed().as_secs_f64(), "total": t0.elapsed().as_secs_f64()});
        results["peak_memory_bytes"] = json!(simulation::peak_memory());
        results["files"] = json!(files);
        output::write_json(&out.path("results.json"), &results)?;
        out_dir = out.commit()?;
    } else {
        results["timings_s"] = json!({"setup": setup_s, "solve": solve_s, "total": t0.elapsed().as_secs_f64()});
    }
    let energies = sol.eigen.as_ref().map(|e| e.energies.clone()).unwrap_or_default();
    Ok((RunReport { out_dir, converged: sol.converged, energies, results, warm: simulation::WarmStart { grid: None, vectors: Vec::new(), potential: None } }, sol.phi))
}

/// φ, Ec, Ev, n, p, ρ as .npy and in the .vti; plots.
fn write_device_fields(out: &OutputDir, loaded: &LoadedScene, model: &DeviceModel, map: &MaterialMap, sol: &DeviceSolution) -> Result<Vec<String>> {
    let scene = &loaded.scene;
    let g = &model.grid;
    let dims = g.dims();
    let ec: Vec<f64> = model.bands.iter().zip(&sol.phi).map(|(b, p)| b.ec0 - p).collect();
    let ev: Vec<f64> = model.bands.iter().zip(&sol.phi).map(|(b, p)| b.ev0 - p).collect();
    let fill: Vec<f64> = map.dominant.iter().map(|&f| f as f64).collect();
    let field = model.system.electric_field(&sol.phi);
    let efield: Vec<f64> = field.iter().map(|e| (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt()).collect();
    let ch = &sol.charge;
    let fields: Vec<(&str, &[f64])> = vec![
        ("potential_v", &sol.phi),
        ("ec_ev", &ec),
        ("ev_ev", &ev),
        ("n_cm3", &ch.n),
        ("p_cm3", &ch.p),
        ("rho_cm3", &ch.rho),
        ("field_v_per_nm", &efield),
        ("material", &fill),
    ];
    let mut files = Vec::new();
    if scene.output.npy {
        for (name, data) in &fields {
            output::npy::write_npy(&out.path(&format!("{name}.npy")), &dims, data)?;
            files.push(format!("{name}.npy"));
        }
        if let (Some(q), true) = (&sol.quantum, scene.output.wavefunctions) {
            for (i, psi) in q.states.iter().enumerate() {
                let mut full = vec![0.0; g.len()];
                let s = 1.0 / q.cell_volume.sqrt();
                for (v, &c) in psi.iter().zip(&q.cells) {
                    full[c] = v * s;
                }
                output::npy::write_npy(&out.path(&format!("psi_{i:03}.npy")), &dims, &full)?;
                files.push(format!("psi_{i:03}.npy"));
            }
        }
    }
    if scene.output.vtk {
        output::vtk::write_vti(&out.path("fields.vti"), g.n, g.origin, g.h, &fields)?;
        files.push("fields.vti".into());
    }
    if scene.output.plots {
        let title = scene.name.clone().unwrap_or_else(|| "qdsim-gpu".into());
        if g.dim == 1 {
            let x = g.axis_centers(0);
            let efn = vec![model.ef_n; x.len()];
            let efp = vec![model.ef_p; x.len()];
            use output::lines::{plot_lines, Series};
            plot_lines(
                &out.path("bands.png"),
                &format!("{title}: band diagram"),
                &x,
                "x (nm)",
                "energy (eV)",
                &[
                    Series { label: "Ec".into(), y: &ec, dashed: false },
                    Series { label: "Ev".into(), y: &ev, dashed: false },
                    Series { label: "E_Fn".into(), y: &efn, dashed: true },
                    Series { label: "E_Fp".into(), y: &efp, dashed: true },
                ],
                false,
            )?;
            files.push("bands.png".into());
            let nd = &ch.donors_ionised;
            let na = &ch.acceptors_ionised;
            plot_lines(
                &out.path("densities.png"),
                &format!("{title}: carriers and doping"),
                &x,
                "x (nm)",
                "density (cm^-3)",
                &[
                    Series { label: "n".into(), y: &ch.n, dashed: false },
                    Series { label: "p".into(), y: &ch.p, dashed: false },
                    Series { label: "N_D+".into(), y: nd, dashed: true },
                    Series { label: "N_A-".into(), y: na, dashed: true },
                ],
                true,
            )?;
            files.push("densities.png".into());
            if let Some(q) = &sol.quantum {
                // the quantum levels in the conduction band of the region
                let qx: Vec<f64> = q.cells.iter().map(|&c| g.center(c)[0]).collect();
                let qec: Vec<f64> = q.cells.iter().map(|&c| ec[c]).collect();
                let states: Vec<(f64, Vec<f64>)> = q.energies.iter().copied().zip(q.states.iter().map(|v| v.iter().map(|p| p * p).collect())).collect();
                output::plot::plot_1d_states(&out.path("states.png"), &title, &qx, &qec, &states, "energy (eV)")?;
                files.push("states.png".into());
            }
        } else {
            let panels = device_panels(g, &[("Ec (eV)", &ec, false), ("potential (V)", &sol.phi, false), ("log10 n (cm^-3)", &ch.n, true), ("log10 p (cm^-3)", &ch.p, true), ("rho/q (cm^-3)", &ch.rho, false)]);
            output::plot::plot_panels(&out.path("device.png"), &title, &panels)?;
            files.push("device.png".into());
        }
        if !sol.history.is_empty() {
            let it: Vec<f64> = sol.history.iter().map(|s| s.iteration as f64).collect();
            let ch: Vec<f64> = sol.history.iter().map(|s| s.potential_change_v).collect();
            output::lines::plot_lines(
                &out.path("convergence.png"),
                &format!("{title}: self-consistency"),
                &it,
                "iteration",
                "max |phi_out - phi_in| (V)",
                &[output::lines::Series { label: "potential change".into(), y: &ch, dashed: false }],
                true,
            )?;
            files.push("convergence.png".into());
        }
    }
    Ok(files)
}

/// Heat maps through the domain's centre (the plane in 2D, xy at mid z in 3D).
fn device_panels(g: &Grid, data: &[(&str, &[f64], bool)]) -> Vec<output::plot::Panel> {
    let at = if g.dim == 3 { g.n[2] / 2 } else { 0 };
    data.iter()
        .map(|(title, d, log)| {
            let mut values = Vec::with_capacity(g.n[0] * g.n[1]);
            for j in 0..g.n[1] {
                for i in 0..g.n[0] {
                    let v = d[g.index(i, j, at)];
                    values.push(if *log { if v > 0.0 { v.log10() } else { f64::NAN } } else { v });
                }
            }
            output::plot::Panel {
                title: title.to_string(),
                nx: g.n[0],
                ny: g.n[1],
                x_range_nm: (g.origin[0], g.origin[0] + g.n[0] as f64 * g.h[0]),
                y_range_nm: (g.origin[1], g.origin[1] + g.n[1] as f64 * g.h[1]),
                x_label: "x (nm)".into(),
                y_label: "y (nm)".into(),
                values,
            }
        })
        .collect()
}

fn device_results(loaded: &LoadedScene, model: &DeviceModel, sol: &DeviceSolution) -> Value {
    let scene = &loaded.scene;
    let g = &model.grid;
    let ch = &sol.charge;
    let (cmin, cmax) = sol.phi.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    // the span includes the values the contacts hold on the boundary faces: the cell
    // centres alone understate the contact-to-contact drop by half a cell's field each side
    let (pmin, pmax) = model.contacts.iter().fold((cmin, cmax), |(a, b), c| (a.min(c.potential_v[0]), b.max(c.potential_v[1])));
    let total = |v: &[f64]| v.iter().sum::<f64>();
    // integrated charges: per cm² (1D), per cm (2D), a number (3D)
    let integral = |v: &[f64]| total(v) * g.cell_volume() * 10f64.powi(-7 * g.dim as i32);
    let unit = ["", "cm^-2", "cm^-1", "electrons"][g.dim];
    let quantum = sol.quantum.as_ref().map(|q| {
        let occ = q.occupations(model.ef_n, model.kt);
        let occ_unit = ["", "cm^-2", "cm^-1", "electrons"][q.dim];
        let occ_scale = 10f64.powi(7 * (3 - q.dim as i32)) ; // per nm^(3-d) → per cm^(3-d)
        let barrier = quantum_boundary_edge(model, q);
        let states: Vec<Value> = q
            .energies
            .iter()
            .zip(&occ)
            .enumerate()
            .map(|(i, (e, o))| {
                json!({"index": i, "energy_ev": e, "energy_minus_ef_mev": (e - model.ef_n) * 1e3, "electrons": o * occ_scale, "in_plane_mass_m0": q.m_free.get(i), "bound": *e <= barrier})
            })
            .collect();
        let last_occ = occ.last().copied().unwrap_or(0.0) / occ.first().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
        json!({
            "dimension": q.dim,
            "cells": q.cells.len(),
            "states": states,
            "electrons_unit": occ_unit,
            "electrons_total": occ.iter().sum::<f64>() * occ_scale,
            "highest_state_relative_occupation": last_occ,
            "lowest_boundary_band_edge_ev": barrier,
            "bound": "a state is bound (states[].bound) when its energy does not exceed lowest_boundary_band_edge_ev, the lowest Ec on the quantum region's boundary cells: above it the state is not bound by the structure (it reaches the boundary, where ψ = 0 confines it artificially; in a tilted band it is at best quasi-bound and can tunnel out)",
            "in_plane_mass": "the in-plane (free-direction) mass of each subband's density of states, from first-order k·p: 1/m = ⟨ψ|1/m*(r)|ψ⟩",
            "note": if last_occ > 1e-3 { "the highest computed state still holds more than 0.1 % of the lowest one's electrons: ask for more states" } else { "all occupied states computed" },
        })
    });
    // the numbers a sweep tabulates per point (sweep.csv columns)
    let mut key = serde_json::Map::new();
    key.insert("potential_span_v".into(), json!(pmax - pmin));
    key.insert(format!("electrons_{}", unit.replace('^', "")), json!(integral(&ch.n)));
    key.insert(format!("holes_{}", unit.replace('^', "")), json!(integral(&ch.p)));
    if let Some(q) = &quantum {
        key.insert(format!("quantum_electrons_{}", q["electrons_unit"].as_str().unwrap_or("").replace('^', "")), q["electrons_total"].clone());
    }
    key.insert("self_consistent_iterations".into(), json!(sol.history.len()));
    json!({
        "key_quantities": key,
        "program": {"name": "qdsim-gpu", "version": env!("CARGO_PKG_VERSION")},
        "mode": match scene.solve.mode { SolveMode::Poisson => "poisson", SolveMode::SelfConsistent => "self_consistent", SolveMode::Schrodinger => "schrodinger" },
        "status": if sol.converged { "converged" } else { "not_converged" },
        "converged": sol.converged,
        "scene_file": loaded.path.display().to_string(),
        "scene": serde_json::to_value(scene).unwrap_or(Value::Null),
        "units": {"length": "nm", "energy": "eV", "potential": "V", "density": "cm^-3", "temperature": "K"},
        "grid": {"dimension": g.dim, "cells": g.dims(), "unknowns": g.len(), "spacing_nm": &g.h[..g.dim], "origin_nm": &g.origin[..g.dim]},
        "temperature_k": model.temperature,
        "statistics": serde_json::to_value(model.statistics).unwrap_or(Value::Null),
        "materials": simulation::material_db(loaded)
            .and_then(|db| simulation::resolve_fills(scene, &db))
            .map(|f| simulation::materials_table(&f, crate::materials::Carrier::Electron, model.temperature))
            .unwrap_or_default(),
        "reference": {"lowest_band_edge_ev": model.bands.iter().zip(&sol.phi).map(|(b, p)| b.ec0 - p).fold(f64::INFINITY, f64::min)},
        "holes_included": model.holes,
        "fermi_levels_ev": {"electrons": model.ef_n, "holes": model.ef_p},
        "contacts": model.contacts.iter().map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
            v["potential_v"] = json!({"min": c.potential_v[0], "max": c.potential_v[1]});
            v
        }).collect::<Vec<Value>>(),
        "potential_v": {
            "min": pmin, "max": pmax, "span": pmax - pmin,
            "cell_centres": {"min": cmin, "max": cmax, "span": cmax - cmin},
            "note": "min, max and span include the potentials the contacts hold on the boundary faces",
        },
        "charge": {
            "unit": unit,
            "electrons": integral(&ch.n),
            "holes": integral(&ch.p),
            "net": integral(&ch.rho),
            "donors_ionised": integral(&ch.donors_ionised),
            "acceptors_ionised": integral(&ch.acceptors_ionised),
        },
        "classical_poisson": sol.classical,
        "self_consistency": {
            "iterations": sol.history.len(),
            "tolerance_v": scene.solve.poisson_options().tolerance,
            "stopped_because": sol.stopped_because,
            "history": sol.history.iter().map(|h| {
                // electrons in the quantum region in the units of `charge` (cm^-2, cm^-1, a number)
                let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
                if let Some(o) = v.as_object_mut() {
                    o.remove("quantum_electrons");
                    o.insert(format!("quantum_electrons_{}", unit.replace('^', "")), json!(h.quantum_electrons * 10f64.powi(7 * (3 - g.dim as i32))));
                }
                v
            }).collect::<Vec<Value>>(),
        },
        "quantum": quantum,
        "eigensolver": sol.eigen.as_ref().map(|e| json!({"method": e.method, "matvecs": e.matvecs, "converged": e.converged, "tolerance": e.tolerance})),
        "backend": {"name": sol.backend, "details": sol.backend_details},
    })
}

/// The lowest conduction-band edge Ec0 − φ (eV) on the boundary cells of the quantum region
/// (the cells next to its ψ = 0 boundary), at the potential its states were computed at.
fn quantum_boundary_edge(model: &DeviceModel, q: &crate::physics::device::QuantumCharge) -> f64 {
    let g = &model.grid;
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for &c in &q.cells {
        let ijk = g.ijk(c);
        for a in 0..3 {
            lo[a] = lo[a].min(ijk[a]);
            hi[a] = hi[a].max(ijk[a]);
        }
    }
    q.cells
        .iter()
        .zip(&q.phi_ref)
        .filter(|(&c, _)| {
            let ijk = g.ijk(c);
            (0..q.dim).any(|a| ijk[a] == lo[a] || ijk[a] == hi[a])
        })
        .map(|(&c, &phi)| model.bands[c].ec0 - phi)
        .fold(f64::INFINITY, f64::min)
}
