//! The pipeline of `qdsim-gpu solve`: scene → materials → grid → Hamiltonian →
//! eigensolver → output folder. Each step is a function so that tests, benchmarks and the
//! CLI can stop after any of them.
//!
//! Units: lengths nm, energies eV, masses m0, temperature K (see [`crate::constants`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

use crate::backend::{CpuBackend, GpuBackend};
use crate::constants::HBAR2_OVER_2M0_EV_NM2;
use crate::error::{QdError, Result};
use crate::grid::{Grid, MaterialMap};
use crate::linalg::backend::Backend;
use crate::linalg::lanczos::{lowest_eigenpairs_from, LanczosOptions, LanczosProgress};
use crate::linalg::{dense, CsrMatrix};
use crate::materials::{Carrier, Material, MaterialDb};
use crate::output::{self, OutputDir};
use crate::physics::potentials::add_potential;
use crate::scene::{BackendChoice, LoadedScene, Scene};

/// Problems up to this many unknowns are diagonalised densely (nalgebra).
pub const DENSE_LIMIT: usize = 400;
/// Degree of the Chebyshev filter the eigensolver uses on large problems.
pub const DEFAULT_FILTER_DEGREE: usize = 16;
/// Sample lines per tangential axis and points per line for faces cut by an interface.
pub const FACE_SAMPLES: usize = 8;
/// Sub-samples per axis used to get volume fractions in cells cut by an interface.
pub const SUBSAMPLES: usize = 4;

/// One material fill of the scene: the background (index 0) or a region (index i + 1).
#[derive(Clone, Debug)]
pub struct FillInfo {
    /// "background" or the region's name / `regions[i]`.
    pub label: String,
    pub material: Material,
}

/// Everything needed to build the operator, on the host.
#[derive(Clone, Debug)]
pub struct Problem {
    pub grid: Grid,
    pub carrier: Carrier,
    pub temperature: f64,
    pub fills: Vec<FillInfo>,
    pub map: MaterialMap,
    /// Band edge of the materials alone (volume-averaged in cut cells), eV.
    pub band_edge: Vec<f64>,
    /// Total potential energy in H: band edge plus the scene's potentials, eV.
    pub potential: Vec<f64>,
    /// ħ²/(2m*) per cell, eV nm² (1/m* volume-averaged in cut cells).
    pub kinetic: Vec<f64>,
    /// ħ²/(2m*) on the faces that touch a cut cell, sampled across the interface.
    pub faces: crate::physics::hamiltonian::FaceCoefficients,
}

/// Memory the solve is expected to need, bytes, from the scene alone (nothing allocated).
pub fn memory_estimate(scene: &Scene, grid: &Grid, states: usize, block: usize) -> u64 {
    let n = grid.len() as f64;
    let nnz_per_row = (2 * grid.dim + 1) as f64;
    // per cell: map (2), band edge / potential / kinetic (3×8), painted scratch (16)
    let setup = n * (2.0 + 24.0 + 16.0);
    // CSR: values 8 + column 4 per nonzero, row pointer 8, plus the assembly's row lists
    let matrix = n * nnz_per_row * 12.0 * 2.0 + n * 8.0;
    let (basis, _) = lanczos_sizes(states, block, grid.len());
    let solver = if grid.len() <= DENSE_LIMIT { n * n * 8.0 * 3.0 } else { (basis as f64 + 2.0 * states as f64 + 4.0) * n * 8.0 };
    // output: |ψ|² per state plus the fields copied for writing
    let outputs = n * 8.0 * (states as f64 + 4.0) * if scene.output.wavefunctions { 2.0 } else { 1.0 };
    (setup + matrix + solver + outputs) as u64
}

/// Lanczos basis size and block size for `states` wanted levels.
fn lanczos_sizes(states: usize, block: usize, n: usize) -> (usize, usize) {
    let b = block.clamp(1, states.max(1));
    let m = (2 * states + 2 * b).max(states + 4 * b + 24).min(n);
    (m + b, b)
}

/// Memory this machine can give us, bytes (MemAvailable), if known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("MemAvailable:") {
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            return Some(kb * 1024);
        }
    }
    None
}

/// Peak resident memory of this process so far, bytes (VmHWM), if known.
pub fn peak_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("VmHWM:") {
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            return Some(kb * 1024);
        }
    }
    None
}

fn gib(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
}

/// The Lanczos block size a scene asks for. Default: the largest exact degeneracy a
/// rectilinear grid's symmetry allows without periodicity (1 in 1D, 2 in 2D — the square's
/// 2-dimensional irreps — and 3 in 3D, the cube's), or 6 with a periodic axis; at most
/// the number of states.
pub fn block_size(scene: &Scene, states: usize) -> usize {
    let dim = scene.domain.size.len().clamp(1, 3);
    let periodic = scene.domain.periodic.as_ref().is_some_and(|p| p.iter().any(|&b| b));
    let auto = if periodic { 6 } else { dim };
    scene.solve.block_size.unwrap_or(auto).clamp(1, states.max(1))
}

/// Refuse a grid whose memory estimate exceeds what the machine has, before allocating.
pub fn check_memory(scene: &Scene, grid: &Grid, states: usize) -> Result<u64> {
    let cells = grid.len();
    if cells > u32::MAX as usize - 1 {
        return Err(QdError::input(
            "domain.spacing",
            format!("gives {cells} cells; at most {} unknowns are supported", u32::MAX - 1),
        ));
    }
    let est = memory_estimate(scene, grid, states, block_size(scene, states));
    if let Some(avail) = available_memory() {
        if est > avail {
            return Err(QdError::input(
                "domain.spacing",
                format!(
                    "the grid has {cells} cells ({}), which needs an estimated {} of memory, but this machine has {} available: use a coarser spacing or a smaller domain",
                    grid.dims().iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" × "),
                    gib(est),
                    gib(avail)
                ),
            ));
        }
    }
    Ok(est)
}

/// The materials database a scene sees: built-in plus its `materials_file`.
pub fn material_db(loaded: &LoadedScene) -> Result<MaterialDb> {
    let mut db = MaterialDb::builtin();
    if let Some(f) = &loaded.scene.materials_file {
        let path = loaded.resolve(f);
        if !path.exists() {
            return Err(QdError::input("materials_file", format!("file {} does not exist", path.display())));
        }
        db.merge_file(&path)?;
    }
    Ok(db)
}

/// Which field of a fill a database error is about: the name or the fraction.
fn fill_field(e: &str) -> &'static str {
    if e.starts_with("unknown material") || e.contains("refers to unknown") {
        "material"
    } else {
        "x"
    }
}

/// Resolve the scene's fills (background, then regions in order) against the database.
pub fn resolve_fills(scene: &Scene, db: &MaterialDb) -> Result<Vec<FillInfo>> {
    let mut fills = Vec::with_capacity(scene.regions.len() + 1);
    let bg = db.resolve(&scene.background.material, scene.background.x).map_err(|e| {
        QdError::input(format!("background.{}", fill_field(&e)), e)
    })?;
    fills.push(FillInfo { label: "background".into(), material: bg });
    for (i, r) in scene.regions.iter().enumerate() {
        let m = db.resolve(&r.material, r.x).map_err(|e| {
            QdError::input(format!("regions[{i}].{}", fill_field(&e)), e)
        })?;
        let label = r.name.clone().unwrap_or_else(|| format!("regions[{i}]"));
        fills.push(FillInfo { label, material: m });
    }
    Ok(fills)
}

/// Build the problem: materials, grid, painted regions, band edge, potentials, masses.
/// `states` is the number of levels that will be asked for (for the memory check).
pub fn prepare(loaded: &LoadedScene, states: usize) -> Result<Problem> {
    let scene = &loaded.scene;
    if scene.solve.mode != crate::scene::SolveMode::Schrodinger {
        return Err(QdError::Internal("prepare() builds the Schrödinger problem only; device modes go through self_consistent::run".into()));
    }
    let grid = Grid::from_domain(&scene.domain)?;
    check_memory(scene, &grid, states)?;
    let db = material_db(loaded)?;
    let fills = resolve_fills(scene, &db)?;
    let carrier = scene.solve.carrier;
    let t = scene.temperature;
    let shapes: Vec<&crate::scene::Shape> = scene.regions.iter().map(|r| &r.shape).collect();
    let map = MaterialMap::paint(&grid, &shapes, SUBSAMPLES);
    let edge_per_fill: Vec<f64> = fills.iter().map(|f| f.material.band_edge(carrier, t)).collect();
    let inv_mass_per_fill: Vec<f64> = fills.iter().map(|f| 1.0 / f.material.mass(carrier)).collect();
    let band_edge = map.average(&edge_per_fill);
    let kinetic: Vec<f64> = map.average(&inv_mass_per_fill).into_iter().map(|im| HBAR2_OVER_2M0_EV_NM2 * im).collect();
    let kinetic_per_fill: Vec<f64> = inv_mass_per_fill.iter().map(|im| HBAR2_OVER_2M0_EV_NM2 * im).collect();
    let faces = map.face_coefficients(&grid, &shapes, &kinetic_per_fill, FACE_SAMPLES);
    let mut potential = band_edge.clone();
    let default_mass = fills[0].material.mass(carrier);
    for (i, p) in scene.potentials.iter().enumerate() {
        add_potential(p, i, &grid, default_mass, &loaded.base_dir, &mut potential)?;
    }
    if let Some(i) = potential.iter().position(|v| !v.is_finite()) {
        return Err(QdError::input("potentials", format!("the total potential is not finite at cell {i} ({:?} nm)", grid.center(i))));
    }
    Ok(Problem { grid, carrier, temperature: t, fills, map, band_edge, potential, kinetic, faces })
}

impl Problem {
    pub fn hamiltonian(&self) -> CsrMatrix {
        crate::physics::hamiltonian::assemble_hamiltonian_with_faces(&self.grid, &self.kinetic, &self.potential, &self.faces)
    }
    /// Lowest band edge of the materials, eV (the reference of "meV above the band edge").
    pub fn lowest_band_edge(&self) -> f64 {
        self.band_edge.iter().copied().fold(f64::INFINITY, f64::min)
    }
    pub fn lowest_potential(&self) -> f64 {
        self.potential.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// How to solve.
#[derive(Clone, Debug)]
pub struct SolveOptions {
    pub states: usize,
    pub tolerance: f64,
    pub max_matvecs: usize,
    pub block_size: usize,
    pub backend: BackendChoice,
    /// GPU adapter by index or name substring (None: `QDSIM_ADAPTER` or automatic).
    pub adapter: Option<String>,
    /// Force the iterative solver even for small problems (tests).
    pub force_iterative: bool,
    /// Chebyshev filter degree of the eigensolver (0: plain Lanczos).
    pub filter_degree: usize,
}

impl SolveOptions {
    pub fn from_scene(scene: &Scene) -> SolveOptions {
        let states = scene.solve.states;
        SolveOptions {
            states,
            tolerance: scene.solve.tolerance,
            max_matvecs: scene.solve.max_iterations,
            block_size: block_size(scene, states),
            backend: scene.solve.backend,
            adapter: None,
            force_iterative: false,
            filter_degree: DEFAULT_FILTER_DEGREE,
        }
    }
}

/// The eigenpairs found, on the host.
#[derive(Clone, Debug)]
pub struct Solution {
    /// Energies, eV, ascending.
    pub energies: Vec<f64>,
    /// Unit-norm (Σ ψ² = 1) eigenvectors, sign fixed so the largest component is positive.
    pub vectors: Vec<Vec<f64>>,
    /// ‖Hψ − Eψ‖, eV.
    pub residuals: Vec<f64>,
    pub norm_estimate: f64,
    pub converged: bool,
    /// "lanczos" or "dense".
    pub method: String,
    pub matvecs: usize,
    pub restarts: usize,
    pub basis_size: usize,
    pub block_size: usize,
    pub filter_degree: usize,
    pub backend: String,
    pub backend_details: Value,
    pub tolerance: f64,
    pub max_matvecs: usize,
    /// Wall time of the iterative eigensolver, and of the f64 refinement on the host after a
    /// low-precision backend, seconds.
    pub eigensolver_s: f64,
    pub refine_s: f64,
}

/// Solve for the lowest states of `h`. `progress` sees the Lanczos iterations.
pub fn solve(h: &CsrMatrix, opts: &SolveOptions, progress: &mut dyn FnMut(&LanczosProgress)) -> Result<Solution> {
    solve_from(h, opts, &[], progress)
}

/// [`solve`] with the iterative eigensolver started from `initial` (host vectors of
/// length `h.nrows`, e.g. the previous point of a sweep; others are ignored): the same
/// eigenpairs to the tolerance, in fewer products when the guess is good. The dense path
/// ignores it.
pub fn solve_from(h: &CsrMatrix, opts: &SolveOptions, initial: &[Vec<f64>], progress: &mut dyn FnMut(&LanczosProgress)) -> Result<Solution> {
    let small = h.nrows <= DENSE_LIMIT && !opts.force_iterative;
    // (a closure: listing adapters for the per-rank choice is only worth it for the GPU)
    let adapter = || crate::parallel::adapter_for_rank(opts.adapter.as_deref());
    // in an MPI job each rank holds only its block: the binding limits apply to that
    let distributed = crate::parallel::distributed();
    let gpu = match opts.backend {
        BackendChoice::Cpu => None,
        _ if small => None,
        BackendChoice::Gpu => match GpuBackend::new(adapter().as_deref(), true)? {
            Some(g) if distributed => Some(g),
            Some(g) => match g.fits_matrix(h) {
                Ok(()) => Some(g),
                Err(why) => {
                    return Err(QdError::input(
                        "solve.backend",
                        format!(
                            "the matrix ({} rows, {} nonzeros) cannot be laid out on adapter '{}' (storage bindings of {} elements): {why}; use the cpu backend",
                            h.nrows,
                            h.nnz(),
                            g.adapter().name,
                            g.max_elements()
                        ),
                    ))
                }
            },
            None => {
                return Err(QdError::input(
                    "solve.backend",
                    "\"gpu\" was asked for but no GPU adapter (Vulkan, Metal or DX12) is available; `qdsim-gpu info` lists adapters",
                ))
            }
        },
        BackendChoice::Auto => match GpuBackend::new(adapter().as_deref(), false)? {
            Some(g) if distributed || g.fits_matrix(h).is_ok() => Some(g),
            Some(g) => {
                eprintln!("notice: the problem exceeds adapter '{}''s binding limits; using the cpu backend", g.adapter().name);
                None
            }
            None => {
                eprintln!("notice: no hardware GPU adapter found; using the cpu backend");
                None
            }
        },
    };
    match gpu {
        Some(g) => crate::on_ranks!(g, |be| {
            let mut sol = solve_with_from(be, h, opts, initial, progress)?;
            sol.backend_details = be.details();
            Ok(sol)
        }),
        None => crate::on_ranks!(CpuBackend::new(), |be| solve_with_from(be, h, opts, initial, progress)),
    }
}

/// Tolerance floor of a backend computing in `bits`-bit floats: f32 cannot resolve a
/// residual much below a few ulps of ‖H‖.
pub fn tolerance_floor(bits: u32) -> f64 {
    if bits >= 64 {
        0.0
    } else {
        1e-6
    }
}

/// Rayleigh–Ritz with H in f64 on the host over the given vectors: the eigenpairs and true
/// residuals of a solve done in lower precision. Runs on the (parallel) CPU backend.
fn refine_on_host(h: &CsrMatrix, vectors: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
    let cpu = CpuBackend::new();
    let k = vectors.len();
    let n = h.nrows;
    // orthonormalise in f64 (classical Gram–Schmidt, twice)
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(k);
    for mut w in vectors {
        for _ in 0..2 {
            let c: Vec<f64> = cpu.multi_dot(&q, &w).iter().map(|v| -v).collect();
            cpu.multi_axpy(&q, &c, &mut w);
        }
        let nrm = cpu.norm2(&w);
        if nrm > 0.0 {
            cpu.scale(1.0 / nrm, &mut w);
        }
        q.push(w);
    }
    let hq: Vec<Vec<f64>> = q
        .iter()
        .map(|v| {
            let mut y = cpu.alloc(n);
            cpu.spmv(h, v, &mut y);
            y
        })
        .collect();
    let g = cpu.block_dot(&q, &hq);
    let g = nalgebra::DMatrix::from_column_slice(k, k, &g);
    let g = (&g + g.transpose()) * 0.5;
    let eig = nalgebra::SymmetricEigen::new(g);
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    let values: Vec<f64> = order.iter().map(|&c| eig.eigenvalues[c]).collect();
    let y: Vec<f64> = order.iter().flat_map(|&c| (0..k).map(move |i| (i, c))).map(|(i, c)| eig.eigenvectors[(i, c)]).collect();
    let coeffs = crate::linalg::backend::Coeffs { rows: k, cols: k, data: &y };
    let mut x: Vec<Vec<f64>> = (0..k).map(|_| cpu.alloc(n)).collect();
    let mut hx: Vec<Vec<f64>> = (0..k).map(|_| cpu.alloc(n)).collect();
    cpu.combine(&q, &coeffs, &mut x);
    cpu.combine(&hq, &coeffs, &mut hx);
    let res = (0..k)
        .map(|i| {
            cpu.axpy(-values[i], &x[i], &mut hx[i]);
            cpu.norm2(&hx[i])
        })
        .collect();
    (values, x, res)
}

/// Solve on a given backend (the algorithms do not know which one).
pub fn solve_with<B: Backend>(be: &B, h: &CsrMatrix, opts: &SolveOptions, progress: &mut dyn FnMut(&LanczosProgress)) -> Result<Solution> {
    solve_with_from(be, h, opts, &[], progress)
}

/// [`solve_with`] started from `initial` (see [`solve_from`]).
pub fn solve_with_from<B: Backend>(
    be: &B,
    h: &CsrMatrix,
    opts: &SolveOptions,
    initial: &[Vec<f64>],
    progress: &mut dyn FnMut(&LanczosProgress),
) -> Result<Solution> {
    let n = h.nrows;
    let k = opts.states.min(n);
    if k == 0 {
        return Err(QdError::input("solve.states", "must be at least 1"));
    }
    let mut sol = if n <= DENSE_LIMIT && !opts.force_iterative {
        let (values, vectors) = dense::lowest_eigenpairs(h, k);
        let norm = h.norm_inf();
        let residuals = values
            .iter()
            .zip(&vectors)
            .map(|(l, v)| {
                let hv = h.mul_vec(v);
                hv.iter().zip(v).map(|(a, b)| (a - l * b).powi(2)).sum::<f64>().sqrt()
            })
            .collect();
        Solution {
            energies: values,
            vectors,
            residuals,
            norm_estimate: norm,
            converged: true,
            method: "dense".into(),
            matvecs: 0,
            restarts: 0,
            basis_size: n,
            block_size: 0,
            filter_degree: 0,
            backend: "cpu".into(),
            backend_details: json!({"library": "nalgebra SymmetricEigen"}),
            tolerance: opts.tolerance,
            max_matvecs: opts.max_matvecs,
            eigensolver_s: 0.0,
            refine_s: 0.0,
        }
    } else {
        let a = be.upload_matrix(h);
        // the accepted tolerance; a low-precision backend iterates to a quarter of it, so
        // that the f64 check on the host passes
        let tol = opts.tolerance.max(tolerance_floor(be.precision_bits()));
        let inner_tol = if be.precision_bits() < 64 { tol / 4.0 } else { tol };
        let lo = LanczosOptions {
            nev: k,
            tol: inner_tol,
            max_matvecs: opts.max_matvecs,
            block_size: opts.block_size,
            basis_size: 0,
            seed: 7,
            norm_bound: Some(h.norm_inf()),
            filter_degree: opts.filter_degree,
        };
        let t = Instant::now();
        let start: Vec<B::Vector> = initial.iter().filter(|v| v.len() == n).map(|v| be.from_host(v)).collect();
        let r = lowest_eigenpairs_from(be, &a, &lo, &start, progress);
        let eigensolver_s = t.elapsed().as_secs_f64();
        let vectors: Vec<Vec<f64>> = r.vectors.iter().map(|v| be.to_host(v)).collect();
        let mut refine_s = 0.0;
        let (energies, vectors, residuals, converged) = if be.precision_bits() < 64 {
            // eigenvalues and residuals in f64 from the low-precision vectors
            let t = Instant::now();
            let (e, v, res) = refine_on_host(h, vectors);
            refine_s = t.elapsed().as_secs_f64();
            let ok = r.values.len() == k && res.iter().all(|&x| x <= tol * r.norm_estimate);
            (e, v, res, ok)
        } else {
            (r.values, vectors, r.residuals, r.converged)
        };
        Solution {
            energies,
            vectors,
            residuals,
            norm_estimate: r.norm_estimate,
            converged,
            method: "lanczos".into(),
            matvecs: r.matvecs,
            restarts: r.restarts,
            basis_size: r.basis_size,
            block_size: r.block_size,
            filter_degree: r.filter_degree,
            backend: be.name(),
            backend_details: be.details(),
            tolerance: tol,
            max_matvecs: opts.max_matvecs,
            eigensolver_s,
            refine_s,
        }
    };
    if sol.energies.len() < k {
        sol.converged = false;
    }
    for v in &mut sol.vectors {
        let nrm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let big = v.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        let s = if big < 0.0 { -1.0 } else { 1.0 } / if nrm > 0.0 { nrm } else { 1.0 };
        v.iter_mut().for_each(|x| *x *= s);
    }
    Ok(sol)
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

/// Options of a whole run (the CLI's `solve`).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Output folder; default `<scene stem>.out` next to the scene.
    pub out: Option<PathBuf>,
    pub backend: Option<BackendChoice>,
    pub states: Option<usize>,
    /// GPU adapter by index or name substring.
    pub adapter: Option<String>,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The folder written (empty when the run was asked to write nothing).
    pub out_dir: PathBuf,
    pub converged: bool,
    pub energies: Vec<f64>,
    pub results: Value,
    /// The solution as a start for a nearby problem (the next point of a sweep).
    pub warm: WarmStart,
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

/// Load, solve and write a scene: the whole of `qdsim-gpu solve`. A run that does not
/// converge still writes its results (flagged); the caller maps `converged == false` to
/// exit code 3.
pub fn run(scene_path: &Path, opts: &RunOptions, progress: &mut dyn FnMut(&LanczosProgress)) -> Result<RunReport> {
    run_with(scene_path, opts, progress, &mut |_| {})
}

/// [`run`], with `scf_progress` seeing each self-consistent iteration of a device scene.
pub fn run_with(
    scene_path: &Path,
    opts: &RunOptions,
    progress: &mut dyn FnMut(&LanczosProgress),
    scf_progress: &mut dyn FnMut(&crate::self_consistent::ScfStep),
) -> Result<RunReport> {
    let loaded = crate::scene::load_scene(scene_path)?;
    let out_path = opts.out.clone().unwrap_or_else(|| default_out_dir(scene_path));
    run_loaded_with(&loaded, opts, Some(&out_path), None, progress, scf_progress)
}

/// The overrides of `opts` (states, backend) applied to a loaded scene.
pub fn apply_overrides(loaded: &LoadedScene, opts: &RunOptions) -> Result<LoadedScene> {
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
    Ok(loaded)
}

/// Solve a loaded (validated) scene, starting from `warm` when given and it fits the
/// grid, and write the output folder to `out` (None: write nothing, the report still
/// holds the results document). `opts.out` is not read here. This is the single-point
/// solve that `run` and the sweep share.
pub fn run_loaded(
    loaded: &LoadedScene,
    opts: &RunOptions,
    out: Option<&Path>,
    warm: Option<&WarmStart>,
    progress: &mut dyn FnMut(&LanczosProgress),
) -> Result<RunReport> {
    run_loaded_with(loaded, opts, out, warm, progress, &mut |_| {})
}

/// [`run_loaded`], with `scf_progress` seeing each self-consistent iteration. Device
/// scenes (modes "poisson" and "self_consistent") go to [`crate::self_consistent::run`],
/// starting from the warm start's potential when it fits the grid.
pub fn run_loaded_with(
    loaded: &LoadedScene,
    opts: &RunOptions,
    out: Option<&Path>,
    warm: Option<&WarmStart>,
    progress: &mut dyn FnMut(&LanczosProgress),
    scf_progress: &mut dyn FnMut(&crate::self_consistent::ScfStep),
) -> Result<RunReport> {
    let t0 = Instant::now();
    let loaded = apply_overrides(loaded, opts)?;
    if loaded.scene.solve.mode != crate::scene::SolveMode::Schrodinger {
        let grid = Grid::from_domain(&loaded.scene.domain)?;
        let start = warm.filter(|w| w.fits(&grid)).and_then(|w| w.potential.as_deref());
        let (mut report, phi) = crate::self_consistent::run(&loaded, opts, out, start, scf_progress)?;
        report.warm = WarmStart { grid: Some(grid), vectors: Vec::new(), potential: Some(phi) };
        report.results["self_consistency"]["warm_start"] = json!(start.is_some());
        return Ok(report);
    }
    let mut sopts = SolveOptions::from_scene(&loaded.scene);
    sopts.adapter = opts.adapter.clone();
    let problem = prepare(&loaded, sopts.states)?;
    let mut timings = Timings { setup: t0.elapsed().as_secs_f64(), ..Default::default() };
    let t1 = Instant::now();
    let h = problem.hamiltonian();
    timings.assemble = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let initial: &[Vec<f64>] = match warm {
        Some(w) if w.fits(&problem.grid) => &w.vectors,
        _ => &[],
    };
    let sol = solve_from(&h, &sopts, initial, progress)?;
    timings.solve = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    let mut results = results_json(&loaded, &problem, &h, &sol, &timings);
    results["solver"]["warm_start"] = json!(!initial.is_empty() && sol.method != "dense");
    let mut out_dir = PathBuf::new();
    if let Some(out_path) = out {
        let dir = OutputDir::create(out_path)?;
        let mut files = write_fields(&dir, &loaded.scene, &problem, &sol)?;
        files.push("results.json".into());
        timings.output = t3.elapsed().as_secs_f64();
        timings.total = t0.elapsed().as_secs_f64();
        results["timings_s"] = serde_json::to_value(&timings).unwrap_or(Value::Null);
        results["peak_memory_bytes"] = json!(peak_memory());
        results["files"] = json!(files);
        output::write_json(&dir.path("results.json"), &results)?;
        out_dir = dir.commit()?;
    } else {
        timings.total = t0.elapsed().as_secs_f64();
        results["timings_s"] = serde_json::to_value(&timings).unwrap_or(Value::Null);
    }
    let warm = WarmStart { grid: Some(problem.grid.clone()), vectors: sol.vectors, potential: None };
    Ok(RunReport { out_dir, converged: sol.converged, energies: sol.energies, results, warm })
}

/// The results document (without timings and file list, which `run` adds).
pub fn results_json(loaded: &LoadedScene, p: &Problem, h: &CsrMatrix, sol: &Solution, timings: &Timings) -> Value {
    let scene = &loaded.scene;
    let e0 = p.lowest_band_edge();
    let barrier = boundary_minimum(&p.grid, &p.potential);
    let thresh = sol.tolerance * sol.norm_estimate;
    let states: Vec<Value> = sol
        .energies
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            let r = sol.residuals.get(i).copied().unwrap_or(f64::NAN);
            json!({
                "index": i,
                "energy_ev": e,
                "energy_above_band_edge_mev": (e - e0) * 1e3,
                "residual_ev": r,
                "relative_residual": r / sol.norm_estimate.max(f64::MIN_POSITIVE),
                "converged": sol.method == "dense" || r <= 10.0 * thresh.max(1e-14 * sol.norm_estimate),
                "bound": barrier.is_none_or(|b| e <= b),
            })
        })
        .collect();
    let fills = materials_table(&p.fills, p.carrier, p.temperature);
    json!({
        "program": {"name": "qdsim-gpu", "version": env!("CARGO_PKG_VERSION")},
        "status": if sol.converged { "converged" } else { "not_converged" },
        "converged": sol.converged,
        "scene_file": loaded.path.display().to_string(),
        "scene": serde_json::to_value(scene).unwrap_or(Value::Null),
        "units": {"length": "nm", "energy": "eV", "mass": "m0", "temperature": "K", "density": "nm^-dim"},
        "grid": {
            "dimension": p.grid.dim,
            "cells": p.grid.dims(),
            "unknowns": p.grid.len(),
            "spacing_nm": &p.grid.h[..p.grid.dim],
            "origin_nm": &p.grid.origin[..p.grid.dim],
            "periodic": &p.grid.periodic[..p.grid.dim],
            "matrix_nonzeros": h.nnz(),
        },
        "carrier": p.carrier.as_str(),
        "energy_convention": if p.carrier.is_hole() {
            "hole energies measured downward: E = -(valence-band energy); the physical level is -energy_ev"
        } else {
            "electron energies on the common band-offset scale (InSb valence-band maximum = 0 eV)"
        },
        "temperature_k": p.temperature,
        "materials": fills,
        "reference": {
            "lowest_band_edge_ev": e0,
            "lowest_potential_ev": p.lowest_potential(),
            "lowest_boundary_potential_ev": barrier,
            "bound": "a state is bound (states[].bound) when its energy does not exceed lowest_boundary_potential_ev, the lowest potential energy on the domain's non-periodic boundary cells: above it the state reaches the boundary, where ψ = 0 confines it artificially",
        },
        "backend": {"name": sol.backend, "details": sol.backend_details},
        "solver": {
            "method": sol.method,
            "tolerance": sol.tolerance,
            "criterion": "||H psi - E psi|| <= tolerance * ||H||",
            "norm_estimate_ev": sol.norm_estimate,
            "matvecs": sol.matvecs,
            "max_matvecs": sol.max_matvecs,
            "restarts": sol.restarts,
            "basis_size": sol.basis_size,
            "block_size": sol.block_size,
            "chebyshev_filter_degree": sol.filter_degree,
            "eigensolver_s": sol.eigensolver_s,
            "host_refinement_s": sol.refine_s,
        },
        "states": states,
        "timings_s": serde_json::to_value(timings).unwrap_or(Value::Null),
    })
}

/// The materials table of results.json: per fill its label, material, alloy fraction, band
/// edge (eV) and mass (m0) of `carrier` at temperature `t` (K).
pub fn materials_table(fills: &[FillInfo], carrier: Carrier, t: f64) -> Vec<Value> {
    fills
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({
                "fill": i,
                "label": f.label,
                "material": f.material.name,
                "x": f.material.x,
                "band_edge_ev": f.material.band_edge(carrier, t),
                "mass_m0": f.material.mass(carrier),
            })
        })
        .collect()
}

/// The lowest of `values` (one per cell) over the cells on the grid's non-periodic
/// boundary faces, or None when every axis is periodic.
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

/// |ψ|² normalised to ∫|ψ|² dV = 1 (nm^-dim).
pub fn density(grid: &Grid, v: &[f64]) -> Vec<f64> {
    let dv = grid.cell_volume();
    let s: f64 = v.iter().map(|x| x * x).sum::<f64>() * dv;
    let s = if s > 0.0 { s } else { 1.0 };
    v.iter().map(|x| x * x / s).collect()
}

/// Write the .npy, .vti and .png files; returns their names.
pub fn write_fields(out: &OutputDir, scene: &Scene, p: &Problem, sol: &Solution) -> Result<Vec<String>> {
    let g = &p.grid;
    let dims = g.dims();
    let mut files = Vec::new();
    let densities: Vec<Vec<f64>> = sol.vectors.iter().map(|v| density(g, v)).collect();
    let fill: Vec<f64> = p.map.dominant.iter().map(|&f| f as f64).collect();
    if scene.output.npy {
        let mut w = |name: String, data: &[f64]| -> Result<()> {
            output::npy::write_npy(&out.path(&name), &dims, data)?;
            files.push(name);
            Ok(())
        };
        w("band_edge.npy".into(), &p.band_edge)?;
        w("potential.npy".into(), &p.potential)?;
        w("material.npy".into(), &fill)?;
        for (i, d) in densities.iter().enumerate() {
            w(format!("psi2_{i:03}.npy"), d)?;
        }
        if scene.output.wavefunctions {
            let s = 1.0 / g.cell_volume().sqrt();
            for (i, v) in sol.vectors.iter().enumerate() {
                let psi: Vec<f64> = v.iter().map(|x| x * s).collect();
                w(format!("psi_{i:03}.npy"), &psi)?;
            }
        }
    }
    if scene.output.vtk {
        let names: Vec<String> = (0..densities.len()).map(|i| format!("psi2_{i:03}")).collect();
        let psi_names: Vec<String> = (0..sol.vectors.len()).map(|i| format!("psi_{i:03}")).collect();
        let s = 1.0 / g.cell_volume().sqrt();
        let psis: Vec<Vec<f64>> = if scene.output.wavefunctions {
            sol.vectors.iter().map(|v| v.iter().map(|x| x * s).collect()).collect()
        } else {
            Vec::new()
        };
        let mut fields: Vec<(&str, &[f64])> =
            vec![("band_edge", &p.band_edge), ("potential", &p.potential), ("material", &fill)];
        for (n, d) in names.iter().zip(&densities) {
            fields.push((n.as_str(), d.as_slice()));
        }
        for (n, d) in psi_names.iter().zip(&psis) {
            fields.push((n.as_str(), d.as_slice()));
        }
        output::vtk::write_vti(&out.path("fields.vti"), g.n, g.origin, g.h, &fields)?;
        files.push("fields.vti".into());
    }
    if scene.output.plots {
        let title = scene.name.clone().unwrap_or_else(|| "qdsim-gpu".into());
        let label = if p.carrier.is_hole() { "hole energy (eV, downward)" } else { "energy (eV)" };
        if g.dim == 1 {
            let x = g.axis_centers(0);
            let states: Vec<(f64, Vec<f64>)> = sol.energies.iter().copied().zip(densities.iter().cloned()).collect();
            output::plot::plot_1d_states(&out.path("states.png"), &title, &x, &p.potential, &states, label)?;
            files.push("states.png".into());
        } else {
            let panels = slice_panels(p, sol, &densities);
            output::plot::plot_panels(&out.path("slices.png"), &title, &panels)?;
            files.push("slices.png".into());
        }
    }
    Ok(files)
}

/// Heat maps of the potential and the lowest states through the domain's centre: the
/// plane itself in 2D; the xy plane at the middle z (and xz for the potential and the
/// ground state) in 3D.
fn slice_panels(p: &Problem, sol: &Solution, densities: &[Vec<f64>]) -> Vec<output::plot::Panel> {
    let g = &p.grid;
    let max_states = 7;
    let plane = |data: &[f64], ax: (usize, usize), fixed: usize, at: usize| -> Vec<f64> {
        let (a, b) = ax;
        let mut out = Vec::with_capacity(g.n[a] * g.n[b]);
        for j in 0..g.n[b] {
            for i in 0..g.n[a] {
                let mut ijk = [0usize; 3];
                ijk[a] = i;
                ijk[b] = j;
                ijk[fixed] = at;
                out.push(data[g.index(ijk[0], ijk[1], ijk[2])]);
            }
        }
        out
    };
    let names = ["x", "y", "z"];
    let panel = |title: String, data: &[f64], ax: (usize, usize)| {
        let fixed = 3 - ax.0 - ax.1;
        let at = g.n[fixed] / 2;
        let (a, b) = ax;
        let suffix = if g.dim == 3 { format!(" ({} = {:.1} nm)", names[fixed], g.center_coord(fixed, at)) } else { String::new() };
        output::plot::Panel {
            title: format!("{title}{suffix}"),
            nx: g.n[a],
            ny: g.n[b],
            x_range_nm: (g.origin[a], g.origin[a] + g.n[a] as f64 * g.h[a]),
            y_range_nm: (g.origin[b], g.origin[b] + g.n[b] as f64 * g.h[b]),
            x_label: format!("{} (nm)", names[a]),
            y_label: format!("{} (nm)", names[b]),
            values: plane(data, ax, fixed, at),
        }
    };
    let mut panels = vec![panel("potential (eV)".into(), &p.potential, (0, 1))];
    for (i, d) in densities.iter().enumerate().take(max_states) {
        panels.push(panel(format!("|psi_{i}|^2, E = {:.4} eV", sol.energies[i]), d, (0, 1)));
    }
    if g.dim == 3 {
        panels.push(panel("potential (eV)".into(), &p.potential, (0, 2)));
        if let Some(d) = densities.first() {
            panels.push(panel(format!("|psi_0|^2, E = {:.4} eV", sol.energies[0]), d, (0, 2)));
        }
    }
    panels
}
