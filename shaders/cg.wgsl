// CG updates whose step lengths are ratios of scalars kept on the device (written there by
// the dot kernels of multi.wgsl), so a CG iteration needs no host round trip.
//   axpy_ratio: y ← y + sign · (s[num] / s[den]) · a
//   xpby_ratio: y ← a + (s[num] / s[den]) · y
//   cg_update:  y ← y + α a and r ← r − α b with α = s[num] / s[den]   (x and r of CG)
// A zero denominator gives a zero ratio (a converged or empty system).

struct Imm {
    n: u32,
    num: u32,
    den: u32,
    sign: i32,
}
var<immediate> imm: Imm;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> r: array<f32>;

fn ratio() -> f32 {
    let d = s[imm.den];
    if (d == 0.0) {
        return 0.0;
    }
    return s[imm.num] / d;
}

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn axpy_ratio(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < imm.n) {
        y[i] = fma(f32(imm.sign) * ratio(), a[i], y[i]);
    }
}

@compute @workgroup_size(256)
fn xpby_ratio(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < imm.n) {
        y[i] = fma(ratio(), y[i], a[i]);
    }
}

@compute @workgroup_size(256)
fn cg_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < imm.n) {
        let alpha = ratio();
        y[i] = fma(alpha, a[i], y[i]);
        r[i] = fma(-alpha, b[i], r[i]);
    }
}
