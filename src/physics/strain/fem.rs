//! Trilinear (Q1) finite elements of linear cubic elasticity on a rectilinear mesh: the
//! element stiffness and eigenstress load by 2×2×2 Gauss quadrature, the node-blocked
//! assembly of the global stiffness (row-parallel, gather form), the constraints of the
//! boundary conditions, and the strain of a displacement field at the cell centres.
//!
//! Units: lengths nm, elastic constants GPa, displacements nm; the stiffness is in GPa·nm
//! and the load in GPa·nm² (the system is homogeneous in the unit of C, so the GPa never
//! needs converting).
//!
//! Mesh: cells of the grid are the elements; displacements live at the nodes (cell
//! corners). Along a periodic axis the node past the last cell is node 0 (n nodes for n
//! cells); otherwise there are n + 1 nodes. An axis with one periodic cell (the absent axes
//! of a 1D or 2D domain) has one node: the displacement does not vary along it, so the
//! total strain along it is zero (pseudomorphic growth in 1D, plane strain in 2D).
//! Unknowns: dof = 3·node + component, node = i + nx·(j + ny·k).

use rayon::prelude::*;

use crate::linalg::CsrMatrix;

/// A rectilinear mesh with per-cell elastic constants: one level of the hierarchy.
#[derive(Clone, Debug)]
pub struct Mesh {
    /// Cells per axis.
    pub ncell: [usize; 3],
    /// Periodic axes (absent axes count as periodic).
    pub periodic: [bool; 3],
    /// Node coordinates per axis, nm: ncell + 1 entries (for a periodic axis the last is
    /// the image of node 0 one period on).
    pub x: [Vec<f64>; 3],
    /// (C11, C12, C44) per cell, GPa, x-fastest.
    pub c: Vec<[f64; 3]>,
}

impl Mesh {
    pub fn nnode(&self) -> [usize; 3] {
        std::array::from_fn(|a| if self.periodic[a] { self.ncell[a] } else { self.ncell[a] + 1 })
    }
    pub fn nodes(&self) -> usize {
        self.nnode().iter().product()
    }
    pub fn cells(&self) -> usize {
        self.ncell.iter().product()
    }
    pub fn dofs(&self) -> usize {
        3 * self.nodes()
    }
    pub fn node_index(&self, ijk: [usize; 3]) -> usize {
        let n = self.nnode();
        ijk[0] + n[0] * (ijk[1] + n[1] * ijk[2])
    }
    pub fn cell_index(&self, ijk: [usize; 3]) -> usize {
        ijk[0] + self.ncell[0] * (ijk[1] + self.ncell[1] * ijk[2])
    }
    /// Node of corner `bit` (0 or 1) of cell `i` along axis `a`.
    fn corner(&self, a: usize, i: usize, bit: usize) -> usize {
        let j = i + bit;
        if self.periodic[a] && j == self.ncell[a] {
            0
        } else {
            j
        }
    }
    fn width(&self, a: usize, i: usize) -> f64 {
        self.x[a][i + 1] - self.x[a][i]
    }
    /// The cells touching node `i` along axis `a`, with the node's corner bit in each: the
    /// first `len` entries of the array (no allocation: the assembly asks per node).
    fn adjacent(&self, a: usize, i: usize) -> ([(usize, usize); 2], usize) {
        let n = self.ncell[a];
        if self.periodic[a] {
            ([((i + n - 1) % n, 1), (i, 0)], 2)
        } else {
            match (i >= 1, i < n) {
                (true, true) => ([(i - 1, 1), (i, 0)], 2),
                (true, false) => ([(i - 1, 1), (0, 0)], 1),
                (false, true) => ([(i, 0), (0, 0)], 1),
                (false, false) => ([(0, 0), (0, 0)], 0),
            }
        }
    }
}

/// Local node `l` = ax + 2 ay + 4 az of an element.
#[inline]
fn bits(l: usize) -> [usize; 3] {
    [l & 1, (l >> 1) & 1, (l >> 2) & 1]
}

/// The element matrices of one element size: K = C11·k[0] + C12·k[1] + C44·k[2] (24 × 24,
/// local dof 3·l + component) and g[l][i] = ∫ ∂N_l/∂x_i dV (the load of a unit isotropic
/// eigenstress, and the strain-averaging weights).
#[derive(Clone, Debug)]
pub struct ElementBasis {
    pub k: [Box<[[f64; 24]; 24]>; 3],
    pub g: [[f64; 3]; 8],
    pub volume: f64,
    /// d[p][q][l][m] = ∫ ∂N_l/∂x_p ∂N_m/∂x_q dV, the integrals K is made of: each scales
    /// with the element's widths as Π_a h_a^(1 − [a = p] − [a = q]) (the 2-point Gauss rule
    /// is exact for them), so [`ElementBasis::scaled`] derives any element from one.
    pub d: Box<[[[[f64; 8]; 8]; 3]; 3]>,
    /// K's 3×3 node blocks, contiguous: kb[la][lb][q][3 i + j] = k[q][3 la + i][3 lb + j]
    /// (the assembly's inner loop runs over the nine entries of one block).
    pub kb: Box<[[[[f64; 9]; 3]; 8]; 8]>,
}

/// [`ElementBasis::kb`] from the three 24 × 24 matrices.
fn node_blocks(k: &[Box<[[f64; 24]; 24]>; 3]) -> Box<[[[[f64; 9]; 3]; 8]; 8]> {
    let mut kb = Box::new([[[[0.0; 9]; 3]; 8]; 8]);
    for la in 0..8 {
        for lb in 0..8 {
            for q in 0..3 {
                for i in 0..3 {
                    for j in 0..3 {
                        kb[la][lb][q][3 * i + j] = k[q][3 * la + i][3 * lb + j];
                    }
                }
            }
        }
    }
    kb
}

impl ElementBasis {
    pub fn new(h: [f64; 3]) -> ElementBasis {
        let gp = [0.5 - 0.5 / 3f64.sqrt(), 0.5 + 0.5 / 3f64.sqrt()];
        let volume = h[0] * h[1] * h[2];
        let w = volume / 8.0;
        let mut k = [Box::new([[0.0; 24]; 24]), Box::new([[0.0; 24]; 24]), Box::new([[0.0; 24]; 24])];
        let mut g = [[0.0; 3]; 8];
        let mut dd = Box::new([[[[0.0; 8]; 8]; 3]; 3]);
        for &sx in &gp {
            for &sy in &gp {
                for &sz in &gp {
                    let s = [sx, sy, sz];
                    // dN_l/dx_i at the Gauss point
                    let mut dn = [[0.0; 3]; 8];
                    for (l, d) in dn.iter_mut().enumerate() {
                        let b = bits(l);
                        let f: [f64; 3] = std::array::from_fn(|a| if b[a] == 1 { s[a] } else { 1.0 - s[a] });
                        let df: [f64; 3] = std::array::from_fn(|a| if b[a] == 1 { 1.0 / h[a] } else { -1.0 / h[a] });
                        d[0] = df[0] * f[1] * f[2];
                        d[1] = f[0] * df[1] * f[2];
                        d[2] = f[0] * f[1] * df[2];
                    }
                    for l in 0..8 {
                        for i in 0..3 {
                            g[l][i] += w * dn[l][i];
                        }
                    }
                    for (p, dp) in dd.iter_mut().enumerate() {
                        for (q, dpq) in dp.iter_mut().enumerate() {
                            for l in 0..8 {
                                for m in 0..8 {
                                    dpq[l][m] += w * dn[l][p] * dn[m][q];
                                }
                            }
                        }
                    }
                    // energy density: C11 Σ ε_ii² + 2 C12 Σ_{i<j} ε_ii ε_jj + C44 Σ_{i<j} γ_ij²
                    // → K_{(l,i),(m,j)} per constant
                    for l in 0..8 {
                        for m in 0..8 {
                            for i in 0..3 {
                                for j in 0..3 {
                                    let (r, c) = (3 * l + i, 3 * m + j);
                                    if i == j {
                                        k[0][r][c] += w * dn[l][i] * dn[m][i];
                                        // shear: γ_ij = ∂_j u_i + ∂_i u_j, for the two other axes
                                        for q in (0..3).filter(|&q| q != i) {
                                            k[2][r][c] += w * dn[l][q] * dn[m][q];
                                        }
                                    } else {
                                        k[1][r][c] += w * dn[l][i] * dn[m][j];
                                        k[2][r][c] += w * dn[l][j] * dn[m][i];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let kb = node_blocks(&k);
        ElementBasis { k, g, volume, d: dd, kb }
    }

    /// The basis of an element of widths `h` from `unit`'s (any widths `unit.h`): the
    /// integrals d rescaled, K composed from them as [`ElementBasis::new`] does.
    pub fn scaled(unit: &ElementBasis, unit_h: [f64; 3], h: [f64; 3]) -> ElementBasis {
        let r: [f64; 3] = std::array::from_fn(|a| h[a] / unit_h[a]);
        let vol_ratio = r[0] * r[1] * r[2];
        let mut d = Box::new([[[[0.0; 8]; 8]; 3]; 3]);
        for p in 0..3 {
            for q in 0..3 {
                let mut f = vol_ratio / r[p];
                f /= r[q];
                for l in 0..8 {
                    for m in 0..8 {
                        d[p][q][l][m] = unit.d[p][q][l][m] * f;
                    }
                }
            }
        }
        let mut k = [Box::new([[0.0; 24]; 24]), Box::new([[0.0; 24]; 24]), Box::new([[0.0; 24]; 24])];
        for l in 0..8 {
            for m in 0..8 {
                for i in 0..3 {
                    for j in 0..3 {
                        let (rr, c) = (3 * l + i, 3 * m + j);
                        if i == j {
                            k[0][rr][c] = d[i][i][l][m];
                            k[2][rr][c] = (0..3).filter(|&q| q != i).map(|q| d[q][q][l][m]).sum();
                        } else {
                            k[1][rr][c] = d[i][j][l][m];
                            k[2][rr][c] = d[j][i][l][m];
                        }
                    }
                }
            }
        }
        let g = std::array::from_fn(|l| std::array::from_fn(|i| unit.g[l][i] * vol_ratio / r[i]));
        let kb = node_blocks(&k);
        ElementBasis { k, g, volume: h[0] * h[1] * h[2], d, kb }
    }
}

/// Most distinct element sizes [`Bases`] keeps (each about 18 kB); a mesh with more
/// (a graded grid) derives each element's basis when it is asked for.
const MAX_STORED_BASES: usize = 512;

/// Element bases of a mesh, one per distinct element size, found by each axis's width
/// class of the cell (no hashing in the assembly's inner loop).
pub struct Bases {
    /// Per axis, the width class of each cell (index into the sorted distinct widths).
    class: [Vec<u32>; 3],
    /// Distinct widths per axis.
    nclass: [usize; 3],
    /// One basis per class triple, x-fastest.
    stored: Vec<ElementBasis>,
    /// Too many sizes to store: one basis (and its widths) to scale from.
    unit: Option<(ElementBasis, [f64; 3])>,
}

impl Bases {
    pub fn for_mesh(m: &Mesh) -> Bases {
        let widths: [Vec<f64>; 3] = std::array::from_fn(|a| {
            let mut w: Vec<f64> = (0..m.ncell[a]).map(|i| m.width(a, i)).collect();
            w.sort_by(f64::total_cmp);
            w.dedup();
            w
        });
        let nclass = widths.each_ref().map(|w| w.len());
        if nclass.iter().product::<usize>() > MAX_STORED_BASES {
            let h = [widths[0][0], widths[1][0], widths[2][0]];
            return Bases { class: Default::default(), nclass, stored: Vec::new(), unit: Some((ElementBasis::new(h), h)) };
        }
        let class = std::array::from_fn(|a| (0..m.ncell[a]).map(|i| widths[a].binary_search_by(|w| w.total_cmp(&m.width(a, i))).unwrap() as u32).collect());
        let mut stored = Vec::with_capacity(nclass.iter().product());
        for &hz in &widths[2] {
            for &hy in &widths[1] {
                for &hx in &widths[0] {
                    stored.push(ElementBasis::new([hx, hy, hz]));
                }
            }
        }
        Bases { class, nclass, stored, unit: None }
    }
    pub fn of_cell(&self, m: &Mesh, c: [usize; 3]) -> std::borrow::Cow<'_, ElementBasis> {
        match &self.unit {
            Some((u, uh)) => {
                let h: [f64; 3] = std::array::from_fn(|a| m.width(a, c[a]));
                std::borrow::Cow::Owned(ElementBasis::scaled(u, *uh, h))
            }
            None => {
                let k: [usize; 3] = std::array::from_fn(|a| self.class[a][c[a]] as usize);
                std::borrow::Cow::Borrowed(&self.stored[k[0] + self.nclass[0] * (k[1] + self.nclass[1] * k[2])])
            }
        }
    }
}

/// Which dofs are held at zero: boundary conditions and the supports that remove rigid
/// motions (see [`constraints`]).
pub fn constraints(m: &Mesh, clamped: [bool; 6]) -> Vec<bool> {
    let nn = m.nnode();
    let mut fixed = vec![false; m.dofs()];
    let any_clamped = clamped.iter().any(|&c| c);
    for a in 0..3 {
        for side in 0..2 {
            if !clamped[2 * a + side] || m.periodic[a] {
                continue;
            }
            let i = if side == 0 { 0 } else { nn[a] - 1 };
            for k in 0..nn[2] {
                for j in 0..nn[1] {
                    for ii in 0..nn[0] {
                        let ijk = [ii, j, k];
                        if ijk[a] == i {
                            let n = m.node_index(ijk);
                            fixed[3 * n..3 * n + 3].iter_mut().for_each(|f| *f = true);
                        }
                    }
                }
            }
        }
    }
    if !any_clamped {
        // a statically determinate support (3-2-1): it removes the rigid translations and
        // the rigid rotations the boundary conditions allow, and carries no force for a
        // self-equilibrated load (an eigenstrain's is), so it changes no strain
        let o = m.node_index([0, 0, 0]);
        fixed[3 * o..3 * o + 3].iter_mut().for_each(|f| *f = true);
        let rot_allowed = |a: usize| (0..3).filter(|&b| b != a).all(|b| !m.periodic[b]);
        if rot_allowed(2) {
            fixed[3 * m.node_index([nn[0] - 1, 0, 0]) + 1] = true;
        }
        if rot_allowed(1) {
            fixed[3 * m.node_index([nn[0] - 1, 0, 0]) + 2] = true;
        }
        if rot_allowed(0) {
            fixed[3 * m.node_index([0, nn[1] - 1, 0]) + 2] = true;
        }
    }
    fixed
}

/// The distinct nodes next to node `i` along axis `a` (itself included), ascending, and
/// for each cell touching it (in [`Mesh::adjacent`]'s order) the positions in that list of
/// the cell's two corners.
fn axis_neighbours(m: &Mesh, a: usize, i: usize) -> (([usize; 3], usize), [[usize; 2]; 2], usize) {
    let (adj, na) = m.adjacent(a, i);
    let adj = &adj[..na];
    let mut list = [0usize; 3];
    let mut len = 0;
    for &(c, _) in adj {
        for b in 0..2 {
            let j = m.corner(a, c, b);
            if !list[..len].contains(&j) {
                list[len] = j;
                len += 1;
            }
        }
    }
    list[..len].sort_unstable();
    let mut pos = [[0usize; 2]; 2];
    for (k, &(c, _)) in adj.iter().enumerate() {
        for b in 0..2 {
            let j = m.corner(a, c, b);
            pos[k][b] = list[..len].iter().position(|&x| x == j).unwrap();
        }
    }
    ((list, len), pos, adj.len())
}

/// The global stiffness (node-blocked CSR, symmetric; constrained rows and columns
/// replaced by the diagonal entry alone) and, with `eigenstress` (per cell, GPa: the
/// isotropic stress (C11 + 2 C12)·ε* of the stress-free strain), the load vector.
///
/// Gather form, parallel over nodes and written straight into the CSR arrays: a first pass
/// counts each row's entries (the distinct neighbour nodes along each axis, ascending, so
/// their product in z, y, x order is in column order), a second fills each node's three
/// rows in place. No per-row lists: the 128³ operator is 6 GB, and lists of it would be
/// as much again.
pub fn assemble(m: &Mesh, fixed: &[bool], eigenstress: Option<&[f64]>) -> (CsrMatrix, Vec<f64>) {
    let bases = Bases::for_mesh(m);
    let nn = m.nnode();
    let nodes = m.nodes();
    let ndof = 3 * nodes;
    let ijk_of = |node: usize| [node % nn[0], (node / nn[0]) % nn[1], node / (nn[0] * nn[1])];
    // neighbour nodes of each axis, and the free dofs of each node
    let free = |node: usize| (0..3).filter(|&j| !fixed[3 * node + j]).count();
    let mut row_len = vec![0usize; ndof + 1];
    row_len[1..].par_chunks_mut(3).enumerate().for_each(|(node, lens)| {
        let ijk = ijk_of(node);
        let nb: [([usize; 3], usize); 3] = std::array::from_fn(|a| axis_neighbours(m, a, ijk[a]).0);
        let mut cols = 0;
        for &z in &nb[2].0[..nb[2].1] {
            for &y in &nb[1].0[..nb[1].1] {
                for &x in &nb[0].0[..nb[0].1] {
                    cols += free(m.node_index([x, y, z]));
                }
            }
        }
        for (i, l) in lens.iter_mut().enumerate() {
            *l = if fixed[3 * node + i] { 1 } else { cols };
        }
    });
    for r in 0..ndof {
        row_len[r + 1] += row_len[r];
    }
    let row_ptr = row_len;
    let nnz = row_ptr[ndof];
    let mut col = vec![0u32; nnz];
    let mut val = vec![0.0f64; nnz];
    let mut rhs = vec![0.0; ndof];
    // chunks of nodes: their rows are one contiguous stretch of col and val
    const CHUNK: usize = 2048;
    let mut pieces = Vec::with_capacity(nodes.div_ceil(CHUNK));
    {
        let (mut cr, mut vr, mut rr) = (&mut col[..], &mut val[..], &mut rhs[..]);
        let mut at = 0;
        for n0 in (0..nodes).step_by(CHUNK) {
            let n1 = (n0 + CHUNK).min(nodes);
            let end = row_ptr[3 * n1];
            let (c, ct) = std::mem::take(&mut cr).split_at_mut(end - at);
            let (v, vt) = std::mem::take(&mut vr).split_at_mut(end - at);
            let (r, rt) = std::mem::take(&mut rr).split_at_mut(3 * (n1 - n0));
            pieces.push((n0..n1, c, v, r));
            (cr, vr, rr, at) = (ct, vt, rt, end);
        }
    }
    pieces.into_par_iter().for_each(|(range, cols, vals, rhs)| {
        let mut w = 0;
        for node in range.clone() {
            let ijk = ijk_of(node);
            let ax: [(([usize; 3], usize), [[usize; 2]; 2], usize); 3] = std::array::from_fn(|a| axis_neighbours(m, a, ijk[a]));
            let adjn: [([(usize, usize); 2], usize); 3] = std::array::from_fn(|a| m.adjacent(a, ijk[a]));
            let adj: [&[(usize, usize)]; 3] = std::array::from_fn(|a| &adjn[a].0[..adjn[a].1]);
            let (lx, ly) = (ax[0].0 .1, ax[1].0 .1);
            let mut blocks = [[0.0f64; 9]; 27];
            let mut load = [0.0; 3];
            for (kz, &(cz, bz)) in adj[2].iter().enumerate() {
                for (ky, &(cy, by)) in adj[1].iter().enumerate() {
                    for (kx, &(cx, bx)) in adj[0].iter().enumerate() {
                        let cell = [cx, cy, cz];
                        let ci = m.cell_index(cell);
                        let [c11, c12, c44] = m.c[ci];
                        let e = bases.of_cell(m, cell);
                        let la = bx + 2 * by + 4 * bz;
                        if let Some(s) = eigenstress {
                            for i in 0..3 {
                                load[i] += s[ci] * e.g[la][i];
                            }
                        }
                        for lb in 0..8 {
                            let b = bits(lb);
                            let slot = ax[0].1[kx][b[0]] + lx * (ax[1].1[ky][b[1]] + ly * ax[2].1[kz][b[2]]);
                            let (blk, kk) = (&mut blocks[slot], &e.kb[la][lb]);
                            for t in 0..9 {
                                blk[t] += c11 * kk[0][t] + c12 * kk[1][t] + c44 * kk[2][t];
                            }
                        }
                    }
                }
            }
            let local = |k: usize| k - range.start;
            for i in 0..3 {
                let r = 3 * node + i;
                if fixed[r] {
                    let self_slot = {
                        let p: [usize; 3] = std::array::from_fn(|a| ax[a].0 .0[..ax[a].0 .1].iter().position(|&x| x == ijk[a]).unwrap());
                        p[0] + lx * (p[1] + ly * p[2])
                    };
                    let d = blocks[self_slot][4 * i];
                    cols[w] = r as u32;
                    vals[w] = if d > 0.0 { d } else { 1.0 };
                    w += 1;
                } else {
                    rhs[3 * local(node) + i] = load[i];
                    let mut slot = 0;
                    for &z in &ax[2].0 .0[..ax[2].0 .1] {
                        for &y in &ax[1].0 .0[..ax[1].0 .1] {
                            for &x in &ax[0].0 .0[..lx] {
                                let cn = m.node_index([x, y, z]);
                                for j in 0..3 {
                                    let cc = 3 * cn + j;
                                    if !fixed[cc] {
                                        cols[w] = cc as u32;
                                        vals[w] = blocks[slot][3 * i + j];
                                        w += 1;
                                    }
                                }
                                slot += 1;
                            }
                        }
                    }
                }
            }
        }
        debug_assert_eq!(w, cols.len());
    });
    (CsrMatrix { nrows: ndof, ncols: ndof, row_ptr, col, val, stencil: None }, rhs)
}

/// The total strain sym(∇u) at each cell centre (the element average of the trilinear
/// field's gradient), Voigt order xx, yy, zz, yz, xz, xy (tensor components, not
/// engineering shears).
pub fn cell_strain(m: &Mesh, u: &[f64]) -> Vec<[f64; 6]> {
    let bases = Bases::for_mesh(m);
    (0..m.cells())
        .into_par_iter()
        .map(|ci| {
            let cell = [ci % m.ncell[0], (ci / m.ncell[0]) % m.ncell[1], ci / (m.ncell[0] * m.ncell[1])];
            let e = bases.of_cell(m, cell);
            let mut grad = [[0.0; 3]; 3]; // grad[i][j] = ∂u_i/∂x_j
            for l in 0..8 {
                let b = bits(l);
                let node = m.node_index([m.corner(0, cell[0], b[0]), m.corner(1, cell[1], b[1]), m.corner(2, cell[2], b[2])]);
                for i in 0..3 {
                    for j in 0..3 {
                        grad[i][j] += u[3 * node + i] * e.g[l][j];
                    }
                }
            }
            let v = e.volume;
            let s = |i: usize, j: usize| 0.5 * (grad[i][j] + grad[j][i]) / v;
            [s(0, 0), s(1, 1), s(2, 2), s(1, 2), s(0, 2), s(0, 1)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mesh(n: [usize; 3], h: f64, periodic: [bool; 3]) -> Mesh {
        Mesh {
            ncell: n,
            periodic,
            x: std::array::from_fn(|a| (0..=n[a]).map(|i| i as f64 * h).collect()),
            c: vec![[122.1, 56.6, 60.0]; n[0] * n[1] * n[2]],
        }
    }

    #[test]
    fn element_has_exactly_six_rigid_modes() {
        let e = ElementBasis::new([1.0, 0.7, 1.3]);
        let mut k = nalgebra::DMatrix::zeros(24, 24);
        for r in 0..24 {
            for c in 0..24 {
                k[(r, c)] = 122.1 * e.k[0][r][c] + 56.6 * e.k[1][r][c] + 60.0 * e.k[2][r][c];
            }
        }
        assert!((&k - k.transpose()).abs().max() < 1e-9);
        let ev = k.symmetric_eigen().eigenvalues;
        let top = ev.iter().copied().fold(0.0f64, f64::max);
        let zeros = ev.iter().filter(|&&v| v.abs() < 1e-9 * top).count();
        // full integration: no hourglass (checkerboard) modes, only the 6 rigid motions
        assert_eq!(zeros, 6, "{ev}");
        assert!(ev.iter().all(|&v| v > -1e-9 * top));
    }

    #[test]
    fn assembled_operator_is_spd_for_every_condition() {
        for (per, clamped) in [([false; 3], [false; 6]), ([true, true, false], [false, false, false, false, true, false]), ([true, false, true], [false; 6])] {
            let m = mesh([3, 2, 4], 0.5, per);
            let fixed = constraints(&m, clamped);
            let (a, _) = assemble(&m, &fixed, None);
            assert!(a.asymmetry() < 1e-10);
            assert!(nalgebra::Cholesky::new(a.to_dense()).is_some(), "{per:?} {clamped:?}");
        }
    }

    /// The gather assembly against a plain scatter of the element matrices (triplets,
    /// duplicates summed), constraints applied afterwards: periodic axes of one and two cells,
    /// clamped faces, graded widths and mixed constants included.
    #[test]
    fn gather_assembly_is_the_scattered_element_sum() {
        let cases = [([3, 2, 4], [false; 3], [false; 6]), ([2, 3, 1], [true, false, true], [false; 6]), ([4, 2, 3], [false, true, false], [false, false, false, false, true, false])];
        for (n, periodic, clamped) in cases {
            let x = std::array::from_fn(|a| (0..=n[a]).map(|i| i as f64 * 0.5 + 0.07 * (i * i) as f64).collect());
            let cells = n[0] * n[1] * n[2];
            let c: Vec<[f64; 3]> = (0..cells).map(|i| if i % 3 == 0 { [83.29, 45.26, 39.59] } else { [122.1, 56.6, 60.0] }).collect();
            let m = Mesh { ncell: n, periodic, x, c };
            let fixed = constraints(&m, clamped);
            let stress: Vec<f64> = (0..cells).map(|i| 0.1 * i as f64 - 0.3).collect();
            let (a, b) = assemble(&m, &fixed, Some(&stress));
            let bases = Bases::for_mesh(&m);
            let mut t = Vec::new();
            let mut load = vec![0.0; m.dofs()];
            for ci in 0..cells {
                let cell = [ci % n[0], (ci / n[0]) % n[1], ci / (n[0] * n[1])];
                let e = bases.of_cell(&m, cell);
                let [c11, c12, c44] = m.c[ci];
                let node = |l: usize| {
                    let b = bits(l);
                    m.node_index([m.corner(0, cell[0], b[0]), m.corner(1, cell[1], b[1]), m.corner(2, cell[2], b[2])])
                };
                for la in 0..8 {
                    for i in 0..3 {
                        load[3 * node(la) + i] += stress[ci] * e.g[la][i];
                        for lb in 0..8 {
                            for j in 0..3 {
                                let (r, q) = (3 * la + i, 3 * lb + j);
                                t.push((3 * node(la) + i, 3 * node(lb) + j, c11 * e.k[0][r][q] + c12 * e.k[1][r][q] + c44 * e.k[2][r][q]));
                            }
                        }
                    }
                }
            }
            let mut want = CsrMatrix::from_triplets(m.dofs(), m.dofs(), &t).to_dense();
            for d in 0..m.dofs() {
                if fixed[d] {
                    let diag = want[(d, d)];
                    for k in 0..m.dofs() {
                        want[(d, k)] = 0.0;
                        want[(k, d)] = 0.0;
                    }
                    want[(d, d)] = if diag > 0.0 { diag } else { 1.0 };
                    load[d] = 0.0;
                }
            }
            let got = a.to_dense();
            assert!((&got - &want).abs().max() <= 1e-12 * want.abs().max(), "{n:?} {periodic:?}");
            for d in 0..m.dofs() {
                assert!((b[d] - load[d]).abs() <= 1e-12, "{n:?} load {d}");
            }
            // rows sorted, no duplicate columns
            for r in 0..a.nrows {
                assert!(a.col[a.row_ptr[r]..a.row_ptr[r + 1]].windows(2).all(|w| w[0] < w[1]), "{n:?} row {r}");
            }
        }
    }

    #[test]
    fn scaled_basis_is_the_integrated_one() {
        let (uh, h) = ([1.0, 0.7, 1.3], [0.31, 2.2, 0.9]);
        let (e, s) = (ElementBasis::new(h), ElementBasis::scaled(&ElementBasis::new(uh), uh, h));
        for c in 0..3 {
            let top = e.k[c].iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
            for r in 0..24 {
                for q in 0..24 {
                    assert!((e.k[c][r][q] - s.k[c][r][q]).abs() <= 1e-13 * top, "k[{c}][{r}][{q}]");
                }
            }
        }
        for l in 0..8 {
            for i in 0..3 {
                assert!((e.g[l][i] - s.g[l][i]).abs() <= 1e-13 * e.volume);
            }
        }
        assert!((e.volume - s.volume).abs() <= 1e-14 * e.volume);
    }

    /// The patch test on a graded mesh (every width different: bases scaled per element):
    /// a uniform eigenstrain with free faces gives the uniform strain exactly.
    #[test]
    fn uniform_eigenstrain_on_a_graded_mesh_gives_uniform_strain() {
        let n = [9, 9, 8];
        let x = std::array::from_fn(|a| (0..=n[a]).map(|i| i as f64 * 0.5 + 0.04 * (i * i) as f64 + 0.01 * a as f64 * i as f64).collect());
        let m = Mesh { ncell: n, periodic: [false; 3], x, c: vec![[122.1, 56.6, 60.0]; n[0] * n[1] * n[2]] };
        assert!(Bases::for_mesh(&m).unit.is_some(), "the graded mesh should scale its bases");
        let fixed = constraints(&m, [false; 6]);
        let eps = 0.01;
        let s = vec![(122.1 + 2.0 * 56.6) * eps; m.cells()];
        let (a, b) = assemble(&m, &fixed, Some(&s));
        assert!(a.asymmetry() < 1e-10);
        let u = nalgebra::Cholesky::new(a.to_dense()).unwrap().solve(&nalgebra::DVector::from_vec(b));
        for e in cell_strain(&m, u.as_slice()) {
            for i in 0..3 {
                assert!((e[i] - eps).abs() < 1e-9, "{e:?}");
                assert!(e[3 + i].abs() < 1e-9, "{e:?}");
            }
        }
    }

    #[test]
    fn uniform_eigenstrain_with_free_faces_gives_uniform_strain() {
        let m = mesh([3, 3, 3], 1.0, [false; 3]);
        let fixed = constraints(&m, [false; 6]);
        let eps = 0.01;
        let s = vec![(122.1 + 2.0 * 56.6) * eps; m.cells()];
        let (a, b) = assemble(&m, &fixed, Some(&s));
        let u = nalgebra::Cholesky::new(a.to_dense()).unwrap().solve(&nalgebra::DVector::from_vec(b));
        let st = cell_strain(&m, u.as_slice());
        for e in st {
            for i in 0..3 {
                assert!((e[i] - eps).abs() < 1e-10, "{e:?}");
                assert!(e[3 + i].abs() < 1e-10, "{e:?}");
            }
        }
    }
}
