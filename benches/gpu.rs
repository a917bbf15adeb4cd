//! Criterion benches of the GPU backend next to the CPU backend, on the standard "3D dot"
//! problem (see `qdsim_gpu::bench`): spmv in both layouts (CSR and the grid operators'
//! stencil) with the bytes each must move, dot, a Jacobi-CG solve, and the 10 lowest states.
//!
//! `cargo bench --bench gpu` (needs a GPU adapter; without one only the CPU rows run). The
//! sizes default to 64³ and 128³ (8M unknowns is `QDSIM_BENCH_SIZES=64,208`); wall times
//! include the synchronising read-back each iteration ends with, so for kernel times use
//! `qdsim-gpu bench --gpu` (GPU timestamps).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use qdsim_gpu::backend::gpu::stencil::SpmvLayout;
use qdsim_gpu::backend::{CpuBackend, GpuBackend};
use qdsim_gpu::bench::{dot_hamiltonian, spmv_bytes};
use qdsim_gpu::linalg::cg::{pcg, CgOptions, Jacobi};
use qdsim_gpu::linalg::lanczos::{lowest_eigenpairs, LanczosOptions};
use qdsim_gpu::linalg::Backend;

fn sizes() -> Vec<usize> {
    std::env::var("QDSIM_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![64, 128])
}

fn gpu() -> Option<GpuBackend> {
    GpuBackend::new(None, true).ok().flatten()
}

fn products(c: &mut Criterion) {
    let cpu = CpuBackend::new();
    let g = gpu();
    let mut grp = c.benchmark_group("gpu_spmv");
    for n in sizes() {
        let a = dot_hamiltonian(n);
        grp.throughput(Throughput::Bytes(spmv_bytes(&a) as u64));
        let x = cpu.random(a.nrows, 1);
        let mut y = cpu.alloc(a.nrows);
        grp.bench_function(BenchmarkId::new("cpu_csr", n), |b| b.iter(|| cpu.spmv(black_box(&a), black_box(&x), &mut y)));
        if let Some(g) = &g {
            let gx = g.random(a.nrows, 1);
            let mut gy = g.alloc(a.nrows);
            let elem = if g.precision_bits() == 64 { 8 } else { 4 };
            for layout in [SpmvLayout::Csr, SpmvLayout::Stencil] {
                let m = g.upload_matrix_layout(&a, Some(layout));
                // bytes of 20 products in the working precision: CSR's values, columns, row
                // pointers, x and y; the stencil's four coefficient arrays, x and y
                let one = match layout {
                    SpmvLayout::Csr => (elem + 4) * a.nnz() + 4 * (a.nrows + 1) + 2 * elem * a.nrows,
                    SpmvLayout::Stencil => 6 * elem * a.nrows,
                    // (not in the loop: transfers are uploaded by upload_transfer)
                    SpmvLayout::Aggregation => 2 * elem * a.nrows,
                };
                grp.throughput(Throughput::Bytes(20 * one as u64));
                let name = format!("gpu_{layout:?}").to_lowercase();
                // 20 products per sample, then one read-back: the batch the solvers see
                grp.bench_function(BenchmarkId::new(name, n), |b| {
                    b.iter(|| {
                        for _ in 0..20 {
                            g.spmv(&m, &gx, &mut gy);
                        }
                        black_box(g.dot(&gy, &gy))
                    })
                });
            }
            grp.throughput(Throughput::Bytes((elem * a.nrows) as u64));
            grp.bench_function(BenchmarkId::new("gpu_dot", n), |b| b.iter(|| black_box(g.dot(&gx, &gx))));
        }
        grp.throughput(Throughput::Bytes((8 * a.nrows) as u64));
        grp.bench_function(BenchmarkId::new("cpu_dot", n), |b| b.iter(|| black_box(cpu.dot(&x, &x))));
    }
    grp.finish();
}

fn solvers(c: &mut Criterion) {
    let cpu = CpuBackend::new();
    let g = gpu();
    let n = *sizes().first().unwrap_or(&64);
    let a = dot_hamiltonian(n);
    let mut grp = c.benchmark_group("gpu_solvers");
    grp.sample_size(10);
    let opts = CgOptions { tol: 1e-5, max_iterations: 5000 };
    let b = vec![1.0; a.nrows];
    let pc = Jacobi::new(&cpu, &a);
    grp.bench_function(BenchmarkId::new("cpu_cg_jacobi_1e-5", n), |bch| {
        bch.iter(|| {
            let mut x = cpu.alloc(a.nrows);
            black_box(pcg(&cpu, &a, &b, &mut x, &pc, &opts))
        })
    });
    let lopts = LanczosOptions { nev: 10, tol: 1e-6, block_size: 3, filter_degree: 16, ..Default::default() };
    grp.bench_function(BenchmarkId::new("cpu_10_states", n), |bch| bch.iter(|| black_box(lowest_eigenpairs(&cpu, &a, &lopts, &mut |_| {}).values)));
    if let Some(g) = &g {
        let m = g.upload_matrix(&a);
        let gb = g.from_host(&b);
        let gpc = Jacobi::new(g, &a);
        grp.bench_function(BenchmarkId::new("gpu_cg_jacobi_1e-5", n), |bch| {
            bch.iter(|| {
                let mut x = g.alloc(a.nrows);
                black_box(pcg(g, &m, &gb, &mut x, &gpc, &opts))
            })
        });
        grp.bench_function(BenchmarkId::new("gpu_10_states", n), |bch| bch.iter(|| black_box(lowest_eigenpairs(g, &m, &lopts, &mut |_| {}).values)));
    }
    grp.finish();
}

criterion_group!(benches, products, solvers);
criterion_main!(benches);
