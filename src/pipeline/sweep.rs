//! Parameter sweeps (`qdsim-gpu sweep`): one solve per value of one or more scene fields
//! addressed by JSON path (`regions[0].shape.radius`, `background.x`,
//! `contacts[1].voltage`), each point started from the previous point's solution.
//!
//! Steps, in order:
//! 1. [`SweepSpec`]: the parameters and their values, from `--set PATH=VALUES` (several
//!    `--set` with equally many values are zipped: point i takes value i of each) or from
//!    the scene's `sweep` block.
//! 2. [`points`]: every point's scene is built (the assignments applied to the base scene,
//!    whose own `sweep` block is dropped) and checked — parsed, validated, materials
//!    resolved, grid and memory checked — before anything is solved or written; the first
//!    bad point is an input error naming it (exit 2).
//! 3. [`run`]: each point goes through [`super::run`], the single-point solve
//!    `qdsim-gpu solve` uses, with the previous point's [`WarmStart`] (eigenvectors, and the
//!    potential a self-consistent mode sets). A point that does not converge is recorded and
//!    flagged and the sweep goes on; the report says whether all converged (exit 3 if not).
//! 4. The output folder, written atomically ([`OutputDir`]): `sweep.csv`, `sweep.json`,
//!    `levels.png`, and with `keep_points` each point's full output in `points/NNN/`.
//!
//! Extension point for modes with more results than energies: a run whose results.json
//! holds an object `key_quantities` of name → number (for example the self-consistent
//! mode's iterations, sheet density or built-in voltage) gets one CSV column per name, in
//! the order first seen, and the numbers in each point of sweep.json. Units belong in the
//! names (`sheet_density_cm2`).
//!
//! Units: parameter values as written in the scene (nm, eV, V, K, cm^-3, fractions),
//! energies eV, times s.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::error::{QdError, Result};
use crate::grid::Grid;
use crate::linalg::lanczos::LanczosProgress;
use crate::output::{self, OutputDir};
use crate::scene::path::{parse_assignment, with_value, JsonPath, Step};
use crate::scene::{parse_scene, BackendChoice, LoadedScene};
use super::options::{Progress, RunOptions, WarmStart};
use super::report::{
    PointReference, PointSolver, PointStates, PointTimings, Program, Quantity, Results, Status, SweepParameter, SweepPoint, SweepSummary, SweepTotals, SweepUnits, SCHEMA_VERSION,
};
use super::prepare;

pub use crate::scene::{too_many, MAX_SWEEP_POINTS};

/// One swept field: its path and its values, in order.
#[derive(Clone, Debug)]
pub struct Parameter {
    pub path: JsonPath,
    pub values: Vec<Value>,
}

/// What to sweep: parameters with the same number of values, varied together.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    pub parameters: Vec<Parameter>,
    /// Where the spec came from, for error messages: "--set" or "sweep".
    pub source: &'static str,
}

impl SweepSpec {
    /// From `--set PATH=VALUES` arguments (at least one). Different value counts are an
    /// input error at `--set`.
    pub fn from_sets(sets: &[String]) -> Result<SweepSpec> {
        if sets.is_empty() {
            return Err(QdError::input("--set", "no parameter given: pass --set PATH=VALUES"));
        }
        let mut parameters = Vec::with_capacity(sets.len());
        for s in sets {
            // (parse_assignment refuses counts above MAX_SWEEP_POINTS before building them)
            let (path, values) = parse_assignment(s)?;
            if values.len() > MAX_SWEEP_POINTS {
                return Err(too_many("--set", &format!("`{s}`"), values.len()));
            }
            let values = values.into_iter().map(tidy).collect();
            if parameters.iter().any(|p: &Parameter| p.path == path) {
                return Err(QdError::input("--set", format!("`{path}` is set twice")));
            }
            parameters.push(Parameter { path, values });
        }
        let n0 = parameters[0].values.len();
        if let Some(p) = parameters.iter().find(|p| p.values.len() != n0) {
            let counts: Vec<String> = parameters.iter().map(|p| format!("{} has {}", p.path, p.values.len())).collect();
            return Err(QdError::input(
                "--set",
                format!(
                    "parameters swept together need the same number of values, but {} (`{}` differs): each point takes the i-th value of every --set",
                    counts.join(", "),
                    p.path
                ),
            ));
        }
        Ok(SweepSpec { parameters, source: "--set" })
    }

    /// From the scene's `sweep` block.
    pub fn from_scene(loaded: &LoadedScene) -> Result<SweepSpec> {
        let sw = loaded.scene.sweep.as_ref().ok_or_else(|| {
            QdError::input(
                "sweep",
                format!("{} has no sweep block: add one (docs/scene-format.md#sweep) or pass --set PATH=VALUES", loaded.path.display()),
            )
        })?;
        let path = JsonPath::parse(&sw.parameter)?;
        let count = match &sw.values {
            crate::scene::SweepValues::List(v) => v.len(),
            crate::scene::SweepValues::Range(r) => r.steps,
        };
        if count > MAX_SWEEP_POINTS {
            return Err(too_many("sweep.values", &format!("the sweep of `{}`", sw.parameter), count));
        }
        let values = sw.values.values().into_iter().map(tidy).collect();
        Ok(SweepSpec { parameters: vec![Parameter { path, values }], source: "sweep" })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.parameters.first().map_or(0, |p| p.values.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// "path = value, path = value" of point `i`.
    pub fn describe(&self, i: usize) -> String {
        self.parameters.iter().map(|p| format!("{} = {}", p.path, p.values[i])).collect::<Vec<_>>().join(", ")
    }
}

/// A number rounded to 12 significant digits, so that a range's values read as written
/// (0.15, not 0.15000000000000002 from the arithmetic of evenly spaced points); other
/// values unchanged. Integers stay integers.
fn tidy(v: Value) -> Value {
    match v.as_f64() {
        Some(x) if !v.is_i64() && !v.is_u64() && x.is_finite() => {
            let r: f64 = format!("{x:.11e}").parse().unwrap_or(x);
            Value::from(r)
        }
        _ => v,
    }
}

/// The quantity a path's last field holds and its unit, for axis labels and CSV headers:
/// lengths nm, voltages V, energies eV, alloy fractions, temperature K, doping cm^-3.
pub fn unit_of(path: &JsonPath) -> Option<&'static str> {
    let mut keys = path.steps.iter().rev().filter_map(|s| match s {
        Step::Key(k) => Some(k.as_str()),
        Step::Index(_) => None,
    });
    let key = keys.next()?;
    // domain.nodes.x[i]: a node coordinate, not an alloy fraction
    if keys.next() == Some("nodes") {
        return Some("nm");
    }
    Some(match key {
        "radius" | "base_radius" | "top_radius" | "height" | "base_width" | "top_width" | "from" | "to" | "size" | "spacing"
        | "center" | "min" | "max" | "base" | "semi_axes" | "sigma" => "nm",
        "voltage" => "V",
        "depth" | "hbar_omega" | "barrier" | "donor_energy" | "acceptor_energy" => "eV",
        "x" => "alloy fraction",
        "temperature" => "K",
        "donors" | "acceptors" => "cm^-3",
        "spring_constant" => "eV/nm^2",
        "mass" => "m0",
        _ => return None,
    })
}

/// A label "path (unit)".
pub fn label_of(path: &JsonPath) -> String {
    match unit_of(path) {
        Some(u) => format!("{path} ({u})"),
        None => path.to_string(),
    }
}

/// Options of a sweep.
#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    /// Backend, states, adapter and GPU options for every point (`out` is not read: each
    /// point writes to `points/NNN/` with `keep_points`, else nothing).
    pub run: RunOptions,
    /// Output folder; default `<scene stem>.sweep` next to the scene.
    pub out: Option<PathBuf>,
    /// Keep each point's full output in `points/NNN/`.
    pub keep_points: bool,
    /// Start every point from a random block instead of the previous solution (to measure
    /// what the warm start saves).
    pub cold: bool,
}

/// The default output folder of a sweep: `<stem>.sweep` beside the scene.
pub fn default_out_dir(scene_path: &Path) -> PathBuf {
    let stem = scene_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "scene".into());
    scene_path.with_file_name(format!("{stem}.sweep"))
}

/// Every point's scene, checked. The base scene's `sweep` block is dropped from each.
pub fn points(loaded: &LoadedScene, spec: &SweepSpec, run: &RunOptions) -> Result<Vec<LoadedScene>> {
    points_with(loaded, spec, run, &mut |_, _| {})
}

/// [`points`], telling `checked(i, total)` how far the checks have got (every few hundred
/// milliseconds and at the end), so that a long sweep is not checked in silence.
pub fn points_with(loaded: &LoadedScene, spec: &SweepSpec, run: &RunOptions, checked: &mut dyn FnMut(usize, usize)) -> Result<Vec<LoadedScene>> {
    if spec.is_empty() {
        return Err(QdError::input(spec.source, "no values to sweep"));
    }
    if spec.len() > MAX_SWEEP_POINTS {
        return Err(too_many(spec.source, &format!("the sweep of `{}`", spec.parameters[0].path), spec.len()));
    }
    let mut base = super::resolve(loaded, run)?;
    base.scene.sweep = None;
    let json = serde_json::to_value(&base.scene).map_err(|e| QdError::Internal(format!("scene to JSON: {e}")))?;
    // the paths first: a path that does not exist is wrong for every point
    for p in &spec.parameters {
        if matches!(p.path.steps.first(), Some(Step::Key(k)) if k == "sweep") {
            return Err(QdError::input(spec.source, format!("`{}`: a sweep cannot vary the sweep block", p.path)));
        }
        p.path.set(&mut json.clone(), Value::Null).map_err(|e| relabel(e, spec.source))?;
    }
    let db = prepare::material_db(&base)?;
    // the machine's free memory once, not once per point
    let avail = prepare::available_memory();
    let mut out = Vec::with_capacity(spec.len());
    let mut last_report = Instant::now();
    for i in 0..spec.len() {
        if last_report.elapsed().as_secs_f64() > 0.2 {
            checked(i, spec.len());
            last_report = Instant::now();
        }
        let at = format!("sweep point {i} ({})", spec.describe(i));
        let mut v = json.clone();
        for p in &spec.parameters {
            v = with_value(&v, &p.path, p.values[i].clone()).map_err(|e| relabel(e, spec.source))?;
        }
        let check = || -> Result<LoadedScene> {
            let scene = parse_scene(&v.to_string())?;
            crate::scene::validate::validate(&scene)?;
            let pt = LoadedScene { scene, path: base.path.clone(), base_dir: base.base_dir.clone() };
            prepare::resolve_fills(&pt.scene, &db)?;
            let grid = Grid::from_domain(&pt.scene.domain)?;
            prepare::check_memory_against(&pt.scene, &grid, pt.scene.solve.states, avail)?;
            Ok(pt)
        };
        match check() {
            Ok(pt) => out.push(pt),
            Err(QdError::Input { path, reason }) => {
                return Err(QdError::input(at, format!("gives an invalid scene: at `{path}`: {reason}")));
            }
            Err(e) => return Err(e),
        }
    }
    checked(spec.len(), spec.len());
    Ok(out)
}

fn relabel(e: QdError, source: &str) -> QdError {
    match e {
        QdError::Input { reason, .. } => QdError::input(source, reason),
        other => other,
    }
}

/// One point's outcome.
#[derive(Clone, Debug)]
pub struct PointResult {
    pub index: usize,
    /// The value of each parameter at this point.
    pub values: Vec<Value>,
    pub converged: bool,
    /// Energies, eV, ascending.
    pub energies: Vec<f64>,
    /// The point's results document (as results.json holds it).
    pub results: Results,
    /// Whether the eigensolver started from the previous point's vectors.
    pub warm_start: bool,
    /// Products with H in the eigensolver.
    pub matvecs: u64,
    /// Wall time of the point's solve phase, seconds.
    pub solve_s: f64,
    /// Mode-specific numbers from results.json's `key_quantities` (see the module doc).
    pub key_quantities: Vec<(String, f64)>,
    /// `points/NNN` when the point's output was kept.
    pub out_dir: Option<String>,
}

/// What a sweep produced.
#[derive(Clone, Debug)]
pub struct SweepReport {
    pub out_dir: PathBuf,
    pub points: Vec<PointResult>,
    pub all_converged: bool,
    pub summary: SweepSummary,
}

/// A sweep event for progress display: point `index` of `total` starts.
pub struct PointStart<'a> {
    pub index: usize,
    pub total: usize,
    pub label: &'a str,
}

/// Run a sweep: check every point, solve them in order (each from the previous solution
/// unless `opts.cold`), write the output folder. `on_point` is told when a point starts,
/// `progress` sees its eigensolver.
pub fn run(
    loaded: &LoadedScene,
    spec: &SweepSpec,
    opts: &SweepOptions,
    on_point: &mut dyn FnMut(&PointStart),
    progress: &mut dyn FnMut(&LanczosProgress),
) -> Result<SweepReport> {
    let t0 = Instant::now();
    let mut scenes = points_with(loaded, spec, &opts.run, &mut |i, total| {
        on_point(&PointStart { index: i, total, label: "checking the scenes of the points before solving" })
    })?;
    // "auto" without a hardware adapter is the CPU: decide once, not with a notice per point
    if opts.run.adapter.is_none() && scenes.iter().any(|s| s.scene.solve.backend == BackendChoice::Auto) {
        let hw = crate::backend::gpu::list_adapters().iter().any(|a| a.device_type != "Cpu" && a.immediates);
        if !hw {
            eprintln!("notice: no hardware GPU adapter found; the sweep runs on the cpu backend");
            for s in scenes.iter_mut().filter(|s| s.scene.solve.backend == BackendChoice::Auto) {
                s.scene.solve.backend = BackendChoice::Cpu;
            }
        }
    }
    let out_path = opts.out.clone().unwrap_or_else(|| default_out_dir(&loaded.path));
    let out = OutputDir::create_for_rank(&out_path, &loaded.input_files(), crate::parallel::rank())?;
    let mut warm: Option<WarmStart> = None;
    let mut results = Vec::with_capacity(scenes.len());
    for (i, pt) in scenes.iter().enumerate() {
        let label = spec.describe(i);
        on_point(&PointStart { index: i, total: scenes.len(), label: &label });
        let rel = format!("points/{i:03}");
        let point_out = opts.keep_points.then(|| out.path(&rel));
        let w = if opts.cold { None } else { warm.as_ref() };
        let point_opts = RunOptions { out: point_out, ..opts.run.clone() };
        let r = super::run(pt, &point_opts, w, &mut Progress { eigen: &mut *progress, scf: &mut |_| {} })?;
        let (warm_start, matvecs, solve_s, key_quantities) = match &r.results {
            Results::Schrodinger(s) => (s.solver.warm_start, s.solver.matvecs as u64, s.timings_s.solve, Vec::new()),
            Results::Device(d) => {
                let keys = d.key_quantities.iter().filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x))).collect();
                (false, 0, d.timings_s.solve, keys)
            }
        };
        results.push(PointResult {
            index: i,
            values: spec.parameters.iter().map(|p| p.values[i].clone()).collect(),
            converged: r.converged,
            energies: r.energies.clone(),
            warm_start,
            matvecs,
            solve_s,
            key_quantities,
            out_dir: opts.keep_points.then_some(rel),
            results: r.results,
        });
        warm = Some(r.warm);
    }
    let all_converged = results.iter().all(|p| p.converged);
    let carrier_hole = loaded.scene.solve.carrier.is_hole();
    let mut files = vec!["sweep.csv".to_string(), "sweep.json".to_string()];
    std::fs::write(out.path("sweep.csv"), csv(spec, &results)).map_err(|e| QdError::io(format!("writing {}", out.path("sweep.csv").display()), e))?;
    if plot(spec, &results, loaded, carrier_hole, &out.path("levels.png"))? {
        files.push("levels.png".into());
    }
    if opts.keep_points {
        files.push("points/".into());
    }
    let summary = summary_json(loaded, spec, opts, &results, &files, t0.elapsed().as_secs_f64());
    output::write_json(&out.path("sweep.json"), &serde_json::to_value(&summary).unwrap_or(Value::Null))?;
    let out_dir = out.commit()?;
    Ok(SweepReport { out_dir, points: results, all_converged, summary })
}

/// CSV text of field `v` (quoted when it holds a comma, quote or newline).
fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Names of the key quantities over all points, in the order first seen.
fn key_names(points: &[PointResult]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for p in points {
        for (k, _) in &p.key_quantities {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    names
}

/// sweep.csv: `point`, one column per parameter (header `path (unit)`), `converged`,
/// `E0_eV` … (every state), `unbound_states` (the indices, `;`-separated, of the states above
/// the lowest band edge on the boundary: `bound: false` in results.json), `lowest_band_edge_eV`,
/// `method`, `matvecs`, `warm_start`, `solve_s`, then the key quantities (integers written as
/// integers). A point with fewer states leaves those cells empty. Device points take the
/// method and products of their quantum eigensolver (none in mode poisson) and count as warm
/// started when they started from the previous point's potential.
pub fn csv(spec: &SweepSpec, points: &[PointResult]) -> String {
    let states = points.iter().map(|p| p.energies.len()).max().unwrap_or(0);
    let keys = key_names(points);
    let mut head: Vec<String> = vec!["point".into()];
    head.extend(spec.parameters.iter().map(|p| csv_field(&label_of(&p.path))));
    head.push("converged".into());
    head.extend((0..states).map(|n| format!("E{n}_eV")));
    head.extend(["unbound_states", "lowest_band_edge_eV", "method", "matvecs", "warm_start", "solve_s"].map(String::from));
    head.extend(keys.iter().map(|k| csv_field(k)));
    let mut s = head.join(",");
    s.push('\n');
    for p in points {
        let mut row: Vec<String> = vec![p.index.to_string()];
        row.extend(p.values.iter().map(|v| csv_field(&value_text(v))));
        row.push(p.converged.to_string());
        row.extend((0..states).map(|n| p.energies.get(n).map(|e| format!("{e:.12e}")).unwrap_or_default()));
        let unbound: Vec<String> = unbound_states(p).iter().map(usize::to_string).collect();
        row.push(unbound.join(";"));
        let edge = match &p.results {
            Results::Schrodinger(s) => s.reference.lowest_band_edge_ev,
            Results::Device(d) => d.reference.lowest_band_edge_ev,
        };
        row.push(Some(edge).filter(|e| e.is_finite()).map(|e| format!("{e:.12e}")).unwrap_or_default());
        let method = match &p.results {
            Results::Schrodinger(s) => s.solver.method.as_str(),
            Results::Device(d) => d.eigensolver.as_ref().map_or("", |e| e.method.as_str()),
        };
        row.push(csv_field(method));
        row.push(point_matvecs(p).to_string());
        row.push(point_warm_start(p).to_string());
        row.push(format!("{:.6}", p.solve_s));
        for k in &keys {
            row.push(match point_key(p, k) {
                Some(Quantity::Count(i)) => i.to_string(),
                _ => p.key_quantities.iter().find(|(n, _)| n == k).map(|(_, x)| format!("{x:.12e}")).unwrap_or_default(),
            });
        }
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

/// A key quantity of a point as its results hold it (a device point's).
fn point_key(p: &PointResult, k: &str) -> Option<Quantity> {
    match &p.results {
        Results::Device(d) => d.key_quantities.get(k).copied(),
        Results::Schrodinger(_) => None,
    }
}

/// A point's eigensolver record: `solver`, or a device point's quantum eigensolver
/// (`eigensolver`, null in mode poisson).
fn point_solver(p: &PointResult) -> PointSolver {
    match &p.results {
        Results::Schrodinger(s) => PointSolver::Schrodinger(s.solver.clone()),
        Results::Device(d) => PointSolver::Device(d.eigensolver.clone()),
    }
}

/// A point's states: `states`, or a device point's quantum states (None in mode poisson).
pub fn point_states(p: &PointResult) -> Option<PointStates> {
    match &p.results {
        Results::Schrodinger(s) => Some(PointStates::Levels(s.states.clone())),
        Results::Device(d) => d.quantum.as_ref().map(|q| PointStates::Quantum(q.states.clone())),
    }
}

/// The indices of a point's states that are not bound (`bound: false`).
pub fn unbound_states(p: &PointResult) -> Vec<usize> {
    match &p.results {
        Results::Schrodinger(s) => s.states.iter().filter(|s| !s.bound).map(|s| s.index).collect(),
        Results::Device(d) => d.quantum.iter().flat_map(|q| q.states.iter()).filter(|s| !s.bound).map(|s| s.index).collect(),
    }
}

/// Products with H of a point's eigensolver (a device point's quantum eigensolver).
pub fn point_matvecs(p: &PointResult) -> u64 {
    if p.matvecs > 0 {
        return p.matvecs;
    }
    match &p.results {
        Results::Schrodinger(s) => s.solver.matvecs as u64,
        Results::Device(d) => d.eigensolver.as_ref().map_or(0, |e| e.matvecs as u64),
    }
}

/// Whether a point started from the previous one (its vectors, or a device point's potential).
fn point_warm_start(p: &PointResult) -> bool {
    p.warm_start || matches!(&p.results, Results::Device(d) if d.self_consistency.warm_start == Some(true))
}

/// Why a point did not converge: its results' reason, or a device point's stopping reason.
pub fn point_reason(p: &PointResult) -> Option<&str> {
    match &p.results {
        Results::Schrodinger(s) => s.reason.as_deref(),
        Results::Device(d) => d.reason.as_deref().or(d.self_consistency.stopped_because.as_deref()),
    }
}

/// levels.png against the first parameter (its values when all are numbers, else the
/// point index). Returns false when the scene asks for no plots.
fn plot(spec: &SweepSpec, points: &[PointResult], loaded: &LoadedScene, hole: bool, path: &Path) -> Result<bool> {
    if !loaded.scene.output.plots {
        return Ok(false);
    }
    let p0 = &spec.parameters[0];
    let numeric: Option<Vec<f64>> = p0.values.iter().map(Value::as_f64).collect();
    let (x, x_label) = match numeric {
        Some(x) => {
            let mut l = label_of(&p0.path);
            if spec.parameters.len() > 1 {
                l.push_str(" (with ");
                l.push_str(&spec.parameters[1..].iter().map(|p| p.path.to_string()).collect::<Vec<_>>().join(", "));
                l.push(')');
            }
            (x, l)
        }
        None => ((0..points.len()).map(|i| i as f64).collect(), format!("sweep point ({})", p0.path)),
    };
    let states = points.iter().map(|p| p.energies.len()).max().unwrap_or(0);
    let levels: Vec<Vec<f64>> = (0..states).map(|n| points.iter().map(|p| p.energies.get(n).copied().unwrap_or(f64::NAN)).collect()).collect();
    let flagged: Vec<bool> = points.iter().map(|p| !p.converged).collect();
    let title = loaded.scene.name.clone().unwrap_or_else(|| "qdsim-gpu sweep".into());
    let e_label = if hole { "hole energy (eV, downward)" } else { "energy (eV)" };
    output::plot::plot_levels(path, &title, &x_label, e_label, &x, &levels, &flagged)?;
    Ok(true)
}

fn summary_json(loaded: &LoadedScene, spec: &SweepSpec, opts: &SweepOptions, points: &[PointResult], files: &[String], total_s: f64) -> SweepSummary {
    let mut base = loaded.scene.clone();
    base.sweep = None;
    let parameters = spec
        .parameters
        .iter()
        .map(|p| SweepParameter { path: p.path.to_string(), unit: unit_of(&p.path), values: p.values.clone() })
        .collect();
    let pts = points
        .iter()
        .map(|p| SweepPoint {
            index: p.index,
            values: spec.parameters.iter().zip(&p.values).map(|(q, v)| (q.path.to_string(), v.clone())).collect(),
            status: Status::of(p.converged),
            converged: p.converged,
            reason: p.results.reason().map(str::to_string),
            energies_ev: p.energies.clone(),
            states: point_states(p),
            reference: match &p.results {
                Results::Schrodinger(s) => PointReference::Schrodinger(s.reference.clone()),
                Results::Device(d) => PointReference::Device(d.reference.clone()),
            },
            solver: point_solver(p),
            warm_start: point_warm_start(p),
            timings_s: match &p.results {
                Results::Schrodinger(s) => PointTimings::Schrodinger(s.timings_s.clone()),
                Results::Device(d) => PointTimings::Device(d.timings_s.clone()),
            },
            key_quantities: p.key_quantities.iter().map(|(k, v)| (k.clone(), point_key(p, k).unwrap_or(Quantity::Value(*v)))).collect(),
            output: p.out_dir.clone(),
        })
        .collect();
    let not_converged: Vec<usize> = points.iter().filter(|p| !p.converged).map(|p| p.index).collect();
    SweepSummary {
        schema_version: SCHEMA_VERSION,
        program: Program::this(),
        status: Status::of(not_converged.is_empty()),
        scene_file: loaded.path.display().to_string(),
        scene: base,
        source: spec.source,
        parameters,
        warm_start: !opts.cold,
        units: SweepUnits::default(),
        points: pts,
        summary: SweepTotals {
            points: points.len(),
            converged: points.len() - not_converged.len(),
            not_converged,
            matvecs_total: points.iter().map(point_matvecs).sum::<u64>(),
            solve_s_total: points.iter().map(|p| p.solve_s).sum::<f64>(),
            total_s,
        },
        files: files.to_vec(),
    }
}
