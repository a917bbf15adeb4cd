// Batched kernels over up to 8 basis vectors at once, for the block Gram–Schmidt of Lanczos:
// one pass over x (or y) serves 8 basis vectors, and a block of dot products against a
// basis of m vectors costs ⌈m/8⌉ dispatch pairs instead of m.
//   dot8_partial / dot8_final: out[slot + j] = b_j · x for j < k (two-pass tree reduction,
//     Kahan-compensated per-thread sums, like reduce.wgsl);
//   axpy8: y ← y + Σ_{j<k} c_j b_j.
// Unused basis slots (j ≥ k) are bound to a dummy buffer and never read.

struct Imm {
    n: u32,
    k: u32,
    slot: u32,
    npartials: u32,
    c0: vec4<f32>,
    c1: vec4<f32>,
}
var<immediate> imm: Imm;

@group(0) @binding(0) var<storage, read> b0: array<f32>;
@group(0) @binding(1) var<storage, read> b1: array<f32>;
@group(0) @binding(2) var<storage, read> b2: array<f32>;
@group(0) @binding(3) var<storage, read> b3: array<f32>;
@group(0) @binding(4) var<storage, read> b4: array<f32>;
@group(0) @binding(5) var<storage, read> b5: array<f32>;
@group(0) @binding(6) var<storage, read> b6: array<f32>;
@group(0) @binding(7) var<storage, read> b7: array<f32>;
@group(0) @binding(8) var<storage, read> x: array<f32>;
// dot8: the partial sums (8 × npartials); axpy8: y
@group(0) @binding(9) var<storage, read_write> work: array<f32>;
@group(0) @binding(10) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> sdata: array<f32, 2048>;

fn basis(j: u32, i: u32) -> f32 {
    switch j {
        case 0u: { return b0[i]; }
        case 1u: { return b1[i]; }
        case 2u: { return b2[i]; }
        case 3u: { return b3[i]; }
        case 4u: { return b4[i]; }
        case 5u: { return b5[i]; }
        case 6u: { return b6[i]; }
        default: { return b7[i]; }
    }
}

fn coeff(j: u32) -> f32 {
    if (j < 4u) { return imm.c0[j]; }
    return imm.c1[j - 4u];
}

@compute @workgroup_size(256)
fn dot8_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x;
    let nthreads = nwg.x * WG;
    var sum: array<f32, 8>;
    var comp: array<f32, 8>;
    for (var j = 0u; j < 8u; j++) { sum[j] = 0.0; comp[j] = 0.0; }
    for (var i = group * WG + lid; i < imm.n; i += nthreads) {
        let xv = x[i];
        for (var j = 0u; j < imm.k; j++) {
            let yv = basis(j, i) * xv - comp[j];
            let t = sum[j] + yv;
            comp[j] = (t - sum[j]) - yv;
            sum[j] = t;
        }
    }
    for (var j = 0u; j < 8u; j++) { sdata[j * WG + lid] = sum[j]; }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            for (var j = 0u; j < 8u; j++) { sdata[j * WG + lid] += sdata[j * WG + lid + s]; }
        }
        workgroupBarrier();
    }
    if (lid < imm.k) { work[lid * imm.npartials + group] = sdata[lid * WG]; }
}

// one workgroup per basis vector j < k
@compute @workgroup_size(256)
fn dot8_final(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let j = wid.x;
    var sum: f32 = 0.0;
    var c: f32 = 0.0;
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

@compute @workgroup_size(256)
fn axpy8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < imm.n) {
        var acc = work[i];
        for (var j = 0u; j < imm.k; j++) { acc = fma(coeff(j), basis(j, i), acc); }
        work[i] = acc;
    }
}
