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
//! Tolerances, relative: 1e-12 where the backend computes in f64, 1e-5 in f32 (the GPU's
//! default). Element-wise results are compared to the largest reference entry, dots to
//! ‖x‖‖y‖ (the scale of their rounding error), so a check never depends on cancellation.
//! Outputs are filled with NaN first wherever the operation must overwrite them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use qdsim_gpu::backend::timing::TimingBackend;
use qdsim_gpu::backend::{CpuBackend, GpuBackend};
use qdsim_gpu::linalg::backend::{random_values, Backend, Coeffs, HaloAccess};
use qdsim_gpu::linalg::CsrMatrix;
use qdsim_gpu::parallel::{Comm, DistBackend, Solo};

use crate::common::{self, laplacian3, random_sym};

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
    assert!(t.times().spmv_calls > 0, "the timing backend counts what it forwards");
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

// ---- a communicator of threads

/// What ranks send each other.
enum Msg {
    Values(Vec<f64>),
    Bytes(Vec<u8>),
}

/// One FIFO mailbox per (source, destination) pair of ranks, shared by all ranks.
#[derive(Default)]
struct Mailboxes {
    queues: Mutex<HashMap<(usize, usize), VecDeque<Msg>>>,
    arrived: Condvar,
}

/// A [`Comm`] whose ranks are threads of one process. Every collective is built from
/// point-to-point messages: as every rank makes the same calls in the same order (SPMD),
/// the k-th message from one rank to another belongs to the k-th operation in which the two
/// meet, as with MPI's ordered matching. Sums are taken in rank order, so every rank holds the
/// same bits.
struct Threads {
    rank: usize,
    size: usize,
    boxes: Arc<Mailboxes>,
}

impl Threads {
    /// A wait longer than this is a rank that failed or diverged: panic instead of hanging.
    const TIMEOUT: Duration = Duration::from_secs(60);

    fn world(size: usize) -> Vec<Threads> {
        let boxes = Arc::new(Mailboxes::default());
        (0..size).map(|rank| Threads { rank, size, boxes: boxes.clone() }).collect()
    }

    fn send(&self, to: usize, m: Msg) {
        let mut q = self.boxes.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.entry((self.rank, to)).or_default().push_back(m);
        self.boxes.arrived.notify_all();
    }

    fn recv(&self, from: usize) -> Msg {
        let t0 = Instant::now();
        let mut q = self.boxes.queues.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(m) = q.get_mut(&(from, self.rank)).and_then(|d| d.pop_front()) {
                return m;
            }
            let left = Self::TIMEOUT.checked_sub(t0.elapsed()).unwrap_or_else(|| panic!("rank {}: nothing from rank {from} within {:?}", self.rank, Self::TIMEOUT));
            q = self.boxes.arrived.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn recv_values(&self, from: usize) -> Vec<f64> {
        match self.recv(from) {
            Msg::Values(v) => v,
            Msg::Bytes(_) => panic!("rank {}: bytes from rank {from} where values were expected", self.rank),
        }
    }

    /// Every rank's values, in rank order.
    fn gather_all(&self, local: &[f64]) -> Vec<Vec<f64>> {
        for r in (0..self.size).filter(|&r| r != self.rank) {
            self.send(r, Msg::Values(local.to_vec()));
        }
        (0..self.size).map(|r| if r == self.rank { local.to_vec() } else { self.recv_values(r) }).collect()
    }
}

impl Comm for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_sum(&self, v: &mut [f64]) {
        let all = self.gather_all(v);
        for (i, x) in v.iter_mut().enumerate() {
            *x = all.iter().fold(0.0, |s, a| s + a[i]);
        }
    }
    fn all_max(&self, v: &mut [f64]) {
        let all = self.gather_all(v);
        for (i, x) in v.iter_mut().enumerate() {
            *x = all.iter().fold(f64::NEG_INFINITY, |s, a| s.max(a[i]));
        }
    }
    fn all_gather_v(&self, local: &[f64], counts: &[usize]) -> Vec<f64> {
        assert_eq!(local.len(), counts[self.rank], "rank {}: all_gather_v count", self.rank);
        let all = self.gather_all(local);
        for (r, a) in all.iter().enumerate() {
            assert_eq!(a.len(), counts[r], "rank {}: rank {r} sent {} values, {} expected", self.rank, a.len(), counts[r]);
        }
        all.concat()
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        for r in (0..self.size).filter(|&r| r != self.rank) {
            self.send(r, Msg::Bytes(local.to_vec()));
        }
        (0..self.size)
            .map(|r| {
                if r == self.rank {
                    return local.to_vec();
                }
                match self.recv(r) {
                    Msg::Bytes(b) => b,
                    Msg::Values(_) => panic!("rank {}: values from rank {r} where bytes were expected", self.rank),
                }
            })
            .collect()
    }
    fn exchange(&self, sends: &[(usize, &[f64])], recvs: &mut [(usize, &mut [f64])], during: &mut dyn FnMut()) {
        for &(to, buf) in sends {
            assert_ne!(to, self.rank, "a rank does not exchange with itself");
            self.send(to, Msg::Values(buf.to_vec()));
        }
        during();
        for (from, buf) in recvs.iter_mut() {
            let v = self.recv_values(*from);
            assert_eq!(v.len(), buf.len(), "rank {}: {} values from rank {from}, {} expected", self.rank, v.len(), buf.len());
            buf.copy_from_slice(&v);
        }
    }
    fn node_rank(&self) -> (usize, usize) {
        (self.rank, self.size)
    }
    fn host(&self) -> String {
        "threads".into()
    }
    fn library(&self) -> String {
        "threads of the test process".into()
    }
    fn abort(&self, code: i32) -> ! {
        panic!("rank {} of {} aborts the job with code {code}", self.rank, self.size)
    }
}

// ---- the suite itself: it notices every wrong operation

/// The CPU backend with one operation wrong (its result's first entry off by one): the
/// suite must fail for each operation of the trait in turn, so no operation escapes it.
struct Mutant {
    cpu: CpuBackend,
    broken: &'static str,
}

impl Mutant {
    /// Off by one in the first entry, where `op` is the broken operation.
    fn nudge(&self, op: &str, v: &mut [f64]) {
        if self.broken == op {
            if let Some(x) = v.first_mut() {
                *x += 1.0;
            }
        }
    }
    fn nudged(&self, op: &str, mut v: Vec<f64>) -> Vec<f64> {
        self.nudge(op, &mut v);
        v
    }
    fn nudge_first<Y: std::borrow::BorrowMut<Vec<f64>>>(&self, op: &str, ys: &mut [Y]) {
        if let Some(y) = ys.first_mut() {
            self.nudge(op, y.borrow_mut());
        }
    }
}

impl Backend for Mutant {
    type Vector = Vec<f64>;
    type Matrix = CsrMatrix;
    type Scalars = Vec<f64>;
    fn name(&self) -> String {
        format!("cpu with a wrong {}", self.broken)
    }
    fn details(&self) -> serde_json::Value {
        self.cpu.details()
    }
    fn upload_matrix(&self, a: &CsrMatrix) -> CsrMatrix {
        let mut m = self.cpu.upload_matrix(a);
        self.nudge("upload_matrix", &mut m.val);
        m
    }
    fn matrix_rows(&self, a: &CsrMatrix) -> usize {
        self.cpu.matrix_rows(a)
    }
    fn alloc(&self, n: usize) -> Vec<f64> {
        self.nudged("alloc", self.cpu.alloc(n))
    }
    fn from_host(&self, x: &[f64]) -> Vec<f64> {
        self.nudged("from_host", self.cpu.from_host(x))
    }
    fn to_host(&self, x: &Vec<f64>) -> Vec<f64> {
        self.nudged("to_host", self.cpu.to_host(x))
    }
    fn len(&self, x: &Vec<f64>) -> usize {
        self.cpu.len(x)
    }
    fn random(&self, n: usize, seed: u64) -> Vec<f64> {
        self.nudged("random", self.cpu.random(n, seed))
    }
    fn copy(&self, s: &Vec<f64>, d: &mut Vec<f64>) {
        self.cpu.copy(s, d);
        self.nudge("copy", d);
    }
    fn fill(&self, x: &mut Vec<f64>, v: f64) {
        self.cpu.fill(x, v);
        self.nudge("fill", x);
    }
    fn axpy(&self, a: f64, x: &Vec<f64>, y: &mut Vec<f64>) {
        self.cpu.axpy(a, x, y);
        self.nudge("axpy", y);
    }
    fn xpby(&self, x: &Vec<f64>, b: f64, y: &mut Vec<f64>) {
        self.cpu.xpby(x, b, y);
        self.nudge("xpby", y);
    }
    fn scale(&self, a: f64, x: &mut Vec<f64>) {
        self.cpu.scale(a, x);
        self.nudge("scale", x);
    }
    fn pointwise_mul(&self, d: &Vec<f64>, x: &Vec<f64>, z: &mut Vec<f64>) {
        self.cpu.pointwise_mul(d, x, z);
        self.nudge("pointwise_mul", z);
    }
    fn dot(&self, x: &Vec<f64>, y: &Vec<f64>) -> f64 {
        self.nudged("dot", vec![self.cpu.dot(x, y)])[0]
    }
    fn norm2(&self, x: &Vec<f64>) -> f64 {
        self.nudged("norm2", vec![self.cpu.norm2(x)])[0]
    }
    fn spmv(&self, a: &CsrMatrix, x: &Vec<f64>, y: &mut Vec<f64>) {
        self.cpu.spmv(a, x, y);
        self.nudge("spmv", y);
    }
    fn spmv_axpby(&self, a: &CsrMatrix, x: &Vec<f64>, al: f64, be: f64, ga: f64, y: &mut Vec<f64>) {
        self.cpu.spmv_axpby(a, x, al, be, ga, y);
        self.nudge("spmv_axpby", y);
    }
    fn spmv_axpby_block<X: std::borrow::Borrow<Vec<f64>>, Y: std::borrow::BorrowMut<Vec<f64>>>(&self, a: &CsrMatrix, xs: &[X], al: f64, be: f64, ga: f64, ys: &mut [Y]) {
        self.cpu.spmv_axpby_block(a, xs, al, be, ga, ys);
        self.nudge_first("spmv_axpby_block", ys);
    }
    fn multi_dot<V: std::borrow::Borrow<Vec<f64>>>(&self, basis: &[V], x: &Vec<f64>) -> Vec<f64> {
        self.nudged("multi_dot", self.cpu.multi_dot(basis, x))
    }
    fn multi_axpy<V: std::borrow::Borrow<Vec<f64>>>(&self, basis: &[V], c: &[f64], y: &mut Vec<f64>) {
        self.cpu.multi_axpy(basis, c, y);
        self.nudge("multi_axpy", y);
    }
    fn combine<V: std::borrow::Borrow<Vec<f64>>, W: std::borrow::BorrowMut<Vec<f64>>>(&self, basis: &[V], c: &Coeffs, out: &mut [W]) {
        self.cpu.combine(basis, c, out);
        self.nudge_first("combine", out);
    }
    fn block_dot<V: std::borrow::Borrow<Vec<f64>>, X: std::borrow::Borrow<Vec<f64>>>(&self, basis: &[V], xs: &[X]) -> Vec<f64> {
        self.nudged("block_dot", self.cpu.block_dot(basis, xs))
    }
    fn block_sub<V: std::borrow::Borrow<Vec<f64>>, Y: std::borrow::BorrowMut<Vec<f64>>>(&self, basis: &[V], c: &Coeffs, ys: &mut [Y]) {
        self.cpu.block_sub(basis, c, ys);
        self.nudge_first("block_sub", ys);
    }
    fn alloc_scalars(&self, n: usize) -> Vec<f64> {
        self.nudged("alloc_scalars", self.cpu.alloc_scalars(n))
    }
    fn read_scalars(&self, s: &Vec<f64>) -> Vec<f64> {
        self.nudged("read_scalars", self.cpu.read_scalars(s))
    }
    fn multi_dot_to<V: std::borrow::Borrow<Vec<f64>>>(&self, basis: &[V], x: &Vec<f64>, s: &mut Vec<f64>, first: usize) {
        self.cpu.multi_dot_to(basis, x, s, first);
        self.nudge("multi_dot_to", &mut s[first..]);
    }
    fn axpy_ratio(&self, s: &Vec<f64>, num: usize, den: usize, sign: f64, x: &Vec<f64>, y: &mut Vec<f64>) {
        self.cpu.axpy_ratio(s, num, den, sign, x, y);
        self.nudge("axpy_ratio", y);
    }
    fn xpby_ratio(&self, x: &Vec<f64>, s: &Vec<f64>, num: usize, den: usize, y: &mut Vec<f64>) {
        self.cpu.xpby_ratio(x, s, num, den, y);
        self.nudge("xpby_ratio", y);
    }
    #[allow(clippy::too_many_arguments)]
    fn cg_update(&self, s: &Vec<f64>, num: usize, den: usize, p: &Vec<f64>, q: &Vec<f64>, x: &mut Vec<f64>, r: &mut Vec<f64>) {
        self.cpu.cg_update(s, num, den, p, q, x, r);
        self.nudge("cg_update", r);
    }
}

impl HaloAccess for Mutant {
    fn read_ranges(&self, x: &Vec<f64>, ranges: &[(usize, usize)]) -> Vec<f64> {
        self.nudged("read_ranges", self.cpu.read_ranges(x, ranges))
    }
    fn read_ranges_many(&self, reads: &[(&Vec<f64>, &[(usize, usize)])]) -> Vec<Vec<f64>> {
        let mut r = self.cpu.read_ranges_many(reads);
        self.nudge_first("read_ranges_many", &mut r);
        r
    }
    fn add_ranges(&self, y: &mut Vec<f64>, ranges: &[(usize, usize)], values: &[f64]) {
        self.cpu.add_ranges(y, ranges, values);
        self.nudge("add_ranges", y);
    }
    fn flush(&self) {
        self.cpu.flush()
    }
}

/// Each operation of the trait list, broken in turn, fails the suite (`flush` aside: it
/// only starts work early, with no result of its own to check). A new operation in
/// `OPERATIONS` fails here until the suite checks it and [`Mutant`] can break it.
#[test]
fn the_suite_notices_each_wrong_operation() {
    use qdsim_gpu::linalg::backend::OPERATIONS;
    for &op in OPERATIONS.iter().filter(|&&op| op != "flush") {
        let m = Mutant { cpu: CpuBackend::new(), broken: op };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            conformance(&m);
            halo_conformance(&m);
        }));
        assert!(caught.is_err(), "the conformance suite passed a backend with a wrong {op}");
    }
    let fine = Mutant { cpu: CpuBackend::new(), broken: "nothing" };
    conformance(&fine);
    halo_conformance(&fine);
}
