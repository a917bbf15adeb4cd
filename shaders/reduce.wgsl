// Dot products by a two-pass workgroup tree reduction (deterministic: fixed order).
// Pass 1 (dot_partial): a fixed number of workgroups (≤ 1024) sweeps the vectors with a
// grid-stride loop, each thread summing its share in f32 with Kahan compensation, then the
// workgroup reduces its 256 sums in shared memory to one partial. Pass 2 (dot_final): one
// workgroup adds the partials (compensated) and writes the result to out[imm.slot], so many
// dot products can be batched in one submission and read back together.

struct Imm {
    n: u32,
    slot: u32,
    npartials: u32,
    _pad: u32,
}
var<immediate> imm: Imm;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> sdata: array<f32, WG>;

fn tree(lid: u32) {
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) { sdata[lid] += sdata[lid + s]; }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn dot_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x;
    let nthreads = nwg.x * WG;
    var sum: f32 = 0.0;
    var c: f32 = 0.0;
    for (var i = group * WG + lid; i < imm.n; i += nthreads) {
        let yv = a[i] * b[i] - c;
        let t = sum + yv;
        c = (t - sum) - yv;
        sum = t;
    }
    sdata[lid] = sum;
    workgroupBarrier();
    tree(lid);
    if (lid == 0u) { partial[group] = sdata[0]; }
}

@compute @workgroup_size(256)
fn dot_final(@builtin(local_invocation_index) lid: u32) {
    var sum: f32 = 0.0;
    var c: f32 = 0.0;
    for (var i = lid; i < imm.npartials; i += WG) {
        let yv = partial[i] - c;
        let t = sum + yv;
        c = (t - sum) - yv;
        sum = t;
    }
    sdata[lid] = sum;
    workgroupBarrier();
    tree(lid);
    if (lid == 0u) { out[imm.slot] = sdata[0]; }
}
