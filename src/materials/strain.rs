//! The elastic, deformation-potential and piezoelectric parameters of a material: optional
//! per entry (a user material without them works everywhere except in a strained scene,
//! which then names the missing field), interpolated in alloys by the module's bowing rule
//! (linear unless the alloy gives a bowing), each with its source like every other number.
//!
//! Units at this boundary: elastic constants GPa, deformation potentials eV, the
//! piezoelectric constant C/m², the lattice constant's temperature coefficient Å/K.
//!
//! Sign conventions (documented in docs/materials.md): the deformation potentials are those
//! of Vurgaftman, Meyer and Ram-Mohan (2001) *as they tabulate them*: `a_c` < 0 and `a_v` < 0
//! (GaAs −7.17 and −1.16 eV), with the hydrostatic shifts δEc = a_c·Tr ε and
//! δEv = −a_v·Tr ε (VMR's a_v is minus the a_v of Chuang and of Van de Walle, so the gap
//! deformation potential is a_c + a_v = −8.33 eV for GaAs); `b` < 0 as in VMR and Chuang.

use super::{Material, N_PROPS};

/// The optional strain-related properties: (name, unit, description).
pub const STRAIN_PROPERTIES: [(&str, &str, &str); 9] = [
    ("c11", "GPa", "elastic constant C11"),
    ("c12", "GPa", "elastic constant C12"),
    ("c44", "GPa", "elastic constant C44"),
    ("a_c", "eV", "conduction-band hydrostatic deformation potential (δEc = a_c Tr ε)"),
    ("a_v", "eV", "valence-band hydrostatic deformation potential, VMR sign (δEv = −a_v Tr ε)"),
    ("b", "eV", "valence-band shear deformation potential [001]"),
    ("d", "eV", "valence-band shear deformation potential [111]"),
    ("e14", "C/m²", "piezoelectric constant e14"),
    ("a_lc_dt", "Å/K", "temperature coefficient of the lattice constant, a(T) = a_lc + a_lc_dt (T − 300 K)"),
];

pub const N_STRAIN: usize = STRAIN_PROPERTIES.len();

/// Physical ranges of the strain properties (low, high, unit), both ends included: wide, to
/// catch unit slips (elastic constants in kbar, as VMR's tables print them, or in Pa;
/// deformation potentials in meV). III-V elastic constants are 30-150 GPa.
pub const STRAIN_RANGES: [(f64, f64, &str); N_STRAIN] = [
    (1.0, 1000.0, "GPa"),
    (0.0, 1000.0, "GPa"),
    (1.0, 1000.0, "GPa"),
    (-30.0, 30.0, "eV"),
    (-30.0, 30.0, "eV"),
    (-30.0, 30.0, "eV"),
    (-30.0, 30.0, "eV"),
    (-5.0, 5.0, "C/m²"),
    (-1e-3, 1e-3, "Å/K"),
];

/// Index of a strain property by name.
pub fn strain_index(name: &str) -> Option<usize> {
    STRAIN_PROPERTIES.iter().position(|p| p.0 == name)
}

/// Index in the combined property numbering of the database: the nine band properties of
/// [`super::PROPERTIES`] first, then the strain properties (`N_PROPS + j`).
pub(super) fn any_index(name: &str) -> Option<usize> {
    super::prop_index(name).or_else(|| strain_index(name).map(|j| N_PROPS + j))
}

/// Name of property `i` in the combined numbering.
pub(super) fn any_name(i: usize) -> &'static str {
    if i < N_PROPS {
        super::PROPERTIES[i].0
    } else {
        STRAIN_PROPERTIES[i - N_PROPS].0
    }
}

/// Range of property `i` in the combined numbering.
pub(super) fn any_range(i: usize) -> (f64, f64, &'static str) {
    if i < N_PROPS {
        super::RANGES[i]
    } else {
        STRAIN_RANGES[i - N_PROPS]
    }
}

/// `[lo, hi] unit` of strain property `j`, for messages.
pub(super) fn strain_range_text(j: usize) -> String {
    let (lo, hi, unit) = STRAIN_RANGES[j];
    format!("[{}, {}] {unit}", crate::error::fmt_num(lo), crate::error::fmt_num(hi))
}

/// Check one strain property's value: Err(reason).
pub(super) fn check_strain_value(j: usize, v: f64) -> std::result::Result<(), String> {
    if !v.is_finite() {
        return Err("must be finite".into());
    }
    let (lo, hi, _) = STRAIN_RANGES[j];
    if v < lo || v > hi {
        return Err(format!("the {} must be in {}", STRAIN_PROPERTIES[j].2, strain_range_text(j)));
    }
    Ok(())
}

/// The optional strain properties of a material, in [`STRAIN_PROPERTIES`] order.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct StrainParams(pub [Option<f64>; N_STRAIN]);

impl StrainParams {
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|v| v.is_none())
    }
}

/// What the elasticity solve and the band shifts need of a material, all present.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct StrainConstants {
    /// Elastic constants, GPa.
    pub c11: f64,
    pub c12: f64,
    pub c44: f64,
    /// Deformation potentials, eV (VMR signs: δEc = a_c Tr ε, δEv = −a_v Tr ε).
    pub a_c: f64,
    pub a_v: f64,
    pub b: f64,
    pub d: f64,
    /// Lattice constant at the temperature asked for, Å.
    pub a_lc: f64,
}

impl Material {
    /// A strain property by name (None where the database has no value).
    pub fn strain_param(&self, name: &str) -> Option<f64> {
        strain_index(name).and_then(|j| self.strain.0[j])
    }

    /// Lattice constant at `t_kelvin`, Å: `a_lc + a_lc_dt (T − 300 K)` (a_lc alone where the
    /// material has no temperature coefficient).
    pub fn lattice_constant(&self, t_kelvin: f64) -> f64 {
        self.a_lc + self.strain_param("a_lc_dt").unwrap_or(0.0) * (t_kelvin - 300.0)
    }

    /// The constants of a strained scene at `t_kelvin`. Err((field, reason)) names the first
    /// missing property; the elastic constants must also give a stable crystal (C11 > |C12|,
    /// C11 + 2 C12 > 0, C44 > 0, the Born criteria).
    pub fn strain_constants(&self, t_kelvin: f64) -> std::result::Result<StrainConstants, (&'static str, String)> {
        let get = |j: usize| -> std::result::Result<f64, (&'static str, String)> {
            let (name, unit, what) = STRAIN_PROPERTIES[j];
            self.strain.0[j].ok_or_else(|| (name, format!("{} has no {what} ({unit}), which a strained scene needs: give \"{name}\" in a materials file", self.name)))
        };
        let c = StrainConstants { c11: get(0)?, c12: get(1)?, c44: get(2)?, a_c: get(3)?, a_v: get(4)?, b: get(5)?, d: get(6)?, a_lc: self.lattice_constant(t_kelvin) };
        if !(c.c11 > c.c12.abs() && c.c11 + 2.0 * c.c12 > 0.0 && c.c44 > 0.0) {
            return Err((
                "c12",
                format!(
                    "{}: C11 = {}, C12 = {}, C44 = {} GPa is not a stable cubic crystal (needs C11 > |C12|, C11 + 2 C12 > 0, C44 > 0)",
                    self.name,
                    crate::error::fmt_num(c.c11),
                    crate::error::fmt_num(c.c12),
                    crate::error::fmt_num(c.c44)
                ),
            ));
        }
        if !(c.a_lc.is_finite() && c.a_lc > 0.0) {
            return Err(("a_lc_dt", format!("{}: the lattice constant at {} K is {} Å", self.name, t_kelvin, c.a_lc)));
        }
        Ok(c)
    }
}
