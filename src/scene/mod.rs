//! The scene format (version 1): what a user writes in `scene.json`.
//!
//! Units at this boundary: lengths in nm, energies in eV, temperature in K,
//! spring constants in eV/nm², doping in cm^-3. The full reference, field by field, is
//! docs/scene-format.md. Unknown fields are rejected everywhere.
//!
//! Coordinates: the domain is centred on the origin, so axis `a` spans
//! [-size[a]/2, +size[a]/2]. 1D and 2D domains are the line y = z = 0 and the plane z = 0
//! of the same 3D space: shapes are evaluated there, so a sphere in 2D is a disk.

pub mod validate;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::error::{QdError, Result};
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
    #[serde(default)]
    pub solve: Solve,
    #[serde(default)]
    pub output: OutputOptions,
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
}

impl Region {
    pub fn fill(&self) -> Fill {
        Fill { material: self.material.clone(), x: self.x }
    }
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

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Solve {
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

impl Default for Solve {
    fn default() -> Self {
        Solve {
            states: default_states(),
            carrier: default_carrier(),
            tolerance: default_tolerance(),
            max_iterations: default_max_iterations(),
            backend: BackendChoice::Auto,
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

/// A scene read from disk, with the folder its relative paths are resolved against.
#[derive(Clone, Debug)]
pub struct LoadedScene {
    pub scene: Scene,
    pub path: PathBuf,
    pub base_dir: PathBuf,
}

impl LoadedScene {
    /// Resolve a path written in the scene relative to the scene file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Parse a scene from JSON text. Errors name the JSON path of the offending field.
pub fn parse_scene(text: &str) -> Result<Scene> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let path = if path.is_empty() || path == "." { "(scene)".to_string() } else { path };
        let reason = if inner.is_syntax() || inner.is_eof() {
            format!("malformed JSON: {inner}")
        } else {
            inner.to_string()
        };
        QdError::input(path, reason)
    })
}

/// Read, parse and validate a scene file.
pub fn load_scene(path: &Path) -> Result<LoadedScene> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| QdError::input(path.display().to_string(), format!("cannot read scene file: {e}")))?;
    let scene = parse_scene(&text)?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let base_dir = if base_dir.as_os_str().is_empty() { PathBuf::from(".") } else { base_dir };
    let loaded = LoadedScene { scene, path: path.to_path_buf(), base_dir };
    validate::validate(&loaded.scene)?;
    Ok(loaded)
}
