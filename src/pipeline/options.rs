//! What a run is asked to do ([`RunOptions`], [`Progress`]) and what it gives back
//! ([`RunReport`], [`WarmStart`], [`Timings`]): the types shared by the Schrödinger path,
//! the device path and the sweep. Nothing here reads the environment: the front end
//! (cli/) fills these from its arguments and environment variables.

use std::path::{Path, PathBuf};

use crate::backend::gpu::GpuOptions;
use crate::grid::Grid;
use crate::linalg::lanczos::LanczosProgress;
use crate::scene::{BackendChoice, Eigensolver};

use super::device::ScfStep;

/// The process's peak resident memory (VmHWM, bytes; null where unknown) at the end of each
/// phase of a Schrödinger run. VmHWM only grows, so the first phase that reaches the run's
/// `peak_memory_bytes` is the one that set it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PhasePeaks {
    pub setup: Option<u64>,
    pub assemble: Option<u64>,
    pub solve: Option<u64>,
    pub output: Option<u64>,
}

/// Per-phase wall times, seconds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Timings {
    pub setup: f64,
    pub assemble: f64,
    pub solve: f64,
    pub output: f64,
    pub total: f64,
}

/// Options of one run (the CLI's `solve`, one point of a sweep).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The output folder to write (None: write nothing; the report still holds the
    /// results document). The CLI's default is [`default_out_dir`].
    pub out: Option<PathBuf>,
    /// Backend, overriding the scene's `solve.backend`.
    pub backend: Option<BackendChoice>,
    /// Number of states, overriding the scene's `solve.states` (at least 1).
    pub states: Option<usize>,
    /// The iterative eigensolver, overriding the scene's `solve.eigensolver`.
    pub eigensolver: Option<Eigensolver>,
    /// GPU adapter by index or name substring, or one per rank comma-separated (the CLI
    /// fills it from `--adapter` or `QDSIM_ADAPTER`).
    pub adapter: Option<String>,
    /// How a GPU backend is set up (precision, placement, limits).
    pub gpu: GpuOptions,
    /// The GPU precision asked for explicitly ("f32" or "f64", from `--gpu-precision` or
    /// `QDSIM_GPU_PRECISION`), for the notice that it does not apply on the cpu backend;
    /// `gpu.f64` already follows it.
    pub gpu_precision: Option<&'static str>,
    /// An invalid GPU setting the front end read (field, reason): reported as an input
    /// error when a GPU backend is about to be opened, and ignored by runs on the CPU.
    pub gpu_invalid: Option<(String, String)>,
    /// Keep the computed fields in memory ([`RunReport::fields`]): what a front end that
    /// hands the arrays over without files (the Python bindings) asks for.
    pub keep_fields: bool,
}

/// What a run reports while it works. Either callback may be a no-op ([`Progress::none`]).
pub struct Progress<'a> {
    /// Each Lanczos restart of an eigensolve.
    pub eigen: &'a mut dyn FnMut(&LanczosProgress),
    /// Each self-consistent iteration of a device scene.
    pub scf: &'a mut dyn FnMut(&ScfStep),
}

impl Progress<'static> {
    /// No progress reports.
    pub fn none() -> Progress<'static> {
        // (leaked zero-sized closures: nothing is allocated)
        Progress { eigen: Box::leak(Box::new(|_: &LanczosProgress| {})), scf: Box::leak(Box::new(|_: &ScfStep| {})) }
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The folder written (empty when the run was asked to write nothing).
    pub out_dir: PathBuf,
    pub converged: bool,
    pub energies: Vec<f64>,
    /// The results document (results.json as written, or as it would be).
    pub results: super::report::Results,
    /// The solution as a start for a nearby problem (the next point of a sweep).
    pub warm: WarmStart,
    /// The fields the output folder holds as .npy, in memory (only when
    /// [`RunOptions::keep_fields`] is set).
    pub fields: Option<Fields>,
}

/// A run's fields in memory: the arrays that the output folder writes as `NAME.npy`, each
/// one value per cell in the grid's x-fastest order (the .npy files' Fortran order).
/// Units are in the names as in the files (`band_edge`, `potential`: eV; device fields
/// `potential_v` V, `ec_ev` eV, `n_cm3` cm⁻³, ...).
#[derive(Clone, Debug, Default)]
pub struct Fields {
    /// Cells per axis, the grid's dimension long (the .npy shape).
    pub dims: Vec<usize>,
    /// Spacing per axis, nm.
    pub spacing_nm: Vec<f64>,
    /// The first cell's corner per axis, nm.
    pub origin_nm: Vec<f64>,
    /// Graded grids: the cell boundaries of every axis, nm (None: uniform, `spacing_nm`).
    pub nodes_nm: Option<Vec<Vec<f64>>>,
    /// Named arrays, in the order the output folder lists them.
    pub arrays: Vec<(String, Vec<f64>)>,
    /// |ψ|² of every state, normalised to ∫|ψ|² dV = 1 (nm⁻ᵈ), state after state (each
    /// one grid long); zero outside a device's quantum region.
    pub psi2: Vec<f64>,
    /// ψ of every state (nm^(−d/2)), laid out like `psi2`.
    pub psi: Vec<f64>,
    /// How many states `psi2` and `psi` hold.
    pub states: usize,
}

/// A solution handed to the next solve of a nearby problem (a sweep's next point) as its
/// starting guess. It only changes where the iterations start, never what they converge
/// to: the eigensolver mixes the guess with a random part (see
/// [`crate::linalg::lanczos::lowest_eigenpairs_from`]), and a guess on another grid is
/// ignored.
#[derive(Clone, Debug, Default)]
pub struct WarmStart {
    /// The grid the vectors live on; they are used only on an identical grid.
    pub grid: Option<Grid>,
    /// Unit-norm eigenvectors (Σ ψ² = 1), lowest first.
    pub vectors: Vec<Vec<f64>>,
    /// The electrostatic potential, eV per cell, for a self-consistent solve to start its
    /// Poisson iterations from (None for a Schrödinger-only solve).
    pub potential: Option<Vec<f64>>,
}

impl WarmStart {
    /// Whether this start lives on `grid` (same cells, spacing and origin).
    pub fn fits(&self, grid: &Grid) -> bool {
        self.grid.as_ref() == Some(grid)
    }
}

/// The default output folder of a scene: `<stem>.out` beside it.
pub fn default_out_dir(scene_path: &Path) -> PathBuf {
    let stem = scene_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "scene".into());
    scene_path.with_file_name(format!("{stem}.out"))
}

/// Print `text` on stderr as a notice, once per process (a sweep's points repeat them).
pub fn notice_once(text: &str) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.iter().any(|s| s == text) {
        seen.push(text.to_string());
        if crate::parallel::is_root() {
            eprintln!("notice: {text}");
        }
    }
}
