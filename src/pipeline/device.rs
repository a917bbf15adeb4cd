//! The device pipeline behind `solve.mode` = "poisson" and "self_consistent": load → paint
//! the device ([`crate::physics::device::DeviceModel`]) → nonlinear Poisson by Newton →
//! (self-consistent) Schrödinger in the quantum region ↔ Poisson with the
//! predictor–corrector density, mixed by Anderson → fields, plots and results.json
//! (written by [`super::device_output`]).
//!
//! Written once over [`Backend`]: the Poisson systems (PCG with multigrid) and the
//! eigenproblems run on the CPU or the GPU backend alike.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;

use crate::backend::select::{select, Chosen, Mode};
use crate::constants::HBAR2_OVER_2M0_EV_NM2;
use crate::error::{QdError, Result};
use crate::grid::{Grid, MaterialMap};
use crate::linalg::mixing::Anderson;
use crate::linalg::Backend;
use crate::physics::device::{Charge, DeviceModel, NewtonReport, QuantumCharge};
use crate::scene::{LoadedScene, MixingMethod, SolveMode};

use super::device_output::{device_fields, device_results, write_device_fields};
use super::eigen::{self, Solution, SolveOptions};
use super::options::{notice_once, RunOptions, RunReport, WarmStart};
use super::prepare::{self, SUBSAMPLES};
use super::report::{DeviceTimings, Results};

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
    let sopts = SolveOptions { dims: Some(qb.grid.n), eigensolver: sopts.eigensolver.for_device(), ..sopts.clone() };
    let sol = eigen::solve(be, &h, &sopts, None, &mut |_| {})?;
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
    let fields = opts.keep_fields.then(|| device_fields(&model, &map, &sol));
    let warm = WarmStart { grid: Some(model.grid.clone()), vectors: Vec::new(), potential: Some(sol.phi) };
    Ok(RunReport { out_dir, converged: sol.converged, energies, results, warm, fields })
}
