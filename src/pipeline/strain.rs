//! The scene's `strain` block in a run: the elasticity problem from the painted fills
//! (per-cell constants and eigenstrain against the reference lattice), its solve, the
//! band-edge shift of the carrier ([`crate::physics::strain::band_shift`]), with
//! `strain.piezoelectric` the piezoelectric charge and potential
//! ([`crate::physics::strain::piezo`]), the summary results.json records and the strain
//! files of the output folder.
//!
//! Units: lengths nm, elastic constants GPa, energies eV, lattice constants Å, e14 C/m²,
//! potentials V, charge densities cm⁻³ of elementary charges.

use serde::Serialize;

use crate::backend::select::EarlyGpu;
use crate::error::{QdError, Result};
use crate::grid::{Grid, MaterialMap};
use crate::materials::{Carrier, MaterialDb, StrainConstants};
use crate::output::{self, OutputDir};
use crate::linalg::cg::CgOptions;
use crate::physics::poisson::PoissonSolveOptions;
use crate::physics::strain::piezo::{PiezoBoundary, PiezoProblem};
use crate::physics::strain::{band_shift, biaxial, trace, ElasticProblem, FaceBc, StrainSolveOptions};
use crate::scene::Scene;

use super::prepare::FillInfo;

/// The strain of a run: per cell the elastic strain, its trace and biaxial part, and the
/// band-edge shift of the scene's carrier (eV, carrier-energy convention).
#[derive(Clone, Debug)]
pub struct StrainField {
    pub summary: StrainSummary,
    /// Elastic strain per cell: xx, yy, zz, yz, xz, xy.
    pub elastic: Vec<[f64; 6]>,
    pub trace: Vec<f64>,
    pub biaxial: Vec<f64>,
    pub shift: Vec<f64>,
    /// With `strain.piezoelectric`: the bound charge and its potential.
    pub piezo: Option<PiezoField>,
}

/// The piezoelectric part of a strain field, per cell.
#[derive(Clone, Debug)]
pub struct PiezoField {
    /// Bound charge −∇·P, cm⁻³ of elementary charges.
    pub charge_cm3: Vec<f64>,
    /// Potential φ, V.
    pub potential_v: Vec<f64>,
    /// The carrier's potential energy in φ, eV, carrier-energy convention (electrons −φ,
    /// holes +φ): what is added to the carrier's potential.
    pub energy_ev: Vec<f64>,
}

/// The piezoelectric part of `strain` in results.json (flattened into it: the keys carry
/// the `piezo_` prefix).
#[derive(Clone, Debug, Serialize)]
pub struct PiezoSummary {
    /// "dirichlet" (φ = 0 on the non-periodic faces) or "neumann".
    pub piezo_boundary: &'static str,
    pub piezo_potential_min_v: f64,
    pub piezo_potential_max_v: f64,
    pub piezo_charge_min_cm3: f64,
    pub piezo_charge_max_cm3: f64,
    /// Σ ρ over the cells relative to Σ |ρ| (0 up to rounding unless charge leaves through
    /// Dirichlet faces).
    pub piezo_net_charge_relative: f64,
    pub piezo_pcg_iterations: usize,
    pub piezo_relative_residual: f64,
    pub piezo_converged: bool,
    pub piezo_solve_s: f64,
    pub piezo_model: &'static str,
}

/// `strain` in results.json.
#[derive(Clone, Debug, Serialize)]
pub struct StrainSummary {
    /// The reference lattice: "background", "substrate (<fill>)" or the material's name.
    pub reference: String,
    pub reference_material: String,
    pub reference_lattice_constant_angstrom: f64,
    /// Conditions of the faces x−, x+, y−, y+, z− and z+ of the domain's axes.
    pub boundary: Vec<&'static str>,
    /// The axis the heavy/light-hole shifts are quantised along.
    pub growth_axis: &'static str,
    /// Eigenstrain (a − a_ref)/a per fill, in fill order.
    pub fill_eigenstrain: Vec<f64>,
    pub trace_min: f64,
    pub trace_max: f64,
    /// Biaxial part ε_nn − (Tr ε − ε_nn)/2 about the growth axis n.
    pub biaxial_min: f64,
    pub biaxial_max: f64,
    /// Shift of the carrier's band edge (carrier-energy convention), eV.
    pub band_shift_min_ev: f64,
    pub band_shift_max_ev: f64,
    pub pcg_iterations: usize,
    pub relative_residual: f64,
    pub tolerance: f64,
    pub converged: bool,
    pub unknowns: usize,
    pub matrix_nonzeros: usize,
    /// Nodes per axis of the multigrid levels, finest first.
    pub multigrid_levels: Vec<[usize; 3]>,
    pub setup_s: f64,
    pub solve_s: f64,
    /// The parts of `setup_s` (fine assembly, coarse levels, upload) and the host's share of
    /// `solve_s` (the f64 refinement of a GPU solve), s.
    pub assembly_s: f64,
    pub hierarchy_s: f64,
    pub upload_s: f64,
    pub refinement_host_s: f64,
    pub backend: &'static str,
    pub model: &'static str,
    /// Whether the piezoelectric potential is computed (`strain.piezoelectric`).
    pub piezoelectric: bool,
    #[serde(flatten)]
    pub piezo: Option<PiezoSummary>,
}

const MODEL: &str = "linear elasticity of cubic crystals (axes = grid axes), Q1 elements at the nodes, lattice mismatch as the dilatational eigenstrain (a - a_ref)/a; \
strain reported and used = elastic strain (relative to the local unstrained lattice); dEc = a_c Tr e; holes: diagonal Bir-Pikus terms about the growth axis n, \
dE_hh = -a_v Tr e - b e_B, dE_lh = -a_v Tr e + b e_B, e_B = e_nn - (Tr e - e_nn)/2 (VMR signs, a_v < 0); shear (d) terms, split-off coupling and strained masses neglected; \
with strain.piezoelectric: first-order piezoelectric polarization (below)";

const PIEZO_MODEL: &str = "zincblende first-order piezoelectricity, cubic axes = grid axes: P = 2 e14 (e_yz, e_xz, e_xy) C/m^2 (e14 GaAs -0.16, InAs -0.045, Bester et al. 2006), \
bound charge -div P by finite volumes (face P = mean of the two cells), -div(eps0 eps_r grad phi) = rho, carrier energy -phi (electrons), +phi (holes); \
second-order piezoelectricity neglected";

/// Which field of the scene a fill's material is: `background.material` or `regions[i].material`.
fn fill_field(f: usize) -> String {
    if f == 0 {
        "background.material".into()
    } else {
        format!("regions[{}].material", f - 1)
    }
}

/// The strain of the scene, or None without an enabled `strain` block.
///
/// `gpu`: the adapter a `gpu` run opens ahead, which the elasticity solve uses when it is
/// open (see below); None solves on the CPU.
pub fn compute(scene: &Scene, db: &MaterialDb, fills: &[FillInfo], grid: &Grid, map: &MaterialMap, carrier: Carrier, gpu: Option<&EarlyGpu>) -> Result<Option<StrainField>> {
    let Some(st) = scene.strain.as_ref().filter(|s| s.enabled) else { return Ok(None) };
    let t = scene.temperature;
    let consts: Vec<StrainConstants> = fills
        .iter()
        .enumerate()
        .map(|(i, f)| f.material.strain_constants(t).map_err(|(field, reason)| QdError::input(fill_field(i), format!("{reason} (property \"{field}\" of the materials database)"))))
        .collect::<Result<_>>()?;
    let growth = st.growth_axis.map(|a| a.index()).unwrap_or(grid.dim - 1);
    // e14 of every fill, before any solve: a missing one is the scene's input error
    let e14_fill: Option<Vec<f64>> = if st.piezoelectric {
        let v = fills
            .iter()
            .enumerate()
            .map(|(i, f)| {
                f.material.strain_param("e14").ok_or_else(|| {
                    QdError::input(
                        fill_field(i),
                        format!(
                            "{} has no piezoelectric constant e14 (C/m²), which strain.piezoelectric needs: give \"e14\" in a materials file (property \"e14\" of the materials database)",
                            f.material.name
                        ),
                    )
                })
            })
            .collect::<Result<_>>()?;
        Some(v)
    } else {
        None
    };
    let piezo_bc = match crate::scene::validate::piezo_boundary(st)? {
        "neumann" => PiezoBoundary::Neumann,
        _ => PiezoBoundary::Dirichlet,
    };
    // the reference lattice
    let (reference, ref_material, a_ref) = match st.reference.as_deref() {
        None | Some("background") => ("background".to_string(), fills[0].material.name.clone(), consts[0].a_lc),
        Some("substrate") => {
            let mut ijk: [usize; 3] = std::array::from_fn(|a| grid.n[a] / 2);
            ijk[growth] = 0;
            let f = map.dominant[grid.index(ijk[0], ijk[1], ijk[2])] as usize;
            (format!("substrate ({})", fills[f].label), fills[f].material.name.clone(), consts[f].a_lc)
        }
        Some(name) => {
            let m = db.resolve(name, st.reference_x).map_err(|e| {
                let field = if e.starts_with("unknown material") { "strain.reference" } else { "strain.reference_x" };
                QdError::input(field, e)
            })?;
            let a = m.strain_constants(t).map(|c| c.a_lc).unwrap_or_else(|_| m.lattice_constant(t));
            (name.to_string(), m.name.clone(), a)
        }
    };
    let fill_eps: Vec<f64> = consts.iter().map(|c| (c.a_lc - a_ref) / c.a_lc).collect();
    let per = |f: &dyn Fn(&StrainConstants, f64) -> f64| -> Vec<f64> {
        let v: Vec<f64> = consts.iter().zip(&fill_eps).map(|(c, &e)| f(c, e)).collect();
        map.average(&v)
    };
    let c11 = per(&|c, _| c.c11);
    let c12 = per(&|c, _| c.c12);
    let c44 = per(&|c, _| c.c44);
    let eigenstrain = per(&|_, e| e);
    let eigenstress = per(&|c, e| (c.c11 + 2.0 * c.c12) * e);
    let a_c = per(&|c, _| c.a_c);
    let a_v = per(&|c, _| c.a_v);
    let b = per(&|c, _| c.b);
    let periodic = scene.domain.periodic.clone().unwrap_or_default();
    let mut faces = [FaceBc::Periodic; 6];
    let mut boundary = Vec::new();
    for a in 0..grid.dim {
        let names = crate::scene::validate::strain_faces(st, a, periodic.get(a).copied().unwrap_or(false))?;
        for (s, n) in names.iter().enumerate() {
            faces[2 * a + s] = match *n {
                "free" => FaceBc::Free,
                "clamped" => FaceBc::Clamped,
                _ => FaceBc::Periodic,
            };
            boundary.push(faces[2 * a + s].as_str());
        }
    }
    let c: Vec<[f64; 3]> = (0..grid.len()).map(|i| [c11[i], c12[i], c44[i]]).collect();
    let problem = ElasticProblem { grid: grid.clone(), c, eigenstrain, eigenstress, faces };
    let mut opts = StrainSolveOptions::default();
    opts.cg.tol = st.tolerance;
    opts.cg.max_iterations = st.max_iterations;
    // the elasticity solve runs on the GPU opened ahead for a `gpu` run (f32 PCG inside
    // f64 refinement there), where its operator's indices fit 32 bits (81 nonzeros per
    // row: a 3D grid below ~250³ cells); otherwise, and for the piezoelectric Poisson
    // solve, on the CPU backend
    let be = crate::backend::CpuBackend::new();
    let nodes: usize = (0..3).map(|a| grid.n[a] + 1).product();
    let on_gpu = gpu.filter(|_| 81 * 3 * nodes < u32::MAX as usize).and_then(|e| e.with(|g| problem.solve(g, &opts)));
    let (sol, backend) = match on_gpu {
        Some(s) => (s?, "gpu"),
        None => (problem.solve(&be, &opts)?, "cpu"),
    };
    let tr: Vec<f64> = sol.elastic.iter().map(trace).collect();
    let bi: Vec<f64> = sol.elastic.iter().map(|e| biaxial(e, growth)).collect();
    let shift: Vec<f64> = (0..grid.len()).map(|i| band_shift(carrier, &sol.elastic[i], a_c[i], a_v[i], b[i], growth)).collect();
    if let Some(i) = shift.iter().position(|v| !v.is_finite()) {
        return Err(QdError::NotConverged(format!("strain: the band shift is not finite at cell {i} (PCG relative residual {:e})", sol.cg.relative_residual)));
    }
    let range = |v: &[f64]| v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    // the piezoelectric charge of the elastic strain and its potential (same tolerance and
    // iteration cap as the elasticity PCG)
    let mut piezo = None;
    let mut piezo_summary = None;
    if let Some(e14_fill) = &e14_fill {
        let eps_fill: Vec<f64> = fills.iter().map(|f| f.material.eps_r).collect();
        let pp = PiezoProblem { grid: grid.clone(), eps_r: map.average(&eps_fill), e14: map.average(e14_fill), boundary: piezo_bc };
        let popts = PoissonSolveOptions { cg: CgOptions { tol: st.tolerance, max_iterations: st.max_iterations }, ..Default::default() };
        let ps = pp.solve(&be, &sol.elastic, &popts)?;
        if let Some(i) = ps.phi.iter().position(|v| !v.is_finite()) {
            return Err(QdError::NotConverged(format!("strain: the piezoelectric potential is not finite at cell {i} (PCG relative residual {:e})", ps.cg.relative_residual)));
        }
        let sign = match carrier {
            Carrier::Electron => -1.0,
            Carrier::HeavyHole | Carrier::LightHole => 1.0,
        };
        let (pmin, pmax) = range(&ps.phi);
        let (qmin, qmax) = range(&ps.charge_cm3);
        // (graded grids: charges weighted by the cell volumes)
        let vol = |c: usize| if grid.is_graded() { grid.volume(c) } else { 1.0 };
        let total: f64 = ps.charge_cm3.iter().enumerate().map(|(c, q)| q.abs() * vol(c)).sum();
        let net: f64 = ps.charge_cm3.iter().enumerate().map(|(c, q)| q * vol(c)).sum();
        piezo_summary = Some(PiezoSummary {
            piezo_boundary: piezo_bc.as_str(),
            piezo_potential_min_v: pmin,
            piezo_potential_max_v: pmax,
            piezo_charge_min_cm3: qmin,
            piezo_charge_max_cm3: qmax,
            piezo_net_charge_relative: if total > 0.0 { net / total } else { 0.0 },
            piezo_pcg_iterations: ps.cg.iterations,
            piezo_relative_residual: ps.cg.relative_residual,
            piezo_converged: ps.cg.converged,
            piezo_solve_s: ps.solve_s,
            piezo_model: PIEZO_MODEL,
        });
        let energy_ev = ps.phi.iter().map(|p| sign * p).collect();
        piezo = Some(PiezoField { charge_cm3: ps.charge_cm3, potential_v: ps.phi, energy_ev });
    }
    let (trace_min, trace_max) = range(&tr);
    let (biaxial_min, biaxial_max) = range(&bi);
    let (band_shift_min_ev, band_shift_max_ev) = range(&shift);
    let summary = StrainSummary {
        reference,
        reference_material: ref_material,
        reference_lattice_constant_angstrom: a_ref,
        boundary,
        growth_axis: ["x", "y", "z"][growth],
        fill_eigenstrain: fill_eps,
        trace_min,
        trace_max,
        biaxial_min,
        biaxial_max,
        band_shift_min_ev,
        band_shift_max_ev,
        pcg_iterations: sol.cg.iterations,
        relative_residual: sol.cg.relative_residual,
        tolerance: st.tolerance,
        converged: sol.cg.converged,
        unknowns: sol.unknowns,
        matrix_nonzeros: sol.nonzeros,
        multigrid_levels: sol.levels.clone(),
        setup_s: sol.setup_s,
        solve_s: sol.solve_s,
        assembly_s: sol.assembly_s,
        hierarchy_s: sol.hierarchy_s,
        upload_s: sol.upload_s,
        refinement_host_s: sol.refinement_host_s,
        backend,
        model: MODEL,
        piezoelectric: st.piezoelectric,
        piezo: piezo_summary,
    };
    Ok(Some(StrainField { summary, elastic: sol.elastic, trace: tr, biaxial: bi, shift, piezo }))
}

/// The component names of [`StrainField::elastic`].
pub const COMPONENTS: [&str; 6] = ["xx", "yy", "zz", "yz", "xz", "xy"];

/// Write the strain files: `strain_<ij>.npy`, `strain_trace.npy`, `strain_biaxial.npy`,
/// `band_shift.npy` (with piezoelectricity also `piezo_potential.npy`, V, and
/// `piezo_charge.npy`, cm⁻³), `strain.vti` and `strain.png`, as the scene's output switches say.
pub fn write_files(out: &OutputDir, scene: &Scene, grid: &Grid, s: &StrainField) -> Result<Vec<String>> {
    let mut files = Vec::new();
    let comps: Vec<Vec<f64>> = (0..6).map(|k| s.elastic.iter().map(|e| e[k]).collect()).collect();
    let mut fields: Vec<(String, &[f64])> = COMPONENTS.iter().zip(&comps).map(|(c, v)| (format!("strain_{c}"), v.as_slice())).collect();
    fields.push(("strain_trace".into(), &s.trace));
    fields.push(("strain_biaxial".into(), &s.biaxial));
    fields.push(("band_shift".into(), &s.shift));
    if let Some(p) = &s.piezo {
        fields.push(("piezo_potential".into(), &p.potential_v));
        fields.push(("piezo_charge".into(), &p.charge_cm3));
    }
    // the data files, written concurrently (names in this order); the plot follows
    let refs: Vec<(&str, &[f64])> = fields.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    let mut jobs = Vec::new();
    if scene.output.npy {
        for (name, data) in &fields {
            let (f, dims) = (format!("{name}.npy"), grid.dims());
            let path = out.path(&f);
            jobs.push(output::WriteJob::file(f, move || output::npy::write_npy(&path, &dims, data)));
        }
    }
    if scene.output.vtk {
        let refs = &refs;
        let name = if grid.is_graded() { "strain.vtr" } else { "strain.vti" };
        jobs.push(output::WriteJob::file(name, move || super::schrodinger::write_vtk(out, "strain", grid, refs).map(|_| ())));
    }
    files.extend(output::run_jobs(jobs)?);
    if scene.output.plots {
        let title = format!("{}: strain", scene.name.clone().unwrap_or_else(|| "qdsim-gpu".into()));
        let path = out.path("strain.png");
        if grid.dim == 1 {
            let x = grid.axis_centers(0);
            let mut series = vec![
                ("Tr ε (%)".to_string(), s.trace.iter().map(|v| 100.0 * v).collect::<Vec<f64>>()),
                (format!("biaxial ε_B about {} (%)", s.summary.growth_axis), s.biaxial.iter().map(|v| 100.0 * v).collect()),
                ("band shift (meV / 10)".to_string(), s.shift.iter().map(|v| 100.0 * v).collect()),
            ];
            if let Some(p) = &s.piezo {
                series.push(("piezo potential (mV / 10)".to_string(), p.potential_v.iter().map(|v| 100.0 * v).collect()));
            }
            output::plot::plot_profiles(&path, &title, "x (nm)", "strain (%)", &x, &series)?;
        } else {
            output::plot::plot_panels(&path, &title, &slice_panels(grid, s))?;
        }
        files.push("strain.png".into());
    }
    Ok(files)
}

/// Heat maps of Tr ε, the biaxial part, the band shift and the piezoelectric potential
/// (where computed): the plane in 2D; in 3D the
/// xz plane through the domain's centre (the growth cross-section) and the xy plane.
fn slice_panels(g: &Grid, s: &StrainField) -> Vec<output::plot::Panel> {
    let names = ["x", "y", "z"];
    let mut planes: Vec<(usize, usize, Option<(usize, usize)>)> = Vec::new(); // (u axis, v axis, fixed (axis, index))
    if g.dim == 2 {
        planes.push((0, 1, None));
    } else {
        planes.push((0, 2, Some((1, g.n[1] / 2))));
        planes.push((0, 1, Some((2, g.n[2] / 2))));
    }
    let mut panels = Vec::new();
    for (u, v, fixed) in planes {
        // (a graded grid's plane resampled on a uniform raster, so cells show where they are)
        let raster = |a: usize| match &g.nodes {
            Some(x) => output::plot::graded_raster(&x[a], g.h[a]),
            None => (0..g.n[a]).collect(),
        };
        let (ru, rv) = (raster(u), raster(v));
        let (nu, nv) = (ru.len(), rv.len());
        let pick = |data: &[f64], scale: f64| -> Vec<f64> {
            let mut out = Vec::with_capacity(nu * nv);
            for &j in &rv {
                for &i in &ru {
                    let mut ijk = [0usize; 3];
                    ijk[u] = i;
                    ijk[v] = j;
                    if let Some((a, k)) = fixed {
                        ijk[a] = k;
                    }
                    out.push(scale * data[g.index(ijk[0], ijk[1], ijk[2])]);
                }
            }
            out
        };
        let ur = (g.edge(u, 0), g.edge(u, g.n[u]));
        let vr = (g.edge(v, 0), g.edge(v, g.n[v]));
        let at = fixed.map(|(a, k)| format!(" at {} = {:.2} nm", names[a], g.center_coord(a, k))).unwrap_or_default();
        let mut maps: Vec<(&str, &[f64], f64, &str)> = vec![("Tr ε", &s.trace, 100.0, "%"), ("biaxial ε_B", &s.biaxial, 100.0, "%"), ("band shift", &s.shift, 1e3, "meV")];
        if let Some(p) = &s.piezo {
            maps.push(("piezo potential", &p.potential_v, 1e3, "mV"));
        }
        for (what, data, scale, unit) in maps {
            panels.push(output::plot::Panel::new(
                format!("{what}{at}"),
                nu,
                nv,
                ur,
                vr,
                format!("{} (nm)", names[u]),
                format!("{} (nm)", names[v]),
                pick(data, scale),
                unit,
            ));
        }
    }
    panels
}
