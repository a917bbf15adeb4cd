//! Materials: the built-in III-V database, user material files, alloys and
//! temperature-dependent band edges.
//!
//! # Conventions
//! - Energies in eV on the common ("absolute") scale of Vurgaftman, Meyer and Ram-Mohan,
//!   J. Appl. Phys. 89, 5815 (2001): `vbo` is the valence-band maximum (VBM) of the
//!   unstrained material, with the InSb VBM at 0 eV (GaAs −0.80, AlAs −1.33, InAs −0.59).
//! - `Ev(T) = vbo` (temperature independent); `Ec(T) = vbo + Eg(T)`, with the Varshni gap
//!   `Eg(T) = eg0 − alpha T² / (T + beta)`. All of the gap's temperature shift is put on the
//!   conduction band.
//! - Masses are in units of the free-electron mass m0 and always positive. The electron mass
//!   is the Γ-valley mass; heavy- and light-hole masses are the [001] masses from the
//!   Luttinger parameters: `mhh = 1/(γ1 − 2γ2)`, `mlh = 1/(γ1 + 2γ2)`.
//! - Carrier-energy convention of the solver ([`Material::band_edge`]): electrons see
//!   `Ec(T)`; holes see `−Ev(T)` (hole energies are measured downward, so a well for holes
//!   is a minimum of `−Ev`, just as a well for electrons is a minimum of `Ec`).
//! - Alloys A_x B_(1−x): `P(x) = x P_A + (1 − x) P_B − x (1 − x) C`, with the bowing
//!   `C = c0 + c1 x` where the source gives a composition-dependent bowing, and `C = 0`
//!   (linear interpolation) for every property without a bowing entry. The bowing of the gap
//!   applies to `eg0`; `alpha` and `beta` interpolate linearly.
//!
//! See `docs/materials.md` for the file format.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::error::{QdError, Result};

/// The embedded database (`src/materials/database.json`).
pub const BUILTIN_JSON: &str = include_str!("database.json");

/// Property names in the order of [`Params`], with their units and a short description.
pub const PROPERTIES: [(&str, &str, &str); 9] = [
    ("me", "m0", "electron effective mass (Γ valley)"),
    ("mhh", "m0", "heavy-hole mass [001], 1/(γ1−2γ2)"),
    ("mlh", "m0", "light-hole mass [001], 1/(γ1+2γ2)"),
    ("eg0", "eV", "Γ band gap at 0 K"),
    ("alpha", "eV/K", "Varshni α"),
    ("beta", "K", "Varshni β"),
    ("vbo", "eV", "valence-band maximum, common scale (InSb = 0)"),
    ("eps_r", "1", "static relative permittivity"),
    ("a_lc", "Å", "lattice constant at 300 K"),
];

const N_PROPS: usize = PROPERTIES.len();

/// The carrier a Schrödinger problem is solved for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    Electron,
    HeavyHole,
    LightHole,
}

impl Carrier {
    pub const ALL: [Carrier; 3] = [Carrier::Electron, Carrier::HeavyHole, Carrier::LightHole];

    /// snake_case name, as in JSON (`electron`, `heavy_hole`, `light_hole`).
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Electron => "electron",
            Carrier::HeavyHole => "heavy_hole",
            Carrier::LightHole => "light_hole",
        }
    }

    pub fn is_hole(self) -> bool {
        !matches!(self, Carrier::Electron)
    }
}

/// A resolved material: a binary, or an alloy at a given composition.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Material {
    /// Display name, e.g. "GaAs" or "Al0.30Ga0.70As".
    pub name: String,
    /// Alloy fraction (None for a binary).
    pub x: Option<f64>,
    /// Electron Γ-valley effective mass, m0.
    pub me: f64,
    /// Heavy-hole mass along [001], m0.
    pub mhh: f64,
    /// Light-hole mass along [001], m0.
    pub mlh: f64,
    /// Γ band gap at 0 K, eV.
    pub eg0: f64,
    /// Varshni α, eV/K.
    pub alpha: f64,
    /// Varshni β, K.
    pub beta: f64,
    /// Valence-band maximum on the common energy scale (InSb VBM = 0), eV.
    pub vbo: f64,
    /// Static relative permittivity.
    pub eps_r: f64,
    /// Lattice constant at 300 K, Å.
    pub a_lc: f64,
}

impl Material {
    /// Varshni band gap `eg0 − alpha T²/(T + beta)`, eV. T ≤ 0 gives `eg0`.
    pub fn band_gap(&self, t_kelvin: f64) -> f64 {
        if t_kelvin <= 0.0 {
            return self.eg0;
        }
        self.eg0 - self.alpha * t_kelvin * t_kelvin / (t_kelvin + self.beta)
    }

    /// Whether the material can be used at `t` K: 0 < t ≤ [`MAX_TEMPERATURE_K`] and a
    /// positive Varshni gap there (a narrow-gap material's fit can cross zero at high T,
    /// e.g. InAs(1−x)Sb(x) near x = 0.6 above about 600 K; Ec ≤ Ev has no carrier
    /// statistics). The error is a reason sentence.
    pub fn check_temperature(&self, t: f64) -> std::result::Result<(), String> {
        use crate::scene::validate::fmt_num;
        if !(t.is_finite() && t > 0.0 && t <= MAX_TEMPERATURE_K) {
            return Err(format!("the temperature must be in (0, {}] K, got {} K", fmt_num(MAX_TEMPERATURE_K), fmt_num(t)));
        }
        let eg = self.band_gap(t);
        if !(eg > 0.0) {
            return Err(format!(
                "{} has no band gap at {} K: its Varshni law Eg(T) = {} − {}·T²/(T + {}) eV gives {} eV; \
                 the fit does not extend to this temperature: use a lower one",
                self.name,
                fmt_num(t),
                fmt_num(self.eg0),
                fmt_num(self.alpha),
                fmt_num(self.beta),
                fmt_num(eg)
            ));
        }
        Ok(())
    }

    /// Valence-band edge, eV: `vbo` (taken as temperature independent).
    pub fn ev(&self, _t: f64) -> f64 {
        self.vbo
    }

    /// Conduction-band edge, eV: `vbo + Eg(T)`.
    pub fn ec(&self, t: f64) -> f64 {
        self.vbo + self.band_gap(t)
    }

    /// Effective mass of the carrier, m0 (positive).
    pub fn mass(&self, c: Carrier) -> f64 {
        match c {
            Carrier::Electron => self.me,
            Carrier::HeavyHole => self.mhh,
            Carrier::LightHole => self.mlh,
        }
    }

    /// Band edge the carrier sees as potential energy, in the solver's "carrier energy"
    /// convention, eV: electrons `Ec(T)`; holes `−Ev(T)` (hole energies are measured
    /// downward, so the valence-band maximum of a well material, the highest `Ev`, is the
    /// lowest hole potential). Eigenvalues for holes are thus positive downward energies;
    /// the physical level is `−E`.
    pub fn band_edge(&self, c: Carrier, t: f64) -> f64 {
        match c {
            Carrier::Electron => self.ec(t),
            Carrier::HeavyHole | Carrier::LightHole => -self.ev(t),
        }
    }

    fn from_params(name: String, x: Option<f64>, p: &Params) -> Material {
        let v = &p.0;
        Material {
            name,
            x,
            me: v[0],
            mhh: v[1],
            mlh: v[2],
            eg0: v[3],
            alpha: v[4],
            beta: v[5],
            vbo: v[6],
            eps_r: v[7],
            a_lc: v[8],
        }
    }

    /// The property by its name in [`PROPERTIES`].
    pub fn get(&self, prop: &str) -> Option<f64> {
        Some(match prop {
            "me" => self.me,
            "mhh" => self.mhh,
            "mlh" => self.mlh,
            "eg0" => self.eg0,
            "alpha" => self.alpha,
            "beta" => self.beta,
            "vbo" => self.vbo,
            "eps_r" => self.eps_r,
            "a_lc" => self.a_lc,
            _ => return None,
        })
    }
}

/// The nine numeric properties, in [`PROPERTIES`] order.
#[derive(Clone, Debug, PartialEq)]
struct Params([f64; N_PROPS]);

fn prop_index(name: &str) -> Option<usize> {
    PROPERTIES.iter().position(|p| p.0 == name)
}

/// An alloy bowing parameter `C = c0 + c1 x`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bowing {
    c0: f64,
    c1: f64,
}

impl Bowing {
    fn at(&self, x: f64) -> f64 {
        self.c0 + self.c1 * x
    }
    fn describe(&self) -> String {
        if self.c1 == 0.0 {
            crate::scene::validate::fmt_num(self.c0)
        } else {
            format!(
                "{} {} {}x",
                self.c0,
                if self.c1 < 0.0 { "−" } else { "+" },
                self.c1.abs()
            )
        }
    }
}

#[derive(Clone, Debug)]
struct Binary {
    name: String,
    params: Params,
    gamma: Option<(f64, f64)>,
    note: Option<String>,
    /// Property (or "*") -> source text.
    source: BTreeMap<String, String>,
    /// The merged JSON object, kept so later files can override single fields.
    raw: Map<String, Value>,
}

#[derive(Clone, Debug)]
struct Alloy {
    name: String,
    /// Endpoint at x = 1 (lower-case key of a binary).
    a: String,
    /// Endpoint at x = 0.
    b: String,
    x_is: Option<String>,
    display: Option<String>,
    bowing: BTreeMap<usize, Bowing>,
    note: Option<String>,
    source: BTreeMap<String, String>,
    raw: Map<String, Value>,
}

/// The material database: built-in entries plus those merged from scene files.
#[derive(Clone, Debug)]
pub struct MaterialDb {
    /// Keyed by lower-case name.
    binaries: BTreeMap<String, Binary>,
    alloys: BTreeMap<String, Alloy>,
    /// Citation key -> full citation.
    sources: BTreeMap<String, String>,
}

const BINARY_KEYS: [&str; 15] = [
    "me", "mhh", "mlh", "gamma1", "gamma2", "gamma3", "eg0", "alpha", "beta", "vbo", "eps_r",
    "a_lc", "source", "note", "comment",
];
const ALLOY_KEYS: [&str; 8] = [
    "a", "b", "x_is", "display", "bowing", "note", "source", "comment",
];
const TOP_KEYS: [&str; 5] = ["format", "comment", "sources", "binaries", "alloys"];

impl Default for MaterialDb {
    fn default() -> Self {
        MaterialDb::builtin()
    }
}

impl MaterialDb {
    /// An empty database (no materials).
    pub fn empty() -> MaterialDb {
        MaterialDb {
            binaries: BTreeMap::new(),
            alloys: BTreeMap::new(),
            sources: BTreeMap::new(),
        }
    }

    /// The built-in database parsed from the embedded `database.json`.
    /// Panics only if the embedded file is broken (a unit test guards it).
    pub fn builtin() -> MaterialDb {
        let mut db = MaterialDb::empty();
        if let Err(e) = db.merge_json(BUILTIN_JSON, "database.json") {
            panic!("embedded materials database is broken: {e}");
        }
        db
    }

    /// Merge a materials file (same schema as `database.json`): entries add to the database
    /// or override existing ones field by field (an entry that exists already needs only the
    /// fields it changes). Errors are [`QdError::Input`] with a path such as
    /// `"<origin>:MyMat.me"`. On error the database is left unchanged.
    pub fn merge_json(&mut self, json: &str, origin: &str) -> Result<()> {
        crate::scene::files::json_object_start(json, "a materials file")
            .map_err(|r| QdError::input(origin, r))?;
        let root: Value = serde_json::from_str(json).map_err(|e| {
            let reason = if e.to_string().starts_with("trailing characters") {
                crate::scene::files::trailing_reason(&e, "the materials")
            } else {
                format!("not valid JSON: {e}")
            };
            QdError::input(origin, reason)
        })?;
        let root = match root {
            Value::Object(m) => m,
            _ => {
                return Err(QdError::input(
                    origin,
                    "a materials file must be a JSON object",
                ))
            }
        };
        for k in root.keys() {
            if !TOP_KEYS.contains(&k.as_str()) {
                return Err(QdError::input(
                    format!("{origin}:{k}"),
                    format!("unknown top-level key (allowed: {})", TOP_KEYS.join(", ")),
                ));
            }
        }
        let mut next = self.clone();
        if let Some(s) = root.get("sources") {
            let m = s.as_object().ok_or_else(|| {
                QdError::input(
                    format!("{origin}:sources"),
                    "must be an object {key: citation}",
                )
            })?;
            for (k, v) in m {
                let text = v.as_str().ok_or_else(|| {
                    QdError::input(format!("{origin}:sources.{k}"), "must be a string")
                })?;
                next.sources.insert(k.clone(), text.to_string());
            }
        }
        if let Some(b) = root.get("binaries") {
            let m = b.as_object().ok_or_else(|| {
                QdError::input(
                    format!("{origin}:binaries"),
                    "must be an object {name: {...}}",
                )
            })?;
            for (name, entry) in m {
                next.merge_binary(name, entry, origin)?;
            }
        }
        if let Some(a) = root.get("alloys") {
            let m = a.as_object().ok_or_else(|| {
                QdError::input(
                    format!("{origin}:alloys"),
                    "must be an object {name: {...}}",
                )
            })?;
            for (name, entry) in m {
                next.merge_alloy(name, entry, origin)?;
            }
        }
        // Every alloy must still resolve at both ends and in the middle (an override of a
        // binary may have broken one).
        for al in next.alloys.values() {
            for x in [0.0, 0.5, 1.0] {
                if let Err(reason) = next.resolve(&al.name, Some(x)) {
                    return Err(QdError::input(format!("{origin}:{}", al.name), reason));
                }
            }
        }
        *self = next;
        Ok(())
    }

    /// [`merge_json`](Self::merge_json) on a file; the origin in error paths is the file name.
    /// The file must be a regular file of at most
    /// [`MAX_MATERIALS_BYTES`](crate::scene::files::MAX_MATERIALS_BYTES) of UTF-8 text; a
    /// folder, a device, a pipe, a missing or unreadable file is an input error naming it.
    pub fn merge_file(&mut self, path: &std::path::Path) -> Result<()> {
        let text = crate::scene::files::read_text_bounded(path, crate::scene::files::MAX_MATERIALS_BYTES)
            .map_err(|r| QdError::input(path.display().to_string(), format!("cannot read the materials file: {r}")))?;
        let origin = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        self.merge_json(&text, &origin)
    }

    fn merge_binary(&mut self, name: &str, entry: &Value, origin: &str) -> Result<()> {
        let at = |f: &str| format!("{origin}:{name}.{f}");
        check_name(name).map_err(|r| QdError::input(format!("{origin}:{name}"), r))?;
        let key = name.to_lowercase();
        if self.alloys.contains_key(&key) {
            return Err(QdError::input(
                format!("{origin}:{name}"),
                format!("'{name}' is already an alloy; a binary cannot reuse the name"),
            ));
        }
        let patch = entry.as_object().ok_or_else(|| {
            QdError::input(
                format!("{origin}:{name}"),
                "a material entry must be a JSON object",
            )
        })?;
        for k in patch.keys() {
            if !BINARY_KEYS.contains(&k.as_str()) {
                return Err(QdError::input(
                    at(k),
                    format!("unknown field (allowed: {})", BINARY_KEYS.join(", ")),
                ));
            }
        }
        let (display, mut raw) = match self.binaries.get(&key) {
            Some(b) => (b.name.clone(), b.raw.clone()),
            None => (name.to_string(), Map::new()),
        };
        // Luttinger parameters given without explicit masses replace inherited masses.
        if patch.contains_key("gamma1") || patch.contains_key("gamma2") {
            for m in ["mhh", "mlh"] {
                if !patch.contains_key(m) {
                    raw.remove(m);
                }
            }
        }
        overlay(&mut raw, patch, origin);
        let b = parse_binary(&display, &raw, origin)?;
        self.binaries.insert(key, b);
        Ok(())
    }

    fn merge_alloy(&mut self, name: &str, entry: &Value, origin: &str) -> Result<()> {
        check_name(name).map_err(|r| QdError::input(format!("{origin}:{name}"), r))?;
        let key = name.to_lowercase();
        if self.binaries.contains_key(&key) {
            return Err(QdError::input(
                format!("{origin}:{name}"),
                format!("'{name}' is already a binary; an alloy cannot reuse the name"),
            ));
        }
        let patch = entry.as_object().ok_or_else(|| {
            QdError::input(
                format!("{origin}:{name}"),
                "an alloy entry must be a JSON object",
            )
        })?;
        for k in patch.keys() {
            if !ALLOY_KEYS.contains(&k.as_str()) {
                return Err(QdError::input(
                    format!("{origin}:{name}.{k}"),
                    format!("unknown field (allowed: {})", ALLOY_KEYS.join(", ")),
                ));
            }
        }
        let (display, mut raw) = match self.alloys.get(&key) {
            Some(a) => (a.name.clone(), a.raw.clone()),
            None => (name.to_string(), Map::new()),
        };
        overlay(&mut raw, patch, origin);
        let al = parse_alloy(&display, &raw, origin, &self.binaries)?;
        self.alloys.insert(key, al);
        Ok(())
    }

    /// Resolve a material by name (case-insensitive). A binary takes no `x`; an alloy needs
    /// `x` in [0, 1]. The error is a reason sentence; the caller adds the JSON path.
    pub fn resolve(&self, name: &str, x: Option<f64>) -> std::result::Result<Material, String> {
        let key = name.trim().to_lowercase();
        if let Some(b) = self.binaries.get(&key) {
            if let Some(x) = x {
                return Err(format!(
                    "{} is a binary compound and takes no \"x\" (got x = {})",
                    b.name,
                    crate::scene::validate::fmt_num(x)
                ));
            }
            return Ok(Material::from_params(b.name.clone(), None, &b.params));
        }
        if let Some(al) = self.alloys.get(&key) {
            let x = match x {
                Some(x) => x,
                None => {
                    return Err(format!(
                        "{} is an alloy and needs \"x\"{}",
                        al.name,
                        al.x_is
                            .as_deref()
                            .map(|s| format!(" ({s})"))
                            .unwrap_or_default()
                    ))
                }
            };
            if !x.is_finite() || !(0.0..=1.0).contains(&x) {
                return Err(format!("alloy fraction x = {} outside [0, 1]", crate::scene::validate::fmt_num(x)));
            }
            let pa = &self
                .binaries
                .get(&al.a)
                .ok_or_else(|| format!("alloy {} refers to unknown binary '{}'", al.name, al.a))?
                .params;
            let pb = &self
                .binaries
                .get(&al.b)
                .ok_or_else(|| format!("alloy {} refers to unknown binary '{}'", al.name, al.b))?
                .params;
            let mut v = [0.0; N_PROPS];
            for i in 0..N_PROPS {
                let c = al.bowing.get(&i).map(|b| b.at(x)).unwrap_or(0.0);
                v[i] = x * pa.0[i] + (1.0 - x) * pb.0[i] - x * (1.0 - x) * c;
            }
            let p = Params(v);
            if let Err((field, reason)) = check_params(&p) {
                return Err(format!(
                    "{} at x = {} gives {field} = {}: {reason}",
                    al.name,
                    crate::scene::validate::fmt_num(x),
                    crate::scene::validate::fmt_num(v[prop_index(field).unwrap()])
                ));
            }
            return Ok(Material::from_params(alloy_display(al, x), Some(x), &p));
        }
        Err(format!(
            "unknown material '{}' (known: {})",
            name,
            self.names().join(", ")
        ))
    }

    /// All material names: binaries, then alloys, each sorted.
    pub fn names(&self) -> Vec<String> {
        let mut b: Vec<String> = self.binaries.values().map(|m| m.name.clone()).collect();
        let mut a: Vec<String> = self.alloys.values().map(|m| m.name.clone()).collect();
        b.sort();
        a.sort();
        b.extend(a);
        b
    }

    /// Whether `name` (case-insensitive) is an alloy that needs `x`.
    pub fn is_alloy(&self, name: &str) -> bool {
        self.alloys.contains_key(&name.trim().to_lowercase())
    }

    /// Whether `name` (case-insensitive) is known at all.
    pub fn contains(&self, name: &str) -> bool {
        let k = name.trim().to_lowercase();
        self.binaries.contains_key(&k) || self.alloys.contains_key(&k)
    }

    /// For an alloy: (endpoint at x = 1, endpoint at x = 0, what x means).
    pub fn alloy_endpoints(&self, name: &str) -> Option<(String, String, Option<String>)> {
        let al = self.alloys.get(&name.trim().to_lowercase())?;
        Some((
            self.binaries.get(&al.a)?.name.clone(),
            self.binaries.get(&al.b)?.name.clone(),
            al.x_is.clone(),
        ))
    }

    /// The source text of one property of a material (`prop` from [`PROPERTIES`]), with
    /// citation keys expanded where the database's `sources` map knows them.
    pub fn source_of(&self, name: &str, prop: &str) -> Option<String> {
        let k = name.trim().to_lowercase();
        let map = if let Some(b) = self.binaries.get(&k) {
            &b.source
        } else {
            &self.alloys.get(&k)?.source
        };
        let s = map.get(prop).or_else(|| map.get("*"))?;
        Some(s.clone())
    }

    /// Full citations: key -> text.
    pub fn citations(&self) -> &BTreeMap<String, String> {
        &self.sources
    }

    fn expand_citation(&self, s: &str) -> Option<String> {
        let key = s.split(':').next().unwrap_or(s).trim();
        self.sources.get(key).map(|c| format!("[{key}] {c}"))
    }
}

/// Overlay `patch` on `base`: top-level fields replace, `bowing` and `source` objects merge
/// key by key. Numeric fields the patch sets get `origin` as their source unless the patch
/// names a source itself.
fn overlay(base: &mut Map<String, Value>, patch: &Map<String, Value>, origin: &str) {
    for (k, v) in patch {
        match (k.as_str(), base.get_mut(k), v) {
            ("bowing" | "source", Some(Value::Object(b)), Value::Object(p)) => {
                for (k2, v2) in p {
                    b.insert(k2.clone(), v2.clone());
                }
            }
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    if origin == "database.json" || patch.contains_key("source") {
        return;
    }
    let tag = format!("materials file {origin}");
    let mut src = match base.remove("source") {
        Some(Value::Object(m)) => m,
        Some(Value::String(s)) => {
            let mut m = Map::new();
            m.insert("*".into(), Value::String(s));
            m
        }
        _ => Map::new(),
    };
    if src.is_empty() {
        src.insert("*".into(), Value::String(tag.clone()));
    }
    for k in patch.keys() {
        if prop_index(k).is_some() || k == "gamma1" || k == "gamma2" {
            src.insert(k.clone(), Value::String(tag.clone()));
        }
        if k == "gamma1" || k == "gamma2" {
            src.insert("mhh".into(), Value::String(tag.clone()));
            src.insert("mlh".into(), Value::String(tag.clone()));
        }
        if k == "bowing" {
            if let Some(Value::Object(p)) = patch.get("bowing") {
                for k2 in p.keys() {
                    src.insert(k2.clone(), Value::String(tag.clone()));
                }
            }
        }
    }
    base.insert("source".into(), Value::Object(src));
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("material name must not be empty".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(format!(
            "material name '{name}' may contain only ASCII letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

fn num(raw: &Map<String, Value>, field: &str, at: &dyn Fn(&str) -> String) -> Result<Option<f64>> {
    match raw.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let v = n.as_f64().unwrap_or(f64::NAN);
            if !v.is_finite() {
                return Err(QdError::input(at(field), "must be a finite number"));
            }
            Ok(Some(v))
        }
        Some(other) => Err(QdError::input(
            at(field),
            format!("must be a number, got {other}"),
        )),
    }
}

fn opt_str(
    raw: &Map<String, Value>,
    field: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<Option<String>> {
    match raw.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(QdError::input(at(field), "must be a string")),
    }
}

fn parse_source(
    raw: &Map<String, Value>,
    at: &dyn Fn(&str) -> String,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match raw.get("source") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.insert("*".to_string(), s.clone());
        }
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if k != "*" && prop_index(k).is_none() && k != "gamma1" && k != "gamma2" {
                    return Err(QdError::input(
                        at(&format!("source.{k}")),
                        "source keys are property names or \"*\" (default)",
                    ));
                }
                let s = v.as_str().ok_or_else(|| {
                    QdError::input(at(&format!("source.{k}")), "must be a string")
                })?;
                out.insert(k.clone(), s.to_string());
            }
        }
        Some(_) => {
            return Err(QdError::input(
                at("source"),
                "must be a string or an object {property: source}",
            ))
        }
    }
    Ok(out)
}

/// Physical ranges of the nine properties, in [`PROPERTIES`] order: (low, high, what), both
/// ends included except the band gap's lower end (eg0 > 0). Documented in docs/materials.md.
/// They are wide (the III-V values lie well inside) and exist to catch unit slips and
/// nonsense such as `me = 1e-300`, which would make every energy NaN.
pub const RANGES: [(f64, f64, &str); N_PROPS] = [
    (1e-3, 10.0, "m0"),
    (1e-3, 10.0, "m0"),
    (1e-3, 10.0, "m0"),
    (0.0, 10.0, "eV"),
    (0.0, 1e-2, "eV/K"),
    (0.0, 1e4, "K"),
    (-10.0, 10.0, "eV"),
    (1.0, 100.0, ""),
    (1.0, 20.0, "Å"),
];

/// Upper end of the temperatures the materials are used at, K (the scene's limit): the
/// Varshni fits of the database rest on data up to a few hundred K, and the statistics
/// need a positive gap, which [`Material::check_temperature`] checks at the scene's T.
pub const MAX_TEMPERATURE_K: f64 = 1000.0;

/// `[lo, hi] unit` of property `i`, for messages.
fn range_text(i: usize) -> String {
    let (lo, hi, unit) = RANGES[i];
    let lo_br = if PROPERTIES[i].0 == "eg0" { "(" } else { "[" };
    let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
    format!("{lo_br}{}, {}]{unit}", crate::scene::validate::fmt_num(lo), crate::scene::validate::fmt_num(hi))
}

/// Physical sanity of a parameter set: Err((field, reason)).
fn check_params(p: &Params) -> std::result::Result<(), (&'static str, String)> {
    for (i, (name, _, what)) in PROPERTIES.iter().enumerate() {
        let v = p.0[i];
        if !v.is_finite() {
            return Err((name, "must be finite".into()));
        }
        let (lo, hi, _) = RANGES[i];
        let ok = if *name == "eg0" { v > lo && v <= hi } else { v >= lo && v <= hi };
        if !ok {
            return Err((name, format!("the {what} must be in {}", range_text(i))));
        }
    }
    Ok(())
}

/// A bowing parameter's bound: since x(1−x) ≤ 1/4, a bowing of 4 × the width of the
/// property's range moves the value across the whole range; a larger one is never meant.
fn bowing_bound(i: usize) -> f64 {
    4.0 * (RANGES[i].1 - RANGES[i].0)
}

fn parse_binary(name: &str, raw: &Map<String, Value>, origin: &str) -> Result<Binary> {
    let at = |f: &str| format!("{origin}:{name}.{f}");
    let g1 = num(raw, "gamma1", &at)?;
    let g2 = num(raw, "gamma2", &at)?;
    let _g3 = num(raw, "gamma3", &at)?;
    let gamma = match (g1, g2) {
        (Some(a), Some(b)) => {
            if a <= 0.0 {
                return Err(QdError::input(
                    at("gamma1"),
                    format!("must be > 0 (got {})", crate::scene::validate::fmt_num(a)),
                ));
            }
            if a - 2.0 * b <= 0.0 {
                return Err(QdError::input(
                    at("gamma2"),
                    format!(
                        "gamma1 − 2·gamma2 = {} must be > 0 for a positive heavy-hole mass",
                        a - 2.0 * b
                    ),
                ));
            }
            if a + 2.0 * b <= 0.0 {
                return Err(QdError::input(
                    at("gamma2"),
                    "gamma1 + 2·gamma2 must be > 0 for a positive light-hole mass",
                ));
            }
            Some((a, b))
        }
        (Some(_), None) => return Err(QdError::input(at("gamma2"), "gamma1 given without gamma2")),
        (None, Some(_)) => return Err(QdError::input(at("gamma1"), "gamma2 given without gamma1")),
        (None, None) => None,
    };
    let mut v = [0.0; N_PROPS];
    for (i, (field, unit, what)) in PROPERTIES.iter().enumerate() {
        let val = num(raw, field, &at)?;
        v[i] = match (val, *field, gamma) {
            (Some(x), _, _) => x,
            (None, "mhh", Some((a, b))) => 1.0 / (a - 2.0 * b),
            (None, "mlh", Some((a, b))) => 1.0 / (a + 2.0 * b),
            (None, "mhh" | "mlh", None) => {
                return Err(QdError::input(
                    at(field),
                    format!("missing {what} ({unit}); give \"{field}\" or the Luttinger parameters \"gamma1\" and \"gamma2\""),
                ))
            }
            (None, _, _) => {
                return Err(QdError::input(at(field), format!("missing required field: {what} ({unit})")))
            }
        };
    }
    let params = Params(v);
    if let Err((field, reason)) = check_params(&params) {
        return Err(QdError::input(
            at(field),
            format!("{reason}, got {}", crate::scene::validate::fmt_num(v[prop_index(field).unwrap()])),
        ));
    }
    Ok(Binary {
        name: name.to_string(),
        params,
        gamma,
        note: opt_str(raw, "note", &at)?,
        source: parse_source(raw, &at)?,
        raw: raw.clone(),
    })
}

fn parse_alloy(
    name: &str,
    raw: &Map<String, Value>,
    origin: &str,
    binaries: &BTreeMap<String, Binary>,
) -> Result<Alloy> {
    let at = |f: &str| format!("{origin}:{name}.{f}");
    let endpoint = |f: &str| -> Result<String> {
        let s = opt_str(raw, f, &at)?.ok_or_else(|| {
            QdError::input(
                at(f),
                format!(
                    "missing required field: the binary at x = {} (a name)",
                    if f == "a" { 1 } else { 0 }
                ),
            )
        })?;
        let k = s.trim().to_lowercase();
        if !binaries.contains_key(&k) {
            let known: Vec<&str> = binaries.values().map(|b| b.name.as_str()).collect();
            return Err(QdError::input(
                at(f),
                format!("unknown binary '{s}' (known: {})", known.join(", ")),
            ));
        }
        Ok(k)
    };
    let a = endpoint("a")?;
    let b = endpoint("b")?;
    if a == b {
        return Err(QdError::input(
            at("b"),
            "the two endpoints of an alloy must differ",
        ));
    }
    let mut bowing = BTreeMap::new();
    match raw.get("bowing") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let i = prop_index(k).ok_or_else(|| {
                    QdError::input(
                        at(&format!("bowing.{k}")),
                        format!(
                            "unknown property (allowed: {})",
                            PROPERTIES
                                .iter()
                                .map(|p| p.0)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                let path = format!("bowing.{k}");
                let bw = match v {
                    Value::Number(n) => Bowing {
                        c0: n.as_f64().unwrap_or(f64::NAN),
                        c1: 0.0,
                    },
                    Value::Object(o) => {
                        for kk in o.keys() {
                            if kk != "c0" && kk != "c1" {
                                return Err(QdError::input(
                                    at(&format!("{path}.{kk}")),
                                    "a composition-dependent bowing is {\"c0\": .., \"c1\": ..} (C = c0 + c1·x)",
                                ));
                            }
                        }
                        let atp = |f: &str| at(&format!("{path}.{f}"));
                        Bowing {
                            c0: num(o, "c0", &atp)?.unwrap_or(0.0),
                            c1: num(o, "c1", &atp)?.unwrap_or(0.0),
                        }
                    }
                    _ => {
                        return Err(QdError::input(
                            at(&path),
                            "must be a number or {\"c0\": .., \"c1\": ..}",
                        ))
                    }
                };
                if !bw.c0.is_finite() || !bw.c1.is_finite() {
                    return Err(QdError::input(at(&path), "must be finite"));
                }
                let bound = bowing_bound(i);
                for (part, c) in [("c0", bw.c0), ("c1", bw.c1)] {
                    if c.abs() > bound {
                        return Err(QdError::input(
                            at(&path),
                            format!(
                                "bowing {part} = {} is beyond ±{}: a bowing that large moves {k} across its whole range {} (x(1−x) ≤ 1/4)",
                                crate::scene::validate::fmt_num(c),
                                crate::scene::validate::fmt_num(bound),
                                range_text(i)
                            ),
                        ));
                    }
                }
                bowing.insert(i, bw);
            }
        }
        Some(_) => {
            return Err(QdError::input(
                at("bowing"),
                "must be an object {property: bowing}",
            ))
        }
    }
    let display = opt_str(raw, "display", &at)?;
    if let Some(d) = &display {
        if !d.contains("{x}") && !d.contains("{1-x}") {
            return Err(QdError::input(
                at("display"),
                "display template must contain {x} and/or {1-x}, e.g. \"Al{x}Ga{1-x}As\"",
            ));
        }
    }
    Ok(Alloy {
        name: name.to_string(),
        a,
        b,
        x_is: opt_str(raw, "x_is", &at)?,
        display,
        bowing,
        note: opt_str(raw, "note", &at)?,
        source: parse_source(raw, &at)?,
        raw: raw.clone(),
    })
}

/// A composition as written in a display name: two decimals when exact, else up to four.
fn fmt_frac(v: f64) -> String {
    let v = if v.abs() < 1e-12 { 0.0 } else { v };
    if ((v * 100.0).round() - v * 100.0).abs() < 1e-7 {
        format!("{v:.2}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').to_string()
    }
}

fn alloy_display(al: &Alloy, x: f64) -> String {
    match &al.display {
        Some(t) => t
            .replace("{1-x}", &fmt_frac(1.0 - x))
            .replace("{x}", &fmt_frac(x)),
        None => format!("{}(x={})", al.name, fmt_frac(x)),
    }
}

/// Human-readable listing for `qdsim-gpu materials [NAME] [--temperature T]`.
///
/// With no name: a table of every material (alloys with their endpoints and bowing, and a
/// row at x = 0.3 as an example), units in the header. With a name: every parameter with
/// units and source, plus Eg(T), Ec(T), Ev(T) at `t_kelvin`. For an alloy, `x` picks the
/// composition (default 0.3, labelled as an example); for a binary `x` must be None.
pub fn describe(
    db: &MaterialDb,
    name: Option<&str>,
    x: Option<f64>,
    t_kelvin: f64,
) -> std::result::Result<String, String> {
    if !t_kelvin.is_finite() || t_kelvin < 0.0 || t_kelvin > MAX_TEMPERATURE_K {
        return Err(format!(
            "temperature {} K must be in [0, {}] K",
            crate::scene::validate::fmt_num(t_kelvin),
            crate::scene::validate::fmt_num(MAX_TEMPERATURE_K)
        ));
    }
    match name {
        None => {
            if x.is_some() {
                return Err("\"x\" needs a material name".into());
            }
            Ok(describe_all(db, t_kelvin))
        }
        Some(n) => describe_one(db, n, x, t_kelvin),
    }
}

const EXAMPLE_X: f64 = 0.3;

fn table_header(t: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<18} {:>7} {:>7} {:>7} {:>8} {:>9} {:>6} {:>7} {:>6} {:>8} {:>9} {:>8} {:>8}",
        "material",
        "me",
        "mhh",
        "mlh",
        "Eg0",
        "alpha",
        "beta",
        "VBO",
        "eps_r",
        "a_lc",
        "Eg(T)",
        "Ec(T)",
        "Ev(T)"
    );
    let _ = writeln!(
        s,
        "{:<18} {:>7} {:>7} {:>7} {:>8} {:>9} {:>6} {:>7} {:>6} {:>8} {:>9} {:>8} {:>8}",
        "",
        "[m0]",
        "[m0]",
        "[m0]",
        "[eV]",
        "[meV/K]",
        "[K]",
        "[eV]",
        "[1]",
        "[Å]",
        format!("[eV]@{t}K"),
        "[eV]",
        "[eV]"
    );
    s
}

fn table_row(m: &Material, t: f64) -> String {
    format!(
        "{:<18} {:>7.4} {:>7.4} {:>7.4} {:>8.4} {:>9.4} {:>6.0} {:>7.3} {:>6.2} {:>8.5} {:>9.4} {:>8.4} {:>8.4}\n",
        m.name,
        m.me,
        m.mhh,
        m.mlh,
        m.eg0,
        m.alpha * 1e3,
        m.beta,
        m.vbo,
        m.eps_r,
        m.a_lc,
        m.band_gap(t),
        m.ec(t),
        m.ev(t)
    )
}

fn bowing_summary(al: &Alloy) -> String {
    if al.bowing.is_empty() {
        return "none (linear)".into();
    }
    al.bowing
        .iter()
        .map(|(i, b)| format!("{}: {}", PROPERTIES[*i].0, b.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_all(db: &MaterialDb, t: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Materials at T = {t} K. Energies on the common scale of Vurgaftman et al. (2001), InSb VBM = 0;\n\
         Ec = VBO + Eg(T), Ev = VBO; Eg(T) = Eg0 − αT²/(T+β). Hole masses along [001] from Luttinger parameters.\n"
    );
    let _ = writeln!(s, "Binaries");
    s.push_str(&table_header(t));
    let mut bins: Vec<&Binary> = db.binaries.values().collect();
    bins.sort_by(|a, b| a.name.cmp(&b.name));
    for b in bins {
        let m = Material::from_params(b.name.clone(), None, &b.params);
        s.push_str(&table_row(&m, t));
    }
    let _ = writeln!(
        s,
        "\nAlloys: P(x) = x·P(A) + (1−x)·P(B) − x(1−x)·C, C = bowing (c0 + c1·x where composition dependent).\nExample rows at x = {EXAMPLE_X}."
    );
    let mut als: Vec<&Alloy> = db.alloys.values().collect();
    als.sort_by(|a, b| a.name.cmp(&b.name));
    for al in &als {
        let an = db
            .binaries
            .get(&al.a)
            .map(|b| b.name.as_str())
            .unwrap_or("?");
        let bn = db
            .binaries
            .get(&al.b)
            .map(|b| b.name.as_str())
            .unwrap_or("?");
        let _ = writeln!(
            s,
            "  {:<8} A (x=1) = {:<5} B (x=0) = {:<5} x = {}; bowing [eV or m0]: {}",
            al.name,
            an,
            bn,
            al.x_is.as_deref().unwrap_or("alloy fraction"),
            bowing_summary(al)
        );
    }
    s.push('\n');
    s.push_str(&table_header(t));
    for al in &als {
        match db.resolve(&al.name, Some(EXAMPLE_X)) {
            Ok(m) => s.push_str(&table_row(&m, t)),
            Err(e) => {
                let _ = writeln!(s, "{:<18} ({e})", al.name);
            }
        }
    }
    s
}

fn describe_one(
    db: &MaterialDb,
    name: &str,
    x: Option<f64>,
    t: f64,
) -> std::result::Result<String, String> {
    let key = name.trim().to_lowercase();
    let mut s = String::new();
    let (m, example) = if let Some(al) = db.alloys.get(&key) {
        let (xx, example) = match x {
            Some(v) => (v, false),
            None => (EXAMPLE_X, true),
        };
        let m = db.resolve(name, Some(xx))?;
        let an = &db.binaries[&al.a].name;
        let bn = &db.binaries[&al.b].name;
        let _ = writeln!(s, "{} (alloy)", al.name);
        let _ = writeln!(s, "  x: {}", al.x_is.as_deref().unwrap_or("alloy fraction"));
        let _ = writeln!(s, "  endpoints: A (x = 1) = {an}, B (x = 0) = {bn}");
        let _ = writeln!(s, "  rule: P(x) = x·P({an}) + (1−x)·P({bn}) − x(1−x)·C");
        let _ = writeln!(s, "  bowing C: {}", bowing_summary(al));
        if let Some(n) = &al.note {
            let _ = writeln!(s, "  note: {n}");
        }
        let _ = writeln!(
            s,
            "\n{} at x = {}{}:",
            m.name,
            fmt_frac(xx),
            if example {
                " (example; pass x to choose)"
            } else {
                ""
            }
        );
        (m, example)
    } else {
        let m = db.resolve(name, x)?;
        let b = &db.binaries[&key];
        let _ = writeln!(s, "{} (binary)", b.name);
        if let Some((g1, g2)) = b.gamma {
            let _ = writeln!(
                s,
                "  Luttinger parameters: γ1 = {g1}, γ2 = {g2} → mhh = 1/(γ1−2γ2) = {:.4}, mlh = 1/(γ1+2γ2) = {:.4} (used unless mhh/mlh are given explicitly)",
                1.0 / (g1 - 2.0 * g2),
                1.0 / (g1 + 2.0 * g2)
            );
        }
        if let Some(n) = &b.note {
            let _ = writeln!(s, "  note: {n}");
        }
        s.push('\n');
        (m, false)
    };
    let _ = example;
    for (field, unit, what) in PROPERTIES.iter() {
        let v = m.get(field).unwrap_or(f64::NAN);
        let (shown, unit_shown) = if *field == "alpha" {
            (v * 1e3, "meV/K")
        } else {
            (v, *unit)
        };
        let src = db
            .source_of(name, field)
            .unwrap_or_else(|| "(no source given)".into());
        let _ = writeln!(
            s,
            "  {:<6} = {:>10.5} {:<6} {:<46} source: {}",
            field, shown, unit_shown, what, src
        );
    }
    let _ = writeln!(s, "\nDerived at T = {t} K:");
    let _ = writeln!(s, "  Eg(T) = {:.5} eV   (Eg0 − αT²/(T+β))", m.band_gap(t));
    let _ = writeln!(s, "  Ec(T) = {:.5} eV   (VBO + Eg(T))", m.ec(t));
    let _ = writeln!(s, "  Ev(T) = {:.5} eV   (VBO)", m.ev(t));
    let _ = writeln!(
        s,
        "  band edges seen by carriers (holes: −Ev): electron {:.5}, heavy/light hole {:.5} eV",
        m.band_edge(Carrier::Electron, t),
        m.band_edge(Carrier::HeavyHole, t)
    );
    // Citations used.
    let mut cites: Vec<String> = Vec::new();
    for (field, _, _) in PROPERTIES.iter() {
        if let Some(src) = db.source_of(name, field) {
            if let Some(c) = db.expand_citation(&src) {
                if !cites.contains(&c) {
                    cites.push(c);
                }
            }
        }
    }
    if let Some(al) = db.alloys.get(&key) {
        for k in [&al.a, &al.b] {
            for (field, _, _) in PROPERTIES.iter() {
                if let Some(src) = db.source_of(k, field) {
                    if let Some(c) = db.expand_citation(&src) {
                        if !cites.contains(&c) {
                            cites.push(c);
                        }
                    }
                }
            }
        }
    }
    if !cites.is_empty() {
        let _ = writeln!(s, "\nReferences:");
        for c in cites {
            let _ = writeln!(s, "  {c}");
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests;
