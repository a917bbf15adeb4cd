//! Physics on the grid: per-cell material properties, analytic potentials, and the
//! assembly of the BenDaniel–Duke Hamiltonian.
//!
//! Energies in eV, lengths in nm, masses in m0.

pub mod hamiltonian;
pub mod potentials;

pub use hamiltonian::assemble_hamiltonian;
