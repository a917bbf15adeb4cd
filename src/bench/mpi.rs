//! `qdsim-gpu scaling`: strong and weak scaling of the distributed backend, run under
//! `mpirun -np N` (one rank without it).
//!
//! The operator is the benchmark's 3D dot Hamiltonian ([`crate::bench::dot_hamiltonian`]):
//! `n × n × n` cells for strong scaling (the same problem on every rank count), `n × n ×
//! (n·N)` for weak scaling (`n³` cells per rank: a longer box at the same spacing). Per
//! configuration it times, on each rank's local backend (CPU threads or one GPU adapter)
//! wrapped in the distributed backend:
//! - one product `y = H x` with its halo exchange (mean of `repetitions`, after warm-up);
//! - one iteration of Jacobi-preconditioned CG on `H` (SPD: the band edges are positive),
//!   a fixed number of iterations;
//! - the `states` lowest eigenpairs by Lanczos with the settings of `solve`, and the time
//!   per operator application (the eigensolver's iteration count depends on the spectrum,
//!   which changes with the box, so weak scaling compares the time per application).
//!
//! Times are wall-clock on rank 0 after a synchronising reduction. Only rank 0 prints and
//! writes the JSON.

use std::time::Instant;

use serde_json::{json, Value};

use crate::backend::{CpuBackend, GpuBackend};
use crate::error::{QdError, Result};
use crate::linalg::backend::Backend;
use crate::linalg::cg::{pcg, CgOptions, Jacobi};
use crate::linalg::lanczos::{lowest_eigenpairs, LanczosOptions};
use crate::linalg::CsrMatrix;

#[derive(Clone, Debug)]
pub struct ScalingOptions {
    /// Cells per axis of the per-rank (weak) or whole (strong) cube.
    pub n: usize,
    pub weak: bool,
    pub gpu: bool,
    pub adapter: Option<String>,
    /// How the GPU backend is set up (with `gpu`).
    pub gpu_options: crate::backend::gpu::GpuOptions,
    pub repetitions: usize,
    pub cg_iterations: usize,
    /// Lowest states for the eigensolver timing (0: skip).
    pub states: usize,
}

/// Build the problem for this job's rank count and time it (collective).
pub fn run(o: &ScalingOptions) -> Result<Value> {
    if o.n < 4 {
        return Err(QdError::input("--size", "must be at least 4 cells per axis"));
    }
    let ranks = crate::parallel::world().map(|w| w.size()).unwrap_or(1);
    let dims = [o.n, o.n, if o.weak { o.n * ranks } else { o.n }];
    let t = Instant::now();
    let h = crate::bench::dot_hamiltonian_dims(dims);
    let assemble_s = t.elapsed().as_secs_f64();
    let mut v = if o.gpu {
        let adapter = crate::parallel::adapter_for_rank(o.adapter.as_deref());
        let g = GpuBackend::with_options(adapter.as_deref(), true, o.gpu_options.clone())?.ok_or_else(|| QdError::input("--gpu", "no GPU adapter (Vulkan, Metal or DX12) is available"))?;
        crate::on_ranks!(g, |be| measure(be, &h, o))
    } else {
        crate::on_ranks!(CpuBackend::new(), |be| measure(be, &h, o))
    };
    v["mode"] = json!(if o.weak { "weak" } else { "strong" });
    v["ranks"] = json!(ranks);
    v["grid"] = json!(dims);
    v["unknowns"] = json!(h.nrows);
    v["nonzeros"] = json!(h.nnz());
    v["assemble_host_s"] = json!(assemble_s);
    Ok(v)
}

fn measure<B: Backend>(be: &B, h: &CsrMatrix, o: &ScalingOptions) -> Value {
    let n = h.nrows;
    let t = Instant::now();
    let a = be.upload_matrix(h);
    let x = be.random(n, 11);
    let mut y = be.alloc(n);
    let _ = be.dot(&x, &x);
    let upload_s = t.elapsed().as_secs_f64();
    for _ in 0..3 {
        be.spmv(&a, &x, &mut y);
    }
    let _ = be.dot(&y, &y);
    let t = Instant::now();
    for _ in 0..o.repetitions.max(1) {
        be.spmv(&a, &x, &mut y);
    }
    let _ = be.dot(&y, &y);
    let spmv_ms = t.elapsed().as_secs_f64() * 1e3 / o.repetitions.max(1) as f64;
    // cumulative communication counters after each phase (distributed backend only)
    let mut comm = vec![be.details()["communication_rank0"].clone()];

    let jac = Jacobi::new(be, h);
    let b = be.random(n, 12);
    let mut z = be.alloc(n);
    let t = Instant::now();
    let cg = pcg(be, &a, &b, &mut z, &jac, &CgOptions { tol: 0.0, max_iterations: o.cg_iterations });
    let cg_ms = t.elapsed().as_secs_f64() * 1e3 / cg.iterations.max(1) as f64;
    comm.push(be.details()["communication_rank0"].clone());

    let eigen = if o.states > 0 {
        let tol = crate::pipeline::tolerance_floor(be.precision_bits()).max(1e-8);
        let lo = LanczosOptions {
            nev: o.states,
            tol: if be.precision_bits() < 64 { tol / 4.0 } else { tol },
            norm_bound: Some(h.norm_inf()),
            filter_degree: crate::pipeline::DEFAULT_FILTER_DEGREE,
            ..Default::default()
        };
        let t = Instant::now();
        let r = lowest_eigenpairs(be, &a, &lo, &mut |_| {});
        let s = t.elapsed().as_secs_f64();
        json!({
            "states": o.states,
            "seconds": s,
            "matvecs": r.matvecs,
            "ms_per_matvec": s * 1e3 / r.matvecs.max(1) as f64,
            "converged": r.converged,
            "lowest_ev": r.values.first(),
        })
    } else {
        Value::Null
    };
    comm.push(be.details()["communication_rank0"].clone());
    json!({
        "backend": be.name(),
        "details": be.details(),
        "upload_s": upload_s,
        "spmv_ms": spmv_ms,
        "cg_ms_per_iteration": cg_ms,
        "cg_iterations": cg.iterations,
        "eigen": eigen,
        "communication_after_spmv_cg_eigen": comm,
    })
}
