//! The grid operators' second storage layout: a symmetric 3-, 5- or 7-point stencil on an
//! `nx × ny × nz` rectilinear grid (x fastest), held as the diagonal and one coupling per
//! cell and axis (the coefficient of the face to the upper neighbour). A product reads
//! 4 values per row (diagonal and three faces; the lower faces are the upper faces of the
//! neighbours, already in cache) plus x and y, against 7 values, 7 column indices and a row
//! pointer for CSR: about 2.8× fewer bytes in f32.
//!
//! A grid operator's assembly knows its layout and records it in the matrix
//! ([`CsrMatrix::stencil`], a [`StencilLayout`]); [`StencilMatrix::from_layout`] then reads
//! the diagonal and couplings off by position. For general matrices (no layout recorded),
//! [`StencilMatrix::detect`] recognises such a matrix in CSR form and verifies every entry,
//! so a matrix that is not exactly a symmetric stencil on a grid stays in CSR.

use super::CsrMatrix;

/// The grid a symmetric nearest-neighbour operator lives on (x fastest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StencilLayout {
    /// Cells per axis (1 for the axes a 1D or 2D grid lacks).
    pub dims: [usize; 3],
}

#[derive(Clone, Debug, PartialEq)]
pub struct StencilMatrix {
    /// Cells per axis (1 for the axes a 1D or 2D grid lacks).
    pub dims: [usize; 3],
    pub diag: Vec<f64>,
    /// `off[a][i]`: the entry coupling cell i to its upper neighbour along axis a (0 where
    /// there is none).
    pub off: [Vec<f64>; 3],
}

impl StencilMatrix {
    /// The stencil form of `a`: from the layout its assembly recorded, else detected.
    pub fn of(a: &CsrMatrix) -> Option<StencilMatrix> {
        match a.stencil {
            Some(layout) => Some(StencilMatrix::from_layout(a, layout)),
            None => StencilMatrix::detect(a),
        }
    }

    /// The stencil form of `a`, whose assembly says it is a symmetric nearest-neighbour
    /// operator on a grid of `layout.dims`: the diagonal and the upper couplings are read by
    /// position (the lower ones are their mirror images). Panics on an entry that is no
    /// neighbour on that grid (the layout does not describe the matrix).
    pub fn from_layout(a: &CsrMatrix, layout: StencilLayout) -> StencilMatrix {
        use rayon::prelude::*;
        let (n, dims) = (a.nrows, layout.dims);
        assert_eq!(dims[0] * dims[1] * dims[2], n, "stencil layout {dims:?} for {n} rows");
        let strides = [1, dims[0], dims[0] * dims[1]];
        let mut diag = vec![0.0; n];
        let [mut ox, mut oy, mut oz] = [vec![0.0; n], vec![0.0; n], vec![0.0; n]];
        // row-parallel (at 256³ a serial pass over the 10⁸ entries is a quarter second)
        const ROWS: usize = 1 << 14;
        diag.par_chunks_mut(ROWS).zip(ox.par_chunks_mut(ROWS)).zip(oy.par_chunks_mut(ROWS).zip(oz.par_chunks_mut(ROWS))).enumerate().for_each(
            |(c, ((d, x), (y, z)))| {
                let off = [x, y, z];
                for (r, dr) in d.iter_mut().enumerate() {
                    let i = c * ROWS + r;
                    let ijk = [i % dims[0], (i / dims[0]) % dims[1], i / strides[2]];
                    for p in a.row_ptr[i]..a.row_ptr[i + 1] {
                        let col = a.col[p] as usize;
                        if col == i {
                            *dr = a.val[p];
                        } else if col > i {
                            let axis = (0..3).find(|&ax| col == i + strides[ax] && ijk[ax] + 1 < dims[ax]);
                            let axis = axis.unwrap_or_else(|| panic!("entry ({i}, {col}) is no neighbour on a {dims:?} grid"));
                            off[axis][r] = a.val[p];
                        }
                    }
                }
            },
        );
        StencilMatrix { dims, diag, off: [ox, oy, oz] }
    }

    /// The stencil form of `a`, if `a` is exactly a symmetric nearest-neighbour operator on
    /// a grid: the strides are read off the first row and every row is checked.
    pub fn detect(a: &CsrMatrix) -> Option<StencilMatrix> {
        let n = a.nrows;
        if n < 2 || a.ncols != n {
            return None;
        }
        let first: Vec<usize> = (a.row_ptr[0]..a.row_ptr[1]).map(|p| a.col[p] as usize).filter(|&c| c != 0).collect();
        let dims = match first[..] {
            [1] => [n, 1, 1],
            [1, nx] if n.is_multiple_of(nx) && nx > 1 => [nx, n / nx, 1],
            [1, nx, nxy] if nx > 1 && nxy.is_multiple_of(nx) && n.is_multiple_of(nxy) && nxy > nx => [nx, nxy / nx, n / nxy],
            _ => return None,
        };
        let strides = [1, dims[0], dims[0] * dims[1]];
        let mut diag = vec![0.0; n];
        let mut off = [vec![0.0; n], vec![0.0; n], vec![0.0; n]];
        for i in 0..n {
            let ijk = [i % dims[0], (i / dims[0]) % dims[1], i / strides[2]];
            let mut seen_diag = false;
            for p in a.row_ptr[i]..a.row_ptr[i + 1] {
                let c = a.col[p] as usize;
                let v = a.val[p];
                if c == i {
                    diag[i] = v;
                    seen_diag = true;
                    continue;
                }
                let axis = (0..3).find(|&ax| (c == i + strides[ax] && ijk[ax] + 1 < dims[ax]) || (c + strides[ax] == i && ijk[ax] >= 1))?;
                if c > i {
                    off[axis][i] = v;
                } else if off[axis][c] != v {
                    return None; // not symmetric (or the upper entry was missing)
                }
            }
            // every neighbour must be present, so that lower entries are checked against
            // the upper ones
            let count = a.row_ptr[i + 1] - a.row_ptr[i];
            let expected = 1 + (0..3).map(|ax| (ijk[ax] >= 1) as usize + (ijk[ax] + 1 < dims[ax]) as usize).sum::<usize>();
            if !seen_diag && count == expected - 1 {
                continue; // a zero diagonal left out
            }
            if count != expected {
                return None;
            }
        }
        Some(StencilMatrix { dims, diag, off })
    }

    pub fn nrows(&self) -> usize {
        self.diag.len()
    }

    /// Strides of the three axes in the flat (x-fastest) index.
    pub fn strides(&self) -> [usize; 3] {
        [1, self.dims[0], self.dims[0] * self.dims[1]]
    }

    /// Whether cell i has a neighbour below / above along `axis`.
    fn has_lower(&self, i: usize, axis: usize) -> bool {
        (i / self.strides()[axis]) % self.dims[axis] >= 1
    }
    fn has_upper(&self, i: usize, axis: usize) -> bool {
        (i / self.strides()[axis]) % self.dims[axis] + 1 < self.dims[axis]
    }

    /// Row i as (column, value) in ascending column order (−z, −y, −x, diagonal, +x, +y,
    /// +z), every grid neighbour present (a zero coupling included), as CSR stores it.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let s = self.strides();
        let lower = (0..3).rev().filter(move |&ax| self.has_lower(i, ax)).map(move |ax| (i - s[ax], self.off[ax][i - s[ax]]));
        let upper = (0..3).filter(move |&ax| self.has_upper(i, ax)).map(move |ax| (i + s[ax], self.off[ax][i]));
        lower.chain(std::iter::once((i, self.diag[i]))).chain(upper)
    }

    /// Entries of the CSR form (every grid neighbour and the diagonal).
    pub fn nnz(&self) -> usize {
        let d = self.dims;
        let n = self.nrows();
        n + 2 * (0..3).map(|ax| if d[ax] > 1 { n / d[ax] * (d[ax] - 1) } else { 0 }).sum::<usize>()
    }

    /// `f` of every row's seven entries in [`StencilMatrix::row`]'s order (−z, −y, −x,
    /// diagonal, +x, +y, +z; 0 where the grid has no neighbour), one grid line per task: a
    /// pass over the rows without `row`'s index arithmetic per entry (at 2 M rows
    /// `row_sums` through `row` took 44 ms on 2 cores).
    pub fn map_rows<F: Fn(&[f64; 7]) -> f64 + Sync>(&self, f: F) -> Vec<f64> {
        use rayon::prelude::*;
        let nx = self.dims[0];
        let mut out = vec![0.0; self.nrows()];
        out.par_chunks_mut(nx.max(1)).with_min_len(16).enumerate().for_each(|(line, o)| {
            let mut rows = o.iter_mut();
            self.line_rows(line, |e| {
                if let Some(v) = rows.next() {
                    *v = f(e);
                }
            });
        });
        out
    }

    /// The entries of each row of grid line `line` (x fastest), in order, as
    /// [`StencilMatrix::map_rows`] gives them to its function.
    fn line_rows(&self, line: usize, mut f: impl FnMut(&[f64; 7])) {
        let [nx, ny, nz] = self.dims;
        let (sy, sz) = (nx, nx * ny);
        let (j, k) = (line % ny.max(1), line / ny.max(1));
        for i in 0..nx {
            let c = line * nx + i;
            let e = [
                if k > 0 { self.off[2][c - sz] } else { 0.0 },
                if j > 0 { self.off[1][c - sy] } else { 0.0 },
                if i > 0 { self.off[0][c - 1] } else { 0.0 },
                self.diag[c],
                if i + 1 < nx { self.off[0][c] } else { 0.0 },
                if j + 1 < ny { self.off[1][c] } else { 0.0 },
                if k + 1 < nz { self.off[2][c] } else { 0.0 },
            ];
            f(&e);
        }
    }

    /// Σ_j a_ij per row, in the row's column order (an absent neighbour adds an exact 0:
    /// the same sums as CSR's).
    pub fn row_sums(&self) -> Vec<f64> {
        self.map_rows(|e| e.iter().fold(-0.0, |s, v| s + v))
    }

    /// max_i Σ_j |a_ij|.
    pub fn norm_inf(&self) -> f64 {
        use rayon::prelude::*;
        // (a line at a time, no vector of row sums: fresh memory's page faults were most of
        // this on the H200 machine's host)
        let lines = self.nrows() / self.dims[0].max(1);
        (0..lines)
            .into_par_iter()
            .with_min_len(16)
            .map(|line| {
                let mut m = 0.0f64;
                self.line_rows(line, |e| m = m.max(e.iter().map(|v| v.abs()).sum::<f64>()));
                m
            })
            .reduce(|| 0.0, f64::max)
    }

    /// The CSR form, its stencil layout recorded.
    pub fn to_csr(&self) -> CsrMatrix {
        let n = self.nrows();
        let mut row_ptr = Vec::with_capacity(n + 1);
        let mut col = Vec::with_capacity(self.nnz());
        let mut val = Vec::with_capacity(self.nnz());
        row_ptr.push(0);
        for i in 0..n {
            for (c, v) in self.row(i) {
                col.push(c as u32);
                val.push(v);
            }
            row_ptr.push(col.len());
        }
        CsrMatrix { nrows: n, ncols: n, row_ptr, col, val, stencil: Some(StencilLayout { dims: self.dims }) }
    }

    /// Serial reference product y = A x, summed in the column order CSR uses.
    pub fn mul_vec(&self, x: &[f64]) -> Vec<f64> {
        let d = self.dims;
        let s = [1, d[0], d[0] * d[1]];
        (0..self.nrows())
            .map(|i| {
                let ijk = [i % d[0], (i / d[0]) % d[1], i / s[2]];
                let mut acc = 0.0;
                for ax in (0..3).rev() {
                    if ijk[ax] >= 1 {
                        acc += self.off[ax][i - s[ax]] * x[i - s[ax]];
                    }
                }
                acc += self.diag[i] * x[i];
                for ax in 0..3 {
                    if ijk[ax] + 1 < d[ax] {
                        acc += self.off[ax][i] * x[i + s[ax]];
                    }
                }
                acc
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Grid;
    use crate::physics::hamiltonian::assemble_hamiltonian;

    fn ham(n: &[usize], periodic: [bool; 3]) -> CsrMatrix {
        let mut g = Grid::uniform(n, &vec![0.5; n.len()]);
        g.periodic = periodic;
        let kin: Vec<f64> = (0..g.len()).map(|i| 0.02 + 0.01 * (i % 3) as f64).collect();
        let pot: Vec<f64> = (0..g.len()).map(|i| 0.1 * (i % 5) as f64).collect();
        assemble_hamiltonian(&g, &kin, &pot)
    }

    #[test]
    fn detects_grid_operators_in_1d_2d_3d_and_multiplies_like_csr() {
        for dims in [vec![17], vec![5, 7], vec![4, 3, 5]] {
            let a = ham(&dims, [false; 3]);
            let s = StencilMatrix::detect(&a).unwrap_or_else(|| panic!("{dims:?} not detected"));
            let x: Vec<f64> = (0..a.nrows).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
            let (ys, yc) = (s.mul_vec(&x), a.mul_vec(&x));
            for (p, q) in ys.iter().zip(&yc) {
                assert!((p - q).abs() <= 1e-14 * q.abs().max(1.0), "{dims:?}: {p} vs {q}");
            }
        }
    }

    #[test]
    fn row_sums_and_norm_are_the_csr_ones_bit_for_bit() {
        for dims in [vec![17], vec![5, 7], vec![4, 3, 5], vec![1, 6, 2]] {
            let a = ham(&dims, [false; 3]);
            let s = StencilMatrix::of(&a).unwrap();
            let csr: Vec<f64> = (0..a.nrows).map(|r| a.val[a.row_ptr[r]..a.row_ptr[r + 1]].iter().sum()).collect();
            let sums = s.row_sums();
            assert!(csr.iter().zip(&sums).all(|(p, q)| p.to_bits() == q.to_bits()), "{dims:?}: {csr:?} vs {sums:?}");
            assert_eq!(s.norm_inf().to_bits(), a.norm_inf().to_bits(), "{dims:?}");
            // and the rows as `row` lists them
            let by_row: Vec<f64> = (0..s.nrows()).map(|i| s.row(i).map(|e| e.1).sum()).collect();
            assert!(by_row.iter().zip(&sums).all(|(p, q)| p.to_bits() == q.to_bits()), "{dims:?}");
        }
    }

    #[test]
    fn to_csr_is_the_assembled_matrix() {
        for dims in [vec![17], vec![5, 7], vec![4, 3, 5]] {
            let a = ham(&dims, [false; 3]);
            let s = StencilMatrix::of(&a).unwrap();
            let c = s.to_csr();
            assert_eq!((&c.row_ptr, &c.col, &c.val), (&a.row_ptr, &a.col, &a.val), "{dims:?}");
            assert_eq!(s.nnz(), a.nnz());
            let sums: Vec<f64> = (0..a.nrows).map(|r| a.val[a.row_ptr[r]..a.row_ptr[r + 1]].iter().sum()).collect();
            assert_eq!(s.row_sums(), sums);
            assert_eq!(s.norm_inf(), a.norm_inf());
            assert_eq!(StencilMatrix::of(&c), Some(s));
        }
    }

    #[test]
    fn periodic_and_general_matrices_stay_csr() {
        assert!(StencilMatrix::detect(&ham(&[4, 3, 5], [true, false, false])).is_none());
        // a symmetric matrix with a long-range entry
        let t = vec![(0, 0, 2.0), (1, 1, 2.0), (2, 2, 2.0), (0, 1, -1.0), (1, 0, -1.0), (0, 2, 0.5), (2, 0, 0.5)];
        assert!(StencilMatrix::detect(&CsrMatrix::from_triplets(3, 3, &t)).is_none());
        // not symmetric
        let t = vec![(0, 0, 2.0), (1, 1, 2.0), (0, 1, -1.0), (1, 0, -0.5)];
        assert!(StencilMatrix::detect(&CsrMatrix::from_triplets(2, 2, &t)).is_none());
    }
}
