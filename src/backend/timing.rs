//! A backend that times every operation of the backend it wraps (for `qdsim-gpu bench` and
//! the eigensolver's per-operation breakdown). It forwards every method of [`Backend`] and
//! [`HaloAccess`], provided ones included, so that timing a run never changes which kernels
//! it uses (the forwarding test in `parallel::distributed` checks this).

use std::borrow::{Borrow, BorrowMut};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

use crate::linalg::backend::{Backend, Coeffs, HaloAccess};
use crate::linalg::CsrMatrix;

/// Per-operation time of a backend (a wrapper that times every call).
pub struct TimingBackend<'a, B: Backend> {
    pub inner: &'a B,
    acc: Mutex<OpTimes>,
}

/// Seconds per group of operations, and call counts.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct OpTimes {
    /// spmv, spmv_axpby, spmv_axpby_block and spmm; a block counts a call per vector.
    pub spmv_s: f64,
    pub spmv_calls: usize,
    /// multi_dot + multi_axpy + dot/norm2 + block_dot/block_sub (Gram–Schmidt), the dots
    /// into scalars (multi_dot_to, block_dot_to, column_dots_to) and read_scalars.
    pub orthogonalise_s: f64,
    pub multi_dot_calls: usize,
    /// combine (Ritz vectors at restarts and at the end).
    pub combine_s: f64,
    pub combine_calls: usize,
    /// New vectors: alloc, from_host, random (on a GPU: buffers, host-side generation and
    /// conversion, uploads).
    pub alloc_s: f64,
    /// Everything else on vectors (scale, axpy, block_axpy, block_scale, copies, to_host,
    /// halo ranges).
    pub other_vector_s: f64,
    /// Calls that return values to the host (dot, norm2, multi_dot, block_dot,
    /// read_scalars, to_host, read_ranges, read_ranges_many): on a GPU each is a host
    /// synchronisation. The eigensolver reports it as `solver.host_syncs`.
    pub host_reads: usize,
}

impl<'a, B: Backend> TimingBackend<'a, B> {
    pub fn new(inner: &'a B) -> Self {
        TimingBackend { inner, acc: Mutex::new(OpTimes::default()) }
    }
    pub fn times(&self) -> OpTimes {
        self.acc.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn timed<T>(&self, f: impl FnOnce() -> T, add: impl FnOnce(&mut OpTimes, f64)) -> T {
        let t = Instant::now();
        let r = f();
        add(&mut self.acc.lock().unwrap_or_else(|e| e.into_inner()), t.elapsed().as_secs_f64());
        r
    }
    /// [`Self::timed`] for a call that returns values to the host: counted in `host_reads`.
    fn read<T>(&self, f: impl FnOnce() -> T, add: impl FnOnce(&mut OpTimes, f64)) -> T {
        self.timed(f, |o, t| {
            o.host_reads += 1;
            add(o, t)
        })
    }
}

fn spmv_time(o: &mut OpTimes, t: f64, calls: usize) {
    o.spmv_s += t;
    o.spmv_calls += calls;
}

fn dots_time(o: &mut OpTimes, t: f64) {
    o.orthogonalise_s += t;
    o.multi_dot_calls += 1;
}

impl<'a, B: Backend> Backend for TimingBackend<'a, B> {
    type Vector = B::Vector;
    type Matrix = B::Matrix;
    type Scalars = B::Scalars;
    fn name(&self) -> String {
        self.inner.name()
    }
    fn details(&self) -> Value {
        self.inner.details()
    }
    fn precision_bits(&self) -> u32 {
        self.inner.precision_bits()
    }
    fn cheap_readback(&self) -> bool {
        self.inner.cheap_readback()
    }
    fn upload_matrix(&self, a: &CsrMatrix) -> B::Matrix {
        self.inner.upload_matrix(a)
    }
    fn upload_matrix_owned(&self, a: CsrMatrix) -> B::Matrix {
        self.inner.upload_matrix_owned(a)
    }
    fn upload_stencil(&self, a: &crate::linalg::stencil::StencilMatrix) -> B::Matrix {
        self.inner.upload_stencil(a)
    }
    fn upload_matrix_with_stencil(&self, a: &CsrMatrix, stencil: Option<&crate::linalg::stencil::StencilMatrix>) -> B::Matrix {
        self.inner.upload_matrix_with_stencil(a, stencil)
    }
    fn upload_transfer(&self, t: &crate::linalg::multigrid::Aggregation) -> B::Matrix {
        self.inner.upload_transfer(t)
    }
    fn matrix_rows(&self, a: &B::Matrix) -> usize {
        self.inner.matrix_rows(a)
    }
    fn alloc(&self, n: usize) -> B::Vector {
        self.timed(|| self.inner.alloc(n), |o, t| o.alloc_s += t)
    }
    fn from_host(&self, x: &[f64]) -> B::Vector {
        self.timed(|| self.inner.from_host(x), |o, t| o.alloc_s += t)
    }
    fn to_host(&self, x: &B::Vector) -> Vec<f64> {
        self.read(|| self.inner.to_host(x), |o, t| o.other_vector_s += t)
    }
    fn to_host_many<X: std::borrow::Borrow<B::Vector>>(&self, xs: &[X]) -> Vec<Vec<f64>> {
        self.read(|| self.inner.to_host_many(xs), |o, t| o.other_vector_s += t)
    }
    fn len(&self, x: &B::Vector) -> usize {
        self.inner.len(x)
    }
    fn random(&self, n: usize, seed: u64) -> B::Vector {
        self.timed(|| self.inner.random(n, seed), |o, t| o.alloc_s += t)
    }
    fn copy(&self, s: &B::Vector, d: &mut B::Vector) {
        self.timed(|| self.inner.copy(s, d), |o, t| o.other_vector_s += t)
    }
    fn fill(&self, x: &mut B::Vector, v: f64) {
        self.timed(|| self.inner.fill(x, v), |o, t| o.other_vector_s += t)
    }
    fn axpy(&self, al: f64, x: &B::Vector, y: &mut B::Vector) {
        self.timed(|| self.inner.axpy(al, x, y), |o, t| o.other_vector_s += t)
    }
    fn xpby(&self, x: &B::Vector, be: f64, y: &mut B::Vector) {
        self.timed(|| self.inner.xpby(x, be, y), |o, t| o.other_vector_s += t)
    }
    fn scale(&self, al: f64, x: &mut B::Vector) {
        self.timed(|| self.inner.scale(al, x), |o, t| o.other_vector_s += t)
    }
    fn pointwise_mul(&self, d: &B::Vector, x: &B::Vector, z: &mut B::Vector) {
        self.timed(|| self.inner.pointwise_mul(d, x, z), |o, t| o.other_vector_s += t)
    }
    fn dot(&self, x: &B::Vector, y: &B::Vector) -> f64 {
        self.read(|| self.inner.dot(x, y), |o, t| o.orthogonalise_s += t)
    }
    fn norm2(&self, x: &B::Vector) -> f64 {
        self.read(|| self.inner.norm2(x), |o, t| o.orthogonalise_s += t)
    }
    fn spmv(&self, a: &B::Matrix, x: &B::Vector, y: &mut B::Vector) {
        self.timed(|| self.inner.spmv(a, x, y), |o, t| spmv_time(o, t, 1))
    }
    fn spmv_axpby(&self, a: &B::Matrix, x: &B::Vector, al: f64, be: f64, ga: f64, y: &mut B::Vector) {
        self.timed(|| self.inner.spmv_axpby(a, x, al, be, ga, y), |o, t| spmv_time(o, t, 1))
    }
    fn spmv_axpby_block<X: Borrow<B::Vector>, Y: BorrowMut<B::Vector>>(&self, a: &B::Matrix, xs: &[X], al: f64, be: f64, ga: f64, ys: &mut [Y]) {
        let k = xs.len().min(ys.len());
        self.timed(|| self.inner.spmv_axpby_block(a, xs, al, be, ga, ys), |o, t| spmv_time(o, t, k))
    }
    fn multi_dot<V: Borrow<B::Vector>>(&self, basis: &[V], x: &B::Vector) -> Vec<f64> {
        self.read(|| self.inner.multi_dot(basis, x), dots_time)
    }
    fn multi_axpy<V: Borrow<B::Vector>>(&self, basis: &[V], c: &[f64], y: &mut B::Vector) {
        self.timed(|| self.inner.multi_axpy(basis, c, y), |o, t| o.orthogonalise_s += t)
    }
    fn combine<V: Borrow<B::Vector>, W: BorrowMut<B::Vector>>(&self, basis: &[V], c: &Coeffs, out: &mut [W]) {
        self.timed(
            || self.inner.combine(basis, c, out),
            |o, t| {
                o.combine_s += t;
                o.combine_calls += 1
            },
        )
    }
    fn block_dot<V: Borrow<B::Vector>, X: Borrow<B::Vector>>(&self, basis: &[V], xs: &[X]) -> Vec<f64> {
        self.read(|| self.inner.block_dot(basis, xs), dots_time)
    }
    fn block_sub<V: Borrow<B::Vector>, Y: BorrowMut<B::Vector>>(&self, basis: &[V], c: &Coeffs, ys: &mut [Y]) {
        self.timed(|| self.inner.block_sub(basis, c, ys), |o, t| o.orthogonalise_s += t)
    }
    fn spmm<X: Borrow<B::Vector>, Y: BorrowMut<B::Vector>>(&self, a: &B::Matrix, xs: &[X], ys: &mut [Y]) {
        let k = xs.len().min(ys.len());
        self.timed(|| self.inner.spmm(a, xs, ys), |o, t| spmv_time(o, t, k))
    }
    fn block_axpy<X: Borrow<B::Vector>, Y: BorrowMut<B::Vector>>(&self, alphas: &[f64], xs: &[X], ys: &mut [Y]) {
        self.timed(|| self.inner.block_axpy(alphas, xs, ys), |o, t| o.other_vector_s += t)
    }
    fn block_scale<X: BorrowMut<B::Vector>>(&self, alphas: &[f64], xs: &mut [X]) {
        self.timed(|| self.inner.block_scale(alphas, xs), |o, t| o.other_vector_s += t)
    }
    fn block_copy<X: Borrow<B::Vector>, Y: BorrowMut<B::Vector>>(&self, xs: &[X], ys: &mut [Y]) {
        self.timed(|| self.inner.block_copy(xs, ys), |o, t| o.other_vector_s += t)
    }
    fn block_diag_axpby<X: Borrow<B::Vector>, Y: BorrowMut<B::Vector>>(&self, d: &B::Vector, alpha: f64, xs: &[X], beta: f64, ys: &mut [Y]) {
        self.timed(|| self.inner.block_diag_axpby(d, alpha, xs, beta, ys), |o, t| o.other_vector_s += t)
    }
    fn alloc_scalars(&self, n: usize) -> B::Scalars {
        self.inner.alloc_scalars(n)
    }
    fn read_scalars(&self, s: &B::Scalars) -> Vec<f64> {
        self.read(|| self.inner.read_scalars(s), |o, t| o.orthogonalise_s += t)
    }
    fn multi_dot_to<V: Borrow<B::Vector>>(&self, basis: &[V], x: &B::Vector, s: &mut B::Scalars, first: usize) {
        self.timed(|| self.inner.multi_dot_to(basis, x, s, first), |o, t| o.orthogonalise_s += t)
    }
    fn block_dot_to<V: Borrow<B::Vector>, X: Borrow<B::Vector>>(&self, basis: &[V], xs: &[X], s: &mut B::Scalars, first: usize) {
        self.timed(|| self.inner.block_dot_to(basis, xs, s, first), dots_time)
    }
    fn column_dots_to<X: Borrow<B::Vector>, Y: Borrow<B::Vector>>(&self, xs: &[X], ys: &[Y], s: &mut B::Scalars, first: usize) {
        self.timed(|| self.inner.column_dots_to(xs, ys, s, first), |o, t| o.orthogonalise_s += t)
    }
    fn axpy_ratio(&self, s: &B::Scalars, num: usize, den: usize, sign: f64, x: &B::Vector, y: &mut B::Vector) {
        self.timed(|| self.inner.axpy_ratio(s, num, den, sign, x, y), |o, t| o.other_vector_s += t)
    }
    fn xpby_ratio(&self, x: &B::Vector, s: &B::Scalars, num: usize, den: usize, y: &mut B::Vector) {
        self.timed(|| self.inner.xpby_ratio(x, s, num, den, y), |o, t| o.other_vector_s += t)
    }
    fn cg_update(&self, s: &B::Scalars, num: usize, den: usize, p: &B::Vector, q: &B::Vector, x: &mut B::Vector, r: &mut B::Vector) {
        self.timed(|| self.inner.cg_update(s, num, den, p, q, x, r), |o, t| o.other_vector_s += t)
    }
}

/// A timed backend can itself be distributed: the halo operations are forwarded (and
/// counted as vector work).
impl<'a, B: HaloAccess> HaloAccess for TimingBackend<'a, B> {
    fn read_ranges(&self, x: &B::Vector, ranges: &[(usize, usize)]) -> Vec<f64> {
        self.read(|| self.inner.read_ranges(x, ranges), |o, t| o.other_vector_s += t)
    }
    fn read_ranges_many(&self, reads: &[(&B::Vector, &[(usize, usize)])]) -> Vec<Vec<f64>> {
        self.read(|| self.inner.read_ranges_many(reads), |o, t| o.other_vector_s += t)
    }
    fn add_ranges(&self, y: &mut B::Vector, ranges: &[(usize, usize)], values: &[f64]) {
        self.timed(|| self.inner.add_ranges(y, ranges, values), |o, t| o.other_vector_s += t)
    }
    fn flush(&self) {
        self.inner.flush()
    }
}
