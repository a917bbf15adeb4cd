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

@group(0) @binding(0) var<storage, read> a: array<real>;
@group(0) @binding(1) var<storage, read> b: array<real>;
@group(0) @binding(2) var<storage, read> s: array<real>;
@group(0) @binding(3) var<storage, read_write> y: array<real>;
@group(0) @binding(4) var<storage, read_write> r: array<real>;

fn ratio() -> real {
    let d = s[imm.den];
    if (d == 0.0) {
        return 0.0;
    }
    return s[imm.num] / d;
}

@compute @workgroup_size(WG)
fn axpy_ratio(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) {
        y[i] = fma(real(imm.sign) * ratio(), a[i], y[i]);
    }
}

@compute @workgroup_size(WG)
fn xpby_ratio(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) {
        y[i] = fma(ratio(), y[i], a[i]);
    }
}

@compute @workgroup_size(WG)
fn cg_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i < imm.n) {
        let alpha = ratio();
        y[i] = fma(alpha, a[i], y[i]);
        r[i] = fma(-alpha, b[i], r[i]);
    }
}
