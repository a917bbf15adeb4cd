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
pub use crate::grid::{FACE_SAMPLES, SUBSAMPLES};

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
    check_memory_against(scene, grid, states, available_memory())
}

/// [`check_memory`] against `avail` bytes (None: unknown, no limit), read once by callers
/// that check many scenes (a sweep's points).
pub fn check_memory_against(scene: &Scene, grid: &Grid, states: usize, avail: Option<u64>) -> Result<u64> {
    let cells = grid.len();
    if cells > u32::MAX as usize - 1 {
        return Err(QdError::input(
            "domain.spacing",
            format!("gives {cells} cells; at most {} unknowns are supported", u32::MAX - 1),
        ));
    }
    let est = memory_estimate(scene, grid, states, block_size(scene, states));
    if let Some(avail) = avail {
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
    // every material must have a positive gap at the scene's temperature (issue 11)
    for f in &fills {
        f.material.check_temperature(scene.temperature).map_err(|r| QdError::input("temperature", format!("{}: {r}", f.label)))?;
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
    let problem = Problem { grid, carrier, temperature: t, fills, map, band_edge, potential, kinetic, faces };
    // a non-finite band edge or mass is the material's fault, named as such
    check_material_fields(&problem)?;
    if let Some(i) = problem.potential.iter().position(|v| !v.is_finite()) {
        return Err(QdError::input("potentials", format!("the total potential is not finite at cell {i} ({:?} nm)", problem.grid.center(i))));
    }
    Ok(problem)
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
    /// The tolerance the scene asked for (`tolerance` is the one used, after the floor of
    /// the backend's precision, [`tolerance_floor`]).
    pub tolerance_requested: f64,
    /// What the solver changed or ignored of the request, in words (also on stderr).
    pub notices: Vec<String>,
    /// Why the solve failed when it met a non-finite number (then `converged` is false).
    pub failure: Option<String>,
}

impl Solution {
    /// A solve that could not be done (`reason`): no states, not converged.
    pub fn failed(opts: &SolveOptions, backend: &str, reason: String) -> Solution {
        Solution {
            energies: Vec::new(),
            vectors: Vec::new(),
            residuals: Vec::new(),
            norm_estimate: f64::NAN,
            converged: false,
            method: "none".into(),
            matvecs: 0,
            restarts: 0,
            basis_size: 0,
            block_size: 0,
            filter_degree: 0,
            backend: backend.into(),
            backend_details: Value::Null,
            tolerance: opts.tolerance,
            max_matvecs: opts.max_matvecs,
            eigensolver_s: 0.0,
            refine_s: 0.0,
            tolerance_requested: opts.tolerance,
            notices: Vec::new(),
            failure: Some(reason),
        }
    }
}

/// The first row of `h` holding a non-finite entry, if any.
pub fn first_non_finite_row(h: &CsrMatrix) -> Option<usize> {
    (0..h.nrows).find(|&r| h.val[h.row_ptr[r]..h.row_ptr[r + 1]].iter().any(|v| !v.is_finite()))
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

/// Solve for the lowest states of `h`. `progress` sees the Lanczos iterations.
pub fn solve(h: &CsrMatrix, opts: &SolveOptions, progress: &mut dyn FnMut(&LanczosProgress)) -> Result<Solution> {
    solve_from(h, opts, &[], progress)
}

/// [`solve`] with the iterative eigensolver started from `initial` (host vectors of
/// length `h.nrows`, e.g. the previous point of a sweep; others are ignored): the same
/// eigenpairs to the tolerance, in fewer products when the guess is good. The dense path
/// ignores it.
pub fn solve_from(h: &CsrMatrix, opts: &SolveOptions, initial: &[Vec<f64>], progress: &mut dyn FnMut(&LanczosProgress)) -> Result<Solution> {
    // `gpu` insists: it opens the adapter and runs the iterative solver there even on a
    // problem small enough for the dense path (which runs on the CPU)
    let gpu_asked = opts.backend == BackendChoice::Gpu;
    let small = h.nrows <= DENSE_LIMIT && !opts.force_iterative && !gpu_asked;
    let iterative;
    let opts = if gpu_asked && !opts.force_iterative {
        iterative = SolveOptions { force_iterative: true, ..opts.clone() };
        &iterative
    } else {
        opts
    };
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
/// In f64 the residual of an eigenpair cannot be resolved much below ~100 ulps of ‖H‖
/// (and the convergence test allows 10× slack, with a floor of 1e-13·‖H‖): a smaller
/// tolerance is raised to 1e-12 with a notice, instead of being "met" by rounding.
pub fn tolerance_floor(bits: u32) -> f64 {
    if bits >= 64 {
        F64_TOLERANCE_FLOOR
    } else {
        1e-6
    }
}

/// The smallest relative eigenpair tolerance an f64 solve is run to.
pub const F64_TOLERANCE_FLOOR: f64 = 1e-12;

/// The smallest Poisson / self-consistent tolerance (V) the device solve is run to: the
/// Newton updates of φ (potentials of order 1 V, residuals in f64) do not resolve much
/// below ~1e-12 V.
pub const POISSON_TOLERANCE_FLOOR_V: f64 = 1e-12;

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
    let Some(eig) = dense::symmetric_eigen(g) else {
        // non-finite vectors or products: NaN energies and residuals, flagged by the caller
        return (vec![f64::NAN; k], q, vec![f64::NAN; k]);
    };
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
    if let Some(row) = first_non_finite_row(h) {
        // (an operator built from the input is checked before, as an input error: here a
        // potential computed by the self-consistent loop has gone non-finite)
        return Ok(Solution::failed(opts, &be.name(), format!("the Hamiltonian has a non-finite entry in row {row}: the potential or the masses are not finite there")));
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
            tolerance_requested: opts.tolerance,
            notices: vec![format!(
                "{n} unknowns (at most {DENSE_LIMIT}): solved by dense diagonalisation on the CPU, exact to rounding; solve.tolerance and solve.max_iterations do not apply"
            )],
            failure: None,
        }
    } else {
        let a = be.upload_matrix(h);
        // the accepted tolerance; a low-precision backend iterates to a quarter of it, so
        // that the f64 check on the host passes
        let floor = tolerance_floor(be.precision_bits());
        let tol = opts.tolerance.max(floor);
        let mut notices = Vec::new();
        if opts.tolerance < floor {
            notices.push(format!(
                "solve.tolerance = {:e} is below what {}-bit arithmetic on the {} backend can resolve: solved to {floor:e} (‖Hψ − Eψ‖ ≤ {floor:e}·‖H‖)",
                opts.tolerance,
                be.precision_bits(),
                be.name()
            ));
        }
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
            tolerance_requested: opts.tolerance,
            notices,
            failure: None,
        }
    };
    if sol.energies.len() < k {
        sol.converged = false;
    }
    // no non-finite number is ever converged
    let bad_state = (0..sol.energies.len()).find(|&i| {
        !sol.energies[i].is_finite()
            || !sol.residuals.get(i).is_some_and(|r| r.is_finite())
            || sol.vectors.get(i).is_none_or(|v| v.iter().any(|x| !x.is_finite()))
    });
    if let Some(i) = bad_state {
        sol.converged = false;
        sol.failure = Some(format!(
            "state {i} came out non-finite (energy {} eV, residual {} eV; ‖H‖ ≈ {:.3e} eV): the arithmetic overflowed, check the masses and potentials",
            sol.energies[i],
            sol.residuals.get(i).copied().unwrap_or(f64::NAN),
            h.norm_inf()
        ));
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
    let backend_notices = check_precision_request(&loaded)?;
    let problem = prepare(&loaded, sopts.states)?;
    let mut timings = Timings { setup: t0.elapsed().as_secs_f64(), ..Default::default() };
    let t1 = Instant::now();
    let h = problem.hamiltonian();
    check_operator(&problem, &h)?;
    timings.assemble = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let initial: &[Vec<f64>] = match warm {
        Some(w) if w.fits(&problem.grid) => &w.vectors,
        _ => &[],
    };
    let mut sol = match solve_from(&h, &sopts, initial, progress) {
        Ok(s) => s,
        // exit 3 writes flagged results: a solver that gave up is reported, not lost
        Err(QdError::NotConverged(why)) => Solution::failed(&sopts, "none", why),
        Err(e) => return Err(e),
    };
    sol.notices.splice(0..0, backend_notices);
    for n in &sol.notices {
        notice_once(n);
    }
    timings.solve = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    let mut results = results_json(&loaded, &problem, &h, &sol, &timings);
    results["solver"]["warm_start"] = json!(!initial.is_empty() && sol.method != "dense");
    results["solver"]["tolerance_requested"] = json!(sol.tolerance_requested);
    results["solver"]["tolerance_used"] = if sol.method == "dense" { Value::Null } else { json!(sol.tolerance) };
    results["solver"]["max_iterations_applies"] = json!(sol.method != "dense");
    results["solver"]["notices"] = json!(sol.notices);
    if let Some(why) = &sol.failure {
        results["reason"] = json!(why);
    } else if !sol.converged {
        results["reason"] = json!(format!(
            "the eigensolver did not converge within solve.max_iterations = {} operator applications",
            sol.max_matvecs
        ));
    }
    let mut out_dir = PathBuf::new();
    if let Some(out_path) = out {
        let dir = OutputDir::create(out_path, &loaded.input_files())?;
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

/// The GPU precision asked for (`QDSIM_GPU_PRECISION`, which `--gpu-precision` sets) is
/// valid, and the notices it gives: a precision on a scene that runs on the cpu backend
/// does not apply (the CPU computes in f64).
pub fn check_precision_request(loaded: &LoadedScene) -> Result<Vec<String>> {
    let asked = crate::backend::gpu::precision_from_env()?;
    Ok(match asked {
        Some(p) if loaded.scene.solve.backend == BackendChoice::Cpu => {
            vec![format!("the GPU precision {p} (QDSIM_GPU_PRECISION or --gpu-precision) does not apply: the scene runs on the cpu backend, which computes in f64")]
        }
        _ => Vec::new(),
    })
}

/// Which field a cell's material comes from: `background.material` or
/// `regions[i].material`, and the material's name, for input errors about that cell.
fn cell_material(p: &Problem, cell: usize) -> (String, String) {
    let f = p.map.dominant.get(cell).copied().unwrap_or(0) as usize;
    let field = if f == 0 { "background.material".to_string() } else { format!("regions[{}].material", f - 1) };
    let name = p.fills.get(f).map(|x| format!("{} ({})", x.material.name, x.label)).unwrap_or_default();
    (field, name)
}

/// The assembled Schrödinger operator holds only finite numbers: a non-finite band edge,
/// mass or potential from the input is an input error naming the cell and its material.
pub fn check_operator(p: &Problem, h: &CsrMatrix) -> Result<()> {
    check_material_fields(p)?;
    let what = if let Some(c) = p.potential.iter().position(|x| !x.is_finite()) {
        Some((c, format!("the potential is {} eV", p.potential[c])))
    } else {
        first_non_finite_row(h).map(|c| (c, "the Hamiltonian's row overflows (ħ²/2m*h² or the potential beyond the range of f64)".to_string()))
    };
    cell_error(p, what)
}

/// The band edge and ħ²/2m* of every cell are finite (an input error naming the cell's
/// material otherwise).
fn check_material_fields(p: &Problem) -> Result<()> {
    let nonfinite = |v: &[f64]| v.iter().position(|x| !x.is_finite());
    let what = if let Some(c) = nonfinite(&p.band_edge) {
        Some((c, format!("the band edge is {}", p.band_edge[c])))
    } else {
        nonfinite(&p.kinetic).map(|c| (c, format!("ħ²/2m* is {} eV nm² (effective mass {} m0)", p.kinetic[c], HBAR2_OVER_2M0_EV_NM2 / p.kinetic[c])))
    };
    cell_error(p, what)
}

/// The input error for `what` = (cell, what is wrong there), naming the cell's material.
fn cell_error(p: &Problem, what: Option<(usize, String)>) -> Result<()> {
    match what {
        None => Ok(()),
        Some((c, why)) => {
            let (field, name) = cell_material(p, c);
            let at: Vec<String> = p.grid.center(c)[..p.grid.dim].iter().map(|x| format!("{x:.3}")).collect();
            Err(QdError::input(field, format!("{why} at cell {c} ({} nm), material {name}: not a finite number; check the material's parameters", at.join(", "))))
        }
    }
}

/// The results document (without timings and file list, which `run` adds).
pub fn results_json(loaded: &LoadedScene, p: &Problem, h: &CsrMatrix, sol: &Solution, timings: &Timings) -> Value {
    let scene = &loaded.scene;
    let e0 = p.lowest_band_edge();
    let (barrier, unbound) = unbound_levels(p, &sol.energies);
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
                "converged": r.is_finite() && e.is_finite() && (sol.method == "dense" || r <= 10.0 * thresh.max(1e-14 * sol.norm_estimate)),
                "bound": !unbound[i],
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
            "lowest_boundary_potential_ev": boundary_minimum(&p.grid, &p.potential),
            "continuum_threshold_ev": barrier,
            "bound": "a state is bound (states[].bound) when its energy lies below continuum_threshold_ev, the lowest energy at which a state can leave through a non-periodic face of the domain (1D: the potential on the end cells; 2D/3D: the lowest level of a face's cross-section, so a layer reaching the boundary counts with its own subband edge): a level above it is confined only by the domain's ψ = 0 walls",
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
        let n: Vec<usize> = others.iter().map(|&b| g.n[b]).collect();
        let h: Vec<f64> = others.iter().map(|&b| g.h[b]).collect();
        let mut face = Grid::uniform(&n, &h);
        for (k, &b) in others.iter().enumerate() {
            face.periodic[k] = g.periodic[b];
        }
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
                backend: BackendChoice::Cpu,
                adapter: None,
                force_iterative: false,
                filter_degree: DEFAULT_FILTER_DEGREE,
            };
            solve(&hf, &opts, &mut |_| {}).ok().and_then(|s| s.energies.first().copied())
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
        // the levels that results.json flags `bound: false`, drawn dashed
        let unbound = unbound_levels(p, &sol.energies).1;
        if g.dim == 1 {
            let x = g.axis_centers(0);
            let states: Vec<(f64, Vec<f64>)> = sol.energies.iter().copied().zip(densities.iter().cloned()).collect();
            output::plot::plot_1d_states(&out.path("states.png"), &title, &x, &p.potential, &states, &unbound, label)?;
            files.push("states.png".into());
        } else {
            let panels = slice_panels(p, sol, &densities, &unbound);
            output::plot::plot_panels(&out.path("slices.png"), &title, &panels)?;
            files.push("slices.png".into());
        }
    }
    Ok(files)
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
