// Element-wise vector kernels (f32 storage). Scalars come as immediates (push constants).
// Every kernel is dispatched on a 2D grid of 256-wide workgroups, so vectors longer than
// 65535 × 256 elements work: element = gid.x + gid.y * (num_workgroups.x * 256).

struct Imm {
    n: u32,
    alpha: f32,
    beta: f32,
    gamma: f32,
}
var<immediate> imm: Imm;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// y ← alpha (x unused; bound to a dummy)
@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < imm.n) { y[i] = imm.alpha; }
}

// y ← x
@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < imm.n) { y[i] = x[i]; }
}

// y ← y + alpha x
@compute @workgroup_size(256)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < imm.n) { y[i] = fma(imm.alpha, x[i], y[i]); }
}

// y ← x + beta y
@compute @workgroup_size(256)
fn xpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < imm.n) { y[i] = fma(imm.beta, y[i], x[i]); }
}

// y ← alpha y
@compute @workgroup_size(256)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < imm.n) { y[i] = imm.alpha * y[i]; }
}

// y ← x ∘ y  (pointwise product; the backend copies the second operand into y first)
@compute @workgroup_size(256)
fn pointwise_mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < imm.n) { y[i] = x[i] * y[i]; }
}

// y ← x, four elements per thread (bandwidth probe for the benchmark; n counts vec4s)
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y4: array<vec4<f32>>;
@compute @workgroup_size(256)
fn copy4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < imm.n) { y4[i] = x4[i]; }
}
