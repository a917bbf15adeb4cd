//! The device pipeline behind `solve.mode` = "poisson" and "self_consistent": load → paint
//! the device ([`crate::physics::device::DeviceModel`]) → nonlinear Poisson by Newton →
//! (self-consistent) Schrödinger in the quantum region ↔ Poisson with the
//! predictor–corrector density, mixed by Anderson → fields, plots and results.json.
//!
//! Written once over [`Backend`]: the Poisson systems (PCG with multigrid) and the
//! eigenproblems run on the CPU or the GPU backend alike.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;

use crate::backend::select::{select, Chosen, Mode};
use crate::constants::HBAR2_OVER_2M0_EV_NM2;
use crate::error::{QdError, Result};
use crate::grid::{Grid, MaterialMap};
use crate::linalg::mixing::Anderson;
use crate::linalg::Backend;
use crate::output::{self, OutputDir};
use crate::physics::device::{Charge, DeviceModel, NewtonReport, QuantumCharge};
use crate::scene::{LoadedScene, MixingMethod, SolveMode};

use super::eigen::{self, Solution, SolveOptions};
use super::options::{notice_once, RunOptions, RunReport, WarmStart};
use super::prepare::{self, SUBSAMPLES};
use super::report::{
    BackendReport, ChargeReport, ContactReport, DeviceReference, DeviceResults, DeviceTimings, DeviceUnits, EigenSummary, FermiLevels, GridReport, HistoryRow,
    PotentialReport, Program, Quantity, QuantumReport, QuantumState, Results, SelfConsistency, Span, Status, SCHEMA_VERSION,
};

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
    pub eigen: Option<Solution>,
    pub history: Vec<ScfStep>,
    pub converged: bool,
    /// Why the self-consistent loop stopped early, when it did (results are still written).
    pub stopped_because: Option<String>,
    pub backend: String,
    pub backend_details: Value,
    /// What the solver changed or ignored of the request (tolerance floors), in words.
    pub notices: Vec<String>,
    /// The Poisson / self-consistent tolerance used, V (the scene's, raised to
    /// [`eigen::POISSON_TOLERANCE_FLOOR_V`] when below it).
    pub tolerance_v: f64,
}

impl DeviceSolution {
    /// A device solve that stopped before any iterate (`reason`): φ at the model's start,
    /// flagged not converged, so that the results are still written.
    pub fn failed(model: &DeviceModel, reason: String) -> DeviceSolution {
        let phi = model.initial_potential();
        DeviceSolution {
            charge: model.charge(&phi, None),
            phi,
            classical: NewtonReport { iterations: 0, converged: false, last_update_v: f64::NAN, residual_cm3: f64::NAN, cg_iterations: 0, failure: Some(reason.clone()) },
            quantum: None,
            eigen: None,
            history: Vec::new(),
            converged: false,
            stopped_because: Some(reason),
            backend: "none".into(),
            backend_details: Value::Null,
            notices: Vec::new(),
            tolerance_v: f64::NAN,
        }
    }
}

/// The largest |a − b|, NaN when any is NaN (`f64::max` would skip it).
fn max_change(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
        let d = (x - y).abs();
        if d.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(d)
        }
    })
}

/// The quantum region as a sub-grid: its cells (device indices) and its own grid.
struct QuantumBox {
    grid: Grid,
    cells: Vec<usize>,
    /// Positions in `cells` of the cells on the region's faces that lie inside the domain
    /// (the seams with the classical part; a face on the domain's boundary is no seam).
    seam: Vec<usize>,
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
    let mut seam = Vec::new();
    for k in r[2].clone() {
        for j in r[1].clone() {
            for i in r[0].clone() {
                let ijk = [i, j, k];
                let on_seam = (0..g.dim).any(|a| (ijk[a] == r[a].start && r[a].start > 0) || (ijk[a] + 1 == r[a].end && r[a].end < g.n[a]));
                if on_seam {
                    seam.push(cells.len());
                }
                cells.push(g.index(i, j, k));
            }
        }
    }
    Ok(QuantumBox { grid: sub, cells, seam })
}

/// The continuum edge of the quantum region at potential φ: the lowest conduction-band edge
/// Ec0 − φ on its seams with the classical part (None without a seam). Electrons above it
/// can reach the seam classically: the states there are those of the ψ = 0 walls, so the
/// charge takes the classical density above this edge and the states below it.
fn continuum_edge(model: &DeviceModel, qb: &QuantumBox, phi: &[f64]) -> Option<f64> {
    qb.seam.iter().map(|&q| {
        let c = qb.cells[q];
        model.bands[c].ec0 - phi[c]
    }).reduce(f64::min)
}

/// Schrödinger in the quantum region at potential φ: H = −∇·(ħ²/2m*)∇ + Ec0 − φ, ψ = 0 on the
/// region's boundary.
fn quantum_states<B: Backend>(be: &B, model: &DeviceModel, qb: &QuantumBox, phi: &[f64], sopts: &SolveOptions) -> Result<(QuantumCharge, Solution)> {
    let kinetic: Vec<f64> = qb.cells.iter().map(|&c| HBAR2_OVER_2M0_EV_NM2 / model.electron_mass[c]).collect();
    let potential: Vec<f64> = qb.cells.iter().map(|&c| model.bands[c].ec0 - phi[c]).collect();
    let h = crate::physics::hamiltonian::assemble_hamiltonian(&qb.grid, &kinetic, &potential);
    let sol = eigen::solve(be, &h, sopts, None, &mut |_| {})?;
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
        continuum_edge_ev: continuum_edge(model, qb, phi),
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
    // a tolerance below what f64 potentials resolve is raised, with a notice
    let floor = eigen::POISSON_TOLERANCE_FLOOR_V;
    let tol = po.tolerance.max(floor);
    let mut notices = Vec::new();
    if po.tolerance < floor {
        notices.push(format!(
            "solve.poisson.tolerance = {:e} V is below what the f64 potential resolves: solved to {floor:e} V",
            po.tolerance
        ));
    }
    let classical = model.solve_poisson(be, &mut phi, None, tol, newton_cap)?;
    let mut sol = DeviceSolution {
        phi: Vec::new(),
        charge: Charge::default(),
        classical: classical.clone(),
        quantum: None,
        eigen: None,
        history: Vec::new(),
        converged: classical.converged,
        stopped_because: classical.failure.as_ref().map(|f| format!("the classical Poisson solve failed: {f}")),
        backend: be.name(),
        backend_details: be.details(),
        notices,
        tolerance_v: tol,
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
            for n in &eig.notices {
                if !sol.notices.contains(n) {
                    sol.notices.push(n.clone());
                }
            }
            if !eig.converged {
                // reported, not hidden: the results are written with these states, flagged
                sol.stopped_because = Some(match &eig.failure {
                    Some(f) => format!("the Schrödinger solve of self-consistent iteration {} failed: {f}", it + 1),
                    None => format!(
                        "the Schrödinger solve of self-consistent iteration {} did not converge within solve.max_iterations = {} products",
                        it + 1,
                        eig.max_matvecs
                    ),
                });
                sol.quantum = Some(q);
                sol.eigen = Some(eig);
                break;
            }
            let mut phi_out = phi.clone();
            let newton = model.solve_poisson(be, &mut phi_out, Some(&q), (0.1 * tol).max(floor), 50)?;
            let change = max_change(&phi_out, &phi);
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
            if let Some(f) = &newton.failure {
                // φ stays at this iteration's input (finite); reported, never converged
                sol.stopped_because = Some(format!("the Poisson solve of self-consistent iteration {} failed: {f}", it + 1));
                break;
            }
            if !change.is_finite() {
                sol.stopped_because = Some(format!("self-consistent iteration {}: the potential change is not finite", it + 1));
                break;
            }
            if change < tol && newton.converged {
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
    let db = prepare::material_db(loaded)?;
    let fills = prepare::resolve_fills(scene, &db)?;
    let shapes: Vec<&crate::scene::Shape> = scene.regions.iter().map(|r| &r.shape).collect();
    let map = MaterialMap::paint(&grid, &shapes, SUBSAMPLES);
    let materials: Vec<&crate::materials::Material> = fills.iter().map(|f| &f.material).collect();
    let model = DeviceModel::new(scene, &grid, &map, &materials)?;
    Ok((model, map))
}

/// Solve a resolved device scene (modes "poisson" and "self_consistent", see
/// [`super::run`]) and write its output folder, starting from the warm start's potential
/// when it fits the grid.
pub(super) fn run(loaded: &LoadedScene, opts: &RunOptions, warm: Option<&WarmStart>, progress: &mut dyn FnMut(&ScfStep)) -> Result<RunReport> {
    let t0 = Instant::now();
    let (model, map) = prepare_device(loaded)?;
    let start = warm.filter(|w| w.fits(&model.grid)).and_then(|w| w.potential.as_deref());
    let sopts = SolveOptions::from_scene(&loaded.scene);
    let setup_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    // (a closure: listing adapters for the per-rank choice is only worth it for the GPU)
    let adapter = || crate::parallel::adapter_for_rank(opts.adapter.as_deref());
    let backend_notices = super::precision_notices(loaded, opts);
    let solved = select(loaded.scene.solve.backend, Mode::Device { unknowns: model.grid.len() }, &super::gpu_request(opts, &adapter)).and_then(|sel| {
        for n in &sel.notices {
            notice_once(n);
        }
        match sel.backend {
            Chosen::Gpu(g) => crate::on_ranks!(g, |be| solve_device(be, loaded, &model, &sopts, start, progress)),
            Chosen::Cpu(c) => crate::on_ranks!(c, |be| solve_device(be, loaded, &model, &sopts, start, progress)),
        }
    });
    let mut sol = match solved {
        Ok(s) => s,
        // exit 3 writes flagged results: a solver that gave up is reported, not lost
        Err(QdError::NotConverged(why)) => DeviceSolution::failed(&model, why),
        Err(e) => return Err(e),
    };
    sol.notices.splice(0..0, backend_notices);
    for n in &sol.notices {
        notice_once(n);
    }
    let solve_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let mut r = device_results(loaded, &model, &sol);
    r.notices = sol.notices.clone();
    r.self_consistency.tolerance_requested_v = loaded.scene.solve.poisson_options().tolerance;
    r.self_consistency.tolerance_used_v = sol.tolerance_v;
    if !sol.converged {
        r.reason = Some(match &sol.stopped_because {
            Some(r) => r.clone(),
            None if !sol.classical.converged && loaded.scene.solve.mode == SolveMode::SelfConsistent => format!(
                "the classical Poisson start of the self-consistent loop did not converge within {CLASSICAL_START_NEWTON_STEPS} Newton steps"
            ),
            None => format!(
                "the {} solve did not converge within solve.poisson.max_iterations = {}",
                r.mode,
                loaded.scene.solve.poisson_options().max_iterations
            ),
        });
    }
    let mut results = Results::Device(Box::new(r));
    let set_timings = |results: &mut Results, output: Option<f64>| {
        if let Results::Device(r) = results {
            r.timings_s = DeviceTimings { setup: setup_s, solve: solve_s, output, total: t0.elapsed().as_secs_f64() };
        }
    };
    let out_dir = match &opts.out {
        Some(path) => super::write_output(path, loaded, &mut results, |dir| write_device_fields(dir, loaded, &model, &map, &sol), |results| {
            set_timings(results, Some(t2.elapsed().as_secs_f64()))
        })?,
        None => {
            set_timings(&mut results, None);
            PathBuf::new()
        }
    };
    // (in the report only: results.json was written without it)
    if let Results::Device(r) = &mut results {
        r.self_consistency.warm_start = Some(start.is_some());
    }
    let energies = sol.eigen.as_ref().map(|e| e.energies.clone()).unwrap_or_default();
    let warm = WarmStart { grid: Some(model.grid.clone()), vectors: Vec::new(), potential: Some(sol.phi) };
    Ok(RunReport { out_dir, converged: sol.converged, energies, results, warm })
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
        // Quantum states: |ψ|² per nm^d on the device grid. Which are not bound by the
        // structure is not known here (an empty list): the plots mark those flagged once
        // the results carry the flag.
        let quantum = sol.quantum.as_ref().map(|q| {
            let dens: Vec<Vec<f64>> = q
                .states
                .iter()
                .map(|v| {
                    let mut full = vec![0.0; g.len()];
                    for (x, &c) in v.iter().zip(&q.cells) {
                        full[c] = x * x / q.cell_volume;
                    }
                    full
                })
                .collect();
            // the levels results.json flags `bound: false`, drawn dashed
            let unbound: Vec<bool> = (0..q.energies.len()).map(|i| !q.is_bound(i)).collect();
            (q, dens, unbound)
        });
        if g.dim == 1 {
            let x = g.axis_centers(0);
            use output::lines::{plot_lines, Series};
            let (efn, efp) = (vec![model.ef_n; x.len()], vec![model.ef_p; x.len()]);
            let mut bands = vec![Series { label: "Ec".into(), y: &ec, dashed: false }, Series { label: "Ev".into(), y: &ev, dashed: false }];
            if (model.ef_n - model.ef_p).abs() < 1e-9 {
                bands.push(Series { label: "E_F (= E_Fn = E_Fp)".into(), y: &efn, dashed: true });
            } else {
                bands.push(Series { label: "E_Fn".into(), y: &efn, dashed: true });
                bands.push(Series { label: "E_Fp".into(), y: &efp, dashed: true });
            }
            plot_lines(&out.path("bands.png"), &format!("{title}: band diagram"), &x, "x (nm)", "energy (eV)", &bands, false)?;
            files.push("bands.png".into());
            let nd = &ch.donors_ionised;
            let na = &ch.acceptors_ionised;
            plot_lines(
                &out.path("densities.png"),
                &format!("{title}: carriers and doping"),
                &x,
                "x (nm)",
                "density (cm⁻³)",
                &[
                    Series { label: "n".into(), y: &ch.n, dashed: false },
                    Series { label: "p".into(), y: &ch.p, dashed: false },
                    Series { label: "N_D⁺".into(), y: nd, dashed: true },
                    Series { label: "N_A⁻".into(), y: na, dashed: true },
                ],
                true,
            )?;
            files.push("densities.png".into());
            if let Some((q, dens, unbound)) = &quantum {
                // the quantum levels in the conduction band of the region
                let qx: Vec<f64> = q.cells.iter().map(|&c| g.center(c)[0]).collect();
                let qec: Vec<f64> = q.cells.iter().map(|&c| ec[c]).collect();
                let states: Vec<(f64, Vec<f64>)> = q.energies.iter().copied().zip(dens.iter().map(|d| q.cells.iter().map(|&c| d[c]).collect())).collect();
                output::plot::plot_1d_states(&out.path("states.png"), &title, &qx, &qec, &states, unbound, "energy (eV)")?;
                files.push("states.png".into());
            }
        } else {
            use output::plot::ColourScale as Scale;
            let panels = device_panels(
                g,
                map,
                &[
                    ("conduction band edge Ec", "eV", &ec, Scale::Linear),
                    ("electrostatic potential φ", "V", &sol.phi, Scale::Linear),
                    ("electron density n", "cm⁻³", &ch.n, Scale::Log),
                    ("hole density p", "cm⁻³", &ch.p, Scale::Log),
                    ("net charge ρ/q", "cm⁻³", &ch.rho, Scale::Diverging),
                ],
            );
            output::plot::plot_panels(&out.path("device.png"), &title, &panels)?;
            files.push("device.png".into());
            if let Some((q, dens, unbound)) = &quantum {
                let states: Vec<output::plot::SliceState> = dens.iter().zip(&q.energies).enumerate().map(|(n, (d, &energy))| output::plot::SliceState { energy, density: d, unbound: unbound.get(n).copied().unwrap_or(false) }).collect();
                let panels = output::plot::structure_panels(g, "conduction band edge Ec", "eV", &ec, &map.dominant, &states, "eV");
                output::plot::plot_panels(&out.path("states.png"), &format!("{title}: quantum states"), &panels)?;
                files.push("states.png".into());
            }
        }
        if !sol.history.is_empty() {
            let it: Vec<f64> = sol.history.iter().map(|s| s.iteration as f64).collect();
            let ch: Vec<f64> = sol.history.iter().map(|s| s.potential_change_v).collect();
            let tol = vec![scene.solve.poisson_options().tolerance; it.len()];
            output::lines::plot_lines(
                &out.path("convergence.png"),
                &format!("{title}: self-consistency"),
                &it,
                "iteration",
                "max |φ_out − φ_in| (V)",
                &[output::lines::Series { label: "potential change".into(), y: &ch, dashed: false }, output::lines::Series { label: "tolerance".into(), y: &tol, dashed: true }],
                true,
            )?;
            files.push("convergence.png".into());
        }
    }
    Ok(files)
}

/// Heat maps of the whole device through the domain's centre (the plane in 2D, xy at mid
/// z in 3D), each with its unit and colour scale, material boundaries outlined.
fn device_panels(g: &Grid, map: &MaterialMap, data: &[(&str, &str, &[f64], output::plot::ColourScale)]) -> Vec<output::plot::Panel> {
    let at = if g.dim == 3 { g.n[2] / 2 } else { 0 };
    let suffix = if g.dim == 3 { format!(", z = {:.1} nm", g.center_coord(2, at)) } else { String::new() };
    let cells: Vec<usize> = (0..g.n[1]).flat_map(|j| (0..g.n[0]).map(move |i| (i, j))).map(|(i, j)| g.index(i, j, at)).collect();
    data.iter()
        .map(|&(title, unit, d, scale)| {
            let mut p = output::plot::Panel::new(
                format!("{title}{suffix}"),
                g.n[0],
                g.n[1],
                (g.origin[0], g.origin[0] + g.n[0] as f64 * g.h[0]),
                (g.origin[1], g.origin[1] + g.n[1] as f64 * g.h[1]),
                "x (nm)",
                "y (nm)",
                cells.iter().map(|&c| d[c]).collect(),
                unit,
            );
            p.scale = scale;
            if map.dominant.len() == g.len() {
                p.regions = cells.iter().map(|&c| map.dominant[c]).collect();
            }
            p
        })
        .collect()
}

/// The results document of a device solve (notices, tolerances, reason and timings are
/// filled in by [`run`]).
fn device_results(loaded: &LoadedScene, model: &DeviceModel, sol: &DeviceSolution) -> DeviceResults {
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
        let occ_scale = 10f64.powi(7 * (3 - q.dim as i32)); // per nm^(3-d) → per cm^(3-d)
        let states = q
            .energies
            .iter()
            .zip(&occ)
            .enumerate()
            .map(|(i, (&e, o))| QuantumState {
                index: i,
                energy_ev: e,
                energy_minus_ef_mev: (e - model.ef_n) * 1e3,
                electrons: o * occ_scale,
                in_plane_mass_m0: q.m_free.get(i).copied(),
                bound: q.is_bound(i),
            })
            .collect();
        let last_occ = occ.last().copied().unwrap_or(0.0) / occ.first().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
        QuantumReport {
            dimension: q.dim,
            cells: q.cells.len(),
            states,
            electrons_unit: occ_unit,
            electrons_total: occ.iter().sum::<f64>() * occ_scale,
            highest_state_relative_occupation: last_occ,
            continuum_edge_ev: q.continuum_edge_ev,
            bound: "a state is bound (states[].bound) when its energy lies below continuum_edge_ev, the lowest Ec on the quantum region's faces inside the domain (null: the region fills the domain and every state counts): above it the state is not bound by the structure but by the artificial ψ = 0 wall at the region's edge (in a tilted band at best quasi-bound), and holds no electrons: the classical density above the edge counts them",
            in_plane_mass: "the in-plane (free-direction) mass of each subband's density of states, from first-order k·p: 1/m = ⟨ψ|1/m*(r)|ψ⟩",
            note: if last_occ > 1e-3 { "the highest computed state still holds more than 0.1 % of the lowest one's electrons: ask for more states" } else { "all occupied states computed" },
        }
    });
    // the numbers a sweep tabulates per point (sweep.csv columns)
    let mut key = BTreeMap::new();
    let bare = unit.replace('^', "");
    key.insert("potential_span_v".to_string(), Quantity::Value(pmax - pmin));
    key.insert(format!("electrons_{bare}"), Quantity::Value(integral(&ch.n)));
    key.insert(format!("holes_{bare}"), Quantity::Value(integral(&ch.p)));
    if let Some(q) = &quantum {
        key.insert(format!("quantum_electrons_{}", q.electrons_unit.replace('^', "")), Quantity::Value(q.electrons_total));
    }
    key.insert("self_consistent_iterations".into(), Quantity::Count(sol.history.len() as u64));
    key.extend(quantum_region_quantities(model, sol).into_iter().map(|(k, v)| (k, Quantity::Value(v))));
    let mode = match scene.solve.mode {
        SolveMode::Poisson => "poisson",
        SolveMode::SelfConsistent => "self_consistent",
        SolveMode::Schrodinger => "schrodinger",
    };
    DeviceResults {
        schema_version: SCHEMA_VERSION,
        key_quantities: key,
        program: Program::this(),
        mode,
        status: Status::of(sol.converged),
        converged: sol.converged,
        scene_file: loaded.path.display().to_string(),
        scene: scene.clone(),
        units: DeviceUnits::default(),
        grid: GridReport {
            dimension: g.dim,
            cells: g.dims(),
            unknowns: g.len(),
            spacing_nm: g.h[..g.dim].to_vec(),
            origin_nm: g.origin[..g.dim].to_vec(),
            periodic: None,
            matrix_nonzeros: None,
        },
        temperature_k: model.temperature,
        statistics: model.statistics,
        materials: prepare::material_db(loaded)
            .and_then(|db| prepare::resolve_fills(scene, &db))
            .map(|f| prepare::materials_table(&f, crate::materials::Carrier::Electron, model.temperature))
            .unwrap_or_default(),
        reference: DeviceReference { lowest_band_edge_ev: model.bands.iter().zip(&sol.phi).map(|(b, p)| b.ec0 - p).fold(f64::INFINITY, f64::min) },
        holes_included: model.holes,
        fermi_levels_ev: FermiLevels { electrons: model.ef_n, holes: model.ef_p },
        contacts: model.contacts.iter().map(ContactReport::from).collect(),
        potential_v: PotentialReport {
            min: pmin,
            max: pmax,
            span: pmax - pmin,
            cell_centres: Span { min: cmin, max: cmax, span: cmax - cmin },
            note: "min, max and span include the potentials the contacts hold on the boundary faces",
        },
        charge: ChargeReport {
            unit,
            electrons: integral(&ch.n),
            holes: integral(&ch.p),
            net: integral(&ch.rho),
            donors_ionised: integral(&ch.donors_ionised),
            acceptors_ionised: integral(&ch.acceptors_ionised),
        },
        classical_poisson: sol.classical.clone(),
        self_consistency: SelfConsistency {
            iterations: sol.history.len(),
            tolerance_v: scene.solve.poisson_options().tolerance,
            stopped_because: sol.stopped_because.clone(),
            // electrons in the quantum region in the units of `charge` (cm^-2, cm^-1, a number)
            history: sol
                .history
                .iter()
                .map(|h| HistoryRow {
                    iteration: h.iteration,
                    potential_change_v: h.potential_change_v,
                    ground_state_ev: h.ground_state_ev,
                    newton_iterations: h.newton_iterations,
                    charge_residual_cm3: h.charge_residual_cm3,
                    seconds: h.seconds,
                    quantum_electrons: BTreeMap::from([(format!("quantum_electrons_{bare}"), h.quantum_electrons * 10f64.powi(7 * (3 - g.dim as i32)))]),
                })
                .collect(),
            tolerance_requested_v: f64::NAN,
            tolerance_used_v: f64::NAN,
            warm_start: None,
        },
        quantum,
        eigensolver: sol.eigen.as_ref().map(|e| EigenSummary { method: e.method.clone(), matvecs: e.matvecs, converged: e.converged, tolerance: e.tolerance }),
        backend: BackendReport { name: sol.backend.clone(), details: sol.backend_details.clone() },
        notices: Vec::new(),
        reason: None,
        timings_s: DeviceTimings::default(),
        peak_memory_bytes: None,
        files: None,
    }
}

/// Key quantities of the quantum region (for results.json and sweep.csv):
/// `quantum_continuum_edge_ev`, the continuum edge of the last Schrödinger solve (see
/// [`QuantumCharge::continuum_edge_ev`](crate::physics::device::QuantumCharge)); and the
/// ground level against the band edge of its own well, `well_edge_ev` and
/// `ground_state_minus_well_edge_mev` = E0 − ⟨Ec⟩_well. The well is the connected set of
/// quantum cells of the lowest flat-band edge Ec0 (the well or dot material, cut cells left
/// out) that holds the largest |ψ0|², reported only when it is enclosed in the region
/// (touches none of its faces: not for a single heterojunction, whose triangular well is
/// made by the field); ⟨Ec⟩_well = ⟨Ec0 − φ⟩ over its cells is the band edge at its centre
/// when the field across it is uniform. E0 itself follows the electrostatic
/// potential of the whole well (a bias moves it by the potential drop to the well); E0 −
/// ⟨Ec⟩_well is the confinement energy, whose change with the field is the quantum-confined
/// Stark shift (small and quadratic at low field).
fn quantum_region_quantities(model: &DeviceModel, sol: &DeviceSolution) -> Vec<(String, f64)> {
    let Some(q) = &sol.quantum else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(edge) = q.continuum_edge_ev {
        out.push(("quantum_continuum_edge_ev".to_string(), edge));
    }
    let (Some(&e0), Some(psi)) = (q.energies.first(), q.states.first()) else { return out };
    if sol.phi.len() != model.grid.len() {
        return out;
    }
    let g = &model.grid;
    let ec0_min = q.cells.iter().map(|&c| model.bands[c].ec0).fold(f64::INFINITY, f64::min);
    let mut in_well = vec![false; g.len()];
    for &c in &q.cells {
        in_well[c] = model.bands[c].ec0 <= ec0_min + 1e-6;
    }
    let Some(start) = q.cells.iter().zip(psi).filter(|(&c, _)| in_well[c]).max_by(|a, b| (a.1 * a.1).total_cmp(&(b.1 * b.1))).map(|(&c, _)| c) else { return out };
    // the region's index box, to tell an enclosed well from one that runs into a face
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for &c in &q.cells {
        let ijk = g.ijk(c);
        for a in 0..3 {
            lo[a] = lo[a].min(ijk[a]);
            hi[a] = hi[a].max(ijk[a]);
        }
    }
    let mut enclosed = true;
    // flood fill over face neighbours
    let mut seen = vec![false; g.len()];
    let mut stack = vec![start];
    seen[start] = true;
    let (mut sum, mut count) = (0.0, 0usize);
    while let Some(c) = stack.pop() {
        sum += model.bands[c].ec0 - sol.phi[c];
        count += 1;
        let ijk = g.ijk(c);
        enclosed &= (0..g.dim).all(|a| ijk[a] > lo[a] && ijk[a] < hi[a]);
        for a in 0..g.dim {
            for up in [false, true] {
                let mut n = ijk;
                if up {
                    if n[a] + 1 >= g.n[a] {
                        continue;
                    }
                    n[a] += 1;
                } else {
                    if n[a] == 0 {
                        continue;
                    }
                    n[a] -= 1;
                }
                let m = g.index(n[0], n[1], n[2]);
                if in_well[m] && !seen[m] {
                    seen[m] = true;
                    stack.push(m);
                }
            }
        }
    }
    if !enclosed {
        // a heterojunction's triangular well runs into the region's face: no well edge
        return out;
    }
    let well_edge = sum / count as f64;
    out.push(("well_edge_ev".to_string(), well_edge));
    out.push(("ground_state_minus_well_edge_mev".to_string(), (e0 - well_edge) * 1e3));
    out
}
