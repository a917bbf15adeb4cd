//! qdsim-gpu: effective-mass simulator of semiconductor quantum dots, wells and wires.
//!
//! Layers, from the input to the output (each a module named for what it holds):
//! - [`scene`]: the JSON scene format (schema, parsing with JSON paths, validation).
//! - [`materials`]: the built-in III-V database, alloys, temperature-dependent band edges.
//! - [`grid`]: the rectilinear grid and the shapes that paint materials onto it.
//! - [`physics`]: operator assembly (BenDaniel–Duke Hamiltonian) and analytic potentials.
//! - [`linalg`]: sparse matrices, the [`linalg::backend::Backend`] trait and the algorithms
//!   written once over it (Lanczos, CG).
//! - [`backend`]: implementations of the backend trait (CPU on rayon).
//! - [`parallel`]: MPI domain decomposition: the distributed backend, partitions, halos.
//! - [`output`]: results.json, .npy, VTK and PNG writers, the atomic output folder.
//! - [`pipeline`]: one scene from its file to its output folder (prepare → assemble →
//!   solve → report) for every mode, and sweeps of such runs.
//! - [`bench`]: benchmarks and their problems.
//! - [`cli`]: the command-line front end, the only reader of environment variables.
//!
//! Units: scenes use nm, eV, K and cm^-3. Internally lengths are nm and energies eV;
//! [`constants`] holds every physical constant, in SI and in these internal units.

pub mod backend;
pub mod bench;
pub mod cli;
pub mod constants;
pub mod error;
pub mod grid;
pub mod linalg;
pub mod materials;
pub mod output;
pub mod parallel;
pub mod physics;
pub mod pipeline;
pub mod scene;

pub use error::QdError;
