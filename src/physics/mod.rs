//! Physics on the grid: per-cell material properties, analytic potentials, the
//! assembly of the BenDaniel–Duke Hamiltonian and of Poisson's equation, and semiconductor
//! statistics (`fermi_dirac`, `carriers`, `quantum_charge`).
//!
//! Energies in eV, lengths in nm, masses in m0.

pub mod carriers;
pub mod device;
pub mod fermi_dirac;
pub mod hamiltonian;
pub mod poisson;
pub mod potentials;
pub mod quantum_charge;
pub mod strain;

pub use hamiltonian::assemble_hamiltonian;
