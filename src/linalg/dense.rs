//! Small problems solved densely with nalgebra (and the reference for tests).

use super::CsrMatrix;

/// Lowest `k` eigenpairs of a small symmetric matrix: (values ascending, unit vectors).
pub fn lowest_eigenpairs(a: &CsrMatrix, k: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let m = a.to_dense();
    let m = (&m + m.transpose()) * 0.5;
    let eig = nalgebra::SymmetricEigen::new(m);
    let mut order: Vec<usize> = (0..a.nrows).collect();
    order.sort_by(|&x, &y| eig.eigenvalues[x].total_cmp(&eig.eigenvalues[y]));
    let k = k.min(a.nrows);
    let values = order[..k].iter().map(|&i| eig.eigenvalues[i]).collect();
    let vectors = order[..k].iter().map(|&i| eig.eigenvectors.column(i).iter().copied().collect()).collect();
    (values, vectors)
}
