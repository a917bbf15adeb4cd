// Element-wise vector kernels (`real` storage). Scalars come as immediates (push constants).
// Every kernel is dispatched on a 2D grid of WG-wide workgroups, one thread per element
// (global_index, shaders/prelude.wgsl).

struct Imm {
    n: u32,
    alpha: real,
    beta: real,
    gamma: real,
}
var<immediate> imm: Imm;

@group(0) @binding(0) var<storage, read> x: array<real>;
@group(0) @binding(1) var<storage, read_write> y: array<real>;

// y ← alpha (x unused; bound to a dummy)
@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) { y[i] = imm.alpha; }
}

// y ← x
@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) { y[i] = x[i]; }
}

// y ← y + alpha x
@compute @workgroup_size(WG)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) { y[i] = fma(imm.alpha, x[i], y[i]); }
}

// y ← x + beta y
@compute @workgroup_size(WG)
fn xpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) { y[i] = fma(imm.beta, y[i], x[i]); }
}

// y ← alpha y
@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) { y[i] = imm.alpha * y[i]; }
}

// y ← x ∘ y  (pointwise product; the backend copies the second operand into y first)
@compute @workgroup_size(WG)
fn pointwise_mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) { y[i] = x[i] * y[i]; }
}

// y ← x, four elements per thread (bandwidth probe for the benchmark; n counts vec4s)
@group(0) @binding(0) var<storage, read> x4: array<vec4<real>>;
@group(0) @binding(1) var<storage, read_write> y4: array<vec4<real>>;
@compute @workgroup_size(WG)
fn copy4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) { y4[i] = x4[i]; }
}
