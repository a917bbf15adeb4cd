//! The material database: the binaries and alloys of the built-in `database.json` plus
//! those merged from user files ([`MaterialDb::merge_json`], [`MaterialDb::merge_file`]),
//! their citations, and the resolution of a name (and alloy fraction) into a
//! [`Material`] with the bowing law of the module header of `materials`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::parse::*;
use super::strain::{StrainParams, N_STRAIN, STRAIN_PROPERTIES};
use super::{check_params, prop_index, Material, Params, BUILTIN_JSON, N_PROPS};
use crate::error::{QdError, Result};

/// An alloy bowing parameter `C = c0 + c1 x`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Bowing {
    pub(super) c0: f64,
    pub(super) c1: f64,
}

impl Bowing {
    pub(super) fn at(&self, x: f64) -> f64 {
        self.c0 + self.c1 * x
    }
    pub(super) fn describe(&self) -> String {
        if self.c1 == 0.0 {
            crate::error::fmt_num(self.c0)
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
pub(super) struct Binary {
    pub(super) name: String,
    pub(super) params: Params,
    /// The optional strain properties (module `strain`).
    pub(super) strain: StrainParams,
    pub(super) gamma: Option<(f64, f64)>,
    pub(super) note: Option<String>,
    /// Property (or "*") -> source text.
    pub(super) source: BTreeMap<String, String>,
    /// The merged JSON object, kept so later files can override single fields.
    pub(super) raw: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub(super) struct Alloy {
    pub(super) name: String,
    /// Endpoint at x = 1 (lower-case key of a binary).
    pub(super) a: String,
    /// Endpoint at x = 0.
    pub(super) b: String,
    pub(super) x_is: Option<String>,
    pub(super) display: Option<String>,
    pub(super) bowing: BTreeMap<usize, Bowing>,
    pub(super) note: Option<String>,
    pub(super) source: BTreeMap<String, String>,
    pub(super) raw: Map<String, Value>,
}

/// The material database: built-in entries plus those merged from scene files.
#[derive(Clone, Debug)]
pub struct MaterialDb {
    /// Keyed by lower-case name.
    pub(super) binaries: BTreeMap<String, Binary>,
    pub(super) alloys: BTreeMap<String, Alloy>,
    /// Citation key -> full citation.
    pub(super) sources: BTreeMap<String, String>,
}

pub(super) const BINARY_KEYS: [&str; 15] = [
    "me", "mhh", "mlh", "gamma1", "gamma2", "gamma3", "eg0", "alpha", "beta", "vbo", "eps_r",
    "a_lc", "source", "note", "comment",
];
pub(super) const ALLOY_KEYS: [&str; 8] = [
    "a", "b", "x_is", "display", "bowing", "note", "source", "comment",
];
pub(super) const TOP_KEYS: [&str; 5] = ["format", "comment", "sources", "binaries", "alloys"];

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
        crate::output::files::json_object_start(json, "a materials file")
            .map_err(|r| QdError::input(origin, r))?;
        let root: Value = serde_json::from_str(json).map_err(|e| {
            let reason = if e.to_string().starts_with("trailing characters") {
                crate::output::files::trailing_reason(&e, "the materials")
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
    /// [`MAX_MATERIALS_BYTES`](crate::output::files::MAX_MATERIALS_BYTES) of UTF-8 text; a
    /// folder, a device, a pipe, a missing or unreadable file is an input error naming it.
    pub fn merge_file(&mut self, path: &std::path::Path) -> Result<()> {
        let text = crate::output::files::read_text_bounded(path, crate::output::files::MAX_MATERIALS_BYTES)
            .map_err(|r| QdError::input(path.display().to_string(), format!("cannot read the materials file: {r}")))?;
        let origin = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        self.merge_json(&text, &origin)
    }

    pub(super) fn merge_binary(&mut self, name: &str, entry: &Value, origin: &str) -> Result<()> {
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
            if !BINARY_KEYS.contains(&k.as_str()) && super::strain_index(k).is_none() {
                let strain: Vec<&str> = STRAIN_PROPERTIES.iter().map(|p| p.0).collect();
                return Err(QdError::input(
                    at(k),
                    format!("unknown field (allowed: {}, and the optional strain parameters {})", BINARY_KEYS.join(", "), strain.join(", ")),
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

    pub(super) fn merge_alloy(&mut self, name: &str, entry: &Value, origin: &str) -> Result<()> {
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
                    crate::error::fmt_num(x)
                ));
            }
            return Ok(Material::from_params_strain(b.name.clone(), None, &b.params, b.strain));
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
                return Err(format!("alloy fraction x = {} outside [0, 1]", crate::error::fmt_num(x)));
            }
            let ba = self
                .binaries
                .get(&al.a)
                .ok_or_else(|| format!("alloy {} refers to unknown binary '{}'", al.name, al.a))?;
            let bb = self
                .binaries
                .get(&al.b)
                .ok_or_else(|| format!("alloy {} refers to unknown binary '{}'", al.name, al.b))?;
            let (pa, pb) = (&ba.params, &bb.params);
            // strain properties: interpolated where both endpoints have them
            let mut sv = [None; N_STRAIN];
            for (j, s) in sv.iter_mut().enumerate() {
                if let (Some(va), Some(vb)) = (ba.strain.0[j], bb.strain.0[j]) {
                    let c = al.bowing.get(&(N_PROPS + j)).map(|b| b.at(x)).unwrap_or(0.0);
                    let v = x * va + (1.0 - x) * vb - x * (1.0 - x) * c;
                    if let Err(reason) = super::strain::check_strain_value(j, v) {
                        return Err(format!("{} at x = {} gives {} = {}: {reason}", al.name, crate::error::fmt_num(x), STRAIN_PROPERTIES[j].0, crate::error::fmt_num(v)));
                    }
                    *s = Some(v);
                }
            }
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
                    crate::error::fmt_num(x),
                    crate::error::fmt_num(v[prop_index(field).unwrap()])
                ));
            }
            return Ok(Material::from_params_strain(alloy_display(al, x), Some(x), &p, StrainParams(sv)));
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

    pub(super) fn expand_citation(&self, s: &str) -> Option<String> {
        let key = s.split(':').next().unwrap_or(s).trim();
        self.sources.get(key).map(|c| format!("[{key}] {c}"))
    }
}

/// A composition as written in a display name: two decimals when exact, else up to four.
pub(super) fn fmt_frac(v: f64) -> String {
    let v = if v.abs() < 1e-12 { 0.0 } else { v };
    if ((v * 100.0).round() - v * 100.0).abs() < 1e-7 {
        format!("{v:.2}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').to_string()
    }
}

pub(super) fn alloy_display(al: &Alloy, x: f64) -> String {
    match &al.display {
        Some(t) => t
            .replace("{1-x}", &fmt_frac(1.0 - x))
            .replace("{x}", &fmt_frac(x)),
        None => format!("{}(x={})", al.name, fmt_frac(x)),
    }
}
