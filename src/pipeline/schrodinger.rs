//! Mode "schrodinger": the scene's Hamiltonian, its lowest states on the chosen backend,
//! the continuum threshold that tells bound states from box states, and the output
//! folder (fields, plots, results.json).
//!
//! Units: lengths nm, energies eV, masses m0, temperature K (see [`crate::constants`]).

use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use crate::backend::select::{select, Chosen, EarlyGpu, GpuRequest, Mode};
use crate::error::{QdError, Result};
use crate::grid::Grid;
use crate::linalg::lanczos::LanczosProgress;
use crate::linalg::CsrMatrix;
use crate::output::{self, OutputDir};
use crate::scene::{BackendChoice, LoadedScene, Scene};

use super::eigen::{solve, Solution, SolveOptions, DEFAULT_FILTER_DEGREE, DENSE_LIMIT};
use super::options::{notice_once, Fields, PhasePeaks, RunOptions, RunReport, Timings, WarmStart};
use super::prepare::{check_operator, materials_table, peak_memory, prepare_with, Problem};
use super::report::{BackendReport, GridReport, Program, Reference, Results, SchrodingerResults, SchrodingerUnits, SolverReport, StateReport, Status, SCHEMA_VERSION};

/// Solve a resolved Schrödinger scene (see [`super::run`]) and write its output folder.
pub(super) fn run(loaded: &LoadedScene, opts: &RunOptions, warm: Option<&WarmStart>, progress: &mut dyn FnMut(&LanczosProgress)) -> Result<RunReport> {
    let t0 = Instant::now();
    // `gpu` in one process: the adapter is opened (instance, device, kernel compiles) while
    // the scene is painted and assembled, not after
    let early = (loaded.scene.solve.backend == BackendChoice::Gpu && opts.gpu_invalid.is_none() && !crate::parallel::distributed())
        .then(|| EarlyGpu::start(crate::parallel::adapter_for_rank(opts.adapter.as_deref()), opts.gpu.clone()));
    let mut sopts = SolveOptions::from_scene(&loaded.scene);
    let backend_notices = super::precision_notices(loaded, opts);
    let problem = prepare_with(loaded, sopts.states, early.as_ref())?;
    sopts.dims = Some(problem.grid.n);
    let mut timings = Timings { setup: t0.elapsed().as_secs_f64(), ..Default::default() };
    let mut peaks = PhasePeaks { setup: peak_memory(), ..Default::default() };
    let t1 = Instant::now();
    let h = problem.hamiltonian();
    check_operator(&problem, &h)?;
    timings.assemble = t1.elapsed().as_secs_f64();
    peaks.assemble = peak_memory();
    let t2 = Instant::now();
    let initial: &[Vec<f64>] = match warm {
        Some(w) if w.fits(&problem.grid) => &w.vectors,
        _ => &[],
    };
    // `gpu` insists: it opens the adapter and runs the iterative solver there even on a
    // problem small enough for the dense path (which runs on the CPU)
    let choice = loaded.scene.solve.backend;
    if choice == BackendChoice::Gpu {
        sopts.force_iterative = true;
    }
    let dense = h.nrows <= DENSE_LIMIT && !sopts.force_iterative;
    // (a closure: listing adapters for the per-rank choice is only worth it for the GPU)
    let adapter = || crate::parallel::adapter_for_rank(opts.adapter.as_deref());
    let request = GpuRequest { early: early.as_ref(), ..super::gpu_request(opts, &adapter) };
    let solved = select(choice, Mode::Eigen { matrix: &h, dense }, &request).and_then(|sel| {
        for n in &sel.notices {
            notice_once(n);
        }
        match sel.backend {
            Chosen::Gpu(g) => crate::on_ranks!(g, |be| {
                let mut sol = solve(be, &h, &sopts, Some(initial), progress)?;
                sol.backend_details = crate::linalg::Backend::details(be);
                Ok(sol)
            }),
            Chosen::Cpu(c) => crate::on_ranks!(c, |be| solve(be, &h, &sopts, Some(initial), progress)),
        }
    });
    let mut sol = match solved {
        Ok(s) => s,
        // exit 3 writes flagged results: a solver that gave up is reported, not lost
        Err(QdError::NotConverged(why)) => Solution::failed(&sopts, "none", why),
        Err(e) => return Err(e),
    };
    // a strain solve that did not converge flags the run (exit 3) like the eigensolver
    if let Some(st) = problem.strain.as_ref().filter(|s| !s.summary.converged) {
        sol.converged = false;
        if sol.failure.is_none() {
            sol.failure = Some(format!(
                "the strain PCG did not reach strain.tolerance = {:e} within strain.max_iterations = {} (relative residual {:e})",
                st.summary.tolerance, st.summary.pcg_iterations, st.summary.relative_residual
            ));
        }
    }
    // so does the piezoelectric Poisson solve
    if let Some(ps) = problem.strain.as_ref().and_then(|s| s.summary.piezo.as_ref()).filter(|p| !p.piezo_converged) {
        sol.converged = false;
        if sol.failure.is_none() {
            sol.failure = Some(format!(
                "the piezoelectric Poisson PCG did not reach strain.tolerance within strain.max_iterations = {} (relative residual {:e})",
                ps.piezo_pcg_iterations, ps.piezo_relative_residual
            ));
        }
    }
    sol.notices.splice(0..0, backend_notices);
    for n in &sol.notices {
        notice_once(n);
    }
    timings.solve = t2.elapsed().as_secs_f64();
    peaks.solve = peak_memory();
    let t3 = Instant::now();
    let mut r = results_json(loaded, &problem, &h, &sol, &timings);
    // the operator is not needed by the output: its memory goes back before the output's
    // own buffers are taken (at 256³, 1.5 GB of the output phase's 10.5 GB peak)
    drop(h);
    r.peak_memory_after_bytes = peaks.clone();
    r.solver.warm_start = !initial.is_empty() && sol.method != "dense";
    let mut results = Results::Schrodinger(Box::new(r));
    let out_dir = match &opts.out {
        Some(path) => super::write_output(path, loaded, &mut results, |dir| write_fields(dir, &loaded.scene, &problem, &sol), |results| {
            timings.output = t3.elapsed().as_secs_f64();
            timings.total = t0.elapsed().as_secs_f64();
            if let Results::Schrodinger(r) = results {
                r.timings_s = timings.clone();
                r.peak_memory_after_bytes.output = peak_memory();
            }
        })?,
        None => {
            timings.total = t0.elapsed().as_secs_f64();
            if let Results::Schrodinger(r) = &mut results {
                r.timings_s = timings.clone();
            }
            PathBuf::new()
        }
    };
    let fields = opts.keep_fields.then(|| fields(&problem, &sol));
    let warm = WarmStart { grid: Some(problem.grid.clone()), vectors: sol.vectors, potential: None };
    Ok(RunReport { out_dir, converged: sol.converged, energies: sol.energies, results, warm, fields })
}

/// The fields of a solve in memory, as [`write_fields`] writes them: band edge, potential,
/// material, |ψ|² and ψ of every state.
pub fn fields(p: &Problem, sol: &Solution) -> Fields {
    let g = &p.grid;
    let n = g.len();
    let mut psi2 = Vec::with_capacity(n * sol.vectors.len());
    let mut psi = Vec::with_capacity(n * sol.vectors.len());
    for v in &sol.vectors {
        psi2.extend(density(g, v));
        psi.extend(wavefunction(g, v));
    }
    Fields {
        dims: g.dims(),
        spacing_nm: g.h[..g.dim].to_vec(),
        origin_nm: g.origin[..g.dim].to_vec(),
        nodes_nm: nodes_nm(g),
        arrays: vec![
            ("band_edge".into(), p.band_edge.clone()),
            ("potential".into(), p.potential.clone()),
            ("material".into(), p.map.dominant.iter().map(|&f| f as f64).collect()),
        ],
        psi2,
        psi,
        states: sol.vectors.len(),
    }
}

/// The results document of a solve (`timings` as far as they are known; the file list
/// and peak memory are added when the folder is written).
pub fn results_json(loaded: &LoadedScene, p: &Problem, h: &CsrMatrix, sol: &Solution, timings: &Timings) -> SchrodingerResults {
    let scene = &loaded.scene;
    let e0 = p.lowest_band_edge();
    let (barrier, unbound) = unbound_levels(p, &sol.energies);
    let thresh = sol.tolerance * sol.norm_estimate;
    let states = sol
        .energies
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            let r = sol.residuals.get(i).copied().unwrap_or(f64::NAN);
            StateReport {
                index: i,
                energy_ev: e,
                energy_above_band_edge_mev: (e - e0) * 1e3,
                residual_ev: r,
                relative_residual: r / sol.norm_estimate.max(f64::MIN_POSITIVE),
                converged: r.is_finite() && e.is_finite() && (sol.method == "dense" || r <= 10.0 * thresh.max(1e-14 * sol.norm_estimate)),
                bound: !unbound[i],
            }
        })
        .collect();
    let dense = sol.method == "dense";
    SchrodingerResults {
        schema_version: SCHEMA_VERSION,
        program: Program::this(),
        status: Status::of(sol.converged),
        converged: sol.converged,
        scene_file: loaded.path.display().to_string(),
        scene: scene.clone(),
        units: SchrodingerUnits::default(),
        grid: GridReport {
            dimension: p.grid.dim,
            cells: p.grid.dims(),
            unknowns: p.grid.len(),
            spacing_nm: p.grid.h[..p.grid.dim].to_vec(),
            origin_nm: p.grid.origin[..p.grid.dim].to_vec(),
            nodes_nm: nodes_nm(&p.grid),
            periodic: Some(p.grid.periodic[..p.grid.dim].to_vec()),
            matrix_nonzeros: Some(h.nnz()),
        },
        carrier: p.carrier.as_str(),
        energy_convention: if p.carrier.is_hole() {
            "hole energies measured downward: E = -(valence-band energy); the physical level is -energy_ev"
        } else {
            "electron energies on the common band-offset scale (InSb valence-band maximum = 0 eV)"
        },
        temperature_k: p.temperature,
        materials: materials_table(&p.fills, p.carrier, p.temperature),
        reference: Reference {
            lowest_band_edge_ev: e0,
            lowest_potential_ev: p.lowest_potential(),
            lowest_boundary_potential_ev: boundary_minimum(&p.grid, &p.potential),
            continuum_threshold_ev: barrier,
            bound: "a state is bound (states[].bound) when its energy lies below continuum_threshold_ev, the lowest energy at which a state can leave through a non-periodic face of the domain (1D: the potential on the end cells; 2D/3D: the lowest level of a face's cross-section, so a layer reaching the boundary counts with its own subband edge): a level above it is confined only by the domain's ψ = 0 walls",
        },
        backend: BackendReport { name: sol.backend.clone(), details: sol.backend_details.clone() },
        solver: SolverReport {
            method: sol.method.clone(),
            tolerance: sol.tolerance,
            criterion: "||H psi - E psi|| <= tolerance * ||H||",
            norm_estimate_ev: sol.norm_estimate,
            matvecs: sol.matvecs,
            max_matvecs: sol.max_matvecs,
            restarts: sol.restarts,
            outer_iterations: sol.outer_iterations,
            host_syncs: sol.host_syncs,
            preconditioner_setup_s: sol.preconditioner_setup_s,
            basis_size: sol.basis_size,
            block_size: sol.block_size,
            chebyshev_filter_degree: sol.filter_degree,
            eigensolver_s: sol.eigensolver_s,
            host_refinement_s: sol.refine_s,
            warm_start: false,
            tolerance_requested: sol.tolerance_requested,
            tolerance_used: (!dense).then_some(sol.tolerance),
            max_iterations_applies: !dense,
            notices: sol.notices.clone(),
        },
        states,
        timings_s: timings.clone(),
        peak_memory_after_bytes: Default::default(),
        reason: sol.failure.clone().or_else(|| {
            (!sol.converged).then(|| format!("the eigensolver did not converge within solve.max_iterations = {} operator applications", sol.max_matvecs))
        }),
        peak_memory_bytes: None,
        files: None,
        strain: p.strain.as_ref().map(|s| s.summary.clone()),
    }
}

/// The lowest potential energy on the domain's non-periodic boundary cells, eV (None when
/// every axis is periodic). A state below it cannot reach the boundary classically.
pub fn boundary_minimum(grid: &Grid, values: &[f64]) -> Option<f64> {
    let open: Vec<usize> = (0..grid.dim).filter(|&a| !grid.periodic[a]).collect();
    if open.is_empty() {
        return None;
    }
    let m = (0..grid.len())
        .filter(|&c| {
            let ijk = grid.ijk(c);
            open.iter().any(|&a| ijk[a] == 0 || ijk[a] + 1 == grid.n[a])
        })
        .map(|c| values[c])
        .fold(f64::INFINITY, f64::min);
    Some(m)
}

/// The continuum threshold of the structure, eV: the lowest energy at which a state can run
/// out through a non-periodic face of the domain (None when every axis is periodic). The
/// structure is taken to continue beyond each face as it is on the face's cells, so the
/// threshold of a face is the lowest eigenvalue of its cross-section: in 1D the potential
/// on the end cell, in 2D and 3D the lowest level of the (d−1)-dimensional effective-mass
/// operator of the face's cells (kinetic coefficients and potential of those cells, the
/// face's own edges as the domain's). A layer that reaches the boundary (a wetting layer,
/// a quantum well plane) therefore contributes its own subband edge, not its bulk band
/// edge: a dot's levels below the wetting layer's subband are bound. The cross-sections are
/// solved only when some level lies above [`boundary_minimum`], which bounds the
/// threshold from below.
pub fn continuum_threshold(p: &Problem, energies: &[f64]) -> Option<f64> {
    let g = &p.grid;
    let floor = boundary_minimum(g, &p.potential)?;
    let top = energies.iter().copied().filter(|e| e.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    if g.dim == 1 || top <= floor {
        return Some(floor);
    }
    // the faces' cross-sections: (lowest potential on the face, face grid, its cells)
    let mut faces = Vec::new();
    for a in (0..g.dim).filter(|&a| !g.periodic[a]) {
        let others: Vec<usize> = (0..g.dim).filter(|&b| b != a).collect();
        let face = g.cross_section(&others);
        for side in [0, g.n[a] - 1] {
            let cells: Vec<usize> = (0..face.len())
                .map(|f| {
                    let fijk = face.ijk(f);
                    let mut ijk = [0usize; 3];
                    ijk[a] = side;
                    for (k, &b) in others.iter().enumerate() {
                        ijk[b] = fijk[k];
                    }
                    g.index(ijk[0], ijk[1], ijk[2])
                })
                .collect();
            let low = cells.iter().map(|&c| p.potential[c]).fold(f64::INFINITY, f64::min);
            faces.push((low, face.clone(), cells));
        }
    }
    // a face's threshold is at least its lowest potential: solve the faces from the lowest
    // up, and skip those that cannot lower the threshold below the highest level
    faces.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut best = f64::INFINITY;
    // faces with the same cross-section (opposite faces of a symmetric scene) are solved once
    let mut solved: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    for (low, face, cells) in faces {
        if low >= best.min(top) {
            continue;
        }
        let kin: Vec<f64> = cells.iter().map(|&c| p.kinetic[c]).collect();
        let pot: Vec<f64> = cells.iter().map(|&c| p.potential[c]).collect();
        if solved.iter().any(|(k, v)| *k == kin && *v == pot) {
            continue;
        }
        solved.push((kin.clone(), pot.clone()));
        let hf = crate::physics::hamiltonian::assemble_hamiltonian(&face, &kin, &pot);
        let lowest = if hf.nrows <= 400 {
            crate::linalg::dense::lowest_eigenpairs(&hf, 1).0.first().copied()
        } else {
            // a threshold to compare levels with: 1e-7·‖H‖ in the residual puts the
            // eigenvalue far closer than that (the error is quadratic in the residual)
            let opts = SolveOptions {
                states: 1,
                tolerance: 1e-7,
                max_matvecs: 20_000,
                block_size: 1,
                force_iterative: false,
                filter_degree: DEFAULT_FILTER_DEGREE,
                // (a small face problem, solved once: the threshold, not a benchmark)
                eigensolver: crate::scene::Eigensolver::Lanczos,
                dims: None,
            };
            crate::on_ranks!(crate::backend::CpuBackend::new(), |be| solve(be, &hf, &opts, None, &mut |_| {})).ok().and_then(|s| s.energies.first().copied())
        };
        if let Some(e) = lowest.filter(|e| e.is_finite()) {
            best = best.min(e);
        }
    }
    Some(if best.is_finite() { best.max(floor) } else { floor })
}

/// Which levels are not bound by the structure: at or above [`continuum_threshold`].
pub fn unbound_levels(p: &Problem, energies: &[f64]) -> (Option<f64>, Vec<bool>) {
    let t = continuum_threshold(p, energies);
    (t, energies.iter().map(|&e| t.is_some_and(|t| !(e < t))).collect())
}

/// |ψ|² normalised to ∫|ψ|² dV = 1 (nm^-dim), from an eigenvector `v` of the assembled
/// operator (on a graded grid v = V^(1/2) ψ, see `physics::hamiltonian`).
pub fn density(grid: &Grid, v: &[f64]) -> Vec<f64> {
    if grid.is_graded() {
        let s: f64 = v.iter().map(|x| x * x).sum::<f64>();
        let s = if s > 0.0 { s } else { 1.0 };
        return v.iter().enumerate().map(|(c, x)| x * x / (s * grid.volume(c))).collect();
    }
    let dv = grid.cell_volume();
    let s: f64 = v.iter().map(|x| x * x).sum::<f64>() * dv;
    let s = if s > 0.0 { s } else { 1.0 };
    v.iter().map(|x| x * x / s).collect()
}

/// ψ (nm^(−d/2)) of a unit eigenvector `v` of the assembled operator: v / √(cell volume).
pub fn wavefunction(grid: &Grid, v: &[f64]) -> Vec<f64> {
    if grid.is_graded() {
        return v.iter().enumerate().map(|(c, x)| x / grid.volume(c).sqrt()).collect();
    }
    let s = 1.0 / grid.cell_volume().sqrt();
    v.iter().map(|x| x * s).collect()
}

/// The cell boundaries of a graded grid's axes (results.json, [`Fields`]), nm.
pub fn nodes_nm(g: &Grid) -> Option<Vec<Vec<f64>>> {
    g.is_graded().then(|| (0..g.dim).map(|a| g.axis_nodes(a)).collect())
}

/// Write the .npy, .vti and .png files; returns their names. The files are written
/// concurrently ([`output::run_jobs`]: names in this order, the first error of the list);
/// the plot (whose continuum threshold may solve on the distributed backend) stays on
/// this thread.
pub fn write_fields(out: &OutputDir, scene: &Scene, p: &Problem, sol: &Solution) -> Result<Vec<String>> {
    use output::WriteJob;
    let g = &p.grid;
    let dims = g.dims();
    let densities: Vec<Vec<f64>> = sol.vectors.par_iter().map(|v| density(g, v)).collect();
    let fill: Vec<f64> = p.map.dominant.iter().map(|&f| f as f64).collect();
    let psis: Vec<Vec<f64>> = if scene.output.wavefunctions && (scene.output.npy || scene.output.vtk) {
        sol.vectors.par_iter().map(|v| wavefunction(g, v)).collect()
    } else {
        Vec::new()
    };
    let names: Vec<String> = (0..densities.len()).map(|i| format!("psi2_{i:03}")).collect();
    let psi_names: Vec<String> = (0..psis.len()).map(|i| format!("psi_{i:03}")).collect();
    let mut jobs: Vec<WriteJob> = Vec::new();
    if scene.output.npy {
        let mut arrays: Vec<(String, &[f64])> = vec![("band_edge".into(), &p.band_edge), ("potential".into(), &p.potential), ("material".into(), &fill)];
        arrays.extend(names.iter().cloned().zip(densities.iter().map(Vec::as_slice)));
        arrays.extend(psi_names.iter().cloned().zip(psis.iter().map(Vec::as_slice)));
        for (name, data) in arrays {
            let (name, dims) = (format!("{name}.npy"), &dims);
            let path = out.path(&name);
            jobs.push(WriteJob::file(name, move || output::npy::write_npy(&path, dims, data)));
        }
        // graded grids: where the cells are (their centres, nm), one file per axis
        if g.is_graded() {
            for (a, axis) in ["x", "y", "z"].iter().enumerate().take(g.dim) {
                let name = format!("{axis}_nm.npy");
                let path = out.path(&name);
                jobs.push(WriteJob::file(name, move || {
                    let c = g.axis_centers(a);
                    output::npy::write_npy(&path, &[c.len()], &c)
                }));
            }
        }
    }
    if scene.output.vtk {
        let mut fields: Vec<(&str, &[f64])> =
            vec![("band_edge", &p.band_edge), ("potential", &p.potential), ("material", &fill)];
        for (n, d) in names.iter().zip(&densities) {
            fields.push((n.as_str(), d.as_slice()));
        }
        for (n, d) in psi_names.iter().zip(&psis) {
            fields.push((n.as_str(), d.as_slice()));
        }
        // a graded grid's fields go to a RectilinearGrid (.vtr), a uniform one's to ImageData
        let name = if g.is_graded() { "fields.vtr" } else { "fields.vti" };
        jobs.push(WriteJob::file(name, move || write_vtk(out, "fields", g, &fields).map(|_| ())));
    }
    if scene.output.plots {
        let densities = &densities;
        jobs.push(WriteJob::here(move || {
            let title = scene.name.clone().unwrap_or_else(|| "qdsim-gpu".into());
            let label = if p.carrier.is_hole() { "hole energy (eV, downward)" } else { "energy (eV)" };
            // the levels that results.json flags `bound: false`, drawn dashed
            let unbound = unbound_levels(p, &sol.energies).1;
            if g.dim == 1 {
                let x = g.axis_centers(0);
                let states: Vec<(f64, Vec<f64>)> = sol.energies.iter().copied().zip(densities.iter().cloned()).collect();
                output::plot::plot_1d_states(&out.path("states.png"), &title, &x, &p.potential, &states, &unbound, label)?;
                Ok(vec!["states.png".into()])
            } else {
                let panels = slice_panels(p, sol, densities, &unbound);
                output::plot::plot_panels(&out.path("slices.png"), &title, &panels)?;
                Ok(vec!["slices.png".into()])
            }
        }));
    }
    if let Some(st) = &p.strain {
        jobs.push(WriteJob::files(move || super::strain::write_files(out, scene, g, st)));
    }
    output::run_jobs(jobs)
}

/// Write `fields` as `<stem>.vti` (ImageData) on a uniform grid or `<stem>.vtr`
/// (RectilinearGrid, with the node coordinates) on a graded one; returns the file name.
pub fn write_vtk(out: &OutputDir, stem: &str, g: &Grid, fields: &[(&str, &[f64])]) -> Result<String> {
    if g.is_graded() {
        let x: [Vec<f64>; 3] = std::array::from_fn(|a| g.axis_nodes(a));
        let name = format!("{stem}.vtr");
        output::vtk::write_vtr(&out.path(&name), g.n, &x, fields)?;
        Ok(name)
    } else {
        let name = format!("{stem}.vti");
        output::vtk::write_vti(&out.path(&name), g.n, g.origin, g.h, fields)?;
        Ok(name)
    }
}

/// Heat maps of the potential and of every state, zoomed to where the states are: the
/// plane itself in 2D; in 3D an xy and an xz plane through each density's maximum.
fn slice_panels(p: &Problem, sol: &Solution, densities: &[Vec<f64>], unbound: &[bool]) -> Vec<output::plot::Panel> {
    let states: Vec<output::plot::SliceState> = densities
        .iter()
        .zip(&sol.energies)
        .enumerate()
        .map(|(n, (d, &energy))| output::plot::SliceState { energy, density: d, unbound: unbound.get(n).copied().unwrap_or(false) })
        .collect();
    let unit = if p.carrier.is_hole() { "eV, downward" } else { "eV" };
    output::plot::structure_panels(&p.grid, "potential energy", unit, &p.potential, &p.map.dominant, &states, "eV")
}

