//! What a device run writes: the fields (φ, Ec, Ev, n, p, ρ, |E|, ψ) as .npy and .vti, the
//! plots (band diagram, densities, heat maps, states, convergence), and the results
//! document ([`DeviceResults`]) with its key quantities for sweeps.
//!
//! Units: potentials V, energies eV, densities cm⁻³, lengths nm.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::grid::{Grid, MaterialMap};
use crate::output::{self, OutputDir};
use crate::physics::device::DeviceModel;
use crate::scene::{LoadedScene, SolveMode};

use super::device::DeviceSolution;
use super::options::Fields;
use super::prepare;
use super::report::{
    BackendReport, ChargeReport, ContactReport, DeviceReference, DeviceResults, DeviceTimings, DeviceUnits, EigenSummary, FermiLevels, GridReport, HistoryRow,
    PotentialReport, Program, Quantity, QuantumReport, QuantumState, SelfConsistency, Span, Status, SCHEMA_VERSION,
};

/// Ec and Ev (eV), |E| (V/nm) and the fill of each cell: the fields computed from φ.
fn derived_fields(model: &DeviceModel, map: &MaterialMap, sol: &DeviceSolution) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let ec: Vec<f64> = model.bands.iter().zip(&sol.phi).map(|(b, p)| b.ec0 - p).collect();
    let ev: Vec<f64> = model.bands.iter().zip(&sol.phi).map(|(b, p)| b.ev0 - p).collect();
    let fill: Vec<f64> = map.dominant.iter().map(|&f| f as f64).collect();
    let field = model.system.electric_field(&sol.phi);
    let efield: Vec<f64> = field.iter().map(|e| (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt()).collect();
    (ec, ev, efield, fill)
}

/// The fields of a device solve in memory, as [`write_device_fields`] writes them (φ, Ec,
/// Ev, n, p, ρ, |E|, material), with |ψ|² and ψ of the quantum states on the whole grid
/// (zero outside the quantum region).
pub(super) fn device_fields(model: &DeviceModel, map: &MaterialMap, sol: &DeviceSolution) -> Fields {
    let g = &model.grid;
    let (ec, ev, efield, fill) = derived_fields(model, map, sol);
    let ch = &sol.charge;
    let (mut psi2, mut psi, mut states) = (Vec::new(), Vec::new(), 0);
    if let Some(q) = &sol.quantum {
        states = q.states.len();
        psi2 = vec![0.0; g.len() * states];
        psi = vec![0.0; g.len() * states];
        let s = 1.0 / q.cell_volume.sqrt();
        for (i, v) in q.states.iter().enumerate() {
            for (x, &c) in v.iter().zip(&q.cells) {
                psi2[i * g.len() + c] = x * x / q.cell_volume;
                psi[i * g.len() + c] = x * s;
            }
        }
    }
    Fields {
        dims: g.dims(),
        spacing_nm: g.h[..g.dim].to_vec(),
        origin_nm: g.origin[..g.dim].to_vec(),
        nodes_nm: None,
        arrays: vec![
            ("potential_v".into(), sol.phi.clone()),
            ("ec_ev".into(), ec),
            ("ev_ev".into(), ev),
            ("n_cm3".into(), ch.n.clone()),
            ("p_cm3".into(), ch.p.clone()),
            ("rho_cm3".into(), ch.rho.clone()),
            ("field_v_per_nm".into(), efield),
            ("material".into(), fill),
        ],
        psi2,
        psi,
        states,
    }
}

/// φ, Ec, Ev, n, p, ρ as .npy and in the .vti; plots.
pub(super) fn write_device_fields(out: &OutputDir, loaded: &LoadedScene, model: &DeviceModel, map: &MaterialMap, sol: &DeviceSolution) -> Result<Vec<String>> {
    let scene = &loaded.scene;
    let g = &model.grid;
    let dims = g.dims();
    let (ec, ev, efield, fill) = derived_fields(model, map, sol);
    let ch = &sol.charge;
    let fields: Vec<(&str, &[f64])> = vec![
        ("potential_v", &sol.phi),
        ("ec_ev", &ec),
        ("ev_ev", &ev),
        ("n_cm3", &ch.n),
        ("p_cm3", &ch.p),
        ("rho_cm3", &ch.rho),
        ("field_v_per_nm", &efield),
        ("material", &fill),
    ];
    // the data files, written concurrently (names in this order); the plots follow
    let psis: Vec<Vec<f64>> = match (&sol.quantum, scene.output.npy && scene.output.wavefunctions) {
        (Some(q), true) => q
            .states
            .iter()
            .map(|psi| {
                let mut full = vec![0.0; g.len()];
                let s = 1.0 / q.cell_volume.sqrt();
                for (v, &c) in psi.iter().zip(&q.cells) {
                    full[c] = v * s;
                }
                full
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut jobs = Vec::new();
    if scene.output.npy {
        let named = fields.iter().map(|&(name, data)| (format!("{name}.npy"), data));
        for (name, data) in named.chain(psis.iter().enumerate().map(|(i, full)| (format!("psi_{i:03}.npy"), full.as_slice()))) {
            let (path, dims) = (out.path(&name), &dims);
            jobs.push(output::WriteJob::file(name, move || output::npy::write_npy(&path, dims, data)));
        }
    }
    if scene.output.vtk {
        let (path, fields) = (out.path("fields.vti"), &fields);
        jobs.push(output::WriteJob::file("fields.vti", move || output::vtk::write_vti(&path, g.n, g.origin, g.h, fields)));
    }
    let mut files = output::run_jobs(jobs)?;
    if scene.output.plots {
        let title = scene.name.clone().unwrap_or_else(|| "qdsim-gpu".into());
        // Quantum states: |ψ|² per nm^d on the device grid. Which are not bound by the
        // structure is not known here (an empty list): the plots mark those flagged once
        // the results carry the flag.
        let quantum = sol.quantum.as_ref().map(|q| {
            let dens: Vec<Vec<f64>> = q
                .states
                .iter()
                .map(|v| {
                    let mut full = vec![0.0; g.len()];
                    for (x, &c) in v.iter().zip(&q.cells) {
                        full[c] = x * x / q.cell_volume;
                    }
                    full
                })
                .collect();
            // the levels results.json flags `bound: false`, drawn dashed
            let unbound: Vec<bool> = (0..q.energies.len()).map(|i| !q.is_bound(i)).collect();
            (q, dens, unbound)
        });
        if g.dim == 1 {
            let x = g.axis_centers(0);
            use output::lines::{plot_lines, Series};
            let (efn, efp) = (vec![model.ef_n; x.len()], vec![model.ef_p; x.len()]);
            let mut bands = vec![Series { label: "Ec".into(), y: &ec, dashed: false }, Series { label: "Ev".into(), y: &ev, dashed: false }];
            if (model.ef_n - model.ef_p).abs() < 1e-9 {
                bands.push(Series { label: "E_F (= E_Fn = E_Fp)".into(), y: &efn, dashed: true });
            } else {
                bands.push(Series { label: "E_Fn".into(), y: &efn, dashed: true });
                bands.push(Series { label: "E_Fp".into(), y: &efp, dashed: true });
            }
            plot_lines(&out.path("bands.png"), &format!("{title}: band diagram"), &x, "x (nm)", "energy (eV)", &bands, false)?;
            files.push("bands.png".into());
            let nd = &ch.donors_ionised;
            let na = &ch.acceptors_ionised;
            plot_lines(
                &out.path("densities.png"),
                &format!("{title}: carriers and doping"),
                &x,
                "x (nm)",
                "density (cm⁻³)",
                &[
                    Series { label: "n".into(), y: &ch.n, dashed: false },
                    Series { label: "p".into(), y: &ch.p, dashed: false },
                    Series { label: "N_D⁺".into(), y: nd, dashed: true },
                    Series { label: "N_A⁻".into(), y: na, dashed: true },
                ],
                true,
            )?;
            files.push("densities.png".into());
            if let Some((q, dens, unbound)) = &quantum {
                // the quantum levels in the conduction band of the region
                let qx: Vec<f64> = q.cells.iter().map(|&c| g.center(c)[0]).collect();
                let qec: Vec<f64> = q.cells.iter().map(|&c| ec[c]).collect();
                let states: Vec<(f64, Vec<f64>)> = q.energies.iter().copied().zip(dens.iter().map(|d| q.cells.iter().map(|&c| d[c]).collect())).collect();
                output::plot::plot_1d_states(&out.path("states.png"), &title, &qx, &qec, &states, unbound, "energy (eV)")?;
                files.push("states.png".into());
            }
        } else {
            use output::plot::ColourScale as Scale;
            let panels = device_panels(
                g,
                map,
                &[
                    ("conduction band edge Ec", "eV", &ec, Scale::Linear),
                    ("electrostatic potential φ", "V", &sol.phi, Scale::Linear),
                    ("electron density n", "cm⁻³", &ch.n, Scale::Log),
                    ("hole density p", "cm⁻³", &ch.p, Scale::Log),
                    ("net charge ρ/q", "cm⁻³", &ch.rho, Scale::Diverging),
                ],
            );
            output::plot::plot_panels(&out.path("device.png"), &title, &panels)?;
            files.push("device.png".into());
            if let Some((q, dens, unbound)) = &quantum {
                let states: Vec<output::plot::SliceState> = dens.iter().zip(&q.energies).enumerate().map(|(n, (d, &energy))| output::plot::SliceState { energy, density: d, unbound: unbound.get(n).copied().unwrap_or(false) }).collect();
                let panels = output::plot::structure_panels(g, "conduction band edge Ec", "eV", &ec, &map.dominant, &states, "eV");
                output::plot::plot_panels(&out.path("states.png"), &format!("{title}: quantum states"), &panels)?;
                files.push("states.png".into());
            }
        }
        if !sol.history.is_empty() {
            let it: Vec<f64> = sol.history.iter().map(|s| s.iteration as f64).collect();
            let ch: Vec<f64> = sol.history.iter().map(|s| s.potential_change_v).collect();
            let tol = vec![scene.solve.poisson_options().tolerance; it.len()];
            output::lines::plot_lines(
                &out.path("convergence.png"),
                &format!("{title}: self-consistency"),
                &it,
                "iteration",
                "max |φ_out − φ_in| (V)",
                &[output::lines::Series { label: "potential change".into(), y: &ch, dashed: false }, output::lines::Series { label: "tolerance".into(), y: &tol, dashed: true }],
                true,
            )?;
            files.push("convergence.png".into());
        }
    }
    Ok(files)
}

/// Heat maps of the whole device through the domain's centre (the plane in 2D, xy at mid
/// z in 3D), each with its unit and colour scale, material boundaries outlined.
fn device_panels(g: &Grid, map: &MaterialMap, data: &[(&str, &str, &[f64], output::plot::ColourScale)]) -> Vec<output::plot::Panel> {
    let at = if g.dim == 3 { g.n[2] / 2 } else { 0 };
    let suffix = if g.dim == 3 { format!(", z = {:.1} nm", g.center_coord(2, at)) } else { String::new() };
    let cells: Vec<usize> = (0..g.n[1]).flat_map(|j| (0..g.n[0]).map(move |i| (i, j))).map(|(i, j)| g.index(i, j, at)).collect();
    data.iter()
        .map(|&(title, unit, d, scale)| {
            let mut p = output::plot::Panel::new(
                format!("{title}{suffix}"),
                g.n[0],
                g.n[1],
                (g.origin[0], g.origin[0] + g.n[0] as f64 * g.h[0]),
                (g.origin[1], g.origin[1] + g.n[1] as f64 * g.h[1]),
                "x (nm)",
                "y (nm)",
                cells.iter().map(|&c| d[c]).collect(),
                unit,
            );
            p.scale = scale;
            if map.dominant.len() == g.len() {
                p.regions = cells.iter().map(|&c| map.dominant[c]).collect();
            }
            p
        })
        .collect()
}

/// The results document of a device solve (notices, tolerances, reason and timings are
/// filled in by [`run`]).
pub(super) fn device_results(loaded: &LoadedScene, model: &DeviceModel, sol: &DeviceSolution) -> DeviceResults {
    let scene = &loaded.scene;
    let g = &model.grid;
    let ch = &sol.charge;
    let (cmin, cmax) = sol.phi.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    // the span includes the values the contacts hold on the boundary faces: the cell
    // centres alone understate the contact-to-contact drop by half a cell's field each side
    let (pmin, pmax) = model.contacts.iter().fold((cmin, cmax), |(a, b), c| (a.min(c.potential_v[0]), b.max(c.potential_v[1])));
    let total = |v: &[f64]| v.iter().sum::<f64>();
    // integrated charges: per cm² (1D), per cm (2D), a number (3D)
    let integral = |v: &[f64]| total(v) * g.cell_volume() * 10f64.powi(-7 * g.dim as i32);
    let unit = ["", "cm^-2", "cm^-1", "electrons"][g.dim];
    let quantum = sol.quantum.as_ref().map(|q| {
        let occ = q.occupations(model.ef_n, model.kt);
        let occ_unit = ["", "cm^-2", "cm^-1", "electrons"][q.dim];
        let occ_scale = 10f64.powi(7 * (3 - q.dim as i32)); // per nm^(3-d) → per cm^(3-d)
        let states = q
            .energies
            .iter()
            .zip(&occ)
            .enumerate()
            .map(|(i, (&e, o))| QuantumState {
                index: i,
                energy_ev: e,
                energy_minus_ef_mev: (e - model.ef_n) * 1e3,
                electrons: o * occ_scale,
                in_plane_mass_m0: q.m_free.get(i).copied(),
                bound: q.is_bound(i),
            })
            .collect();
        let last_occ = occ.last().copied().unwrap_or(0.0) / occ.first().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
        QuantumReport {
            dimension: q.dim,
            cells: q.cells.len(),
            states,
            electrons_unit: occ_unit,
            electrons_total: occ.iter().sum::<f64>() * occ_scale,
            highest_state_relative_occupation: last_occ,
            continuum_edge_ev: q.continuum_edge_ev,
            bound: "a state is bound (states[].bound) when its energy lies below continuum_edge_ev, the lowest Ec on the quantum region's faces inside the domain (null: the region fills the domain and every state counts): above it the state is not bound by the structure but by the artificial ψ = 0 wall at the region's edge (in a tilted band at best quasi-bound), and holds no electrons: the classical density above the edge counts them",
            in_plane_mass: "the in-plane (free-direction) mass of each subband's density of states, from first-order k·p: 1/m = ⟨ψ|1/m*(r)|ψ⟩",
            note: if last_occ > 1e-3 { "the highest computed state still holds more than 0.1 % of the lowest one's electrons: ask for more states" } else { "all occupied states computed" },
        }
    });
    // the numbers a sweep tabulates per point (sweep.csv columns)
    let mut key = BTreeMap::new();
    let bare = unit.replace('^', "");
    key.insert("potential_span_v".to_string(), Quantity::Value(pmax - pmin));
    key.insert(format!("electrons_{bare}"), Quantity::Value(integral(&ch.n)));
    key.insert(format!("holes_{bare}"), Quantity::Value(integral(&ch.p)));
    if let Some(q) = &quantum {
        key.insert(format!("quantum_electrons_{}", q.electrons_unit.replace('^', "")), Quantity::Value(q.electrons_total));
    }
    key.insert("self_consistent_iterations".into(), Quantity::Count(sol.history.len() as u64));
    key.extend(quantum_region_quantities(model, sol).into_iter().map(|(k, v)| (k, Quantity::Value(v))));
    let mode = match scene.solve.mode {
        SolveMode::Poisson => "poisson",
        SolveMode::SelfConsistent => "self_consistent",
        SolveMode::Schrodinger => "schrodinger",
    };
    DeviceResults {
        schema_version: SCHEMA_VERSION,
        key_quantities: key,
        program: Program::this(),
        mode,
        status: Status::of(sol.converged),
        converged: sol.converged,
        scene_file: loaded.path.display().to_string(),
        scene: scene.clone(),
        units: DeviceUnits::default(),
        grid: GridReport {
            dimension: g.dim,
            cells: g.dims(),
            unknowns: g.len(),
            spacing_nm: g.h[..g.dim].to_vec(),
            origin_nm: g.origin[..g.dim].to_vec(),
            nodes_nm: None,
            periodic: None,
            matrix_nonzeros: None,
        },
        temperature_k: model.temperature,
        statistics: model.statistics,
        materials: prepare::material_db(loaded)
            .and_then(|db| prepare::resolve_fills(scene, &db))
            .map(|f| prepare::materials_table(&f, crate::materials::Carrier::Electron, model.temperature))
            .unwrap_or_default(),
        reference: DeviceReference { lowest_band_edge_ev: model.bands.iter().zip(&sol.phi).map(|(b, p)| b.ec0 - p).fold(f64::INFINITY, f64::min) },
        holes_included: model.holes,
        fermi_levels_ev: FermiLevels { electrons: model.ef_n, holes: model.ef_p },
        contacts: model.contacts.iter().map(ContactReport::from).collect(),
        potential_v: PotentialReport {
            min: pmin,
            max: pmax,
            span: pmax - pmin,
            cell_centres: Span { min: cmin, max: cmax, span: cmax - cmin },
            note: "min, max and span include the potentials the contacts hold on the boundary faces",
        },
        charge: ChargeReport {
            unit,
            electrons: integral(&ch.n),
            holes: integral(&ch.p),
            net: integral(&ch.rho),
            donors_ionised: integral(&ch.donors_ionised),
            acceptors_ionised: integral(&ch.acceptors_ionised),
        },
        classical_poisson: sol.classical.clone(),
        self_consistency: SelfConsistency {
            iterations: sol.history.len(),
            tolerance_v: scene.solve.poisson_options().tolerance,
            stopped_because: sol.stopped_because.clone(),
            // electrons in the quantum region in the units of `charge` (cm^-2, cm^-1, a number)
            history: sol
                .history
                .iter()
                .map(|h| HistoryRow {
                    iteration: h.iteration,
                    potential_change_v: h.potential_change_v,
                    ground_state_ev: h.ground_state_ev,
                    newton_iterations: h.newton_iterations,
                    charge_residual_cm3: h.charge_residual_cm3,
                    seconds: h.seconds,
                    quantum_electrons: BTreeMap::from([(format!("quantum_electrons_{bare}"), h.quantum_electrons * 10f64.powi(7 * (3 - g.dim as i32)))]),
                })
                .collect(),
            tolerance_requested_v: f64::NAN,
            tolerance_used_v: f64::NAN,
            warm_start: None,
        },
        quantum,
        eigensolver: sol.eigen.as_ref().map(|e| EigenSummary {
            method: e.method.clone(),
            matvecs: e.matvecs,
            converged: e.converged,
            tolerance: e.tolerance,
            outer_iterations: e.outer_iterations,
            host_syncs: e.host_syncs,
        }),
        backend: BackendReport { name: sol.backend.clone(), details: sol.backend_details.clone() },
        notices: Vec::new(),
        reason: None,
        timings_s: DeviceTimings::default(),
        peak_memory_bytes: None,
        files: None,
    }
}

/// Key quantities of the quantum region (for results.json and sweep.csv):
/// `quantum_continuum_edge_ev`, the continuum edge of the last Schrödinger solve (see
/// [`QuantumCharge::continuum_edge_ev`](crate::physics::device::QuantumCharge)); and the
/// ground level against the band edge of its own well, `well_edge_ev` and
/// `ground_state_minus_well_edge_mev` = E0 − ⟨Ec⟩_well. The well is the connected set of
/// quantum cells of the lowest flat-band edge Ec0 (the well or dot material, cut cells left
/// out) that holds the largest |ψ0|², reported only when it is enclosed in the region
/// (touches none of its faces: not for a single heterojunction, whose triangular well is
/// made by the field); ⟨Ec⟩_well = ⟨Ec0 − φ⟩ over its cells is the band edge at its centre
/// when the field across it is uniform. E0 itself follows the electrostatic
/// potential of the whole well (a bias moves it by the potential drop to the well); E0 −
/// ⟨Ec⟩_well is the confinement energy, whose change with the field is the quantum-confined
/// Stark shift (small and quadratic at low field).
fn quantum_region_quantities(model: &DeviceModel, sol: &DeviceSolution) -> Vec<(String, f64)> {
    let Some(q) = &sol.quantum else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(edge) = q.continuum_edge_ev {
        out.push(("quantum_continuum_edge_ev".to_string(), edge));
    }
    let (Some(&e0), Some(psi)) = (q.energies.first(), q.states.first()) else { return out };
    if sol.phi.len() != model.grid.len() {
        return out;
    }
    let g = &model.grid;
    let ec0_min = q.cells.iter().map(|&c| model.bands[c].ec0).fold(f64::INFINITY, f64::min);
    let mut in_well = vec![false; g.len()];
    for &c in &q.cells {
        in_well[c] = model.bands[c].ec0 <= ec0_min + 1e-6;
    }
    let Some(start) = q.cells.iter().zip(psi).filter(|(&c, _)| in_well[c]).max_by(|a, b| (a.1 * a.1).total_cmp(&(b.1 * b.1))).map(|(&c, _)| c) else { return out };
    // the region's index box, to tell an enclosed well from one that runs into a face
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for &c in &q.cells {
        let ijk = g.ijk(c);
        for a in 0..3 {
            lo[a] = lo[a].min(ijk[a]);
            hi[a] = hi[a].max(ijk[a]);
        }
    }
    let mut enclosed = true;
    // flood fill over face neighbours
    let mut seen = vec![false; g.len()];
    let mut stack = vec![start];
    seen[start] = true;
    let (mut sum, mut count) = (0.0, 0usize);
    while let Some(c) = stack.pop() {
        sum += model.bands[c].ec0 - sol.phi[c];
        count += 1;
        let ijk = g.ijk(c);
        enclosed &= (0..g.dim).all(|a| ijk[a] > lo[a] && ijk[a] < hi[a]);
        for a in 0..g.dim {
            for up in [false, true] {
                let mut n = ijk;
                if up {
                    if n[a] + 1 >= g.n[a] {
                        continue;
                    }
                    n[a] += 1;
                } else {
                    if n[a] == 0 {
                        continue;
                    }
                    n[a] -= 1;
                }
                let m = g.index(n[0], n[1], n[2]);
                if in_well[m] && !seen[m] {
                    seen[m] = true;
                    stack.push(m);
                }
            }
        }
    }
    if !enclosed {
        // a heterojunction's triangular well runs into the region's face: no well edge
        return out;
    }
    let well_edge = sum / count as f64;
    out.push(("well_edge_ev".to_string(), well_edge));
    out.push(("ground_state_minus_well_edge_mev".to_string(), (e0 - well_edge) * 1e3));
    out
}
