//! Backend conformance: one generic set of checks, [`conformance`], that every backend runs
//! against a plain host reference: the CPU backend, the GPU backend (lavapipe in CI, f32 and
//! f64 shaders), the benchmarks' timing wrapper and the distributed wrapper, on one process
//! (`Solo`) and on 2 and 3 ranks as threads of this process ([`Threads`], a test
//! communicator: real halo exchanges without mpirun). A new backend, or a wrapper that
//! forwards a method wrongly, fails here by the name of the operation.
//!
//! Every operation of the `Backend` trait is checked (the basis operations in both the owned
//! `&[Vector]` and the borrowed `&[&Vector]` forms), and [`halo_conformance`] checks those of
//! `HaloAccess` for every backend the distributed backend can wrap.
//!
//! The suite is checked itself (mutant.rs): a backend with any one operation wrong fails it.
//!
//! Tolerances, relative: 1e-12 where the backend computes in f64, 1e-5 in f32 (the GPU's
//! default). Element-wise results are compared to the largest reference entry, dots to
//! ‖x‖‖y‖ (the scale of their rounding error), so a check never depends on cancellation.
//! Outputs are filled with NaN first wherever the operation must overwrite them.

use std::sync::Arc;

use qdsim_gpu::backend::timing::TimingBackend;
use qdsim_gpu::backend::{CpuBackend, GpuBackend};
use qdsim_gpu::linalg::backend::{random_values, Backend, Coeffs, HaloAccess};
use qdsim_gpu::linalg::multigrid::Aggregation;
use qdsim_gpu::linalg::stencil::StencilMatrix;
use qdsim_gpu::linalg::CsrMatrix;
use qdsim_gpu::parallel::{DistBackend, Solo};

use crate::common::{self, laplacian3, random_sym};

mod mutant;
mod threads;
use threads::Threads;

// ---- the checks

/// The relative tolerance of a backend's results (see the module header).
fn tol<B: Backend>(be: &B) -> f64 {
    if be.precision_bits() == 64 {
        1e-12
    } else {
        1e-5
    }
}

/// Element-wise |got − want| ≤ rel · max|want|.
fn close(what: &str, be: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{be}: {what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rel * scale, "{be}: {what}: entry {i} of {}: {g} vs {w} (scale {scale}, rel {rel})", want.len());
    }
}

/// |got − want| ≤ rel · scale for each of a list of scalars (dots: scale = ‖x‖‖y‖).
fn close_scalars(what: &str, be: &str, got: &[f64], want: &[f64], scale: f64, rel: f64) {
    assert_eq!(got.len(), want.len(), "{be}: {what}: count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rel * scale, "{be}: {what}: value {i}: {g} vs {w} (scale {scale}, rel {rel})");
    }
}

fn hdot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

fn hnorm(x: &[f64]) -> f64 {
    hdot(x, x).sqrt()
}

/// a x + b y, element-wise.
fn lin(a: f64, x: &[f64], b: f64, y: &[f64]) -> Vec<f64> {
    x.iter().zip(y).map(|(p, q)| a * p + b * q).collect()
}

/// Σ_i c_i v_i
fn sum_of(vs: &[Vec<f64>], c: &[f64]) -> Vec<f64> {
    let mut s = vec![0.0; vs[0].len()];
    for (v, &ci) in vs.iter().zip(c) {
        s.iter_mut().zip(v).for_each(|(a, b)| *a += ci * b);
    }
    s
}

/// Vector lengths: one entry, one past a workgroup of 256, a few thousand.
const LENGTHS: [usize; 3] = [1, 257, 3001];

/// Every operation of [`Backend`] against the host: storage, level-1 operations, the basis
/// operations, the scalars, and the operator on a 3D Laplacian (a stencil on the GPU) and a
/// random sparse symmetric matrix (general CSR). Collective for a distributed backend: every
/// rank calls it, and every rank checks the global results.
pub fn conformance<B: Backend>(be: &B) {
    let rel = tol(be);
    let name = be.name();
    assert!(!name.is_empty(), "a backend has a name");
    assert!(be.details().is_object(), "{name}: details are a JSON object");
    assert!(matches!(be.precision_bits(), 32 | 64), "{name}: precision_bits {}", be.precision_bits());
    let _ = be.cheap_readback();
    for n in LENGTHS {
        vectors(be, &name, n, rel);
        basis_operations(be, &name, n, rel);
        scalar_operations(be, &name, n, rel);
    }
    operator(be, &name, &laplacian3(11), rel);
    operator(be, &name, &random_sym(1000, 3, 5), rel);
    // rows of ~41 entries (777 rows, not a multiple of a workgroup's rows): the GPU's
    // wide-row products, several threads per row
    operator(be, &name, &random_sym(777, 20, 9), rel);
    block_operations(be, &name, rel, &block_matrices(true), true);
}

/// The matrices the block operations are checked on: grid Laplacians in 1D, 2D and 3D (the
/// stencil layout on the GPU) of sizes that do not fill a workgroup of 256 (1, 7, 257, 273)
/// and more; with `general`, random sparse symmetric matrices too (CSR on every backend;
/// their rows reach all of x, so a chunked GPU backend cannot hold them).
fn block_matrices(general: bool) -> Vec<CsrMatrix> {
    let mut ms = vec![grid_laplacian([1, 1, 1]), grid_laplacian([7, 1, 1]), grid_laplacian([257, 1, 1]), grid_laplacian([13, 21, 1]), grid_laplacian([50, 41, 1]), laplacian3(11)];
    if general {
        ms.extend([random_sym(1, 1, 6), random_sym(7, 2, 7), random_sym(1000, 3, 5)]);
    }
    ms
}

/// −Δ on a `dims` grid (x fastest; 3-, 5- or 7-point, Dirichlet, unit spacing), with a
/// varying diagonal so that no two rows are alike.
fn grid_laplacian(dims: [usize; 3]) -> CsrMatrix {
    let n = dims[0] * dims[1] * dims[2];
    let strides = [1, dims[0], dims[0] * dims[1]];
    let mut t = Vec::new();
    for i in 0..n {
        let ijk = [i % dims[0], (i / dims[0]) % dims[1], i / strides[2]];
        t.push((i, i, 6.0 + 0.01 * (i % 11) as f64));
        for ax in 0..3 {
            if ijk[ax] + 1 < dims[ax] {
                t.push((i, i + strides[ax], -1.0));
                t.push((i + strides[ax], i, -1.0));
            }
        }
    }
    CsrMatrix::from_triplets(n, n, &t)
}

/// Lengths of the block checks: one entry, fewer than a workgroup, one past a workgroup, a
/// few thousand.
const BLOCK_LENGTHS: [usize; 4] = [1, 7, 257, 3001];
/// Block sizes: one column, a few, a group of 8 and one past it, two groups and one more.
const BLOCK_SIZES: [usize; 5] = [1, 3, 8, 9, 17];

/// n NaNs on the backend: an output that must be overwritten.
fn poisoned<B: Backend>(be: &B, n: usize) -> B::Vector {
    let mut v = be.alloc(n);
    be.fill(&mut v, f64::NAN);
    v
}

/// The block operations of LOBPCG and the block smoother (spmm, block_axpy, block_scale,
/// block_copy, block_diag_axpby, block_dot_to, column_dots_to) for every length of [`BLOCK_LENGTHS`] and block size of [`BLOCK_SIZES`],
/// owned and borrowed blocks, and spmm on each of `matrices` (into NaN-filled outputs).
/// The dots go into one scalar buffer at offsets, read once, as a LOBPCG step does.
pub fn block_operations<B: Backend>(be: &B, name: &str, rel: f64, matrices: &[CsrMatrix], general: bool) {
    for n in BLOCK_LENGTHS {
        for k in BLOCK_SIZES {
            block_vector_operations(be, name, n, k, rel);
        }
    }
    for a in matrices {
        for k in BLOCK_SIZES {
            block_product(be, name, a, k, rel);
        }
        if let Some(st) = StencilMatrix::detect(a) {
            // the chunked GPU run (no general matrices) holds a transfer of a grid beyond one
            // 4 KiB chunk in CSR, whose 64-row blocks then read a window wider than a chunk:
            // such transfers need unchunked vectors (as the CSR hierarchy always did)
            grid_uploads(be, name, &st, rel, general || st.nrows() <= 512);
        }
    }
}

/// upload_stencil (spmv and spmm against CSR's product) and upload_transfer (the
/// restriction and prolongation of the stencil's grid coarsened along every axis with two
/// or more cells, and along x alone) on a stencil's grid, into NaN-filled outputs.
fn grid_uploads<B: Backend>(be: &B, name: &str, st: &StencilMatrix, rel: f64, transfers: bool) {
    let dims = st.dims;
    let what = |op: &str| format!("{op} (grid {dims:?})");
    let csr = st.to_csr();
    let m = be.upload_stencil(st);
    assert_eq!(be.matrix_rows(&m), st.nrows(), "{name}: {}", what("upload_stencil: rows"));
    let x_h = random_values(st.nrows(), 500);
    let x = be.from_host(&x_h);
    let mut y = poisoned(be, st.nrows());
    be.spmv(&m, &x, &mut y);
    close(&what("spmv of upload_stencil"), name, &be.to_host(&y), &csr.mul_vec(&x_h), rel);
    let mut cases = vec![[dims[0] >= 2, dims[1] >= 2, dims[2] >= 2]];
    if dims[1] >= 2 && dims[0] >= 2 {
        cases.push([true, false, false]);
    }
    for coarsen in cases.into_iter().filter(|c| transfers && c.iter().any(|&v| v)) {
        for restrict in [true, false] {
            let t = Aggregation::of(dims, coarsen, restrict);
            let tm = t.to_csr();
            let op = format!("upload_transfer ({} along {coarsen:?})", if restrict { "R" } else { "P" });
            let m = be.upload_transfer(&t);
            assert_eq!(be.matrix_rows(&m), tm.nrows, "{name}: {}", what(&format!("{op}: rows")));
            for k in [1usize, 3, 9] {
                let xs_h: Vec<Vec<f64>> = (0..k).map(|j| random_values(tm.ncols, 600 + j as u64)).collect();
                let xs: Vec<B::Vector> = xs_h.iter().map(|x| be.from_host(x)).collect();
                let mut ys: Vec<B::Vector> = (0..k).map(|_| poisoned(be, tm.nrows)).collect();
                be.spmm(&m, &xs, &mut ys);
                for j in 0..k {
                    close(&what(&format!("spmm of {op}, k = {k}, column {j}")), name, &be.to_host(&ys[j]), &tm.mul_vec(&xs_h[j]), rel);
                }
                let mut y = poisoned(be, tm.nrows);
                be.spmv(&m, &xs[0], &mut y);
                close(&what(&format!("spmv of {op}")), name, &be.to_host(&y), &tm.mul_vec(&xs_h[0]), rel);
            }
        }
    }
}

/// block_axpy, block_scale, block_copy, block_diag_axpby, column_dots_to and block_dot_to
/// on a block of k vectors of length n.
fn block_vector_operations<B: Backend>(be: &B, name: &str, n: usize, k: usize, rel: f64) {
    let what = |op: &str| format!("{op} (n = {n}, k = {k})");
    let xs_h: Vec<Vec<f64>> = (0..k).map(|j| random_values(n, 100 + j as u64)).collect();
    let ys_h: Vec<Vec<f64>> = (0..k).map(|j| random_values(n, 200 + j as u64)).collect();
    let xs: Vec<B::Vector> = xs_h.iter().map(|x| be.from_host(x)).collect();
    let xs_refs: Vec<&B::Vector> = xs.iter().collect();

    // block_axpy: y_j ← y_j + α_j x_j; every third α is 0 and its x_j is NaN: y_j untouched
    let alphas: Vec<f64> = (0..k).map(|j| if j % 3 == 1 { 0.0 } else { 0.5 + 0.25 * j as f64 }).collect();
    let mut xs_nan: Vec<B::Vector> = xs_h.iter().map(|x| be.from_host(x)).collect();
    for (j, x) in xs_nan.iter_mut().enumerate() {
        if alphas[j] == 0.0 {
            be.fill(x, f64::NAN);
        }
    }
    for borrowed in [false, true] {
        let mut ys: Vec<B::Vector> = ys_h.iter().map(|y| be.from_host(y)).collect();
        if borrowed {
            let xr: Vec<&B::Vector> = xs_nan.iter().collect();
            let mut yr: Vec<&mut B::Vector> = ys.iter_mut().collect();
            be.block_axpy(&alphas, &xr, &mut yr);
        } else {
            be.block_axpy(&alphas, &xs_nan, &mut ys);
        }
        for j in 0..k {
            let op = if borrowed { "block_axpy (borrowed)" } else { "block_axpy" };
            close(&what(&format!("{op}, column {j} (α = {})", alphas[j])), name, &be.to_host(&ys[j]), &lin(1.0, &ys_h[j], alphas[j], &xs_h[j]), rel);
        }
    }

    // block_scale: x_j ← α_j x_j (a zero among them)
    let scales: Vec<f64> = (0..k).map(|j| if j % 4 == 2 { 0.0 } else { 1.5 - 0.375 * j as f64 }).collect();
    for borrowed in [false, true] {
        let mut zs: Vec<B::Vector> = xs_h.iter().map(|x| be.from_host(x)).collect();
        if borrowed {
            let mut zr: Vec<&mut B::Vector> = zs.iter_mut().collect();
            be.block_scale(&scales, &mut zr);
        } else {
            be.block_scale(&scales, &mut zs);
        }
        for j in 0..k {
            let op = if borrowed { "block_scale (borrowed)" } else { "block_scale" };
            let want: Vec<f64> = xs_h[j].iter().map(|v| scales[j] * v).collect();
            close(&what(&format!("{op}, column {j}")), name, &be.to_host(&zs[j]), &want, rel);
        }
    }

    // block_copy: y_j ← x_j into NaN-filled outputs
    for borrowed in [false, true] {
        let mut ys: Vec<B::Vector> = (0..k).map(|_| poisoned(be, n)).collect();
        if borrowed {
            let mut yr: Vec<&mut B::Vector> = ys.iter_mut().collect();
            be.block_copy(&xs_refs, &mut yr);
        } else {
            be.block_copy(&xs, &mut ys);
        }
        for j in 0..k {
            let op = if borrowed { "block_copy (borrowed)" } else { "block_copy" };
            close(&what(&format!("{op}, column {j}")), name, &be.to_host(&ys[j]), &xs_h[j], rel);
        }
    }

    // block_diag_axpby: y_j ← α d∘x_j + β y_j; β = 0 into NaN-filled outputs (not read)
    let d_h = random_values(n, 77);
    let dv = be.from_host(&d_h);
    for (alpha, beta) in [(0.75, 0.0), (-1.25, 0.5)] {
        let mut ys: Vec<B::Vector> = if beta == 0.0 { (0..k).map(|_| poisoned(be, n)).collect() } else { ys_h.iter().map(|y| be.from_host(y)).collect() };
        be.block_diag_axpby(&dv, alpha, &xs_refs, beta, &mut ys);
        for j in 0..k {
            let want: Vec<f64> = (0..n).map(|i| alpha * d_h[i] * xs_h[j][i] + if beta == 0.0 { 0.0 } else { beta * ys_h[j][i] }).collect();
            close(&what(&format!("block_diag_axpby (α = {alpha}, β = {beta}), column {j}")), name, &be.to_host(&ys[j]), &want, rel);
        }
    }

    // One scalar buffer, as a LOBPCG step fills it: [sentinel, xᵀy per column, xᵀx per
    // column, the basis × block Gram (m × k), the block's own Gram (k × k), sentinel],
    // read once at the end.
    let m = 5usize;
    let basis_h: Vec<Vec<f64>> = (0..m).map(|i| random_values(n, 300 + i as u64)).collect();
    let basis: Vec<B::Vector> = basis_h.iter().map(|b| be.from_host(b)).collect();
    let basis_refs: Vec<&B::Vector> = basis.iter().collect();
    let ys: Vec<B::Vector> = ys_h.iter().map(|y| be.from_host(y)).collect();
    let ys_refs: Vec<&B::Vector> = ys.iter().collect();
    let (c_xy, c_xx, c_bx, c_xk) = (1, 1 + k, 1 + 2 * k, 1 + 2 * k + m * k);
    let total = c_xk + k * k + 1;
    let mut s = be.alloc_scalars(total);
    be.column_dots_to(&xs, &ys_refs, &mut s, c_xy);
    be.column_dots_to(&xs_refs, &xs_refs, &mut s, c_xx);
    be.block_dot_to(&basis, &xs, &mut s, c_bx);
    be.block_dot_to(&xs_refs, &xs_refs, &mut s, c_xk);
    let got = be.read_scalars(&s);
    assert_eq!(got.len(), total, "{name}: {}", what("read_scalars after the block dots: count"));
    assert_eq!((got[0], got[total - 1]), (0.0, 0.0), "{name}: {}", what("the block dots wrote outside their ranges"));
    let norm = |v: &[Vec<f64>]| v.iter().map(|x| hnorm(x)).fold(0.0, f64::max);
    let (nx, ny, nb) = (norm(&xs_h), norm(&ys_h), norm(&basis_h));
    let want: Vec<f64> = (0..k).map(|j| hdot(&xs_h[j], &ys_h[j])).collect();
    close_scalars(&what("column_dots_to"), name, &got[c_xy..c_xy + k], &want, nx * ny, rel);
    let want: Vec<f64> = (0..k).map(|j| hdot(&xs_h[j], &xs_h[j])).collect();
    close_scalars(&what("column_dots_to (borrowed, xs = ys: squared norms)"), name, &got[c_xx..c_xx + k], &want, nx * nx, rel);
    let want: Vec<f64> = xs_h.iter().flat_map(|x| basis_h.iter().map(move |b| hdot(b, x))).collect();
    close_scalars(&what("block_dot_to (m = 5)"), name, &got[c_bx..c_bx + m * k], &want, nb * nx, rel);
    let want: Vec<f64> = xs_h.iter().flat_map(|x| xs_h.iter().map(move |b| hdot(b, x))).collect();
    close_scalars(&what("block_dot_to (borrowed, the block's own Gram)"), name, &got[c_xk..c_xk + k * k], &want, nx * nx, rel);
    // and the same block against the basis through block_dot (read back at once)
    let want: Vec<f64> = xs_h.iter().flat_map(|x| basis_h.iter().map(move |b| hdot(b, x))).collect();
    close_scalars(&what("block_dot (m = 5)"), name, &be.block_dot(&basis_refs, &xs_refs), &want, nb * nx, rel);
}

/// spmm of a block of k vectors with `a` into NaN-filled outputs, owned and borrowed.
fn block_product<B: Backend>(be: &B, name: &str, a: &CsrMatrix, k: usize, rel: f64) {
    let n = a.nrows;
    let what = |op: &str| format!("{op} ({n} rows, k = {k})");
    let m = be.upload_matrix(a);
    let xs_h: Vec<Vec<f64>> = (0..k).map(|j| random_values(n, 400 + j as u64)).collect();
    let want: Vec<Vec<f64>> = xs_h.iter().map(|x| a.mul_vec(x)).collect();
    let xs: Vec<B::Vector> = xs_h.iter().map(|x| be.from_host(x)).collect();
    for borrowed in [false, true] {
        let mut ys: Vec<B::Vector> = (0..k).map(|_| poisoned(be, n)).collect();
        if borrowed {
            let xr: Vec<&B::Vector> = xs.iter().collect();
            let mut yr: Vec<&mut B::Vector> = ys.iter_mut().collect();
            be.spmm(&m, &xr, &mut yr);
        } else {
            be.spmm(&m, &xs, &mut ys);
        }
        for j in 0..k {
            let op = if borrowed { "spmm (borrowed)" } else { "spmm" };
            close(&what(&format!("{op}, column {j}")), name, &be.to_host(&ys[j]), &want[j], rel);
        }
    }
}

/// Storage and level-1 operations on vectors of length n.
fn vectors<B: Backend>(be: &B, name: &str, n: usize, rel: f64) {
    let what = |op: &str| format!("{op} (n = {n})");
    let (x, y, d) = (random_values(n, 1), random_values(n, 2), random_values(n, 3));
    let z = be.alloc(n);
    assert_eq!(be.len(&z), n, "{name}: {}", what("alloc: len"));
    assert!(be.to_host(&z).iter().all(|&v| v == 0.0), "{name}: {}: not zero", what("alloc"));
    let bx = be.from_host(&x);
    assert_eq!(be.len(&bx), n, "{name}: {}", what("from_host: len"));
    close(&what("from_host → to_host"), name, &be.to_host(&bx), &x, rel);
    close(&what("random"), name, &be.to_host(&be.random(n, 9)), &random_values(n, 9), rel);
    // copy and fill overwrite
    let mut c = be.from_host(&y);
    be.copy(&bx, &mut c);
    close(&what("copy"), name, &be.to_host(&c), &x, rel);
    be.fill(&mut c, -2.5);
    assert!(be.to_host(&c).iter().all(|&v| v == -2.5), "{name}: {}", what("fill"));
    // y ← y + α x, then y ← x + β y, then y ← α y
    let mut by = be.from_host(&y);
    be.axpy(0.75, &bx, &mut by);
    let want = lin(1.0, &y, 0.75, &x);
    close(&what("axpy"), name, &be.to_host(&by), &want, rel);
    be.xpby(&bx, -0.5, &mut by);
    let want = lin(1.0, &x, -0.5, &want);
    close(&what("xpby"), name, &be.to_host(&by), &want, rel);
    be.scale(3.0, &mut by);
    let want: Vec<f64> = want.iter().map(|v| 3.0 * v).collect();
    close(&what("scale"), name, &be.to_host(&by), &want, rel);
    // z ← d ∘ x, into a poisoned output
    let bd = be.from_host(&d);
    let mut bz = be.alloc(n);
    be.fill(&mut bz, f64::NAN);
    be.pointwise_mul(&bd, &bx, &mut bz);
    let want: Vec<f64> = d.iter().zip(&x).map(|(a, b)| a * b).collect();
    close(&what("pointwise_mul"), name, &be.to_host(&bz), &want, rel);
    // dot and norm
    let by = be.from_host(&y);
    close_scalars(&what("dot"), name, &[be.dot(&bx, &by)], &[hdot(&x, &y)], hnorm(&x) * hnorm(&y), rel);
    close_scalars(&what("norm2"), name, &[be.norm2(&bx)], &[hnorm(&x)], hnorm(&x), rel);
}

/// The basis operations (multi_dot, multi_axpy, combine, block_dot, block_sub) with a basis
/// of 7 vectors and a block of 3, each in the owned and the borrowed form.
fn basis_operations<B: Backend>(be: &B, name: &str, n: usize, rel: f64) {
    let what = |op: &str| format!("{op} (n = {n})");
    let (k, m) = (7usize, 3usize);
    let basis_h: Vec<Vec<f64>> = (0..k).map(|i| random_values(n, 10 + i as u64)).collect();
    let xs_h: Vec<Vec<f64>> = (0..m).map(|j| random_values(n, 30 + j as u64)).collect();
    let basis: Vec<B::Vector> = basis_h.iter().map(|b| be.from_host(b)).collect();
    let basis_refs: Vec<&B::Vector> = basis.iter().collect();
    let xs: Vec<B::Vector> = xs_h.iter().map(|x| be.from_host(x)).collect();
    let xs_refs: Vec<&B::Vector> = xs.iter().collect();
    let bnorm = basis_h.iter().map(|b| hnorm(b)).fold(0.0, f64::max);
    let xnorm = xs_h.iter().map(|x| hnorm(x)).fold(0.0, f64::max);
    let dscale = bnorm * xnorm;

    // multi_dot: c_i = b_iᵀ x
    let want: Vec<f64> = basis_h.iter().map(|b| hdot(b, &xs_h[0])).collect();
    close_scalars(&what("multi_dot"), name, &be.multi_dot(&basis, &xs[0]), &want, dscale, rel);
    close_scalars(&what("multi_dot (borrowed basis)"), name, &be.multi_dot(&basis_refs, &xs[0]), &want, dscale, rel);

    // multi_axpy: y ← y + Σ c_i b_i (a zero coefficient among them)
    let c = [0.5, -1.0, 0.0, 2.0, 0.25, -0.125, 1.0];
    let want = lin(1.0, &xs_h[1], 1.0, &sum_of(&basis_h, &c));
    for borrowed in [false, true] {
        let mut y = be.from_host(&xs_h[1]);
        if borrowed {
            be.multi_axpy(&basis_refs, &c, &mut y);
        } else {
            be.multi_axpy(&basis, &c, &mut y);
        }
        close(&what(if borrowed { "multi_axpy (borrowed basis)" } else { "multi_axpy" }), name, &be.to_host(&y), &want, rel);
    }

    // block_dot: C = basisᵀ X, column-major k × m
    let want: Vec<f64> = xs_h.iter().flat_map(|x| basis_h.iter().map(move |b| hdot(b, x))).collect();
    close_scalars(&what("block_dot"), name, &be.block_dot(&basis, &xs), &want, dscale, rel);
    close_scalars(&what("block_dot (borrowed)"), name, &be.block_dot(&basis_refs, &xs_refs), &want, dscale, rel);

    // combine: out_j ← Σ_i b_i C_ij, overwriting poisoned outputs
    let cdata = random_values(k * m, 77);
    let coeffs = Coeffs { rows: k, cols: m, data: &cdata };
    let want: Vec<Vec<f64>> = (0..m).map(|j| sum_of(&basis_h, &cdata[j * k..(j + 1) * k])).collect();
    let poisoned = || {
        (0..m)
            .map(|_| {
                let mut v = be.alloc(n);
                be.fill(&mut v, f64::NAN);
                v
            })
            .collect::<Vec<_>>()
    };
    let mut out = poisoned();
    be.combine(&basis, &coeffs, &mut out);
    for j in 0..m {
        close(&what(&format!("combine, column {j}")), name, &be.to_host(&out[j]), &want[j], rel);
    }
    let mut out = poisoned();
    {
        let mut out_refs: Vec<&mut B::Vector> = out.iter_mut().collect();
        be.combine(&basis_refs, &coeffs, &mut out_refs);
    }
    for j in 0..m {
        close(&what(&format!("combine (borrowed), column {j}")), name, &be.to_host(&out[j]), &want[j], rel);
    }

    // block_sub: y_j ← y_j − Σ_i b_i C_ij
    let want: Vec<Vec<f64>> = (0..m).map(|j| lin(1.0, &xs_h[j], -1.0, &sum_of(&basis_h, &cdata[j * k..(j + 1) * k]))).collect();
    let mut ys: Vec<B::Vector> = xs_h.iter().map(|x| be.from_host(x)).collect();
    be.block_sub(&basis, &coeffs, &mut ys);
    for j in 0..m {
        close(&what(&format!("block_sub, column {j}")), name, &be.to_host(&ys[j]), &want[j], rel);
    }
    let mut ys: Vec<B::Vector> = xs_h.iter().map(|x| be.from_host(x)).collect();
    {
        let mut ys_refs: Vec<&mut B::Vector> = ys.iter_mut().collect();
        be.block_sub(&basis_refs, &coeffs, &mut ys_refs);
    }
    for j in 0..m {
        close(&what(&format!("block_sub (borrowed), column {j}")), name, &be.to_host(&ys[j]), &want[j], rel);
    }
}

/// Scalars kept where the backend computes: alloc_scalars, read_scalars, multi_dot_to and
/// the ratio operations (axpy_ratio, xpby_ratio, cg_update), with a zero denominator too.
fn scalar_operations<B: Backend>(be: &B, name: &str, n: usize, rel: f64) {
    let what = |op: &str| format!("{op} (n = {n})");
    let mut s = be.alloc_scalars(4);
    assert_eq!(be.read_scalars(&s), vec![0.0; 4], "{name}: {}", what("alloc_scalars"));
    // x in [0.5, 1.5): ‖x‖² is well away from zero, so the ratios are moderate
    let x: Vec<f64> = random_values(n, 41).iter().map(|v| 1.0 + 0.5 * v).collect();
    let b0 = random_values(n, 42);
    let (bx, bb0) = (be.from_host(&x), be.from_host(&b0));
    // s = [0, b0ᵀx, xᵀx, 0]
    be.multi_dot_to(&[&bb0, &bx], &bx, &mut s, 1);
    let (s1, s2) = (hdot(&b0, &x), hdot(&x, &x));
    let got = be.read_scalars(&s);
    close_scalars(&what("multi_dot_to"), name, &got, &[0.0, s1, s2, 0.0], hnorm(&x) * hnorm(&x).max(hnorm(&b0)), rel);
    let r = s1 / s2;
    let y = random_values(n, 43);
    // y ← y + sign (s[num]/s[den]) x
    let mut by = be.from_host(&y);
    be.axpy_ratio(&s, 1, 2, -1.0, &bx, &mut by);
    close(&what("axpy_ratio"), name, &be.to_host(&by), &lin(1.0, &y, -r, &x), rel);
    let mut by = be.from_host(&y);
    be.axpy_ratio(&s, 1, 3, 1.0, &bx, &mut by);
    close(&what("axpy_ratio with a zero denominator (ratio 0)"), name, &be.to_host(&by), &y, rel);
    // y ← x + (s[num]/s[den]) y
    let mut by = be.from_host(&y);
    be.xpby_ratio(&bx, &s, 1, 2, &mut by);
    close(&what("xpby_ratio"), name, &be.to_host(&by), &lin(1.0, &x, r, &y), rel);
    let mut by = be.from_host(&y);
    be.xpby_ratio(&bx, &s, 2, 0, &mut by);
    close(&what("xpby_ratio with a zero denominator (ratio 0)"), name, &be.to_host(&by), &x, rel);
    // x ← x + α p, r ← r − α q with α = s[num]/s[den]
    let (p, q) = (random_values(n, 44), random_values(n, 45));
    let (bp, bq) = (be.from_host(&p), be.from_host(&q));
    let (mut cx, mut cr) = (be.from_host(&x), be.from_host(&y));
    be.cg_update(&s, 1, 2, &bp, &bq, &mut cx, &mut cr);
    close(&what("cg_update: x"), name, &be.to_host(&cx), &lin(1.0, &x, r, &p), rel);
    close(&what("cg_update: r"), name, &be.to_host(&cr), &lin(1.0, &y, -r, &q), rel);
}

/// The operator: upload_matrix, matrix_rows, spmv (into a poisoned output), spmv_axpby and
/// spmv_axpby_block (owned and borrowed blocks).
fn operator<B: Backend>(be: &B, name: &str, a: &CsrMatrix, rel: f64) {
    let n = a.nrows;
    let what = |op: &str| format!("{op} ({n} rows)");
    let m = be.upload_matrix(a);
    assert_eq!(be.matrix_rows(&m), n, "{name}: {}", what("matrix_rows"));
    let xs_h: Vec<Vec<f64>> = (0..3).map(|j| random_values(n, 50 + j)).collect();
    let ys_h: Vec<Vec<f64>> = (0..3).map(|j| random_values(n, 60 + j)).collect();
    let axs: Vec<Vec<f64>> = xs_h.iter().map(|x| a.mul_vec(x)).collect();
    let xs: Vec<B::Vector> = xs_h.iter().map(|x| be.from_host(x)).collect();
    // y ← A x
    let mut y = be.alloc(n);
    be.fill(&mut y, f64::NAN);
    be.spmv(&m, &xs[0], &mut y);
    close(&what("spmv"), name, &be.to_host(&y), &axs[0], rel);
    // y ← α A x + β x + γ y
    let (al, bt, gm) = (0.5, -0.25, -1.0);
    let want: Vec<Vec<f64>> = (0..3).map(|j| (0..n).map(|i| al * axs[j][i] + bt * xs_h[j][i] + gm * ys_h[j][i]).collect()).collect();
    let mut y = be.from_host(&ys_h[0]);
    be.spmv_axpby(&m, &xs[0], al, bt, gm, &mut y);
    close(&what("spmv_axpby"), name, &be.to_host(&y), &want[0], rel);
    // the same for a block of 3
    let mut ys: Vec<B::Vector> = ys_h.iter().map(|y| be.from_host(y)).collect();
    be.spmv_axpby_block(&m, &xs, al, bt, gm, &mut ys);
    for j in 0..3 {
        close(&what(&format!("spmv_axpby_block, vector {j}")), name, &be.to_host(&ys[j]), &want[j], rel);
    }
    let mut ys: Vec<B::Vector> = ys_h.iter().map(|y| be.from_host(y)).collect();
    {
        let xs_refs: Vec<&B::Vector> = xs.iter().collect();
        let mut ys_refs: Vec<&mut B::Vector> = ys.iter_mut().collect();
        be.spmv_axpby_block(&m, &xs_refs, al, bt, gm, &mut ys_refs);
    }
    for j in 0..3 {
        close(&what(&format!("spmv_axpby_block (borrowed), vector {j}")), name, &be.to_host(&ys[j]), &want[j], rel);
    }
}

/// Every operation of [`HaloAccess`] against the host: ranges that start anywhere (not at a
/// storage alignment), one of a single entry, the first and the last entries, several vectors
/// in one read, adds in place, and flush.
pub fn halo_conformance<B: HaloAccess>(be: &B) {
    let rel = tol(be);
    let name = be.name();
    let n = 1000;
    let (x, y) = (random_values(n, 1), random_values(n, 2));
    let ranges = [(0usize, 7usize), (13, 10), (42, 1), (499, 37), (990, 10)];
    let host_read = |v: &[f64], r: &[(usize, usize)]| -> Vec<f64> { r.iter().flat_map(|&(s, l)| v[s..s + l].to_vec()).collect() };
    let (bx, mut by) = (be.from_host(&x), be.from_host(&y));
    close("read_ranges", &name, &be.read_ranges(&bx, &ranges), &host_read(&x, &ranges), rel);
    let many = be.read_ranges_many(&[(&bx, &ranges[..]), (&by, &ranges[1..4])]);
    assert_eq!(many.len(), 2, "{name}: read_ranges_many: one result per vector");
    close("read_ranges_many, vector 0", &name, &many[0], &host_read(&x, &ranges), rel);
    close("read_ranges_many, vector 1", &name, &many[1], &host_read(&y, &ranges[1..4]), rel);
    let count: usize = ranges.iter().map(|r| r.1).sum();
    let vals: Vec<f64> = (0..count).map(|i| 0.25 * i as f64 - 3.0).collect();
    be.add_ranges(&mut by, &ranges, &vals);
    let mut want = y.clone();
    let mut at = 0;
    for &(s, l) in &ranges {
        for i in 0..l {
            want[s + i] += vals[at + i];
        }
        at += l;
    }
    // flush starts recorded work; the result is the same
    be.flush();
    close("add_ranges", &name, &be.to_host(&by), &want, rel);
}

// ---- the backends

#[test]
fn cpu() {
    let c = CpuBackend::new();
    conformance(&c);
    halo_conformance(&c);
}

#[test]
fn gpu() {
    let Some(g) = common::gpu() else { return };
    conformance(&g);
    halo_conformance(&g);
}

#[test]
fn gpu_f64_shaders() {
    let Some(g) = common::gpu() else { return };
    if !g.adapter().f64 {
        common::skip("adapter without f64 shaders");
        return;
    }
    drop(g);
    let g = GpuBackend::with_precision(None, true, true).unwrap().unwrap();
    assert_eq!(g.precision_bits(), 64);
    conformance(&g);
    halo_conformance(&g);
}

#[test]
fn timing_wrapper() {
    let c = CpuBackend::new();
    let t = TimingBackend::new(&c);
    conformance(&t);
    halo_conformance(&t);
    let times = t.times();
    assert!(times.spmv_calls > 0, "the timing backend counts what it forwards");
    assert!(times.host_reads > 0, "the timing backend counts the calls that return host values");
    // exactly the calls that return host values count: block work and scalars kept where
    // the backend computes do not, read_scalars does (once)
    let before = t.times().host_reads;
    let (x, y) = (t.from_host(&random_values(300, 1)), t.from_host(&random_values(300, 2)));
    let mut s = t.alloc_scalars(6);
    let a = t.upload_matrix(&laplacian3(3));
    let (x27, mut y27) = (t.from_host(&random_values(27, 3)), t.alloc(27));
    t.spmm(&a, &[&x27], &mut [&mut y27]);
    t.column_dots_to(&[&x, &y], &[&y, &x], &mut s, 0);
    t.block_dot_to(&[&x], &[&x, &y], &mut s, 2);
    let mut zs = [t.alloc(300)];
    t.block_axpy(&[1.0], &[&x], &mut zs);
    t.block_scale(&[2.0], &mut zs);
    assert_eq!(t.times().host_reads, before, "block operations are no host reads");
    let _ = t.read_scalars(&s);
    let _ = t.dot(&x, &y);
    let _ = t.to_host(&x);
    assert_eq!(t.times().host_reads, before + 3, "read_scalars, dot and to_host are one host read each");
}

/// The block operations on a GPU backend whose arrays are split into chunks of 4 KiB (1024
/// f32 or 512 f64 entries): the vectors of 3001 entries span chunks, and so does the
/// product of the banded grid Laplacians.
#[test]
fn gpu_chunked_block_operations() {
    use qdsim_gpu::backend::gpu::{GpuOptions, Placement};
    let opts = GpuOptions { placement: Placement::GpuOnly, max_binding_bytes: Some(4096), ..qdsim_gpu::cli::env::gpu_options_from_env().unwrap() };
    let Some(g) = common::gpu_with(opts) else { return };
    block_operations(&g, &format!("{} (4 KiB chunks)", g.name()), tol(&g), &block_matrices(false), false);
    assert!(g.stats().to_json()["arrays"]["chunked"].as_u64().unwrap() > 0, "the vectors were chunked");
}

#[test]
fn distributed_cpu_on_one_process() {
    conformance(&DistBackend::new(CpuBackend::new(), Arc::new(Solo)));
}

#[test]
fn distributed_gpu_on_one_process() {
    let Some(g) = common::gpu() else { return };
    conformance(&DistBackend::new(g, Arc::new(Solo)));
}

#[test]
fn distributed_cpu_on_two_ranks() {
    on_thread_ranks(2, |be| conformance(be));
}

#[test]
fn distributed_cpu_on_three_ranks() {
    on_thread_ranks(3, |be| conformance(be));
}

/// `f` on `size` ranks, each a thread of this process with its distributed CPU backend over
/// a [`Threads`] communicator; a rank's panic fails the test (the others stop at their next
/// wait, after [`Threads::TIMEOUT`] at the latest).
fn on_thread_ranks(size: usize, f: impl Fn(&DistBackend<CpuBackend>) + Sync) {
    let f = &f;
    std::thread::scope(|s| {
        let ranks: Vec<_> = Threads::world(size)
            .into_iter()
            .map(|comm| {
                std::thread::Builder::new()
                    .name(format!("rank {} of {size}", comm.rank))
                    .spawn_scoped(s, move || f(&DistBackend::new(CpuBackend::new(), Arc::new(comm))))
                    .unwrap()
            })
            .collect();
        let failed: Vec<usize> = ranks.into_iter().enumerate().filter_map(|(r, h)| h.join().is_err().then_some(r)).collect();
        assert!(failed.is_empty(), "ranks {failed:?} of {size} failed (their messages are above)");
    });
}
