//! A semiconductor device on the grid: band edges, densities of states, permittivity and
//! doping per cell, contacts and gates as Poisson boundary conditions, the carrier charge as
//! a function of the electrostatic potential, and the nonlinear Poisson equation solved by
//! damped Newton iterations whose linear systems go to PCG with multigrid over [`Backend`].
//!
//! Units: φ in V, energies in eV, densities in cm⁻³, lengths in nm. Band edges follow
//! Ec(r) = Ec0(r) − φ(r), Ev(r) = Ev0(r) − φ(r) (an electron's energy falls where φ rises).
//!
//! **Fermi levels.** The solver is an equilibrium (no current) solver: electrons share one
//! quasi-Fermi level E_Fn and holes one E_Fp. A contact at voltage V has its Fermi level at
//! −V eV. E_Fn is that of the contacts whose semiconductor is n-type (N_D ≥ N_A), E_Fp that
//! of the p-type ones; with only one type, both take it. Under reverse bias of a p-n
//! diode this is the usual quasi-equilibrium picture (each carrier in equilibrium with its
//! majority contact). Contacts of one type at different voltages would drive a current,
//! which this solver does not model: that is an input error.
//!
//! **Quantum electrons.** In the self-consistent loop the electrons of the quantum region
//! come from Schrödinger states. Within one Poisson solve their density follows the
//! potential through the predictor–corrector of Trellakis et al. (J. Appl. Phys. 81, 7880
//! (1997)): each level shifts with the local potential change, E_i(r) = E_i − (φ(r) − φ_k(r)),
//! which keeps the outer iteration stable. Only the states below the region's continuum
//! edge (the lowest Ec on its faces inside the domain) count; the electrons above that edge
//! are classical there too, so the density has no step at the region's faces.

use rayon::prelude::*;

use crate::constants::kt_ev;
use crate::error::{QdError, Result};
use crate::grid::device::DopingMap;
use crate::grid::{Grid, MaterialMap};
use crate::linalg::Backend;
use crate::physics::carriers::{self, Bands, Density};
use crate::physics::poisson::{solve_spd, BoundaryCellBc, FaceBc, FixedCell, PoissonProblem, PoissonSolveOptions, PoissonSystem};
use crate::scene::{ContactKind, Doping, Scene, Statistics};

/// What a contact or gate holds the potential at, for results.json.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ContactInfo {
    pub name: String,
    pub face: String,
    pub kind: String,
    pub voltage_v: f64,
    /// Cells it covers and the range of φ it sets there, V.
    pub cells: usize,
    pub potential_v: [f64; 2],
    /// "n" or "p": the majority carrier of the semiconductor under it.
    pub semiconductor: String,
}

/// The device painted on the grid.
pub struct DeviceModel {
    pub grid: Grid,
    pub temperature: f64,
    /// kT, eV.
    pub kt: f64,
    pub statistics: Statistics,
    pub holes: bool,
    /// Per cell (volume-averaged in cut cells).
    pub bands: Vec<Bands>,
    /// Electron mass per cell, m0 (harmonic average, as the Hamiltonian's 1/m*).
    pub electron_mass: Vec<f64>,
    pub doping: DopingMap,
    /// Quasi-Fermi levels of electrons and holes, eV.
    pub ef_n: f64,
    pub ef_p: f64,
    /// The potential at which each cell would be neutral (with its own carriers' Fermi
    /// level): the start of the Newton iteration, V.
    pub phi_neutral: Vec<f64>,
    pub system: PoissonSystem,
    pub contacts: Vec<ContactInfo>,
}

/// The quantum electrons of one self-consistent step: states computed at potential
/// `phi_ref` on the cells `cells` (indices into the device grid), with their weights.
pub struct QuantumCharge {
    /// Device cell of each quantum-region cell.
    pub cells: Vec<usize>,
    /// Dimension of the quantum problem (the grid's): 1 well, 2 wire, 3 dot.
    pub dim: usize,
    /// Cell volume in nm^dim.
    pub cell_volume: f64,
    pub energies: Vec<f64>,
    /// States on the quantum cells, Σ|ψ|² = 1.
    pub states: Vec<Vec<f64>>,
    /// In-plane mass per state (d < 3), m0.
    pub m_free: Vec<f64>,
    /// φ at which the states were computed, per quantum cell, V.
    pub phi_ref: Vec<f64>,
    /// The continuum edge E_c,edge (eV, at `phi_ref`): the lowest conduction-band edge on the
    /// faces of the quantum region that lie inside the domain. States below it are bound in
    /// the region and give their electrons from ψ; at and above it the states are those of
    /// the region's artificial ψ = 0 walls, and the electrons at those energies are counted
    /// classically instead (see [`DeviceModel::charge`]). None when every face of the region
    /// is a face of the domain (no seam): all states count, no classical part.
    pub continuum_edge_ev: Option<f64>,
}

impl QuantumCharge {
    /// Electron density (cm⁻³) and dn/dφ on the quantum cells at potential φ (the device's
    /// φ, indexed by device cell), the levels shifted by the local change of φ.
    fn density(&self, phi: &[f64], ef: f64, kt: f64) -> Vec<Density> {
        let scale = crate::constants::NM3_PER_CM3 / self.cell_volume;
        self.cells
            .par_iter()
            .enumerate()
            .map(|(q, &c)| {
                let shift = phi[c] - self.phi_ref[q];
                let mut d = Density { value: 0.0, d_phi: 0.0 };
                for (i, psi) in self.states.iter().enumerate() {
                    let w = psi[q] * psi[q] * scale;
                    if w == 0.0 || !self.is_bound(i) {
                        continue;
                    }
                    let m = self.m_free.get(i).copied().unwrap_or(1.0);
                    let o = carriers::state_occupation(self.dim, self.energies[i] - shift, ef, kt, m);
                    d.value += w * o.value;
                    d.d_phi += w * o.d_phi;
                }
                d
            })
            .collect()
    }

    /// Electrons per state: per nm^(3−dim) (as [`carriers::state_occupation`]); 0 for a state
    /// at or above the continuum edge (its electrons are counted classically).
    pub fn occupations(&self, ef: f64, kt: f64) -> Vec<f64> {
        self.energies
            .iter()
            .enumerate()
            .map(|(i, &e)| if self.is_bound(i) { carriers::state_occupation(self.dim, e, ef, kt, self.m_free.get(i).copied().unwrap_or(1.0)).value } else { 0.0 })
            .collect()
    }

    /// Whether state `i` lies below the continuum edge (bound in the quantum region).
    pub fn is_bound(&self, i: usize) -> bool {
        match (self.continuum_edge_ev, self.energies.get(i)) {
            (Some(edge), Some(&e)) => e < edge,
            (None, Some(_)) => true,
            (_, None) => false,
        }
    }
}

/// Charge per cell: ρ̃ = p − n + N_D⁺ − N_A⁻ (cm⁻³), and the parts.
#[derive(Clone, Debug, Default)]
pub struct Charge {
    pub rho: Vec<f64>,
    /// −∂ρ̃/∂φ ≥ 0, cm⁻³/V.
    pub d: Vec<f64>,
    pub n: Vec<f64>,
    pub p: Vec<f64>,
    pub donors_ionised: Vec<f64>,
    pub acceptors_ionised: Vec<f64>,
}

/// How a Newton solve of the nonlinear Poisson equation went.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NewtonReport {
    pub iterations: usize,
    pub converged: bool,
    /// Largest |δφ| of the last step, V.
    pub last_update_v: f64,
    /// Largest charge residual |b − Aφ|/scale of the result, cm⁻³.
    pub residual_cm3: f64,
    /// PCG iterations of all steps.
    pub cg_iterations: usize,
    /// Why the iteration stopped early (a non-finite charge or update, a linear solve that
    /// could not run); φ is then the last finite iterate and `converged` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The largest |x|, NaN when any x is NaN (`f64::max` would skip it).
fn max_abs(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().fold(0.0f64, |m, x| if x.is_nan() || m.is_nan() { f64::NAN } else { m.max(x.abs()) })
}

/// The scene field a fill's material comes from (fill 0: the background, i + 1: regions[i]).
fn fill_field(fill: usize) -> String {
    if fill == 0 {
        "background.material".into()
    } else {
        format!("regions[{}].material", fill - 1)
    }
}

fn dominant(species: &[crate::grid::device::DopantSpecies], c: usize) -> (f64, Option<f64>) {
    let total: f64 = species.iter().map(|s| s.density[c]).sum();
    let energy = species.iter().max_by(|a, b| a.density[c].total_cmp(&b.density[c])).and_then(|s| s.energy);
    (total, energy)
}

impl DeviceModel {
    /// Paint the scene's device onto the grid: `fills` are the resolved materials of the
    /// background and the regions, `map` their painting (as for the Hamiltonian).
    pub fn new(scene: &Scene, grid: &Grid, map: &MaterialMap, materials: &[&crate::materials::Material]) -> Result<DeviceModel> {
        let t = scene.temperature;
        if t <= 0.0 {
            return Err(QdError::input("temperature", "a device (Poisson) solve needs a temperature above 0 K"));
        }
        let kt = kt_ev(t);
        let opts = scene.solve.poisson_options();
        let per_fill = |f: &dyn Fn(&crate::materials::Material) -> f64| -> Vec<f64> { map.average(&materials.iter().map(|m| f(m)).collect::<Vec<_>>()) };
        let ec0 = per_fill(&|m| m.ec(t));
        let ev0 = per_fill(&|m| m.ev(t));
        let nc = per_fill(&|m| carriers::nc(m, t));
        let nv = per_fill(&|m| carriers::nv(m, t));
        let eps_r = per_fill(&|m| m.eps_r);
        let inv_me = per_fill(&|m| 1.0 / m.me);
        // every per-cell parameter finite (and the permittivity and 1/m* positive): a
        // non-finite one from the materials is an input error naming the cell's material
        let checks: [(&str, &[f64], bool); 6] = [
            ("the conduction-band edge (eV)", &ec0, false),
            ("the valence-band edge (eV)", &ev0, false),
            ("the conduction-band effective density of states (cm^-3)", &nc, true),
            ("the valence-band effective density of states (cm^-3)", &nv, true),
            ("the relative permittivity", &eps_r, true),
            ("1/m* of electrons (1/m0)", &inv_me, true),
        ];
        for (what, v, positive) in checks {
            if let Some(c) = v.iter().position(|x| !x.is_finite() || (positive && *x <= 0.0)) {
                let f = map.dominant.get(c).copied().unwrap_or(0) as usize;
                let name = materials.get(f).map(|m| m.name.clone()).unwrap_or_default();
                let at: Vec<String> = grid.center(c)[..grid.dim].iter().map(|x| format!("{x:.3}")).collect();
                return Err(QdError::input(
                    fill_field(f),
                    format!(
                        "{what} of {name} at {t} K is {} at cell {c} ({} nm): {}; check the material's parameters",
                        v[c],
                        at.join(", "),
                        if positive { "not a positive finite number" } else { "not a finite number" }
                    ),
                ));
            }
        }
        let bands: Vec<Bands> = (0..grid.len()).map(|c| Bands { ec0: ec0[c], ev0: ev0[c], nc: nc[c], nv: nv[c] }).collect();
        // the charge-neutral potential of a cell, whose failure (no root: parameters out of
        // any physical range) is an input error about `field`
        let neutral = |field: &str, c: usize, d: &Doping, ef: f64| -> Result<f64> {
            carriers::neutral_potential(opts.statistics, &bands[c], d, ef, kt).and_then(|v| {
                if v.is_finite() {
                    Ok(v)
                } else {
                    Err(QdError::NotConverged(format!("neutral potential {v}")))
                }
            }).map_err(|e| {
                let f = map.dominant.get(c).copied().unwrap_or(0) as usize;
                let name = materials.get(f).map(|m| m.name.clone()).unwrap_or_default();
                let why = match e {
                    QdError::NotConverged(m) | QdError::Internal(m) => m,
                    other => other.to_string(),
                };
                QdError::input(
                    field,
                    format!(
                        "no charge-neutral potential exists in cell {c} ({name}, donors {:.3e}, acceptors {:.3e} cm^-3, T = {t} K): {why}; the doping, temperature or material parameters are out of range",
                        d.donors, d.acceptors
                    ),
                )
            })
        };
        let doping = DopingMap::paint(map, &scene.fill_dopings());
        let cell_doping = |c: usize| {
            let (nd, ed) = dominant(&doping.donors, c);
            let (na, ea) = dominant(&doping.acceptors, c);
            Doping { donors: nd, acceptors: na, donor_energy: ed, acceptor_energy: ea }
        };
        // boundary cells of each contact, and the contact's Fermi level
        let dim = grid.dim;
        let mut boundary_cells = Vec::new();
        let mut contacts = Vec::new();
        let mut ef_by_type: [Option<(f64, String)>; 2] = [None, None]; // n, p
        for (k, ct) in scene.contacts.iter().enumerate() {
            let face = ct.face as usize;
            let (axis, upper) = (ct.face.axis(), ct.face.is_max());
            let name = ct.name.clone().unwrap_or_else(|| format!("contacts[{k}]"));
            let mut cells = Vec::new();
            for c in 0..grid.len() {
                let ijk = grid.ijk(c);
                if ijk[axis] != if upper { grid.n[axis] - 1 } else { 0 } {
                    continue;
                }
                let mut p = grid.center(c);
                p[axis] = grid.origin[axis] + if upper { grid.n[axis] as f64 * grid.h[axis] } else { 0.0 };
                if ct.covers(p, dim) {
                    cells.push(c);
                }
            }
            if cells.is_empty() {
                return Err(QdError::input(format!("contacts[{k}].patch"), "covers no boundary cell of its face (make it larger than one cell)"));
            }
            let (nd, na): (f64, f64) = cells.iter().map(|&c| (dominant(&doping.donors, c).0, dominant(&doping.acceptors, c).0)).fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
            let kind = if nd >= na { 0 } else { 1 };
            let ef = 0.0 - ct.voltage;
            match &ef_by_type[kind] {
                Some((e, other)) if (e - ef).abs() > 1e-12 => {
                    return Err(QdError::input(
                        format!("contacts[{k}].voltage"),
                        format!(
                            "{name} and {other} both contact {}-type semiconductor at different voltages: that drives a current, which this equilibrium solver does not model",
                            ["n", "p"][kind]
                        ),
                    ))
                }
                Some(_) => {}
                None => ef_by_type[kind] = Some((ef, name.clone())),
            }
            let mut lo = f64::INFINITY;
            let mut hi = f64::NEG_INFINITY;
            for &c in &cells {
                let v = match ct.kind {
                    ContactKind::Ohmic => {
                        // neutral at the contact's own Fermi level −V: φ0(E_F = 0) + V
                        carriers::ohmic_potential(neutral(&format!("contacts[{k}]"), c, &cell_doping(c), 0.0)?, ct.voltage)
                    }
                    ContactKind::Schottky => carriers::schottky_potential(bands[c].ec0, ct.voltage, ct.barrier.unwrap_or(0.0)),
                };
                if !v.is_finite() {
                    return Err(QdError::input(format!("contacts[{k}].voltage"), format!("gives a non-finite boundary potential ({v} V) at cell {c}")));
                }
                lo = lo.min(v);
                hi = hi.max(v);
                boundary_cells.push(BoundaryCellBc { face, cell: c, bc: FaceBc::Dirichlet(v) });
            }
            contacts.push(ContactInfo {
                name,
                face: ct.face.as_str().into(),
                kind: format!("{:?}", ct.kind).to_lowercase(),
                voltage_v: ct.voltage,
                cells: cells.len(),
                potential_v: [lo, hi],
                semiconductor: ["n", "p"][kind].into(),
            });
        }
        let (ef_n, ef_p) = match (&ef_by_type[0], &ef_by_type[1]) {
            (Some(n), Some(p)) => (n.0, p.0),
            (Some(n), None) => (n.0, n.0),
            (None, Some(p)) => (p.0, p.0),
            (None, None) => (0.0, 0.0),
        };
        // gates: fixed cells
        let mut fixed = Vec::new();
        for (c, g) in crate::grid::device::gate_cells(grid, &scene.gates).into_iter().enumerate() {
            if let Some(gi) = g {
                let gate = &scene.gates[gi];
                let v = match gate.barrier {
                    Some(b) => carriers::schottky_potential(bands[c].ec0, gate.voltage, b),
                    None => carriers::ohmic_potential(neutral(&format!("gates[{gi}]"), c, &cell_doping(c), 0.0)?, gate.voltage),
                };
                if !v.is_finite() {
                    return Err(QdError::input(format!("gates[{gi}].voltage"), format!("gives a non-finite potential ({v} V) at cell {c}")));
                }
                fixed.push(FixedCell { cell: c, potential: v });
            }
        }
        let mut problem = PoissonProblem::new(grid.clone(), eps_r, FaceBc::Neumann);
        // faces next to cut cells: εr integrated across the reconstructed interface, as the
        // Hamiltonian's ħ²/2m* (series along the line between the centres)
        let shapes: Vec<&crate::scene::Shape> = scene.regions.iter().map(|r| &r.shape).collect();
        let eps_fill: Vec<f64> = materials.iter().map(|m| m.eps_r).collect();
        problem.face_eps = map.face_coefficients(grid, &shapes, &eps_fill, crate::grid::FACE_SAMPLES);
        problem.boundary_cells = boundary_cells;
        problem.fixed = fixed;
        let system = PoissonSystem::assemble(&problem)?;
        if let Some(c) = (0..grid.len()).find(|&c| {
            let r = system.matrix.row_ptr[c]..system.matrix.row_ptr[c + 1];
            system.matrix.val[r].iter().any(|v| !v.is_finite()) || !system.boundary_rhs[c].is_finite()
        }) {
            let f = map.dominant.get(c).copied().unwrap_or(0) as usize;
            return Err(QdError::input(
                fill_field(f),
                format!("the Poisson operator is not finite at cell {c} (permittivity {} over the spacing squared, or a boundary potential, overflows)", eps_r_cell(&system, c)),
            ));
        }
        let phi_neutral: Vec<f64> = (0..grid.len())
            .into_par_iter()
            .map(|c| {
                // each carrier at its own Fermi level: neutral φ between the two estimates
                let d = cell_doping(c);
                let ef = if d.donors >= d.acceptors { ef_n } else { ef_p };
                let f = map.dominant.get(c).copied().unwrap_or(0) as usize;
                neutral(&if f == 0 { "background.doping".to_string() } else { format!("regions[{}].doping", f - 1) }, c, &d, ef)
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(DeviceModel {
            grid: grid.clone(),
            temperature: t,
            kt,
            statistics: opts.statistics,
            holes: opts.holes,
            bands,
            electron_mass: inv_me.iter().map(|v| 1.0 / v).collect(),
            doping,
            ef_n,
            ef_p,
            phi_neutral,
            system,
            contacts,
        })
    }

    /// The starting potential: each free cell at its neutral value, fixed cells at theirs.
    pub fn initial_potential(&self) -> Vec<f64> {
        let mut phi = self.phi_neutral.clone();
        // a fixed cell's row is A_cc φ = A_cc V: its value is the right-hand side over the diagonal
        let diag = self.system.matrix.diagonal();
        for (c, p) in phi.iter_mut().enumerate() {
            if self.system.is_fixed(c) {
                *p = self.system.boundary_rhs[c] / diag[c];
            }
        }
        phi
    }

    /// The charge at potential φ; electrons of the quantum cells from `quantum` if given.
    pub fn charge(&self, phi: &[f64], quantum: Option<&QuantumCharge>) -> Charge {
        let n_cells = self.grid.len();
        let (kt, st) = (self.kt, self.statistics);
        // per cell: n, dn/dφ, p, dp/dφ, N_D⁺, N_A⁻, d(N_D⁺ − N_A⁻)/dφ
        let parts: Vec<[f64; 7]> = (0..n_cells)
            .into_par_iter()
            .map(|c| {
                let b = &self.bands[c];
                let n = carriers::electron_density(st, b.nc, b.ec0, phi[c], self.ef_n, kt);
                let p = if self.holes { carriers::hole_density(st, b.nv, b.ev0, phi[c], self.ef_p, kt) } else { Density { value: 0.0, d_phi: 0.0 } };
                let mut nd = Density { value: 0.0, d_phi: 0.0 };
                for s in &self.doping.donors {
                    let x = carriers::ionised_donors(s.density[c], s.energy, b.ec0, phi[c], self.ef_n, kt);
                    nd.value += x.value;
                    nd.d_phi += x.d_phi;
                }
                let mut na = Density { value: 0.0, d_phi: 0.0 };
                for s in &self.doping.acceptors {
                    let x = carriers::ionised_acceptors(s.density[c], s.energy, b.ev0, phi[c], self.ef_p, kt);
                    na.value += x.value;
                    na.d_phi += x.d_phi;
                }
                [n.value, n.d_phi, p.value, p.d_phi, nd.value, na.value, nd.d_phi - na.d_phi]
            })
            .collect();
        let mut ch = Charge {
            rho: vec![0.0; n_cells],
            d: vec![0.0; n_cells],
            n: parts.iter().map(|v| v[0]).collect(),
            p: parts.iter().map(|v| v[2]).collect(),
            donors_ionised: parts.iter().map(|v| v[4]).collect(),
            acceptors_ionised: parts.iter().map(|v| v[5]).collect(),
        };
        let mut dn: Vec<f64> = parts.iter().map(|v| v[1]).collect();
        if let Some(q) = quantum {
            for (qd, &c) in self.quantum_cell_density(q, phi).into_iter().zip(&q.cells) {
                ch.n[c] = qd.value;
                dn[c] = qd.d_phi;
            }
        }
        for (c, v) in parts.iter().enumerate() {
            ch.rho[c] = v[2] - ch.n[c] + v[4] - v[5];
            ch.d[c] = (dn[c] - v[3] - v[6]).max(0.0);
        }
        ch
    }

    /// Electrons of the quantum cells at φ: the bound states' density (levels shifted by the
    /// local change of φ, as the predictor–corrector wants) plus the classical electrons above
    /// the continuum edge, n_>(r) = Nc ∫ above E_c,edge, the edge moving with the local φ as
    /// the levels do (so b = (E_c,edge − Ec)/kT is that of the reference potential). On the
    /// region's inner faces Ec ≥ E_c,edge, so there the classical part is the whole band and
    /// the bound states vanish (ψ = 0): the density joins the classical one outside without
    /// a step. Where the band edge lies below E_c,edge (the well, the dot) the bound states
    /// carry the electrons below the edge and the classical formula those above it.
    fn quantum_cell_density(&self, q: &QuantumCharge, phi: &[f64]) -> Vec<Density> {
        let mut d = q.density(phi, self.ef_n, self.kt);
        if let Some(edge) = q.continuum_edge_ev {
            let (kt, st) = (self.kt, self.statistics);
            let cont: Vec<Density> = q
                .cells
                .par_iter()
                .zip(&q.phi_ref)
                .map(|(&c, &pr)| {
                    let b = &self.bands[c];
                    carriers::continuum_electron_density(st, b.nc, b.ec0, phi[c], self.ef_n, kt, (edge - (b.ec0 - pr)) / kt)
                })
                .collect();
            for (x, y) in d.iter_mut().zip(cont) {
                x.value += y.value;
                x.d_phi += y.d_phi;
            }
        }
        d
    }

    /// Solve the nonlinear Poisson equation −∇·(ε∇φ) = q ρ̃(φ) for φ (in place, from the φ
    /// given) by Newton's method: J δ = b − Aφ with J = A + s·diag(−∂ρ̃/∂φ), each system by
    /// PCG with multigrid on `be`; steps larger than a few kT are damped logarithmically
    /// (δ → sign(δ)·kT·ln(1 + |δ|/kT)), which keeps the exponential densities from
    /// overflowing. Converged when max|δ| < `tol` V.
    pub fn solve_poisson<B: Backend>(&self, be: &B, phi: &mut [f64], quantum: Option<&QuantumCharge>, tol: f64, max_iterations: usize) -> Result<NewtonReport> {
        let n = self.grid.len();
        let f32_device = be.precision_bits() < 64;
        let lin = PoissonSolveOptions {
            cg: crate::linalg::cg::CgOptions { tol: if f32_device { 1e-5 } else { 1e-8 }, max_iterations: 2000 },
            ..Default::default()
        };
        let mut report = NewtonReport { iterations: 0, converged: false, last_update_v: f64::INFINITY, residual_cm3: f64::INFINITY, cg_iterations: 0, failure: None };
        let step_scale = 4.0 * self.kt;
        let at = |c: usize| -> String { self.grid.center(c)[..self.grid.dim].iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", ") };
        if let Some(c) = phi.iter().position(|v| !v.is_finite()) {
            report.failure = Some(format!("the starting potential is not finite at cell {c} ({} nm)", at(c)));
        }
        while report.iterations < max_iterations && report.failure.is_none() {
            let ch = self.charge(phi, quantum);
            if let Some(c) = (0..n).find(|&c| !ch.rho[c].is_finite() || !ch.d[c].is_finite()) {
                report.failure = Some(format!(
                    "Newton step {}: the charge density is not finite at cell {c} ({} nm, φ = {:.6e} V; n = {:.3e}, p = {:.3e} cm^-3)",
                    report.iterations + 1,
                    at(c),
                    phi[c],
                    ch.n[c],
                    ch.p[c]
                ));
                break;
            }
            let res = self.system.residual(phi, &ch.rho);
            let j = self.system.matrix_with_diagonal(&ch.d);
            let reaction = self.system.reaction_diagonal(&ch.d);
            let mut delta = vec![0.0; n];
            let cg = match solve_spd(be, &self.grid, &j, Some(&reaction), &res, &mut delta, &lin) {
                Ok(cg) => cg,
                Err(QdError::NotConverged(why)) => {
                    report.failure = Some(format!("Newton step {}: the linear solve could not run: {why}", report.iterations + 1));
                    break;
                }
                Err(e) => return Err(e),
            };
            report.cg_iterations += cg.iterations;
            if let Some(c) = delta.iter().position(|d| !d.is_finite()) {
                // φ stays at the last finite iterate; reported, never converged
                report.iterations += 1;
                report.last_update_v = f64::NAN;
                report.failure = Some(format!("Newton step {} produced a non-finite update of φ at cell {c} ({} nm)", report.iterations, at(c)));
                break;
            }
            let mut maxd = 0.0f64;
            for (p, d) in phi.iter_mut().zip(&delta) {
                let a = d.abs();
                maxd = maxd.max(a);
                let step = if a > step_scale { d.signum() * step_scale * (1.0 + (a / step_scale).ln()) } else { *d };
                *p += step;
            }
            report.iterations += 1;
            report.last_update_v = maxd;
            if maxd < tol {
                report.converged = true;
                break;
            }
        }
        let ch = self.charge(phi, quantum);
        report.residual_cm3 = max_abs(self.system.residual_cm3(phi, &ch.rho));
        if !report.residual_cm3.is_finite() || phi.iter().any(|v| !v.is_finite()) {
            report.converged = false;
            report.failure.get_or_insert_with(|| format!("the charge residual of the final potential is not finite ({} cm^-3)", report.residual_cm3));
        }
        Ok(report)
    }

    /// The box of cells whose centres lie in `region` (nm per axis): per-axis index ranges.
    pub fn region_cells(&self, min: &[f64], max: &[f64]) -> Option<[std::ops::Range<usize>; 3]> {
        let g = &self.grid;
        let mut r: [std::ops::Range<usize>; 3] = [0..1, 0..1, 0..1];
        for a in 0..g.dim {
            let idx: Vec<usize> = (0..g.n[a]).filter(|&i| {
                let x = g.center_coord(a, i);
                x >= min[a] && x <= max[a]
            }).collect();
            let (first, last) = (*idx.first()?, *idx.last()?);
            r[a] = first..last + 1;
        }
        Some(r)
    }
}

fn eps_r_cell(system: &PoissonSystem, c: usize) -> f64 {
    system.eps_r().get(c).copied().unwrap_or(f64::NAN)
}

/// Sheet density of a 1D device: ∫ n dx over the cells, cm⁻² (n in cm⁻³, h in nm).
pub fn sheet_density_1d(n: &[f64], h_nm: f64) -> f64 {
    n.iter().sum::<f64>() * h_nm * 1e-7
}
