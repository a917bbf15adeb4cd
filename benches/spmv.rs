//! Criterion benches of the CPU backend on the standard "3D dot" problem
//! (see `qdsim_gpu::bench`): spmv at 64³ and 128³ with the bytes the product must move,
//! a memory copy of the same byte count, and the 10 lowest states of the 64³ dot; the
//! multigrid V-cycle of H − σ on a block of 8 columns against 8 single cycles; and LOBPCG
//! against Lanczos through the pipeline's solve on the eigensolver benchmark's small cases
//! (`qdsim_gpu::bench::eigen`; the full-size ones are `qdsim-gpu bench --eigensolvers`).
//!
//! `cargo bench --bench spmv` (all), `cargo bench --bench spmv -- spmv` (products only),
//! `cargo bench --bench spmv -- eigensolvers`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use qdsim_gpu::backend::CpuBackend;
use qdsim_gpu::bench::{dot_hamiltonian, spmv_bytes};
use qdsim_gpu::linalg::lanczos::{lowest_eigenpairs, LanczosOptions};
use qdsim_gpu::linalg::Backend;
use rayon::prelude::*;

fn spmv_and_copy(c: &mut Criterion) {
    let be = CpuBackend::new();
    let mut g = c.benchmark_group("spmv");
    for n in [64usize, 128] {
        let a = dot_hamiltonian(n);
        let bytes = spmv_bytes(&a);
        let x = be.random(a.nrows, 1);
        let mut y = be.alloc(a.nrows);
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(BenchmarkId::new("dot", n), |b| b.iter(|| be.spmv(black_box(&a), black_box(&x), &mut y)));

        // a copy moving the same bytes (read + write): half of them read, half written
        let len = bytes / 16;
        let src: Vec<f64> = (0..len).map(|i| i as f64).collect();
        let mut dst = vec![0.0f64; len];
        g.bench_function(BenchmarkId::new("memcpy_same_bytes", n), |b| {
            b.iter(|| {
                dst.par_chunks_mut(1 << 16).zip(src.par_chunks(1 << 16)).for_each(|(d, s)| d.copy_from_slice(s));
                black_box(&dst);
            })
        });
    }
    g.finish();
}

fn lanczos(c: &mut Criterion) {
    let be = CpuBackend::new();
    let a = dot_hamiltonian(64);
    let mut g = c.benchmark_group("lanczos");
    g.sample_size(10);
    let opts = LanczosOptions { nev: 10, tol: 1e-8, block_size: 3, ..Default::default() };
    g.bench_function("dot64_10_states", |b| {
        b.iter(|| {
            let r = lowest_eigenpairs(&be, &a, &opts, &mut |_| {});
            assert!(r.converged);
            black_box(r.values)
        })
    });
    g.finish();
}

fn vcycle_block(c: &mut Criterion) {
    let be = CpuBackend::new();
    let a = dot_hamiltonian(64);
    let mg = qdsim_gpu::linalg::lobpcg::shifted_multigrid(&be, [64, 64, 64], &a).unwrap();
    let rs: Vec<Vec<f64>> = (0..8).map(|j| be.random(a.nrows, 10 + j)).collect();
    let mut zs: Vec<Vec<f64>> = (0..8).map(|_| be.alloc(a.nrows)).collect();
    let mut g = c.benchmark_group("vcycle");
    g.sample_size(10);
    g.bench_function("dot64_block_of_8", |b| b.iter(|| mg.vcycle_block(&be, &rs, &mut zs)));
    g.bench_function("dot64_8_single", |b| {
        b.iter(|| {
            for (r, z) in rs.iter().zip(zs.iter_mut()) {
                mg.vcycle(&be, r, z);
            }
        })
    });
    g.finish();
}

fn eigensolvers(c: &mut Criterion) {
    use qdsim_gpu::bench::eigen::{case, solve_case};
    use qdsim_gpu::scene::Eigensolver;
    let be = CpuBackend::new();
    let mut g = c.benchmark_group("eigensolvers");
    g.sample_size(10);
    for name in ["wire120", "dot32"] {
        let cs = case(name).unwrap();
        let a = cs.matrix().unwrap();
        for s in [Eigensolver::Lobpcg, Eigensolver::Lanczos] {
            g.bench_function(BenchmarkId::new(s.as_str(), name), |b| {
                b.iter(|| {
                    let r = solve_case(&be, &cs, &a, s).unwrap();
                    assert_eq!(r["converged"], true);
                    black_box(r)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, spmv_and_copy, lanczos, vcycle_block, eigensolvers);
criterion_main!(benches);
