//! `qdsim_gpu._native`: the Python extension module behind the `qdsim_gpu` package.
//!
//! A front end beside the command line: it reads scenes (a file, or JSON text from a
//! dict), runs [`qdsim_gpu::pipeline::run`] and [`qdsim_gpu::pipeline::sweep::run`] with
//! the GIL released, and hands the typed results back as JSON text (parsed by the Python
//! side) and the fields as NumPy arrays that own the library's vectors (no copy: each
//! `Vec<f64>` becomes the array's buffer; the Python side reshapes them into
//! `[nx, ny, nz]` x-fastest views).
//!
//! Interrupts: the progress hooks of the library (setup painting, eigensolver restarts,
//! self-consistent iterations, sweep points) re-acquire the GIL, call the user's callback
//! and `PyErr_CheckSignals`; an exception there (Ctrl-C's KeyboardInterrupt, or one the
//! callback raised) stops the run by unwinding out of the hook with a private payload,
//! caught here, and is raised in Python. The library keeps no lock across its hooks, and
//! its thread-local setup hook is restored by a drop guard, so a later run starts clean.
//!
//! Units as everywhere in qdsim-gpu: nm, eV, K, cm⁻³ (names of arrays carry theirs).

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use numpy::PyArray1;
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use qdsim_gpu::error::QdError;
use qdsim_gpu::pipeline::{self, Progress, RunOptions, RunReport};
use qdsim_gpu::scene::{BackendChoice, LoadedScene};

create_exception!(_native, SceneError, PyValueError, "Bad input: a scene (or a materials file, or an argument) that cannot be solved; `.path` is the JSON path of the field (e.g. `regions[0].shape.radius`), `.reason` what is wrong with it.");

/// The payload of the unwind that stops a run from a progress hook (the Python exception
/// waits in [`Hooks::error`]).
struct Stop;

fn to_py(py: Python<'_>, e: QdError) -> PyErr {
    match e {
        QdError::Input { path, reason } => {
            let msg = format!("invalid input at `{path}`: {reason}");
            let err = SceneError::new_err(msg);
            let v = err.value(py);
            let _ = v.setattr("path", path);
            let _ = v.setattr("reason", reason);
            err
        }
        QdError::Io { .. } => PyOSError::new_err(e.to_string()),
        QdError::NotConverged(_) | QdError::Internal(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

/// The Python side of the progress hooks: the callback (or None) and the exception that
/// stopped the run.
struct Hooks {
    callback: Option<Py<PyAny>>,
    error: Mutex<Option<PyErr>>,
}

impl Hooks {
    /// Called from a library hook (GIL released): re-acquire it, check for signals, call the
    /// callback with the event built by `event`; on an exception, stop the run.
    fn report(&self, event: impl FnOnce(Python<'_>) -> PyResult<Bound<'_, PyDict>>) {
        let r = Python::attach(|py| -> PyResult<()> {
            py.check_signals()?;
            if let Some(cb) = &self.callback {
                cb.call1(py, (event(py)?,))?;
            }
            Ok(())
        });
        if let Err(e) = r {
            *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            panic::resume_unwind(Box::new(Stop));
        }
    }

    /// Run `f` (the GIL released) with the library's setup hook pointing here; a [`Stop`]
    /// unwind becomes the stored Python exception.
    fn run<T: Send>(self: &Arc<Self>, py: Python<'_>, f: impl FnOnce(&Hooks) -> qdsim_gpu::error::Result<T> + Send) -> PyResult<T> {
        let out = py.detach(|| {
            panic::catch_unwind(AssertUnwindSafe(|| {
                // (the library's setup hook is 'static: it holds its own reference)
                let hooks = Arc::clone(self);
                let setup = move |s: &qdsim_gpu::grid::SetupProgress| {
                    hooks.report(|py| {
                        let d = PyDict::new(py);
                        d.set_item("kind", "setup")?;
                        d.set_item("phase", s.phase)?;
                        d.set_item("done", s.done)?;
                        d.set_item("total", s.total)?;
                        Ok(d)
                    })
                };
                qdsim_gpu::grid::with_setup_progress(Box::new(setup), || f(self))
            }))
        });
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(to_py(py, e)),
            Err(payload) if payload.is::<Stop>() => {
                Err(self.error.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_else(|| PyRuntimeError::new_err("the run was stopped")))
            }
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    fn eigen(&self, p: &qdsim_gpu::linalg::lanczos::LanczosProgress) {
        self.report(|py| {
            let d = PyDict::new(py);
            d.set_item("kind", "eigen")?;
            d.set_item("converged", p.converged)?;
            d.set_item("wanted", p.wanted)?;
            d.set_item("matvecs", p.matvecs)?;
            d.set_item("restarts", p.restarts)?;
            d.set_item("worst_residual", p.worst_residual)?;
            Ok(d)
        })
    }

    fn scf(&self, s: &pipeline::device::ScfStep) {
        self.report(|py| {
            let d = PyDict::new(py);
            d.set_item("kind", "scf")?;
            d.set_item("iteration", s.iteration)?;
            d.set_item("potential_change_v", s.potential_change_v)?;
            d.set_item("ground_state_ev", s.ground_state_ev)?;
            d.set_item("quantum_electrons", s.quantum_electrons)?;
            Ok(d)
        })
    }
}

/// A scene from a file (`path`, read exactly as `qdsim-gpu solve` reads it) or from JSON
/// text (`json`, from a dict or a `qd.Scene`; relative paths in it are taken from
/// `base_dir`, default the working folder).
fn load(json: Option<&str>, path: Option<&str>, base_dir: Option<&str>) -> qdsim_gpu::error::Result<LoadedScene> {
    if let Some(p) = path {
        return qdsim_gpu::scene::load_scene(Path::new(p));
    }
    let text = json.ok_or_else(|| QdError::input("(scene)", "no scene given"))?;
    let scene = qdsim_gpu::scene::parse_scene(text)?;
    qdsim_gpu::scene::validate::validate(&scene)?;
    let base_dir = PathBuf::from(base_dir.unwrap_or("."));
    let loaded = LoadedScene { scene, path: base_dir.join("(python scene)"), base_dir };
    qdsim_gpu::scene::check_input_files(&loaded)?;
    Ok(loaded)
}

fn backend_choice(b: Option<&str>) -> qdsim_gpu::error::Result<Option<BackendChoice>> {
    match b.map(str::trim) {
        None => Ok(None),
        Some("auto") => Ok(Some(BackendChoice::Auto)),
        Some("cpu") => Ok(Some(BackendChoice::Cpu)),
        Some("gpu") => Ok(Some(BackendChoice::Gpu)),
        Some(o) => Err(QdError::input("backend", format!("'{o}' is not a backend: use \"auto\", \"cpu\" or \"gpu\""))),
    }
}

/// Run options as the CLI makes them (GPU settings and adapter from the same environment
/// variables, through cli::env, the one reader of the environment).
fn run_options(backend: Option<&str>, states: Option<usize>, adapter: Option<String>) -> qdsim_gpu::error::Result<RunOptions> {
    let gpu = qdsim_gpu::cli::env::gpu_settings(None, None)?;
    Ok(RunOptions {
        out: None,
        backend: backend_choice(backend)?,
        states,
        eigensolver: None,
        adapter: qdsim_gpu::cli::env::adapter(adapter),
        gpu: gpu.options,
        gpu_precision: gpu.precision,
        gpu_invalid: gpu.invalid,
        keep_fields: false,
    })
}

/// The arrays of a run: a dict name → 1-D float64 array (one value per cell, x-fastest),
/// the library's vectors moved into NumPy without a copy.
fn fields_dict<'py>(py: Python<'py>, report: &mut RunReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    if let Some(f) = report.fields.take() {
        d.set_item("dims", PyList::new(py, &f.dims)?)?;
        d.set_item("spacing_nm", PyList::new(py, &f.spacing_nm)?)?;
        d.set_item("origin_nm", PyList::new(py, &f.origin_nm)?)?;
        if let Some(nodes) = &f.nodes_nm {
            let axes: Vec<Bound<'py, PyList>> = nodes.iter().map(|x| PyList::new(py, x)).collect::<PyResult<_>>()?;
            d.set_item("nodes_nm", PyList::new(py, axes)?)?;
        }
        d.set_item("states", f.states)?;
        let arrays = PyDict::new(py);
        for (name, v) in f.arrays {
            arrays.set_item(name, PyArray1::from_vec(py, v))?;
        }
        d.set_item("arrays", arrays)?;
        d.set_item("psi2", PyArray1::from_vec(py, f.psi2))?;
        d.set_item("psi", PyArray1::from_vec(py, f.psi))?;
    }
    Ok(d)
}

/// Solve one scene. Returns (results JSON text, energies in eV, converged, fields).
#[pyfunction]
#[pyo3(signature = (json=None, path=None, base_dir=None, backend=None, states=None, adapter=None, progress=None, out=None))]
#[allow(clippy::too_many_arguments)]
fn solve<'py>(
    py: Python<'py>,
    json: Option<&str>,
    path: Option<&str>,
    base_dir: Option<&str>,
    backend: Option<&str>,
    states: Option<usize>,
    adapter: Option<String>,
    progress: Option<Py<PyAny>>,
    out: Option<PathBuf>,
) -> PyResult<(String, Bound<'py, PyArray1<f64>>, bool, Bound<'py, PyDict>, String)> {
    let (json, path, base_dir) = (json.map(str::to_owned), path.map(str::to_owned), base_dir.map(str::to_owned));
    let hooks = Arc::new(Hooks { callback: progress, error: Mutex::new(None) });
    let mut report = hooks.run(py, |h| {
        let loaded = load(json.as_deref(), path.as_deref(), base_dir.as_deref())?;
        if let Some(o) = &out {
            qdsim_gpu::output::preflight_for_rank(o, &loaded.input_files(), 0)?;
        }
        let mut opts = run_options(backend, states, adapter)?;
        opts.keep_fields = true;
        opts.out = out;
        pipeline::run(&loaded, &opts, None, &mut Progress { eigen: &mut |p| h.eigen(p), scf: &mut |s| h.scf(s) })
    })?;
    let text = serde_json::to_string(&report.results.to_value()).map_err(|e| PyRuntimeError::new_err(format!("results to JSON: {e}")))?;
    let energies = PyArray1::from_vec(py, std::mem::take(&mut report.energies));
    let fields = fields_dict(py, &mut report)?;
    Ok((text, energies, report.converged, fields, report.out_dir.display().to_string()))
}

/// Run a sweep. `sets`: (JSON path, values as JSON text of a list) per parameter, varied
/// together; `out` the sweep's folder (sweep.csv, sweep.json, levels.png). Returns
/// (sweep.json's summary as JSON text, [(index, values JSON, converged, energies, results
/// JSON)], all converged, the folder written).
#[pyfunction]
#[pyo3(signature = (out, sets, json=None, path=None, base_dir=None, backend=None, states=None, adapter=None, progress=None, keep_points=false, cold=false))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn sweep(
    py: Python<'_>,
    out: PathBuf,
    sets: Vec<(String, String)>,
    json: Option<&str>,
    path: Option<&str>,
    base_dir: Option<&str>,
    backend: Option<&str>,
    states: Option<usize>,
    adapter: Option<String>,
    progress: Option<Py<PyAny>>,
    keep_points: bool,
    cold: bool,
) -> PyResult<(String, Vec<(usize, String, bool, Vec<f64>, String)>, bool, String)> {
    let (json, path, base_dir) = (json.map(str::to_owned), path.map(str::to_owned), base_dir.map(str::to_owned));
    let hooks = Arc::new(Hooks { callback: progress, error: Mutex::new(None) });
    let report = hooks.run(py, |h| {
        let loaded = load(json.as_deref(), path.as_deref(), base_dir.as_deref())?;
        let spec = if sets.is_empty() {
            pipeline::sweep::SweepSpec::from_scene(&loaded)?
        } else {
            let mut parameters = Vec::with_capacity(sets.len());
            for (p, values) in &sets {
                let path = qdsim_gpu::scene::path::JsonPath::parse(p).map_err(|e| match e {
                    QdError::Input { reason, .. } => QdError::input(format!("sweep parameter `{p}`"), reason),
                    e => e,
                })?;
                let values: Vec<serde_json::Value> =
                    serde_json::from_str(values).map_err(|e| QdError::input(format!("sweep parameter `{p}`"), format!("values: {e}")))?;
                parameters.push(pipeline::sweep::Parameter { path, values });
            }
            let n0 = parameters[0].values.len();
            if let Some(bad) = parameters.iter().find(|q| q.values.len() != n0) {
                return Err(QdError::input(
                    "sweep",
                    format!("parameters swept together need the same number of values: `{}` has {n0}, `{}` has {}", parameters[0].path, bad.path, bad.values.len()),
                ));
            }
            pipeline::sweep::SweepSpec { parameters, source: "sweep" }
        };
        qdsim_gpu::output::preflight_for_rank(&out, &loaded.input_files(), 0)?;
        let opts = pipeline::sweep::SweepOptions { run: run_options(backend, states, adapter)?, out: Some(out), keep_points, cold };
        let mut on_point = |p: &pipeline::sweep::PointStart| {
            h.report(|py| {
                let d = PyDict::new(py);
                d.set_item("kind", "point")?;
                d.set_item("index", p.index)?;
                d.set_item("total", p.total)?;
                d.set_item("label", p.label)?;
                Ok(d)
            })
        };
        pipeline::sweep::run(&loaded, &spec, &opts, &mut on_point, &mut |p| h.eigen(p))
    })?;
    let summary = serde_json::to_string(&report.summary).map_err(|e| PyRuntimeError::new_err(format!("sweep summary to JSON: {e}")))?;
    let points = report
        .points
        .iter()
        .map(|p| {
            let values = serde_json::to_string(&p.values).unwrap_or_else(|_| "[]".into());
            let results = serde_json::to_string(&p.results.to_value()).unwrap_or_else(|_| "{}".into());
            (p.index, values, p.converged, p.energies.clone(), results)
        })
        .collect();
    Ok((summary, points, report.all_converged, report.out_dir.display().to_string()))
}

/// Parse and validate a scene without solving it (SceneError on bad input).
#[pyfunction]
#[pyo3(signature = (json=None, path=None, base_dir=None))]
fn check_scene(py: Python<'_>, json: Option<&str>, path: Option<&str>, base_dir: Option<&str>) -> PyResult<()> {
    load(json, path, base_dir).map(|_| ()).map_err(|e| to_py(py, e))
}

/// The materials database as JSON text: every material with its nine parameters (binaries;
/// alloys at `x` when given, else their endpoints), units and sources; with `name`, that
/// material alone, with its band edges at `temperature` K.
#[pyfunction]
#[pyo3(signature = (name=None, x=None, temperature=300.0, file=None))]
fn materials(py: Python<'_>, name: Option<&str>, x: Option<f64>, temperature: f64, file: Option<PathBuf>) -> PyResult<String> {
    use qdsim_gpu::materials::{MaterialDb, PROPERTIES};
    let mut db = MaterialDb::builtin();
    if let Some(f) = &file {
        db.merge_file(f).map_err(|e| to_py(py, e))?;
    }
    let one = |n: &str, x: Option<f64>| -> Result<serde_json::Value, QdError> {
        let alloy = db.is_alloy(n);
        let mut v = serde_json::json!({ "name": n, "alloy": alloy });
        if let Some((a, b, x_is)) = db.alloy_endpoints(n) {
            v["endpoints"] = serde_json::json!({ "x_1": a, "x_0": b, "x_is": x_is });
        }
        if alloy && x.is_none() {
            return Ok(v);
        }
        let m = db.resolve(n, x).map_err(|r| QdError::input(n, r))?;
        let mut props = serde_json::Map::new();
        let mut units = serde_json::Map::new();
        let mut sources = serde_json::Map::new();
        for (p, unit, _) in PROPERTIES {
            props.insert(p.into(), m.get(p).into());
            units.insert(p.into(), unit.into());
            if let Some(s) = db.source_of(n, p) {
                sources.insert(p.into(), s.into());
            }
        }
        v["x"] = x.into();
        v["properties"] = props.into();
        v["units"] = units.into();
        v["sources"] = sources.into();
        if m.check_temperature(temperature).is_ok() {
            v["temperature_k"] = temperature.into();
            v["band_gap_ev"] = m.band_gap(temperature).into();
            v["ec_ev"] = m.ec(temperature).into();
            v["ev_ev"] = m.ev(temperature).into();
        }
        Ok(v)
    };
    let v = match name {
        Some(n) => {
            if !db.contains(n) {
                return Err(to_py(py, QdError::input(n, format!("unknown material (known: {})", db.names().join(", ")))));
            }
            one(n, x).map_err(|e| to_py(py, e))?
        }
        None => {
            let mut all = serde_json::Map::new();
            for n in db.names() {
                all.insert(n.clone(), one(&n, if db.is_alloy(&n) { x } else { None }).map_err(|e| to_py(py, e))?);
            }
            all.into()
        }
    };
    Ok(v.to_string())
}

/// Version, CPU threads, the GPU adapters and what `auto` selects, as JSON text.
#[pyfunction]
fn info(py: Python<'_>) -> PyResult<String> {
    let v = py.detach(|| {
        let be = qdsim_gpu::backend::CpuBackend::new();
        let adapters: Vec<serde_json::Value> = qdsim_gpu::backend::gpu::list_adapters()
            .iter()
            .map(|a| {
                serde_json::json!({
                    "index": a.index, "name": a.name, "api": a.api, "device_type": a.device_type, "driver": a.driver,
                    "f64": a.f64, "immediates": a.immediates, "max_storage_binding_bytes": a.max_storage_binding_bytes,
                    "max_buffer_bytes": a.max_buffer_bytes, "max_workgroups_per_dimension": a.max_workgroups_per_dimension,
                })
            })
            .collect();
        let hw = adapters.iter().find(|a| a["device_type"] != "Cpu" && a["immediates"] == true).map(|a| a["index"].clone());
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "library_version": qdsim_gpu::pipeline::report::Program::this().version,
            "cpu_threads": be.threads(),
            "adapters": adapters,
            "auto_gpu_adapter": hw,
            "auto_gpu_min_unknowns": qdsim_gpu::backend::select::AUTO_GPU_MIN_UNKNOWNS,
            "memory_available_bytes": pipeline::prepare::available_memory(),
        })
    });
    Ok(v.to_string())
}

/// A QDSim configuration converted (`qdsim-gpu import-qdsim`): (scene JSON text, note).
#[pyfunction]
fn import_qdsim(py: Python<'_>, path: PathBuf) -> PyResult<(String, String)> {
    let imported = qdsim_gpu::scene::qdsim_import::import_file(&path).map_err(|e| to_py(py, e))?;
    Ok((imported.scene.to_string(), imported.note))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SceneError", m.py().get_type::<SceneError>())?;
    m.add_function(wrap_pyfunction!(solve, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(check_scene, m)?)?;
    m.add_function(wrap_pyfunction!(materials, m)?)?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    m.add_function(wrap_pyfunction!(import_qdsim, m)?)?;
    Ok(())
}
