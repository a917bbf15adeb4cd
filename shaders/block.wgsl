// Element-wise kernels over a block of up to 8 column pairs (x_j, y_j), for block
// eigensolvers (LOBPCG): one dispatch advances eight columns instead of eight dispatches.
//   block_axpy:  y_j ← y_j + c_j x_j for j < k
//   block_scale: y_j ← c_j y_j for j < k (x unused)
//   block_copy:  y_j ← x_j for j < k
//   block_diag_axpby: y_j ← (d_i x_j) α + β y_j for j < k, d bound at work, α = c0.x,
//     β = c0.y; y_j not read where β = 0 (the multigrid smoother's Jacobi-scaled step)
//   block_combine: y_j ← [y_j +] Σ_{i<m} C_ij x_i for j < k, m = npartials, the 8 × 8 tile C
//     column-major in work[slot ..] (uploaded by the host, no read-back), y_j read and added
//     to only where c0.x ≠ 0 (the first tile of a sum overwrites: a NaN y is never read);
//     the products added in order of i onto y, as multi.wgsl's axpy8 adds them
//   pair_dot_partial: the partial sums of a_j · b_j for j < k ≤ 4, a_j bound at x_j and
//     b_j at x_{4+j} (read-only: the columns are not written), into work as multi.wgsl's
//     dot8_partial writes them (work[j · npartials + slot + group], Kahan-compensated
//     per-thread sums, a tree per workgroup); multi.wgsl's dot8_final reduces them.
// Unused slots (j ≥ k) are bound to a dummy buffer and never read. The immediates are
// multi.wgsl's (one host struct serves both files).

struct Imm {
    n: u32,
    k: u32,
    slot: u32,
    npartials: u32,
    c0: vec4<real>,
    c1: vec4<real>,
}
var<immediate> imm: Imm;

@group(0) @binding(0) var<storage, read> x0: array<real>;
@group(0) @binding(1) var<storage, read> x1: array<real>;
@group(0) @binding(2) var<storage, read> x2: array<real>;
@group(0) @binding(3) var<storage, read> x3: array<real>;
@group(0) @binding(4) var<storage, read> x4: array<real>;
@group(0) @binding(5) var<storage, read> x5: array<real>;
@group(0) @binding(6) var<storage, read> x6: array<real>;
@group(0) @binding(7) var<storage, read> x7: array<real>;
@group(0) @binding(8) var<storage, read_write> y0: array<real>;
@group(0) @binding(9) var<storage, read_write> y1: array<real>;
@group(0) @binding(10) var<storage, read_write> y2: array<real>;
@group(0) @binding(11) var<storage, read_write> y3: array<real>;
@group(0) @binding(12) var<storage, read_write> y4: array<real>;
@group(0) @binding(13) var<storage, read_write> y5: array<real>;
@group(0) @binding(14) var<storage, read_write> y6: array<real>;
@group(0) @binding(15) var<storage, read_write> y7: array<real>;
@group(0) @binding(16) var<storage, read_write> work: array<real>;

var<workgroup> sdata: array<real, 1024>;

@compute @workgroup_size(WG)
fn block_axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) {
        let k = imm.k;
        y0[i] = fma(imm.c0.x, x0[i], y0[i]);
        if (k > 1u) { y1[i] = fma(imm.c0.y, x1[i], y1[i]); }
        if (k > 2u) { y2[i] = fma(imm.c0.z, x2[i], y2[i]); }
        if (k > 3u) { y3[i] = fma(imm.c0.w, x3[i], y3[i]); }
        if (k > 4u) { y4[i] = fma(imm.c1.x, x4[i], y4[i]); }
        if (k > 5u) { y5[i] = fma(imm.c1.y, x5[i], y5[i]); }
        if (k > 6u) { y6[i] = fma(imm.c1.z, x6[i], y6[i]); }
        if (k > 7u) { y7[i] = fma(imm.c1.w, x7[i], y7[i]); }
    }
}

@compute @workgroup_size(WG)
fn block_scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) {
        let k = imm.k;
        y0[i] = imm.c0.x * y0[i];
        if (k > 1u) { y1[i] = imm.c0.y * y1[i]; }
        if (k > 2u) { y2[i] = imm.c0.z * y2[i]; }
        if (k > 3u) { y3[i] = imm.c0.w * y3[i]; }
        if (k > 4u) { y4[i] = imm.c1.x * y4[i]; }
        if (k > 5u) { y5[i] = imm.c1.y * y5[i]; }
        if (k > 6u) { y6[i] = imm.c1.z * y6[i]; }
        if (k > 7u) { y7[i] = imm.c1.w * y7[i]; }
    }
}

@compute @workgroup_size(WG)
fn block_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) {
        let k = imm.k;
        y0[i] = x0[i];
        if (k > 1u) { y1[i] = x1[i]; }
        if (k > 2u) { y2[i] = x2[i]; }
        if (k > 3u) { y3[i] = x3[i]; }
        if (k > 4u) { y4[i] = x4[i]; }
        if (k > 5u) { y5[i] = x5[i]; }
        if (k > 6u) { y6[i] = x6[i]; }
        if (k > 7u) { y7[i] = x7[i]; }
    }
}

fn diag_axpby(d: real, x: real, y: real) -> real {
    let t = d * x * imm.c0.x;
    if (imm.c0.y == 0.0) { return t; }
    return fma(imm.c0.y, y, t);
}

@compute @workgroup_size(WG)
fn block_diag_axpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) {
        let k = imm.k;
        let d = work[i];
        y0[i] = diag_axpby(d, x0[i], y0[i]);
        if (k > 1u) { y1[i] = diag_axpby(d, x1[i], y1[i]); }
        if (k > 2u) { y2[i] = diag_axpby(d, x2[i], y2[i]); }
        if (k > 3u) { y3[i] = diag_axpby(d, x3[i], y3[i]); }
        if (k > 4u) { y4[i] = diag_axpby(d, x4[i], y4[i]); }
        if (k > 5u) { y5[i] = diag_axpby(d, x5[i], y5[i]); }
        if (k > 6u) { y6[i] = diag_axpby(d, x6[i], y6[i]); }
        if (k > 7u) { y7[i] = diag_axpby(d, x7[i], y7[i]); }
    }
}

@compute @workgroup_size(WG)
fn pair_dot_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x;
    let nthreads = nwg.x * WG;
    // four named Kahan accumulators (no dynamically indexed local arrays)
    var s0: real = 0.0;
    var c0: real = 0.0;
    var s1: real = 0.0;
    var c1: real = 0.0;
    var s2: real = 0.0;
    var c2: real = 0.0;
    var s3: real = 0.0;
    var c3: real = 0.0;
    let k = imm.k;
    for (var i = group * WG + lid; i < imm.n; i += nthreads) {
        { let y = x0[i] * x4[i] - c0; let t = s0 + y; c0 = (t - s0) - y; s0 = t; }
        if (k > 1u) { let y = x1[i] * x5[i] - c1; let t = s1 + y; c1 = (t - s1) - y; s1 = t; }
        if (k > 2u) { let y = x2[i] * x6[i] - c2; let t = s2 + y; c2 = (t - s2) - y; s2 = t; }
        if (k > 3u) { let y = x3[i] * x7[i] - c3; let t = s3 + y; c3 = (t - s3) - y; s3 = t; }
    }
    sdata[0u * WG + lid] = s0;
    sdata[1u * WG + lid] = s1;
    sdata[2u * WG + lid] = s2;
    sdata[3u * WG + lid] = s3;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            for (var j = 0u; j < 4u; j++) { sdata[j * WG + lid] += sdata[j * WG + lid + s]; }
        }
        workgroupBarrier();
    }
    if (lid < k) { work[lid * imm.npartials + imm.slot + group] = sdata[lid * WG]; }
}

fn combine_col(i: u32, j: u32, acc0: real) -> real {
    let m = imm.npartials;
    let c = imm.slot + 8u * j;
    var acc = fma(work[c], x0[i], acc0);
    if (m > 1u) { acc = fma(work[c + 1u], x1[i], acc); }
    if (m > 2u) { acc = fma(work[c + 2u], x2[i], acc); }
    if (m > 3u) { acc = fma(work[c + 3u], x3[i], acc); }
    if (m > 4u) { acc = fma(work[c + 4u], x4[i], acc); }
    if (m > 5u) { acc = fma(work[c + 5u], x5[i], acc); }
    if (m > 6u) { acc = fma(work[c + 6u], x6[i], acc); }
    if (m > 7u) { acc = fma(work[c + 7u], x7[i], acc); }
    return acc;
}

@compute @workgroup_size(WG)
fn block_combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i >= imm.n) {
        return;
    }
    let k = imm.k;
    let add = imm.c0.x != 0.0;
    var a: real = 0.0;
    if (add) { a = y0[i]; }
    y0[i] = combine_col(i, 0u, a);
    if (k > 1u) { if (add) { a = y1[i]; } y1[i] = combine_col(i, 1u, a); }
    if (k > 2u) { if (add) { a = y2[i]; } y2[i] = combine_col(i, 2u, a); }
    if (k > 3u) { if (add) { a = y3[i]; } y3[i] = combine_col(i, 3u, a); }
    if (k > 4u) { if (add) { a = y4[i]; } y4[i] = combine_col(i, 4u, a); }
    if (k > 5u) { if (add) { a = y5[i]; } y5[i] = combine_col(i, 5u, a); }
    if (k > 6u) { if (add) { a = y6[i]; } y6[i] = combine_col(i, 6u, a); }
    if (k > 7u) { if (add) { a = y7[i]; } y7[i] = combine_col(i, 7u, a); }
}
