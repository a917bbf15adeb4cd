//! The scene format (version 1): what a user writes in `scene.json`.
//!
//! Units at this boundary: lengths in nm, energies in eV, temperature in K,
//! spring constants in eV/nm², doping in cm^-3. The full reference, field by field, is
//! docs/scene-format.md. Unknown fields are rejected everywhere.
//!
//! Coordinates: the domain is centred on the origin, so axis `a` spans
//! [-size[a]/2, +size[a]/2]. 1D and 2D domains are the line y = z = 0 and the plane z = 0
//! of the same 3D space: shapes are evaluated there, so a sphere in 2D is a disk.
//!
//! Where things are: here the schema ([`Scene`], [`Domain`], [`Shape`], ...); `load`
//! parsing and [`load_scene`]; `domain` how a domain is cut into cells ([`Domain::cells`]); `shapes`
//! the shapes' geometry (contains, bounding boxes); `path` JSON paths and `--set`
//! assignments; `validate` the structural checks. The scene imports no grid: `grid` is
//! built from it.

pub mod domain;
mod load;
pub mod path;
pub mod qdsim_import;
pub mod shapes;
pub mod validate;

pub use domain::DomainCells;
pub use load::{check_input_files, load_scene, parse_scene, LoadedScene};
/// The bounded reads of user files live in `output::files` (the io layer, below materials,
/// which reads materials files with them); re-exported here, where they were.
pub use crate::output::files;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::error::QdError;
use crate::materials::Carrier;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Optional title used in plots and results.json.
    #[serde(default)]
    pub name: Option<String>,
    /// Optional free-text description.
    #[serde(default)]
    pub description: Option<String>,
    pub domain: Domain,
    /// Lattice temperature, K.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Extra or overriding materials, a JSON file in the materials database format,
    /// relative to the scene file.
    #[serde(default)]
    pub materials_file: Option<PathBuf>,
    /// The material everywhere no region covers.
    pub background: Fill,
    /// Regions in order; a later region wins where regions overlap.
    #[serde(default)]
    pub regions: Vec<Region>,
    /// Analytic or tabulated potentials added to the band edge (eV).
    #[serde(default)]
    pub potentials: Vec<Potential>,
    /// Electrical contacts on the domain's outer faces (Poisson modes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
    /// Metal gates: regions held at a fixed electrostatic potential (Poisson modes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Gate>,
    #[serde(default)]
    pub solve: Solve,
    #[serde(default)]
    pub output: OutputOptions,
    /// A parameter sweep over this scene (read by the sweep command; `solve` ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Sweep>,
    /// Continuum strain from the lattice mismatch and its shift of the band edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strain: Option<StrainOptions>,
}

/// The `strain` block: continuum elasticity with the lattice mismatch as eigenstrain
/// (see `physics::strain` and docs/scene-format.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrainOptions {
    /// Whether the strain is computed (default true when the block is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The lattice the eigenstrain is measured against: "background" (default),
    /// "substrate" (the fill at the centre of the domain's lowest face along the growth
    /// axis) or a material name (with `reference_x` for an alloy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Alloy fraction of a reference given by material name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_x: Option<f64>,
    /// Per axis: "free", "clamped" or "periodic" for both faces, or [lower, upper].
    #[serde(default)]
    pub boundary: StrainBoundary,
    /// The growth (quantisation) axis of the hole band shifts: default the domain's last
    /// axis (x in 1D, y in 2D, z in 3D).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_axis: Option<Axis>,
    /// PCG tolerance, relative residual.
    #[serde(default = "default_strain_tolerance")]
    pub tolerance: f64,
    /// Cap on PCG iterations.
    #[serde(default = "default_strain_iterations")]
    pub max_iterations: usize,
    /// First-order piezoelectric polarization of the strain, its bound charge and potential
    /// added to the carrier's potential (default false: see docs/scene-format.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub piezoelectric: bool,
    /// The piezoelectric potential's condition on the non-periodic outer faces:
    /// "dirichlet" (φ = 0, the default) or "neumann" (zero normal displacement field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub piezo_boundary: Option<String>,
}

fn default_strain_tolerance() -> f64 {
    1e-8
}
fn default_strain_iterations() -> usize {
    500
}

/// Boundary conditions of the elasticity problem per axis (`strain.boundary`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrainBoundary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<StrainFaces>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<StrainFaces>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<StrainFaces>,
}

impl StrainBoundary {
    pub fn axis(&self, a: usize) -> Option<&StrainFaces> {
        [&self.x, &self.y, &self.z][a].as_ref()
    }
}

/// One condition for both faces of an axis, or [lower face, upper face].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StrainFaces {
    Both(String),
    Each(Vec<String>),
}

impl Scene {
    /// The doping of every fill in the order of the material fills: the background first,
    /// then each region (fill i + 1 is region i). A fill without `doping` is undoped.
    pub fn fill_dopings(&self) -> Vec<Doping> {
        std::iter::once(self.background.doping.clone().unwrap_or_default())
            .chain(self.regions.iter().map(|r| r.doping.clone().unwrap_or_default()))
            .collect()
    }
}

fn default_temperature() -> f64 {
    300.0
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// Extent per axis, nm; its length (1, 2 or 3) sets the dimension.
    pub size: Vec<f64>,
    /// Grid spacing, nm: one number for every axis or one per axis. The cell count per
    /// axis is round(size / spacing) and the spacing used is size / count.
    pub spacing: Spacing,
    /// Periodic boundary per axis (default: all false, i.e. ψ = 0 on the outer boundary).
    #[serde(default)]
    pub periodic: Option<Vec<bool>>,
    /// Explicit node (cell-boundary) coordinates of some axes, nm, increasing from −size/2
    /// to +size/2: a graded grid on those axes (see [`Domain::cells`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<AxisNodes>,
    /// Refinement zones inside the coarse `spacing`: a graded grid on the axes they name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refine: Option<Vec<Refinement>>,
}

/// Node lists per axis (`domain.nodes`), nm; an axis left out follows `spacing` / `refine`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisNodes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<Vec<f64>>,
}

impl AxisNodes {
    /// The list of axis `a` (0 = x), if given.
    pub fn axis(&self, a: usize) -> Option<&Vec<f64>> {
        [&self.x, &self.y, &self.z].get(a).and_then(|v| v.as_ref())
    }
}

/// One refinement zone (`domain.refine[i]`): cells of at most `spacing` nm between
/// `from` and `to` (nm, domain coordinates) along `axis` (default: every axis), graded
/// into the coarse spacing outside.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refinement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axis: Option<Axis>,
    pub from: f64,
    pub to: f64,
    pub spacing: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Spacing {
    Uniform(f64),
    PerAxis(Vec<f64>),
}

/// A material fill: a binary or an alloy with its fraction `x`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fill {
    pub material: String,
    #[serde(default)]
    pub x: Option<f64>,
    /// Donors and acceptors, cm^-3 (default: undoped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doping: Option<Doping>,
}

/// Doping of a fill: donor and acceptor densities in cm^-3 and, for incomplete ionisation,
/// the ionisation energies in eV (donor level `donor_energy` below Ec, acceptor level
/// `acceptor_energy` above Ev, degeneracy factors 2 and 4). An energy left out means full
/// ionisation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doping {
    /// Donor density N_D, cm^-3.
    #[serde(default)]
    pub donors: f64,
    /// Acceptor density N_A, cm^-3.
    #[serde(default)]
    pub acceptors: f64,
    /// Donor ionisation energy E_c − E_D, eV (None: fully ionised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub donor_energy: Option<f64>,
    /// Acceptor ionisation energy E_A − E_v, eV (None: fully ionised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptor_energy: Option<f64>,
}

impl Doping {
    pub fn is_zero(&self) -> bool {
        self.donors == 0.0 && self.acceptors == 0.0
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    #[serde(default)]
    pub name: Option<String>,
    pub shape: Shape,
    pub material: String,
    /// Alloy fraction for ternary materials, in [0, 1].
    #[serde(default)]
    pub x: Option<f64>,
    /// Doping inside the region, cm^-3; it replaces the doping below it, as the material
    /// does (default: undoped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doping: Option<Doping>,
}

impl Region {
    pub fn fill(&self) -> Fill {
        Fill { material: self.material.clone(), x: self.x, doping: self.doping.clone() }
    }
}

/// An outer face of the domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Face {
    XMin,
    XMax,
    YMin,
    YMax,
    ZMin,
    ZMax,
}

impl Face {
    pub const ALL: [Face; 6] = [Face::XMin, Face::XMax, Face::YMin, Face::YMax, Face::ZMin, Face::ZMax];
    /// The axis normal to the face (0, 1, 2).
    pub fn axis(self) -> usize {
        self as usize / 2
    }
    /// True for the upper face (`x_max`, ...).
    pub fn is_max(self) -> bool {
        self as usize % 2 == 1
    }
    /// The name as written in JSON (`x_min`, ...).
    pub fn as_str(self) -> &'static str {
        ["x_min", "x_max", "y_min", "y_max", "z_min", "z_max"][self as usize]
    }
    /// The axes tangential to the face in a `dim`-dimensional domain, in increasing order:
    /// the axes a contact's `patch` coordinates refer to.
    pub fn tangential_axes(self, dim: usize) -> Vec<usize> {
        (0..dim).filter(|&a| a != self.axis()).collect()
    }
}

/// An axis-aligned box given by its corners, nm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxRange {
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl BoxRange {
    /// Whether `p` (one coordinate per entry of `min`) lies in the closed box.
    pub fn contains(&self, p: &[f64]) -> bool {
        self.min.iter().zip(&self.max).zip(p).all(|((lo, hi), x)| *lo <= *x && *x <= *hi)
    }
}

/// How a contact ties the electrostatic potential to its voltage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// φ = voltage + the built-in potential of the neutral semiconductor at the contact.
    Ohmic,
    /// The conduction-band edge sits `barrier` eV above the contact's Fermi level:
    /// φ = Ec0 + voltage − barrier.
    Schottky,
}

/// A contact on an outer face of the domain (a Dirichlet boundary for Poisson).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub face: Face,
    #[serde(rename = "type")]
    pub kind: ContactKind,
    /// Applied voltage, V (default 0: grounded).
    #[serde(default)]
    pub voltage: f64,
    /// Schottky barrier height, eV (Schottky contacts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barrier: Option<f64>,
    /// The part of the face covered, in the face's tangential coordinates (nm; see
    /// [`Face::tangential_axes`]); default: the whole face.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<BoxRange>,
}

impl Contact {
    /// Whether the contact covers the point `p` (nm, 3D) of its face: always without a
    /// patch, else when p's tangential coordinates lie in the patch (closed box).
    pub fn covers(&self, p: [f64; 3], dim: usize) -> bool {
        match &self.patch {
            None => true,
            Some(b) => {
                let t: Vec<f64> = self.face.tangential_axes(dim).iter().map(|&a| p[a]).collect();
                b.contains(&t)
            }
        }
    }
}

/// A metal gate: the cells whose centres lie in `shape` are held at a fixed potential.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub shape: Shape,
    /// Applied voltage, V (default 0).
    #[serde(default)]
    pub voltage: f64,
    /// Barrier height, eV: with it the gate is a Schottky gate (φ = Ec0 + voltage −
    /// barrier); without it φ = voltage + the built-in potential of the neutral
    /// semiconductor there, as at an Ohmic contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barrier: Option<f64>,
}

/// Axis names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    X,
    Y,
    Z,
}

impl Axis {
    pub fn index(self) -> usize {
        match self {
            Axis::X => 0,
            Axis::Y => 1,
            Axis::Z => 2,
        }
    }
}

fn default_axis_z() -> Axis {
    Axis::Z
}

/// Geometric shapes, coordinates in nm. Points given as arrays may have the domain's
/// dimension or 3 entries; missing entries are 0.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Shape {
    /// Slab between two planes normal to `axis`: from <= coordinate <= to.
    Layer { axis: Axis, from: f64, to: f64 },
    /// Axis-aligned box between corners `min` and `max`.
    Box { min: Vec<f64>, max: Vec<f64> },
    Sphere { center: Vec<f64>, radius: f64 },
    /// Circular cylinder along `axis`, centred on `center`, `height` long.
    Cylinder {
        center: Vec<f64>,
        radius: f64,
        height: f64,
        #[serde(default = "default_axis_z")]
        axis: Axis,
    },
    /// Circular cone (or truncated cone) standing on its base: base centre `base`,
    /// growing along +`axis` for `height`, radius shrinking linearly from `base_radius`
    /// to `top_radius` (0 for a sharp tip).
    Cone {
        base: Vec<f64>,
        base_radius: f64,
        #[serde(default)]
        top_radius: f64,
        height: f64,
        #[serde(default = "default_axis_z")]
        axis: Axis,
    },
    /// Square pyramid (or truncated pyramid) with sides along the other two axes: base
    /// centre `base`, base side `base_width`, top side `top_width` (0 for a sharp tip).
    Pyramid {
        base: Vec<f64>,
        base_width: f64,
        #[serde(default)]
        top_width: f64,
        height: f64,
        #[serde(default = "default_axis_z")]
        axis: Axis,
    },
    /// Lens: a spherical cap on a circular base of radius `radius` centred on `base`,
    /// rising `height` along +`axis` (height <= radius).
    Lens {
        base: Vec<f64>,
        radius: f64,
        height: f64,
        #[serde(default = "default_axis_z")]
        axis: Axis,
    },
    /// Axis-aligned ellipsoid with semi-axes `semi_axes` (nm).
    Ellipsoid { center: Vec<f64>, semi_axes: Vec<f64> },
}

/// Potentials added to the band edge, energies in eV (positive raises the carrier's
/// energy).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Potential {
    /// V = ½ k |r − center|² over the chosen axes. Give either `hbar_omega` (eV, with k =
    /// m* ω², m* = `mass` in m0 or, by default, the carrier mass of the background
    /// material) or `spring_constant` k in eV/nm².
    Harmonic {
        #[serde(default)]
        center: Option<Vec<f64>>,
        #[serde(default)]
        hbar_omega: Option<f64>,
        #[serde(default)]
        spring_constant: Option<f64>,
        #[serde(default)]
        mass: Option<f64>,
        /// Which axes the oscillator acts along (default: every axis of the domain).
        #[serde(default)]
        axes: Option<Vec<Axis>>,
    },
    /// V = −depth · exp(−|r − center|² / (2 σ²)); `sigma` in nm, one value or per axis.
    Gaussian {
        #[serde(default)]
        center: Option<Vec<f64>>,
        depth: f64,
        sigma: Spacing,
    },
    /// V = −depth inside `shape`, 0 outside.
    SquareWell { depth: f64, shape: Shape },
    /// A tabulated potential (eV) on exactly this grid, x fastest, from a .npy file
    /// (shape [nx], [nx, ny] or [nx, ny, nz]); path relative to the scene file.
    File {
        path: PathBuf,
        #[serde(default = "one")]
        scale: f64,
    },
}

fn one() -> f64 {
    1.0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A hardware GPU adapter if there is one and the problem fits it, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// The GPU backend (any adapter, software ones included); an error if there is none.
    Gpu,
}

/// The iterative eigensolver of a Schrödinger solve (`solve.eigensolver`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eigensolver {
    /// LOBPCG for a Schrödinger solve, Lanczos for the quantum region of a device solve
    /// ([`Eigensolver::for_device`] says why).
    Auto,
    /// LOBPCG preconditioned by the geometric multigrid of H − σ (`linalg::lobpcg`).
    Lobpcg,
    /// Chebyshev-filtered block Lanczos with thick restarts (`linalg::lanczos`).
    Lanczos,
}

/// The eigensolver a scene gets when it does not name one: the one constant to change.
pub const DEFAULT_EIGENSOLVER: Eigensolver = Eigensolver::Auto;

impl Default for Eigensolver {
    fn default() -> Self {
        DEFAULT_EIGENSOLVER
    }
}

impl Eigensolver {
    /// The name used in scenes, on the command line and in results.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Eigensolver::Auto => "auto",
            Eigensolver::Lobpcg => "lobpcg",
            Eigensolver::Lanczos => "lanczos",
        }
    }
    /// The solver `auto` means for a Schrödinger solve: LOBPCG (mesh-independent outer
    /// iterations, a few read-backs each).
    pub fn for_schrodinger(self) -> Eigensolver {
        match self {
            Eigensolver::Auto => Eigensolver::Lobpcg,
            e => e,
        }
    }
    /// The solver `auto` means for the quantum region of a device (self-consistent) solve:
    /// Lanczos. Its states carry the region's density down to the 1e-17 tails in the
    /// barriers, where the classical density takes over at the region's seams; LOBPCG's
    /// vectors are accurate to the tolerance only (ground state of the 2D dot-in-diode:
    /// tails of −2e-10 at tol 1e-8, −6e-13 at 1e-11, against −1e-17 from Lanczos), which
    /// shows as a step of 3–8 decades in log n at the seam.
    pub fn for_device(self) -> Eigensolver {
        match self {
            Eigensolver::Auto => Eigensolver::Lanczos,
            e => e,
        }
    }
}

/// What a solve computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SolveMode {
    /// The Schrödinger problem in the given potential (no electrostatics).
    #[default]
    Schrodinger,
    /// Classical nonlinear Poisson: carriers from semiconductor statistics.
    Poisson,
    /// Self-consistent Schrödinger–Poisson: quantum electrons in `poisson.quantum_region`.
    #[serde(alias = "self-consistent")]
    SelfConsistent,
}

/// Carrier statistics of the classical densities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Statistics {
    #[default]
    #[serde(alias = "fermi-dirac")]
    FermiDirac,
    Boltzmann,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MixingMethod {
    #[default]
    Anderson,
    Linear,
}

/// Potential mixing of the self-consistent loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mixing {
    #[serde(default)]
    pub method: MixingMethod,
    /// Weight of the new potential, in (0, 1].
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Anderson history length (previous iterates kept).
    #[serde(default = "default_history")]
    pub history: usize,
}

fn default_beta() -> f64 {
    0.3
}
fn default_history() -> usize {
    6
}

impl Default for Mixing {
    fn default() -> Self {
        Mixing { method: MixingMethod::Anderson, beta: default_beta(), history: default_history() }
    }
}

/// Settings of the Poisson and self-consistent modes (`solve.poisson`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoissonOptions {
    #[serde(default)]
    pub statistics: Statistics,
    /// Convergence: the largest change of the electrostatic potential between iterations,
    /// V.
    #[serde(default = "default_poisson_tolerance")]
    pub tolerance: f64,
    /// Cap on Newton (poisson) or self-consistent iterations.
    #[serde(default = "default_poisson_iterations")]
    pub max_iterations: usize,
    #[serde(default)]
    pub mixing: Mixing,
    /// The box (nm, one entry per axis) whose cells get their electron density from the
    /// Schrödinger states (self_consistent mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantum_region: Option<BoxRange>,
    /// Include classical holes in the charge (default true; false leaves them out, for
    /// n-type devices where they are negligible).
    #[serde(default = "default_true")]
    pub holes: bool,
}

fn default_true() -> bool {
    true
}

fn default_poisson_tolerance() -> f64 {
    1e-6
}
fn default_poisson_iterations() -> usize {
    100
}

impl Default for PoissonOptions {
    fn default() -> Self {
        PoissonOptions {
            statistics: Statistics::FermiDirac,
            tolerance: default_poisson_tolerance(),
            max_iterations: default_poisson_iterations(),
            mixing: Mixing::default(),
            quantum_region: None,
            holes: true,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Solve {
    /// What to compute (default: the Schrödinger problem alone).
    #[serde(default, skip_serializing_if = "is_schrodinger")]
    pub mode: SolveMode,
    /// Settings of the poisson and self_consistent modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poisson: Option<PoissonOptions>,
    /// Number of lowest states wanted.
    #[serde(default = "default_states")]
    pub states: usize,
    #[serde(default = "default_carrier")]
    pub carrier: Carrier,
    /// Eigenpair tolerance: converged when ‖Hx − λx‖ ≤ tolerance · ‖H‖.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Cap on Hamiltonian applications (matrix-vector products) in the eigensolver.
    #[serde(default = "default_max_iterations")]
    pub max_iterations: usize,
    #[serde(default)]
    pub backend: BackendChoice,
    /// The iterative eigensolver (default [`DEFAULT_EIGENSOLVER`]); the dense path of small
    /// problems ignores it.
    #[serde(default)]
    pub eigensolver: Eigensolver,
    /// Lanczos block size (default: the dimension, or 6 with a periodic axis; at most
    /// `states`). Should be at least the largest degeneracy among the wanted levels for
    /// every copy of a degenerate level to be found reliably.
    #[serde(default)]
    pub block_size: Option<usize>,
}

fn default_states() -> usize {
    4
}
fn default_carrier() -> Carrier {
    Carrier::Electron
}
fn default_tolerance() -> f64 {
    1e-8
}
fn default_max_iterations() -> usize {
    20_000
}

fn is_schrodinger(m: &SolveMode) -> bool {
    *m == SolveMode::Schrodinger
}

impl Solve {
    /// The Poisson settings, defaults filled in where the block is absent.
    pub fn poisson_options(&self) -> PoissonOptions {
        self.poisson.clone().unwrap_or_default()
    }
}

impl Default for Solve {
    fn default() -> Self {
        Solve {
            mode: SolveMode::Schrodinger,
            poisson: None,
            states: default_states(),
            carrier: default_carrier(),
            tolerance: default_tolerance(),
            max_iterations: default_max_iterations(),
            backend: BackendChoice::Auto,
            eigensolver: DEFAULT_EIGENSOLVER,
            block_size: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputOptions {
    /// Write band edge and |ψ|² as NumPy .npy files.
    #[serde(default = "yes")]
    pub npy: bool,
    /// Write VTK ImageData (.vti) files for ParaView.
    #[serde(default = "yes")]
    pub vtk: bool,
    /// Write PNG plots.
    #[serde(default = "yes")]
    pub plots: bool,
    /// Also write the wavefunctions ψ themselves (signed), not only |ψ|².
    #[serde(default)]
    pub wavefunctions: bool,
}

fn yes() -> bool {
    true
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions { npy: true, vtk: true, plots: true, wavefunctions: false }
    }
}

/// The most points a sweep may have (a range's count, a list's length, the scene's
/// `sweep.values`): checked before any point is built, so that a mistyped count
/// (`1:300:100000000`) is an input error, not an allocation of gigabytes. A rule of the
/// scene's input, so it lives here; the sweep runner re-exports it.
pub const MAX_SWEEP_POINTS: usize = 10_000;

/// The error of a sweep with more than [`MAX_SWEEP_POINTS`] points.
pub fn too_many(field: &str, what: &str, count: usize) -> QdError {
    QdError::input(
        field,
        format!("{what} gives {count} points; a sweep has at most {MAX_SWEEP_POINTS} points (split it into several sweeps)"),
    )
}

/// A sweep: one scene per value of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// JSON path of the field to vary, e.g. `regions[1].shape.radius` (see [`path`]).
    pub parameter: String,
    pub values: SweepValues,
}

/// The values of a sweep: a list (numbers, strings, any JSON) or an evenly spaced range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SweepValues {
    List(Vec<serde_json::Value>),
    Range(SweepRange),
}

/// `steps` evenly spaced numbers from `from` to `to`, both included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRange {
    pub from: f64,
    pub to: f64,
    pub steps: usize,
}

impl SweepValues {
    /// The values in order.
    pub fn values(&self) -> Vec<serde_json::Value> {
        match self {
            SweepValues::List(v) => v.clone(),
            SweepValues::Range(r) => path::linspace(r.from, r.to, r.steps).into_iter().map(serde_json::Value::from).collect(),
        }
    }
}
