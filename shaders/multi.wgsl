// Batched kernels over up to 8 basis vectors at once, for the block Gram–Schmidt of Lanczos:
// one pass over x (or y) serves 8 basis vectors, and a block of dot products against a
// basis of m vectors costs ⌈m/8⌉ dispatch pairs instead of m.
//   dot8_partial / dot8_final: out[slot + j] = b_j · x for j < k (two-pass tree reduction,
//     Kahan-compensated per-thread sums; `dot` is this with k = 1). For a chunked vector
//     the partial kernel runs once per chunk, `slot` giving where its partials start among
//     the npartials of each basis vector;
//   axpy8: y ← y + Σ_{j<k} c_j b_j.
// Unused basis slots (j ≥ k) are bound to a dummy buffer and never read.

struct Imm {
    n: u32,
    k: u32,
    slot: u32,
    npartials: u32,
    c0: vec4<real>,
    c1: vec4<real>,
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
@group(0) @binding(8) var<storage, read> x: array<real>;
// dot8: the partial sums (8 × npartials); axpy8: y
@group(0) @binding(9) var<storage, read_write> work: array<real>;
@group(0) @binding(10) var<storage, read_write> out: array<real>;

var<workgroup> sdata: array<real, 2048>;

@compute @workgroup_size(WG)
fn dot8_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x;
    let nthreads = nwg.x * WG;
    // eight named accumulators with Kahan compensation (no dynamically indexed local
    // arrays, which would spill to memory); slots j >= k stay zero
    var s0: real = 0.0;
    var c0: real = 0.0;
    var s1: real = 0.0;
    var c1: real = 0.0;
    var s2: real = 0.0;
    var c2: real = 0.0;
    var s3: real = 0.0;
    var c3: real = 0.0;
    var s4: real = 0.0;
    var c4: real = 0.0;
    var s5: real = 0.0;
    var c5: real = 0.0;
    var s6: real = 0.0;
    var c6: real = 0.0;
    var s7: real = 0.0;
    var c7: real = 0.0;
    let k = imm.k;
    for (var i = group * WG + lid; i < imm.n; i += nthreads) {
        let xv = x[i];
        { let y = b0[i] * xv - c0; let t = s0 + y; c0 = (t - s0) - y; s0 = t; }
        if (k > 1u) { let y = b1[i] * xv - c1; let t = s1 + y; c1 = (t - s1) - y; s1 = t; }
        if (k > 2u) { let y = b2[i] * xv - c2; let t = s2 + y; c2 = (t - s2) - y; s2 = t; }
        if (k > 3u) { let y = b3[i] * xv - c3; let t = s3 + y; c3 = (t - s3) - y; s3 = t; }
        if (k > 4u) { let y = b4[i] * xv - c4; let t = s4 + y; c4 = (t - s4) - y; s4 = t; }
        if (k > 5u) { let y = b5[i] * xv - c5; let t = s5 + y; c5 = (t - s5) - y; s5 = t; }
        if (k > 6u) { let y = b6[i] * xv - c6; let t = s6 + y; c6 = (t - s6) - y; s6 = t; }
        if (k > 7u) { let y = b7[i] * xv - c7; let t = s7 + y; c7 = (t - s7) - y; s7 = t; }
    }
    sdata[0u * WG + lid] = s0;
    sdata[1u * WG + lid] = s1;
    sdata[2u * WG + lid] = s2;
    sdata[3u * WG + lid] = s3;
    sdata[4u * WG + lid] = s4;
    sdata[5u * WG + lid] = s5;
    sdata[6u * WG + lid] = s6;
    sdata[7u * WG + lid] = s7;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            for (var j = 0u; j < 8u; j++) { sdata[j * WG + lid] += sdata[j * WG + lid + s]; }
        }
        workgroupBarrier();
    }
    if (lid < k) { work[lid * imm.npartials + imm.slot + group] = sdata[lid * WG]; }
}

// one workgroup per basis vector j < k
@compute @workgroup_size(WG)
fn dot8_final(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let j = wid.x;
    var sum: real = 0.0;
    var c: real = 0.0;
    for (var i = lid; i < imm.npartials; i += WG) {
        let yv = work[j * imm.npartials + i] - c;
        let t = sum + yv;
        c = (t - sum) - yv;
        sum = t;
    }
    sdata[lid] = sum;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) { sdata[lid] += sdata[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) { out[imm.slot + j] = sdata[0]; }
}

@compute @workgroup_size(WG)
fn axpy8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) {
        let k = imm.k;
        var acc = fma(imm.c0.x, b0[i], work[i]);
        if (k > 1u) { acc = fma(imm.c0.y, b1[i], acc); }
        if (k > 2u) { acc = fma(imm.c0.z, b2[i], acc); }
        if (k > 3u) { acc = fma(imm.c0.w, b3[i], acc); }
        if (k > 4u) { acc = fma(imm.c1.x, b4[i], acc); }
        if (k > 5u) { acc = fma(imm.c1.y, b5[i], acc); }
        if (k > 6u) { acc = fma(imm.c1.z, b6[i], acc); }
        if (k > 7u) { acc = fma(imm.c1.w, b7[i], acc); }
        work[i] = acc;
    }
}
