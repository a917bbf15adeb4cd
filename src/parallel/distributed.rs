//! The distributed backend: a [`Backend`] over ranks, each holding its block of every
//! vector and of every operator's rows on a local backend (CPU or GPU).
//!
//! The algorithms (CG, Lanczos, multigrid, the self-consistent loop) see global lengths and
//! call the same trait methods as on one process; underneath:
//! - **Vectors** of global length n are split by the [`Partition`] of n (contiguous blocks,
//!   whole grid planes where the operator's plane size is known); the first operator of a
//!   given size fixes its partition, so every vector and operator of that size agree.
//! - **Operators**: [`Backend::upload_matrix`] keeps this rank's rows. Couplings to columns
//!   this rank owns form the local matrix (on the local backend, in its best layout: a
//!   stencil for a grid operator); couplings to other ranks' columns (the ghost layer)
//!   form a small host matrix. The ghost lists are exchanged once, at upload: each rank
//!   tells every owner which of its entries it needs.
//! - **spmv** (`y = A x`): the entries other ranks need are read from the local backend
//!   (contiguous planes: one read of a few ranges), sent and received with non-blocking
//!   MPI while the local backend computes the product of the local matrix; then the ghost
//!   matrix times the received values is added to the boundary rows.
//! - **dots and norms**: local partial sums, combined over ranks (in rank order, so every
//!   rank holds the same bits and takes the same branches).
//! - **to_host / from_host**: whole global vectors on every rank (all-gather / own slice),
//!   so the host-side physics and the output are those of a serial run.
//! - **block products** (`spmm`, `spmv_axpby_block`): one halo exchange for the whole block.
//!
//! Scalars (CG's step lengths, LOBPCG's Gram blocks) live on the host: they are global
//! sums anyway (`block_dot_to`, `column_dots_to`: the local block kernel, one read-back from
//! the local backend, one global sum).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use super::comm::Comm;
use super::partition::{plane_size, runs, Partition};
use std::borrow::{Borrow, BorrowMut};

use crate::linalg::backend::{refs, refs_mut, Backend, Coeffs, HaloAccess};
use crate::linalg::CsrMatrix;

/// A [`Backend`] whose vectors and operators are split over the ranks of `comm`.
pub struct DistBackend<L: HaloAccess> {
    local: L,
    comm: Arc<dyn Comm>,
    parts: Mutex<Vec<Arc<Partition>>>,
    /// Per rank: host, node-local rank, the local backend's details.
    ranks: Vec<Value>,
    stats: CommStats,
}

/// Where a rank's communication time goes (nanoseconds; for results.json and `scaling`).
#[derive(Default)]
struct CommStats {
    products: AtomicU64,
    halo_read_ns: AtomicU64,
    exchange_ns: AtomicU64,
    ghost_add_ns: AtomicU64,
    reductions: AtomicU64,
    reduction_ns: AtomicU64,
    gathers: AtomicU64,
}

fn add_since(c: &AtomicU64, t: Instant) {
    c.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

/// This rank's block of a global vector.
pub struct DistVector<V> {
    local: V,
    n: usize,
}

/// This rank's rows of a global operator, with its halo-exchange plan: the couplings to
/// this rank's entries on the local backend, those to other ranks' entries (the ghost
/// layer) on the host.
pub struct DistMatrix<M> {
    local: M,
    rows: Arc<Partition>,
    cols: Arc<Partition>,
    /// Couplings of the boundary rows to ghost entries: row k is local row
    /// `ghost_rows[k]` (ascending), column s is ghost slot s. Both sides of a coupling
    /// across ranks are applied from the same f64 value, so the operator stays symmetric
    /// whatever precision the local backend computes in.
    ghost: CsrMatrix,
    /// `ghost_rows` as runs of consecutive local rows.
    ghost_row_runs: Vec<(usize, usize)>,
    /// Per destination rank: how many values it gets, in the order of `send_runs`.
    sends: Vec<(usize, usize)>,
    /// Local entries to send, as runs, destinations in the order of `sends`.
    send_runs: Vec<(usize, usize)>,
    /// Per source rank: first ghost slot and count.
    recvs: Vec<(usize, usize, usize)>,
    nghost: usize,
}

impl<L: HaloAccess> DistBackend<L> {
    /// Wrap `local` (collective: every rank calls it). Gathers each rank's host and
    /// backend details for results.json.
    pub fn new(local: L, comm: Arc<dyn Comm>) -> DistBackend<L> {
        let (node_rank, node_size) = comm.node_rank();
        let me = json!({
            "rank": comm.rank(),
            "host": comm.host(),
            "node_rank": node_rank,
            "ranks_on_node": node_size,
            "backend": local.name(),
            "details": local.details(),
        });
        let ranks = comm
            .all_gather_bytes(me.to_string().as_bytes())
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap_or(Value::Null))
            .collect();
        DistBackend { local, comm, parts: Mutex::new(Vec::new()), ranks, stats: CommStats::default() }
    }

    /// The partition of global length n: the one registered for n, else a new one with
    /// `unit` entries per plane.
    pub fn partition(&self, n: usize, unit: impl FnOnce() -> usize) -> Arc<Partition> {
        if let Some(p) = self.lock().iter().find(|p| p.n == n) {
            return p.clone();
        }
        let p = Arc::new(Partition::balanced(n, self.comm.size(), unit()));
        self.lock().push(p.clone());
        p
    }

    fn part(&self, n: usize) -> Arc<Partition> {
        self.partition(n, || 1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Partition>>> {
        self.parts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wrap(&self, local: L::Vector, n: usize) -> DistVector<L::Vector> {
        DistVector { local, n }
    }

    /// ys_j ← α A xs_j + β xs_j + γ ys_j (`coef` = Some((α, β, γ))) or ys_j ← A xs_j
    /// (None) for a block of vectors, with one halo exchange for the whole block:
    /// 1. one read from the local backend of the entries other ranks need, for every x;
    /// 2. non-blocking sends and receives of the block's halo (one message per neighbour),
    ///    while the local backend computes the products with the local couplings (for
    ///    ys ← A xs one local spmm: the local operator read once for the block);
    /// 3. the ghost couplings times the received entries (host) added to the boundary rows.
    fn product_block(&self, a: &DistMatrix<L::Matrix>, xs: &[&DistVector<L::Vector>], coef: Option<(f64, f64, f64)>, ys: &mut [&mut DistVector<L::Vector>]) {
        let b = xs.len();
        let st = &self.stats;
        st.products.fetch_add(b as u64, Ordering::Relaxed);
        // the local couplings' products: the block in one local spmm (the operator read
        // once for the block), or the Chebyshev step per vector
        let local_products = |ys: &mut [&mut DistVector<L::Vector>]| match coef {
            Some((al, be, ga)) => {
                for (x, y) in xs.iter().zip(ys.iter_mut()) {
                    self.local.spmv_axpby(&a.local, &x.local, al, be, ga, &mut y.local);
                }
            }
            None if b == 1 => self.local.spmv(&a.local, &xs[0].local, &mut ys[0].local),
            None => self.local.spmm(&a.local, &locals(xs), &mut locals_mut(ys)),
        };
        if a.sends.is_empty() && a.recvs.is_empty() {
            local_products(ys);
            return;
        }
        let t = Instant::now();
        let vals = if a.send_runs.is_empty() {
            vec![Vec::new(); b]
        } else {
            let reads: Vec<_> = xs.iter().map(|x| (&x.local, &a.send_runs[..])).collect();
            self.local.read_ranges_many(&reads)
        };
        add_since(&st.halo_read_ns, t);
        // one message per destination: the block's values for it, vector after vector
        let mut sendbufs: Vec<Vec<f64>> = Vec::with_capacity(a.sends.len());
        let mut at = 0;
        for &(_, count) in &a.sends {
            sendbufs.push((0..b).flat_map(|j| vals[j][at..at + count].iter().copied()).collect());
            at += count;
        }
        let sends: Vec<(usize, &[f64])> = a.sends.iter().zip(&sendbufs).map(|(s, buf)| (s.0, &buf[..])).collect();
        let mut recvbufs: Vec<Vec<f64>> = a.recvs.iter().map(|r| vec![0.0; b * r.2]).collect();
        {
            let mut recvs: Vec<(usize, &mut [f64])> = a.recvs.iter().zip(recvbufs.iter_mut()).map(|(r, buf)| (r.0, &mut buf[..])).collect();
            let t = Instant::now();
            self.comm.exchange(&sends, &mut recvs, &mut || {
                local_products(ys);
                // the device computes while this rank waits for its neighbours
                self.local.flush();
            });
            add_since(&st.exchange_ns, t);
        }
        let t = Instant::now();
        let scale = coef.map_or(1.0, |c| c.0);
        for (j, y) in ys.iter_mut().enumerate() {
            let mut g = Vec::with_capacity(a.nghost);
            for (r, buf) in a.recvs.iter().zip(&recvbufs) {
                g.extend_from_slice(&buf[j * r.2..(j + 1) * r.2]);
            }
            let mut c = a.ghost.mul_vec(&g);
            if scale != 1.0 {
                c.iter_mut().for_each(|v| *v *= scale);
            }
            self.local.add_ranges(&mut y.local, &a.ghost_row_runs, &c);
        }
        self.local.flush();
        add_since(&st.ghost_add_ns, t);
    }

    fn global_sums(&self, mut v: Vec<f64>) -> Vec<f64> {
        let t = Instant::now();
        self.comm.all_sum(&mut v);
        self.stats.reductions.fetch_add(1, Ordering::Relaxed);
        add_since(&self.stats.reduction_ns, t);
        v
    }

    /// This rank's communication counters: products, the seconds spent reading halos from
    /// the local backend, in exchanges (the local products overlap them), adding the ghost
    /// couplings, and in reductions.
    pub fn comm_stats(&self) -> Value {
        let s = &self.stats;
        let sec = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 * 1e-9;
        json!({
            "products": s.products.load(Ordering::Relaxed),
            "halo_read_s": sec(&s.halo_read_ns),
            "exchange_with_local_product_s": sec(&s.exchange_ns),
            "ghost_add_s": sec(&s.ghost_add_ns),
            "reductions": s.reductions.load(Ordering::Relaxed),
            "reduction_s": sec(&s.reduction_ns),
            "gathers": s.gathers.load(Ordering::Relaxed),
        })
    }
}

impl<L: HaloAccess> Backend for DistBackend<L> {
    type Vector = DistVector<L::Vector>;
    type Matrix = DistMatrix<L::Matrix>;
    type Scalars = Vec<f64>;

    fn name(&self) -> String {
        format!("{}-mpi", self.local.name())
    }

    fn details(&self) -> Value {
        // rows of the largest operator (the grid's) per rank
        let parts = self.lock();
        let main = parts.iter().max_by_key(|p| p.n).cloned();
        drop(parts);
        let per_rank: Vec<Value> = self
            .ranks
            .iter()
            .enumerate()
            .map(|(r, info)| {
                let mut v = info.clone();
                if let Some(p) = &main {
                    let range = p.range(r);
                    v["rows"] = json!(range.len());
                    v["first_row"] = json!(range.start);
                }
                v
            })
            .collect();
        json!({
            "kind": "mpi",
            "ranks": self.comm.size(),
            "library": self.comm.library(),
            "local_backend": self.local.name(),
            "decomposition": "contiguous blocks of whole planes along the slowest grid axis (z in 3D, y in 2D, x in 1D), halo exchange with non-blocking point-to-point messages overlapped with the local product",
            "global_rows": main.as_ref().map(|p| p.n),
            "per_rank": per_rank,
            "communication_rank0": self.comm_stats(),
            // this rank's own (the output gathers every rank's into per_rank; null on a CPU)
            "local_peak_device_bytes": self.local.details()["transfers"]["peak_device_bytes"].clone(),
        })
    }

    fn precision_bits(&self) -> u32 {
        self.local.precision_bits()
    }

    fn upload_matrix(&self, a: &CsrMatrix) -> Self::Matrix {
        let square = a.nrows == a.ncols;
        let rows = self.partition(a.nrows, || {
            if !square {
                return 1;
            }
            let mut p = [plane_size(a.nrows, &a.row_ptr, &a.col, 0..a.nrows) as f64];
            self.comm.all_max(&mut p);
            p[0] as usize
        });
        let cols = if square { rows.clone() } else { self.part(a.ncols) };
        let me = self.comm.rank();
        let (r0, r1) = (rows.starts[me], rows.starts[me + 1]);
        let (c0, c1) = (cols.starts[me], cols.starts[me + 1]);
        let mut row_ptr = Vec::with_capacity(r1 - r0 + 1);
        row_ptr.push(0);
        let (mut col, mut val) = (Vec::new(), Vec::new());
        // (local row, global column, value) of couplings to other ranks' entries
        let mut ghosts: Vec<(usize, usize, f64)> = Vec::new();
        for r in r0..r1 {
            for p in a.row_ptr[r]..a.row_ptr[r + 1] {
                let c = a.col[p] as usize;
                if (c0..c1).contains(&c) {
                    col.push((c - c0) as u32);
                    val.push(a.val[p]);
                } else {
                    ghosts.push((r - r0, c, a.val[p]));
                }
            }
            row_ptr.push(col.len());
        }
        let local_csr = CsrMatrix { nrows: r1 - r0, ncols: c1 - c0, row_ptr, col, val, stencil: None };
        // ghost slots: the distinct global columns, ascending (so grouped by owner)
        let mut gcols: Vec<usize> = ghosts.iter().map(|g| g.1).collect();
        gcols.sort_unstable();
        gcols.dedup();
        let mut grows: Vec<usize> = ghosts.iter().map(|g| g.0).collect();
        grows.sort_unstable();
        grows.dedup();
        let trip: Vec<(usize, usize, f64)> = ghosts
            .iter()
            .map(|&(r, c, v)| (grows.binary_search(&r).unwrap_or(0), gcols.binary_search(&c).unwrap_or(0), v))
            .collect();
        let ghost = CsrMatrix::from_triplets(grows.len(), gcols.len(), &trip);
        // what this rank needs from each owner, and (exchanged) what each rank needs from it
        let size = self.comm.size();
        let mut need = vec![0.0; size];
        let mut recvs = Vec::new();
        let mut first = 0;
        while first < gcols.len() {
            let q = cols.owner(gcols[first]);
            let count = gcols[first..].iter().take_while(|&&c| cols.owner(c) == q).count();
            need[q] = count as f64;
            recvs.push((q, first, count));
            first += count;
        }
        let counts = self.comm.all_gather_v(&need, &vec![size; size]);
        let req_vals: Vec<f64> = gcols.iter().map(|&c| c as f64).collect();
        let req_sends: Vec<(usize, &[f64])> = recvs.iter().map(|&(q, f, n)| (q, &req_vals[f..f + n])).collect();
        let wanted: Vec<(usize, usize)> = (0..size).filter(|&r| r != me).map(|r| (r, counts[r * size + me] as usize)).filter(|w| w.1 > 0).collect();
        let mut req_bufs: Vec<Vec<f64>> = wanted.iter().map(|w| vec![0.0; w.1]).collect();
        {
            let mut req_recvs: Vec<(usize, &mut [f64])> = wanted.iter().map(|w| w.0).zip(req_bufs.iter_mut().map(|b| &mut b[..])).collect();
            self.comm.exchange(&req_sends, &mut req_recvs, &mut || {});
        }
        let mut sends = Vec::new();
        let mut send_runs = Vec::new();
        for (&(dst, count), buf) in wanted.iter().zip(&req_bufs) {
            let idx: Vec<usize> = buf.iter().map(|&g| g as usize - c0).collect();
            sends.push((dst, count));
            send_runs.extend(runs(&idx));
        }
        DistMatrix {
            local: self.local.upload_matrix(&local_csr),
            rows,
            cols,
            ghost,
            ghost_row_runs: runs(&grows),
            sends,
            send_runs,
            nghost: gcols.len(),
            recvs,
        }
    }
    fn matrix_rows(&self, a: &Self::Matrix) -> usize {
        a.rows.n
    }

    fn alloc(&self, n: usize) -> Self::Vector {
        let p = self.part(n);
        self.wrap(self.local.alloc(p.len_of(self.comm.rank())), n)
    }
    fn from_host(&self, x: &[f64]) -> Self::Vector {
        let p = self.part(x.len());
        self.wrap(self.local.from_host(&x[p.range(self.comm.rank())]), x.len())
    }
    fn to_host(&self, x: &Self::Vector) -> Vec<f64> {
        let p = self.part(x.n);
        self.stats.gathers.fetch_add(1, Ordering::Relaxed);
        self.comm.all_gather_v(&self.local.to_host(&x.local), &p.counts())
    }
    fn len(&self, x: &Self::Vector) -> usize {
        x.n
    }

    fn copy(&self, src: &Self::Vector, dst: &mut Self::Vector) {
        self.local.copy(&src.local, &mut dst.local)
    }
    fn fill(&self, x: &mut Self::Vector, value: f64) {
        self.local.fill(&mut x.local, value)
    }
    fn spmv(&self, a: &Self::Matrix, x: &Self::Vector, y: &mut Self::Vector) {
        debug_assert_eq!(x.n, a.cols.n);
        self.product_block(a, &[x], None, &mut [y]);
    }
    fn spmv_axpby(&self, a: &Self::Matrix, x: &Self::Vector, alpha: f64, beta: f64, gamma: f64, y: &mut Self::Vector) {
        self.product_block(a, &[x], Some((alpha, beta, gamma)), &mut [y]);
    }
    fn spmv_axpby_block<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, a: &Self::Matrix, xs: &[X], alpha: f64, beta: f64, gamma: f64, ys: &mut [Y]) {
        self.product_block(a, &refs(xs), Some((alpha, beta, gamma)), &mut refs_mut(ys));
    }
    fn spmm<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, a: &Self::Matrix, xs: &[X], ys: &mut [Y]) {
        self.product_block(a, &refs(xs), None, &mut refs_mut(ys));
    }
    fn block_axpy<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, alphas: &[f64], xs: &[X], ys: &mut [Y]) {
        self.local.block_axpy(alphas, &locals(xs), &mut locals_mut(ys))
    }
    fn block_scale<X: BorrowMut<Self::Vector>>(&self, alphas: &[f64], xs: &mut [X]) {
        self.local.block_scale(alphas, &mut locals_mut(xs))
    }
    fn block_copy<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, xs: &[X], ys: &mut [Y]) {
        self.local.block_copy(&locals(xs), &mut locals_mut(ys))
    }
    fn block_diag_axpby<X: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, d: &Self::Vector, alpha: f64, xs: &[X], beta: f64, ys: &mut [Y]) {
        self.local.block_diag_axpby(&d.local, alpha, &locals(xs), beta, &mut locals_mut(ys))
    }
    fn axpy(&self, alpha: f64, x: &Self::Vector, y: &mut Self::Vector) {
        self.local.axpy(alpha, &x.local, &mut y.local)
    }
    fn xpby(&self, x: &Self::Vector, beta: f64, y: &mut Self::Vector) {
        self.local.xpby(&x.local, beta, &mut y.local)
    }
    fn scale(&self, alpha: f64, x: &mut Self::Vector) {
        self.local.scale(alpha, &mut x.local)
    }
    fn pointwise_mul(&self, d: &Self::Vector, x: &Self::Vector, z: &mut Self::Vector) {
        self.local.pointwise_mul(&d.local, &x.local, &mut z.local)
    }
    fn dot(&self, x: &Self::Vector, y: &Self::Vector) -> f64 {
        self.global_sums(vec![self.local.dot(&x.local, &y.local)])[0]
    }
    fn multi_dot<V: Borrow<Self::Vector>>(&self, basis: &[V], x: &Self::Vector) -> Vec<f64> {
        self.global_sums(self.local.multi_dot(&locals(basis), &x.local))
    }
    fn multi_axpy<V: Borrow<Self::Vector>>(&self, basis: &[V], c: &[f64], y: &mut Self::Vector) {
        self.local.multi_axpy(&locals(basis), c, &mut y.local)
    }
    fn combine<V: Borrow<Self::Vector>, W: BorrowMut<Self::Vector>>(&self, basis: &[V], c: &Coeffs, out: &mut [W]) {
        self.local.combine(&locals(basis), c, &mut locals_mut(out))
    }
    fn block_dot<V: Borrow<Self::Vector>, X: Borrow<Self::Vector>>(&self, basis: &[V], xs: &[X]) -> Vec<f64> {
        self.global_sums(self.local.block_dot(&locals(basis), &locals(xs)))
    }
    fn block_sub<V: Borrow<Self::Vector>, Y: BorrowMut<Self::Vector>>(&self, basis: &[V], c: &Coeffs, ys: &mut [Y]) {
        self.local.block_sub(&locals(basis), c, &mut locals_mut(ys))
    }
    /// The scalars are on the host: reading them is free.
    fn cheap_readback(&self) -> bool {
        true
    }
    fn alloc_scalars(&self, n: usize) -> Vec<f64> {
        vec![0.0; n]
    }
    fn read_scalars(&self, s: &Vec<f64>) -> Vec<f64> {
        s.clone()
    }
    fn multi_dot_to<V: Borrow<Self::Vector>>(&self, basis: &[V], x: &Self::Vector, s: &mut Vec<f64>, first: usize) {
        let c = self.multi_dot(basis, x);
        s[first..first + c.len()].copy_from_slice(&c);
    }
    /// The local Gram block computed where the local backend computes (its block kernel),
    /// read in one read-back, then one global sum.
    fn block_dot_to<V: Borrow<Self::Vector>, X: Borrow<Self::Vector>>(&self, basis: &[V], xs: &[X], s: &mut Vec<f64>, first: usize) {
        let count = basis.len() * xs.len();
        let mut ls = self.local.alloc_scalars(count);
        self.local.block_dot_to(&locals(basis), &locals(xs), &mut ls, 0);
        let c = self.global_sums(self.local.read_scalars(&ls));
        s[first..first + count].copy_from_slice(&c[..count]);
    }
    /// The local column dots, one read-back, one global sum.
    fn column_dots_to<X: Borrow<Self::Vector>, Y: Borrow<Self::Vector>>(&self, xs: &[X], ys: &[Y], s: &mut Vec<f64>, first: usize) {
        let count = xs.len().min(ys.len());
        let mut ls = self.local.alloc_scalars(count);
        self.local.column_dots_to(&locals(xs), &locals(ys), &mut ls, 0);
        let c = self.global_sums(self.local.read_scalars(&ls));
        s[first..first + count].copy_from_slice(&c[..count]);
    }
    fn axpy_ratio(&self, s: &Vec<f64>, num: usize, den: usize, sign: f64, x: &Self::Vector, y: &mut Self::Vector) {
        self.local.axpy(sign * crate::linalg::backend::safe_ratio(s[num], s[den]), &x.local, &mut y.local)
    }
    fn xpby_ratio(&self, x: &Self::Vector, s: &Vec<f64>, num: usize, den: usize, y: &mut Self::Vector) {
        self.local.xpby(&x.local, crate::linalg::backend::safe_ratio(s[num], s[den]), &mut y.local)
    }
    fn cg_update(&self, s: &Vec<f64>, num: usize, den: usize, p: &Self::Vector, q: &Self::Vector, x: &mut Self::Vector, r: &mut Self::Vector) {
        let alpha = crate::linalg::backend::safe_ratio(s[num], s[den]);
        self.local.axpy(alpha, &p.local, &mut x.local);
        self.local.axpy(-alpha, &q.local, &mut r.local);
    }
    fn random(&self, n: usize, seed: u64) -> Self::Vector {
        // the serial run's vector, restricted to this rank's block
        self.from_host(&crate::linalg::backend::random_values(n, seed))
    }
}

/// The local parts of a slice of distributed vectors.
fn locals<V: Borrow<DistVector<T>>, T>(v: &[V]) -> Vec<&T> {
    v.iter().map(|d| &d.borrow().local).collect()
}

/// The local parts of a slice of distributed vectors, mutably.
fn locals_mut<V: BorrowMut<DistVector<T>>, T>(v: &mut [V]) -> Vec<&mut T> {
    v.iter_mut().map(|d| &mut d.borrow_mut().local).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::linalg::cg::{pcg, CgOptions, Jacobi};
    use crate::linalg::lanczos::{lowest_eigenpairs, LanczosOptions};

    /// On one process the distributed backend is the local backend: CG and Lanczos give
    /// the same answers (the multi-rank cases run under mpirun in tests/it/distributed.rs).
    #[test]
    fn one_rank_wraps_the_local_backend_exactly() {
        let a = crate::bench::dot_hamiltonian(9);
        let cpu = CpuBackend::new();
        let dist = DistBackend::new(CpuBackend::new(), Arc::new(super::super::Solo));
        let b: Vec<f64> = crate::linalg::backend::random_values(a.nrows, 3);
        let x_cpu = {
            let m = cpu.upload_matrix(&a);
            let (r, mut x) = (cpu.from_host(&b), cpu.alloc(a.nrows));
            pcg(&cpu, &m, &r, &mut x, &Jacobi::new(&cpu, &a), &CgOptions { tol: 1e-10, max_iterations: 500 });
            cpu.to_host(&x)
        };
        let m = dist.upload_matrix(&a);
        let (r, mut x) = (dist.from_host(&b), dist.alloc(a.nrows));
        let res = pcg(&dist, &m, &r, &mut x, &Jacobi::new(&dist, &a), &CgOptions { tol: 1e-10, max_iterations: 500 });
        assert!(res.converged);
        let x_dist = dist.to_host(&x);
        assert!(x_cpu.iter().zip(&x_dist).all(|(p, q)| (p - q).abs() < 1e-12));
        let o = LanczosOptions { nev: 4, tol: 1e-9, ..Default::default() };
        let e_cpu = lowest_eigenpairs(&cpu, &cpu.upload_matrix(&a), &o, &mut |_| {}).values;
        let e_dist = lowest_eigenpairs(&dist, &m, &o, &mut |_| {}).values;
        assert!(e_cpu.iter().zip(&e_dist).all(|(p, q)| (p - q).abs() < 1e-12), "{e_cpu:?} vs {e_dist:?}");
        assert_eq!(dist.name(), "cpu-mpi");
        assert_eq!(dist.details()["per_rank"][0]["rows"], a.nrows);
    }

    /// A CPU backend that records which of its operations were called.
    struct Recorder {
        cpu: CpuBackend,
        log: Mutex<Vec<&'static str>>,
    }

    impl Recorder {
        fn new() -> Self {
            Recorder { cpu: CpuBackend::new(), log: Mutex::new(Vec::new()) }
        }
        fn note(&self, op: &'static str) {
            self.log.lock().unwrap().push(op);
        }
        fn take(&self) -> Vec<&'static str> {
            std::mem::take(&mut *self.log.lock().unwrap())
        }
    }

    impl Backend for Recorder {
        type Vector = Vec<f64>;
        type Matrix = CsrMatrix;
        type Scalars = Vec<f64>;
        fn name(&self) -> String {
            self.cpu.name()
        }
        fn details(&self) -> Value {
            self.cpu.details()
        }
        fn precision_bits(&self) -> u32 {
            self.cpu.precision_bits()
        }
        fn cheap_readback(&self) -> bool {
            self.cpu.cheap_readback()
        }
        fn upload_matrix(&self, a: &CsrMatrix) -> CsrMatrix {
            self.note("upload_matrix");
            self.cpu.upload_matrix(a)
        }
        fn upload_stencil(&self, a: &crate::linalg::stencil::StencilMatrix) -> CsrMatrix {
            self.note("upload_stencil");
            self.cpu.upload_stencil(a)
        }
        fn upload_transfer(&self, t: &crate::linalg::multigrid::Aggregation) -> CsrMatrix {
            self.note("upload_transfer");
            self.cpu.upload_transfer(t)
        }
        fn matrix_rows(&self, a: &CsrMatrix) -> usize {
            self.cpu.matrix_rows(a)
        }
        fn alloc(&self, n: usize) -> Vec<f64> {
            self.note("alloc");
            self.cpu.alloc(n)
        }
        fn from_host(&self, x: &[f64]) -> Vec<f64> {
            self.note("from_host");
            self.cpu.from_host(x)
        }
        fn to_host(&self, x: &Vec<f64>) -> Vec<f64> {
            self.note("to_host");
            self.cpu.to_host(x)
        }
        fn len(&self, x: &Vec<f64>) -> usize {
            self.cpu.len(x)
        }
        fn random(&self, n: usize, seed: u64) -> Vec<f64> {
            self.note("random");
            self.cpu.random(n, seed)
        }
        fn copy(&self, s: &Vec<f64>, d: &mut Vec<f64>) {
            self.note("copy");
            self.cpu.copy(s, d)
        }
        fn fill(&self, x: &mut Vec<f64>, v: f64) {
            self.note("fill");
            self.cpu.fill(x, v)
        }
        fn axpy(&self, a: f64, x: &Vec<f64>, y: &mut Vec<f64>) {
            self.note("axpy");
            self.cpu.axpy(a, x, y)
        }
        fn xpby(&self, x: &Vec<f64>, b: f64, y: &mut Vec<f64>) {
            self.note("xpby");
            self.cpu.xpby(x, b, y)
        }
        fn scale(&self, a: f64, x: &mut Vec<f64>) {
            self.note("scale");
            self.cpu.scale(a, x)
        }
        fn pointwise_mul(&self, d: &Vec<f64>, x: &Vec<f64>, z: &mut Vec<f64>) {
            self.note("pointwise_mul");
            self.cpu.pointwise_mul(d, x, z)
        }
        fn dot(&self, x: &Vec<f64>, y: &Vec<f64>) -> f64 {
            self.note("dot");
            self.cpu.dot(x, y)
        }
        fn norm2(&self, x: &Vec<f64>) -> f64 {
            self.note("norm2");
            self.cpu.norm2(x)
        }
        fn spmv(&self, a: &CsrMatrix, x: &Vec<f64>, y: &mut Vec<f64>) {
            self.note("spmv");
            self.cpu.spmv(a, x, y)
        }
        fn spmv_axpby(&self, a: &CsrMatrix, x: &Vec<f64>, al: f64, be: f64, ga: f64, y: &mut Vec<f64>) {
            self.note("spmv_axpby");
            self.cpu.spmv_axpby(a, x, al, be, ga, y)
        }
        fn spmv_axpby_block<X: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, a: &CsrMatrix, xs: &[X], al: f64, be: f64, ga: f64, ys: &mut [Y]) {
            self.note("spmv_axpby_block");
            self.cpu.spmv_axpby_block(a, xs, al, be, ga, ys)
        }
        fn multi_dot<V: Borrow<Vec<f64>>>(&self, basis: &[V], x: &Vec<f64>) -> Vec<f64> {
            self.note("multi_dot");
            self.cpu.multi_dot(basis, x)
        }
        fn multi_axpy<V: Borrow<Vec<f64>>>(&self, basis: &[V], c: &[f64], y: &mut Vec<f64>) {
            self.note("multi_axpy");
            self.cpu.multi_axpy(basis, c, y)
        }
        fn combine<V: Borrow<Vec<f64>>, W: BorrowMut<Vec<f64>>>(&self, basis: &[V], c: &Coeffs, out: &mut [W]) {
            self.note("combine");
            self.cpu.combine(basis, c, out)
        }
        fn block_dot<V: Borrow<Vec<f64>>, X: Borrow<Vec<f64>>>(&self, basis: &[V], xs: &[X]) -> Vec<f64> {
            self.note("block_dot");
            self.cpu.block_dot(basis, xs)
        }
        fn block_sub<V: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, basis: &[V], c: &Coeffs, ys: &mut [Y]) {
            self.note("block_sub");
            self.cpu.block_sub(basis, c, ys)
        }
        fn spmm<X: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, a: &CsrMatrix, xs: &[X], ys: &mut [Y]) {
            self.note("spmm");
            self.cpu.spmm(a, xs, ys)
        }
        fn block_axpy<X: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, al: &[f64], xs: &[X], ys: &mut [Y]) {
            self.note("block_axpy");
            self.cpu.block_axpy(al, xs, ys)
        }
        fn block_scale<X: BorrowMut<Vec<f64>>>(&self, al: &[f64], xs: &mut [X]) {
            self.note("block_scale");
            self.cpu.block_scale(al, xs)
        }
        fn block_copy<X: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, xs: &[X], ys: &mut [Y]) {
            self.note("block_copy");
            self.cpu.block_copy(xs, ys)
        }
        fn block_diag_axpby<X: Borrow<Vec<f64>>, Y: BorrowMut<Vec<f64>>>(&self, d: &Vec<f64>, al: f64, xs: &[X], be: f64, ys: &mut [Y]) {
            self.note("block_diag_axpby");
            self.cpu.block_diag_axpby(d, al, xs, be, ys)
        }
        fn block_dot_to<V: Borrow<Vec<f64>>, X: Borrow<Vec<f64>>>(&self, basis: &[V], xs: &[X], s: &mut Vec<f64>, first: usize) {
            self.note("block_dot_to");
            self.cpu.block_dot_to(basis, xs, s, first)
        }
        fn column_dots_to<X: Borrow<Vec<f64>>, Y: Borrow<Vec<f64>>>(&self, xs: &[X], ys: &[Y], s: &mut Vec<f64>, first: usize) {
            self.note("column_dots_to");
            self.cpu.column_dots_to(xs, ys, s, first)
        }
        fn alloc_scalars(&self, n: usize) -> Vec<f64> {
            self.note("alloc_scalars");
            self.cpu.alloc_scalars(n)
        }
        fn read_scalars(&self, s: &Vec<f64>) -> Vec<f64> {
            self.note("read_scalars");
            self.cpu.read_scalars(s)
        }
        fn multi_dot_to<V: Borrow<Vec<f64>>>(&self, basis: &[V], x: &Vec<f64>, s: &mut Vec<f64>, first: usize) {
            self.note("multi_dot_to");
            self.cpu.multi_dot_to(basis, x, s, first)
        }
        fn axpy_ratio(&self, s: &Vec<f64>, num: usize, den: usize, sign: f64, x: &Vec<f64>, y: &mut Vec<f64>) {
            self.note("axpy_ratio");
            self.cpu.axpy_ratio(s, num, den, sign, x, y)
        }
        fn xpby_ratio(&self, x: &Vec<f64>, s: &Vec<f64>, num: usize, den: usize, y: &mut Vec<f64>) {
            self.note("xpby_ratio");
            self.cpu.xpby_ratio(x, s, num, den, y)
        }
        fn cg_update(&self, s: &Vec<f64>, num: usize, den: usize, p: &Vec<f64>, q: &Vec<f64>, x: &mut Vec<f64>, r: &mut Vec<f64>) {
            self.note("cg_update");
            self.cpu.cg_update(s, num, den, p, q, x, r)
        }
    }

    impl HaloAccess for Recorder {
        fn read_ranges(&self, x: &Vec<f64>, r: &[(usize, usize)]) -> Vec<f64> {
            self.note("read_ranges");
            self.cpu.read_ranges(x, r)
        }
        fn read_ranges_many(&self, reads: &[(&Vec<f64>, &[(usize, usize)])]) -> Vec<Vec<f64>> {
            self.note("read_ranges_many");
            self.cpu.read_ranges_many(reads)
        }
        fn add_ranges(&self, y: &mut Vec<f64>, r: &[(usize, usize)], v: &[f64]) {
            self.note("add_ranges");
            self.cpu.add_ranges(y, r, v)
        }
        fn flush(&self) {
            self.note("flush");
            self.cpu.flush()
        }
    }

    /// Calls operation `op` of `be` once on small operands of the matrix `a`.
    fn call<B: Backend>(be: &B, a: &CsrMatrix, op: &str, halo: Option<&dyn Fn(&str, &B, &mut B::Vector)>, reset: &dyn Fn()) {
        let n = a.nrows;
        let m = be.upload_matrix(a);
        let x = be.from_host(&crate::linalg::backend::random_values(n, 1));
        let mut y = be.from_host(&crate::linalg::backend::random_values(n, 2));
        let basis = vec![be.from_host(&crate::linalg::backend::random_values(n, 3)), be.from_host(&crate::linalg::backend::random_values(n, 4))];
        let mut outs = vec![be.alloc(n), be.alloc(n)];
        let c = Coeffs { rows: 2, cols: 2, data: &[1.0, 2.0, 3.0, 4.0] };
        let mut s = be.alloc_scalars(8);
        // the setup's own calls are not what is being checked
        reset();
        match op {
            "upload_matrix" => drop(be.upload_matrix(a)),
            "upload_stencil" => drop(be.upload_stencil(&crate::linalg::stencil::StencilMatrix::of(a).expect("a stencil"))),
            "upload_transfer" => drop(be.upload_transfer(&crate::linalg::multigrid::Aggregation::of([4, 4, 4], [true; 3], true))),
            "alloc" => drop(be.alloc(n)),
            "from_host" => drop(be.from_host(&vec![1.0; n])),
            "to_host" => drop(be.to_host(&x)),
            "random" => drop(be.random(n, 9)),
            "copy" => be.copy(&x, &mut y),
            "fill" => be.fill(&mut y, 2.0),
            "axpy" => be.axpy(2.0, &x, &mut y),
            "xpby" => be.xpby(&x, 2.0, &mut y),
            "scale" => be.scale(2.0, &mut y),
            "pointwise_mul" => be.pointwise_mul(&x, &basis[0], &mut y),
            "dot" => drop(be.dot(&x, &y)),
            "norm2" => drop(be.norm2(&x)),
            "spmv" => be.spmv(&m, &x, &mut y),
            "spmv_axpby" => be.spmv_axpby(&m, &x, 1.0, 2.0, 3.0, &mut y),
            "spmv_axpby_block" => be.spmv_axpby_block(&m, &basis, 1.0, 2.0, 3.0, &mut outs),
            "multi_dot" => drop(be.multi_dot(&basis, &x)),
            "multi_axpy" => be.multi_axpy(&basis, &[1.0, 2.0], &mut y),
            "combine" => be.combine(&basis, &c, &mut outs),
            "block_dot" => drop(be.block_dot(&basis, &[&x, &y])),
            "block_sub" => be.block_sub(&basis, &c, &mut outs),
            "spmm" => be.spmm(&m, &basis, &mut outs),
            "block_axpy" => be.block_axpy(&[1.0, 2.0], &basis, &mut outs),
            "block_scale" => be.block_scale(&[1.0, 2.0], &mut outs),
            "block_copy" => be.block_copy(&basis, &mut outs),
            "block_diag_axpby" => be.block_diag_axpby(&x, 2.0, &basis, 0.5, &mut outs),
            "block_dot_to" => be.block_dot_to(&basis, &[&x, &y], &mut s, 1),
            "column_dots_to" => be.column_dots_to(&basis, &outs, &mut s, 1),
            "alloc_scalars" => drop(be.alloc_scalars(3)),
            "read_scalars" => drop(be.read_scalars(&s)),
            "multi_dot_to" => be.multi_dot_to(&basis, &x, &mut s, 1),
            "axpy_ratio" => be.axpy_ratio(&s, 0, 1, 1.0, &x, &mut y),
            "xpby_ratio" => be.xpby_ratio(&x, &s, 0, 1, &mut y),
            "cg_update" => {
                let mut r = be.alloc(n);
                be.cg_update(&s, 0, 1, &x, &basis[0], &mut y, &mut r)
            }
            other => match halo {
                Some(h) => h(other, be, &mut y),
                None => panic!("no call for {other}"),
            },
        }
    }

    /// Every wrapper forwards every operation to the backend it wraps (a wrapper that
    /// leaves a provided method to its default silently runs the slower composed form):
    /// the timing backend forwards each operation as itself; the distributed backend as
    /// itself too, except where it keeps the work on the host by design (listed with the
    /// reason). A new trait operation must be added to [`OPERATIONS`] and to `call`.
    #[test]
    fn wrappers_forward_every_operation() {
        use crate::backend::timing::TimingBackend;
        use crate::linalg::backend::OPERATIONS;
        let a = crate::bench::dot_hamiltonian(4);
        let rec = Recorder::new();
        let halo = |op: &str, be: &TimingBackend<Recorder>, y: &mut Vec<f64>| match op {
            "read_ranges" => drop(be.read_ranges(y, &[(1, 3)])),
            "read_ranges_many" => drop(be.read_ranges_many(&[(&*y, &[(1, 3)][..])])),
            "add_ranges" => be.add_ranges(y, &[(1, 3)], &[1.0, 2.0, 3.0]),
            "flush" => be.flush(),
            other => panic!("no call for {other}"),
        };
        let timing = TimingBackend::new(&rec);
        for &op in OPERATIONS {
            call(&timing, &a, op, Some(&halo), &|| drop(rec.take()));
            let seen = rec.take();
            assert!(seen.contains(&op), "TimingBackend::{op} did not forward: the wrapped backend saw {seen:?}");
        }
        // DistBackend on one process: the operations it keeps on the host by design, and
        // the local operation each must reach instead
        let host_side: &[(&str, &str, &str)] = &[
            ("norm2", "dot", "a global norm is the square root of a sum of local dots over ranks"),
            ("upload_stencil", "upload_matrix", "a rank's rows are cut from the global CSR form"),
            ("upload_transfer", "upload_matrix", "a rank's rows are cut from the global CSR form"),
            ("spmv_axpby_block", "spmv_axpby", "each local product runs between the steps of the block's one halo exchange"),
            ("random", "from_host", "the serial run's random vector restricted to this rank's block"),
            ("alloc_scalars", "", "CG's scalars are global sums, kept on the host"),
            ("read_scalars", "", "CG's scalars are global sums, kept on the host"),
            ("multi_dot_to", "multi_dot", "CG's scalars are global sums, kept on the host"),
            ("axpy_ratio", "axpy", "the ratio of host scalars is applied by the local axpy"),
            ("xpby_ratio", "xpby", "the ratio of host scalars is applied by the local xpby"),
            ("cg_update", "axpy", "the ratio of host scalars is applied by two local axpys"),
        ];
        let dist = DistBackend::new(Recorder::new(), Arc::new(super::super::Solo));
        for &op in OPERATIONS.iter().filter(|op| !["read_ranges", "read_ranges_many", "add_ranges", "flush"].contains(op)) {
            call(&dist, &a, op, None, &|| drop(dist.local.take()));
            let seen = dist.local.take();
            match host_side.iter().find(|h| h.0 == op) {
                Some(&(_, "", _)) => {}
                Some(&(_, via, why)) => assert!(seen.contains(&via), "DistBackend::{op} should reach the local {via} ({why}); saw {seen:?}"),
                None => assert!(seen.contains(&op), "DistBackend::{op} did not forward: the local backend saw {seen:?}"),
            }
        }
    }
}
