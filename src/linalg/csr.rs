//! Compressed sparse row matrices on the host.
//!
//! Column indices are `u32` (half the index traffic of `usize` in spmv); grids up to
//! 4·10⁹ unknowns fit. Conversion to `sprs` serves Matrix Market export and tests.
//!
//! A matrix assembled on a grid may carry its [`StencilLayout`] (set by the assembly, which
//! knows the grid): backends that hold grid operators in the stencil layout read it from
//! there instead of recovering it from the entries.

use std::io::Write;

use super::stencil::StencilLayout;
use crate::error::{QdError, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct CsrMatrix {
    pub nrows: usize,
    pub ncols: usize,
    pub row_ptr: Vec<usize>,
    pub col: Vec<u32>,
    pub val: Vec<f64>,
    /// The grid stencil the entries form, where the assembly says so (None: unknown; a
    /// backend may still detect one, [`super::stencil::StencilMatrix::detect`]). Whoever
    /// changes the sparsity pattern or makes the matrix asymmetric must clear it.
    pub stencil: Option<StencilLayout>,
}

impl CsrMatrix {
    /// Build from (row, col, value) triplets; duplicates are summed, rows sorted by column.
    pub fn from_triplets(nrows: usize, ncols: usize, triplets: &[(usize, usize, f64)]) -> CsrMatrix {
        let mut counts = vec![0usize; nrows + 1];
        for &(r, _, _) in triplets {
            counts[r + 1] += 1;
        }
        for i in 0..nrows {
            counts[i + 1] += counts[i];
        }
        let mut fill = counts.clone();
        let mut col = vec![0u32; triplets.len()];
        let mut val = vec![0.0; triplets.len()];
        for &(r, c, v) in triplets {
            let p = fill[r];
            col[p] = c as u32;
            val[p] = v;
            fill[r] += 1;
        }
        // sort each row and merge duplicates
        let mut row_ptr = vec![0usize; nrows + 1];
        let mut out_col = Vec::with_capacity(col.len());
        let mut out_val = Vec::with_capacity(val.len());
        let mut scratch: Vec<(u32, f64)> = Vec::new();
        for r in 0..nrows {
            scratch.clear();
            scratch.extend((counts[r]..counts[r + 1]).map(|p| (col[p], val[p])));
            scratch.sort_by_key(|e| e.0);
            for &(c, v) in &scratch {
                if out_col.len() > row_ptr[r] && *out_col.last().unwrap() == c {
                    *out_val.last_mut().unwrap() += v;
                } else {
                    out_col.push(c);
                    out_val.push(v);
                }
            }
            row_ptr[r + 1] = out_col.len();
        }
        CsrMatrix { nrows, ncols, row_ptr, col: out_col, val: out_val, stencil: None }
    }

    /// Assemble row by row in parallel, straight into the CSR arrays: `row(r, entries)`
    /// pushes row r's (column, value) entries (at most `max_per_row`) into `entries`, which
    /// is then sorted by column (stably: duplicates kept in the order pushed) and written
    /// out. No list per row is kept: the arrays are `nrows · max_per_row` long while rows
    /// are written (rows shorter than the maximum, at outer faces, leave gaps), then packed
    /// in place and shrunk. A list per row (a `Vec` of 7 pairs: ~150 bytes with its header
    /// and the allocator's) held beside the CSR (~92 bytes per row) was the assembly's
    /// transient; it also stayed resident in the rayon threads' malloc arenas after being
    /// freed, under the solve's own peak.
    pub fn from_rows(nrows: usize, ncols: usize, max_per_row: usize, row: impl Fn(usize, &mut Vec<(u32, f64)>) + Sync) -> CsrMatrix {
        Self::from_rows_with(nrows, ncols, max_per_row, row).0
    }

    /// [`CsrMatrix::from_rows`] where each row also yields a value (a right-hand side
    /// entry, a flag), returned in row order.
    pub fn from_rows_with<T: Send + Default + Clone>(nrows: usize, ncols: usize, max_per_row: usize, row: impl Fn(usize, &mut Vec<(u32, f64)>) -> T + Sync) -> (CsrMatrix, Vec<T>) {
        use rayon::prelude::*;
        let m = max_per_row.max(1);
        let mut col = vec![0u32; nrows * m];
        let mut val = vec![0.0f64; nrows * m];
        let mut row_ptr = vec![0usize; nrows + 1];
        let mut extra = vec![T::default(); nrows];
        col.par_chunks_mut(m).zip(val.par_chunks_mut(m)).zip(row_ptr[1..].par_iter_mut().zip(extra.par_iter_mut())).enumerate().with_min_len(1024).for_each_init(
            || Vec::with_capacity(m),
            |entries, (r, ((c, v), (len, out)))| {
                entries.clear();
                *out = row(r, entries);
                assert!(entries.len() <= m, "row {r} has {} entries, more than the {m} announced", entries.len());
                entries.sort_by_key(|e| e.0);
                for (k, &(j, x)) in entries.iter().enumerate() {
                    c[k] = j;
                    v[k] = x;
                }
                *len = entries.len();
            },
        );
        // lengths → offsets, packing each row down to its offset (never above its slot)
        for r in 0..nrows {
            let len = row_ptr[r + 1];
            let start = row_ptr[r];
            if start != r * m {
                col.copy_within(r * m..r * m + len, start);
                val.copy_within(r * m..r * m + len, start);
            }
            row_ptr[r + 1] = start + len;
        }
        let nnz = row_ptr[nrows];
        col.truncate(nnz);
        val.truncate(nnz);
        col.shrink_to_fit();
        val.shrink_to_fit();
        (CsrMatrix { nrows, ncols, row_ptr, col, val, stencil: None }, extra)
    }

    pub fn nnz(&self) -> usize {
        self.val.len()
    }

    /// Serial reference product y = A x.
    pub fn mul_vec(&self, x: &[f64]) -> Vec<f64> {
        (0..self.nrows)
            .map(|r| (self.row_ptr[r]..self.row_ptr[r + 1]).map(|p| self.val[p] * x[self.col[p] as usize]).sum())
            .collect()
    }

    pub fn diagonal(&self) -> Vec<f64> {
        use rayon::prelude::*;
        // row-parallel (the 128³ elasticity operator has 6.4 M rows of 81 entries)
        (0..self.nrows)
            .into_par_iter()
            .with_min_len(4096)
            .map(|r| {
                (self.row_ptr[r]..self.row_ptr[r + 1])
                    .find(|&p| self.col[p] as usize == r)
                    .map(|p| self.val[p])
                    .unwrap_or(0.0)
            })
            .collect()
    }

    /// Largest absolute row sum: an upper bound on the 2-norm of a symmetric matrix.
    pub fn norm_inf(&self) -> f64 {
        use rayon::prelude::*;
        // (in parallel: a solve takes it several times, ~18 ms each at 2 M rows on one thread)
        (0..self.nrows)
            .into_par_iter()
            .with_min_len(4096)
            .map(|r| self.val[self.row_ptr[r]..self.row_ptr[r + 1]].iter().map(|v| v.abs()).sum::<f64>())
            .reduce(|| 0.0, f64::max)
    }

    /// Largest |A_ij − A_ji| (0 for a symmetric matrix).
    pub fn asymmetry(&self) -> f64 {
        let s = self.to_sprs();
        let t = s.transpose_view().to_csr();
        let d = &s - &t;
        d.data().iter().fold(0.0f64, |m, v| m.max(v.abs()))
    }

    pub fn to_sprs(&self) -> sprs::CsMat<f64> {
        sprs::CsMat::new(
            (self.nrows, self.ncols),
            self.row_ptr.clone(),
            self.col.iter().map(|&c| c as usize).collect(),
            self.val.clone(),
        )
    }

    pub fn to_dense(&self) -> nalgebra::DMatrix<f64> {
        let mut m = nalgebra::DMatrix::zeros(self.nrows, self.ncols);
        for r in 0..self.nrows {
            for p in self.row_ptr[r]..self.row_ptr[r + 1] {
                m[(r, self.col[p] as usize)] += self.val[p];
            }
        }
        m
    }

    /// Write in Matrix Market coordinate format (symmetric storage: lower triangle), with
    /// a comment header describing units and origin.
    pub fn write_matrix_market(&self, path: &std::path::Path, comment: &str) -> Result<()> {
        let io = |e| QdError::io(format!("writing {}", path.display()), e);
        let f = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::new(f);
        let symmetric = self.nrows == self.ncols && self.asymmetry() == 0.0;
        let kind = if symmetric { "symmetric" } else { "general" };
        writeln!(w, "%%MatrixMarket matrix coordinate real {kind}").map_err(io)?;
        for line in comment.lines() {
            writeln!(w, "% {line}").map_err(io)?;
        }
        let count = (0..self.nrows)
            .map(|r| {
                (self.row_ptr[r]..self.row_ptr[r + 1])
                    .filter(|&p| !symmetric || (self.col[p] as usize) <= r)
                    .count()
            })
            .sum::<usize>();
        writeln!(w, "{} {} {}", self.nrows, self.ncols, count).map_err(io)?;
        for r in 0..self.nrows {
            for p in self.row_ptr[r]..self.row_ptr[r + 1] {
                let c = self.col[p] as usize;
                if !symmetric || c <= r {
                    writeln!(w, "{} {} {:.17e}", r + 1, c + 1, self.val[p]).map_err(io)?;
                }
            }
        }
        w.flush().map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn triplets_sum_and_sort() {
        let m = CsrMatrix::from_triplets(2, 2, &[(0, 1, 1.0), (0, 0, 2.0), (0, 1, 0.5), (1, 0, 1.5)]);
        assert_eq!(m.row_ptr, vec![0, 2, 3]);
        assert_eq!(m.col, vec![0, 1, 0]);
        assert_eq!(m.val, vec![2.0, 1.5, 1.5]);
        assert_eq!(m.mul_vec(&[1.0, 2.0]), vec![5.0, 1.5]);
        assert_eq!(m.asymmetry(), 0.0);
    }

    #[test]
    fn rows_written_in_place_are_the_rows_pushed() {
        // rows of 0..=4 entries out of order, with a duplicate column kept in push order,
        // over enough rows that rayon splits them
        let n = 5000;
        let push = |r: usize, e: &mut Vec<(u32, f64)>| {
            for k in 0..r % 5 {
                e.push((((r * 7 + 3 * k) % n) as u32, (r * 10 + k) as f64));
            }
            if r % 11 == 0 {
                e.push((0, -1.0));
                e.push((0, -2.0));
            }
        };
        let m = CsrMatrix::from_rows(n, n, 6, push);
        let mut row_ptr = vec![0];
        let (mut col, mut val) = (Vec::new(), Vec::new());
        for r in 0..n {
            let mut e = Vec::new();
            push(r, &mut e);
            e.sort_by_key(|x| x.0);
            col.extend(e.iter().map(|x| x.0));
            val.extend(e.iter().map(|x| x.1));
            row_ptr.push(col.len());
        }
        assert_eq!((m.row_ptr, m.col, m.val), (row_ptr, col, val));
        assert_eq!(CsrMatrix::from_rows(0, 0, 7, |_, _| {}).row_ptr, vec![0]);
    }
}
