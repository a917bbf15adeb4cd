//! The results documents, typed: results.json of mode "schrodinger" ([`SchrodingerResults`])
//! and of the device modes ([`DeviceResults`]), and sweep.json ([`SweepSummary`]). Each is a
//! `#[derive(Serialize)]` struct with a [`SCHEMA_VERSION`]; docs/results-format.md
//! describes every field. The CLI's summaries and the sweep read these fields, never the
//! JSON back by key.
//!
//! The documents are written through [`crate::output::write_json`] from their
//! `serde_json::Value` form, so keys come out in alphabetical order. Non-finite numbers
//! are written as `null` (JSON has no NaN).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::physics::device::{ContactInfo, NewtonReport};
use crate::scene::{Scene, Statistics};

/// Version of the layout of results.json and sweep.json. 1: the first typed layout (the
/// same keys as the untyped documents before it, plus this field).
pub const SCHEMA_VERSION: u32 = 1;

/// The program that wrote a document.
#[derive(Clone, Debug, Serialize)]
pub struct Program {
    pub name: &'static str,
    pub version: &'static str,
}

impl Program {
    pub fn this() -> Program {
        Program { name: "qdsim-gpu", version: env!("CARGO_PKG_VERSION") }
    }
}

/// "converged" or "not_converged".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Converged,
    NotConverged,
}

impl Status {
    pub fn of(converged: bool) -> Status {
        if converged {
            Status::Converged
        } else {
            Status::NotConverged
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Converged => "converged",
            Status::NotConverged => "not_converged",
        }
    }
}

/// The grid solved on.
#[derive(Clone, Debug, Serialize)]
pub struct GridReport {
    pub dimension: usize,
    pub cells: Vec<usize>,
    pub unknowns: usize,
    /// Per axis; on a graded grid the smallest width of each axis.
    pub spacing_nm: Vec<f64>,
    pub origin_nm: Vec<f64>,
    /// Graded grids only: the cell boundaries of every axis, nm (n + 1 per axis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes_nm: Option<Vec<Vec<f64>>>,
    /// Per axis (mode schrodinger only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub periodic: Option<Vec<bool>>,
    /// Nonzeros of the Hamiltonian (mode schrodinger only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix_nonzeros: Option<usize>,
}

/// One fill of the scene (background, then regions) with its band edge and mass.
#[derive(Clone, Debug, Serialize)]
pub struct MaterialRow {
    pub fill: usize,
    pub label: String,
    pub material: String,
    pub x: Option<f64>,
    pub band_edge_ev: f64,
    pub mass_m0: f64,
}

/// The backend that computed, and what it reports of itself.
#[derive(Clone, Debug, Serialize)]
pub struct BackendReport {
    pub name: String,
    /// Backend-specific (kind, precision, threads, adapter, transfer statistics, …).
    pub details: Value,
}

// ---------------------------------------------------------------- mode schrodinger

/// Units of a Schrödinger results document.
#[derive(Clone, Debug, Serialize)]
pub struct SchrodingerUnits {
    pub length: &'static str,
    pub energy: &'static str,
    pub mass: &'static str,
    pub temperature: &'static str,
    pub density: &'static str,
}

impl Default for SchrodingerUnits {
    fn default() -> Self {
        SchrodingerUnits { length: "nm", energy: "eV", mass: "m0", temperature: "K", density: "nm^-dim" }
    }
}

/// The energies the levels are measured against.
#[derive(Clone, Debug, Serialize)]
pub struct Reference {
    pub lowest_band_edge_ev: f64,
    pub lowest_potential_ev: f64,
    pub lowest_boundary_potential_ev: Option<f64>,
    pub continuum_threshold_ev: Option<f64>,
    /// What `states[].bound` means, in words.
    pub bound: &'static str,
}

/// How the eigenproblem was solved.
#[derive(Clone, Debug, Serialize)]
pub struct SolverReport {
    /// "lobpcg", "lanczos", "dense" or "none".
    pub method: String,
    pub tolerance: f64,
    pub criterion: &'static str,
    pub norm_estimate_ev: f64,
    pub matvecs: usize,
    pub max_matvecs: usize,
    pub restarts: usize,
    /// Outer iterations (LOBPCG iterations, Lanczos restart cycles; 0 for dense).
    pub outer_iterations: usize,
    /// Calls of the iterative solver that returned values to the host (GPU: each a
    /// synchronisation), the final download of the states not counted.
    pub host_syncs: usize,
    /// Setup of LOBPCG's multigrid preconditioner (part of `eigensolver_s`).
    pub preconditioner_setup_s: f64,
    pub basis_size: usize,
    pub block_size: usize,
    pub chebyshev_filter_degree: usize,
    pub eigensolver_s: f64,
    pub host_refinement_s: f64,
    pub warm_start: bool,
    pub tolerance_requested: f64,
    /// None for the dense path (no tolerance applies).
    pub tolerance_used: Option<f64>,
    pub max_iterations_applies: bool,
    pub notices: Vec<String>,
}

/// One level.
#[derive(Clone, Debug, Serialize)]
pub struct StateReport {
    pub index: usize,
    pub energy_ev: f64,
    pub energy_above_band_edge_mev: f64,
    pub residual_ev: f64,
    pub relative_residual: f64,
    pub converged: bool,
    pub bound: bool,
}

/// results.json of mode "schrodinger".
#[derive(Clone, Debug, Serialize)]
pub struct SchrodingerResults {
    pub schema_version: u32,
    pub program: Program,
    pub status: Status,
    pub converged: bool,
    pub scene_file: String,
    /// The scene as solved (the command line's overrides applied).
    pub scene: Scene,
    pub units: SchrodingerUnits,
    pub grid: GridReport,
    pub carrier: &'static str,
    pub energy_convention: &'static str,
    pub temperature_k: f64,
    pub materials: Vec<MaterialRow>,
    pub reference: Reference,
    pub backend: BackendReport,
    pub solver: SolverReport,
    pub states: Vec<StateReport>,
    pub timings_s: super::Timings,
    /// Peak resident memory at the end of each phase (see [`super::options::PhasePeaks`]).
    pub peak_memory_after_bytes: super::options::PhasePeaks,
    /// Why the run is not converged (absent when it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Present in a written results.json (null when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<Option<u64>>,
    /// The files of the output folder (present in a written results.json).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// The strain summary, where the scene has an enabled `strain` block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strain: Option<super::strain::StrainSummary>,
}

// ---------------------------------------------------------------- device modes

/// Units of a device results document.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceUnits {
    pub length: &'static str,
    pub energy: &'static str,
    pub potential: &'static str,
    pub density: &'static str,
    pub temperature: &'static str,
}

impl Default for DeviceUnits {
    fn default() -> Self {
        DeviceUnits { length: "nm", energy: "eV", potential: "V", density: "cm^-3", temperature: "K" }
    }
}

/// A number of `key_quantities`: a count (written as an integer) or a value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Quantity {
    Count(u64),
    Value(f64),
}

impl Quantity {
    /// As a number; None when it is not finite (written as null).
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Quantity::Count(c) => Some(c as f64),
            Quantity::Value(v) => v.is_finite().then_some(v),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceReference {
    pub lowest_band_edge_ev: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FermiLevels {
    pub electrons: f64,
    pub holes: f64,
}

/// A range of potentials, V.
#[derive(Clone, Debug, Serialize)]
pub struct MinMax {
    pub min: f64,
    pub max: f64,
}

/// A contact or gate: what [`ContactInfo`] holds, its potential range as {min, max}.
#[derive(Clone, Debug, Serialize)]
pub struct ContactReport {
    pub name: String,
    pub face: String,
    pub kind: String,
    pub voltage_v: f64,
    pub cells: usize,
    pub potential_v: MinMax,
    pub semiconductor: String,
}

impl From<&ContactInfo> for ContactReport {
    fn from(c: &ContactInfo) -> Self {
        ContactReport {
            name: c.name.clone(),
            face: c.face.clone(),
            kind: c.kind.clone(),
            voltage_v: c.voltage_v,
            cells: c.cells,
            potential_v: MinMax { min: c.potential_v[0], max: c.potential_v[1] },
            semiconductor: c.semiconductor.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Span {
    pub min: f64,
    pub max: f64,
    pub span: f64,
}

/// The potential's range, contacts' boundary values included, and over the cell centres.
#[derive(Clone, Debug, Serialize)]
pub struct PotentialReport {
    pub min: f64,
    pub max: f64,
    pub span: f64,
    pub cell_centres: Span,
    pub note: &'static str,
}

/// Integrated charges: per cm² (1D), per cm (2D), a number (3D).
#[derive(Clone, Debug, Serialize)]
pub struct ChargeReport {
    pub unit: &'static str,
    pub electrons: f64,
    pub holes: f64,
    pub net: f64,
    pub donors_ionised: f64,
    pub acceptors_ionised: f64,
}

/// One self-consistent iteration ([`super::device::ScfStep`]) with its quantum electrons
/// in the units of `charge`, under the key `quantum_electrons_<unit>`.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryRow {
    pub iteration: usize,
    pub potential_change_v: f64,
    pub ground_state_ev: f64,
    pub newton_iterations: usize,
    pub charge_residual_cm3: f64,
    pub seconds: f64,
    /// `quantum_electrons_cm-2`, `quantum_electrons_cm-1` or `quantum_electrons_electrons`.
    #[serde(flatten)]
    pub quantum_electrons: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SelfConsistency {
    pub iterations: usize,
    pub tolerance_v: f64,
    pub stopped_because: Option<String>,
    pub history: Vec<HistoryRow>,
    pub tolerance_requested_v: f64,
    pub tolerance_used_v: f64,
    /// Whether the run started from the previous sweep point's potential (in the report a
    /// run returns, not in results.json).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<bool>,
}

/// One state of the quantum region.
#[derive(Clone, Debug, Serialize)]
pub struct QuantumState {
    pub index: usize,
    pub energy_ev: f64,
    pub energy_minus_ef_mev: f64,
    pub electrons: f64,
    pub in_plane_mass_m0: Option<f64>,
    pub bound: bool,
}

/// The quantum region of a self-consistent solve.
#[derive(Clone, Debug, Serialize)]
pub struct QuantumReport {
    pub dimension: usize,
    pub cells: usize,
    pub states: Vec<QuantumState>,
    pub electrons_unit: &'static str,
    pub electrons_total: f64,
    pub highest_state_relative_occupation: f64,
    pub continuum_edge_ev: Option<f64>,
    pub bound: &'static str,
    pub in_plane_mass: &'static str,
    pub note: &'static str,
}

/// The last Schrödinger solve of the quantum region.
#[derive(Clone, Debug, Serialize)]
pub struct EigenSummary {
    pub method: String,
    pub matvecs: usize,
    pub converged: bool,
    pub tolerance: f64,
    /// As `solver.outer_iterations` and `solver.host_syncs` of mode schrodinger.
    pub outer_iterations: usize,
    pub host_syncs: usize,
}

/// Wall times of a device run, seconds (`output` only when a folder was written).
#[derive(Clone, Debug, Default, Serialize)]
pub struct DeviceTimings {
    pub setup: f64,
    pub solve: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
    pub total: f64,
}

/// results.json of modes "poisson" and "self_consistent".
#[derive(Clone, Debug, Serialize)]
pub struct DeviceResults {
    pub schema_version: u32,
    /// The numbers a sweep tabulates per point (sweep.csv columns), units in the names.
    pub key_quantities: BTreeMap<String, Quantity>,
    pub program: Program,
    /// "poisson" or "self_consistent".
    pub mode: &'static str,
    pub status: Status,
    pub converged: bool,
    pub scene_file: String,
    pub scene: Scene,
    pub units: DeviceUnits,
    pub grid: GridReport,
    pub temperature_k: f64,
    pub statistics: Statistics,
    pub materials: Vec<MaterialRow>,
    pub reference: DeviceReference,
    pub holes_included: bool,
    pub fermi_levels_ev: FermiLevels,
    pub contacts: Vec<ContactReport>,
    pub potential_v: PotentialReport,
    pub charge: ChargeReport,
    pub classical_poisson: NewtonReport,
    pub self_consistency: SelfConsistency,
    pub quantum: Option<QuantumReport>,
    pub eigensolver: Option<EigenSummary>,
    pub backend: BackendReport,
    pub notices: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub timings_s: DeviceTimings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
}

// ---------------------------------------------------------------- either

/// The results of one run, of whichever mode.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Results {
    Schrodinger(Box<SchrodingerResults>),
    Device(Box<DeviceResults>),
}

impl Results {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    /// Why the run is not converged, when it is not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Results::Schrodinger(r) => r.reason.as_deref(),
            Results::Device(r) => r.reason.as_deref(),
        }
    }
    pub fn backend(&self) -> &BackendReport {
        match self {
            Results::Schrodinger(r) => &r.backend,
            Results::Device(r) => &r.backend,
        }
    }
    pub fn backend_mut(&mut self) -> &mut BackendReport {
        match self {
            Results::Schrodinger(r) => &mut r.backend,
            Results::Device(r) => &mut r.backend,
        }
    }
    /// Record the files written and the peak memory (a results.json being written).
    pub fn set_files(&mut self, files: Vec<String>, peak: Option<u64>) {
        match self {
            Results::Schrodinger(r) => {
                r.files = Some(files);
                r.peak_memory_bytes = Some(peak);
            }
            Results::Device(r) => {
                r.files = Some(files);
                r.peak_memory_bytes = Some(peak);
            }
        }
    }
}

// ---------------------------------------------------------------- sweep.json

/// A sweep point's states: a Schrödinger point's levels or a device point's quantum states.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum PointStates {
    Levels(Vec<StateReport>),
    Quantum(Vec<QuantumState>),
}

/// A sweep point's eigensolver: `solver` of a Schrödinger point, `eigensolver` of a
/// device point (null in mode poisson).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum PointSolver {
    Schrodinger(SolverReport),
    Device(Option<EigenSummary>),
}

/// A sweep point's reference energies.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum PointReference {
    Schrodinger(Reference),
    Device(DeviceReference),
}

/// A sweep point's timings.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum PointTimings {
    Schrodinger(super::Timings),
    Device(DeviceTimings),
}

/// One point of sweep.json.
#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    pub index: usize,
    /// Each parameter's value, by path.
    pub values: BTreeMap<String, Value>,
    pub status: Status,
    pub converged: bool,
    pub reason: Option<String>,
    pub energies_ev: Vec<f64>,
    /// Null for a device point without a quantum region (mode poisson).
    pub states: Option<PointStates>,
    pub reference: PointReference,
    pub solver: PointSolver,
    pub warm_start: bool,
    pub timings_s: PointTimings,
    pub key_quantities: BTreeMap<String, Quantity>,
    /// `points/NNN` when the point's output was kept.
    pub output: Option<String>,
}

/// A swept parameter.
#[derive(Clone, Debug, Serialize)]
pub struct SweepParameter {
    pub path: String,
    pub unit: Option<&'static str>,
    pub values: Vec<Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepUnits {
    pub energy: &'static str,
    pub time: &'static str,
    pub parameters: &'static str,
}

impl Default for SweepUnits {
    fn default() -> Self {
        SweepUnits { energy: "eV", time: "s", parameters: "as in the scene (see each parameter's unit)" }
    }
}

/// The totals of a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SweepTotals {
    pub points: usize,
    pub converged: usize,
    pub not_converged: Vec<usize>,
    pub matvecs_total: u64,
    pub solve_s_total: f64,
    pub total_s: f64,
}

/// sweep.json.
#[derive(Clone, Debug, Serialize)]
pub struct SweepSummary {
    pub schema_version: u32,
    pub program: Program,
    pub status: Status,
    pub scene_file: String,
    /// The base scene (its sweep block removed).
    pub scene: Scene,
    /// "--set" or "sweep".
    pub source: &'static str,
    pub parameters: Vec<SweepParameter>,
    pub warm_start: bool,
    pub units: SweepUnits,
    pub points: Vec<SweepPoint>,
    pub summary: SweepTotals,
    pub files: Vec<String>,
}
