//! The CPU backend: vectors are `Vec<f64>`, every kernel is parallel over row chunks with
//! rayon. Chunks are sized so a chunk of each operand stays in cache while the batched
//! kernels sweep the Lanczos basis once.
//!
//! The block operations of LOBPCG read each operand once for the block: `spmm` reads a
//! row of the matrix once for a group of columns; `block_dot`/`block_dot_to` form XᵀY
//! tall-skinny, a row chunk of every vector at a time, in register tiles (AVX2 where the
//! processor has it), with the chunks' partial sums added in chunk order so the result
//! does not depend on scheduling; `block_axpy`, `block_scale` and `column_dots_to` are one
//! parallel pass over the rows of the whole block.

use rayon::prelude::*;

use std::borrow::{Borrow, BorrowMut};

use crate::linalg::backend::{refs, refs_mut, safe_ratio, Backend, Coeffs, HaloAccess};
use crate::linalg::CsrMatrix;

/// Rows per parallel task for streaming kernels.
const CHUNK: usize = 8192;
/// Rows per task for the basis sweeps (multi_dot/multi_axpy/combine): keeps a chunk of
/// every basis vector in L2.
const BASIS_CHUNK: usize = 4096;
/// Bytes of basis chunk `combine` keeps in L2 while it forms every output.
const COMBINE_L2_BYTES: usize = 256 * 1024;

/// Rows per task of spmm and the Gram kernel (the streaming block operations block_axpy,
/// block_scale and column_dots_to use [`CHUNK`]).
const BLOCK_CHUNK: usize = 4096;
/// Rows per tile sweep inside a task of the Gram kernel: a sub-block of every vector of
/// the block (16 vectors × 256 rows × 8 B = 32 KiB) stays in L1 while all tiles use it.
const GRAM_SUB: usize = 256;
/// Columns an spmm reads the matrix once for: 8 where rows have up to 5 or 6 entries (the
/// 2D operators), 4 for longer rows (7-point 3D operators). Measured on 2 cores, one
/// thread, against 8 or 4 throughout: 2D 840² 2.4× (8) vs 2.0× (4) the per-column spmv,
/// 3D 64³ 1.5× (8) vs 2.0× (4): with longer rows 8 sums, 8 x streams and the row's
/// pointers no longer fit the registers.
fn spmm_group(a: &CsrMatrix) -> usize {
    if a.nnz() * 2 <= a.nrows * 11 {
        8
    } else {
        4
    }
}

/// The row chunks of every vector of a block, grouped by chunk: `out[c][j]` is rows
/// `c·len..` of vector j, so a task owns one row range of all vectors.
fn chunks_of_block<'a>(ys: &'a mut [&mut Vec<f64>], n: usize, len: usize) -> Vec<Vec<&'a mut [f64]>> {
    let nchunks = n.div_ceil(len);
    let mut per_chunk: Vec<Vec<&mut [f64]>> = (0..nchunks).map(|_| Vec::with_capacity(ys.len())).collect();
    for y in ys.iter_mut() {
        for (c, ch) in y[..n].chunks_mut(len).enumerate() {
            per_chunk[c].push(ch);
        }
    }
    per_chunk
}

/// Partial results of `nchunks` tasks summed in chunk order (the same bits whatever the
/// scheduling: rayon's fold/reduce tree depends on work stealing).
fn ordered_sum(parts: Vec<Vec<f64>>, len: usize) -> Vec<f64> {
    let mut acc = vec![0.0; len];
    for p in parts {
        acc.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
    }
    acc
}

/// The products of a tile of A basis vectors with B block vectors over the same rows
/// (all of length L): `out[a][b] += bs[a] · xs[b]`, W lanes per pair (A·B·W accumulators:
/// a 4 × 2 tile keeps 8 vector registers of sums and 6 of loads, SSE2 with W = 2, AVX2
/// with W = 4).
#[inline(always)]
fn gram_tile<const A: usize, const B: usize, const W: usize>(bs: &[&[f64]], xs: &[&[f64]], out: &mut [[f64; B]; A]) {
    let l = xs[0].len();
    let bs: [&[f64]; A] = std::array::from_fn(|a| &bs[a][..l]);
    let xs: [&[f64]; B] = std::array::from_fn(|b| &xs[b][..l]);
    let mut s = [[[0.0f64; W]; B]; A];
    let lw = l / W * W;
    let mut p = 0;
    while p < lw {
        let xv: [[f64; W]; B] = std::array::from_fn(|b| std::array::from_fn(|w| xs[b][p + w]));
        for a in 0..A {
            let bv: [f64; W] = std::array::from_fn(|w| bs[a][p + w]);
            for b in 0..B {
                for w in 0..W {
                    s[a][b][w] += bv[w] * xv[b][w];
                }
            }
        }
        p += W;
    }
    for a in 0..A {
        for b in 0..B {
            let mut t = s[a][b].iter().sum::<f64>();
            for q in lw..l {
                t += bs[a][q] * xs[b][q];
            }
            out[a][b] += t;
        }
    }
}

/// acc[i + j·m] += basis_i · xs_j over one row range (slices of equal length): tiles of
/// 4 basis × 2 block vectors, so each sub-block of a vector is loaded from memory once
/// and reused from L1 for every tile. W: lanes per pair (see [`gram_tile`]).
#[inline(always)]
fn gram_rows_w<const W: usize>(basis: &[&[f64]], xs: &[&[f64]], acc: &mut [f64]) {
    let (m, k) = (basis.len(), xs.len());
    let n = xs[0].len();
    let mut r0 = 0;
    while r0 < n {
        let r1 = (r0 + GRAM_SUB).min(n);
        let bsub: Vec<&[f64]> = basis.iter().map(|b| &b[r0..r1]).collect();
        let xsub: Vec<&[f64]> = xs.iter().map(|x| &x[r0..r1]).collect();
        let mut i = 0;
        while i < m {
            let a = (m - i).min(4);
            let mut j = 0;
            while j < k {
                let b = (k - j).min(2);
                macro_rules! tile {
                    ($A:literal, $B:literal) => {{
                        let mut t = [[0.0f64; $B]; $A];
                        gram_tile::<$A, $B, W>(&bsub[i..i + $A], &xsub[j..j + $B], &mut t);
                        for aa in 0..$A {
                            for bb in 0..$B {
                                acc[i + aa + (j + bb) * m] += t[aa][bb];
                            }
                        }
                    }};
                }
                match (a, b) {
                    (4, 2) => tile!(4, 2),
                    (4, _) => tile!(4, 1),
                    (3, 2) => tile!(3, 2),
                    (3, _) => tile!(3, 1),
                    (2, 2) => tile!(2, 2),
                    (2, _) => tile!(2, 1),
                    (_, 2) => tile!(1, 2),
                    _ => tile!(1, 1),
                }
                j += b;
            }
            i += a;
        }
        r0 = r1;
    }
}

/// [`gram_rows_w`] compiled for AVX2 (4 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gram_rows_avx2(basis: &[&[f64]], xs: &[&[f64]], acc: &mut [f64]) {
    gram_rows_w::<4>(basis, xs, acc)
}

/// [`gram_rows_w`] at the widest vectors the processor has (checked at run time: the
/// build targets baseline x86-64).
fn gram_rows(basis: &[&[f64]], xs: &[&[f64]], acc: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2 (checked above)
        return unsafe { gram_rows_avx2(basis, xs, acc) };
    }
    gram_rows_w::<2>(basis, xs, acc)
}

/// basisᵀ X (column-major m × k) as a blocked tall-skinny product: row chunks in
/// parallel, all pairs per chunk (each vector read from memory once), the chunks'
/// partial sums added in chunk order.
fn gram(basis: &[&Vec<f64>], xs: &[&Vec<f64>]) -> Vec<f64> {
    let (m, k) = (basis.len(), xs.len());
    if m == 0 || k == 0 {
        return Vec::new();
    }
    let n = xs[0].len();
    let parts: Vec<Vec<f64>> = (0..n.div_ceil(BLOCK_CHUNK))
        .into_par_iter()
        .map(|c| {
            let r = c * BLOCK_CHUNK..((c + 1) * BLOCK_CHUNK).min(n);
            let b: Vec<&[f64]> = basis.iter().map(|v| &v[r.clone()]).collect();
            let x: Vec<&[f64]> = xs.iter().map(|v| &v[r.clone()]).collect();
            let mut acc = vec![0.0; m * k];
            gram_rows(&b, &x, &mut acc);
            acc
        })
        .collect();
    ordered_sum(parts, m * k)
}

/// ys_g ← A xs_g for a group of G columns over one row chunk: each row's values and
/// column indices are read once for the G products.
#[inline(always)]
fn spmm_rows<const G: usize>(a: &CsrMatrix, r0: usize, xs: &[&Vec<f64>], ys: &mut [&mut [f64]]) {
    let len = ys[0].len();
    // every x cut to the column count: one check of a column index covers all G loads
    let nc = a.ncols;
    let xs: [&[f64]; G] = std::array::from_fn(|g| &xs[g][..nc]);
    let rpc = &a.row_ptr[r0..=r0 + len];
    let base = rpc[0];
    let (vc, cc) = (&a.val[base..rpc[len]], &a.col[base..rpc[len]]);
    for k in 0..len {
        let (s0, s1) = (rpc[k] - base, rpc[k + 1] - base);
        let mut s = [0.0f64; G];
        for (v, &j) in vc[s0..s1].iter().zip(&cc[s0..s1]) {
            let j = j as usize;
            assert!(j < nc);
            for g in 0..G {
                s[g] += v * xs[g][j];
            }
        }
        for g in 0..G {
            ys[g][k] = s[g];
        }
    }
}

/// ys_j ← A xs_j, groups of up to [`spmm_group`] columns, each group one parallel pass
/// over the matrix.
fn spmm_csr(a: &CsrMatrix, xs: &[&Vec<f64>], ys: &mut [&mut Vec<f64>]) {
    let n = a.nrows;
    let gs = spmm_group(a);
    for (xg, yg) in xs.chunks(gs).zip(ys.chunks_mut(gs)) {
        let g = xg.len();
        chunks_of_block(yg, n, BLOCK_CHUNK).into_par_iter().enumerate().for_each(|(c, mut ycs)| {
            let r0 = c * BLOCK_CHUNK;
            macro_rules! group {
                ($($G:literal)*) => {
                    match g {
                        $($G => spmm_rows::<$G>(a, r0, xg, &mut ycs),)*
                        _ => unreachable!(),
                    }
                };
            }
            group!(1 2 3 4 5 6 7 8);
        });
    }
}

#[derive(Clone, Debug, Default)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn new() -> Self {
        CpuBackend
    }

    /// vs ← vs·C in place ([`Backend::combine`] of the vectors onto themselves: new
    /// v_j = Σ_i v_i c_ij, the same sums in the same order), with no new vector of their
    /// length: each task copies its row range of every vector aside (in cache, the chunk of
    /// `combine`) and writes the outputs over it.
    pub fn combine_in_place(&self, vs: &mut [Vec<f64>], c: &Coeffs) {
        let k = vs.len().min(c.rows).min(c.cols);
        let n = vs.first().map_or(0, |v| v.len());
        let len = (COMBINE_L2_BYTES / (8 * k.max(1))).clamp(256, BASIS_CHUNK) / 64 * 64;
        let mut per_chunk: Vec<Vec<&mut [f64]>> = (0..n.div_ceil(len)).map(|_| Vec::with_capacity(k)).collect();
        for v in vs.iter_mut().take(k) {
            for (b, ch) in v[..n].chunks_mut(len).enumerate() {
                per_chunk[b].push(ch);
            }
        }
        per_chunk.into_par_iter().for_each(|outs| {
            let copies: Vec<Vec<f64>> = outs.iter().map(|o| o.to_vec()).collect();
            let basis: Vec<&Vec<f64>> = copies.iter().collect();
            for (j, o) in outs.into_iter().enumerate() {
                o.fill(0.0);
                axpy_many(o, &basis, &c.data[j * c.rows..j * c.rows + k], 0);
            }
        });
    }
    pub fn threads(&self) -> usize {
        rayon::current_num_threads()
    }
}

fn dot_serial(a: &[f64], b: &[f64]) -> f64 {
    // four accumulators: lets the compiler vectorise and shortens the dependency chain
    let mut s = [0.0f64; 4];
    let n4 = a.len() / 4 * 4;
    for i in (0..n4).step_by(4) {
        s[0] += a[i] * b[i];
        s[1] += a[i + 1] * b[i + 1];
        s[2] += a[i + 2] * b[i + 2];
        s[3] += a[i + 3] * b[i + 3];
    }
    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
    for i in n4..a.len() {
        t += a[i] * b[i];
    }
    t
}

/// acc[i] += basis[i][r0..r0+len] · x, four basis vectors per sweep of x (x is loaded
/// once per four products; 16 independent accumulators vectorise).
fn dot_many(basis: &[&Vec<f64>], x: &[f64], r0: usize, acc: &mut [f64]) {
    let n = x.len();
    let n4 = n / 4 * 4;
    let mut i = 0;
    while i + 4 <= basis.len() {
        let b = [&basis[i][r0..r0 + n], &basis[i + 1][r0..r0 + n], &basis[i + 2][r0..r0 + n], &basis[i + 3][r0..r0 + n]];
        let mut s = [[0.0f64; 4]; 4];
        for p in (0..n4).step_by(4) {
            let xs = &x[p..p + 4];
            for (sk, bk) in s.iter_mut().zip(&b) {
                let bs = &bk[p..p + 4];
                for l in 0..4 {
                    sk[l] += bs[l] * xs[l];
                }
            }
        }
        for (k, bk) in b.iter().enumerate() {
            let mut t = (s[k][0] + s[k][1]) + (s[k][2] + s[k][3]);
            for p in n4..n {
                t += bk[p] * x[p];
            }
            acc[i + k] += t;
        }
        i += 4;
    }
    for k in i..basis.len() {
        acc[k] += dot_serial(&basis[k][r0..r0 + n], x);
    }
}

/// y += Σ_i c_i basis_i[r0..r0+len], four basis vectors per sweep of y (y is loaded and
/// stored once per four updates).
fn axpy_many(y: &mut [f64], basis: &[&Vec<f64>], c: &[f64], r0: usize) {
    let n = y.len();
    let mut i = 0;
    while i + 4 <= basis.len() {
        let cc = [c[i], c[i + 1], c[i + 2], c[i + 3]];
        if cc != [0.0; 4] {
            let (b0, b1, b2, b3) =
                (&basis[i][r0..r0 + n], &basis[i + 1][r0..r0 + n], &basis[i + 2][r0..r0 + n], &basis[i + 3][r0..r0 + n]);
            for p in 0..n {
                y[p] += cc[0] * b0[p] + cc[1] * b1[p] + cc[2] * b2[p] + cc[3] * b3[p];
            }
        }
        i += 4;
    }
    for k in i..basis.len() {
        if c[k] != 0.0 {
            let bk = &basis[k][r0..r0 + n];
            for (yi, bi) in y.iter_mut().zip(bk) {
                *yi += c[k] * bi;
            }
        }
    }
}

impl Backend for CpuBackend {
    type Vector = Vec<f64>;
    type Matrix = CsrMatrix;
    type Scalars = Vec<f64>;

    fn name(&self) -> String {
        "cpu".into()
    }

    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "cpu",
            "threads": self.threads(),
            "precision": "f64",
        })
    }

    fn upload_matrix(&self, a: &CsrMatrix) -> CsrMatrix {
        a.clone()
    }
    fn upload_matrix_owned(&self, a: CsrMatrix) -> CsrMatrix {
        a
    }
    fn matrix_rows(&self, a: &CsrMatrix) -> usize {
        a.nrows
    }

    fn alloc(&self, n: usize) -> Vec<f64> {
        vec![0.0; n]
    }
    fn from_host(&self, x: &[f64]) -> Vec<f64> {
        x.to_vec()
    }
    fn to_host(&self, x: &Vec<f64>) -> Vec<f64> {
        x.clone()
    }
    fn len(&self, x: &Vec<f64>) -> usize {
        x.len()
    }

    fn copy(&self, src: &Vec<f64>, dst: &mut Vec<f64>) {
        dst.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(d, s)| d.copy_from_slice(s));
    }
    fn fill(&self, x: &mut Vec<f64>, value: f64) {
        x.par_chunks_mut(CHUNK).for_each(|c| c.fill(value));
    }

    fn spmv(&self, a: &CsrMatrix, x: &Vec<f64>, y: &mut Vec<f64>) {
        let (rp, col, val) = (&a.row_ptr[..], &a.col[..], &a.val[..]);
        let x = &x[..];
        y.par_chunks_mut(CHUNK).enumerate().for_each(|(c, yc)| {
            let r0 = c * CHUNK;
            // this chunk's rows: row pointers, then values and columns as slices, so the
            // inner loop has no bounds checks but the one on x
            let rpc = &rp[r0..=r0 + yc.len()];
            let base = rpc[0];
            let (vc, cc) = (&val[base..rpc[yc.len()]], &col[base..rpc[yc.len()]]);
            for (k, yr) in yc.iter_mut().enumerate() {
                let (s0, s1) = (rpc[k] - base, rpc[k + 1] - base);
                let mut s = 0.0;
                for (v, &j) in vc[s0..s1].iter().zip(&cc[s0..s1]) {
                    s += v * x[j as usize];
                }
                *yr = s;
            }
        });
    }

    fn spmv_axpby(&self, a: &CsrMatrix, x: &Vec<f64>, alpha: f64, beta: f64, gamma: f64, y: &mut Vec<f64>) {
        let (rp, col, val) = (&a.row_ptr, &a.col, &a.val);
        y.par_chunks_mut(CHUNK).enumerate().for_each(|(c, yc)| {
            let r0 = c * CHUNK;
            for (k, yr) in yc.iter_mut().enumerate() {
                let r = r0 + k;
                let mut s = 0.0;
                for p in rp[r]..rp[r + 1] {
                    s += val[p] * x[col[p] as usize];
                }
                let g = if gamma == 0.0 { 0.0 } else { gamma * *yr };
                *yr = alpha * s + beta * x[r] + g;
            }
        });
    }
    fn axpy(&self, alpha: f64, x: &Vec<f64>, y: &mut Vec<f64>) {
        y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(yc, xc)| {
            for (a, b) in yc.iter_mut().zip(xc) {
                *a += alpha * b;
            }
        });
    }
    fn xpby(&self, x: &Vec<f64>, beta: f64, y: &mut Vec<f64>) {
        y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(yc, xc)| {
            for (a, b) in yc.iter_mut().zip(xc) {
                *a = b + beta * *a;
            }
        });
    }
    fn scale(&self, alpha: f64, x: &mut Vec<f64>) {
        x.par_chunks_mut(CHUNK).for_each(|c| c.iter_mut().for_each(|v| *v *= alpha));
    }
    fn pointwise_mul(&self, d: &Vec<f64>, x: &Vec<f64>, z: &mut Vec<f64>) {
        z.par_chunks_mut(CHUNK).zip(d.par_chunks(CHUNK).zip(x.par_chunks(CHUNK))).for_each(|(zc, (dc, xc))| {
            for ((zi, di), xi) in zc.iter_mut().zip(dc).zip(xc) {
                *zi = di * xi;
            }
        });
    }
    fn dot(&self, x: &Vec<f64>, y: &Vec<f64>) -> f64 {
        x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)).map(|(a, b)| dot_serial(a, b)).sum()
    }

    fn multi_dot<V: Borrow<Vec<f64>>>(&self, basis: &[V], x: &Vec<f64>) -> Vec<f64> {
        let basis = &refs(basis)[..];
        let m = basis.len();
        if m == 0 {
            return Vec::new();
        }
        let n = x.len();
        let nchunks = n.div_ceil(BASIS_CHUNK);
        (0..nchunks)
            .into_par_iter()
            .fold(
                || vec![0.0; m],
                |mut acc, c| {
                    let r = c * BASIS_CHUNK..((c + 1) * BASIS_CHUNK).min(n);
                    dot_many(basis, &x[r.clone()], r.start, &mut acc);
                    acc
                },
            )
            .reduce(
                || vec![0.0; m],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            )
    }

    fn multi_axpy<V: Borrow<Vec<f64>>>(&self, basis: &[V], c: &[f64], y: &mut Vec<f64>) {
        let basis = &refs(basis)[..];
        let m = basis.len().min(c.len());
        y.par_chunks_mut(BASIS_CHUNK).enumerate().for_each(|(k, yc)| {
            axpy_many(yc, &basis[..m], &c[..m], k * BASIS_CHUNK);
        });
    }

    fn block_dot<V: Borrow<Vec<f64>>, X: Borrow<Vec<f64>>>(&self, basis: &[V], xs: &[X]) -> Vec<f64> {
        gram(&refs(basis), &refs(xs))
    }
    fn block_sub<V: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, basis: &[V], c: &Coeffs, ys: &mut [Y]) {
        let basis = &refs(basis)[..];
        let mut ys = refs_mut(ys);
        let cols = c.cols.min(ys.len());
        let rows = c.rows.min(basis.len());
        if cols == 0 {
            return;
        }
        let n = ys[0].len();
        let nchunks = n.div_ceil(BASIS_CHUNK);
        // Row chunks of every output vector, grouped by chunk, so each task owns one row
        // range of all outputs and reads each basis chunk once.
        let mut per_chunk: Vec<Vec<&mut [f64]>> = (0..nchunks).map(|_| Vec::with_capacity(cols)).collect();
        for y in ys.iter_mut().take(cols) {
            for (k, ch) in y.chunks_mut(BASIS_CHUNK).enumerate() {
                per_chunk[k].push(ch);
            }
        }
        per_chunk.into_par_iter().enumerate().for_each(|(k, mut ycs)| {
            let r0 = k * BASIS_CHUNK;
            for i in 0..rows {
                let len = ycs[0].len();
                let bc = &basis[i][r0..r0 + len];
                for (j, yc) in ycs.iter_mut().enumerate() {
                    let cij = c.data[i + j * c.rows];
                    if cij == 0.0 {
                        continue;
                    }
                    for (yv, bv) in yc.iter_mut().zip(bc) {
                        *yv -= cij * bv;
                    }
                }
            }
        });
    }
    fn combine<V: Borrow<Vec<f64>>, W: BorrowMut<Vec<f64>>>(&self, basis: &[V], c: &Coeffs, out: &mut [W]) {
        let basis = &refs(basis)[..];
        let mut out = refs_mut(out);
        let n = basis.first().map(|b| b.len()).unwrap_or(0);
        let cols = c.cols.min(out.len());
        let rows = c.rows.min(basis.len());
        // Each task owns one row range of every output and writes it in place. Outputs are
        // produced one at a time, each a multi_axpy sweep over the basis chunk; the chunk
        // is sized so the basis chunk (rows × len × 8 B) stays in L2 between outputs, so
        // the basis is read from memory once for all outputs.
        let len = (COMBINE_L2_BYTES / (8 * rows.max(1))).clamp(256, BASIS_CHUNK) / 64 * 64;
        let nchunks = n.div_ceil(len);
        let mut per_chunk: Vec<Vec<&mut [f64]>> = (0..nchunks).map(|_| Vec::with_capacity(cols)).collect();
        for o in out.iter_mut().take(cols) {
            for (k, ch) in o[..n].chunks_mut(len).enumerate() {
                per_chunk[k].push(ch);
            }
        }
        per_chunk.into_par_iter().enumerate().for_each(|(k, outs)| {
            for (j, o) in outs.into_iter().enumerate() {
                o.fill(0.0);
                axpy_many(o, &basis[..rows], &c.data[j * c.rows..j * c.rows + rows], k * len);
            }
        });
    }

    fn spmm<X: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, a: &CsrMatrix, xs: &[X], ys: &mut [Y]) {
        let k = xs.len().min(ys.len());
        spmm_csr(a, &refs(&xs[..k]), &mut refs_mut(&mut ys[..k]));
    }
    fn block_axpy<X: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, alphas: &[f64], xs: &[X], ys: &mut [Y]) {
        // the columns with α_j ≠ 0, one parallel pass over the rows of all of them
        let (xs, mut ys) = (refs(xs), refs_mut(ys));
        let mut cols: Vec<(f64, &Vec<f64>, &mut Vec<f64>)> =
            alphas.iter().zip(xs).zip(ys.iter_mut()).filter(|((&a, _), _)| a != 0.0).map(|((&a, x), y)| (a, x, &mut **y)).collect();
        if cols.is_empty() {
            return;
        }
        let n = cols[0].1.len();
        let (al, xs): (Vec<f64>, Vec<&Vec<f64>>) = cols.iter().map(|c| (c.0, c.1)).unzip();
        let mut ys: Vec<&mut Vec<f64>> = cols.iter_mut().map(|c| &mut *c.2).collect();
        chunks_of_block(&mut ys, n, CHUNK).into_par_iter().enumerate().for_each(|(c, ycs)| {
            let r0 = c * CHUNK;
            for ((yc, x), &a) in ycs.into_iter().zip(&xs).zip(&al) {
                let xc = &x[r0..r0 + yc.len()];
                for (yv, xv) in yc.iter_mut().zip(xc) {
                    *yv += a * xv;
                }
            }
        });
    }
    fn block_scale<X: BorrowMut<Vec<f64>>>(&self, alphas: &[f64], xs: &mut [X]) {
        let k = alphas.len().min(xs.len());
        let mut xs = refs_mut(&mut xs[..k]);
        let Some(n) = xs.first().map(|x| x.len()) else { return };
        chunks_of_block(&mut xs, n, CHUNK).into_par_iter().for_each(|xcs| {
            for (xc, &a) in xcs.into_iter().zip(alphas) {
                xc.iter_mut().for_each(|v| *v *= a);
            }
        });
    }
    fn block_copy<X: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, xs: &[X], ys: &mut [Y]) {
        let k = xs.len().min(ys.len());
        let (xs, mut ys) = (refs(&xs[..k]), refs_mut(&mut ys[..k]));
        let Some(n) = ys.first().map(|y| y.len()) else { return };
        chunks_of_block(&mut ys, n, CHUNK).into_par_iter().enumerate().for_each(|(c, ycs)| {
            let r0 = c * CHUNK;
            for (yc, x) in ycs.into_iter().zip(&xs) {
                yc.copy_from_slice(&x[r0..r0 + yc.len()]);
            }
        });
    }
    fn block_diag_axpby<X: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, d: &Vec<f64>, alpha: f64, xs: &[X], beta: f64, ys: &mut [Y]) {
        // (d_i x_i) α + β y_i: the rounding of pointwise_mul, scale and xpby in turn
        let k = xs.len().min(ys.len());
        let (xs, mut ys) = (refs(&xs[..k]), refs_mut(&mut ys[..k]));
        let Some(n) = ys.first().map(|y| y.len()) else { return };
        chunks_of_block(&mut ys, n, CHUNK).into_par_iter().enumerate().for_each(|(c, ycs)| {
            let r0 = c * CHUNK;
            for (yc, x) in ycs.into_iter().zip(&xs) {
                let (dc, xc) = (&d[r0..r0 + yc.len()], &x[r0..r0 + yc.len()]);
                if beta == 0.0 {
                    for ((y, dv), xv) in yc.iter_mut().zip(dc).zip(xc) {
                        *y = dv * xv * alpha;
                    }
                } else {
                    for ((y, dv), xv) in yc.iter_mut().zip(dc).zip(xc) {
                        *y = dv * xv * alpha + beta * *y;
                    }
                }
            }
        });
    }

    fn alloc_scalars(&self, n: usize) -> Vec<f64> {
        vec![0.0; n]
    }
    fn read_scalars(&self, s: &Vec<f64>) -> Vec<f64> {
        s.clone()
    }
    fn multi_dot_to<V: Borrow<Vec<f64>>>(&self, basis: &[V], x: &Vec<f64>, s: &mut Vec<f64>, first: usize) {
        let d = self.multi_dot(basis, x);
        s[first..first + d.len()].copy_from_slice(&d);
    }
    fn block_dot_to<V: Borrow<Vec<f64>>, X: Borrow<Vec<f64>>>(&self, basis: &[V], xs: &[X], s: &mut Vec<f64>, first: usize) {
        let d = gram(&refs(basis), &refs(xs));
        s[first..first + d.len()].copy_from_slice(&d);
    }
    fn column_dots_to<X: Borrow<Vec<f64>>, Y: Borrow<Vec<f64>>>(&self, xs: &[X], ys: &[Y], s: &mut Vec<f64>, first: usize) {
        let (xs, ys) = (refs(xs), refs(ys));
        let k = xs.len().min(ys.len());
        let Some(n) = xs.first().map(|x| x.len()) else { return };
        let parts: Vec<Vec<f64>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let r = c * CHUNK..((c + 1) * CHUNK).min(n);
                (0..k).map(|j| dot_serial(&xs[j][r.clone()], &ys[j][r.clone()])).collect()
            })
            .collect();
        s[first..first + k].copy_from_slice(&ordered_sum(parts, k));
    }
    fn axpy_ratio(&self, s: &Vec<f64>, num: usize, den: usize, sign: f64, x: &Vec<f64>, y: &mut Vec<f64>) {
        self.axpy(sign * safe_ratio(s[num], s[den]), x, y);
    }
    fn xpby_ratio(&self, x: &Vec<f64>, s: &Vec<f64>, num: usize, den: usize, y: &mut Vec<f64>) {
        self.xpby(x, safe_ratio(s[num], s[den]), y);
    }
    fn cg_update(&self, s: &Vec<f64>, num: usize, den: usize, p: &Vec<f64>, q: &Vec<f64>, x: &mut Vec<f64>, r: &mut Vec<f64>) {
        let alpha = safe_ratio(s[num], s[den]);
        x.par_chunks_mut(CHUNK).zip(r.par_chunks_mut(CHUNK)).zip(p.par_chunks(CHUNK).zip(q.par_chunks(CHUNK))).for_each(|((xc, rc), (pc, qc))| {
            for i in 0..xc.len() {
                xc[i] += alpha * pc[i];
                rc[i] -= alpha * qc[i];
            }
        });
    }
}

/// Halo planes are slices of the host vectors: read and added in place.
impl HaloAccess for CpuBackend {
    fn read_ranges(&self, x: &Vec<f64>, ranges: &[(usize, usize)]) -> Vec<f64> {
        ranges.iter().flat_map(|&(s, l)| x[s..s + l].iter().copied()).collect()
    }
    fn add_ranges(&self, y: &mut Vec<f64>, ranges: &[(usize, usize)], values: &[f64]) {
        let mut at = 0;
        for &(s, l) in ranges {
            y[s..s + l].iter_mut().zip(&values[at..at + l]).for_each(|(a, b)| *a += b);
            at += l;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::backend::random_values;

    #[test]
    fn combine_in_place_gives_combines_bits() {
        // lengths around the chunk and a block that is not a multiple of four
        for (n, k) in [(1, 1), (300, 3), (20_011, 7), (70_000, 10)] {
            let be = CpuBackend::new();
            let vs: Vec<Vec<f64>> = (0..k).map(|i| random_values(n, i as u64)).collect();
            let c = random_values(k * k, 99);
            let coeffs = Coeffs { rows: k, cols: k, data: &c };
            let mut want: Vec<Vec<f64>> = (0..k).map(|_| vec![0.0; n]).collect();
            be.combine(&vs, &coeffs, &mut want);
            let mut got = vs.clone();
            be.combine_in_place(&mut got, &coeffs);
            assert_eq!(got, want, "n = {n}, k = {k}");
        }
    }
}
