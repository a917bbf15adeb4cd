//! Small problems solved densely with nalgebra (and the reference for tests).

use nalgebra::{DMatrix, Dyn, SymmetricEigen};

use super::CsrMatrix;

/// The eigen-decomposition of a small symmetric matrix, or None when it has a non-finite
/// entry or the QR iterations do not settle within 100·n + 100 sweeps. nalgebra's
/// `SymmetricEigen::new` iterates without limit, which never ends on NaN input: every
/// dense eigen-solve of this crate goes through here.
pub fn symmetric_eigen(m: DMatrix<f64>) -> Option<SymmetricEigen<f64, Dyn>> {
    if m.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let n = m.nrows();
    let eig = SymmetricEigen::try_new(m, f64::EPSILON, 100 * n + 100)?;
    if eig.eigenvalues.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Some(eig)
}

/// Lowest `k` eigenpairs of a small symmetric matrix: (values ascending, unit vectors).
/// A matrix with a non-finite entry (or one the iterations cannot resolve) gives NaN
/// values and zero vectors, which callers report as not converged.
pub fn lowest_eigenpairs(a: &CsrMatrix, k: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let m = a.to_dense();
    let m = (&m + m.transpose()) * 0.5;
    let k = k.min(a.nrows);
    let Some(eig) = symmetric_eigen(m) else {
        return (vec![f64::NAN; k], vec![vec![0.0; a.nrows]; k]);
    };
    let mut order: Vec<usize> = (0..a.nrows).collect();
    order.sort_by(|&x, &y| eig.eigenvalues[x].total_cmp(&eig.eigenvalues[y]));
    let values = order[..k].iter().map(|&i| eig.eigenvalues[i]).collect();
    let vectors = order[..k].iter().map(|&i| eig.eigenvectors.column(i).iter().copied().collect()).collect();
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_matrices_give_nan_not_a_hang() {
        let a = CsrMatrix::from_triplets(3, 3, &[(0, 0, 1.0), (1, 1, f64::NAN), (2, 2, 3.0), (0, 1, 0.5), (1, 0, 0.5)]);
        let (v, x) = lowest_eigenpairs(&a, 2);
        assert!(v.iter().all(|e| e.is_nan()), "{v:?}");
        assert_eq!(x.len(), 2);
        let b = CsrMatrix::from_triplets(2, 2, &[(0, 0, f64::INFINITY), (1, 1, 1.0)]);
        assert!(lowest_eigenpairs(&b, 1).0[0].is_nan());
        let c = CsrMatrix::from_triplets(2, 2, &[(0, 0, 2.0), (1, 1, 1.0)]);
        assert_eq!(lowest_eigenpairs(&c, 2).0, vec![1.0, 2.0]);
    }
}
