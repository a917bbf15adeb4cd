//! Running one scene: prepare → assemble → solve → report, for every mode, and sweeps of
//! such runs. The layer between the front end (cli/) and the solvers: it resolves the
//! command line's overrides into the scene, chooses the backend through
//! [`crate::backend::select`], runs the Schrödinger or the device path and writes the
//! output folder (rank 0 of an MPI job writes; the others compute the same results).
//!
//! - [`options`]: [`RunOptions`], [`Progress`], [`RunReport`], [`WarmStart`].
//! - [`prepare`]: the scene's materials, grid, painted regions and potentials ([`Problem`]),
//!   and the memory check.
//! - [`eigen`]: the eigen-solve over a [`crate::linalg::Backend`] ([`eigen::solve`]).
//! - [`schrodinger`]: mode "schrodinger": Hamiltonian, states, continuum threshold, fields.
//! - [`device`]: modes "poisson" and "self_consistent" (Newton–Poisson, Schrödinger–Poisson).
//! - [`report`]: the typed results documents (results.json, sweep.json).
//! - [`sweep`]: parameter sweeps, one warm-started [`run`] per point.
//! - [`strain`]: the scene's `strain` block: elasticity, band shifts, summary and files.
//!
//! Units: lengths nm, energies eV, masses m0, temperature K (see [`crate::constants`]).

pub mod device;
mod device_output;
pub mod eigen;
pub mod options;
pub mod prepare;
pub mod report;
pub mod schrodinger;
pub mod strain;
pub mod sweep;

use std::path::{Path, PathBuf};

use crate::backend::select::GpuRequest;
use crate::error::{QdError, Result};
use crate::output::{self, OutputDir};
use crate::scene::{BackendChoice, LoadedScene, SolveMode};

pub use eigen::{solve, tolerance_floor, Solution, SolveOptions, DEFAULT_FILTER_DEGREE, DENSE_LIMIT, F64_TOLERANCE_FLOOR, POISSON_TOLERANCE_FLOOR_V};
pub use options::{default_out_dir, notice_once, Fields, Progress, RunOptions, RunReport, Timings, WarmStart};
pub use prepare::{prepare, Problem, FACE_SAMPLES, SUBSAMPLES};
pub use report::Results;

/// Solve a loaded (validated) scene: the whole of `qdsim-gpu solve`, and each point of a
/// sweep. The overrides of `opts` (states, backend) are applied first ([`resolve`]);
/// `warm` (a nearby problem's solution) is the start when it fits the grid; the output
/// folder is written to `opts.out` (None: nothing is written, the report still holds the
/// results document). A run that does not converge still writes its results (flagged);
/// the caller maps `converged == false` to exit code 3.
pub fn run(loaded: &LoadedScene, opts: &RunOptions, warm: Option<&WarmStart>, progress: &mut Progress) -> Result<RunReport> {
    let loaded = resolve(loaded, opts)?;
    match loaded.scene.solve.mode {
        SolveMode::Schrodinger => schrodinger::run(&loaded, opts, warm, progress.eigen),
        SolveMode::Poisson | SolveMode::SelfConsistent => device::run(&loaded, opts, warm, progress.scf),
    }
}

/// The scene a run solves: `loaded` with the overrides of `opts` applied (`--states`, at
/// least 1, `--backend` and `--eigensolver`). The one place the number of states is taken from the
/// command line; [`SolveOptions::from_scene`] and the memory check read it from the
/// scene this returns.
pub fn resolve(loaded: &LoadedScene, opts: &RunOptions) -> Result<LoadedScene> {
    let mut loaded = loaded.clone();
    if let Some(k) = opts.states {
        if k == 0 {
            return Err(QdError::input("--states", "must be at least 1"));
        }
        loaded.scene.solve.states = k;
    }
    if let Some(b) = opts.backend {
        loaded.scene.solve.backend = b;
    }
    if let Some(e) = opts.eigensolver {
        loaded.scene.solve.eigensolver = e;
    }
    Ok(loaded)
}

/// The GPU part of `opts` as [`crate::backend::select::select`] takes it; `adapter`
/// gives this rank's adapter (see [`crate::parallel::adapter_for_rank`]).
fn gpu_request<'a>(opts: &'a RunOptions, adapter: &'a dyn Fn() -> Option<String>) -> GpuRequest<'a> {
    GpuRequest {
        early: None,
        adapter,
        adapter_named: opts.adapter.is_some(),
        options: &opts.gpu,
        invalid: opts.gpu_invalid.as_ref(),
        distributed: crate::parallel::distributed(),
    }
}

/// The notice of a GPU precision asked for on a scene that runs on the cpu backend (the
/// CPU computes in f64).
fn precision_notices(loaded: &LoadedScene, opts: &RunOptions) -> Vec<String> {
    match opts.gpu_precision {
        Some(p) if loaded.scene.solve.backend == BackendChoice::Cpu => {
            vec![format!("the GPU precision {p} (QDSIM_GPU_PRECISION or --gpu-precision) does not apply: the scene runs on the cpu backend, which computes in f64")]
        }
        _ => Vec::new(),
    }
}

/// In a distributed run (every rank calls this, in step, from [`write_output`]): each
/// rank's peak host memory (`peak`, VmHWM) and, where its local backend counts it, its peak
/// device memory, gathered into `backend.details.per_rank[r]` as `peak_memory_bytes` and
/// `peak_device_bytes` (null where unknown), beside the largest over the ranks
/// (`max_rank_peak_memory_bytes`). A serial run is left alone.
fn record_rank_memory(results: &mut Results, peak: Option<u64>) {
    let Some(world) = crate::parallel::world() else { return };
    let details = &mut results.backend_mut().details;
    if !details["per_rank"].is_array() {
        return;
    }
    let device = details.as_object_mut().and_then(|d| d.remove("local_peak_device_bytes")).unwrap_or(serde_json::Value::Null);
    let mine = serde_json::json!({"peak_memory_bytes": peak, "peak_device_bytes": device});
    let all = world.all_gather_bytes(mine.to_string().as_bytes());
    let mut max = None::<u64>;
    for (r, bytes) in all.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null);
        if let Some(entry) = details["per_rank"].get_mut(r) {
            entry["peak_memory_bytes"] = v["peak_memory_bytes"].clone();
            entry["peak_device_bytes"] = v["peak_device_bytes"].clone();
        }
        if let Some(b) = v["peak_memory_bytes"].as_u64() {
            max = Some(max.map_or(b, |m| m.max(b)));
        }
    }
    details["max_rank_peak_memory_bytes"] = serde_json::json!(max);
}

/// Write a run's output folder at `path`, the one place a run's folder is committed:
/// `fields` writes the data files (and returns their names), `finish` completes the
/// results (timings) once they are written, then results.json with its `files` list and
/// the peak memory goes in and the folder is committed atomically. Returns the folder.
fn write_output(
    path: &Path,
    loaded: &LoadedScene,
    results: &mut Results,
    fields: impl FnOnce(&OutputDir) -> Result<Vec<String>>,
    finish: impl FnOnce(&mut Results),
) -> Result<PathBuf> {
    let dir = OutputDir::create_for_rank(path, &loaded.input_files(), crate::parallel::rank())?;
    // only rank 0's folder is kept: the other ranks do not compute and write the fields
    // into their private temp folders to delete them (on 16 ranks of one host that work
    // was 16 copies of the output competing for its cores and disk, and every rank took the
    // output's buffers). The writers hold no collective operation, so skipping them cannot
    // leave a rank waiting; a write that fails on rank 0 aborts the job.
    let mut files = if crate::parallel::is_root() { fields(&dir)? } else { Vec::new() };
    files.push("results.json".into());
    finish(results);
    let peak = prepare::peak_memory();
    record_rank_memory(results, peak);
    results.set_files(files, peak);
    output::write_json(&dir.path("results.json"), &results.to_value())?;
    dir.commit()
}
