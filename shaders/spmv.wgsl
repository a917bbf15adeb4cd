// Sparse matrix-vector products, CSR with `real` values and u32 column indices, one thread
// per row on a 2D grid of WG-wide workgroups (global_index, shaders/prelude.wgsl). Each
// row's sum is accumulated in `real` with the products added in column order (rows of grid operators have ≤ 7 entries);
// the `_wide` kernels at the end give each row LANES threads (rows of many entries), whose
// partial sums are added in a tree.

// n: rows of this block; xoff: the block's first row in the bound window of x (the backend
// binds a block of rows of y and the window of x its columns, rebased, read)
struct Imm {
    n: u32,
    xoff: u32,
    alpha: real,
    beta: real,
    gamma: real,
}
var<immediate> imm: Imm;

@group(0) @binding(0) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(1) var<storage, read> col_idx: array<u32>;
@group(0) @binding(2) var<storage, read> vals: array<real>;
@group(0) @binding(3) var<storage, read> x: array<real>;
@group(0) @binding(4) var<storage, read_write> y: array<real>;

fn row_dot(row: u32) -> real {
    var acc: real = 0.0;
    let end = row_ptr[row + 1u];
    for (var k = row_ptr[row]; k < end; k++) {
        acc = fma(vals[k], x[col_idx[k]], acc);
    }
    return acc;
}

// y ← A x
@compute @workgroup_size(WG)
fn spmv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = global_index(gid, nwg);
    if (row < imm.n) { y[row] = row_dot(row); }
}

// y ← alpha A x + beta x + gamma y  (one step of a Chebyshev recurrence)
@compute @workgroup_size(WG)
fn spmv_axpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = global_index(gid, nwg);
    if (row < imm.n) {
        var g: real = 0.0;
        if (imm.gamma != 0.0) { g = imm.gamma * y[row]; }
        y[row] = imm.alpha * row_dot(row) + imm.beta * x[row + imm.xoff] + g;
    }
}

// Rows of many entries (the 81 of the elasticity operator): LANES threads per row, each
// summing every LANES-th entry, so neighbouring threads read neighbouring entries (the
// one-thread-per-row kernels above read 81 entries apart, uncoalesced), then a tree sum in
// workgroup memory. WG / LANES rows per workgroup; the barriers are outside every branch.
const LANES: u32 = 8u;
var<workgroup> part: array<real, WG>;

fn wide_dot(t: u32, lane: u32, row: u32) -> real {
    var acc: real = 0.0;
    if (row < imm.n) {
        let end = row_ptr[row + 1u];
        for (var k = row_ptr[row] + lane; k < end; k += LANES) {
            acc = fma(vals[k], x[col_idx[k]], acc);
        }
    }
    part[t] = acc;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s = s / 2u) {
        if (lane < s) { part[t] = part[t] + part[t + s]; }
        workgroupBarrier();
    }
    return part[t];
}

// y ← A x, LANES threads per row
@compute @workgroup_size(WG)
fn spmv_wide(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let i = global_index(gid, nwg);
    let row = i / LANES;
    let lane = t % LANES;
    let s = wide_dot(t, lane, row);
    if (lane == 0u && row < imm.n) { y[row] = s; }
}

// y ← alpha A x + beta x + gamma y, LANES threads per row
@compute @workgroup_size(WG)
fn spmv_axpby_wide(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let i = global_index(gid, nwg);
    let row = i / LANES;
    let lane = t % LANES;
    let s = wide_dot(t, lane, row);
    if (lane == 0u && row < imm.n) {
        var g: real = 0.0;
        if (imm.gamma != 0.0) { g = imm.gamma * y[row]; }
        y[row] = imm.alpha * s + imm.beta * x[row + imm.xoff] + g;
    }
}
