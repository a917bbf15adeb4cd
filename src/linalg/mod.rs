//! Linear algebra: sparse matrices, the backend trait, and the algorithms written once
//! over it (Lanczos eigensolver, conjugate gradients). Nothing here knows which backend
//! it runs on.

pub mod backend;
pub mod cg;
pub mod csr;
pub mod dense;
pub mod lanczos;
pub mod lobpcg;
pub mod mixing;
pub mod multigrid;
pub mod stencil;

pub use backend::Backend;
pub use csr::CsrMatrix;
