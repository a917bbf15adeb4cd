//! The multigrid hierarchy of the elasticity operator: geometric coarsening of the node
//! mesh with trilinear prolongation of all three displacement components together
//! (node-blocked), and the operator re-discretised on each coarse mesh with the elastic
//! constants averaged over the fine cells a coarse cell covers. The levels are handed to
//! [`crate::linalg::multigrid::Multigrid::from_hierarchy`], whose Chebyshev smoother,
//! V-cycle and dense coarsest solve are used unchanged.
//!
//! Why not the cell aggregation of `linalg::multigrid`: its piecewise-constant
//! prolongation represents neither the linear displacements of uniform strain nor the
//! rotations, the near-null space of elasticity, so the coarse correction is poor and
//! the iteration count grows with refinement. Trilinear interpolation of the nodal
//! displacements reproduces every linear field exactly, and on nested meshes with
//! constant coefficients the re-discretised coarse operator *is* the Galerkin product
//! PᵀAP of Q1 elements.
//!
//! Coarsening of one axis: the coarse nodes are the fine nodes of even index plus the last
//! node (odd cell counts end in a coarse cell one fine cell wide), so any cell count
//! coarsens and the boundary nodes (faces, the supports of [`super::fem::constraints`])
//! are nodes of every level. An axis of one cell is not coarsened.

use super::fem::{assemble, constraints, Mesh};
use crate::linalg::multigrid::HostLevel;
use crate::linalg::CsrMatrix;

/// Coarse nodes of an axis (fine node indices): the even ones, and the last node of a
/// non-periodic axis (on a periodic axis the period closes the last coarse cell).
fn coarse_axis(m: &Mesh, a: usize) -> Option<Vec<usize>> {
    let n = m.ncell[a];
    if n < 2 {
        return None;
    }
    let mut c: Vec<usize> = (0..n).step_by(2).collect();
    if !m.periodic[a] {
        c.push(n);
    }
    Some(c)
}

/// The coarse mesh of `m` (None when no axis coarsens) and, per axis, the coarse node
/// indices in fine numbering.
pub fn coarsen(m: &Mesh) -> Option<(Mesh, [Vec<usize>; 3])> {
    let picks: [Option<Vec<usize>>; 3] = std::array::from_fn(|a| coarse_axis(m, a));
    if picks.iter().all(|p| p.is_none()) {
        return None;
    }
    let keep: [Vec<usize>; 3] = std::array::from_fn(|a| picks[a].clone().unwrap_or_else(|| (0..m.nnode()[a]).collect()));
    let mut ncell = [0; 3];
    let mut x: [Vec<f64>; 3] = Default::default();
    // fine cells of each coarse cell, per axis
    let mut spans: [Vec<std::ops::Range<usize>>; 3] = Default::default();
    for a in 0..3 {
        let k = &keep[a];
        let mut pos: Vec<usize> = k.clone();
        if m.periodic[a] {
            pos.push(m.ncell[a]);
        }
        ncell[a] = pos.len() - 1;
        x[a] = pos.iter().map(|&i| m.x[a][i]).collect();
        spans[a] = pos.windows(2).map(|w| w[0]..w[1]).collect();
    }
    let mut c = Vec::with_capacity(ncell.iter().product());
    for k in 0..ncell[2] {
        for j in 0..ncell[1] {
            for i in 0..ncell[0] {
                let mut sum = [0.0; 3];
                let mut vol = 0.0;
                for fk in spans[2][k].clone() {
                    for fj in spans[1][j].clone() {
                        for fi in spans[0][i].clone() {
                            let w = (m.x[0][fi + 1] - m.x[0][fi]) * (m.x[1][fj + 1] - m.x[1][fj]) * (m.x[2][fk + 1] - m.x[2][fk]);
                            let cf = m.c[m.cell_index([fi, fj, fk])];
                            for q in 0..3 {
                                sum[q] += w * cf[q];
                            }
                            vol += w;
                        }
                    }
                }
                c.push(sum.map(|s| s / vol));
            }
        }
    }
    Some((Mesh { ncell, periodic: m.periodic, x, c }, keep))
}

/// Linear interpolation along one axis: for each fine node, (coarse node, weight) pairs.
fn axis_weights(m: &Mesh, a: usize, keep: &[usize]) -> Vec<Vec<(usize, f64)>> {
    let nf = m.nnode()[a];
    let nc = keep.len();
    let mut w = vec![Vec::new(); nf];
    for (jc, &f) in keep.iter().enumerate() {
        w[f].push((jc, 1.0));
        // fine nodes between this coarse node and the next
        let (next_f, next_c) = if jc + 1 < nc {
            (keep[jc + 1], jc + 1)
        } else if m.periodic[a] {
            (m.ncell[a], 0)
        } else {
            continue;
        };
        let (x0, x1) = (m.x[a][f], m.x[a][next_f]);
        for i in f + 1..next_f {
            let t = (m.x[a][i] - x0) / (x1 - x0);
            w[i].push((jc, 1.0 - t));
            w[i].push((next_c, t));
        }
    }
    w
}

/// Prolongation (fine dofs × coarse dofs), rows of fixed fine dofs and columns of fixed
/// coarse dofs dropped, and its transpose.
fn transfer(fine: &Mesh, coarse: &Mesh, keep: &[Vec<usize>; 3], fixed_f: &[bool], fixed_c: &[bool]) -> (CsrMatrix, CsrMatrix) {
    let w: [Vec<Vec<(usize, f64)>>; 3] = std::array::from_fn(|a| axis_weights(fine, a, &keep[a]));
    let p = tensor_rows(fine, coarse, &w, fixed_f, fixed_c);
    // R = Pᵀ as its own rows: per axis, the fine nodes each coarse node interpolates to
    let nc = coarse.nnode();
    let inv: [Vec<Vec<(usize, f64)>>; 3] = std::array::from_fn(|a| {
        let mut inv = vec![Vec::new(); nc[a]];
        for (f, ws) in w[a].iter().enumerate() {
            for &(c, x) in ws {
                inv[c].push((f, x));
            }
        }
        inv
    });
    let r = tensor_rows(coarse, fine, &inv, fixed_c, fixed_f);
    (r, p)
}

/// The matrix (dofs of `rows` × dofs of `cols`) whose row of node (i, j, k), component c
/// holds w_x[i] ⊗ w_y[j] ⊗ w_z[k] on the cols' nodes, component c: `w[a][i]` lists (node
/// of `cols` along axis a, weight). Rows of `fixed_r` are empty, columns of `fixed_c`
/// dropped. Row-parallel, straight into the CSR arrays (the 128³ fine level has 6.4 M rows).
fn tensor_rows(rows: &Mesh, cols: &Mesh, w: &[Vec<Vec<(usize, f64)>>; 3], fixed_r: &[bool], fixed_c: &[bool]) -> CsrMatrix {
    let n = rows.nnode();
    let most: usize = w.iter().map(|wa| wa.iter().map(|v| v.len()).max().unwrap_or(1)).product();
    CsrMatrix::from_rows(rows.dofs(), cols.dofs(), most, |row, entries| {
        let (node, comp) = (row / 3, row % 3);
        if fixed_r[row] {
            return;
        }
        let (i, j, k) = (node % n[0], (node / n[0]) % n[1], node / (n[0] * n[1]));
        for &(cz, az) in &w[2][k] {
            for &(cy, ay) in &w[1][j] {
                for &(cx, ax) in &w[0][i] {
                    let cd = 3 * cols.node_index([cx, cy, cz]) + comp;
                    if !fixed_c[cd] {
                        entries.push((cd as u32, ax * ay * az));
                    }
                }
            }
        }
        // a periodic axis of two cells reaches one node from both sides: merge
        entries.sort_unstable_by_key(|e| e.0);
        entries.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
    })
}

#[cfg(test)]
fn transpose(a: &CsrMatrix) -> CsrMatrix {
    let mut counts = vec![0usize; a.ncols + 1];
    for &c in &a.col {
        counts[c as usize + 1] += 1;
    }
    for i in 0..a.ncols {
        counts[i + 1] += counts[i];
    }
    let mut fill = counts.clone();
    let mut col = vec![0u32; a.nnz()];
    let mut val = vec![0.0; a.nnz()];
    for r in 0..a.nrows {
        for p in a.row_ptr[r]..a.row_ptr[r + 1] {
            let c = a.col[p] as usize;
            col[fill[c]] = r as u32;
            val[fill[c]] = a.val[p];
            fill[c] += 1;
        }
    }
    CsrMatrix { nrows: a.ncols, ncols: a.nrows, row_ptr: counts, col, val, stencil: None }
}

/// The hierarchy from the fine operator `a0` (on `fine`, constraints from `clamped`): coarse
/// levels until at most `max_coarse` dofs remain or no axis coarsens.
pub fn hierarchy(fine: &Mesh, clamped: [bool; 6], a0: CsrMatrix, max_coarse: usize, max_levels: usize) -> Vec<HostLevel> {
    let mut levels = vec![HostLevel { n: fine.nnode(), a: a0, r: None, p: None }];
    let mut mesh = fine.clone();
    let mut fixed = constraints(&mesh, clamped);
    while mesh.dofs() > max_coarse && levels.len() < max_levels {
        let Some((coarse, keep)) = coarsen(&mesh) else { break };
        let fixed_c = constraints(&coarse, clamped);
        let (r, p) = transfer(&mesh, &coarse, &keep, &fixed, &fixed_c);
        let (ac, _) = assemble(&coarse, &fixed_c, None);
        let last = levels.last_mut().unwrap();
        last.r = Some(r);
        last.p = Some(p);
        levels.push(HostLevel { n: coarse.nnode(), a: ac, r: None, p: None });
        mesh = coarse;
        fixed = fixed_c;
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mesh(n: [usize; 3], periodic: [bool; 3]) -> Mesh {
        Mesh { ncell: n, periodic, x: std::array::from_fn(|a| (0..=n[a]).map(|i| i as f64 * 0.5).collect()), c: vec![[122.1, 56.6, 60.0]; n[0] * n[1] * n[2]] }
    }

    #[test]
    fn prolongation_reproduces_linear_fields_and_galerkin_equals_rediscretisation() {
        for (n, per) in [([4, 6, 2], [false; 3]), ([5, 3, 4], [false, true, false]), ([4, 4, 1], [true, true, true])] {
            let f = mesh(n, per);
            let (c, keep) = coarsen(&f).unwrap();
            let none_f = vec![false; f.dofs()];
            let none_c = vec![false; c.dofs()];
            let (r, p) = transfer(&f, &c, &keep, &none_f, &none_c);
            // R, built row by row, is Pᵀ (also with fixed dofs, whose rows and columns drop)
            assert_eq!(r.to_dense(), transpose(&p).to_dense(), "{n:?}");
            let fixed_f = constraints(&f, [true, false, false, false, false, false]);
            let fixed_c = constraints(&c, [true, false, false, false, false, false]);
            let (rf, pf) = transfer(&f, &c, &keep, &fixed_f, &fixed_c);
            assert_eq!(rf.to_dense(), transpose(&pf).to_dense(), "{n:?} clamped");
            // each row of P sums to 1 (constants interpolate exactly)
            for r in 0..p.nrows {
                let s: f64 = (p.row_ptr[r]..p.row_ptr[r + 1]).map(|q| p.val[q]).sum();
                assert!((s - 1.0).abs() < 1e-12);
            }
            // a linear field along a non-periodic axis is interpolated exactly
            let cn = c.nnode();
            let uc: Vec<f64> = (0..c.dofs()).map(|d| {
                let node = d / 3;
                let i = node % cn[0];
                if per[0] { 0.0 } else { c.x[0][i] * (1 + d % 3) as f64 }
            }).collect();
            let uf = p.mul_vec(&uc);
            let fnn = f.nnode();
            for d in 0..f.dofs() {
                let i = (d / 3) % fnn[0];
                let want = if per[0] { 0.0 } else { f.x[0][i] * (1 + d % 3) as f64 };
                assert!((uf[d] - want).abs() < 1e-12);
            }
            // constant coefficients on nested meshes: PᵀAP = the coarse Q1 operator
            if n.iter().all(|&k| k % 2 == 0 || k == 1) {
                let (af, _) = assemble(&f, &none_f, None);
                let (ac, _) = assemble(&c, &none_c, None);
                let pd = p.to_dense();
                let g = pd.transpose() * af.to_dense() * &pd;
                assert!((g - ac.to_dense()).abs().max() < 1e-9 * ac.norm_inf(), "{n:?}");
            }
        }
    }
}
