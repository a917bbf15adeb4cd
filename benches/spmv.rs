//! Criterion benches of the CPU backend on the standard "3D dot" problem
//! (see `qdsim_gpu::bench`): spmv at 64³ and 128³ with the bytes the product must move,
//! a memory copy of the same byte count, and the 10 lowest states of the 64³ dot.
//!
//! `cargo bench --bench spmv` (all), `cargo bench --bench spmv -- spmv` (products only).

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

criterion_group!(benches, spmv_and_copy, lanczos);
criterion_main!(benches);
