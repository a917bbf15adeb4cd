//! The suite itself is checked: a CPU backend with one operation wrong must fail it, for
//! each operation of the trait in turn.

use qdsim_gpu::backend::CpuBackend;
use qdsim_gpu::linalg::backend::{Backend, Coeffs, HaloAccess};
use qdsim_gpu::linalg::CsrMatrix;

use super::{conformance, halo_conformance};

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
    fn upload_stencil(&self, a: &qdsim_gpu::linalg::stencil::StencilMatrix) -> CsrMatrix {
        let mut m = self.cpu.upload_stencil(a);
        self.nudge("upload_stencil", &mut m.val);
        m
    }
    fn upload_transfer(&self, t: &qdsim_gpu::linalg::multigrid::Aggregation) -> CsrMatrix {
        let mut m = self.cpu.upload_transfer(t);
        self.nudge("upload_transfer", &mut m.val);
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
    fn spmm<X: std::borrow::Borrow<Vec<f64>>, Y: std::borrow::BorrowMut<Vec<f64>>>(&self, a: &CsrMatrix, xs: &[X], ys: &mut [Y]) {
        self.cpu.spmm(a, xs, ys);
        self.nudge_first("spmm", ys);
    }
    fn block_axpy<X: std::borrow::Borrow<Vec<f64>>, Y: std::borrow::BorrowMut<Vec<f64>>>(&self, al: &[f64], xs: &[X], ys: &mut [Y]) {
        self.cpu.block_axpy(al, xs, ys);
        self.nudge_first("block_axpy", ys);
    }
    fn block_scale<X: std::borrow::BorrowMut<Vec<f64>>>(&self, al: &[f64], xs: &mut [X]) {
        self.cpu.block_scale(al, xs);
        self.nudge_first("block_scale", xs);
    }
    fn block_copy<X: std::borrow::Borrow<Vec<f64>>, Y: std::borrow::BorrowMut<Vec<f64>>>(&self, xs: &[X], ys: &mut [Y]) {
        self.cpu.block_copy(xs, ys);
        self.nudge_first("block_copy", ys);
    }
    fn block_diag_axpby<X: std::borrow::Borrow<Vec<f64>>, Y: std::borrow::BorrowMut<Vec<f64>>>(&self, d: &Vec<f64>, al: f64, xs: &[X], be: f64, ys: &mut [Y]) {
        self.cpu.block_diag_axpby(d, al, xs, be, ys);
        self.nudge_first("block_diag_axpby", ys);
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
    fn block_dot_to<V: std::borrow::Borrow<Vec<f64>>, X: std::borrow::Borrow<Vec<f64>>>(&self, basis: &[V], xs: &[X], s: &mut Vec<f64>, first: usize) {
        self.cpu.block_dot_to(basis, xs, s, first);
        self.nudge("block_dot_to", &mut s[first..]);
    }
    fn column_dots_to<X: std::borrow::Borrow<Vec<f64>>, Y: std::borrow::Borrow<Vec<f64>>>(&self, xs: &[X], ys: &[Y], s: &mut Vec<f64>, first: usize) {
        self.cpu.column_dots_to(xs, ys, s, first);
        self.nudge("column_dots_to", &mut s[first..]);
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
