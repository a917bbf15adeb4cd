//! `qdsim-gpu import-qdsim`: QDSim's configuration files converted to scenes.
//!
//! QDSim (the project this one replaces) read a flat configuration, simple_qd.json or
//! .yaml, and batch files (batch_qd.yaml) of a `base_config` and `parameter_sweeps`
//! `[{name, parameter, values}]`. The keys, matched case-insensitively (QDSim's Python
//! spelled them `Lx`, `N_A`, `V_0`, `R`):
//!
//! | QDSim key | unit | scene |
//! |---|---|---|
//! | `lx`, `ly` | nm | `domain.size` (the domain centred on the origin, as QDSim's junction and dot) |
//! | `nx`, `ny` | elements | `domain.spacing` = lx/nx, ly/ny (one cell per element) |
//! | `matrix_material`, `qd_material` | | `background`, the dot's `regions[]` entry |
//! | `diode_p_material`, `diode_n_material` | | the p side (x < 0, the background) and the n side (x > 0, a box) |
//! | `r` | nm | the dot's radius (a disk at the origin; the potential's width) |
//! | `v_0`, `potential_type` | eV | the dot's potential: `gaussian` V = −v_0 exp(−r²/2R²), `square` V = −v_0 inside R (scene `potentials[0]`, mode schrodinger) |
//! | `n_a`, `n_d` | m⁻³ | doping in cm⁻³ (× 1e-6): acceptors on the p side, donors on the n side |
//! | `v_r` | V | reverse bias: the n contact (x_max) at +v_r, the p contact (x_min) at 0 |
//! | `tolerance`, `max_iter` | V, iterations | `solve.poisson.tolerance`, `.max_iterations` (device); `solve.tolerance` (schrodinger) |
//! | `temperature` (or `t`) | K | `temperature` |
//! | `num_eigenvalues` | | `solve.states` |
//!
//! With doping (`n_a` or `n_d` above zero) the scene is QDSim's diode: mode
//! `self_consistent`, the dot a region of `qd_material` (its confinement the materials' band
//! offsets, as every device scene of qdsim-gpu; the device modes do not add `potentials`),
//! a quantum region around the dot. Without doping it is a Schrödinger scene in
//! `matrix_material` with the dot as QDSim modelled it, the `v_0` potential (or, without
//! `v_0`, a region of `qd_material`).
//!
//! What has no counterpart is listed in a note (printed, and stored at the end of the
//! scene's `description`): `element_order` (QDSim's FEM order; the finite volumes here are
//! second order), `use_mpi` (run `mpirun -np N qdsim-gpu solve`), `eta` (QDSim's complex
//! absorbing potential: here a state above the continuum is flagged `bound: false`),
//! whatever a mapping leaves out (the dot's own mass under a `v_0` potential), and unknown
//! keys. Values that look like QDSim's SI units (lengths below 1e-3 "nm", energies below
//! 1e-10 "eV") are converted from m and J, with a note.
//!
//! YAML is read with yaml-rust2 (a maintained, pure-Rust YAML 1.2 parser) into JSON values.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{QdError, Result};
use crate::materials::MaterialDb;

/// m⁻³ → cm⁻³: a shift of the decimal exponent (see [`shift10`]).
const PER_M3_TO_PER_CM3: i32 = -6;
/// The alloy fraction taken when a QDSim material names an alloy without one.
const DEFAULT_ALLOY_X: f64 = 0.3;

/// A converted configuration.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The scene (valid: parsed and validated as `qdsim-gpu solve` would).
    pub scene: Value,
    /// What was converted by assumption or has no counterpart, one item a line.
    pub note: String,
    /// The sweeps of a batch file as (scene JSON path, values): the first is the scene's
    /// `sweep` block, the others are for `qdsim-gpu sweep --set PATH=VALUES`.
    pub sweeps: Vec<(String, Vec<Value>)>,
}

/// Read a QDSim configuration (.json, .yaml or .yml) and convert it. Errors name the file
/// and the key (exit code 2).
pub fn import_file(path: &Path) -> Result<Imported> {
    let origin = path.display().to_string();
    let text = crate::scene::files::read_text_bounded(path, crate::scene::files::MAX_SCENE_BYTES)
        .map_err(|r| QdError::input(&origin, format!("cannot read QDSim configuration: {r}")))?;
    let v = parse_config(&text, path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    import_value(&v, &origin, base)
}

/// Parse JSON or YAML text (by the extension; YAML when unknown, of which JSON is a subset).
fn parse_config(text: &str, path: &Path) -> Result<Value> {
    let origin = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_lowercase);
    if ext.as_deref() == Some("json") {
        return serde_json::from_str(text).map_err(|e| QdError::input(&origin, format!("malformed JSON: {e}")));
    }
    let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| QdError::input(&origin, format!("malformed YAML: {e}")))?;
    match docs.into_iter().next() {
        Some(d) => yaml_to_json(&d, &origin),
        None => Err(QdError::input(&origin, "the file holds no configuration")),
    }
}

fn yaml_to_json(y: &yaml_rust2::Yaml, origin: &str) -> Result<Value> {
    use yaml_rust2::Yaml;
    Ok(match y {
        Yaml::Real(s) => match s.parse::<f64>() {
            Ok(f) if f.is_finite() => json!(f),
            _ => return Err(QdError::input(origin, format!("`{s}` is not a finite number"))),
        },
        Yaml::Integer(i) => json!(i),
        Yaml::String(s) => json!(s),
        Yaml::Boolean(b) => json!(b),
        Yaml::Null => Value::Null,
        Yaml::Array(a) => Value::Array(a.iter().map(|x| yaml_to_json(x, origin)).collect::<Result<_>>()?),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Real(s) => s.clone(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => return Err(QdError::input(origin, "a mapping key is not a scalar")),
                };
                m.insert(key, yaml_to_json(v, origin)?);
            }
            Value::Object(m)
        }
        Yaml::Alias(_) | Yaml::BadValue => return Err(QdError::input(origin, "YAML aliases are not supported")),
    })
}

/// The keys of a QDSim configuration, lower-cased, with the file for messages.
struct Config<'a> {
    keys: Map<String, Value>,
    origin: &'a str,
    notes: Vec<String>,
    used: Vec<&'static str>,
}

impl<'a> Config<'a> {
    fn new(v: &Value, origin: &'a str) -> Result<Config<'a>> {
        let obj = v.as_object().ok_or_else(|| QdError::input(origin, "a QDSim configuration is a mapping of keys (lx, ly, nx, ...)"))?;
        let mut keys = Map::new();
        for (k, v) in obj {
            let lk = k.trim().to_lowercase();
            if keys.insert(lk.clone(), v.clone()).is_some() {
                return Err(QdError::input(format!("{origin}: {k}"), format!("`{lk}` is given twice (keys are matched case-insensitively)")));
            }
        }
        if let Some(t) = keys.remove("t") {
            keys.entry("temperature".to_string()).or_insert(t);
        }
        Ok(Config { keys, origin, notes: Vec::new(), used: Vec::new() })
    }

    fn at(&self, key: &str) -> String {
        format!("{}: {key}", self.origin)
    }

    fn present(&self, key: &str) -> bool {
        self.keys.get(key).is_some_and(|v| !v.is_null())
    }

    /// A number (a numeric string such as "1e24" too).
    fn num(&mut self, key: &'static str) -> Result<Option<f64>> {
        self.used.push(key);
        match self.keys.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s.trim().parse::<f64>().map(Some).map_err(|_| QdError::input(self.at(key), format!("`{s}` is not a number"))),
            Some(other) => Err(QdError::input(self.at(key), format!("must be a number, got {other}"))),
        }
    }

    fn positive(&mut self, key: &'static str) -> Result<Option<f64>> {
        match self.num(key)? {
            Some(v) if !(v.is_finite() && v > 0.0) => Err(QdError::input(self.at(key), format!("must be a positive number, got {v}"))),
            v => Ok(v),
        }
    }

    /// A length in nm; a value below 1e-3 is taken as QDSim's metres.
    fn length_nm(&mut self, key: &'static str) -> Result<Option<f64>> {
        Ok(self.positive(key)?.map(|v| {
            if v < 1e-3 {
                let nm = shift10(v, 9);
                self.notes.push(format!("{key} = {v} looks like metres (QDSim's Python configurations use SI): taken as {} nm", fmt(nm)));
                nm
            } else {
                v
            }
        }))
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>> {
        self.used.push(key);
        match self.keys.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(other) => Err(QdError::input(self.at(key), format!("must be a string, got {other}"))),
        }
    }

    fn count(&mut self, key: &'static str) -> Result<Option<usize>> {
        match self.num(key)? {
            None => Ok(None),
            Some(v) if v.fract() == 0.0 && v >= 1.0 && v < 1e9 => Ok(Some(v as usize)),
            Some(v) => Err(QdError::input(self.at(key), format!("must be a whole number of at least 1, got {v}"))),
        }
    }

    /// A material fill: the name checked against the database; an alloy without a fraction
    /// at [`DEFAULT_ALLOY_X`], with a note.
    fn fill(&mut self, key: &'static str, default: &str, db: &MaterialDb) -> Result<Value> {
        let name = self.string(key)?.unwrap_or_else(|| {
            self.notes.push(format!("{key} not given: {default} (QDSim's default)"));
            default.to_string()
        });
        if !db.contains(&name) {
            return Err(QdError::input(self.at(key), format!("unknown material '{name}' (known: {})", db.names().join(", "))));
        }
        if db.is_alloy(&name) {
            self.notes.push(format!(
                "{key} = {name} names an alloy without a fraction: x = {DEFAULT_ALLOY_X} taken (edit the scene's \"x\"; `qdsim-gpu materials {name}` says what x means)"
            ));
            Ok(json!({ "material": name, "x": DEFAULT_ALLOY_X }))
        } else {
            Ok(json!({ "material": name }))
        }
    }
}

fn fmt(v: f64) -> String {
    crate::error::fmt_num(v)
}

/// `v` × 10^`e`, by shifting the decimal exponent of `v`'s shortest representation, so that
/// a unit conversion keeps the digits that were written (1e23 m⁻³ is 1e17 cm⁻³, where
/// `1e23 * 1e-6` would give 9.999999999999998e16).
fn shift10(v: f64, e: i32) -> f64 {
    if e == 0 || v == 0.0 || !v.is_finite() {
        return v;
    }
    let s = format!("{v:e}");
    match s.split_once('e').and_then(|(m, x)| x.parse::<i32>().ok().map(|x| (m.to_string(), x))) {
        Some((m, x)) => format!("{m}e{}", x + e).parse().unwrap_or(v * 10f64.powi(e)),
        None => v * 10f64.powi(e),
    }
}

/// Convert a parsed configuration (`origin` names it in messages; `base` is the folder a
/// batch file's `base_config` path is relative to).
pub fn import_value(v: &Value, origin: &str, base: &Path) -> Result<Imported> {
    let obj = v.as_object().ok_or_else(|| QdError::input(origin, "a QDSim configuration is a mapping of keys (lx, ly, nx, ...)"))?;
    let lower: Map<String, Value> = obj.iter().map(|(k, v)| (k.trim().to_lowercase(), v.clone())).collect();
    if lower.contains_key("base_config") || lower.contains_key("parameter_sweeps") {
        return import_batch(&lower, origin, base);
    }
    import_simple(v, origin).map(|(scene, note, _)| Imported { scene, note, sweeps: Vec::new() })
}

/// Where the converted scene keeps each sweepable QDSim key: (key, scene path, the power
/// of ten to the scene's unit).
type Targets = Vec<(&'static str, String, i32)>;

/// simple_qd: the scene, the note, and the scene paths of the sweepable keys.
fn import_simple(v: &Value, origin: &str) -> Result<(Value, String, Targets)> {
    let mut c = Config::new(v, origin)?;
    let db = MaterialDb::builtin();
    let lx = c.length_nm("lx")?.ok_or_else(|| QdError::input(c.at("lx"), "required: the domain's length along x, nm"))?;
    let ly = c.length_nm("ly")?.ok_or_else(|| QdError::input(c.at("ly"), "required: the domain's length along y, nm"))?;
    let spacing = |c: &mut Config, key: &'static str, l: f64| -> Result<f64> {
        Ok(match c.count(key)? {
            Some(n) if n < 3 => return Err(QdError::input(c.at(key), format!("needs at least 3 elements, got {n}"))),
            Some(n) => l / n as f64,
            None => {
                c.notes.push(format!("{key} not given: a spacing of 1 nm"));
                1.0
            }
        })
    };
    let hx = spacing(&mut c, "nx", lx)?;
    let hy = spacing(&mut c, "ny", ly)?;
    let r = c.length_nm("r")?.unwrap_or_else(|| {
        c.notes.push("r not given: 10 nm (QDSim's default)".into());
        10.0
    });
    let v0 = c.num("v_0")?.map(|v| {
        if v != 0.0 && v.abs() < 1e-10 {
            c.notes.push(format!("v_0 = {v} looks like joules (QDSim's Python configurations use SI): taken as {} eV", fmt(v / crate::constants::Q_SI)));
            v / crate::constants::Q_SI
        } else {
            v
        }
    });
    let ptype = c.string("potential_type")?.map(|s| s.to_lowercase());
    if let Some(p) = &ptype {
        if p != "gaussian" && p != "square" {
            return Err(QdError::input(c.at("potential_type"), format!("'{p}' is not a QDSim potential type: gaussian or square")));
        }
    }
    let n_a = c.num("n_a")?.unwrap_or(0.0);
    let n_d = c.num("n_d")?.unwrap_or(0.0);
    for (k, n) in [("n_a", n_a), ("n_d", n_d)] {
        if !(n.is_finite() && n >= 0.0) {
            return Err(QdError::input(c.at(k), format!("must be a doping density ≥ 0 in m⁻³, got {n}")));
        }
    }
    let v_r = c.num("v_r")?;
    let tolerance = c.positive("tolerance")?;
    let max_iter = c.count("max_iter")?;
    let temperature = c.positive("temperature")?;
    let states = c.count("num_eigenvalues")?;
    let device = n_a > 0.0 || n_d > 0.0;
    let file = Path::new(origin).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| origin.to_string());
    let mut scene = Map::new();
    let mut targets: Targets = vec![("temperature", "temperature".into(), 0)];
    scene.insert("domain".into(), json!({ "size": [lx, ly], "spacing": [hx, hy] }));
    if let Some(t) = temperature {
        scene.insert("temperature".into(), json!(t));
    }
    let qd = c.fill("qd_material", "InAs", &db)?;
    let qd_name = qd["material"].as_str().unwrap_or("").to_string();
    if device {
        let p = c.fill("diode_p_material", "GaAs", &db)?;
        let n = c.fill("diode_n_material", "GaAs", &db)?;
        let matrix = c.fill("matrix_material", "GaAs", &db)?;
        if matrix["material"] != p["material"] || matrix["material"] != n["material"] {
            c.notes.push(format!(
                "matrix_material = {} is not used: in QDSim's diode the p and n materials ({}, {}) fill the domain outside the dot",
                matrix["material"].as_str().unwrap_or(""),
                p["material"].as_str().unwrap_or(""),
                n["material"].as_str().unwrap_or("")
            ));
        }
        let mut bg = p.clone();
        if n_a > 0.0 {
            bg["doping"] = json!({ "acceptors": shift10(n_a, PER_M3_TO_PER_CM3) });
        }
        let mut nside = json!({ "name": "n side", "shape": { "type": "box", "min": [0.0, -ly / 2.0], "max": [lx / 2.0, ly / 2.0] } });
        for (k, val) in n.as_object().into_iter().flatten() {
            nside[k] = val.clone();
        }
        if n_d > 0.0 {
            nside["doping"] = json!({ "donors": shift10(n_d, PER_M3_TO_PER_CM3) });
        }
        let mut dot = json!({ "name": "dot", "shape": { "type": "sphere", "center": [0.0, 0.0], "radius": r } });
        for (k, val) in qd.as_object().into_iter().flatten() {
            dot[k] = val.clone();
        }
        scene.insert("background".into(), bg);
        scene.insert("regions".into(), json!([nside, dot]));
        let v_r = v_r.unwrap_or_else(|| {
            c.notes.push("v_r not given: no bias (0 V)".into());
            0.0
        });
        scene.insert(
            "contacts".into(),
            json!([
                { "name": "p contact", "face": "x_min", "type": "ohmic", "voltage": 0.0 },
                { "name": "n contact", "face": "x_max", "type": "ohmic", "voltage": v_r }
            ]),
        );
        if v0.is_some() || ptype.is_some() {
            c.notes.push(format!(
                "v_0{} (QDSim's explicit dot potential on flat bands) is not applied: in a device scene the dot's confinement comes from the band offsets of {qd_name} in the diode's materials (the database's, with sources)",
                ptype.as_ref().map(|p| format!(" and potential_type = {p}")).unwrap_or_default()
            ));
        }
        // the quantum region: the dot and its surroundings, as the shipped
        // dot_in_pn_diode_2d.json (further into the p side, where the states' tails reach),
        // kept a cell inside the domain
        let qx = [(-3.2 * r).max(-lx / 2.0 + hx), (2.0 * r).min(lx / 2.0 - hx)];
        let qy = [(-3.0 * r).max(-ly / 2.0 + hy), (3.0 * r).min(ly / 2.0 - hy)];
        let mut poisson = json!({
            "statistics": "fermi_dirac",
            "holes": true,
            "mixing": { "method": "anderson", "beta": 0.5, "history": 6 },
            "quantum_region": { "min": [qx[0], qy[0]], "max": [qx[1], qy[1]] }
        });
        if let Some(t) = tolerance {
            poisson["tolerance"] = json!(t);
        }
        if let Some(m) = max_iter {
            poisson["max_iterations"] = json!(m);
        }
        scene.insert("solve".into(), json!({ "mode": "self_consistent", "states": states.unwrap_or(6), "poisson": poisson }));
        c.notes.push(format!(
            "the quantum region (solve.poisson.quantum_region) was chosen around the dot: x from {} to {} nm, y from {} to {} nm",
            fmt(qx[0]),
            fmt(qx[1]),
            fmt(qy[0]),
            fmt(qy[1])
        ));
        targets.extend([
            ("r", "regions[1].shape.radius".to_string(), 0),
            ("v_r", "contacts[1].voltage".to_string(), 0),
            ("n_a", "background.doping.acceptors".to_string(), PER_M3_TO_PER_CM3),
            ("n_d", "regions[0].doping.donors".to_string(), PER_M3_TO_PER_CM3),
        ]);
        scene.insert(
            "name".into(),
            json!(format!("{qd_name} dot in a {} / {} p-n diode (from QDSim's {file})", p["material"].as_str().unwrap_or(""), n["material"].as_str().unwrap_or(""))),
        );
    } else {
        let matrix = c.fill("matrix_material", "GaAs", &db)?;
        for k in ["diode_p_material", "diode_n_material"] {
            if c.present(k) {
                c.notes.push(format!("{k} is not used: without doping (n_a, n_d) there is no diode, the dot sits in matrix_material"));
            }
            c.used.push(match k {
                "diode_p_material" => "diode_p_material",
                _ => "diode_n_material",
            });
        }
        if let Some(v) = v_r {
            if v != 0.0 {
                c.notes.push(format!("v_r = {v} V is not applied: without doping (n_a, n_d) there is no diode to bias"));
            }
        }
        scene.insert("background".into(), matrix.clone());
        match v0 {
            Some(depth) => {
                let pt = ptype.clone().unwrap_or_else(|| {
                    c.notes.push("potential_type not given: gaussian (QDSim's default)".into());
                    "gaussian".into()
                });
                let pot = if pt == "gaussian" {
                    targets.push(("r", "potentials[0].sigma".into(), 0));
                    json!({ "type": "gaussian", "depth": depth, "sigma": r, "center": [0.0, 0.0] })
                } else {
                    targets.push(("r", "potentials[0].shape.radius".into(), 0));
                    json!({ "type": "square_well", "depth": depth, "shape": { "type": "sphere", "center": [0.0, 0.0], "radius": r } })
                };
                targets.push(("v_0", "potentials[0].depth".into(), 0));
                scene.insert("potentials".into(), json!([pot]));
                if qd_name.to_lowercase() != matrix["material"].as_str().unwrap_or("").to_lowercase() {
                    c.notes.push(format!(
                        "qd_material = {qd_name}: its effective mass inside the dot is not applied (a region would bring its band offset too, on top of v_0): the dot is QDSim's v_0 potential in {} with {}'s mass",
                        matrix["material"].as_str().unwrap_or(""),
                        matrix["material"].as_str().unwrap_or("")
                    ));
                }
                scene.insert("name".into(), json!(format!("{pt} dot potential, v_0 = {} eV, R = {} nm, in {} (from QDSim's {file})", fmt(depth), fmt(r), matrix["material"].as_str().unwrap_or(""))));
            }
            None => {
                let mut dot = json!({ "name": "dot", "shape": { "type": "sphere", "center": [0.0, 0.0], "radius": r } });
                for (k, val) in qd.as_object().into_iter().flatten() {
                    dot[k] = val.clone();
                }
                if ptype.is_some() {
                    c.notes.push("potential_type without v_0: the dot is a region of qd_material (its band offset confines)".into());
                }
                targets.push(("r", "regions[0].shape.radius".into(), 0));
                scene.insert("regions".into(), json!([dot]));
                scene.insert("name".into(), json!(format!("{qd_name} dot in {} (from QDSim's {file})", matrix["material"].as_str().unwrap_or(""))));
            }
        }
        let mut solve = json!({ "states": states.unwrap_or(6) });
        if let Some(t) = tolerance {
            if t <= 1e-2 {
                solve["tolerance"] = json!(t);
            } else {
                c.notes.push(format!("tolerance = {t} is above the eigensolver's largest (1e-2, relative to ‖H‖): the default 1e-8 is used"));
            }
        }
        if let Some(m) = max_iter {
            c.notes.push(format!("max_iter = {m} (QDSim's self-consistent iterations) does not apply to a Schrödinger scene"));
        }
        scene.insert("solve".into(), solve);
    }
    // what has no counterpart
    if let Some(o) = c.keys.get("element_order").filter(|v| !v.is_null()) {
        c.notes.push(format!("element_order = {o} (QDSim's finite-element order) has no counterpart: qdsim-gpu discretises with second-order finite volumes on the cell grid"));
    }
    if let Some(m) = c.keys.get("use_mpi").filter(|v| !v.is_null()) {
        c.notes.push(format!("use_mpi = {m} has no counterpart in the scene: run `mpirun -np N qdsim-gpu solve SCENE` (build with --features mpi) to spread a solve over ranks"));
    }
    if let Some(e) = c.keys.get("eta").filter(|v| !v.is_null()) {
        c.notes.push(format!("eta = {e} (QDSim's complex absorbing potential) has no counterpart: the eigenproblem stays Hermitian, and a state above the continuum threshold is flagged `bound: false` in results.json"));
    }
    let known: [&str; 3] = ["element_order", "use_mpi", "eta"];
    let mut unknown: Vec<&String> = c.keys.keys().filter(|k| !c.used.contains(&k.as_str()) && !known.contains(&k.as_str())).collect();
    unknown.sort();
    if !unknown.is_empty() {
        c.notes.push(format!("ignored (no counterpart known to import-qdsim): {}", unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    }
    let note = c.notes.iter().map(|n| format!("- {n}")).collect::<Vec<_>>().join("\n");
    let mut description = format!("Converted from QDSim's {file} by qdsim-gpu import-qdsim (lengths nm, doping m^-3 -> cm^-3).");
    if !note.is_empty() {
        description.push_str(" Notes: ");
        description.push_str(&c.notes.join("; "));
        description.push('.');
    }
    scene.insert("description".into(), json!(description));
    let scene = order(scene);
    check(&scene, origin)?;
    Ok((scene, note, targets))
}

/// The top-level keys in the order of docs/scene-format.md, for a readable file.
fn order(mut m: Map<String, Value>) -> Value {
    let mut out = Map::new();
    for k in ["name", "description", "domain", "temperature", "background", "regions", "potentials", "contacts", "solve", "sweep"] {
        if let Some(v) = m.remove(k) {
            out.insert(k.into(), v);
        }
    }
    out.extend(m);
    Value::Object(out)
}

/// The converted scene must be one `qdsim-gpu solve` accepts: an error names the field of
/// the scene and the configuration it came from.
fn check(scene: &Value, origin: &str) -> Result<()> {
    let s = crate::scene::parse_scene(&scene.to_string()).and_then(|s| crate::scene::validate::validate(&s).map(|_| s));
    match s {
        Ok(_) => Ok(()),
        Err(QdError::Input { path, reason }) => Err(QdError::input(origin, format!("converts to an invalid scene: at `{path}`: {reason}"))),
        Err(e) => Err(e),
    }
}

/// batch_qd: `base_config` (a mapping, or the path of a simple configuration) and
/// `parameter_sweeps` `[{name, parameter, values}]`.
fn import_batch(m: &Map<String, Value>, origin: &str, base: &Path) -> Result<Imported> {
    let at = |k: &str| format!("{origin}: {k}");
    let base_v = match m.get("base_config") {
        Some(Value::Object(o)) => Value::Object(o.clone()),
        Some(Value::String(p)) => {
            let path = base.join(p);
            let text = crate::scene::files::read_text_bounded(&path, crate::scene::files::MAX_SCENE_BYTES)
                .map_err(|r| QdError::input(at("base_config"), format!("cannot read {}: {r}", path.display())))?;
            parse_config(&text, &path)?
        }
        Some(other) => return Err(QdError::input(at("base_config"), format!("must be a mapping of QDSim keys or the path of a configuration file, got {other}"))),
        None => return Err(QdError::input(at("base_config"), "required in a batch file (with parameter_sweeps)")),
    };
    let (mut scene, note, targets) = import_simple(&base_v, &format!("{origin}: base_config"))?;
    let mut notes: Vec<String> = if note.is_empty() { Vec::new() } else { vec![note] };
    let list = match m.get("parameter_sweeps") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => return Err(QdError::input(at("parameter_sweeps"), format!("must be a list of {{name, parameter, values}}, got {other}"))),
    };
    let mut sweeps = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let here = at(&format!("parameter_sweeps[{i}]"));
        let o = s.as_object().ok_or_else(|| QdError::input(&here, "must be a mapping {name, parameter, values}"))?;
        let o: Map<String, Value> = o.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect();
        let param = o.get("parameter").and_then(Value::as_str).ok_or_else(|| QdError::input(format!("{here}.parameter"), "required: the QDSim key to vary (r, v_r, n_a, ...)"))?;
        let key = param.trim().to_lowercase();
        let key = if key == "t" { "temperature".to_string() } else { key };
        let (_, path, factor) = targets.iter().find(|(k, _, _)| *k == key).ok_or_else(|| {
            QdError::input(
                format!("{here}.parameter"),
                format!("`{param}` cannot be swept in this scene (sweepable here: {})", targets.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")),
            )
        })?;
        let values = sweep_values(o.get("values"), &format!("{here}.values"))?;
        let values: Vec<Value> = values.iter().map(|&v| json!(shift10(v, *factor))).collect();
        let name = o.get("name").and_then(Value::as_str).unwrap_or(param);
        if sweeps.is_empty() {
            scene["sweep"] = json!({ "parameter": path, "values": values });
            notes.push(format!("- parameter sweep '{name}' ({param}) is the scene's sweep block: `qdsim-gpu sweep SCENE`"));
        } else {
            let list: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            notes.push(format!("- parameter sweep '{name}' ({param}): `qdsim-gpu sweep SCENE --set {path}={}`", list.join(",")));
        }
        sweeps.push((path.clone(), values));
    }
    let note = notes.join("\n");
    if let Some(d) = scene.get_mut("description") {
        let extra: Vec<String> = note.lines().filter(|l| l.starts_with("- parameter sweep")).map(|l| l.trim_start_matches("- ").to_string()).collect();
        if !extra.is_empty() {
            *d = json!(format!("{} Sweeps: {}.", d.as_str().unwrap_or(""), extra.join("; ")));
        }
    }
    let scene = match scene {
        Value::Object(m) => order(m),
        v => v,
    };
    check(&scene, origin)?;
    Ok(Imported { scene, note, sweeps })
}

/// A list of numbers, or `{start, stop, num}` (also `from`/`to`/`steps`), as QDSim's batch
/// files wrote them.
fn sweep_values(v: Option<&Value>, at: &str) -> Result<Vec<f64>> {
    let num = |x: &Value| -> Result<f64> {
        match x {
            Value::Number(n) => n.as_f64().ok_or_else(|| QdError::input(at, "not a number")),
            Value::String(s) => s.trim().parse::<f64>().map_err(|_| QdError::input(at, format!("`{s}` is not a number"))),
            other => Err(QdError::input(at, format!("values are numbers, got {other}"))),
        }
    };
    match v {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().map(num).collect(),
        Some(Value::Object(o)) => {
            let get = |names: &[&str]| names.iter().find_map(|n| o.get(*n)).ok_or_else(|| QdError::input(at, format!("a range needs {}", names.join(" or "))));
            let a = num(get(&["start", "from"])?)?;
            let b = num(get(&["stop", "to", "end"])?)?;
            let n = num(get(&["num", "steps", "count"])?)?;
            if !(n >= 2.0 && n.fract() == 0.0 && n <= crate::scene::MAX_SWEEP_POINTS as f64) {
                return Err(QdError::input(at, format!("a range needs 2 to {} points, got {n}", crate::scene::MAX_SWEEP_POINTS)));
            }
            let n = n as usize;
            Ok((0..n).map(|i| a + (b - a) * i as f64 / (n - 1) as f64).collect())
        }
        _ => Err(QdError::input(at, "required: a non-empty list of values, or {start, stop, num}")),
    }
}
