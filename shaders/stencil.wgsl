// Sparse products with the grid operators' stencil layout (src/linalg/stencil.rs): per cell
// the diagonal and the couplings to the upper neighbours along x, y and z; the lower
// couplings are the upper ones of the neighbours. One thread per row on a 2D grid of
// WG-wide workgroups, terms summed in CSR's column order (−z, −y, −x, diagonal, +x, +y, +z).

struct Imm {
    n: u32,
    nx: u32,
    ny: u32,
    nxy: u32,
    alpha: real,
    beta: real,
    gamma: real,
}
var<immediate> imm: Imm;

@group(0) @binding(0) var<storage, read> diag: array<real>;
@group(0) @binding(1) var<storage, read> offx: array<real>;
@group(0) @binding(2) var<storage, read> offy: array<real>;
@group(0) @binding(3) var<storage, read> offz: array<real>;
@group(0) @binding(4) var<storage, read> x: array<real>;
@group(0) @binding(5) var<storage, read_write> y: array<real>;

fn stencil_row(i: u32) -> real {
    let ix = i % imm.nx;
    let iy = (i / imm.nx) % imm.ny;
    let iz = i / imm.nxy;
    var acc: real = 0.0;
    if (iz > 0u) { acc = fma(offz[i - imm.nxy], x[i - imm.nxy], acc); }
    if (iy > 0u) { acc = fma(offy[i - imm.nx], x[i - imm.nx], acc); }
    if (ix > 0u) { acc = fma(offx[i - 1u], x[i - 1u], acc); }
    acc = fma(diag[i], x[i], acc);
    if (ix + 1u < imm.nx) { acc = fma(offx[i], x[i + 1u], acc); }
    if (iy + 1u < imm.ny) { acc = fma(offy[i], x[i + imm.nx], acc); }
    if (i + imm.nxy < imm.n) { acc = fma(offz[i], x[i + imm.nxy], acc); }
    return acc;
}

// y ← A x
@compute @workgroup_size(WG)
fn stencil_spmv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = global_index(gid, nwg);
    if (row < imm.n) { y[row] = stencil_row(row); }
}

// y ← alpha A x + beta x + gamma y  (one step of a Chebyshev recurrence)
@compute @workgroup_size(WG)
fn stencil_spmv_axpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = global_index(gid, nwg);
    if (row < imm.n) {
        var g: real = 0.0;
        if (imm.gamma != 0.0) { g = imm.gamma * y[row]; }
        y[row] = imm.alpha * stencil_row(row) + imm.beta * x[row] + g;
    }
}
