//! GPU benchmarks (`qdsim-gpu bench --gpu`): the device copy rate, spmv on the 3D dot
//! Hamiltonians in GB/s against the bytes each must move, SpMM of 16 vectors against 16
//! single products, the memory-regime reproducer (regime.rs: one copy kernel on buffers
//! allocated in different sizes, orders and ways), and the time to the lowest states, on the
//! same matrices the CPU benchmark uses. `--export-csr DIR` also writes each matrix as NumPy
//! arrays (row_ptr, col, val) so scripts/cupy_reference.py can run cuSPARSE, cupyx eigsh and
//! cg on exactly the same operator.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::backend::gpu::stencil::SpmvLayout;
use crate::backend::GpuBackend;
use crate::bench::dot_hamiltonian;
use crate::error::{QdError, Result};
use crate::linalg::backend::Backend;
use crate::linalg::CsrMatrix;

mod regime;

/// Vectors of the SpMM line (issue 13: 16 vectors in one SpMM against 16 single products).
const SPMM_VECTORS: usize = 16;

fn io(e: std::io::Error) -> QdError {
    QdError::io("writing the benchmark table", e)
}

/// Print a per-kernel profile (the 12 longest kernels and the rest summed, then the busy
/// time against the timeline) and return it as JSON.
pub fn print_kernel_profile(p: &crate::backend::gpu::KernelProfile, out: &mut dyn Write) -> Result<Value> {
    let total = p.busy_s.max(1e-300);
    writeln!(out, "  kernel profile (GPU timestamps, one pass per dispatch): {} dispatches", p.dispatches()).map_err(io)?;
    writeln!(out, "    {:<22} {:>9} {:>10} {:>9} {:>6}", "kernel", "dispatches", "device ms", "µs each", "share").map_err(io)?;
    for k in p.kernels.iter().take(12) {
        writeln!(out, "    {:<22} {:>9} {:>10.3} {:>9.2} {:>5.1}%", k.kernel, k.dispatches, 1e3 * k.seconds, 1e6 * k.seconds / k.dispatches.max(1) as f64, 100.0 * k.seconds / total).map_err(io)?;
    }
    if p.kernels.len() > 12 {
        let rest = &p.kernels[12..];
        let (n, t): (u64, f64) = rest.iter().fold((0, 0.0), |a, k| (a.0 + k.dispatches, a.1 + k.seconds));
        writeln!(out, "    {:<22} {:>9} {:>10.3} {:>9} {:>5.1}%", format!("({} others)", rest.len()), n, 1e3 * t, "", 100.0 * t / total).map_err(io)?;
    }
    writeln!(
        out,
        "    device busy {:.3} ms, gaps between dispatches of one submission {:.3} ms, timeline {:.3} ms (busy {:.0}%){}",
        1e3 * p.busy_s,
        1e3 * p.in_batch_gaps_s,
        1e3 * p.timeline_s,
        100.0 * p.busy_s / p.timeline_s.max(1e-300),
        if p.lost_batches > 0 { format!("; {} batches lost", p.lost_batches) } else { String::new() }
    )
    .map_err(io)?;
    let kernels: Vec<Value> = p.kernels.iter().map(|k| json!({"kernel": k.kernel, "dispatches": k.dispatches, "seconds": k.seconds})).collect();
    Ok(json!({"kernels": kernels, "busy_s": p.busy_s, "in_batch_gaps_s": p.in_batch_gaps_s, "timeline_s": p.timeline_s, "lost_batches": p.lost_batches}))
}

/// Bytes one CSR product must move with values of `elem` bytes: value + 4-byte column per
/// nonzero, row pointers, x read once, y written once.
pub fn spmv_bytes(a: &CsrMatrix, elem: usize) -> usize {
    (elem + 4) * a.nnz() + 4 * (a.nrows + 1) + elem * a.ncols + elem * a.nrows
}

/// Bytes of one vector element on `g` (f32 or f64 storage).
fn elem_bytes(g: &GpuBackend) -> f64 {
    if g.precision_bits() == 64 {
        8.0
    } else {
        4.0
    }
}

/// Device seconds per call of `f` (one dispatch): `reps` calls recorded in one compute pass
/// between two GPU timestamps (as CUDA events time kernels), after one warm-up. Falls back
/// to wall time around a synchronising read-back where the adapter has no timestamps.
fn gpu_time(g: &GpuBackend, reps: usize, sync: &dyn Fn(), f: &mut dyn FnMut()) -> f64 {
    gpu_time_calls(g, reps, 1, sync, f)
}

/// Wall seconds of streaming copies run before each timing on a hardware GPU.
const CLOCK_WARMUP_S: f64 = 0.15;

/// Bring the GPU's clocks up before a timing: ~`CLOCK_WARMUP_S` of back-to-back 64 MB
/// copies. Measured on the H200 (nvidia-smi every 100 ms, 2026-12-03): after ~0.3 s without
/// work the SM clock falls from 1980 MHz towards 345 MHz (the memory clock stays at
/// 3201 MHz), and a timing of short kernels taken then runs at a fraction of the
/// bandwidth: that was the "slow regime" of the copies (the 208³ table was measured right
/// after seconds of host work building and uploading its matrix; the stencil product has
/// a second cause, the allocations before it: see regime.rs). Software
/// adapters (lavapipe) have no clocks to raise and skip this.
fn warm_clocks(g: &GpuBackend, sync: &dyn Fn()) {
    if g.adapter().device_type.eq_ignore_ascii_case("cpu") {
        return;
    }
    let n = 16 << 20;
    let x = g.alloc(n);
    let mut y = g.alloc(n);
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < CLOCK_WARMUP_S {
        for _ in 0..32 {
            g.copy_vec4(&x, &mut y);
        }
        sync();
    }
}

/// [`gpu_time`] of an `f` that records `dispatches` dispatches per call (the repetitions
/// are cut so that they fit one pass), after [`warm_clocks`].
fn gpu_time_calls(g: &GpuBackend, reps: usize, dispatches: usize, sync: &dyn Fn(), f: &mut dyn FnMut()) -> f64 {
    warm_clocks(g, sync);
    f();
    sync();
    let reps = reps.min((crate::backend::gpu::FLUSH_EVERY - 1) / dispatches.max(1)).max(1);
    if let Some(t) = g.time_device(&mut || {
        for _ in 0..reps {
            f();
        }
    }) {
        return (t / reps as f64).max(1e-12);
    }
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    sync();
    (t.elapsed().as_secs_f64() / reps as f64).max(1e-12)
}

/// Write a CSR matrix as three .npy files (f64; exact for indices below 2^53).
pub fn export_csr(a: &CsrMatrix, dir: &Path, stem: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| QdError::io(format!("creating {}", dir.display()), e))?;
    let rp: Vec<f64> = a.row_ptr.iter().map(|&v| v as f64).collect();
    let col: Vec<f64> = a.col.iter().map(|&v| v as f64).collect();
    crate::output::npy::write_npy(&dir.join(format!("{stem}_row_ptr.npy")), &[rp.len()], &rp)?;
    crate::output::npy::write_npy(&dir.join(format!("{stem}_col.npy")), &[col.len()], &col)?;
    crate::output::npy::write_npy(&dir.join(format!("{stem}_val.npy")), &[a.val.len()], &a.val)?;
    Ok(())
}

/// Run the GPU benchmark on `sizes` (n³ dot Hamiltonians) and the eigen test on
/// `eigen_size`³. `reps`: products per timing. `with_regime`: run the memory-regime reproducer
/// after the table (it allocates up to 8 GiB).
#[allow(clippy::too_many_arguments)]
pub fn run(g: &GpuBackend, sizes: &[usize], eigen_size: Option<usize>, nev: usize, reps: usize, filter_degree: usize, with_regime: bool, export: Option<&Path>, out: &mut dyn Write) -> Result<Value> {
    let a0 = g.adapter();
    let (prec, e) = if g.precision_bits() == 64 { ("f64", 8) } else { ("f32", 4) };
    writeln!(out, "\nqdsim-gpu bench --gpu: adapter [{}] {} ({}, {}), {prec}", a0.index, a0.name, a0.api, a0.device_type).map_err(io)?;
    // latency of one synchronising round trip: a dot product of two short vectors
    let (u, w) = (g.random(1024, 3), g.random(1024, 4));
    let _ = g.dot(&u, &w);
    let t = Instant::now();
    for _ in 0..100 {
        std::hint::black_box(g.dot(&u, &w));
    }
    let sync_s = t.elapsed().as_secs_f64() / 100.0;
    writeln!(out, "  one synchronising read-back (a dot of 1024 elements): {:.1} µs", sync_s * 1e6).map_err(io)?;
    writeln!(out, "spmv y = A x, CSR {prec}; bytes = {} nnz + 4 (nrows+1) + {e} ncols + {e} nrows; copy = our copy kernel, {} bytes per element", e + 4, 2 * e).map_err(io)?;
    writeln!(out, "  {:>5} {:>10} {:>10} {:>9} {:>10} {:>9} {:>10} {:>8}", "n", "rows", "nnz", "MB", "spmv ms", "GB/s", "copy GB/s", "/copy").map_err(io)?;
    let mut rows = Vec::new();
    for &n in sizes {
        let a = dot_hamiltonian(n);
        if let Err(why) = g.fits_matrix(&a) {
            writeln!(out, "  {n:>5}: does not fit the adapter ({why}), skipped").map_err(io)?;
            continue;
        }
        if let Some(dir) = export {
            export_csr(&a, dir, &format!("dot{n}"))?;
        }
        let x = g.random(a.nrows, 1);
        let mut y = g.alloc(a.nrows);
        let probe = g.from_host(&[1.0]); // non-zero: reading it back synchronises
        let sync = || {
            let _ = g.to_host(&probe);
        };
        // both layouts on the same matrix, the one the options name (QDSIM_SPMV_LAYOUT, read
        // by cli/) first (default: stencil), since the first large allocation of a process
        // can run faster (docs/performance.md)
        let first = g.spmv_layout().unwrap_or(SpmvLayout::Stencil);
        let mut t_layout = [0.0; 2];
        for layout in [first, if first == SpmvLayout::Csr { SpmvLayout::Stencil } else { SpmvLayout::Csr }] {
            let m = g.upload_matrix_layout(&a, Some(layout));
            t_layout[(layout == SpmvLayout::Stencil) as usize] = gpu_time(g, reps, &sync, &mut || g.spmv(&m, &x, &mut y));
        }
        let [t_spmv, t_stencil] = t_layout;
        let m = g.upload_matrix(&a); // the layout a solve uses
        let mut z = g.alloc(a.nrows);
        let t_copy = gpu_time(g, reps, &sync, &mut || g.copy(&x, &mut z));
        let t_copy4 = gpu_time(g, reps, &sync, &mut || g.copy_vec4(&x, &mut z));
        let copy4_gbs = 2.0 * elem_bytes(g) * (a.nrows / 4 * 4) as f64 / t_copy4 / 1e9;
        writeln!(out, "        copy with vec4 loads: {copy4_gbs:.1} GB/s").map_err(io)?;
        {
            // the same copy on arrays allocated after the matrix uploads (before the clock
            // warm-up the 208³ copy above ran at 40 % of the reproducer's rate, on every
            // array: it was the idle clock, not the arrays)
            let x2 = g.random(a.nrows, 7);
            let mut z2 = g.alloc(a.nrows);
            let t_fresh = gpu_time(g, reps, &sync, &mut || g.copy_vec4(&x2, &mut z2));
            let t_xz2 = gpu_time(g, reps, &sync, &mut || g.copy_vec4(&x, &mut z2));
            let t_x2z = gpu_time(g, reps, &sync, &mut || g.copy_vec4(&x2, &mut z));
            let r = |t: f64| 2.0 * elem_bytes(g) * (a.nrows / 4 * 4) as f64 / t / 1e9;
            writeln!(out, "        copy with vec4 loads, fresh arrays after the uploads: {:.1} GB/s; old x to fresh z: {:.1}; fresh x to old z: {:.1}", r(t_fresh), r(t_xz2), r(t_x2z)).map_err(io)?;
        }
        let elem = if g.precision_bits() == 64 { 8 } else { 4 };
        let bytes = spmv_bytes(&a, elem);
        let gbs = bytes as f64 / t_spmv / 1e9;
        let copy_gbs = 2.0 * elem_bytes(g) * a.nrows as f64 / t_copy / 1e9;
        writeln!(
            out,
            "  {:>5} {:>10} {:>10} {:>9.1} {:>10.4} {:>9.1} {:>10.1} {:>7.0}%",
            n,
            a.nrows,
            a.nnz(),
            bytes as f64 / 1e6,
            t_spmv * 1e3,
            gbs,
            copy_gbs,
            100.0 * gbs / copy_gbs
        )
        .map_err(io)?;
        let stencil_bytes = 6 * a.nrows * elem;
        writeln!(
            out,
            "        stencil layout: {:.4} ms, {:.1} GB/s of its {:.1} MB (6 values per row), {:.0}% of copy, {:.2}x faster than CSR",
            t_stencil * 1e3,
            stencil_bytes as f64 / t_stencil / 1e9,
            stencil_bytes as f64 / 1e6,
            100.0 * stencil_bytes as f64 / t_stencil / 1e9 / copy_gbs,
            t_spmv / t_stencil
        )
        .map_err(io)?;
        let spmm = spmm_line(g, &a, reps, &sync, out)?;
        // CG on H x = b (H is positive definite: every level lies above 0 eV), Jacobi
        // preconditioner, relative residual 1e-5 (f32), from x = 0, b = ones
        let b = g.from_host(&vec![1.0; a.nrows]);
        let inv_diag = g.from_host(&a.diagonal().iter().map(|d| 1.0 / d).collect::<Vec<_>>());
        let mut xs = g.alloc(a.nrows);
        let t = Instant::now();
        let cg = crate::linalg::cg::cg(g, &m, &b, &mut xs, Some(&inv_diag), &crate::linalg::cg::CgOptions { tol: 1e-5, max_iterations: 10_000 });
        let cg_s = t.elapsed().as_secs_f64();
        writeln!(out, "        CG (Jacobi, rel. residual 1e-5): {} iterations in {:.3} s, converged {}", cg.iterations, cg_s, cg.converged).map_err(io)?;
        // to 1e-8 by mixed-precision refinement: residuals in f64 on the host
        let host = crate::backend::CpuBackend::new();
        let precondition = crate::linalg::cg::Jacobi::new(g, &a);
        let mut xr = vec![0.0; a.nrows];
        let t = Instant::now();
        let cgr = crate::linalg::cg::cg_refined(g, &m, &precondition, &host, &a, &vec![1.0; a.nrows], &mut xr, &crate::linalg::cg::CgOptions { tol: 1e-8, max_iterations: 20_000 });
        let cgr_s = t.elapsed().as_secs_f64();
        writeln!(out, "        CG refined in f64 (rel. residual 1e-8): {} iterations in {:.3} s, converged {} ({:.2e})", cgr.iterations, cgr_s, cgr.converged, cgr.relative_residual).map_err(io)?;
        rows.push(json!({"n": n, "rows": a.nrows, "nnz": a.nnz(), "bytes": bytes, "spmv_s": t_spmv, "stencil_spmv_s": t_stencil, "stencil_bytes": stencil_bytes, "gbs": gbs, "copy_gbs": copy_gbs, "ratio_to_copy": gbs / copy_gbs, "spmm": spmm,
            "cg": {"iterations": cg.iterations, "seconds": cg_s, "converged": cg.converged, "relative_residual": cg.relative_residual},
            "cg_refined_1e-8": {"iterations": cgr.iterations, "seconds": cgr_s, "converged": cgr.converged, "relative_residual": cgr.relative_residual}}));
    }
    // the memory-regime reproducer after the table, on operands of the largest product's
    // vector length: run first, its allocations (up to 8 GiB, freed) left the 208³ stencil
    // product of the table at 0.21 ms where a process without them runs it at 0.062 ms
    // (H200, 2026-12-03), while copies stayed at full rate
    let regime_n = sizes.iter().map(|&n| n * n * n).max().unwrap_or(1 << 20);
    let regime = if with_regime { regime::run(g, regime_n, reps, out)? } else { Value::Null };
    let mut eigen = Value::Null;
    if let Some(n) = eigen_size {
        let a = dot_hamiltonian(n);
        let opts = crate::pipeline::SolveOptions {
            states: nev,
            tolerance: 1e-8,
            max_matvecs: 200_000,
            block_size: 3,
            force_iterative: true,
            filter_degree,
            eigensolver: Default::default(),
            dims: Some([n, n, n]),
        };
        let tb = crate::backend::timing::TimingBackend::new(g);
        let t = Instant::now();
        let sol = crate::pipeline::solve(&tb, &a, &opts, None, &mut |_| {})?;
        let secs = t.elapsed().as_secs_f64();
        let ops = tb.times();
        writeln!(
            out,
            "  host time in backend calls (GPU work is waited for in the read-backs: dots and downloads): spmv {:.3} s, Gram-Schmidt {:.3} s ({} block dots), restart {:.3} s, other {:.3} s",
            ops.spmv_s, ops.orthogonalise_s, ops.multi_dot_calls, ops.combine_s, ops.other_vector_s
        )
        .map_err(io)?;
        writeln!(
            out,
            "lowest {nev} states of the {n}³ dot on the GPU, filter degree {filter_degree}: {secs:.2} s (Lanczos {:.2} s, f64 refinement on the host {:.2} s), {} products, converged {}, tol {:e}·‖H‖, max residual {:.2e} eV",
            sol.eigensolver_s,
            sol.refine_s,
            sol.matvecs,
            sol.converged,
            sol.tolerance,
            sol.residuals.iter().copied().fold(0.0, f64::max)
        )
        .map_err(io)?;
        writeln!(out, "  eigenvalues (eV): {}", sol.energies.iter().map(|e| format!("{e:.10}")).collect::<Vec<_>>().join(" ")).map_err(io)?;
        eigen = json!({"n": n, "nev": nev, "seconds": secs, "eigensolver_s": sol.eigensolver_s, "refine_s": sol.refine_s, "transfers": g.stats().to_json(), "matvecs": sol.matvecs, "restarts": sol.restarts, "converged": sol.converged,
            "tolerance": sol.tolerance, "values_ev": sol.energies, "residuals_ev": sol.residuals, "norm_estimate_ev": sol.norm_estimate});
        if let Some(dir) = export {
            if !sizes.contains(&n) {
                export_csr(&a, dir, &format!("dot{n}"))?;
            }
        }
    }
    Ok(json!({"adapter": g.adapter(), "sync_latency_s": sync_s, "memory_regime": regime, "spmv": rows, "eigen": eigen, "transfers": g.stats().to_json()}))
}

/// The SpMM line of one matrix: [`SPMM_VECTORS`] vectors in one `spmm` against as many
/// single products, in the stencil layout and in CSR, as vectors per second of device time.
fn spmm_line(g: &GpuBackend, a: &CsrMatrix, reps: usize, sync: &dyn Fn(), out: &mut dyn Write) -> Result<Value> {
    let k = SPMM_VECTORS;
    let xs: Vec<_> = (0..k).map(|j| g.random(a.nrows, 100 + j as u64)).collect();
    let mut ys: Vec<_> = (0..k).map(|_| g.alloc(a.nrows)).collect();
    let mut res = Vec::new();
    for layout in [SpmvLayout::Stencil, SpmvLayout::Csr] {
        let m = g.upload_matrix_layout(a, Some(layout));
        if m.layout() != layout {
            continue; // not a stencil (or too long for one chunk)
        }
        let block_dispatches = if g.has_block_kernels() { k.div_ceil(8) } else { k };
        let t_single = gpu_time_calls(g, reps, k, sync, &mut || {
            for (x, y) in xs.iter().zip(ys.iter_mut()) {
                g.spmv(&m, x, y);
            }
        });
        let t_block = gpu_time_calls(g, reps, block_dispatches, sync, &mut || g.spmm(&m, &xs, &mut ys));
        let (vs_single, vs_block) = (k as f64 / t_single, k as f64 / t_block);
        writeln!(
            out,
            "        SpMM {layout:?}, {k} vectors: one spmm {:.4} ms = {:.0} vectors/s; {k} spmv {:.4} ms = {:.0} vectors/s; {:.2}x{}",
            t_block * 1e3,
            vs_block,
            t_single * 1e3,
            vs_single,
            vs_block / vs_single,
            if g.has_block_kernels() { "" } else { " (no block kernels on this adapter: spmm is per column)" }
        )
        .map_err(io)?;
        res.push(json!({"layout": layout, "vectors": k, "spmm_s": t_block, "single_s": t_single, "spmm_vectors_per_s": vs_block, "single_vectors_per_s": vs_single, "speedup": vs_block / vs_single}));
    }
    Ok(Value::Array(res))
}
