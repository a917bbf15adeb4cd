// Sparse products of a block of up to 8 vectors (SpMM), y_j ← A x_j for j < k: the
// matrix is read once for the k columns (the stencil's coefficients or CSR's values and
// columns are the larger part of a product's memory traffic). One thread per row on a 2D
// grid of WG-wide workgroups (global_index, shaders/prelude.wgsl).
//   stencil_spmm: the stencil layout of stencil.wgsl (diagonal and upper couplings per axis
//     at bindings 0-3); the terms in CSR's column order (−z, −y, −x, diagonal, +x, +y, +z),
//     each column the same sum as stencil.wgsl's product.
//   csr_spmm: CSR (row pointers, columns, values at bindings 0-2, one row block of
//     spmv.wgsl's: columns relative to the bound window of each x_j); the products added in
//     column order as spmv.wgsl does.
//   transfer_restrict / transfer_prolong: the transfers of a multigrid aggregation by 2
//     along the axes of `flags` (bit a: axis a), from the grids alone (no matrix bound):
//     restriction y_j[c] = Σ_{children f of c} x_j[f], the children in ascending index (as
//     CSR's row of R adds them), n coarse rows, m fine cells; prolongation y_j[f] =
//     x_j[parent(f)], n fine rows. nx, ny, nxy: the fine grid; cnx, cny, cnxy: the coarse.
// Unused slots (j ≥ k) are bound to a dummy buffer and never read.

struct Imm {
    n: u32,
    k: u32,
    nx: u32,
    ny: u32,
    nxy: u32,
    cnx: u32,
    cny: u32,
    cnxy: u32,
    m: u32,
    flags: u32,
}
var<immediate> imm: Imm;

// the stencil layout, or CSR (the same bindings under their CSR names)
@group(0) @binding(0) var<storage, read> diag: array<real>;
@group(0) @binding(1) var<storage, read> offx: array<real>;
@group(0) @binding(2) var<storage, read> offy: array<real>;
@group(0) @binding(3) var<storage, read> offz: array<real>;
@group(0) @binding(0) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(1) var<storage, read> col_idx: array<u32>;
@group(0) @binding(2) var<storage, read> vals: array<real>;
@group(0) @binding(4) var<storage, read> x0: array<real>;
@group(0) @binding(5) var<storage, read> x1: array<real>;
@group(0) @binding(6) var<storage, read> x2: array<real>;
@group(0) @binding(7) var<storage, read> x3: array<real>;
@group(0) @binding(8) var<storage, read> x4: array<real>;
@group(0) @binding(9) var<storage, read> x5: array<real>;
@group(0) @binding(10) var<storage, read> x6: array<real>;
@group(0) @binding(11) var<storage, read> x7: array<real>;
@group(0) @binding(12) var<storage, read_write> y0: array<real>;
@group(0) @binding(13) var<storage, read_write> y1: array<real>;
@group(0) @binding(14) var<storage, read_write> y2: array<real>;
@group(0) @binding(15) var<storage, read_write> y3: array<real>;
@group(0) @binding(16) var<storage, read_write> y4: array<real>;
@group(0) @binding(17) var<storage, read_write> y5: array<real>;
@group(0) @binding(18) var<storage, read_write> y6: array<real>;
@group(0) @binding(19) var<storage, read_write> y7: array<real>;

// One row of the stencil: its seven coefficients (zero for a missing neighbour) and the
// indices of the neighbours (the row itself for a missing one, so every load is in bounds).
struct Row {
    cmz: real, cmy: real, cmx: real, d: real, cpx: real, cpy: real, cpz: real,
    imz: u32, imy: u32, imx: u32, i: u32, ipx: u32, ipy: u32, ipz: u32,
}

fn stencil_coeffs(i: u32) -> Row {
    let ix = i % imm.nx;
    let iy = (i / imm.nx) % imm.ny;
    let iz = i / imm.nxy;
    var r = Row(0.0, 0.0, 0.0, diag[i], 0.0, 0.0, 0.0, i, i, i, i, i, i, i);
    if (iz > 0u) { r.cmz = offz[i - imm.nxy]; r.imz = i - imm.nxy; }
    if (iy > 0u) { r.cmy = offy[i - imm.nx]; r.imy = i - imm.nx; }
    if (ix > 0u) { r.cmx = offx[i - 1u]; r.imx = i - 1u; }
    if (ix + 1u < imm.nx) { r.cpx = offx[i]; r.ipx = i + 1u; }
    if (iy + 1u < imm.ny) { r.cpy = offy[i]; r.ipy = i + imm.nx; }
    if (i + imm.nxy < imm.n) { r.cpz = offz[i]; r.ipz = i + imm.nxy; }
    return r;
}

// Σ in column order; a missing neighbour adds 0 · x_i (exact for finite x)
fn stencil_sum(r: Row, mz: real, my: real, mx: real, c: real, px: real, py: real, pz: real) -> real {
    var acc: real = 0.0;
    acc = fma(r.cmz, mz, acc);
    acc = fma(r.cmy, my, acc);
    acc = fma(r.cmx, mx, acc);
    acc = fma(r.d, c, acc);
    acc = fma(r.cpx, px, acc);
    acc = fma(r.cpy, py, acc);
    acc = fma(r.cpz, pz, acc);
    return acc;
}

fn col0(r: Row) -> real { return stencil_sum(r, x0[r.imz], x0[r.imy], x0[r.imx], x0[r.i], x0[r.ipx], x0[r.ipy], x0[r.ipz]); }
fn col1(r: Row) -> real { return stencil_sum(r, x1[r.imz], x1[r.imy], x1[r.imx], x1[r.i], x1[r.ipx], x1[r.ipy], x1[r.ipz]); }
fn col2(r: Row) -> real { return stencil_sum(r, x2[r.imz], x2[r.imy], x2[r.imx], x2[r.i], x2[r.ipx], x2[r.ipy], x2[r.ipz]); }
fn col3(r: Row) -> real { return stencil_sum(r, x3[r.imz], x3[r.imy], x3[r.imx], x3[r.i], x3[r.ipx], x3[r.ipy], x3[r.ipz]); }
fn col4(r: Row) -> real { return stencil_sum(r, x4[r.imz], x4[r.imy], x4[r.imx], x4[r.i], x4[r.ipx], x4[r.ipy], x4[r.ipz]); }
fn col5(r: Row) -> real { return stencil_sum(r, x5[r.imz], x5[r.imy], x5[r.imx], x5[r.i], x5[r.ipx], x5[r.ipy], x5[r.ipz]); }
fn col6(r: Row) -> real { return stencil_sum(r, x6[r.imz], x6[r.imy], x6[r.imx], x6[r.i], x6[r.ipx], x6[r.ipy], x6[r.ipz]); }
fn col7(r: Row) -> real { return stencil_sum(r, x7[r.imz], x7[r.imy], x7[r.imx], x7[r.i], x7[r.ipx], x7[r.ipy], x7[r.ipz]); }

@compute @workgroup_size(WG)
fn stencil_spmm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = global_index(gid, nwg);
    if (i >= imm.n) {
        return;
    }
    let r = stencil_coeffs(i);
    let k = imm.k;
    y0[i] = col0(r);
    if (k > 1u) { y1[i] = col1(r); }
    if (k > 2u) { y2[i] = col2(r); }
    if (k > 3u) { y3[i] = col3(r); }
    if (k > 4u) { y4[i] = col4(r); }
    if (k > 5u) { y5[i] = col5(r); }
    if (k > 6u) { y6[i] = col6(r); }
    if (k > 7u) { y7[i] = col7(r); }
}

@compute @workgroup_size(WG)
fn csr_spmm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = global_index(gid, nwg);
    if (row >= imm.n) {
        return;
    }
    let k = imm.k;
    var a0: real = 0.0;
    var a1: real = 0.0;
    var a2: real = 0.0;
    var a3: real = 0.0;
    var a4: real = 0.0;
    var a5: real = 0.0;
    var a6: real = 0.0;
    var a7: real = 0.0;
    let end = row_ptr[row + 1u];
    for (var p = row_ptr[row]; p < end; p++) {
        let c = col_idx[p];
        let v = vals[p];
        a0 = fma(v, x0[c], a0);
        if (k > 1u) { a1 = fma(v, x1[c], a1); }
        if (k > 2u) { a2 = fma(v, x2[c], a2); }
        if (k > 3u) { a3 = fma(v, x3[c], a3); }
        if (k > 4u) { a4 = fma(v, x4[c], a4); }
        if (k > 5u) { a5 = fma(v, x5[c], a5); }
        if (k > 6u) { a6 = fma(v, x6[c], a6); }
        if (k > 7u) { a7 = fma(v, x7[c], a7); }
    }
    y0[row] = a0;
    if (k > 1u) { y1[row] = a1; }
    if (k > 2u) { y2[row] = a2; }
    if (k > 3u) { y3[row] = a3; }
    if (k > 4u) { y4[row] = a4; }
    if (k > 5u) { y5[row] = a5; }
    if (k > 6u) { y6[row] = a6; }
    if (k > 7u) { y7[row] = a7; }
}

// the children of coarse index c along one axis of `nf` fine cells: [first, end)
fn child_range(c: u32, nf: u32, bit: u32) -> vec2<u32> {
    if ((imm.flags & bit) != 0u) { return vec2<u32>(2u * c, min(2u * c + 2u, nf)); }
    return vec2<u32>(c, c + 1u);
}

fn parent_of(f: u32, bit: u32) -> u32 {
    if ((imm.flags & bit) != 0u) { return f / 2u; }
    return f;
}

@compute @workgroup_size(WG)
fn transfer_restrict(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = global_index(gid, nwg);
    if (c >= imm.n) { return; }
    let rx = child_range(c % imm.cnx, imm.nx, 1u);
    let ry = child_range((c / imm.cnx) % imm.cny, imm.ny, 2u);
    let rz = child_range(c / imm.cnxy, imm.m / imm.nxy, 4u);
    var idx: array<u32, 8>;
    var cnt = 0u;
    for (var kz = rz.x; kz < rz.y; kz++) {
        for (var jy = ry.x; jy < ry.y; jy++) {
            for (var ix = rx.x; ix < rx.y; ix++) {
                idx[cnt] = ix + imm.nx * jy + imm.nxy * kz;
                cnt++;
            }
        }
    }
    let k = imm.k;
    var s: real = 0.0;
    for (var t = 0u; t < cnt; t++) { s += x0[idx[t]]; }
    y0[c] = s;
    if (k > 1u) { s = 0.0; for (var t = 0u; t < cnt; t++) { s += x1[idx[t]]; } y1[c] = s; }
    if (k > 2u) { s = 0.0; for (var t = 0u; t < cnt; t++) { s += x2[idx[t]]; } y2[c] = s; }
    if (k > 3u) { s = 0.0; for (var t = 0u; t < cnt; t++) { s += x3[idx[t]]; } y3[c] = s; }
    if (k > 4u) { s = 0.0; for (var t = 0u; t < cnt; t++) { s += x4[idx[t]]; } y4[c] = s; }
    if (k > 5u) { s = 0.0; for (var t = 0u; t < cnt; t++) { s += x5[idx[t]]; } y5[c] = s; }
    if (k > 6u) { s = 0.0; for (var t = 0u; t < cnt; t++) { s += x6[idx[t]]; } y6[c] = s; }
    if (k > 7u) { s = 0.0; for (var t = 0u; t < cnt; t++) { s += x7[idx[t]]; } y7[c] = s; }
}

@compute @workgroup_size(WG)
fn transfer_prolong(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let f = global_index(gid, nwg);
    if (f >= imm.n) { return; }
    let p = parent_of(f % imm.nx, 1u) + imm.cnx * parent_of((f / imm.nx) % imm.ny, 2u) + imm.cnxy * parent_of(f / imm.nxy, 4u);
    let k = imm.k;
    y0[f] = x0[p];
    if (k > 1u) { y1[f] = x1[p]; }
    if (k > 2u) { y2[f] = x2[p]; }
    if (k > 3u) { y3[f] = x3[p]; }
    if (k > 4u) { y4[f] = x4[p]; }
    if (k > 5u) { y5[f] = x5[p]; }
    if (k > 6u) { y6[f] = x6[p]; }
    if (k > 7u) { y7[f] = x7[p]; }
}
