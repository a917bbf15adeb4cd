//! Physics on the grid: per-cell material properties, analytic potentials, the
//! assembly of the BenDaniel–Duke Hamiltonian and of Poisson's equation, and semiconductor
//! statistics (`carriers`).
//!
//! Energies in eV, lengths in nm, masses in m0.

pub mod carriers;
pub mod device;
pub mod hamiltonian;
pub mod poisson;
pub mod potentials;

pub use hamiltonian::assemble_hamiltonian;
