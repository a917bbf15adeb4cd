// Tall-skinny products XᵀY of a block (the Gram matrices of block eigensolvers): one tile
// of up to 8 basis vectors b_i against up to 4 vectors x_j per pass over the data, 32 dot
// products for 12 vector reads (multi.wgsl's dot8 reads 9 vectors for 8).
//   gram_partial: per workgroup, the partial sums of b_i · x_j for i < kb, j < kx into
//     work[(i + 8 j) · npartials + slot + group] (Kahan-compensated per-thread sums, a tree
//     per workgroup, one x column at a time through workgroup memory); for a chunked vector
//     the kernel runs once per chunk, `slot` giving where its partials start;
//   gram_final: one workgroup per entry of every tile, all tiles of a product in one
//     dispatch, the partials summed (Kahan, then a tree) into out[slot + r + c · ld] (r the
//     basis vector, c the column).
// Unused slots (i ≥ kb, j ≥ kx) are bound to a dummy buffer and never read.

struct Imm {
    n: u32,
    kb: u32,
    kx: u32,
    slot: u32,
    npartials: u32,
    ld: u32,
    // gram_final only: basis groups per column group, elements between tiles' partials, first tile
    tb: u32,
    stride: u32,
    t0: u32,
}
var<immediate> imm: Imm;

@group(0) @binding(0) var<storage, read> b0: array<real>;
@group(0) @binding(1) var<storage, read> b1: array<real>;
@group(0) @binding(2) var<storage, read> b2: array<real>;
@group(0) @binding(3) var<storage, read> b3: array<real>;
@group(0) @binding(4) var<storage, read> b4: array<real>;
@group(0) @binding(5) var<storage, read> b5: array<real>;
@group(0) @binding(6) var<storage, read> b6: array<real>;
@group(0) @binding(7) var<storage, read> b7: array<real>;
@group(0) @binding(8) var<storage, read> x0: array<real>;
@group(0) @binding(9) var<storage, read> x1: array<real>;
@group(0) @binding(10) var<storage, read> x2: array<real>;
@group(0) @binding(11) var<storage, read> x3: array<real>;
@group(0) @binding(12) var<storage, read_write> work: array<real>;
@group(0) @binding(13) var<storage, read_write> out: array<real>;

var<workgroup> sdata: array<real, 2048>;

// the tree over the workgroup of the eight sums of column j (lid < kb), written as partials
fn reduce_column(lid: u32, group: u32, j: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            for (var i = 0u; i < 8u; i++) { sdata[i * WG + lid] += sdata[i * WG + lid + s]; }
        }
        workgroupBarrier();
    }
    if (lid < imm.kb) { work[(lid + 8u * j) * imm.npartials + imm.slot + group] = sdata[lid * WG]; }
    workgroupBarrier();
}

@compute @workgroup_size(WG)
fn gram_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x;
    let nthreads = nwg.x * WG;
    let kb = imm.kb;
    let kx = imm.kx;
    // 32 named Kahan accumulators s<i>_<j>, c<i>_<j> (no dynamically indexed local arrays)
    var s0_0: real = 0.0;
    var c0_0: real = 0.0;
    var s1_0: real = 0.0;
    var c1_0: real = 0.0;
    var s2_0: real = 0.0;
    var c2_0: real = 0.0;
    var s3_0: real = 0.0;
    var c3_0: real = 0.0;
    var s4_0: real = 0.0;
    var c4_0: real = 0.0;
    var s5_0: real = 0.0;
    var c5_0: real = 0.0;
    var s6_0: real = 0.0;
    var c6_0: real = 0.0;
    var s7_0: real = 0.0;
    var c7_0: real = 0.0;
    var s0_1: real = 0.0;
    var c0_1: real = 0.0;
    var s1_1: real = 0.0;
    var c1_1: real = 0.0;
    var s2_1: real = 0.0;
    var c2_1: real = 0.0;
    var s3_1: real = 0.0;
    var c3_1: real = 0.0;
    var s4_1: real = 0.0;
    var c4_1: real = 0.0;
    var s5_1: real = 0.0;
    var c5_1: real = 0.0;
    var s6_1: real = 0.0;
    var c6_1: real = 0.0;
    var s7_1: real = 0.0;
    var c7_1: real = 0.0;
    var s0_2: real = 0.0;
    var c0_2: real = 0.0;
    var s1_2: real = 0.0;
    var c1_2: real = 0.0;
    var s2_2: real = 0.0;
    var c2_2: real = 0.0;
    var s3_2: real = 0.0;
    var c3_2: real = 0.0;
    var s4_2: real = 0.0;
    var c4_2: real = 0.0;
    var s5_2: real = 0.0;
    var c5_2: real = 0.0;
    var s6_2: real = 0.0;
    var c6_2: real = 0.0;
    var s7_2: real = 0.0;
    var c7_2: real = 0.0;
    var s0_3: real = 0.0;
    var c0_3: real = 0.0;
    var s1_3: real = 0.0;
    var c1_3: real = 0.0;
    var s2_3: real = 0.0;
    var c2_3: real = 0.0;
    var s3_3: real = 0.0;
    var c3_3: real = 0.0;
    var s4_3: real = 0.0;
    var c4_3: real = 0.0;
    var s5_3: real = 0.0;
    var c5_3: real = 0.0;
    var s6_3: real = 0.0;
    var c6_3: real = 0.0;
    var s7_3: real = 0.0;
    var c7_3: real = 0.0;
    for (var e = group * WG + lid; e < imm.n; e += nthreads) {
        var v0: real = 0.0;
        var v1: real = 0.0;
        var v2: real = 0.0;
        var v3: real = 0.0;
        var v4: real = 0.0;
        var v5: real = 0.0;
        var v6: real = 0.0;
        var v7: real = 0.0;
        v0 = b0[e];
        if (kb > 1u) { v1 = b1[e]; }
        if (kb > 2u) { v2 = b2[e]; }
        if (kb > 3u) { v3 = b3[e]; }
        if (kb > 4u) { v4 = b4[e]; }
        if (kb > 5u) { v5 = b5[e]; }
        if (kb > 6u) { v6 = b6[e]; }
        if (kb > 7u) { v7 = b7[e]; }
        let w0 = x0[e];
        { let y = v0 * w0 - c0_0; let t = s0_0 + y; c0_0 = (t - s0_0) - y; s0_0 = t; }
        { let y = v1 * w0 - c1_0; let t = s1_0 + y; c1_0 = (t - s1_0) - y; s1_0 = t; }
        { let y = v2 * w0 - c2_0; let t = s2_0 + y; c2_0 = (t - s2_0) - y; s2_0 = t; }
        { let y = v3 * w0 - c3_0; let t = s3_0 + y; c3_0 = (t - s3_0) - y; s3_0 = t; }
        { let y = v4 * w0 - c4_0; let t = s4_0 + y; c4_0 = (t - s4_0) - y; s4_0 = t; }
        { let y = v5 * w0 - c5_0; let t = s5_0 + y; c5_0 = (t - s5_0) - y; s5_0 = t; }
        { let y = v6 * w0 - c6_0; let t = s6_0 + y; c6_0 = (t - s6_0) - y; s6_0 = t; }
        { let y = v7 * w0 - c7_0; let t = s7_0 + y; c7_0 = (t - s7_0) - y; s7_0 = t; }
        if (kx > 1u) {
            let w1 = x1[e];
            { let y = v0 * w1 - c0_1; let t = s0_1 + y; c0_1 = (t - s0_1) - y; s0_1 = t; }
            { let y = v1 * w1 - c1_1; let t = s1_1 + y; c1_1 = (t - s1_1) - y; s1_1 = t; }
            { let y = v2 * w1 - c2_1; let t = s2_1 + y; c2_1 = (t - s2_1) - y; s2_1 = t; }
            { let y = v3 * w1 - c3_1; let t = s3_1 + y; c3_1 = (t - s3_1) - y; s3_1 = t; }
            { let y = v4 * w1 - c4_1; let t = s4_1 + y; c4_1 = (t - s4_1) - y; s4_1 = t; }
            { let y = v5 * w1 - c5_1; let t = s5_1 + y; c5_1 = (t - s5_1) - y; s5_1 = t; }
            { let y = v6 * w1 - c6_1; let t = s6_1 + y; c6_1 = (t - s6_1) - y; s6_1 = t; }
            { let y = v7 * w1 - c7_1; let t = s7_1 + y; c7_1 = (t - s7_1) - y; s7_1 = t; }
        }
        if (kx > 2u) {
            let w2 = x2[e];
            { let y = v0 * w2 - c0_2; let t = s0_2 + y; c0_2 = (t - s0_2) - y; s0_2 = t; }
            { let y = v1 * w2 - c1_2; let t = s1_2 + y; c1_2 = (t - s1_2) - y; s1_2 = t; }
            { let y = v2 * w2 - c2_2; let t = s2_2 + y; c2_2 = (t - s2_2) - y; s2_2 = t; }
            { let y = v3 * w2 - c3_2; let t = s3_2 + y; c3_2 = (t - s3_2) - y; s3_2 = t; }
            { let y = v4 * w2 - c4_2; let t = s4_2 + y; c4_2 = (t - s4_2) - y; s4_2 = t; }
            { let y = v5 * w2 - c5_2; let t = s5_2 + y; c5_2 = (t - s5_2) - y; s5_2 = t; }
            { let y = v6 * w2 - c6_2; let t = s6_2 + y; c6_2 = (t - s6_2) - y; s6_2 = t; }
            { let y = v7 * w2 - c7_2; let t = s7_2 + y; c7_2 = (t - s7_2) - y; s7_2 = t; }
        }
        if (kx > 3u) {
            let w3 = x3[e];
            { let y = v0 * w3 - c0_3; let t = s0_3 + y; c0_3 = (t - s0_3) - y; s0_3 = t; }
            { let y = v1 * w3 - c1_3; let t = s1_3 + y; c1_3 = (t - s1_3) - y; s1_3 = t; }
            { let y = v2 * w3 - c2_3; let t = s2_3 + y; c2_3 = (t - s2_3) - y; s2_3 = t; }
            { let y = v3 * w3 - c3_3; let t = s3_3 + y; c3_3 = (t - s3_3) - y; s3_3 = t; }
            { let y = v4 * w3 - c4_3; let t = s4_3 + y; c4_3 = (t - s4_3) - y; s4_3 = t; }
            { let y = v5 * w3 - c5_3; let t = s5_3 + y; c5_3 = (t - s5_3) - y; s5_3 = t; }
            { let y = v6 * w3 - c6_3; let t = s6_3 + y; c6_3 = (t - s6_3) - y; s6_3 = t; }
            { let y = v7 * w3 - c7_3; let t = s7_3 + y; c7_3 = (t - s7_3) - y; s7_3 = t; }
        }
    }
    sdata[0u * WG + lid] = s0_0;
    sdata[1u * WG + lid] = s1_0;
    sdata[2u * WG + lid] = s2_0;
    sdata[3u * WG + lid] = s3_0;
    sdata[4u * WG + lid] = s4_0;
    sdata[5u * WG + lid] = s5_0;
    sdata[6u * WG + lid] = s6_0;
    sdata[7u * WG + lid] = s7_0;
    reduce_column(lid, group, 0u);
    if (kx > 1u) {
        sdata[0u * WG + lid] = s0_1;
        sdata[1u * WG + lid] = s1_1;
        sdata[2u * WG + lid] = s2_1;
        sdata[3u * WG + lid] = s3_1;
        sdata[4u * WG + lid] = s4_1;
        sdata[5u * WG + lid] = s5_1;
        sdata[6u * WG + lid] = s6_1;
        sdata[7u * WG + lid] = s7_1;
        reduce_column(lid, group, 1u);
    }
    if (kx > 2u) {
        sdata[0u * WG + lid] = s0_2;
        sdata[1u * WG + lid] = s1_2;
        sdata[2u * WG + lid] = s2_2;
        sdata[3u * WG + lid] = s3_2;
        sdata[4u * WG + lid] = s4_2;
        sdata[5u * WG + lid] = s5_2;
        sdata[6u * WG + lid] = s6_2;
        sdata[7u * WG + lid] = s7_2;
        reduce_column(lid, group, 2u);
    }
    if (kx > 3u) {
        sdata[0u * WG + lid] = s0_3;
        sdata[1u * WG + lid] = s1_3;
        sdata[2u * WG + lid] = s2_3;
        sdata[3u * WG + lid] = s3_3;
        sdata[4u * WG + lid] = s4_3;
        sdata[5u * WG + lid] = s5_3;
        sdata[6u * WG + lid] = s6_3;
        sdata[7u * WG + lid] = s7_3;
        reduce_column(lid, group, 3u);
    }
}

// one workgroup per entry of every tile of the product, all tiles in one dispatch: tile
// t = t0 + wid / 32 (basis group ib = t % tb, column group jx = t / tb, its partials from
// work[t · stride]), entry i = wid % 8, j = (wid / 8) % 4 of it; entries beyond the product
// (row ≥ kb or column ≥ kx) return at once
@compute @workgroup_size(WG)
fn gram_final(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let t = imm.t0 + wid.x / 32u;
    let i = wid.x % 8u;
    let j = (wid.x / 8u) % 4u;
    let r = (t % imm.tb) * 8u + i;
    let c = (t / imm.tb) * 4u + j;
    if (r >= imm.kb || c >= imm.kx) {
        return;
    }
    let row = t * imm.stride + (i + 8u * j) * imm.npartials;
    var sum: real = 0.0;
    var comp: real = 0.0;
    for (var p = lid; p < imm.npartials; p += WG) {
        let yv = work[row + p] - comp;
        let s = sum + yv;
        comp = (s - sum) - yv;
        sum = s;
    }
    sdata[lid] = sum;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) { sdata[lid] += sdata[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) { out[imm.slot + r + c * imm.ld] = sdata[0]; }
}
