//! The GPU buffer manager (src/backend/gpu/memory.rs): transfer counts per placement, the
//! device-buffer pool, chunked arrays against the CPU backend, and use from several threads.
//! In CI the adapter is Mesa's lavapipe; without any adapter the tests skip under the one
//! rule of common.rs (and fail with QDSIM_REQUIRE_GPU=1).

use qdsim_gpu::backend::gpu::{GpuOptions, Home, Placement};
use qdsim_gpu::backend::{CpuBackend, GpuBackend};
use qdsim_gpu::linalg::backend::{random_values, Backend, Coeffs};
use qdsim_gpu::linalg::CsrMatrix;

use crate::common;
use crate::common::{close, laplacian3};

fn open(opts: GpuOptions) -> Option<GpuBackend> {
    common::gpu_with(opts)
}

/// The backend with its default placement (GpuOnly unless the environment says otherwise:
/// these tests fix it).
fn gpu() -> Option<GpuBackend> {
    open(GpuOptions { placement: Placement::GpuOnly, ..qdsim_gpu::cli::env::gpu_options_from_env().unwrap() })
}

/// A backend whose chunks hold `bytes` bytes (a small forced storage-binding limit).
fn chunked(bytes: u64) -> Option<GpuBackend> {
    open(GpuOptions { placement: Placement::GpuOnly, max_binding_bytes: Some(bytes), ..qdsim_gpu::cli::env::gpu_options_from_env().unwrap() })
}

fn h2d(g: &GpuBackend) -> u64 {
    g.stats().to_json()["bytes_host_to_device"].as_u64().unwrap()
}
fn d2h(g: &GpuBackend) -> u64 {
    g.stats().to_json()["bytes_device_to_host"].as_u64().unwrap()
}
fn elem(g: &GpuBackend) -> u64 {
    if g.precision_bits() == 64 {
        8
    } else {
        4
    }
}


fn rel_tol(g: &GpuBackend) -> f64 {
    if g.precision_bits() == 64 {
        1e-12
    } else {
        1e-5
    }
}

/// A symmetric, diagonally dominant matrix whose entries lie within `band` of the diagonal.
fn banded(n: usize, band: usize, seed: u64) -> CsrMatrix {
    let r = random_values(3 * n, seed);
    let mut t = Vec::new();
    for i in 0..n {
        t.push((i, i, 6.0 + r[i]));
        for (k, off) in [1usize, band / 2 + 1, band].into_iter().enumerate() {
            if off >= 1 && i + off < n {
                let v = 0.5 * r[n + (i * 3 + k) % (2 * n)];
                t.push((i, i + off, v));
                t.push((i + off, i, v));
            }
        }
    }
    CsrMatrix::from_triplets(n, n, &t)
}


#[test]
fn gpu_only_vectors_cross_to_the_host_only_when_read() {
    let Some(g) = gpu() else { return };
    let n = 1000;
    let a = banded(n, 20, 1);
    let ga = g.upload_matrix(&a);
    let x = random_values(n, 2);
    let h0 = h2d(&g);
    let gx = g.from_host(&x);
    // a GpuOnly array is uploaded at once, and keeps no host copy
    assert_eq!(h2d(&g) - h0, n as u64 * elem(&g));
    assert!(!gx.array().residency().host_copy);
    let (h1, d1) = (h2d(&g), d2h(&g));
    let mut y = g.alloc(n);
    let mut z = g.alloc(n);
    g.spmv(&ga, &gx, &mut y);
    g.axpy(0.5, &gx, &mut y);
    g.copy(&y, &mut z);
    g.scale(2.0, &mut z);
    g.spmv_axpby(&ga, &y, 1.0, -0.5, 0.25, &mut z);
    g.multi_axpy(&[g.from_host(&x)], &[1.0], &mut z);
    g.flush();
    assert_eq!(d2h(&g), d1, "nothing comes back before a read");
    assert_eq!(h2d(&g) - h1, n as u64 * elem(&g), "only the one from_host goes up");
    // reading moves exactly its bytes, every time (no mirror is kept)
    let host = g.to_host(&z);
    assert_eq!(d2h(&g) - d1, n as u64 * elem(&g));
    assert!(!z.array().residency().host_copy);
    let _ = g.to_host(&z);
    assert_eq!(d2h(&g) - d1, 2 * n as u64 * elem(&g));
    // and the values are right
    let c = CpuBackend::new();
    let mut cy = c.alloc(n);
    c.spmv(&a, &x, &mut cy);
    c.axpy(0.5, &x, &mut cy);
    let mut cz: Vec<f64> = cy.iter().map(|v| 2.0 * v).collect();
    c.spmv_axpby(&a, &cy, 1.0, -0.5, 0.25, &mut cz);
    c.axpy(1.0, &x, &mut cz);
    close(&host, &cz, rel_tol(&g));
    // a fresh vector reads as zeros without any transfer
    let d2 = d2h(&g);
    assert!(g.to_host(&g.alloc(n)).iter().all(|&v| v == 0.0));
    assert_eq!(d2h(&g), d2);
}

#[test]
fn unified_arrays_transfer_lazily_and_once() {
    let Some(g) = gpu() else { return };
    let n = 777;
    let bytes = n as u64 * elem(&g);
    let x = random_values(n, 3);
    let (h0, d0) = (h2d(&g), d2h(&g));
    let mut v = g.from_host_placed(&x, Placement::Unified);
    // host write then host read: no transfer
    assert_eq!(g.to_host(&v), g.to_host(&g.from_host_placed(&x, Placement::Unified)));
    close(&g.to_host(&v), &x, rel_tol(&g));
    assert_eq!((h2d(&g), d2h(&g)), (h0, d0));
    assert!(!v.array().residency().device_copy, "nothing on the device before a kernel");
    // the first kernel uploads once; a second kernel reuses the device copy
    g.scale(2.0, &mut v);
    g.scale(0.5, &mut v);
    g.flush();
    assert_eq!(h2d(&g) - h0, bytes);
    let r = v.array().residency();
    assert!(r.device_valid && !r.host_valid && r.home == Home::Both);
    // host read after a kernel downloads once; a second read does not
    close(&g.to_host(&v), &x, rel_tol(&g));
    assert_eq!(d2h(&g) - d0, bytes);
    close(&g.to_host(&v), &x, rel_tol(&g));
    assert_eq!(d2h(&g) - d0, bytes);
    let r = v.array().residency();
    assert!(r.device_valid && r.host_valid);
    // a kernel that only reads it keeps both copies current: no transfer either way
    let mut y = g.alloc(n);
    g.copy(&v, &mut y);
    let _ = g.to_host(&v);
    assert_eq!((h2d(&g) - h0, d2h(&g) - d0), (bytes, bytes));
    // a host write makes the device copy stale: the next kernel uploads again
    v.array().host_write(&vec![0u8; bytes as usize]);
    g.copy(&v, &mut y);
    assert_eq!(h2d(&g) - h0, 2 * bytes);
    assert!(g.to_host(&y).iter().all(|&e| e == 0.0));
}

#[test]
fn cpu_only_arrays_live_on_the_host() {
    let Some(g) = gpu() else { return };
    let n = 1500;
    let bytes = n as u64 * elem(&g);
    let x = random_values(n, 4);
    let (h0, d0) = (h2d(&g), d2h(&g));
    let mut v = g.from_host_placed(&x, Placement::CpuOnly);
    assert_eq!((h2d(&g), d2h(&g)), (h0, d0));
    let mut y = g.alloc(n);
    // every device read uploads a transient copy, freed afterwards
    g.axpy(1.0, &v, &mut y);
    g.axpy(1.0, &v, &mut y);
    assert_eq!(h2d(&g) - h0, 2 * bytes);
    assert!(!v.array().residency().device_copy);
    // a device write is copied back at once
    g.scale(3.0, &mut v);
    assert_eq!(h2d(&g) - h0, 3 * bytes);
    assert_eq!(d2h(&g) - d0, bytes);
    let r = v.array().residency();
    assert!(r.host_valid && !r.device_copy && r.home == Home::Host);
    // host reads cost nothing
    let host = g.to_host(&v);
    assert_eq!(d2h(&g) - d0, bytes);
    close(&host, &x.iter().map(|e| 3.0 * e).collect::<Vec<_>>(), rel_tol(&g));
    close(&g.to_host(&y), &x.iter().map(|e| 2.0 * e).collect::<Vec<_>>(), rel_tol(&g));
    // a dot of the array with itself (two views of one array) uploads it once
    let h1 = h2d(&g);
    let s = g.dot(&v, &v);
    assert_eq!(h2d(&g) - h1, bytes);
    let e: f64 = host.iter().map(|e| e * e).sum();
    assert!((s - e).abs() <= 1e-5 * e, "{s} vs {e}");
}

#[test]
fn adaptive_arrays_follow_the_side_that_uses_them() {
    let Some(g) = gpu() else { return };
    let n = 600;
    let bytes = n as u64 * elem(&g);
    let x = random_values(n, 5);
    // used by kernels: the host mirror goes
    let mut v = g.from_host_placed(&x, Placement::Adaptive);
    assert_eq!(v.array().residency().home, Home::Both);
    let h0 = h2d(&g);
    for _ in 0..8 {
        g.scale(1.0, &mut v);
    }
    assert_eq!(h2d(&g) - h0, bytes, "uploaded once");
    let r = v.array().residency();
    assert_eq!(r.home, Home::Device);
    assert!(!r.host_copy && r.device_valid);
    let d0 = d2h(&g);
    close(&g.to_host(&v), &x, rel_tol(&g));
    assert_eq!(d2h(&g) - d0, bytes);
    assert!(!v.array().residency().host_copy, "a device-resident array keeps no mirror");
    // read on the host: the device copy goes
    let w = g.from_host_placed(&x, Placement::Adaptive);
    let mut y = g.alloc(n);
    g.copy(&w, &mut y); // a device copy exists now
    assert!(w.array().residency().device_copy);
    let d1 = d2h(&g);
    for _ in 0..8 {
        let _ = g.to_host(&w);
    }
    assert_eq!(d2h(&g), d1, "the host copy was current");
    let r = w.array().residency();
    assert_eq!(r.home, Home::Host);
    assert!(!r.device_copy && r.host_valid);
    // a kernel now reads a transient upload
    let h1 = h2d(&g);
    g.axpy(1.0, &w, &mut y);
    assert_eq!(h2d(&g) - h1, bytes);
    assert!(!w.array().residency().device_copy);
    close(&g.to_host(&y), &x.iter().map(|e| 2.0 * e).collect::<Vec<_>>(), rel_tol(&g));
}

#[test]
fn freed_buffers_are_reused_and_come_back_zeroed() {
    let Some(g) = gpu() else { return };
    let n = 5000;
    let s = |k: &str| g.stats().to_json()[k].as_u64().unwrap();
    let mut a = g.alloc(n);
    g.fill(&mut a, 7.0);
    drop(a);
    let (hits, allocs) = (s("pool_hits"), s("allocations"));
    // a fresh vector takes the freed buffer on first device use, cleared: it reads as zeros
    let z = g.alloc(n);
    let mut w = g.alloc(n);
    g.copy(&z, &mut w);
    assert!(s("pool_hits") > hits, "a buffer of the freed size came from the pool");
    assert!(g.to_host(&w).iter().all(|&v| v == 0.0));
    let j = g.stats().to_json();
    assert_eq!(j["allocations"].as_u64().unwrap(), allocs + 1, "one new buffer for the two vectors: {j}");
    assert!(j["peak_device_bytes"].as_u64().unwrap() >= j["device_bytes"].as_u64().unwrap());
    // staging buffers are reused by repeated downloads and uploads
    let st = s("staging_pool_hits");
    for _ in 0..4 {
        let _ = g.to_host(&w);
        let _ = g.from_host(&vec![2.0; n]);
    }
    assert!(s("staging_pool_hits") >= st + 6, "{}", g.stats().to_json());
}

#[test]
fn a_large_upload_cycles_a_ring_of_staging_buffers() {
    // 80 M values (320 MB in f32, 640 MB in f64) through staging pieces of 32 MB: the upload
    // takes back the buffers of its submitted pieces, or waits for them once 128 MB are out
    // (`upload_waits`: whether it waited depends on the device's pace), instead of creating
    // a buffer per piece (pinned host memory on a discrete GPU; 10 or 20 here before). The
    // values arrive converted, piece by piece, in order.
    let Some(g) = gpu() else { return };
    let s = |k: &str| g.stats().to_json()[k].as_u64().unwrap();
    let n = 80_000_000;
    let x: Vec<f64> = (0..n).map(|i| (i % 1_000_003) as f64 * 0.25 - 1.0e5).collect();
    let created = s("staging_buffers_created");
    let v = g.from_host(&x);
    assert!(s("staging_buffers_created") <= created + 5, "{}", g.stats().to_json());
    let back = g.to_host(&v);
    // (the values are exact in f32: quarters below 2^22)
    assert!(back == x, "the upload changed values");
}

#[test]
fn bind_groups_are_reused_and_never_keep_freed_memory() {
    // the same block operation on the same vectors binds the same buffers: one bind group,
    // reused; values as without the cache
    let Some(g) = gpu() else { return };
    let s = |k: &str| g.stats().to_json()[k].as_u64().unwrap();
    let n = 3000;
    let xs: Vec<_> = (0..8).map(|i| g.from_host(&random_values(n, i))).collect();
    let mut ys: Vec<_> = (0..8).map(|_| g.alloc(n)).collect();
    g.block_axpy(&[1.0; 8], &xs, &mut ys);
    let (created, hits) = (s("bind_groups_created"), s("bind_group_hits"));
    for _ in 0..4 {
        g.block_axpy(&[1.0; 8], &xs, &mut ys);
    }
    assert_eq!(s("bind_groups_created"), created, "{}", g.stats().to_json());
    assert_eq!(s("bind_group_hits"), hits + 4);
    for (j, y) in ys.iter().enumerate() {
        let want: Vec<f64> = random_values(n, j as u64).iter().map(|v| 5.0 * v).collect();
        close(&g.to_host(y), &want, rel_tol(&g));
    }
    // a pool that keeps nothing lets every freed buffer go: no cached group may keep one
    let Some(g) = open(GpuOptions { placement: Placement::GpuOnly, pool_bytes: 0, ..qdsim_gpu::cli::env::gpu_options_from_env().unwrap() }) else { return };
    let xs: Vec<_> = (0..8).map(|i| g.from_host(&random_values(n, i))).collect();
    let mut ys: Vec<_> = (0..8).map(|_| g.alloc(n)).collect();
    g.block_axpy(&[1.0; 8], &xs, &mut ys);
    g.flush();
    assert!(g.memory().cached_bind_groups() > 0);
    drop((xs, ys));
    assert_eq!(g.memory().cached_bind_groups(), 0, "groups of freed buffers stayed cached");
    assert_eq!(g.stats().to_json()["device_bytes"].as_u64().unwrap(), 0, "{}", g.stats().to_json());
}

#[test]
fn row_blocks_stay_in_chunks_and_windows() {
    let a = laplacian3(12);
    let blocks = qdsim_gpu::backend::gpu::plan_row_blocks(&a, 1024, 1024, 1024).unwrap();
    assert!(blocks.len() > 2);
    let mut next = 0;
    for b in &blocks {
        assert_eq!(b.rows.start, next);
        next = b.rows.end;
        assert_eq!(b.rows.start / 1024, (b.rows.end - 1) / 1024, "{b:?} crosses a chunk");
        assert!(b.wlen <= 1024 && b.w0 % 64 == 0);
        let nnz = a.row_ptr[b.rows.end] - a.row_ptr[b.rows.start];
        assert!(nnz <= 1024);
        for &c in &a.col[a.row_ptr[b.rows.start]..a.row_ptr[b.rows.end]] {
            assert!((c as usize) >= b.w0 && (c as usize) < b.w0 + b.wlen);
        }
    }
    assert_eq!(next, a.nrows);
    // the whole matrix in one binding: one block reading all of x
    let one = qdsim_gpu::backend::gpu::plan_row_blocks(&a, 1 << 20, 1 << 20, 1 << 20).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!((one[0].w0, one[0].wlen), (0, a.ncols));
    // a row reading columns across the whole matrix cannot be windowed
    let wide = CsrMatrix::from_triplets(5000, 5000, &[(0, 0, 1.0), (0, 4999, 1.0), (4999, 4999, 1.0)]);
    assert!(qdsim_gpu::backend::gpu::plan_row_blocks(&wide, 1024, 1024, 1024).is_err());
}

#[test]
fn chunked_vectors_match_the_cpu_backend() {
    // 4 KiB chunks: 1024 f32 (512 f64) elements per chunk
    let Some(g) = chunked(4096) else { return };
    let c = CpuBackend::new();
    let ce = g.max_elements();
    assert!(ce == 1024 || ce == 512, "{ce}");
    let tol = rel_tol(&g);
    for (n, seed) in [(1usize, 1u64), (255, 2), (ce - 1, 3), (ce, 4), (ce + 1, 5), (3 * ce + 77, 6), (5007, 7)] {
        let x = random_values(n, seed);
        let y = random_values(n, seed + 50);
        let (gx, mut gy) = (g.from_host(&x), g.from_host(&y));
        assert_eq!(g.to_host(&gx).len(), n);
        let mut cy = y.clone();
        g.axpy(0.75, &gx, &mut gy);
        c.axpy(0.75, &x, &mut cy);
        g.xpby(&gx, -0.5, &mut gy);
        c.xpby(&x, -0.5, &mut cy);
        let mut gz = g.alloc(n);
        let mut cz = c.alloc(n);
        g.pointwise_mul(&gx, &gy, &mut gz);
        c.pointwise_mul(&x, &cy, &mut cz);
        g.scale(-2.0, &mut gz);
        c.scale(-2.0, &mut cz);
        close(&g.to_host(&gy), &cy, tol);
        close(&g.to_host(&gz), &cz, tol);
        let (dg, dc) = (g.dot(&gx, &gz), c.dot(&x, &cz));
        assert!((dg - dc).abs() <= tol * 10.0 * dc.abs().max(1.0), "n {n}: dot {dg} vs {dc}");
        // batched dots and axpys over 11 basis vectors (two groups of eight)
        let basis: Vec<Vec<f64>> = (0..11).map(|k| random_values(n, 100 + k)).collect();
        let gb: Vec<_> = basis.iter().map(|b| g.from_host(b)).collect();
        let xs = [x.clone(), y.clone()];
        let gxs: Vec<_> = xs.iter().map(|v| g.from_host(v)).collect();
        close(&g.block_dot(&gb, &gxs), &c.block_dot(&basis, &xs), tol * 10.0);
        let coeff: Vec<f64> = (0..22).map(|k| 0.1 * k as f64 - 1.0).collect();
        let mut gout: Vec<_> = (0..2).map(|_| g.alloc(n)).collect();
        let mut cout: Vec<_> = (0..2).map(|_| c.alloc(n)).collect();
        g.combine(&gb, &Coeffs { rows: 11, cols: 2, data: &coeff }, &mut gout);
        c.combine(&basis, &Coeffs { rows: 11, cols: 2, data: &coeff }, &mut cout);
        close(&g.to_host(&gout[1]), &cout[1], tol * 10.0);
        g.fill(&mut gz, 3.0);
        assert!(g.to_host(&gz).iter().all(|&v| v == 3.0));
    }
    assert!(g.stats().to_json()["arrays"]["chunked"].as_u64().unwrap() > 0);
}

#[test]
fn chunked_vectors_come_back_together_in_order() {
    // vectors of several chunks each (4 KiB chunks), a short one and an untouched one
    // between them: one read-back, converted piece by piece into the right vectors
    let Some(g) = chunked(4096) else { return };
    let ce = g.max_elements();
    let host: Vec<Vec<f64>> = [3 * ce + 77, 5, ce, 2 * ce].iter().enumerate().map(|(i, &n)| random_values(n, 90 + i as u64)).collect();
    let mut ys: Vec<_> = host.iter().map(|h| g.from_host(h)).collect();
    for y in ys.iter_mut() {
        g.scale(-2.0, y);
    }
    ys.insert(2, g.alloc(33));
    let c0 = g.stats().counts();
    let got = g.to_host_many(&ys);
    assert_eq!((g.stats().counts() - c0).readbacks, 1);
    assert_eq!(got[2], vec![0.0; 33]);
    let got: Vec<_> = got.into_iter().enumerate().filter(|&(i, _)| i != 2).map(|(_, v)| v).collect();
    for (h, y) in host.iter().zip(&got) {
        let want: Vec<f64> = h.iter().map(|&a| -2.0 * if g.precision_bits() == 64 { a } else { a as f32 as f64 }).collect();
        assert_eq!(&want, y);
    }
}

#[test]
fn chunked_spmv_matches_the_cpu_backend() {
    let Some(g) = chunked(4096) else { return };
    let c = CpuBackend::new();
    let tol = rel_tol(&g);
    let ce = g.max_elements();
    // bands that keep a 64-row block's window within one chunk
    for (n, band, seed) in [(300usize, 10usize, 1u64), (ce + 1, 40, 2), (4 * ce + 100, 150, 3), (5000, ce / 4, 4)] {
        let a = banded(n, band, seed);
        let blocks = g.plan_matrix(&a).unwrap();
        assert!(n <= ce || blocks.len() > 1);
        let x = random_values(n, seed + 10);
        let (ga, gx) = (g.upload_matrix(&a), g.from_host(&x));
        let mut gy = g.alloc(n);
        g.fill(&mut gy, f64::NAN);
        g.spmv(&ga, &gx, &mut gy);
        let mut cy = c.alloc(n);
        c.spmv(&a, &x, &mut cy);
        close(&g.to_host(&gy), &cy, tol);
        let mut gz = g.from_host(&cy);
        g.spmv_axpby(&ga, &gx, 0.5, -0.25, -1.0, &mut gz);
        let mut cz = cy.clone();
        c.spmv_axpby(&a, &x, 0.5, -0.25, -1.0, &mut cz);
        close(&g.to_host(&gz), &cz, tol);
    }
    // a matrix whose rows read all of x cannot be chunked: an error, not a wrong answer
    let wide = CsrMatrix::from_triplets(5000, 5000, &[(0, 0, 1.0), (0, 4999, 1.0), (4999, 4999, 1.0)]);
    assert!(g.fits_matrix(&wide).is_err());
}

#[test]
fn cg_and_lanczos_on_chunked_vectors_match_the_cpu() {
    // chunks of 512 elements
    let Some(g0) = gpu() else { return };
    let Some(g) = chunked(512 * elem(&g0)) else { return };
    drop(g0);
    let c = CpuBackend::new();
    let n = 2000;
    let a = banded(n, 60, 11);
    let b = random_values(n, 12);
    let opts = qdsim_gpu::linalg::cg::CgOptions { tol: 1e-5, max_iterations: 1000 };
    let dinv: Vec<f64> = a.diagonal().iter().map(|d| 1.0 / d).collect();
    let (ga, gb, gd) = (g.upload_matrix(&a), g.from_host(&b), g.from_host(&dinv));
    let mut gx = g.alloc(n);
    let rg = qdsim_gpu::linalg::cg::cg(&g, &ga, &gb, &mut gx, Some(&gd), &opts);
    let mut cx = c.alloc(n);
    let rc = qdsim_gpu::linalg::cg::cg(&c, &a, &b, &mut cx, Some(&dinv), &opts);
    assert!(rg.converged && rc.converged, "{rg:?} {rc:?}");
    close(&g.to_host(&gx), &cx, 1e-4);
    // the lowest states of −Δ on 10³ (1000 unknowns in two chunks)
    let a = laplacian3(10);
    let opts = common::gpu_solve_options(4);
    let sg = qdsim_gpu::pipeline::solve(&g, &a, &opts, None, &mut |_| {}).unwrap();
    // exact: 6 − 2 Σ cos(k_d π / 11) over k_d = 1..=10
    let mut exact: Vec<f64> = Vec::new();
    let c1 = |k: usize| 2.0 * (k as f64 * std::f64::consts::PI / 11.0).cos();
    for i in 1..=10 {
        for j in 1..=10 {
            for k in 1..=10 {
                exact.push(6.0 - c1(i) - c1(j) - c1(k));
            }
        }
    }
    exact.sort_by(f64::total_cmp);
    assert!(sg.converged);
    for (e, x) in sg.energies.iter().zip(&exact) {
        assert!((e - x).abs() <= 1e-6 * x.abs(), "{e} vs {x}");
    }
}

#[test]
fn chunk_over_65535_workgroups() {
    // one chunk of 2^24 elements needs 65536 workgroups of 256: a second grid dimension
    let Some(g0) = gpu() else { return };
    let e = elem(&g0);
    if g0.max_elements() < 1 << 24 || e != 4 {
        common::skip("adapter binding limit too small for this test (or f64)");
        return;
    }
    drop(g0);
    let Some(g) = chunked(4 << 24) else { return };
    let n = (1 << 24) + 1000;
    let mut x = g.alloc(n);
    g.fill(&mut x, 1.0);
    let mut y = g.alloc(n);
    g.fill(&mut y, 0.5);
    g.axpy(2.0, &x, &mut y);
    let s = g.dot(&x, &y);
    assert!((s - 2.5 * n as f64).abs() <= 1e-5 * 2.5 * n as f64, "sum {s}");
    let host = g.to_host(&y);
    assert!(host[0] == 2.5 && host[(1 << 24) - 1] == 2.5 && host[1 << 24] == 2.5 && host[n - 1] == 2.5);
}

#[test]
fn arrays_and_kernels_from_several_threads() {
    let Some(g) = chunked(4096) else { return };
    let c = CpuBackend::new();
    let n = 2500;
    let a = banded(n, 50, 21);
    let ga = g.upload_matrix(&a);
    let shared_x = random_values(n, 22);
    // arrays every thread reads at once, one per placement
    let shared: Vec<_> = Placement::ALL.iter().map(|&p| g.from_host_placed(&shared_x, p)).collect();
    let mut ax = c.alloc(n);
    c.spmv(&a, &shared_x, &mut ax);
    let tol = rel_tol(&g);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (g, c, ga, a, shared, shared_x, ax) = (&g, &c, &ga, &a, &shared, &shared_x, &ax);
            s.spawn(move || {
                let p = Placement::ALL[t as usize];
                for round in 0..3u64 {
                    let y = random_values(n, 100 + 10 * t + round);
                    let mut gy = g.from_host_placed(&y, p);
                    let mut cy = y.clone();
                    for sx in shared {
                        g.axpy(0.5, sx, &mut gy);
                        c.axpy(0.5, shared_x, &mut cy);
                    }
                    let mut gz = g.alloc_placed(n, p);
                    g.spmv(ga, &gy, &mut gz);
                    let mut cz = c.alloc(n);
                    c.spmv(a, &cy, &mut cz);
                    close(&g.to_host(&gz), &cz, tol);
                    let d = g.dot(&shared[(t as usize + round as usize) % 4], &gz);
                    let e = c.dot(shared_x, &cz);
                    assert!((d - e).abs() <= 10.0 * tol * e.abs().max(1.0), "{d} vs {e}");
                    for sx in shared {
                        close(&g.to_host(sx), shared_x, tol);
                    }
                    let mut w = g.alloc(n);
                    g.spmv(ga, &shared[t as usize], &mut w);
                    close(&g.to_host(&w), ax, tol);
                }
            });
        }
    });
}
