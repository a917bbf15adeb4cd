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
//!
//! # Where things are
//! - here: [`Carrier`], [`Material`] (band gap, edges, masses), the property table
//!   [`PROPERTIES`] and its physical [`RANGES`];
//! - `database`: [`MaterialDb`], the built-in and user databases merged, their citations,
//!   and the resolution of a name and alloy fraction into a [`Material`];
//! - `parse`: one binary or alloy entry of a database file, checked field by field;
//! - `describe`: the listing of `qdsim-gpu materials` ([`describe`]).

mod database;
mod describe;
mod parse;
mod strain;

pub use database::MaterialDb;
pub use describe::describe;
pub use strain::{strain_index, StrainConstants, StrainParams, N_STRAIN, STRAIN_PROPERTIES, STRAIN_RANGES};
#[cfg(test)]
use {
    crate::error::{QdError, Result},
    database::*,
};

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
    /// The optional elastic, deformation-potential and piezoelectric properties
    /// ([`STRAIN_PROPERTIES`]; module `strain`).
    #[serde(skip_serializing_if = "StrainParams::is_empty")]
    pub strain: StrainParams,
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
        use crate::error::fmt_num;
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
        Self::from_params_strain(name, x, p, StrainParams::default())
    }

    fn from_params_strain(name: String, x: Option<f64>, p: &Params, strain: StrainParams) -> Material {
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
            strain,
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
    if i >= N_PROPS {
        return strain::strain_range_text(i - N_PROPS);
    }
    let (lo, hi, unit) = RANGES[i];
    let lo_br = if PROPERTIES[i].0 == "eg0" { "(" } else { "[" };
    let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
    format!("{lo_br}{}, {}]{unit}", crate::error::fmt_num(lo), crate::error::fmt_num(hi))
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
/// `i` counts the band properties, then the strain properties ([`strain`]).
fn bowing_bound(i: usize) -> f64 {
    let (lo, hi, _) = strain::any_range(i);
    4.0 * (hi - lo)
}

#[cfg(test)]
mod tests;
