//! Benchmarks and their problems (`qdsim-gpu bench`, `qdsim-gpu scaling`, benches/):
//! this module is the standard benchmark (memory copy rate, CPU spmv on the "3D dot"
//! Hamiltonian, the time to its lowest states with block Lanczos, the Poisson solvers);
//! [`gpu`] is its GPU part, [`eigen`] LOBPCG against Lanczos on 2D wires and 3D dots
//! (`--eigensolvers`), and [`mpi`] the scaling runs of the distributed backend.
//!
//! The problems are scenes built through [`crate::pipeline::prepare`], the same assembly a
//! solve uses (no second copy of it here).
//!
//! The "3D dot" problem ([`dot_scene`]): a 40 nm cube of Al₀.₃Ga₀.₇As with a GaAs sphere of radius 10 nm
//! (a quarter of the edge) at its centre, electrons at 300 K, `n³` cells of size
//! `h = 40/n` nm, ψ = 0 on the outer faces. The sphere scales with the domain, so the
//! problem is the same physics at every `n`, only finer.
//!
//! Bandwidth accounting for `y = A x` (CSR, f64 values, u32 column indices):
//! `bytes = 12·nnz + 8·(nrows + 1) + 8·ncols + 8·nrows` — values and column indices once,
//! the row pointers (usize) once, `x` read once, `y` written once. That is the minimum
//! traffic with perfect reuse of `x`; the 7-point stencil comes close to it because the
//! planes of `x` the product touches stay in cache. Copy rates count read + write bytes
//! (2 × buffer size), so the two rates compare like for like.

use std::io::Write;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::{json, Value};

use crate::backend::CpuBackend;
use crate::error::{QdError, Result};
use crate::linalg::backend::{Backend, Coeffs};
use crate::linalg::lanczos::{lowest_eigenpairs, LanczosOptions};
use crate::linalg::CsrMatrix;
use crate::scene::{parse_scene, LoadedScene};

pub mod eigen;
pub mod gpu;
pub mod mpi;

/// Edge of the benchmark cube, nm.
pub const DOT_DOMAIN_NM: f64 = 40.0;
/// Sphere radius as a fraction of the edge (10 nm in the 40 nm cube).
pub const DOT_RADIUS_FRACTION: f64 = 0.25;
/// Temperature of the benchmark, K.
pub const DOT_TEMPERATURE_K: f64 = 300.0;

/// The "3D dot" Hamiltonian on `n³` cells (eV; see the module docs).
pub fn dot_hamiltonian(n: usize) -> CsrMatrix {
    dot_hamiltonian_dims([n, n, n])
}

/// The "3D dot" scene on `dims` cells at the spacing of the `dims[0]`³ grid (a longer
/// grid is a longer box around the same dot: the weak-scaling problems).
pub fn dot_scene(dims: [usize; 3]) -> LoadedScene {
    let h = DOT_DOMAIN_NM / dims[0] as f64;
    let size: Vec<f64> = dims.iter().map(|&d| d as f64 * h).collect();
    let text = json!({
        "name": "qdsim-gpu benchmark: 3D dot",
        "domain": {"size": size, "spacing": h},
        "background": {"material": "AlGaAs", "x": 0.3},
        "regions": [{"shape": {"type": "sphere", "center": [0.0, 0.0, 0.0], "radius": DOT_RADIUS_FRACTION * DOT_DOMAIN_NM}, "material": "GaAs"}],
        "temperature": DOT_TEMPERATURE_K,
        "solve": {"carrier": "electron", "states": 1},
    })
    .to_string();
    let scene = parse_scene(&text).expect("the benchmark scene parses");
    LoadedScene { scene, path: "bench-dot.json".into(), base_dir: ".".into() }
}

/// The dot Hamiltonian on `dims` cells (see [`dot_scene`]), assembled by
/// [`crate::pipeline::prepare`] as a solve of that scene would.
pub fn dot_hamiltonian_dims(dims: [usize; 3]) -> CsrMatrix {
    let loaded = dot_scene(dims);
    let problem = crate::pipeline::prepare(&loaded, 1).expect("the benchmark scene prepares");
    problem.hamiltonian()
}

/// Bytes a CSR product `y = A x` must move at least (see the module docs).
pub fn spmv_bytes(a: &CsrMatrix) -> usize {
    12 * a.nnz() + 8 * (a.nrows + 1) + 8 * a.ncols + 8 * a.nrows
}

#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Grid sizes n (n³ cells) for the spmv test.
    pub sizes: Vec<usize>,
    /// Timed repetitions of each measurement (after one warm-up).
    pub repetitions: usize,
    /// Run the eigenvalue test.
    pub eigen: bool,
    /// Grid size of the eigenvalue test.
    pub eigen_size: usize,
    /// States wanted.
    pub nev: usize,
    /// Relative tolerance (as [`LanczosOptions::tol`] defines it).
    pub tol: f64,
    /// Block size and basis size (0 = the solver's default) of the eigen test; one run per
    /// entry, the first is the reference configuration.
    pub lanczos_configs: Vec<(usize, usize)>,
    /// Size of the buffer of the plain memory-copy test, MiB.
    pub copy_mib: usize,
    /// Smoke run: tiny sizes, one repetition.
    pub quick: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            sizes: vec![64, 128],
            repetitions: 20,
            eigen: true,
            eigen_size: 64,
            nev: 10,
            tol: 1e-8,
            lanczos_configs: vec![(3, 0)],
            copy_mib: 256,
            quick: false,
        }
    }
}

impl BenchOptions {
    /// The options actually used: `quick` shrinks everything to a smoke run.
    pub fn effective(&self) -> BenchOptions {
        if !self.quick {
            return self.clone();
        }
        BenchOptions {
            sizes: vec![16, 24],
            repetitions: 2,
            eigen_size: 16,
            copy_mib: 16,
            lanczos_configs: self.lanczos_configs.iter().take(1).copied().collect(),
            ..self.clone()
        }
    }
}

/// Times of `reps` runs of `f` after one warm-up run, seconds.
fn time_reps(reps: usize, mut f: impl FnMut()) -> Vec<f64> {
    f();
    (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

fn stats(t: &[f64]) -> (f64, f64) {
    let mut s = t.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (s[0], s[s.len() / 2])
}

/// Copy rates (GB/s, read + write bytes, best of `reps`) for a buffer of `len` f64:
/// (rayon-parallel copy, single-thread `copy_from_slice`).
pub fn copy_rates(len: usize, reps: usize) -> (f64, f64) {
    let src: Vec<f64> = (0..len).into_par_iter().map(|i| i as f64).collect();
    let mut dst = vec![0.0f64; len];
    dst.par_chunks_mut(1 << 16).for_each(|c| c.fill(1.0)); // fault the pages in
    let bytes = 2.0 * 8.0 * len as f64;
    let chunk = len.div_ceil(4 * rayon::current_num_threads()).clamp(1 << 12, 1 << 20);
    let par = time_reps(reps, || {
        dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| d.copy_from_slice(s));
    });
    let ser = time_reps(reps, || dst.copy_from_slice(&src));
    std::hint::black_box(&dst);
    (bytes / stats(&par).0 / 1e9, bytes / stats(&ser).0 / 1e9)
}

pub use crate::backend::timing::{OpTimes, TimingBackend};

/// One Lanczos run on `a` with the CPU backend, timed, with a per-operation breakdown.
pub fn eigen_run(a: &CsrMatrix, nev: usize, tol: f64, block_size: usize, basis_size: usize) -> Value {
    let cpu = CpuBackend::new();
    let be = TimingBackend::new(&cpu);
    let m = be.upload_matrix(a);
    // the settings `qdsim-gpu solve` uses: Gershgorin norm bound and the Chebyshev filter
    let opts = LanczosOptions {
        nev,
        tol,
        block_size,
        basis_size,
        norm_bound: Some(a.norm_inf()),
        filter_degree: crate::pipeline::DEFAULT_FILTER_DEGREE,
        ..Default::default()
    };
    let t = Instant::now();
    let r = lowest_eigenpairs(&be, &m, &opts, &mut |_| {});
    let secs = t.elapsed().as_secs_f64();
    let ops = be.times();
    let vec_s = ops.spmv_s + ops.orthogonalise_s + ops.combine_s + ops.other_vector_s;
    let rel: Vec<f64> = r.residuals.iter().map(|x| x / r.norm_estimate).collect();
    json!({
        "nev": nev,
        "tol": tol,
        "block_size": r.block_size,
        "basis_size": r.basis_size,
        "chebyshev_filter_degree": r.filter_degree,
        "seconds": secs,
        "converged": r.converged,
        "matvecs": r.matvecs,
        "restarts": r.restarts,
        "values_ev": r.values,
        "relative_residuals": rel,
        "norm_estimate_ev": r.norm_estimate,
        "breakdown_s": {
            "spmv": ops.spmv_s,
            "orthogonalise": ops.orthogonalise_s,
            "combine_restart": ops.combine_s,
            "other_vector": ops.other_vector_s,
            "host_dense_and_overhead": secs - vec_s,
        },
        "multi_dot_calls": ops.multi_dot_calls,
    })
}

fn io(e: std::io::Error) -> QdError {
    QdError::io("writing the benchmark table", e)
}

/// Run the benchmark: print a table to `out` and return every figure as JSON.
pub fn run(opts: &BenchOptions, out: &mut dyn Write) -> Result<Value> {
    let o = opts.effective();
    let threads = rayon::current_num_threads();
    writeln!(out, "qdsim-gpu bench: cpu backend, {threads} rayon threads{}", if o.quick { " (quick)" } else { "" }).map_err(io)?;

    // (a) memory copy
    let len = o.copy_mib * (1 << 20) / 8;
    let (par_gbs, ser_gbs) = copy_rates(len, o.repetitions);
    writeln!(out, "\nmemory copy, {} MiB f64 buffer, GB/s counting read + write (best of {})", o.copy_mib, o.repetitions).map_err(io)?;
    writeln!(out, "  rayon par_chunks copy   {par_gbs:8.2} GB/s").map_err(io)?;
    writeln!(out, "  single copy_from_slice  {ser_gbs:8.2} GB/s").map_err(io)?;
    let copy = json!({ "buffer_mib": o.copy_mib, "parallel_gbs": par_gbs, "single_thread_gbs": ser_gbs });

    // (b) spmv
    let be = CpuBackend::new();
    writeln!(out, "\nspmv y = A x on the 3D dot Hamiltonian; bytes = 12 nnz + 8 (nrows+1) + 8 ncols + 8 nrows").map_err(io)?;
    writeln!(
        out,
        "  {:>5} {:>10} {:>10} {:>9} {:>10} {:>10} {:>8} {:>8} {:>10} {:>8}",
        "n", "rows", "nnz", "MB", "best ms", "median ms", "GB/s", "/copy", "copy same", "/same"
    )
    .map_err(io)?;
    let mut spmv = Vec::new();
    for &n in &o.sizes {
        let t = Instant::now();
        let a = dot_hamiltonian(n);
        let build_s = t.elapsed().as_secs_f64();
        let x = be.random(a.nrows, 1);
        let mut y = be.alloc(a.nrows);
        let times = time_reps(o.repetitions, || be.spmv(&a, &x, &mut y));
        std::hint::black_box(&y);
        let (best, med) = stats(&times);
        let bytes = spmv_bytes(&a);
        let gbs = bytes as f64 / best / 1e9;
        // a copy moving the same number of bytes (same cache regime as the product)
        let (same_gbs, _) = copy_rates((bytes / 16).max(1), o.repetitions);
        writeln!(
            out,
            "  {:>5} {:>10} {:>10} {:>9.1} {:>10.3} {:>10.3} {:>8.2} {:>7.0}% {:>10.2} {:>7.0}%",
            n,
            a.nrows,
            a.nnz(),
            bytes as f64 / 1e6,
            best * 1e3,
            med * 1e3,
            gbs,
            100.0 * gbs / par_gbs,
            same_gbs,
            100.0 * gbs / same_gbs
        )
        .map_err(io)?;
        spmv.push(json!({
            "n": n, "rows": a.nrows, "nnz": a.nnz(), "bytes": bytes,
            "build_s": build_s,
            "best_s": best, "median_s": med, "gbs": gbs,
            "ratio_to_copy": gbs / par_gbs,
            "copy_same_bytes_gbs": same_gbs,
            "ratio_to_copy_same_bytes": gbs / same_gbs,
        }));
    }

    // (c) the basis kernels Lanczos orthogonalises with
    let mut kernels = Value::Null;
    if o.eigen {
        let (n, m) = (o.eigen_size.pow(3), 40usize);
        let basis: Vec<Vec<f64>> = (0..m).map(|i| be.random(n, 100 + i as u64)).collect();
        let x = be.random(n, 99);
        let mut y = be.random(n, 98);
        let c: Vec<f64> = (0..m).map(|i| 1e-3 * (i as f64 + 1.0)).collect();
        let coeff = crate::linalg::backend::random_values(m * 10, 5);
        let mut outs: Vec<Vec<f64>> = (0..10).map(|_| be.alloc(n)).collect();
        let md = stats(&time_reps(o.repetitions, || {
            std::hint::black_box(be.multi_dot(&basis, &x));
        }))
        .0;
        let ma = stats(&time_reps(o.repetitions, || be.multi_axpy(&basis, &c, &mut y))).0;
        let cb = stats(&time_reps(o.repetitions.min(5), || {
            be.combine(&basis, &Coeffs { rows: m, cols: 10, data: &coeff }, &mut outs)
        }))
        .0;
        let gb = |vecs: usize, t: f64| 8.0 * (n * vecs) as f64 / t / 1e9;
        writeln!(out, "\nbasis kernels, {m} vectors of {n} (bytes: vectors read + written once)").map_err(io)?;
        writeln!(out, "  multi_dot   {:8.3} ms {:8.2} GB/s", md * 1e3, gb(m + 1, md)).map_err(io)?;
        writeln!(out, "  multi_axpy  {:8.3} ms {:8.2} GB/s", ma * 1e3, gb(m + 2, ma)).map_err(io)?;
        writeln!(out, "  combine→10  {:8.3} ms {:8.2} GB/s", cb * 1e3, gb(m + 10, cb)).map_err(io)?;
        kernels = json!({
            "vectors": m, "length": n,
            "multi_dot_s": md, "multi_dot_gbs": gb(m + 1, md),
            "multi_axpy_s": ma, "multi_axpy_gbs": gb(m + 2, ma),
            "combine_10_s": cb, "combine_10_gbs": gb(m + 10, cb),
        });
    }

    // (d) eigenpairs
    let mut eigen = Vec::new();
    if o.eigen {
        let a = dot_hamiltonian(o.eigen_size);
        writeln!(
            out,
            "\nlowest {} states of the {}³ dot, tol {:e} (relative to ‖H‖), cpu block Lanczos",
            o.nev, o.eigen_size, o.tol
        )
        .map_err(io)?;
        writeln!(
            out,
            "  {:>5} {:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>5}",
            "block", "basis", "seconds", "matvecs", "restarts", "spmv s", "ortho s", "restart s", "other s", "conv"
        )
        .map_err(io)?;
        for &(bs, basis) in &o.lanczos_configs {
            let r = eigen_run(&a, o.nev, o.tol, bs, basis);
            let b = &r["breakdown_s"];
            let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
            writeln!(
                out,
                "  {:>5} {:>5} {:>8.3} {:>8} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>5}",
                r["block_size"],
                r["basis_size"],
                f(&r["seconds"]),
                r["matvecs"],
                r["restarts"],
                f(&b["spmv"]),
                f(&b["orthogonalise"]),
                f(&b["combine_restart"]),
                f(&b["other_vector"]) + f(&b["host_dense_and_overhead"]),
                r["converged"]
            )
            .map_err(io)?;
            eigen.push(r);
        }
        if let Some(r) = eigen.first() {
            let vals: Vec<String> =
                r["values_ev"].as_array().unwrap().iter().map(|v| format!("{:.10}", v.as_f64().unwrap())).collect();
            writeln!(out, "  eigenvalues (eV): {}", vals.join(" ")).map_err(io)?;
        }
    }
    Ok(json!({
        "threads": threads,
        "quick": o.quick,
        "repetitions": o.repetitions,
        "spmv_bytes_formula": "12*nnz + 8*(nrows+1) + 8*ncols + 8*nrows",
        "copy": copy,
        "spmv": spmv,
        "basis_kernels": kernels,
        "eigen": eigen,
    }))
}

/// The Poisson benchmark problem on `n³` cells: the "3D dot" geometry as a dielectric
/// (a sphere of εr 12.9, radius a quarter of the 40 nm edge, in εr 1, cut cells
/// volume-averaged), φ = 0 V on the bottom face (z−), a contact at 0.5 V on the x < 0 half
/// of the top face (z+), zero field on the other faces, and a uniform charge of 10¹⁸ cm⁻³ in
/// the sphere. Returns the system and the charge density (cm⁻³). The grid and the painted
/// sphere are those of [`dot_scene`] as [`crate::pipeline::prepare`] builds them.
pub fn poisson_problem(n: usize) -> Result<(crate::physics::poisson::PoissonSystem, Vec<f64>)> {
    use crate::physics::poisson::{BoundaryCellBc, FaceBc, PoissonProblem, PoissonSystem};
    // the dot scene's grid and painted sphere (fill 1), as the solver prepares them
    let crate::pipeline::Problem { grid, map, .. } = crate::pipeline::prepare(&dot_scene([n, n, n]), 1)?;
    let eps = map.average(&[1.0, 12.9]);
    let inside = map.average(&[0.0, 1.0]);
    let rho: Vec<f64> = inside.iter().map(|f| 1e18 * f).collect();
    let mut p = PoissonProblem::new(grid.clone(), eps, FaceBc::Neumann);
    p.faces[4] = FaceBc::Dirichlet(0.0);
    for j in 0..n {
        for i in 0..n / 2 {
            p.boundary_cells.push(BoundaryCellBc { face: 5, cell: grid.index(i, j, n - 1), bc: FaceBc::Dirichlet(0.5) });
        }
    }
    Ok((PoissonSystem::assemble(&p)?, rho))
}

/// Poisson benchmark on backend `be`: for each n, PCG to relative residual `tol` with the
/// Jacobi preconditioner (if `jacobi`) and with the multigrid V-cycle; iterations, times,
/// and the cost in fine-matrix spmv equivalents, counted (nonzeros touched / nnz(A)) and
/// measured (solve time / time of one spmv on the same backend).
pub fn poisson_run<B: Backend>(
    be: &B,
    sizes: &[usize],
    tol: f64,
    jacobi: bool,
    mg: &crate::linalg::multigrid::MultigridOptions,
    out: &mut dyn Write,
) -> Result<Value> {
    use crate::linalg::cg::{pcg, CgOptions, Jacobi};
    use crate::linalg::multigrid::Multigrid;
    writeln!(
        out,
        "\nPoisson, dielectric dot (εr 12.9 sphere in εr 1), {} backend, PCG to {tol:e} relative residual; \
         smoother: Chebyshev degree {}, ratio {}, coarse ≤ {} unknowns, coupling scale {}, cycle index {}",
        be.name(),
        mg.smoother_degree,
        mg.smoothing_ratio,
        mg.max_coarse,
        mg.coupling_scale,
        mg.cycle_index
    )
    .map_err(io)?;
    writeln!(
        out,
        "  {:>5} {:>6} {:>8} {:>6} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "n", "prec", "levels", "iters", "setup s", "solve s", "spmv ms", "V-cycle", "spmv-eq", "time/spmv"
    )
    .map_err(io)?;
    let mut rows = Vec::new();
    for &n in sizes {
        let (sys, rho) = poisson_problem(n)?;
        let a = be.upload_matrix(&sys.matrix);
        let b = be.from_host(&sys.rhs(&rho));
        let mut y = be.alloc(sys.len());
        // ten products and one reduction (which waits for a GPU queue to drain), per product
        let spmv_s = stats(&time_reps(3, || {
            for _ in 0..10 {
                be.spmv(&a, &b, &mut y);
            }
            std::hint::black_box(be.norm2(&y));
        }))
        .0 / 10.0;
        let opts = CgOptions { tol, max_iterations: 20_000 };
        let mut run = |name: &str, setup_s: f64, levels: usize, vcycle: f64, solve: &mut dyn FnMut(&mut B::Vector) -> crate::linalg::cg::CgResult| -> Result<()> {
            let mut x = be.alloc(sys.len());
            let t = Instant::now();
            let r = solve(&mut x);
            let _ = be.to_host(&x); // the solution is complete
            let secs = t.elapsed().as_secs_f64();
            // per iteration one product with A and one preconditioner application; plus the
            // initial residual, the first preconditioning and the final true residual
            let per_iter = 1.0 + vcycle;
            let spmv_eq = r.iterations as f64 * per_iter + vcycle + 2.0;
            writeln!(
                out,
                "  {:>5} {:>6} {:>8} {:>6} {:>9.3} {:>9.3} {:>10.3} {:>10.2} {:>10.1} {:>10.1}{}",
                n,
                name,
                levels,
                r.iterations,
                setup_s,
                secs,
                spmv_s * 1e3,
                vcycle,
                spmv_eq,
                secs / spmv_s,
                if r.converged { "" } else { "  NOT CONVERGED" }
            )
            .map_err(io)?;
            rows.push(json!({
                "n": n, "rows": sys.len(), "nnz": sys.matrix.nnz(), "preconditioner": name,
                "levels": levels, "iterations": r.iterations, "converged": r.converged,
                "relative_residual": r.relative_residual, "setup_s": setup_s, "solve_s": secs,
                "spmv_s": spmv_s, "vcycle_spmv_equivalents": vcycle,
                "spmv_equivalents_counted": spmv_eq, "spmv_equivalents_timed": secs / spmv_s,
            }));
            Ok(())
        };
        if jacobi {
            let t = Instant::now();
            let j = Jacobi::new(be, &sys.matrix);
            let setup = t.elapsed().as_secs_f64();
            run("jacobi", setup, 1, 0.0, &mut |x| pcg(be, &a, &b, x, &j, &opts))?;
        }
        let t = Instant::now();
        let m = Multigrid::new(be, &sys.grid, &sys.matrix, None, mg)?;
        let setup = t.elapsed().as_secs_f64();
        run("mg", setup, m.levels(), m.work_per_cycle(), &mut |x| pcg(be, &a, &b, x, &m, &opts))?;
    }
    let mg_rows: Vec<&Value> = rows.iter().filter(|r| r["preconditioner"] == "mg").collect();
    if mg_rows.len() >= 2 {
        let (i0, i1) = (mg_rows[0]["iterations"].as_f64().unwrap_or(0.0), mg_rows[mg_rows.len() - 1]["iterations"].as_f64().unwrap_or(0.0));
        writeln!(out, "  multigrid iterations grow ×{:.2} from the first to the last size", i1 / i0.max(1.0)).map_err(io)?;
    }
    Ok(json!({ "backend": be.name(), "tol": tol, "multigrid": mg, "runs": rows }))
}

/// Write the `n`³ dot Hamiltonian ([`dot_hamiltonian`]) to `path` in Matrix Market format
/// (`qdsim-gpu bench --export-matrix`, for scripts/scipy_eigsh.py). Returns rows and nonzeros.
pub fn export_dot_matrix(n: usize, path: &std::path::Path) -> Result<(usize, usize)> {
    let a = dot_hamiltonian(n);
    let comment = format!(
        "qdsim-gpu 3D dot benchmark, {n}^3 cells, h = {} nm: GaAs sphere r = 10 nm in Al0.3Ga0.7As, electrons, 300 K; energies in eV",
        DOT_DOMAIN_NM / n as f64
    );
    a.write_matrix_market(path, &comment)?;
    Ok((a.nrows, a.nnz()))
}

/// `block:basis` pairs, comma-separated (`--lanczos-configs 1:0,3:0,3:80`; basis 0 = the
/// solver's default).
pub fn parse_lanczos_configs(text: &str) -> Result<Vec<(usize, usize)>> {
    let bad = || QdError::input("--lanczos-configs", format!("'{text}' is not a list of block:basis pairs (e.g. 1:0,3:0,3:80)"));
    let configs: Vec<(usize, usize)> = text
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let mut it = p.split(':').map(|x| x.trim().parse::<usize>());
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(b)), None, None) if b > 0 => Ok((b, 0)),
                (Some(Ok(b)), Some(Ok(m)), None) if b > 0 => Ok((b, m)),
                _ => Err(bad()),
            }
        })
        .collect::<Result<_>>()?;
    if configs.is_empty() {
        return Err(bad());
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_is_symmetric_with_a_bound_state() {
        let a = dot_hamiltonian(12);
        assert_eq!(a.nrows, 12 * 12 * 12);
        assert!(a.asymmetry() < 1e-12);
        assert_eq!(a.nnz(), 7 * a.nrows - 6 * 12 * 12);
        assert_eq!(spmv_bytes(&a), 12 * a.nnz() + 8 * (a.nrows + 1) + 16 * a.nrows);
    }

    #[test]
    fn poisson_bench_runs() {
        let mut buf = Vec::new();
        let v = poisson_run(&CpuBackend::new(), &[16, 24], 1e-8, true, &Default::default(), &mut buf).unwrap();
        let runs = v["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 4);
        assert!(runs.iter().all(|r| r["converged"] == true), "{v}");
    }

    #[test]
    fn quick_run_produces_every_section() {
        let mut buf = Vec::new();
        let v = run(&BenchOptions { quick: true, ..Default::default() }, &mut buf).unwrap();
        assert_eq!(v["spmv"].as_array().unwrap().len(), 2);
        assert_eq!(v["eigen"][0]["converged"], true);
        assert!(String::from_utf8(buf).unwrap().contains("GB/s"));
    }
}
